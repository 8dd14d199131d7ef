"""Masked autoregressive flow (MAF) transform."""

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import bounded_log_scale, record_forward_ldj, record_inverse_ldj


class MaskedAutoregressive(FlowBijector):
    """Affine autoregressive transform whose density pass is one network evaluation.

    With (mu, alpha) = f(x) from an autoregressive network (output i depends on x_<i only):

        inverse (data -> latent, one pass):    z_i = (x_i - mu_i(x_<i)) * exp(-alpha_i(x_<i))
        forward (latent -> data, D passes):    x_i = z_i * exp(alpha_i(x_<i)) + mu_i(x_<i)
        log|det dx/dz| = sum_i alpha_i

    The forward pass runs the network D times in a `tf.while_loop` (pass k computes
    coordinate k from the final values of coordinates < k), so it traces once and compiles
    under XLA. The log-det is recorded while transforming, so the network is not run again
    for it.

    Args:
      shift_and_log_scale_fn: callable x [..., D] -> h [..., 2D] (shift first, raw log-scale
        second), autoregressive in x, e.g. `tfflows.nets.MADE`.
      log_scale_bound: soft tanh bound on alpha (None: as in the paper, except that values
        beyond +-6 saturate, `saturate`). A bound keeps a randomly initialised or diverging
        network from overflowing exp().

    Example:
      >>> made = tfflows.nets.MADE(event_size=4, hidden_units=[32, 32])
      >>> bij = MaskedAutoregressive(made)
      >>> x = bij.forward(tf.random.normal([8, 4]))   # sampling: sequential

    References: Papamakarios, Pavlakou, Murray, "Masked Autoregressive Flow for Density
    Estimation", arXiv:1705.07057, Section 3.1; Germain et al., "MADE", arXiv:1502.03509.
    """

    def __init__(
        self,
        shift_and_log_scale_fn,
        log_scale_bound=None,
        validate_args=False,
        name="masked_autoregressive",
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._fn = shift_and_log_scale_fn
            self._log_scale_bound = log_scale_bound
            super().__init__(
                forward_min_event_ndims=1,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _params(self, x):
        shift, raw = tf.split(self._fn(x), 2, axis=-1)
        return shift, bounded_log_scale(raw, self._log_scale_bound)

    def _inverse(self, y):
        shift, log_scale = self._params(y)
        record_inverse_ldj(self, y, -tf.reduce_sum(log_scale, axis=-1))
        return (y - shift) * tf.exp(-log_scale)

    def _forward(self, x):
        event_size = x.shape[-1]
        if event_size is None:
            raise ValueError("MaskedAutoregressive needs a static event size")

        # Pass i fixes coordinate i only; the others stay 0 until their turn, so values
        # computed from a not-yet-final prefix never enter the result (a garbage
        # intermediate could overflow, and 0 * inf in a masked weight is NaN).
        def step(i, y, _):
            shift, log_scale = self._params(y)
            now = tf.equal(tf.range(event_size), i)
            return i + 1, tf.where(now, x * tf.exp(log_scale) + shift, y), log_scale

        _, y, log_scale = tf.while_loop(
            lambda *_: True,
            step,
            (tf.constant(0), tf.zeros_like(x), tf.zeros_like(x)),
            maximum_iterations=event_size,
        )
        record_forward_ldj(self, x, tf.reduce_sum(log_scale, axis=-1))
        return y

    def _inverse_log_det_jacobian(self, y):
        return -tf.reduce_sum(self._params(y)[1], axis=-1)

    def _forward_log_det_jacobian(self, x):
        return -self._inverse_log_det_jacobian(self.forward(x))
