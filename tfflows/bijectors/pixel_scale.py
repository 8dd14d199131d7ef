"""Maps dequantized pixel values to the unit interval a flow works on."""

import math

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector


class PixelScale(FlowBijector):
    """Affine map between [0, 2^bits) pixel values and [0, 1) or [-0.5, 0.5).

        forward (model space -> pixels):  x = (y - low) * 2^bits,  low = -0.5 or 0
        inverse (pixels -> model space):  y = x / 2^bits + low
        log|dx/dy| = bits * log 2 per dimension

    Counting this log-det is what makes a flow's bits/dim comparable with the literature: a
    density on [0, 1)^D is 2^(bits*D) times larger than the same density on pixel values.

    Args:
      num_bits: bits per pixel of the data (8; Glow uses 5 for CelebA-HQ).
      centered: True for [-0.5, 0.5) (Glow), False for [0, 1) (Real NVP's logit input).

    Example:
      >>> PixelScale(num_bits=8).inverse(tf.constant([0.0, 255.5]))  # [-0.5, 0.498]
    """

    def __init__(self, num_bits=8, centered=True, validate_args=False, name="pixel_scale"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._num_bins = float(2**num_bits)
            self._log_num_bins = num_bits * math.log(2.0)
            self._low = -0.5 if centered else 0.0
            super().__init__(
                forward_min_event_ndims=0,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _forward(self, x):
        return (x - self._low) * self._num_bins

    def _inverse(self, y):
        return y / self._num_bins + self._low

    def _forward_log_det_jacobian(self, x):
        return tf.fill(tf.shape(x), tf.constant(self._log_num_bins, dtype=x.dtype))
