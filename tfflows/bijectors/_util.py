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


def parameter_batch_shape(owner, **params):
    """The broadcast batch shape of a bijector's parameters, each given as (tensor, event
    rank): u=(u, 1) for a vector per example, q=(q, 2) for a matrix. Raises a ValueError
    that names the parameters when one has too few axes or their batch shapes clash."""
    batch = tf.TensorShape([])
    for name, (t, rank) in params.items():
        if t.shape.rank is None:
            continue
        if t.shape.rank < rank:
            raise ValueError(
                f"{owner}: {name} needs at least {rank} axes (its batch shape, then "
                f"{rank} event axes), got shape {t.shape}"
            )
        try:
            batch = tf.broadcast_static_shape(batch, t.shape[: t.shape.rank - rank])
        except ValueError:
            shapes = ", ".join(f"{n} {p[0].shape}" for n, p in params.items())
            raise ValueError(
                f"{owner}: the parameters' batch shapes do not broadcast ({shapes})"
            ) from None
    return batch


def same_size(owner, what, **sizes):
    """The one static size that every given axis has (None when all are unknown); raises a
    ValueError listing them when two differ."""
    known = {name: int(s) for name, s in sizes.items() if s is not None}
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{name} {s}" for name, s in known.items())
        raise ValueError(f"{owner}: {what} differ ({listed})")
    return next(iter(known.values()), None)


def check_event(owner, x, event_size, batch_shape):
    """A clear ValueError, before any op fails, when vectors x [..., D] do not have the
    parameters' D or their batch does not broadcast against the parameters' batch."""
    if x.shape.rank is None:
        return
    if x.shape.rank == 0:
        raise ValueError(f"{owner} takes vectors [..., {event_size}], got a scalar")
    if event_size is not None and x.shape[-1] is not None and x.shape[-1] != event_size:
        raise ValueError(f"{owner} has event size {event_size}, got an input of shape {x.shape}")
    try:
        tf.broadcast_static_shape(x.shape[:-1], batch_shape)
    except ValueError:
        raise ValueError(
            f"{owner}: the input's batch shape {x.shape[:-1]} does not broadcast against "
            f"the parameters' batch shape {batch_shape}"
        ) from None


def solve_plus_tanh(target, c, k, s, steps):
    """The u with u + c tanh(k u + s) = target, elementwise, where 1 + c k > 0 makes the left
    side increasing in u: |u - target| <= |c| brackets it, and `steps` halvings of the
    bracket find it (64 reach float64 precision). No gradient: a Newton step from this root
    gives the implicit-function one."""
    lo = target - tf.abs(c)
    hi = target + tf.abs(c)

    def halve(lo, hi):
        mid = 0.5 * (lo + hi)
        above = mid + c * tf.tanh(k * mid + s) > target
        return tf.where(above, lo, mid), tf.where(above, mid, hi)

    lo, hi = tf.while_loop(lambda *_: True, halve, (lo, hi), maximum_iterations=steps)
    return tf.stop_gradient(0.5 * (lo + hi))
