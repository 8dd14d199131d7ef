"""Every model builder through the same checks, on small sizes."""

import dataclasses
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.bijector_registry import randomize
from tfflows import data, models


@dataclasses.dataclass
class ModelCase:
    name: str
    make: callable
    kind: str  # "image" (uint8 [8, 8, 3]) or "vector" (float [D])
    conditional: bool = False


CASES = [
    ModelCase(
        "glow",
        lambda: models.Glow((8, 8, 3), levels=2, steps_per_level=2, hidden_channels=8),
        "image",
    ),
    ModelCase(
        "glow_split_conv_no_top",
        lambda: models.Glow(
            (8, 8, 3),
            levels=2,
            steps_per_level=2,
            hidden_channels=8,
            split_hidden_channels=0,
            learn_top=False,
        ),
        "image",
    ),
    ModelCase(
        "glow_plain_additive",
        lambda: models.Glow(
            (8, 8, 3),
            levels=2,
            steps_per_level=1,
            hidden_channels=8,
            lu_decomposed=False,
            coupling="additive",
        ),
        "image",
    ),
    ModelCase(
        "glow_class_conditional",
        lambda: models.Glow(
            (8, 8, 3), levels=2, steps_per_level=1, hidden_channels=8, num_classes=4
        ),
        "image",
        conditional=True,
    ),
    ModelCase("realnvp_image", lambda: models.RealNVP((8, 8, 3), hidden=8), "image"),
    ModelCase(
        "realnvp_vector", lambda: models.RealNVP((3,), num_couplings=4, hidden=[16, 16]), "vector"
    ),
    ModelCase(
        "nice_image",
        lambda: models.NICE((8, 8, 3), hidden_layers=2, hidden_units=16, num_bits=8),
        "image",
    ),
    ModelCase("maf", lambda: models.MAF(3, num_layers=3, hidden_units=[16]), "vector"),
    ModelCase(
        "maf_conditional",
        lambda: models.MAF(3, num_layers=2, hidden_units=[16], condition_shape=(2,)),
        "vector",
        conditional=True,
    ),
    ModelCase("iaf", lambda: models.IAF(3, num_layers=3, hidden_units=[16]), "vector"),
    ModelCase("planar", lambda: models.PlanarFlow(3, num_layers=4), "vector"),
]
IDS = [c.name for c in CASES]


def _data(case, model, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if case.kind == "image":
        x = rng.integers(0, 256, (n, *model.data_shape)).astype(np.uint8)
    else:
        x = rng.standard_normal((n, *model.data_shape)).astype(np.float32)
    c = None
    if case.conditional:
        c = (
            np.arange(n) % model.num_classes
            if model.num_classes
            else rng.standard_normal((n, *model.condition_shape)).astype(np.float32)
        )
    return x, c


def _trained_looking(case, seed=0):
    """A model with randomised weights: a fresh flow is (nearly) the identity and would
    pass round trips trivially."""
    keras.utils.set_random_seed(seed)
    model = case.make()
    x, c = _data(case, model)
    model.initialize(x, c)
    randomize(model.flow_layers, seed, scale=0.05)
    return model, x, c


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_log_prob_gradients_sample_and_round_trip(case):
    model, x, c = _trained_looking(case)
    lp = model.log_prob(x, c)
    assert lp.shape == (len(x),) and np.all(np.isfinite(lp))

    with tf.GradientTape() as tape:
        loss = -tf.reduce_mean(model.log_prob(x, c))
    grads = tape.gradient(loss, model.trainable_variables)
    for v, g in zip(model.trainable_variables, grads, strict=True):
        assert g is not None, f"no gradient for {v.path}"
        assert np.any(tf.convert_to_tensor(g).numpy() != 0), f"zero gradient for {v.path}"

    cs = None if c is None else c[:4]
    s = model.sample(4, temperature=0.8, seed=3, condition=cs)
    assert s.shape == (4, *model.data_shape) and np.all(np.isfinite(s))
    np.testing.assert_array_equal(s, model.sample(4, temperature=0.8, seed=3, condition=cs))

    y = np.asarray(model.to_continuous(x, seed="center") if model.num_bits else x)
    for form in ("tensor", "flat", "list"):
        z = model.encode(x, c, form=form)
        back = model.decode(z, c)
        np.testing.assert_allclose(back, y, atol=1e-4, rtol=1e-4, err_msg=form)
    z = model.encode(x, c, form="flat").numpy()
    assert np.abs(z - y.reshape(len(x), -1)).max() > 1e-2, "the flow must not be identity"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_and_reload_give_identical_log_prob(case, tmp_path):
    model, x, c = _trained_looking(case)
    expected = model.log_prob(x, c).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.log_prob(x, c), expected, rtol=1e-6, atol=1e-6)
    assert not loaded.needs_initialization()

    weights = tmp_path / "model.weights.h5"
    model.save_weights(weights)
    fresh = type(model).from_config(model.get_config())
    fresh.load_weights(weights)
    np.testing.assert_allclose(fresh.log_prob(x, c), expected, rtol=1e-6, atol=1e-6)


