"""Sylvester flows (van den Berg et al. 2018) and planar/radial flows with per-example
(amortised) parameters, as a VAE's encoder gives them."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tests.bijector_checks import assert_close, flat_jacobian_logdet, run_mode
from tests.bijector_registry import randomize
from tfflows import bijectors, layers

VARIANTS = ["orthogonal", "orthogonal_full", "householder", "triangular", "triangular_reversed"]


def make_q(variant, rng, n, d, dtype=np.float64):
    """Per-example Q [n, d, m] (shared [d, d] for the triangular variants)."""
    if variant == "orthogonal":
        return bijectors.orthogonal_q(rng.normal(size=(n, d, d - 1)).astype(dtype))
    if variant == "orthogonal_full":
        return bijectors.orthogonal_q(rng.normal(size=(n, d, d)).astype(dtype))
    if variant == "householder":
        return bijectors.householder_q(rng.normal(size=(n, 3, d)).astype(dtype))
    return bijectors.permutation_q(d, variant == "triangular_reversed", tf.as_dtype(dtype))


def sylvester_params(variant, rng, n, d, scale=1.5, dtype=np.float64):
    """(q, r1, r2, b) for n examples, with raw values large enough that the diagonals reach
    tanh's saturation and the flow is far from linear."""
    q = make_q(variant, rng, n, d, dtype)
    m = q.shape[-1]
    r1, r2 = (scale * rng.normal(size=(n, m, m)).astype(dtype) for _ in range(2))
    b = rng.normal(size=(n, m)).astype(dtype)
    return q, r1, r2, b


def reference_forward(q, r1, r2, b, z):
    """z + Q R1 tanh(R2 Q^T z + b) per example, in numpy, from the paper's formula."""
    q = np.broadcast_to(np.asarray(q), (len(z), *np.asarray(q).shape[-2:]))

    def admissible(r):
        return np.triu(r, 1) + np.tanh(np.diagonal(r, axis1=-2, axis2=-1))[..., None] * np.eye(
            r.shape[-1]
        )

    out = []
    for i in range(len(z)):
        a = admissible(r2[i]) @ q[i].T @ z[i] + b[i]
        out.append(z[i] + q[i] @ admissible(r1[i]) @ np.tanh(a))
    return np.stack(out)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("d", [3, 4, 5])
def test_sylvester_per_example_log_det_matches_autodiff_and_formula(variant, d):
    rng = np.random.default_rng(d)
    n = 6
    params = sylvester_params(variant, rng, n, d)
    z = 2.0 * rng.normal(size=(n, d))
    x = 2.0 * rng.normal(size=(n, d))

    def fresh():
        return bijectors.Sylvester(*params)

    np.testing.assert_allclose(fresh().forward(z), reference_forward(*params, z), atol=1e-12)
    fldj = fresh().forward_log_det_jacobian(z, 1).numpy()
    assert_close(fldj, flat_jacobian_logdet(lambda t: fresh().forward(t), z), 1e-8, "fldj")
    ildj = fresh().inverse_log_det_jacobian(x, 1).numpy()
    assert_close(ildj, flat_jacobian_logdet(lambda t: fresh().inverse(t), x), 1e-8, "ildj")
    assert_close(fresh().forward(fresh().inverse(x)), x, 1e-9, "forward(inverse(x))")
    assert_close(fresh().inverse(fresh().forward(z)), z, 1e-9, "inverse(forward(z))")
    # The examples' flows really differ: the per-example parameters are used as such.
    assert np.ptp(fldj) > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_q_has_orthonormal_columns(dtype):
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(6, 5, 3)).astype(dtype)
    for q in (
        bijectors.orthogonal_q(raw),
        bijectors.orthogonal_q(raw[0, :3, :]),
        bijectors.householder_q(rng.normal(size=(6, 4, 5)).astype(dtype)),
    ):
        gram = tf.linalg.matmul(q, q, transpose_a=True).numpy()
        np.testing.assert_allclose(
            gram, np.broadcast_to(np.eye(q.shape[-1]), gram.shape), atol=1e-5
        )
    # Gram-Schmidt of raw's columns: Q^T raw is upper-triangular with a positive diagonal.
    r = tf.linalg.matmul(bijectors.orthogonal_q(raw), raw, transpose_a=True).numpy()
    np.testing.assert_allclose(np.tril(r, -1), 0.0, atol=1e-5)
    assert np.all(np.diagonal(r, axis1=-2, axis2=-1) > 0)


