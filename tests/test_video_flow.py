"""VideoFlow: its log-likelihood against an independent computation, causality, the
independent prior against the image flow, prediction, input errors, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_registry import randomize
from tfflows import models, nets
from tfflows.bijectors._util import saturate

tfd = tfp.distributions

FRAME = (8, 8, 3)
SMALL = {"levels": 2, "steps_per_level": 2, "hidden_channels": 8, "prior_channels": 8}


def videos(n=3, frames=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, *FRAME), dtype=np.uint8)


def small_model(prior="conv3d", context_frames=1, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = models.VideoFlow(FRAME, context_frames=context_frames, prior=prior, **SMALL, **kwargs)
    model.initialize(videos(4, 3, seed=10))
    randomize(model.priors, seed, scale=0.1)
    return model


def scales_of(model, u):
    """The frames' latents [N, T, H, W, C] cut into scales [N, T, h, w, c], finest first."""
    n, t = u.shape[:2]
    parts = model.frame_flow.flow.split_latent(tf.reshape(u, [n * t, *u.shape[2:]]))
    return [tf.reshape(p, [n, t, *p.shape[1:]]) for p in parts]


def frame_latents(model, y):
    """Each frame's image-flow latent and that flow's log p(y_t), by the image model alone."""
    n, t = y.shape[:2]
    flat = tf.reshape(y, [n * t, *FRAME])
    dist = model.frame_flow.get_distribution()
    u = dist.bijector.inverse(flat)
    return tf.reshape(u, y.shape), tf.reshape(dist.log_prob(flat), [n, t])


@pytest.mark.parametrize(
    "prior,context", [("conv3d", 1), ("conv_lstm", 1), ("pointwise", 1), ("conv3d", 2)]
)
def test_log_prob_is_the_sum_of_per_frame_gaussian_terms(prior, context):
    """log p = sum over predicted frames of [image-flow log p(y_t) - log N(u_t; 0, I)
    + sum_l log N(u_t^l; mu, sigma)], mu and sigma from each prior net run on the frames
    up to t only (so the sum is also causal by construction)."""
    model = small_model(prior, context_frames=context)
    x = videos()
    y = model.to_continuous(x, seed=(3, 4))
    u, image_lp = frame_latents(model, y)
    parts = scales_of(model, u)
    frames = x.shape[1]
    expected = np.zeros(x.shape[:2])
    for t in range(frames):
        total = image_lp[:, t] - tf.reduce_sum(tfd.Normal(0.0, 1.0).log_prob(u[:, t]), [1, 2, 3])
        for level, prior_net in enumerate(model.priors):
            upto = [p[:, : t + 1] for p in parts]
            higher = model._higher([_fold(p) for p in upto], level)
            if higher is not None:
                higher = tf.reshape(higher, [x.shape[0], t + 1, *higher.shape[1:]])
            shift, raw = prior_net(upto[level], higher)
            gauss = tfd.Normal(shift[:, t], tf.exp(saturate(raw[:, t])))
            total += tf.reduce_sum(gauss.log_prob(parts[level][:, t]), [1, 2, 3])
        expected[:, t] = total
    np.testing.assert_allclose(
        model.frame_log_probs(x, seed=(3, 4)), expected, rtol=1e-4, atol=1e-2
    )
    np.testing.assert_allclose(
        model.log_prob(x, seed=(3, 4)), expected[:, context:].sum(1), rtol=1e-4, atol=2e-2
    )
    mean = expected[:, context:].mean(1)
    bpd = -(mean - np.prod(FRAME) * 8 * np.log(2)) / (np.prod(FRAME) * np.log(2))
    np.testing.assert_allclose(model.bits_per_dim(x, seed=(3, 4)), bpd, rtol=1e-5)


def _fold(p):
    return tf.reshape(p, [-1, *p.shape[2:]])


def test_the_targets_of_another_video_score_differently():
    model = small_model()
    x = videos(2, 3)
    swapped = x.copy()
    swapped[0, 1:] = x[1, 1:]
    lp, lp_swapped = model.log_prob(x), model.log_prob(swapped)
    # Same frames at t >= 1 in swapped[0] and x[1], but another past: other scores.
    assert abs(float(lp_swapped[0] - lp[1])) > 1e-2
    assert abs(float(lp_swapped[0] - lp[0])) > 1e-2