def test_image_round_trip_recovers_the_pixels():
    model, x, _ = _trained_looking(CASES[0])
    decoded = model.decode(model.encode(x, seed=(5, 6)))
    np.testing.assert_array_equal(model.to_uint8(decoded).numpy(), x)


def test_uint8_and_continuous_inputs_agree():
    model, x, _ = _trained_looking(CASES[0])
    y = model.to_continuous(x, seed=(1, 2))
    np.testing.assert_allclose(model.log_prob(x, seed=(1, 2)), model.log_prob(y), rtol=1e-6)
    assert not np.allclose(model.log_prob(x, seed=(1, 2)), model.log_prob(x, seed=(3, 4)))


def test_bits_per_dim_by_hand_for_an_identity_flow():
    """No flow steps: the density is the standard normal in [-0.5, 0.5) space, so
    bits/dim = (0.5 |y|^2 + D/2 log 2 pi) / (D log 2) + 8 exactly."""
    model = models.FlowModel((4, 4, 1), num_bits=8)
    model.finish()
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 1)).astype(np.uint8)
    u = tf.random.stateless_uniform(x.shape, seed=(7, 7)).numpy()
    y = (x + u) / 256.0 - 0.5
    d = 16
    nll = 0.5 * np.sum(y.reshape(5, -1) ** 2, 1) + 0.5 * d * math.log(2 * math.pi)
    np.testing.assert_allclose(
        model.bits_per_dim(x, seed=(7, 7)), nll / (d * math.log(2)) + 8, rtol=1e-6
    )
    # Five-bit data: 5 bits per dimension from the scaling, not 8.
    five = models.FlowModel((4, 4, 1), num_bits=5)
    five.finish()
    y5 = (np.floor(x / 8) + u) / 32.0 - 0.5
    nll5 = 0.5 * np.sum(y5.reshape(5, -1) ** 2, 1) + 0.5 * d * math.log(2 * math.pi)
    np.testing.assert_allclose(
        five.bits_per_dim(x, seed=(7, 7)), nll5 / (d * math.log(2)) + 5, rtol=1e-6
    )


TWO_D = [
    lambda: models.RealNVP((2,), num_couplings=4, hidden=[16, 16]),
    lambda: models.MAF(2, num_layers=3, hidden_units=[16]),
    lambda: models.IAF(2, num_layers=2, hidden_units=[16]),
    lambda: models.PlanarFlow(2, num_layers=4),
    lambda: models.NICE((2,), num_couplings=4, hidden_layers=2, hidden_units=16),
]


