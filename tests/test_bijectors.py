"""Every tfflows bijector through one shared set of checks (see bijector_registry.py)."""

import importlib
import inspect
import os
import pkgutil

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import tfflows.bijectors
from tests.bijector_checks import (
    MODES,
    TOLERANCE,
    assert_close,
    flat_jacobian_logdet,
    run_mode,
    with_condition,
)
from tests.bijector_registry import CASES, CASES_2D

BATCH = 5
# The weights' seed; TFFLOWS_TEST_SEED=k reruns the suite on other random weights.
SEED = int(os.environ.get("TFFLOWS_TEST_SEED", "0"))
CASE_IDS = [c.name for c in CASES]


def public_bijector_classes():
    """Every public Bijector subclass defined in any module of tfflows.bijectors."""
    found = set()
    for info in pkgutil.iter_modules(tfflows.bijectors.__path__):
        module = importlib.import_module(f"tfflows.bijectors.{info.name}")
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, tfp.bijectors.Bijector)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and name != "FlowBijector"
            ):
                found.add(obj)
    return found


def test_registry_is_complete():
    covered = {c.bijector_class for c in CASES}
    missing = {cls.__name__ for cls in public_bijector_classes()} - {c.__name__ for c in covered}
    assert not missing, f"bijectors without a registry entry in bijector_registry.py: {missing}"
    exported = {getattr(tfflows.bijectors, n) for n in tfflows.bijectors.__all__}
    # Besides the bijectors, the package exports helpers (Sylvester's Q makers).
    assert {obj for obj in exported if isinstance(obj, type)} == public_bijector_classes()


def _setup(case, dtype, seed=SEED):
    rng = np.random.default_rng(seed)
    built = case.build(dtype, seed)
    cond = case.sample_condition(rng, BATCH, dtype)
    return built, rng, cond


def _ndims(case):
    return case.event_ndims


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_round_trip_and_log_det_consistency(case, dtype, mode):
    """x -> z -> x and z -> x -> z through separate bijector objects (no cache sharing),
    and fldj(z) = -ildj(forward(z)), in eager, tf.function and XLA."""
    if mode == "xla" and dtype == np.float64:
        pytest.skip("XLA is checked in float32, the dtype models train in")
    built, rng, cond = _setup(case, dtype)
    x = case.sample_x(rng, BATCH, dtype)
    z = case.sample_z(rng, BATCH, dtype)
    nd = _ndims(case)
    fresh = with_condition(built, cond)

    def data_round_trip(x, *c):
        f = with_condition(built, c[0] if c else None)
        z_ = f().inverse(x)
        return z_, f().forward(z_), f().inverse_log_det_jacobian(x, nd)

    def latent_round_trip(z, *c):
        f = with_condition(built, c[0] if c else None)
        x_ = f().forward(z)
        return (
            x_,
            f().inverse(x_),
            f().forward_log_det_jacobian(z, nd),
            f().inverse_log_det_jacobian(x_, nd),
        )

    tol = TOLERANCE[dtype]
    z_of_x, x_back, ildj_x = run_mode(mode, data_round_trip, x, cond)
    assert_close(x_back, x, tol, f"{case.name}: forward(inverse(x))")
    x_of_z, z_back, fldj_z, ildj_xz = run_mode(mode, latent_round_trip, z, cond)
    assert_close(z_back, z, tol, f"{case.name}: inverse(forward(z))")
    own = case.bijector_class.__module__.startswith("tfflows")
    ildj_xz = np.broadcast_to(ildj_xz, (BATCH,))
    assert_close(fldj_z, -ildj_xz, tol, f"{case.name}: fldj(z) + ildj(forward(z))", not own)
    if own:
        assert np.asarray(ildj_x).shape == (BATCH,), "tfflows log-dets are per example"

    # Compiled modes agree with eager on the same inputs.
    if mode != "eager":
        eager = fresh().inverse(x)
        assert_close(z_of_x, eager, tol * 10, f"{case.name}: {mode} vs eager inverse")


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_log_det_matches_autodiff_jacobian(case):
    """ildj and fldj against log|det| of the autodiff Jacobian, in float64."""
    built, rng, cond = _setup(case, np.float64)
    fresh = with_condition(built, cond)
    x = case.sample_x(rng, BATCH, np.float64)
    z = case.sample_z(rng, BATCH, np.float64)
    nd = _ndims(case)
    if case.latent_shape is not None:
        pytest.skip("shape-changing bijector: checked with a square Jacobian below")
    scalar_ok = not case.bijector_class.__module__.startswith("tfflows")
    ildj = fresh().inverse_log_det_jacobian(x, nd).numpy()
    expected = flat_jacobian_logdet(lambda t: fresh().inverse(t), x)
    assert_close(ildj, expected, 1e-8, "ildj", broadcast=scalar_ok)
    fldj = fresh().forward_log_det_jacobian(z, nd).numpy()
    expected = flat_jacobian_logdet(lambda t: fresh().forward(t), z)
    assert_close(fldj, expected, 1e-8, "fldj", broadcast=scalar_ok)


