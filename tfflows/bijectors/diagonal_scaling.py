"""NICE's diagonal scaling layer."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector


class DiagonalScaling(ConstantLogDet, FlowBijector):
    """Elementwise learned scaling, the last layer of NICE.

        inverse (data -> latent):  z = x * exp(log_scale)   (NICE's h = exp(S) * h)
        forward (latent -> data):  x = z * exp(-log_scale)
        log|det dz/dx| = sum(log_scale)

    Args:
      log_scale: tensor with the event's shape (S in the paper).
      event_ndims: rank of the event (1 for vectors, 3 for images).

    Example:
      >>> z = DiagonalScaling(tf.zeros([784]), event_ndims=1).inverse(tf.ones([2, 784]))

    Reference: Dinh, Krueger, Bengio, "NICE", arXiv:1410.8516, Section 3.3.
    """

    def __init__(self, log_scale, event_ndims=1, validate_args=False, name="diagonal_scaling"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._log_scale = tf.convert_to_tensor(log_scale)
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _inverse(self, y):
        return y * tf.exp(self._log_scale)

    def _forward(self, x):
        return x * tf.exp(-self._log_scale)

    def _constant_ildj(self, y):
        return tf.reduce_sum(self._log_scale)
