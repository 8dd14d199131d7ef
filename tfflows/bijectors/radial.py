"""Radial flow of Rezende & Mohamed."""

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import check_event, parameter_batch_shape


class Radial(FlowBijector):
    """Radial flow f(z) = z + beta h(alpha, r) (z - z0), h = 1 / (alpha + r), r = |z - z0|.

        alpha = softplus(alpha_raw) > 0,  beta = -alpha + softplus(beta_raw) >= -alpha
        forward (latent -> data):  x = z + beta / (alpha + r) (z - z0)
        log|det dx/dz| = (D - 1) log(1 + beta h) + log(1 + beta alpha h^2)
        inverse (data -> latent):  r' = |x - z0| = r (1 + beta / (alpha + r)) is a quadratic
            in r with one positive root; then z = z0 + (x - z0) / (1 + beta / (alpha + r)).

    Args:
      z0: tensor [D], the reference point, or [..., D] for parameters per example.
      alpha_raw, beta_raw: scalar tensors, or [...] (the batch shape of z0).

    Example:
      >>> bij = Radial(z0=tf.zeros([2]), alpha_raw=tf.zeros([]), beta_raw=tf.ones([]))
      >>> x = bij.forward(tf.random.normal([8, 2]))

    Reference: Rezende, Mohamed, "Variational Inference with Normalizing Flows",
    arXiv:1505.05770, Section 4.1 and Appendix A.2.
    """

    def __init__(self, z0, alpha_raw, beta_raw, validate_args=False, name="radial"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._z0 = tf.convert_to_tensor(z0)
            dtype = self._z0.dtype
            self._alpha = tf.math.softplus(tf.convert_to_tensor(alpha_raw, dtype=dtype))
            beta_raw = tf.convert_to_tensor(beta_raw, dtype)
            self._batch_shape_static = parameter_batch_shape(
                "Radial", z0=(self._z0, 1), alpha_raw=(self._alpha, 0), beta_raw=(beta_raw, 0)
            )
            self._beta = -self._alpha + tf.math.softplus(beta_raw)
            super().__init__(
                forward_min_event_ndims=1,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _radius(self, d):
        return tf.norm(d, axis=-1)

    def _offset(self, x):
        """x - z0, after checking x against the parameters' shapes."""
        check_event("Radial", x, self._z0.shape[-1], self._batch_shape_static)
        return x - self._z0

    def _gain(self, r):
        """1 + beta h(r): the factor that multiplies z - z0."""
        return 1.0 + self._beta / (self._alpha + r)

    def _forward(self, x):
        d = self._offset(x)
        return self._z0 + self._gain(self._radius(d))[..., None] * d

    def _solve_radius(self, r_out):
        """Positive root of r^2 + (alpha + beta - r') r - alpha r' = 0, computed stably."""
        b = self._alpha + self._beta - r_out
        disc = tf.sqrt(b * b + 4.0 * self._alpha * r_out)
        # For b >= 0 the textbook form cancels; 2c / (b + disc) does not. disc > 0 as alpha > 0.
        safe_pos = tf.where(b >= 0, b + disc, tf.ones_like(b))
        return tf.where(b >= 0, 2.0 * self._alpha * r_out / safe_pos, 0.5 * (disc - b))

    def _inverse(self, y):
        d = self._offset(y)
        r = self._solve_radius(self._radius(d))
        return self._z0 + d / self._gain(r)[..., None]

    def _log_det(self, r, dim):
        h = 1.0 / (self._alpha + r)
        return (dim - 1.0) * tf.math.log(1.0 + self._beta * h) + tf.math.log(
            1.0 + self._beta * self._alpha * h * h
        )

    def _forward_log_det_jacobian(self, x):
        return self._log_det(self._radius(self._offset(x)), x.shape[-1])

    def _inverse_log_det_jacobian(self, y):
        r = self._solve_radius(self._radius(self._offset(y)))
        return -self._log_det(r, y.shape[-1])