def test_orthogonal_q_is_differentiable_and_compiles():
    raw = tf.constant(np.random.default_rng(1).normal(size=(4, 5, 3)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(raw)
        loss = tf.reduce_sum(bijectors.orthogonal_q(raw)[..., 0, :] ** 3)
    grad = tape.gradient(loss, raw).numpy()
    assert np.all(np.isfinite(grad)) and np.abs(grad).max() > 0
    compiled = tf.function(bijectors.orthogonal_q, jit_compile=True)(raw)
    np.testing.assert_allclose(compiled, bijectors.orthogonal_q(raw), atol=1e-5)


def test_householder_q_is_the_product_of_its_reflections():
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(3, 4, 5))  # 3 examples, H = 4 reflections in D = 5
    q = bijectors.householder_q(vectors).numpy()
    for i in range(3):
        expected = np.eye(5)
        for v in vectors[i]:  # H_1 first: Q = H_4 H_3 H_2 H_1
            expected = (np.eye(5) - 2.0 * np.outer(v, v) / (v @ v)) @ expected
        np.testing.assert_allclose(q[i], expected, atol=1e-12)
    np.testing.assert_allclose(
        bijectors.householder_q(vectors[:, :1]).numpy()[0],
        np.eye(5) - 2.0 * np.outer(vectors[0, 0], vectors[0, 0]) / (vectors[0, 0] @ vectors[0, 0]),
        atol=1e-12,
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_triangular_variant_permutes_and_is_triangular(reverse):
    eye = np.eye(4)
    np.testing.assert_array_equal(
        bijectors.permutation_q(4, reverse, tf.float64), eye[:, ::-1] if reverse else eye
    )
    rng = np.random.default_rng(3)
    _, r1, r2, b = sylvester_params("triangular", rng, 1, 4)
    bij = bijectors.Sylvester(bijectors.permutation_q(4, reverse, tf.float64), r1[0], r2[0], b[0])
    z = tf.constant(rng.normal(size=(2, 4)))
    with tf.GradientTape() as tape:
        tape.watch(z)
        x = bij.forward(z)
    jac = tape.batch_jacobian(x, z).numpy()  # [n, i, j] = dx_i / dz_j
    # Q = I: x_i depends on z_i..z_D only (upper-triangular); the reversal makes it lower.
    upper = np.triu(np.ones((4, 4), bool), 1)
    zero, full = (upper.T, upper) if not reverse else (upper, upper.T)
    np.testing.assert_array_equal(jac[:, zero], 0.0)
    assert np.all(np.abs(jac[:, full]) > 1e-6)


def _planar_params(rng, n, d):
    return rng.normal(size=(n, d)), rng.normal(size=(n, d)), rng.normal(size=n)


def _radial_params(rng, n, d):
    return rng.normal(size=(n, d)), rng.normal(size=n), 2.0 * rng.normal(size=n)


AMORTISED = {
    "planar": (bijectors.Planar, _planar_params),
    "radial": (bijectors.Radial, _radial_params),
    "sylvester": (
        bijectors.Sylvester,
        lambda rng, n, d: sylvester_params("orthogonal", rng, n, d),
    ),
}


@pytest.mark.parametrize("name", sorted(AMORTISED))
def test_amortised_flow_equals_the_per_example_loop(name):
    """Parameters [n, ...] on x [n, D] (and on x [S, n, D], S samples per example, as an
    importance-weighted VAE draws them) give what n separate flows give."""
    cls, make = AMORTISED[name]
    rng = np.random.default_rng(4)
    n, d, s = 5, 3, 2
    params = make(rng, n, d)
    z = rng.normal(size=(s, n, d))
    x = rng.normal(size=(s, n, d))
    batched = cls(*params)
    results = [
        batched.forward(z),
        batched.forward_log_det_jacobian(z, 1),
        cls(*params).inverse(x),
        cls(*params).inverse_log_det_jacobian(x, 1),
    ]
    for i in range(n):
        one = cls(*(p[i] for p in params))
        expected = [
            one.forward(z[:, i]),
            one.forward_log_det_jacobian(z[:, i], 1),
            cls(*(p[i] for p in params)).inverse(x[:, i]),
            cls(*(p[i] for p in params)).inverse_log_det_jacobian(x[:, i], 1),
        ]
        for what, got, want in zip(
            ["forward", "fldj", "inverse", "ildj"], results, expected, strict=True
        ):
            np.testing.assert_allclose(got.numpy()[:, i], want, atol=1e-10, err_msg=what)


@pytest.mark.parametrize("name", sorted(AMORTISED))
@pytest.mark.parametrize("mode", ["eager", "function", "xla"])
def test_amortised_round_trip_in_every_mode(name, mode):
    """float32, with the batch of x and of the parameters dynamic under tf.function/XLA."""
    cls, make = AMORTISED[name]
    rng = np.random.default_rng(5)
    params = [np.asarray(p).astype(np.float32) for p in make(rng, 6, 4)]
    # Sylvester's Q is shared (one [D, M] matrix); the other parameters are per example.
    shared = [params[0][0]] if name == "sylvester" else []
    args = params[len(shared) :]
    x = rng.normal(size=(6, 4)).astype(np.float32)

    def round_trip(x, *p):
        z = cls(*shared, *p).inverse(x)
        return z, cls(*shared, *p).forward(z), cls(*shared, *p).inverse_log_det_jacobian(x, 1)

    z, back, ildj = run_mode(mode, round_trip, x, *args)
    assert_close(back, x, 1e-4, f"{name} {mode}: forward(inverse(x))")
    fldj = cls(*shared, *args).forward_log_det_jacobian(z, 1)
    assert_close(ildj, -fldj.numpy(), 1e-4, f"{name} {mode}: ildj(x) = -fldj(z)")


def test_amortised_flow_posterior_in_a_transformed_distribution():
    """q(z|x) of a VAE: a diagonal Gaussian per example through a Sylvester flow per example
    has a log-density per example: base log-prob of the inverse plus the inverse log-det."""
    rng = np.random.default_rng(6)
    n, d = 4, 3
    base = tfp.distributions.MultivariateNormalDiag(
        loc=rng.normal(size=(n, d)), scale_diag=np.exp(0.3 * rng.normal(size=(n, d)))
    )
    params = sylvester_params("householder", rng, n, d)
    posterior = tfp.distributions.TransformedDistribution(base, bijectors.Sylvester(*params))
    z = posterior.sample(seed=tf.constant([1, 2], tf.int32))
    assert z.shape == (n, d)
    eps = bijectors.Sylvester(*params).inverse(z)
    expected = base.log_prob(eps) + bijectors.Sylvester(*params).inverse_log_det_jacobian(z, 1)
    np.testing.assert_allclose(posterior.log_prob(z), expected, atol=1e-10)
    np.testing.assert_allclose(eps, base.sample(seed=tf.constant([1, 2], tf.int32)), atol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_invertibility_constraints_hold_for_any_raw_parameters(dtype):
    rng = np.random.default_rng(7)
    n, d = 64, 4
    for scale in (1.0, 10.0, 1000.0):
        q = bijectors.orthogonal_q(rng.normal(size=(n, d, d)).astype(dtype))
        r1, r2 = (scale * rng.normal(size=(n, d, d)).astype(dtype) for _ in range(2))
        bij = bijectors.Sylvester(q, r1, r2, np.zeros((n, d), dtype))
        for r in (bij.r1.numpy(), bij.r2.numpy()):
            np.testing.assert_array_equal(np.tril(r, -1), 0.0)
        diag = np.diagonal(bij.r1.numpy(), axis1=-2, axis2=-1) * np.diagonal(
            bij.r2.numpy(), axis1=-2, axis2=-1
        )
        assert np.all(diag > -1.0) and np.all(diag < 1.0)
        # At x = 0, b = 0 every tanh' is 1: the log-det there is the smallest possible.
        assert np.all(np.isfinite(bij.forward_log_det_jacobian(np.zeros((n, d), dtype), 1)))
    # The worst case exactly: tanh(+-50) rounds to +-1, and R1_ii R2_ii would be -1.
    worst = bijectors.Sylvester(
        np.eye(2, dtype=dtype),
        np.diag([50.0, 50.0]).astype(dtype),
        np.diag([-50.0, -50.0]).astype(dtype),
        np.zeros(2, dtype),
    )
    assert np.isfinite(worst.forward_log_det_jacobian(np.zeros((1, 2), dtype), 1).numpy()).all()

    # Planar: w.u-hat > -1 per example, for u and w of any direction and size (w.u down
    # to -10^6), and the log-det stays finite where w.z + b = 0 (tanh' = 1).
    for scale in (1.0, 10.0, 1000.0):
        u, w = (scale * rng.normal(size=(n, d)).astype(dtype) for _ in range(2))
        b = rng.normal(size=n).astype(dtype)
        planar = bijectors.Planar(u, w, b)
        assert np.all(planar.w_dot_u_hat.numpy() > -1.0)
        z = (-b / np.sum(w * w, -1))[:, None] * w
        assert np.all(np.isfinite(planar.forward_log_det_jacobian(z, 1).numpy()))
    # Where rounding allows, u-hat itself meets the constraint it is built for.
    u, w = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    u_hat = bijectors.Planar(u, w, np.zeros(n)).u_hat.numpy()
    np.testing.assert_allclose(np.sum(w * u_hat, -1), np.log1p(np.exp(np.sum(w * u, -1))) - 1)


def test_bad_parameter_shapes_raise_clear_errors():
    rng = np.random.default_rng(8)
    q = bijectors.orthogonal_q(rng.normal(size=(5, 4, 3)))
    r, b = rng.normal(size=(5, 3, 3)), rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match="sizes M of q's columns, r1, r2 and b differ"):
        bijectors.Sylvester(q, rng.normal(size=(5, 2, 2)), r, b)
    with pytest.raises(ValueError, match="sizes M .* differ .*r1_columns 4"):
        bijectors.Sylvester(q, rng.normal(size=(5, 3, 4)), r, b)
    with pytest.raises(ValueError, match="b 2"):
        bijectors.Sylvester(q, r, r, rng.normal(size=(5, 2)))
    with pytest.raises(ValueError, match="needs M <= D"):
        bijectors.Sylvester(
            np.eye(4)[:3], rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), np.zeros(4)
        )
    with pytest.raises(ValueError, match="q needs at least 2 axes"):
        bijectors.Sylvester(np.ones(3), r, r, b)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        bijectors.Sylvester(q, rng.normal(size=(6, 3, 3)), r, b)
    bij = bijectors.Sylvester(q, r, r, b)
    with pytest.raises(ValueError, match="event size 4, got an input of shape"):
        bij.forward(np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"input's batch shape \(3,\) does not broadcast"):
        bij.inverse(np.zeros((3, 4)))

    with pytest.raises(ValueError, match="sizes D of u and w differ"):
        bijectors.Planar(np.ones(3), np.ones(4), 0.0)
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        bijectors.Planar(np.ones((6, 3)), np.ones((6, 3)), np.zeros(5))
    with pytest.raises(ValueError, match="event size 3"):
        bijectors.Planar(np.ones((6, 3)), np.ones((6, 3)), np.zeros(6)).forward(np.ones((6, 2)))
    with pytest.raises(ValueError, match="batch shapes do not broadcast"):
        bijectors.Radial(np.ones((5, 3)), np.zeros(4), np.zeros(5))

    with pytest.raises(ValueError, match="M <= D"):
        bijectors.orthogonal_q(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"reflection vectors \[..., K, D\]"):
        bijectors.householder_q(np.ones(4))
    with pytest.raises(ValueError, match="positive integer size"):
        bijectors.permutation_q(0)


LAYER_CASES = [
    {"variant": "orthogonal"},
    {"variant": "orthogonal", "num_vectors": 2},
    {"variant": "householder", "num_reflections": 4},
    {"variant": "triangular", "reverse": True},
]


@pytest.mark.parametrize("kwargs", LAYER_CASES, ids=lambda k: "_".join(map(str, k.values())))
def test_sylvester_layer_starts_at_identity_and_round_trips_its_config(kwargs):
    layer = layers.Sylvester(**kwargs)
    layer.build((None, 4))
    x = tf.random.normal([3, 4])
    np.testing.assert_allclose(layer.bijector().inverse(x), x, atol=1e-6)
    np.testing.assert_allclose(layer.bijector().inverse_log_det_jacobian(x, 1), 0.0, atol=1e-6)
    q = layer.q()
    np.testing.assert_allclose(tf.matmul(q, q, transpose_a=True), np.eye(q.shape[-1]), atol=1e-5)

    randomize([layer], seed=1)
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is layers.Sylvester and clone.get_config() == layer.get_config()
    assert clone.built
    clone.set_weights(layer.get_weights())
    z = layer.bijector().inverse(x)
    assert np.abs(z.numpy() - x.numpy()).max() > 1e-3
    np.testing.assert_allclose(clone.bijector().inverse(x), z, atol=1e-6)


def test_sylvester_layer_errors():
    with pytest.raises(ValueError, match="variant must be one of"):
        layers.Sylvester("diagonal")
    with pytest.raises(ValueError, match="num_vectors .* orthogonal variant"):
        layers.Sylvester("householder", num_vectors=2)
    with pytest.raises(ValueError, match="num_reflections must be a positive integer"):
        layers.Sylvester("householder", num_reflections=0)
    with pytest.raises(ValueError, match="at most D = 4"):
        layers.Sylvester("orthogonal", num_vectors=5).build((None, 4))
    with pytest.raises(ValueError, match=r"takes \[batch, D\] vectors"):
        layers.Sylvester().build((None, 4, 4, 3))
