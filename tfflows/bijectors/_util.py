"""Private helpers shared by the tfflows bijectors."""

import tensorflow as tf


def sum_event(x, event_ndims):
    """Sums `x` over its last `event_ndims` axes (per-example log-determinants)."""
    if event_ndims == 0:
        return x
    return tf.reduce_sum(x, axis=list(range(-event_ndims, 0)))


def soft_clamp(x, bound):
    """bound * tanh(x / bound): the identity near 0, bounded by +-bound; None = no bound."""
    if bound is None:
        return x
    return bound * tf.tanh(x / bound)


# Where a log-scale has no bound of its own, `saturate` keeps exp(log_scale) within
# exp(+-(LOG_SCALE_LIMIT + 1)): trained models use |log_scale| < 5 on their data (measured
# on every zoo model's test split), where the map is the identity, but far from the data a
# conditioner's output is unbounded and one exp() overflowed float32 in Glow's sampling.
LOG_SCALE_LIMIT = 6.0


def saturate(x, limit=LOG_SCALE_LIMIT):
    """x on [-limit, limit]; outside, limit + tanh(|x| - limit) with x's sign.

    Unlike `soft_clamp` it changes no value inside the limit (a trained model's density is
    unchanged there), and its output never leaves (-limit - 1, limit + 1). Continuous with
    a continuous derivative at +-limit.
    """
    excess = tf.abs(x) - limit
    return tf.where(excess > 0.0, tf.sign(x) * (limit + tf.tanh(excess)), x)


def bounded_log_scale(x, bound=None):
    """`soft_clamp(x, bound)` when a bound is set, else `saturate(x)`."""
    return saturate(x) if bound is None else soft_clamp(x, bound)


def record_inverse_ldj(bijector, y, ildj):
    """Stores the inverse log-det computed alongside `inverse(y)` in TFP's cache.

    TFP looks the value up in `inverse_log_det_jacobian(y)` (and, since cache attributes are
    shared by both directions, in `forward_log_det_jacobian(inverse(y))`), so a network that
    produced both the transform and its log-det runs once per `log_prob`, not twice.
    """
    bijector._cache.inverse_attributes(y)["ildj"] = ildj


def record_forward_ldj(bijector, x, fldj):
    """Stores the forward log-det computed alongside `forward(x)` in TFP's cache."""
    bijector._cache.forward_attributes(x)["ildj"] = -fldj


def num_positions(x, event_ndims):
    """How many times a per-channel map repeats in one event: H*W for HWC, 1 for vectors."""
    n = 1.0
    for d in x.shape[len(x.shape) - event_ndims : -1]:
        n *= d
    return n