@pytest.mark.parametrize("make", TWO_D, ids=["realnvp", "maf", "iaf", "planar", "nice"])
def test_2d_model_density_integrates_to_one(make):
    keras.utils.set_random_seed(1)
    model = make()
    randomize(model.flow_layers, seed=1, scale=0.1)
    axis = np.linspace(-15.0, 15.0, 1201, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    density = np.exp(model.log_prob(grid).numpy())
    total = density.sum() * float(axis[1] - axis[0]) ** 2
    assert abs(total - 1.0) < 0.01, f"density integrates to {total:.4f}"


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.name in ("glow", "maf")], ids=["glow", "maf"]
)
def test_temperature(case):
    model, _, _ = _trained_looking(case)
    mode = model.sample(5, temperature=0.0, seed=0)
    zeros = [tf.zeros([5, *p.shape[1:]]) for p in model.encode(model.sample(5), form="list")]
    np.testing.assert_allclose(mode, model.decode(zeros), atol=1e-6)
    spread = [
        float(tf.reduce_mean(tf.abs(model.sample(200, temperature=t, seed=0) - mode[:1])))
        for t in (0.25, 0.5, 1.0, 1.5)
    ]
    assert spread == sorted(spread) and spread[0] < spread[-1] / 3, spread


def test_class_conditional_glow_uses_labels():
    case = next(c for c in CASES if c.name == "glow_class_conditional")
    model, x, c = _trained_looking(case)
    a = model.log_prob(x, np.zeros(len(x), np.int32))
    b = model.log_prob(x, np.ones(len(x), np.int32))
    assert np.abs(a - b).max() > 1e-3
    one_hot = tf.one_hot(np.zeros(len(x), np.int32), 4)
    np.testing.assert_allclose(model.log_prob(x, one_hot), a, rtol=1e-6)
    with pytest.raises(ValueError, match="pass labels"):
        model.log_prob(x)
    samples = model.sample(3, seed=0, condition=np.array([0, 1, 2]))
    assert samples.shape == (3, 8, 8, 3)


def _pooled(images, size=7):
    """28x28 digits -> size x size (mean pooling), still uint8: small real vectors."""
    f = 28 // size
    pooled = images.reshape(-1, size, f, size, f).mean(axis=(2, 4))
    return np.round(pooled).astype(np.uint8).reshape(len(images), -1)


REAL_DATA_BUILDERS = {
    "glow": (
        lambda: models.Glow((28, 28, 1), levels=2, steps_per_level=2, hidden_channels=16),
        "image",
    ),
    "realnvp_image": (lambda: models.RealNVP((28, 28, 1), hidden=16), "image"),
    "realnvp_vector": (lambda: models.RealNVP((49,), hidden=[64], num_bits=8), "vector"),
    "nice": (lambda: models.NICE((49,), hidden_layers=2, hidden_units=64, num_bits=8), "vector"),
    "maf": (lambda: models.MAF(49, num_layers=2, hidden_units=[64], num_bits=8), "vector"),
    "iaf": (lambda: models.IAF(49, num_layers=2, hidden_units=[64], num_bits=8), "vector"),
    "planar": (lambda: models.PlanarFlow(49, num_layers=4, num_bits=8), "vector"),
}


@pytest.mark.parametrize("name", sorted(REAL_DATA_BUILDERS))
def test_a_few_fit_steps_lower_the_nll_on_real_mnist(name, mnist):
    x_train, _, x_test, _ = mnist
    make, kind = REAL_DATA_BUILDERS[name]
    x, xt = x_train[:512], x_test[:256]
    if kind == "vector":
        x, xt = _pooled(x), _pooled(xt)
    keras.utils.set_random_seed(0)
    model = make()
    before = float(tf.reduce_mean(model.bits_per_dim(xt)))
    model.compile(optimizer=keras.optimizers.Adam(1e-2 if kind == "vector" else 1e-3))
    model.fit(x, batch_size=64, epochs=2, verbose=0)
    after = model.evaluate(xt, batch_size=128, verbose=0, return_dict=True)
    assert not model.needs_initialization()
    # Same dequantization noise before and after, so any drop is the training's.
    assert after["bits_per_dim"] < before - 0.1, (name, before, after)
    # evaluate = the per-batch log_prob (each batch dequantized with the default seed).
    halves = [xt[:128], xt[128:]]
    bpd = np.mean([model.bits_per_dim(h).numpy() for h in halves])
    nll = np.mean([model.nll_from_log_prob(model.log_prob(h)).numpy() for h in halves])
    np.testing.assert_allclose(after["bits_per_dim"], bpd, rtol=1e-4)
    np.testing.assert_allclose(after["nll"], nll, rtol=1e-4)