def test_squeeze_jacobian_is_a_permutation():
    """Squeeze changes the event's shape; flattened, its Jacobian is a permutation matrix."""
    x = tf.random.normal([2, 4, 4, 2], dtype=tf.float64)
    fresh = tfflows.bijectors.Squeeze
    assert np.allclose(flat_jacobian_logdet(lambda t: fresh().inverse(t), x), 0.0)
    flat_in = tf.reshape(x, [2, -1])
    with tf.GradientTape() as tape:
        tape.watch(flat_in)
        out = tf.reshape(fresh().inverse(tf.reshape(flat_in, x.shape)), [2, -1])
    jac = tape.batch_jacobian(out, flat_in).numpy()
    assert np.all((jac == 0) | (jac == 1)) and np.all(jac.sum(axis=1) == 1)
    assert fresh().inverse(x).shape == (2, 2, 2, 8)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_finite_at_domain_edges(case):
    built, _, _ = _setup(case, np.float32)
    x = case.edge_x(np.float32)
    rng = np.random.default_rng(1)
    cond = case.sample_condition(rng, len(x), np.float32)
    fresh = with_condition(built, cond)
    z = fresh().inverse(x)
    ildj = fresh().inverse_log_det_jacobian(x, case.event_ndims)
    back = fresh().forward(z)
    for name, t in [("inverse", z), ("ildj", ildj), ("forward(inverse)", back)]:
        assert np.all(np.isfinite(t.numpy())), f"{case.name}: {name} not finite at {case.edges}"


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.build(np.float32, 0).variables], ids=lambda c: c.name
)
def test_gradients_reach_every_trainable_variable(case):
    built, rng, cond = _setup(case, np.float32)
    x = tf.constant(case.sample_x(rng, BATCH, np.float32))
    z_sample = tf.constant(case.sample_z(rng, BATCH, np.float32))
    fresh = with_condition(built, cond)
    with tf.GradientTape() as tape:
        # Negative log-likelihood under a standard normal, plus the sampling path, so that
        # both directions' parameters (e.g. the inner bijector of FactorOut) are exercised.
        z = fresh().inverse(x)
        nll = 0.5 * tf.reduce_sum(tf.reshape(z, [BATCH, -1]) ** 2, -1)
        nll -= fresh().inverse_log_det_jacobian(x, case.event_ndims)
        loss = tf.reduce_mean(nll) + tf.reduce_mean(fresh().forward(z_sample) ** 2)
    grads = tape.gradient(loss, built.variables)
    for v, g in zip(built.variables, grads, strict=True):
        assert g is not None, f"{case.name}: no gradient for {v.path}"
        g = tf.convert_to_tensor(g).numpy()
        assert np.all(np.isfinite(g)), f"{case.name}: non-finite gradient for {v.path}"
        assert np.any(g != 0), f"{case.name}: zero gradient for {v.path}"


