"""Glow's activation normalisation."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector
from tfflows.bijectors._util import num_positions


class ActNorm(ConstantLogDet, FlowBijector):
    """Per-channel affine map with learned (data-initialised) location and log-scale.

        inverse (data -> latent):  z = (x + loc) * exp(log_scale)
        forward (latent -> data):  x = z * exp(-log_scale) - loc
        log|det dz/dx| = (number of positions) * sum_c log_scale_c

    The number of positions is H*W for images (event_ndims=3) and 1 for vectors. The
    data-dependent initialisation (output mean 0 and variance 1 per channel on the first
    batch) belongs to the layer that owns `loc` and `log_scale`: `tfflows.layers.ActNorm`.

    Args:
      loc: tensor of shape [C].
      log_scale: tensor of shape [C].
      event_ndims: 1 for vectors, 3 for HWC images.

    Example:
      >>> bij = ActNorm(loc=tf.zeros([3]), log_scale=tf.ones([3]), event_ndims=3)
      >>> z = bij.inverse(tf.random.normal([2, 8, 8, 3]))

    Reference: Kingma, Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions",
    arXiv:1807.03039, Section 3.1.
    """

    def __init__(self, loc, log_scale, event_ndims=3, validate_args=False, name="actnorm"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._loc = tf.convert_to_tensor(loc)
            self._log_scale = tf.convert_to_tensor(log_scale, dtype=self._loc.dtype)
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _inverse(self, y):
        return (y + self._loc) * tf.exp(self._log_scale)

    def _forward(self, x):
        return x * tf.exp(-self._log_scale) - self._loc

    def _constant_ildj(self, y):
        return num_positions(y, self._event_ndims) * tf.reduce_sum(self._log_scale)
