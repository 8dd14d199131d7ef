"""Bad input is refused the same way for numpy arrays and tensors, eagerly, in a
tf.function and under XLA (where nothing can raise, so bad examples score NaN), and the
arguments of sample, to_uint8 and the spaces' messages say what to pass."""

import numpy as np
import pytest
import tensorflow as tf

from tfflows import data, models

MODES = ("eager", "function", "xla")


def tiny_glow(**kwargs):
    return models.Glow((8, 8, 3), levels=2, steps_per_level=1, hidden_channels=4, **kwargs)


def run(mode, fn, *args):
    """fn(*tensors) eagerly, traced, or traced and XLA-compiled."""
    tensors = [tf.convert_to_tensor(a) for a in args]
    if mode == "eager":
        return fn(*tensors)
    return tf.function(fn, jit_compile=mode == "xla", autograph=False)(*tensors)


def refused(mode, fn, *args, match):
    """Eagerly a ValueError, traced a failed assertion: each with the message. Under XLA
    (assertions are dropped) every output of the call is NaN for the bad examples."""
    if mode == "xla":
        return np.asarray(run(mode, fn, *args))
    error = ValueError if mode == "eager" else tf.errors.InvalidArgumentError
    with pytest.raises(error, match=match):
        run(mode, fn, *args)
    return None


