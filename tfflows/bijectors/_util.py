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
