"""Elementwise affine map with (possibly per-example) parameters: Glow's learned prior."""

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import saturate, sum_event


class ElementwiseAffine(FlowBijector):
    """x = z * exp(log_scale) + shift, elementwise, with parameters broadcast to the event.

        inverse (data -> latent):  z = (x - shift) * exp(-log_scale)
        log|det dx/dz| = sum over the event of log_scale (broadcast to the event's shape)

    Over a standard-normal base this is the Gaussian N(shift, exp(log_scale)^2): Glow's
    learned top prior, whose mean and scale may depend on a class label (one value per
    example: parameters of shape [batch, 1, ..., C] broadcast over the positions).

    Args:
      shift, log_scale: tensors broadcastable to [batch, *event_shape]; log_scale beyond
        +-6 saturates (`saturate`).
      event_ndims: rank of the event.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 5 (learned prior,
    class-conditional prior) and the `prior` function of its code.
    """

    def __init__(
        self, shift, log_scale, event_ndims=1, validate_args=False, name="elementwise_affine"
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._shift = tf.convert_to_tensor(shift)
            self._log_scale = saturate(tf.convert_to_tensor(log_scale, dtype=self._shift.dtype))
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _full_log_scale(self, x):
        return tf.broadcast_to(
            self._log_scale, tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(self._log_scale))
        )

    def _forward(self, x):
        return x * tf.exp(self._log_scale) + self._shift

    def _inverse(self, y):
        return (y - self._shift) * tf.exp(-self._log_scale)

    def _forward_log_det_jacobian(self, x):
        return sum_event(self._full_log_scale(x), self._event_ndims)

    def _inverse_log_det_jacobian(self, y):
        return -sum_event(self._full_log_scale(y), self._event_ndims)