@pytest.mark.parametrize("case", [c for c in CASES if c.condition_shape], ids=lambda c: c.name)
def test_condition_changes_the_transform(case):
    built, rng, cond = _setup(case, np.float32)
    x = case.sample_x(rng, BATCH, np.float32)
    other = case.sample_condition(rng, BATCH, np.float32)
    z1 = built.bijector(cond).inverse(x).numpy()
    z2 = built.bijector(other).inverse(x).numpy()
    assert np.abs(z1 - z2).max() > 1e-3


@pytest.mark.parametrize("case", CASES_2D, ids=[c.name for c in CASES_2D])
def test_2d_density_integrates_to_one(case):
    """p(x) = N(inverse(x); 0, I) |det d inverse / dx| summed over a fine grid is 1."""
    built, _, _ = _setup(case, np.float64, seed=SEED + 3)
    half, n = 40.0, 2001
    axis = np.linspace(-half, half, n)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
    base = tfp.distributions.MultivariateNormalDiag(loc=tf.zeros(2, tf.float64))
    dist = tfp.distributions.TransformedDistribution(base, built.bijector())
    density = np.exp(dist.log_prob(grid).numpy())
    total = density.sum() * (axis[1] - axis[0]) ** 2
    assert abs(total - 1.0) < 0.01, f"{case.name}: density integrates to {total:.4f}"


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 4, 5)])
def test_channel_matmul_is_one_plain_matmul(shape):
    """The 1x1 convolution's product equals W x at every position, and stays one [N, C] x
    [C, C] MatMul when the channel count is only known at run time: the batched form of
    `tf.linalg.matvec` ran 15x slower per Glow layer on oneDNN."""
    from tfflows.bijectors.invertible_1x1_conv import channel_matmul

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=shape).astype(np.float32)
    w = rng.normal(size=(5, 5)).astype(np.float32)
    expected = np.einsum("ck,...k->...c", w, x)
    fn = tf.function(channel_matmul).get_concrete_function(
        tf.TensorSpec([None] * len(shape), tf.float32), tf.TensorSpec([None, None], tf.float32)
    )
    np.testing.assert_allclose(fn(tf.constant(x), tf.constant(w)), expected, rtol=1e-5, atol=1e-5)
    op_types = {op.type for op in fn.graph.get_operations()}
    assert "MatMul" in op_types
    assert not op_types & {"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"}


def test_saturate_is_the_identity_inside_its_limit_and_bounded_outside():
    from tfflows.bijectors._util import LOG_SCALE_LIMIT, saturate

    x = tf.constant(np.linspace(-40.0, 40.0, 8001), tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = saturate(x)
    slope = tape.gradient(y, x).numpy()
    x, y = x.numpy(), y.numpy()
    inside = np.abs(x) <= LOG_SCALE_LIMIT
    np.testing.assert_array_equal(y[inside], x[inside])
    assert np.abs(y).max() <= LOG_SCALE_LIMIT + 1 and np.all(np.diff(y) > -1e-12)
    assert np.all(slope >= 0) and np.abs(np.diff(slope)).max() < 0.02  # C1 at the limit


def test_the_sampling_direction_cannot_overflow_on_a_runaway_scale():
    """A conditioner far outside its training range (raw log-scale -1000 or +1000): Glow's
    sigmoid coupling divided by sigmoid(-998) and the split prior multiplied by e^1000,
    both inf in float32; with the saturated log-scale both stay finite and invertible."""
    x = tf.constant(np.random.default_rng(0).normal(size=(3, 4, 4, 4)), tf.float32)
    for raw in (-1000.0, 1000.0):

        def net(h, raw=raw):
            shift = tf.zeros_like(h)
            return tf.concat([shift, tf.fill(tf.shape(h), raw)], axis=-1)

        coupling = tfflows.bijectors.AffineCoupling(
            net, mask="channel", scale="sigmoid", event_ndims=3
        )
        split = tfflows.bijectors.FactorOut(net, event_ndims=3)
        for bij in (coupling, split):
            y = bij.forward(x)
            assert np.isfinite(y.numpy()).all(), (raw, bij.name)
            assert np.isfinite(bij.forward_log_det_jacobian(x, 3).numpy()).all()
            np.testing.assert_allclose(bij.inverse(tf.identity(y)), x, rtol=1e-4, atol=1e-4)