def test_the_independent_prior_scores_each_frame_as_the_image_flow():
    model = small_model("independent")
    glow = models.Glow(FRAME, levels=2, steps_per_level=2, hidden_channels=8)
    glow.set_weights(model.frame_flow.get_weights())
    x = videos()
    per_frame = glow.log_prob(x.reshape(-1, *FRAME), seed=(0, 0))
    # The video model dequantizes frame n*T + t with the noise the image model gives row
    # n*T + t of the folded batch, so the two see the same values.
    np.testing.assert_allclose(
        model.frame_log_probs(x), np.reshape(per_frame, x.shape[:2]), rtol=1e-6, atol=1e-4
    )


@pytest.mark.parametrize("prior", ["conv3d", "conv_lstm", "pointwise"])
def test_the_prior_is_causal(prior):
    """Changing frame t changes no earlier frame's term, nor the top scale's mean and
    scale at frame t; changing scale l at frame t leaves its own mean and scale there."""
    model = small_model(prior)
    x = videos(2, 4)
    changed = x.copy()
    changed[:, 2] = 255 - changed[:, 2]
    before, after = model.frame_log_probs(x), model.frame_log_probs(changed)
    np.testing.assert_allclose(before[:, :2], after[:, :2], rtol=0, atol=1e-6)
    assert np.all(np.abs(before[:, 2:] - after[:, 2:]) > 1e-3)

    u = frame_latents(model, model.to_continuous(x))[0]
    u2 = frame_latents(model, model.to_continuous(changed))[0]
    parts, parts2 = scales_of(model, u), scales_of(model, u2)
    top = len(parts) - 1
    np.testing.assert_allclose(
        model.priors[top](parts[top])[0][:, :3], model.priors[top](parts2[top])[0][:, :3], atol=1e-6
    )
    for level in range(top):
        higher = model._higher([_fold(p) for p in parts], level)
        higher = tf.reshape(higher, [*x.shape[:2], *higher.shape[1:]])
        moved = parts[level] + tf.one_hot(2, 4)[None, :, None, None, None]
        a = model.priors[level](parts[level], higher)
        b = model.priors[level](moved, higher)
        # This frame's higher scales condition scale l at this frame (and not before it).
        c = model.priors[level](parts[level], higher + tf.one_hot(2, 4)[None, :, None, None, None])
        for i in range(2):
            np.testing.assert_allclose(a[i][:, :3], b[i][:, :3], atol=1e-6)
            assert np.abs(a[i][:, 3] - b[i][:, 3]).max() > 1e-4
            np.testing.assert_allclose(a[i][:, :2], c[i][:, :2], atol=1e-6)
            assert np.abs(a[i][:, 2] - c[i][:, 2]).max() > 1e-4


@pytest.mark.parametrize("given", [1, 2])
def test_predict_frames_is_seeded_and_temperature_zero_gives_the_mode(given):
    """With `given` context frames (the model's context_frames is 1: a longer context
    conditions the prediction too)."""
    model = small_model()
    context = videos(2, given)
    a = model.predict_frames(context, 2, temperature=0.7, seed=5)
    b = model.predict_frames(context, 2, temperature=0.7, seed=5)
    c = model.predict_frames(context, 2, temperature=0.7, seed=6)
    assert a.shape == (2, 2, *FRAME)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3
    mode = model.predict_frames(context, 2, temperature=0.0)
    # The mode is where every new frame's noise is 0 (its prior's mean, scale by scale):
    # decoding zeros after the context's noise, then re-encoding, gives zeros back.
    e_context = model.encode(np.concatenate([context, context], axis=1))[:, :given]
    unclipped = model.decode(tf.concat([e_context, tf.zeros([2, 2, *FRAME])], axis=1))
    np.testing.assert_allclose(mode, np.clip(unclipped[:, given:], -0.5, 0.5), atol=1e-5)
    noise = model._frame_terms(unclipped)[0]
    np.testing.assert_allclose(noise[:, given:], 0.0, atol=2e-3)
    np.testing.assert_allclose(
        unclipped[:, :given], model.to_continuous(context, "center"), atol=1e-4
    )
    hot = model.predict_frames(context, 2, temperature=3.0, seed=5)
    assert np.abs(hot).max() <= 0.5  # clipped into the space
    frames = model.to_uint8(a)
    assert frames.dtype == tf.uint8 and frames.shape == a.shape


def test_encode_decode_round_trip_gives_the_videos_back():
    model = small_model()
    x = videos()
    e = model.encode(x)
    np.testing.assert_array_equal(model.to_uint8(model.decode(e)), x)