def test_class_conditional_glow_fits_with_labels(mnist):
    x_train, y_train, _, _ = mnist
    keras.utils.set_random_seed(0)
    model = models.Glow((28, 28, 1), levels=2, steps_per_level=1, hidden_channels=8, num_classes=10)
    history = model.fit(x_train[:1024], y_train[:1024], batch_size=64, epochs=2, verbose=0)
    bpd = history.history["bits_per_dim"]
    assert bpd[-1] < bpd[0]


def test_keras_callbacks_see_the_loss():
    """`loss` is in the logs, so TerminateOnNaN stops at the first non-finite step."""
    model = models.RealNVP((2,), num_couplings=2, hidden=[8])
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    history = model.fit(x, batch_size=16, epochs=2, verbose=0)
    assert history.history["loss"] == history.history["nll"]
    # Finite input far out (1e30): the loss overflows to inf, which TerminateOnNaN watches.
    far = tf.data.Dataset.from_tensor_slices(np.concatenate([x[:16], x[:16] * 1e30]))
    history = model.fit(
        far.batch(16), epochs=3, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()]
    )
    assert int(model.optimizer.iterations.numpy()) == 8 + 2  # 8 before, then 1 good + 1 inf


def test_fit_checks_a_dataset_in_its_input_pipeline_even_under_xla():
    """A NaN batch in a tf.data.Dataset is refused by the input pipeline's check before it
    reaches the (XLA-compiled, assertion-free) training step: no update uses it."""
    model = models.RealNVP((2,), num_couplings=2, hidden=[8])
    x = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    poisoned = tf.data.Dataset.from_tensor_slices(np.concatenate([x[:16], x[:16] * np.nan]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="x holds non-finite values"):
        model.fit(poisoned.batch(16), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 1  # the good batch only
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())


def test_bad_inputs_get_clear_errors():
    model = models.Glow((8, 8, 3), levels=2, steps_per_level=1, hidden_channels=4)
    with pytest.raises(ValueError, match=r"examples must have shape \(8, 8, 3\)"):
        model.log_prob(np.zeros((2, 8, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="non-finite"):
        model.log_prob(np.full((2, 8, 8, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="outside the model's continuous space"):
        model.log_prob(np.full((2, 8, 8, 3), 200.0, np.float32))
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="divisible by 4"):
        models.Glow((6, 6, 3), levels=2)
    with pytest.raises(ValueError, match="unconditional"):
        model.log_prob(np.zeros((2, 8, 8, 3), np.uint8), np.zeros(2))
    assert data.check_array(np.zeros((1, 8, 8, 3), np.uint8), (8, 8, 3), 8).shape == (1, 8, 8, 3)


def test_glow_split_prior_of_glows_code_is_one_zero_conv():
    model = models.Glow(
        (8, 8, 3), levels=2, steps_per_level=1, hidden_channels=8, split_hidden_channels=0
    )
    model.log_prob(np.zeros((2, 8, 8, 3), np.uint8))
    split = next(layer for layer in model.flow_layers if layer.name == "split_0")
    kernels = [w for w in split.weights if w.name == "kernel"]
    # Kept half: 6 channels at 4x4; the prior predicts mean and log-scale of the other 6.
    assert [tuple(k.shape) for k in kernels] == [(3, 3, 6, 12)]
    assert float(np.abs(kernels[0].numpy()).max()) == 0.0
    wide = models.Glow((8, 8, 3), levels=2, steps_per_level=1, hidden_channels=8)
    assert model.count_params() < wide.count_params()
    with pytest.raises(ValueError, match="needs hidden_channels > 0"):
        from tfflows.nets import ConvNet

        ConvNet(0, 4, condition_shape=(3,))
