"""The Keras layers that own the flow steps' weights: initial state, configs, errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_registry import randomize
from tfflows import bijectors, layers, nets

VECTOR, IMAGE = (None, 4), (None, 4, 4, 4)

IDENTITY_AT_INIT = [
    (layers.Planar, {}, VECTOR),
    (layers.Radial, {}, VECTOR),
    (layers.AdditiveCoupling, {"hidden": 8}, VECTOR),
    (layers.AdditiveCoupling, {"mask": "checkerboard", "hidden": 8}, IMAGE),
    (layers.AffineCoupling, {"mask": "alternating", "hidden": 8}, VECTOR),
    (layers.AffineCoupling, {"mask": "channel", "hidden": 8, "condition_shape": (3,)}, IMAGE),
    (layers.DiagonalScaling, {}, VECTOR),
    (layers.ActNorm, {}, IMAGE),
    (layers.FactorOut, {"hidden": 8}, IMAGE),
    (layers.MaskedAutoregressive, {"hidden": [8]}, VECTOR),
    (layers.InverseAutoregressive, {"hidden": [8], "condition_shape": (2,)}, VECTOR),
    (layers.LearnedPrior, {"condition_shape": (10,)}, IMAGE),
]


def _condition(layer, n):
    if layer.condition_shape is None:
        return None
    return tf.random.normal([n, *layer.condition_shape])


def _id(p):
    return getattr(p, "__name__", "")


@pytest.mark.parametrize("cls,kwargs,shape", IDENTITY_AT_INIT, ids=_id)
def test_fresh_step_is_the_identity(cls, kwargs, shape):
    layer = cls(**kwargs)
    layer.build(shape)
    x = tf.random.normal([3, *shape[1:]])
    bij = layer.bijector(_condition(layer, 3))
    np.testing.assert_allclose(bij.inverse(x), x, atol=1e-6)
    np.testing.assert_allclose(bij.inverse_log_det_jacobian(x, len(shape) - 1), 0.0, atol=1e-6)


def test_fresh_glow_coupling_scales_by_sigmoid_two():
    layer = layers.AffineCoupling(mask="channel", scale="sigmoid", hidden=8)
    layer.build(IMAGE)
    x = tf.random.normal([3, 4, 4, 4])
    z = layer.bijector().inverse(x).numpy()
    np.testing.assert_allclose(z[..., :2], x[..., :2], atol=1e-6)
    np.testing.assert_allclose(z[..., 2:], x.numpy()[..., 2:] / (1 + np.exp(-2.0)), rtol=1e-5)


@pytest.mark.parametrize("cls", [layers.Invertible1x1Conv, layers.LUInvertible1x1Conv])
def test_fresh_1x1_conv_is_a_rotation(cls):
    layer = cls(seed=0)
    layer.build(IMAGE)
    x = tf.random.normal([3, 4, 4, 4])
    bij = layer.bijector()
    z = bij.inverse(x)
    np.testing.assert_allclose(tf.norm(z, axis=-1), tf.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(bij.inverse_log_det_jacobian(x, 3), 0.0, atol=1e-4)
    assert np.abs(np.asarray(z) - np.asarray(x)).max() > 1e-2  # a real mixing, not the identity


def test_actnorm_data_init_normalises_and_survives_a_constant_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4, 4, 3)) * [0.1, 5.0, 1.0] + [3.0, -2.0, 0.0]
    x[..., 2] = 0.7  # a constant channel: centred, scale left at 1
    x = x.astype("float32")
    layer = layers.ActNorm()
    layer.build((None, 4, 4, 3))
    assert float(layer.initialized.numpy()) == 0.0
    layer.initialize(x)
    z = layer.bijector().inverse(x).numpy()
    np.testing.assert_allclose(z.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(z[..., :2].var(axis=(0, 1, 2)), 1.0, rtol=1e-3)
    np.testing.assert_allclose(z[..., 2], 0.0, atol=1e-5)  # float32 mean of 1024 values
    assert float(layer.log_scale.numpy()[2]) == 0.0
    assert float(layer.initialized.numpy()) == 1.0


CONFIG_CASES = IDENTITY_AT_INIT + [
    (layers.Invertible1x1Conv, {"seed": 3}, IMAGE),
    (layers.LUInvertible1x1Conv, {"seed": 3}, IMAGE),
    (
        layers.AffineCoupling,
        {"mask": "checkerboard", "scale": "sigmoid", "hidden": 4, "condition_shape": (4, 4, 1)},
        IMAGE,
    ),
]


@pytest.mark.parametrize("cls,kwargs,shape", CONFIG_CASES, ids=_id)
def test_config_round_trip_rebuilds_the_same_step(cls, kwargs, shape):
    layer = cls(**kwargs)
    layer.build(shape)
    randomize([layer], seed=1)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is cls and clone.get_config() == layer.get_config()
    assert clone.built, "the serialized build config must rebuild the layer's weights"
    clone.set_weights(layer.get_weights())
    x = tf.random.normal([2, *shape[1:]])
    c = _condition(layer, 2)
    np.testing.assert_allclose(
        clone.bijector(c).inverse(x), layer.bijector(c).inverse(x), atol=1e-6
    )


def test_made_is_autoregressive():
    # tanh: no dead ReLU unit can hide a connection from this one input
    made = nets.MADE(5, hidden_units=[16, 16], activation="tanh", condition_shape=(2,))
    made.build((None, 5))
    randomize([made], seed=0)
    x = tf.random.normal([1, 5])
    c = tf.random.normal([1, 2])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = made(x, condition=c)
    jac = tape.batch_jacobian(out, x)[0].numpy()  # [2 * 5, 5]
    for p in range(2):
        block = jac[p * 5 : (p + 1) * 5]
        assert np.all(np.triu(block) == 0), "output i must not depend on x_j for j >= i"
        assert np.all(np.tril(block, -1)[np.tril_indices(5, -1)] != 0), "every x_<i is used"


def test_clear_errors():
    with pytest.raises(ValueError, match="even number of channels"):
        layers.FactorOut().build((None, 4, 4, 3))
    with pytest.raises(ValueError, match="checkerboard mask needs image"):
        layers.AffineCoupling(mask="checkerboard").build((None, 4))
    with pytest.raises(ValueError, match="mask must be one of"):
        layers.AffineCoupling(mask="diagonal").build((None, 4))
    with pytest.raises(ValueError, match="vectors or"):
        layers.ActNorm().build((None, 4, 4))
    with pytest.raises(ValueError, match="takes a condition of rank 1"):
        layers.MaskedAutoregressive(condition_shape=(4, 4, 1))
    coupling = layers.AffineCoupling(hidden=4, condition_shape=(2,))
    coupling.build(VECTOR)
    with pytest.raises(ValueError, match="needs a `condition` input"):
        coupling.bijector().inverse(tf.zeros([1, 4]))
    with pytest.raises(ValueError, match="divisible by 2"):
        from tfflows.bijectors import Squeeze

        Squeeze().inverse(tf.zeros([1, 3, 4, 1]))


class _Counting:
    """Wraps a conditioner and counts its calls."""

    def __init__(self, net):
        self.net, self.calls = net, 0

    def __call__(self, x):
        self.calls += 1
        return self.net(x)


def _built(net, input_size):
    net.build((None, input_size))
    return net


ONE_PASS_CASES = {
    # name: (bijector over a conditioner, the conditioner for 4-D events)
    "affine_half": (
        lambda f: bijectors.AffineCoupling(f, mask="half"),
        lambda: _built(nets.MLP([8], 4), 2),
    ),
    "affine_alternating": (
        lambda f: bijectors.AffineCoupling(f, mask="alternating"),
        lambda: _built(nets.MLP([8], 8), 4),
    ),
    "maf": (bijectors.MaskedAutoregressive, lambda: _built(nets.MADE(4, [8]), 4)),
    "factor_out": (
        lambda f: bijectors.FactorOut(f, event_ndims=1),
        lambda: _built(nets.MLP([8], 4), 2),
    ),
}


@pytest.mark.parametrize("name", sorted(ONE_PASS_CASES))
def test_conditioner_runs_once_per_log_prob(name):
    make_bijector, make_net = ONE_PASS_CASES[name]
    counting = _Counting(make_net())
    base = tfp.distributions.MultivariateNormalDiag(loc=tf.zeros(4))
    dist = tfp.distributions.TransformedDistribution(base, make_bijector(counting))
    assert dist.log_prob(tf.random.normal([3, 4])).shape == (3,)
    assert counting.calls == 1, f"the conditioner ran {counting.calls} times for one log_prob"
