"""Real NVP's logit preprocessing of images."""

import math

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector


class Logit(FlowBijector):
    """Maps [0, 1] to the real line through a logit squeezed away from 0 and 1.

        inverse (data -> model space):  y = logit(alpha + (1 - 2 alpha) x)
        forward (model space -> data):  x = (sigmoid(y) - alpha) / (1 - 2 alpha)
        log|dy/dx| = log(1 - 2 alpha) - log p - log(1 - p),  p = alpha + (1 - 2 alpha) x

    Both edges of [0, 1] map to finite values (logit(alpha), logit(1 - alpha)). The domain
    is (-alpha, 1 - alpha) / (1 - 2 alpha); p is kept 2^-24 inside (0, 1), so a sample that
    float32 rounded onto the domain's edge still has a finite log-density.

    Args:
      alpha: the squeeze, 0.05 in Real NVP.

    Deviation: the paper writes logit(alpha + (1 - alpha) x); the authors' code, and most
    reimplementations, use (1 - 2 alpha), which keeps the map symmetric; so does tfflows.

    Example:
      >>> Logit(0.05).inverse(tf.constant([0.0, 1.0]))   # [-2.944, 2.944]

    Reference: Dinh et al., "Density estimation using Real NVP", arXiv:1605.08803, Section 4.1.
    """

    def __init__(self, alpha=0.05, validate_args=False, name="logit"):
        parameters = dict(locals())
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        with tf.name_scope(name) as name:
            self._alpha = alpha
            super().__init__(
                forward_min_event_ndims=0,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _squeezed(self, y):
        # A sample whose sigmoid rounded to 0 or 1 in float32 lands on the edge of the
        # domain, where the logit is infinite: keep p inside (0, 1) by one float32 step.
        p = self._alpha + (1.0 - 2.0 * self._alpha) * y
        eps = tf.constant(2.0**-24, p.dtype)
        return tf.clip_by_value(p, eps, 1.0 - eps)

    def _inverse(self, y):
        p = self._squeezed(y)
        return tf.math.log(p) - tf.math.log1p(-p)

    def _forward(self, x):
        return (tf.sigmoid(x) - self._alpha) / (1.0 - 2.0 * self._alpha)

    def _inverse_log_det_jacobian(self, y):
        p = self._squeezed(y)
        return math.log(1.0 - 2.0 * self._alpha) - tf.math.log(p) - tf.math.log1p(-p)

    def _forward_log_det_jacobian(self, x):
        # log sigmoid'(x) = -softplus(-x) - softplus(x)
        return -tf.math.softplus(-x) - tf.math.softplus(x) - math.log(1.0 - 2.0 * self._alpha)