@pytest.mark.parametrize(
    "bad,message",
    [
        (np.zeros((2, *FRAME), np.uint8), "videos \\[N, T, H, W, C\\].*images.*add a batch axis"),
        (np.zeros((2, 1, *FRAME), np.uint8), "at least 2"),
        (np.zeros((2, 3, 16, 16, 3), np.uint8), "frames of shape \\(16, 16, 3\\)"),
        (np.full((2, 3, *FRAME), 300, np.int32), "outside 0..255"),
        (np.full((2, 3, *FRAME), 2.0, np.float32), "continuous space"),
        (np.full((2, 3, *FRAME), np.nan, np.float32), "non-finite|NaN"),
    ],
    ids=["images", "too_few_frames", "frame_shape", "pixels_over_255", "floats_out", "nan"],
)
def test_bad_videos_get_a_clear_error(bad, message):
    model = small_model()
    for call in (model.log_prob, model.bits_per_dim, model.encode):
        with pytest.raises(ValueError, match=message):
            call(bad)
    with pytest.raises(ValueError, match=message):
        model.fit(bad, epochs=1, verbose=0)


def test_an_empty_batch_gives_empty_results():
    model = small_model()
    empty = np.zeros((0, 3, *FRAME), np.uint8)
    assert model.log_prob(empty).shape == (0,)
    assert model.bits_per_dim(empty).shape == (0,)
    assert model.encode(empty).shape == (0, 3, *FRAME)
    assert model.predict_frames(empty[:, :1], 2, seed=0).shape == (0, 2, *FRAME)


def test_bad_arguments_get_a_clear_error():
    with pytest.raises(ValueError, match="prior must be one of"):
        models.VideoFlow(FRAME, prior="lstm")
    with pytest.raises(ValueError, match="flow must be one of"):
        models.VideoFlow(FRAME, flow="maf")
    model = small_model()
    with pytest.raises(ValueError, match="at least 1 frame"):
        model.predict_frames(np.zeros((1, 0, *FRAME), np.uint8), 2)
    with pytest.raises(ValueError, match="temperature"):
        model.predict_frames(videos(1, 1), 2, temperature=-1.0)
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        model.predict_frames(videos(1, 1), 0)
    with pytest.raises(ValueError, match="seed must be a whole number"):
        model.predict_frames(videos(1, 1), 1, seed=2.5)
    with pytest.raises(ValueError, match="takes no condition"):
        model.log_prob(videos(), condition=np.zeros(3))
    with pytest.raises(TypeError, match=r"use predict_frames\(context, num_frames"):
        model.sample(4)


def test_fit_lowers_the_loss_and_save_load_restores_exactly(tmp_path):
    model = small_model("conv3d", seed=1)
    x = videos(8, 3, seed=2)
    before = float(np.mean(model.bits_per_dim(x)))
    model.fit(x, epochs=3, batch_size=4, verbose=0)
    assert float(np.mean(model.bits_per_dim(x))) < before
    path = tmp_path / "video.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(loaded.log_prob(x), model.log_prob(x))
    np.testing.assert_array_equal(
        loaded.predict_frames(x[:, :1], 2, seed=3), model.predict_frames(x[:, :1], 2, seed=3)
    )
    fresh = models.VideoFlow.from_config(model.get_config())
    fresh.set_weights(model.get_weights())
    np.testing.assert_array_equal(fresh.log_prob(x), model.log_prob(x))


def test_a_realnvp_frame_flow_and_longer_videos_work():
    keras.utils.set_random_seed(0)
    model = models.VideoFlow(
        FRAME,
        flow="realnvp",
        levels=2,
        steps_per_level=2,
        **{"hidden_channels": 8, "prior_channels": 8, "context_frames": 2},
    )
    x = videos(2, 5)
    model.initialize(x)
    assert model.log_prob(x).shape == (2,)
    assert model.predict_frames(x[:, :2], 3, seed=0).shape == (2, 3, *FRAME)


def test_temporal_prior_layers_start_as_a_standard_normal_and_round_trip_configs():
    z = tf.random.normal([2, 3, 4, 4, 2])
    higher = tf.random.normal([2, 3, 4, 4, 3])
    for kind in nets.PRIORS:
        layer = nets.temporal_prior(kind, channels=2, higher_channels=3, hidden_channels=4)
        layer.build((None, None, 4, 4, 2))
        shift, log_scale = layer(z, higher)
        np.testing.assert_array_equal(shift, 0.0)
        np.testing.assert_array_equal(log_scale, 0.0)
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    skip = nets.Conv3DPrior(channels=2, hidden_channels=4, latent_skip=True)
    skip.build((None, None, 4, 4, 2))
    np.testing.assert_array_equal(skip(z)[0][:, 1:], z[:, :-1])
    np.testing.assert_array_equal(skip(z)[0][:, 0], 0.0)


