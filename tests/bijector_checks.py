"""One checker for every bijector, in the spirit of TFP's `bijector_test_util`.

`run_modes` evaluates a computation eagerly, inside `tf.function` with a dynamic batch
dimension, and with `jit_compile=True`; the checks compare what the three produce against
each other and against exact references (round trips, autodiff Jacobians).
"""

import numpy as np
import tensorflow as tf

MODES = ("eager", "function", "xla")

TOLERANCE = {np.float32: 1e-4, np.float64: 1e-9}


def run_mode(mode, fn, *args):
    """Calls fn(*args) in `mode`, with every argument's batch dimension left dynamic."""
    args = [tf.convert_to_tensor(a) for a in args if a is not None]
    if mode == "eager":
        return fn(*args)
    signature = [tf.TensorSpec([None, *a.shape[1:]], a.dtype) for a in args]
    compiled = tf.function(fn, input_signature=signature, jit_compile=(mode == "xla"))
    return compiled(*args)


def assert_close(actual, expected, tol, what, broadcast=False):
    """Relative closeness; `broadcast` lets a constant log-det be a scalar (TFP's own
    constant-Jacobian bijectors return one; tfflows' return one value per example)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if broadcast:
        actual = np.broadcast_to(actual, expected.shape)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values"
    assert err.max() <= tol, f"{what}: max relative error {err.max():.3g} > {tol:.3g}"


def with_condition(built, condition):
    """A fresh-bijector factory with the condition bound (None for unconditional cases)."""
    return lambda: built.bijector(condition) if condition is not None else built.bijector()


def flat_jacobian_logdet(fn, x):
    """log|det d fn(x) / dx| per example, by autodiff (event flattened), in float64 numpy."""
    x = tf.convert_to_tensor(x)
    shape = x.shape
    flat = tf.reshape(x, [shape[0], -1])
    with tf.GradientTape() as tape:
        tape.watch(flat)
        y = fn(tf.reshape(flat, shape))
        y_flat = tf.reshape(y, [shape[0], -1])
    jac = tape.batch_jacobian(y_flat, flat)
    # slogdet runs outside any compiled function (XLA has no kernel for it).
    _, logdet = np.linalg.slogdet(jac.numpy().astype(np.float64))
    return logdet