PIXELS = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bad", [7, 99, -1, 3])
def test_out_of_range_labels_are_refused(mode, bad):
    model = tiny_glow(num_classes=3)
    labels = np.array([0, bad, 2, 1], np.int32)
    out = refused(mode, model.log_prob, PIXELS, labels, match=r"must be in 0\.\.2")
    if out is not None:  # XLA: the bad example is NaN, the others are scored
        good = model.log_prob(PIXELS, np.array([0, 0, 2, 1])).numpy()
        assert np.isnan(out[1]) and np.allclose(out[[0, 2, 3]], good[[0, 2, 3]], rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_out_of_range_labels_are_refused_when_sampling_and_encoding(mode):
    model = tiny_glow(num_classes=3)
    with pytest.raises(ValueError, match=r"must be in 0\.\.2.*got 5"):
        model.sample(2, seed=0, condition=np.array([0, 5]))
    out = refused(mode, model.encode, PIXELS[:2], np.array([5, 0]), match=r"must be in 0\.\.2")
    if out is not None:
        assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


def test_a_wrong_number_of_labels_is_named():
    model = tiny_glow(num_classes=3)
    with pytest.raises(ValueError, match="got 3 labels for 4 examples"):
        model.log_prob(PIXELS, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="got 1 labels for 2 examples"):
        model.sample(2, seed=0, condition=np.array([1]))
    with pytest.raises(ValueError, match=r"shape \[N\] or \[N, 1\]"):
        model.log_prob(PIXELS, np.zeros((4, 2), np.int32))
    # One label for the whole draw is a request, not a mistake.
    assert model.sample(2, seed=0, condition=2).shape == (2, 8, 8, 3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "bad, match",
    [
        (np.full((2, 8, 8, 3), 300, np.int32), "outside 0..255"),
        (np.full((2, 8, 8, 3), -3, np.int32), "outside 0..255"),
        (np.full((2, 8, 8, 3), np.nan, np.float32), "non-finite"),
        (np.full((2, 8, 8, 3), 200.0, np.float32), "outside the .*continuous space"),
    ],
    ids=["pixels_300", "negative_pixels", "nan", "unscaled_floats"],
)
def test_tensor_inputs_are_checked_like_numpy(mode, bad, match):
    model = tiny_glow()
    with pytest.raises(ValueError, match=match):
        model.log_prob(bad)  # numpy
    good = np.zeros((1, 8, 8, 3), bad.dtype)  # pixel 0, or the space's centre
    mixed = np.concatenate([bad[:1], good])
    out = refused(mode, model.log_prob, mixed, match=match)
    if out is not None:
        assert np.isnan(out[0]) and np.isfinite(out[1])


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_batch_scores_to_an_empty_result_in_every_mode(mode):
    model = tiny_glow()
    empty = np.zeros((0, 8, 8, 3), np.uint8)
    assert model.log_prob(empty).shape == (0,)  # numpy
    assert np.asarray(run(mode, model.log_prob, empty)).shape == (0,)
    assert np.asarray(run(mode, model.encode, empty)).shape == (0, 8, 8, 3)
    assert model.decode(np.zeros((0, 8, 8, 3), np.float32)).shape == (0, 8, 8, 3)
    assert model.sample(0, seed=1).shape == (0, 8, 8, 3)
    with pytest.raises(ValueError, match="empty"):
        model.fit(empty)  # there is nothing to train on


def test_graph_inputs_of_unknown_batch_size_are_checked():
    model = tiny_glow()
    spec = tf.TensorSpec([None, 8, 8, 3], tf.int32)
    score = tf.function(model.log_prob, input_signature=[spec])
    assert score(tf.zeros([0, 8, 8, 3], tf.int32)).shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside 0..255"):
        score(tf.fill([3, 8, 8, 3], 256))


def test_the_float_range_message_names_the_models_own_space():
    centered = tiny_glow()
    logit = tiny_glow(preprocessing="logit")
    with pytest.raises(ValueError, match=r"\[-0\.5, 0\.5\] \(pixels / 2\^bits - 0\.5"):
        centered.log_prob(np.full((1, 8, 8, 3), 0.9, np.float32))
    # Following the advice a logit model gives works; the centered advice is refused.
    ok = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
    assert np.isfinite(logit.log_prob(ok)).all()
    with pytest.raises(ValueError, match=r"space \[0, 1\] \(pixels / 2\^bits, then a logit"):
        logit.log_prob(ok - 0.5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"space \[0, 1\]"):
        tf.function(logit.log_prob)(tf.constant(ok - 0.5))


@pytest.mark.parametrize("temperature", [0.0, 0.7, 1.0, 3.0])
@pytest.mark.parametrize("preprocessing", ["centered", "logit"])
def test_samples_stay_in_the_space_and_score_finitely(temperature, preprocessing):
    model = tiny_glow(preprocessing=preprocessing)
    model.initialize(PIXELS)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:  # far from the identity: samples leave the range
        w.assign(rng.normal(0, 0.5, w.shape).astype(np.float32))
    x = model.sample(16, temperature=temperature, seed=2).numpy()
    low = model.continuous_low
    assert np.isfinite(x).all() and x.min() >= low and x.max() <= low + 1
    assert np.isfinite(model.log_prob(x).numpy()).all()


def test_integers_for_a_model_of_continuous_data_are_an_error_and_images_get_8_bits():
    pixels = np.full((2, 8, 8, 3), 128, np.uint8)
    for make in (models.NICE, models.MAF, models.IAF, models.RealNVP, models.Glow):
        model = make((8, 8, 3))
        assert model.num_bits == 8, make.__name__  # one rule: image shapes are 8-bit
    # An untrained model of 8-bit images scores near 8 bits/dim, not ~17,000.
    assert 6 < float(np.mean(models.NICE((8, 8, 3)).bits_per_dim(pixels))) < 12
    vector = models.MAF(16, hidden_units=[8])
    with pytest.raises(ValueError, match=r"continuous data \(num_bits=None\).*num_bits=8"):
        vector.log_prob(np.zeros((2, 16), np.uint8))
    with pytest.raises(ValueError, match=r"num_bits=None"):
        tf.function(vector.log_prob)(tf.zeros((2, 16), tf.int32))


def test_sample_arguments_are_checked():
    model = tiny_glow()
    for n, match in [(2.7, "whole number"), (-1, ">= 0"), ("3", "whole number")]:
        with pytest.raises(ValueError, match=match):
            model.sample(n)
    for t in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            model.sample(2, temperature=t)
    assert model.sample(3.0, seed=0).shape == (3, 8, 8, 3)  # a whole float is a count
    assert model.sample(np.int64(2), seed=np.int32(1)).shape == (2, 8, 8, 3)


def test_to_uint8_refuses_non_finite_values_in_every_mode():
    x = np.zeros((2, 4, 4, 3), np.float32)
    x[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="1 of 96 values are NaN or infinite"):
        data.to_uint8(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        tf.function(data.to_uint8)(tf.constant(x))
    np.testing.assert_array_equal(data.to_uint8(x[:1]).numpy(), np.full((1, 4, 4, 3), 128))


def test_a_non_finite_sample_is_warned_about_not_hidden():
    model = models.MAF(4, hidden_units=[8], num_layers=1)
    layer = model.flow_layers[0]
    layer.set_weights([np.full(w.shape, np.nan, np.float32) for w in layer.get_weights()])
    with pytest.warns(RuntimeWarning, match="3 of 3 samples of .* non-finite"):
        x = model.sample(3, seed=0)
    assert np.isnan(x.numpy()).all()


def test_encode_then_decode_gives_the_pixels_back_exactly():
    model = tiny_glow()
    model.initialize(PIXELS)
    rng = np.random.default_rng(3)
    for w in model.trainable_weights:
        w.assign(w + rng.normal(0, 0.05, w.shape).astype(np.float32))
    x = np.random.default_rng(4).integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    back = model.to_uint8(model.decode(model.encode(x))).numpy()
    np.testing.assert_array_equal(back, x)


def test_nll_is_the_datas_nll_in_nats_next_to_bits_per_dim():
    model = tiny_glow()
    result = model.evaluate(PIXELS, batch_size=4, verbose=0, return_dict=True)
    lp = model.log_prob(PIXELS).numpy()
    d = 8 * 8 * 3
    assert result["nll"] > 0 and result["bits_per_dim"] > 0
    np.testing.assert_allclose(result["nll"], np.mean(-lp + d * 8 * np.log(2)), rtol=1e-5)
    np.testing.assert_allclose(result["nll"], result["bits_per_dim"] * d * np.log(2), rtol=1e-5)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: models.Glow((8, 8, 3), levels="two"), "levels must be a whole number"),
        (lambda: models.Glow((8, 8, 3), levels=0), "levels must be >= 1"),
        (lambda: models.MAF(2.5), "event_size must be a whole number"),
        (lambda: models.NICE("abc"), "input_shape must be a shape"),
        (lambda: models.RealNVP((4,), num_couplings=-2), "num_couplings must be >= 1"),
    ],
)
def test_constructor_sizes_are_checked(make, match):
    """`--set levels=two` on the command line reaches the constructor as a string."""
    with pytest.raises(ValueError, match=match):
        make()