@pytest.mark.parametrize("time_kernel", [1, 2, 3])
@pytest.mark.parametrize("frames", [1, 4])
def test_conv3d_prior_is_the_causal_residual_network_of_its_docstring(time_kernel, frames):
    """Against an independent computation: each convolution as zero frames in front, one
    zero position around, and a VALID tf.nn.conv3d with the layer's kernel and bias."""
    layer = nets.Conv3DPrior(channels=2, hidden_channels=4, depth=2, time_kernel=time_kernel)
    layer.build((None, None, 4, 4, 2))
    randomize([layer], 0, scale=0.3)
    z = tf.random.stateless_normal([2, frames, 4, 4, 2], seed=[1, 2])

    def causal(conv, h):
        pad = [[0, 0], [time_kernel - 1, 0], [1, 1], [1, 1], [0, 0]]
        out = tf.nn.conv3d(tf.pad(h, pad), conv.kernel, [1] * 5, "VALID")
        return out + conv.bias

    h = tf.pad(z, [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]])[:, :-1]  # z_{t-1}, 0 at t = 0
    h = causal(layer.conv_in, h)
    for conv in layer.blocks:
        h = h + causal(conv, tf.nn.relu(h))
    out = tf.nn.conv3d(tf.nn.relu(h), layer.conv_out.kernel, [1] * 5, "VALID")
    out = out + layer.conv_out.bias
    shift, log_scale = layer(z)
    assert float(tf.reduce_max(tf.abs(out))) > 0.1  # randomized: not the zero start
    np.testing.assert_allclose(shift, out[..., :2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_scale, out[..., 2:], rtol=1e-5, atol=1e-5)


def test_graph_modes_agree_and_check_the_frame_count_at_run_time():
    """log_prob with the frame count unknown until run time: tf.function equals eager,
    XLA on continuous input (no dequantization noise) too; too few frames raise outside
    XLA and score NaN under it."""
    model = small_model(context_frames=2)
    x = videos(2, 4)
    spec = [tf.TensorSpec([None, None, *FRAME], tf.uint8)]
    graph = tf.function(model.log_prob, input_signature=spec)
    np.testing.assert_allclose(graph(x), model.log_prob(x), rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="too few frames"):
        graph(x[:, :2])
    y = model.to_continuous(x, "center")
    xla = tf.function(
        model.log_prob, input_signature=[tf.TensorSpec([None, None, *FRAME])], jit_compile=True
    )
    np.testing.assert_allclose(xla(y), model.log_prob(y), rtol=1e-4)
    assert np.all(np.isnan(xla(y[:, :2])))


def test_mixed_precision_networks_keep_the_flow_in_float32():
    model = small_model(network_dtype="mixed_bfloat16")
    assert model.priors[0].conv_in.compute_dtype == "bfloat16"
    x = videos()
    lp = model.log_prob(x)
    assert lp.dtype == tf.float32 and np.all(np.isfinite(lp))
    assert model.predict_frames(x[:, :1], 2, seed=0).dtype == tf.float32
    clone = models.VideoFlow.from_config(model.get_config())
    assert clone.network_dtype == "mixed_bfloat16"


def test_careless_inputs_of_the_command_line_paths_get_one_line_errors():
    """What a new user ran into: images fed to a video model's trainer or eval, a spec
    value that is not a number, zero frames to predict, videos.shape[1:] as frame_shape."""
    from tfflows.data.video import video_source
    from tfflows.training.feed import fit_shape
    from tfflows.zoo.predictions import future_grid

    with pytest.raises(ValueError, match=r"the model takes \(T, 8, 8, 3\)"):
        fit_shape(np.zeros((2, *FRAME), np.uint8), (None, *FRAME), "test")
    with pytest.raises(ValueError, match="num_videos='abc' is not a number"):
        video_source("stochastic_shapes:num_videos=abc")
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        future_grid(small_model(), videos(1, 3), num_frames=0)
    with pytest.raises(ValueError, match="frame_shape must be one frame"):
        models.VideoFlow((3, *FRAME))
