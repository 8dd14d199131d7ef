"""Checks of the arguments users pass to models: counts, seeds, temperatures, batches."""

import math
import numbers

import tensorflow as tf


def count(value, name: str, minimum: int = 1) -> int:
    """A constructor's size argument (levels, layers, units) as an int: ValueError naming
    it unless it is a whole number >= minimum (`Glow(levels="two")` says so)."""
    return whole(value, name, minimum)


def whole(value, name: str, minimum: int | None = 0) -> int:
    """`value` as a Python int; ValueError unless it is a whole number (>= minimum)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if not isinstance(value, numbers.Integral) and not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {number}")
    return number


def sample_count(n):
    """`n` of `sample`: a whole number >= 0, or an int tensor inside a graph (asserted)."""
    if tf.is_tensor(n) and not tf.executing_eagerly():
        check = tf.debugging.assert_non_negative(n, message="sample: n must be >= 0")
        with tf.control_dependencies([check]):
            return tf.identity(n)
    return fits_int32(whole(int(n) if tf.is_tensor(n) else n, "n"), "n")


def fits_int32(value: int, name: str) -> int:
    """`value`, unless it does not fit the int32 that shapes are made of (it would wrap)."""
    if value > 2**31 - 1:
        raise ValueError(f"{name} must be at most 2**31 - 1, got {value}")
    return value


def temperature(value):
    """A finite, non-negative temperature; a tensor inside a graph gets an assertion."""
    if tf.is_tensor(value) and not tf.executing_eagerly():
        check = tf.debugging.Assert(
            tf.math.is_finite(value) & (value >= 0), ["temperature must be >= 0 and finite"]
        )
        with tf.control_dependencies([check]):
            return tf.identity(value)
    t = float(value)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {t}")
    return t


def batch_size(x):
    """The batch size: a Python int when static, else a scalar tensor."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def nonempty(x, c=None):
    """(x, c, n): an empty batch (known empty, or of unknown size inside a graph) replaced
    by one zero example, since TF's fused CPU convolutions fail on a batch of 0; results
    are cut back to the true batch size n."""
    n = tf.shape(x)[0]
    if x.shape[0] is not None and x.shape[0] > 0:
        return x, c, n

    def pad(t):
        one = tf.zeros(tf.concat([[1], tf.shape(t)[1:]], axis=0), t.dtype)
        return tf.cond(tf.shape(t)[0] > 0, lambda: t, lambda: one)

    return pad(x), (None if c is None else pad(c)), n


def both(a, b):
    """The conjunction of two validity masks (None = all valid)."""
    if a is None or b is None:
        return b if a is None else a
    return a & b


def all_finite(x):
    """[N] bool: whether every value of each example is finite."""
    return tf.reduce_all(tf.math.is_finite(tf.reshape(x, [tf.shape(x)[0], -1])), axis=1)


def masked(value, n, valid):
    """`value` for the true batch: cut to n rows, NaN where an example is invalid."""
    value = value[:n]
    if valid is None:
        return value
    mask = tf.reshape(valid, [-1] + [1] * (len(value.shape) - 1))
    return tf.where(mask, value, tf.constant(float("nan"), value.dtype))
