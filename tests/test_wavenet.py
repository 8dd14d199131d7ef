"""The WaveNet teacher: exact Gaussian autoregressive density, causality, the cached sampler."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfflows
from tests.test_audio_data import archive
from tfflows import layers, nets
from tfflows.models import WaveNet


def _randomized(model, seed=0, scale=0.3):
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        v.assign(v.numpy() + scale * rng.standard_normal(v.shape).astype(v.dtype))
    return model


def _tiny(num_classes=None, **kw):
    keras.utils.set_random_seed(0)
    sizes = dict(residual_channels=6, gate_channels=5, skip_channels=7, layers_per_cycle=3)
    sizes.update(kw)
    return _randomized(WaveNet(**sizes, cycles=1, num_classes=num_classes))


@pytest.fixture
def fsdd_archive(tmp_path):
    """20 ramps in the FSDD layout: takes 0-9 of digits 0-9 (takes 0-4 are the test split)."""
    path, _ = archive(
        tmp_path,
        [50 + i for i in range(20)],
        [i % 10 for i in range(20)],
        [i // 2 for i in range(20)],
    )
    return path


def _clips(n=3, t=16, seed=1):
    rng = np.random.default_rng(seed)
    return (0.6 * np.tanh(rng.standard_normal((n, t)))).astype(np.float32)


def test_untrained_wavenet_is_a_standard_normal_per_sample():
    model = WaveNet(residual_channels=4, gate_channels=4, skip_channels=4, layers_per_cycle=2)
    x = _clips()
    expected = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * x.astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(model.log_prob(x).numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("num_classes", [None, 3])
def test_log_prob_is_the_sum_of_per_step_gaussians_from_the_past_only(num_classes):
    """A slow loop: step t's Gaussian from the network fed x with every sample >= t zeroed.
    Equal sums mean the density is exact and no step reads its own or a later sample."""
    model = _tiny(num_classes)
    x = _clips(t=12)
    labels = None if num_classes is None else np.array([0, 2, 1])
    c = None if labels is None else tf.one_hot(labels, num_classes)
    total = np.zeros(len(x))
    for t in range(x.shape[1]):
        past = x.copy()
        past[:, t:] = 0.0
        out = model.net(past, condition=c).numpy()[:, t]
        mu = out[:, 0]
        log_scale = tfflows.bijectors._util.saturate(out[:, 1]).numpy()
        total += (
            -0.5 * np.log(2 * np.pi) - log_scale - 0.5 * ((x[:, t] - mu) / np.exp(log_scale)) ** 2
        )
    np.testing.assert_allclose(model.log_prob(x, labels).numpy(), total, rtol=1e-5, atol=1e-4)
    # Conditioning matters: another label gives another density.
    if labels is not None:
        assert np.abs(model.log_prob(x, (labels + 1) % 3).numpy() - total).min() > 1e-3


def test_changing_one_sample_changes_no_earlier_step():
    model = _tiny()
    x = _clips(n=1, t=20)
    mu, log_scale = (v.numpy() for v in model.params(x))
    for t in (0, 7, 19):
        y = x.copy()
        y[0, t] += 0.3
        mu2, log_scale2 = (v.numpy() for v in model.params(y))
        np.testing.assert_array_equal(mu2[:, : t + 1], mu[:, : t + 1])
        np.testing.assert_array_equal(log_scale2[:, : t + 1], log_scale[:, : t + 1])
        if t + 1 < x.shape[1]:
            assert np.abs(mu2[:, t + 1] - mu[:, t + 1]).max() > 0


@pytest.mark.parametrize(
    "kernel_size, front_kernel, num_classes", [(2, 2, None), (3, 1, 3), (2, 5, 2)]
)
def test_cached_sampler_draws_what_the_uncached_flow_draws(kernel_size, front_kernel, num_classes):
    model = _tiny(num_classes, kernel_size=kernel_size, front_kernel=front_kernel)
    noise = model.draw_noise(3, 40, seed=4)
    label = None if num_classes is None else 1
    reference = model.decode(noise, label).numpy()  # T full passes of the network
    for compiled in (False, True):
        fast = model.sample_from_noise(noise, label, compiled=compiled).numpy()
        np.testing.assert_allclose(fast, reference, atol=2e-5)
    np.testing.assert_allclose(model.sample(3, 40, seed=4, condition=label), reference, atol=2e-5)
    # And the one-pass inverse gives the noise back.
    c = None if label is None else tf.one_hot([label] * 3, num_classes)
    np.testing.assert_allclose(model.bijector(c).inverse(reference), noise, atol=1e-4)


def test_cached_sampler_inside_a_graph_with_a_receptive_field_longer_than_the_clip():
    model = _tiny(layers_per_cycle=5)  # dilations up to 16: reaches beyond 12 samples
    noise = model.draw_noise(2, 12, seed=0)
    graph = tf.function(lambda e: nets.sample_cached(model.net, e))
    np.testing.assert_allclose(graph(noise), model.decode(noise), atol=2e-5)


def test_sample_is_seeded_and_temperature_zero_is_the_mean_path():
    model = _tiny()
    a, b = model.sample(2, 30, seed=7), model.sample(2, 30, seed=7)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.numpy() - model.sample(2, 30, seed=8).numpy()).max() > 1e-3
    zero = model.sample(2, 30, seed=7, temperature=0.0).numpy()
    np.testing.assert_allclose(
        zero, model.sample_from_noise(np.zeros((2, 30), np.float32)), atol=1e-6
    )


def test_fit_lowers_the_nll_of_a_learnable_signal_and_save_load_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = WaveNet(residual_channels=8, gate_channels=8, skip_channels=8, layers_per_cycle=3)
    t = np.arange(64)
    x = np.stack([0.5 * np.sin(0.3 * t + p) for p in np.linspace(0, 3, 32)]).astype(np.float32)
    before = float(np.mean(model.nll(x)))
    model.fit(x, epochs=30, batch_size=16, verbose=0)
    after = float(np.mean(model.nll(x)))
    assert after < before - 0.5, (before, after)
    path = tmp_path / "wavenet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.log_prob(x), model.log_prob(x), rtol=1e-6)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded.sample(1, 20, seed=3), model.sample(1, 20, seed=3), atol=1e-6)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(16, np.float32), "add a batch axis"),
        (np.zeros((2, 16, 1), np.float32), "drop the channel axis"),
        (np.zeros((2, 16), np.int16), "int16 / 32768"),
        (np.full((2, 16), 1.5, np.float32), "outside \\[-1, 1\\]"),
        (np.full((2, 16), np.nan, np.float32), "non-finite"),
    ],
)
def test_bad_audio_is_refused_with_a_reason(bad, message):
    model = _tiny()
    with pytest.raises(ValueError, match=message):
        model.log_prob(bad)
    with pytest.raises(ValueError, match=message):
        model.fit(bad, epochs=1, verbose=0)


def test_bad_audio_inside_a_compiled_function_scores_nan():
    model = _tiny()
    x = _clips(n=2)
    x[1, 3] = 1.7
    scored = tf.function(model.log_prob, jit_compile=True)(tf.constant(x)).numpy()
    assert np.isfinite(scored[0]) and np.isnan(scored[1])


def test_bad_sampling_arguments_and_labels():
    model = _tiny(num_classes=3)
    with pytest.raises(ValueError, match="length must be >= 1"):
        model.sample(1, 0, condition=0)
    with pytest.raises(ValueError, match="must be in 0..2"):
        model.sample(1, 10, condition=3)
    with pytest.raises(ValueError, match="conditional"):
        model.sample(1, 10)
    with pytest.raises(ValueError, match="unconditional"):
        _tiny().sample(1, 10, condition=1)


def test_wavenet_trains_under_the_trainer_from_the_fsdd_source(tmp_path, fsdd_archive):
    splits = tfflows.data.load_source(f"fsdd:path={fsdd_archive},length=64")
    keras.utils.set_random_seed(0)
    model = WaveNet(
        residual_channels=4, gate_channels=4, skip_channels=4, layers_per_cycle=2, num_classes=10
    )
    config = tfflows.training.TrainConfig(
        steps=3, batch_size=4, out_dir=str(tmp_path / "run"), progress=False, xla=False
    )
    summary = tfflows.train(model, splits, config=config).summary
    assert summary["steps"] == 3 and np.isfinite(summary["test"]["nll"])
    again = tfflows.models.build_model(str(tmp_path / "run" / "model.json"))
    assert isinstance(again, WaveNet) and again.num_classes == 10


def test_layers_refuse_non_audio_shapes():
    with pytest.raises(ValueError, match="audio \\[batch, T\\]"):
        layers.CausalMaskedAutoregressive().build((None, 4, 4, 1))
    with pytest.raises(ValueError, match="dilations"):
        nets.CausalWaveNet(dilations=[1, 0])


def test_empty_batches_and_no_samples():
    """TF's CPU convolutions fail on an empty batch: scoring none and drawing none work."""
    teacher = _tiny(num_classes=3)
    student = tfflows.models.ParallelWaveNet(
        num_flows=1, layers_per_flow=2, residual_channels=4, gate_channels=4, skip_channels=4
    )
    empty = np.zeros((0, 16), np.float32)
    assert teacher.log_prob(empty, np.zeros(0, int)).shape == (0,)
    assert teacher.nll(empty, np.zeros(0, int)).shape == (0,)
    assert student.log_prob(empty).shape == (0,)
    assert teacher.sample(0, 10, seed=1, condition=np.zeros(0, int)).shape == (0, 10)
    assert student.sample(0, 10, seed=1).shape == (0, 10)
