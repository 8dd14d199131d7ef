"""Planar flow of Rezende & Mohamed."""

import math

import numpy as np
import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import (
    check_event,
    parameter_batch_shape,
    same_size,
    solve_plus_tanh,
)

# m(a) = -1 + softplus(a) is 0 at a = log(e - 1): where u = SOFTPLUS_ZERO * w / |w|^2 the
# reparametrised u-hat is 0 and the flow is the identity.
SOFTPLUS_ZERO = math.log(math.e - 1.0)


def constrained_u(u: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """u-hat = u + (m(w.u) - w.u) w / |w|^2 with m(a) = -1 + softplus(a), so w.u-hat > -1.

    u, w: [..., D]; the dot products run over the last axis, one per example.
    """
    wu = tf.reduce_sum(w * u, axis=-1, keepdims=True)
    return u + (tf.math.softplus(wu) - 1.0 - wu) * w / tf.reduce_sum(w * w, -1, keepdims=True)


class Planar(FlowBijector):
    """Planar flow f(z) = z + u-hat * tanh(w.z + b), invertible for every (u, w, b).

        forward (latent -> data):  x = z + u-hat tanh(w.z + b)
        log|det dx/dz| = log|1 + (w.u-hat) tanh'(w.z + b)|
        inverse (data -> latent):  solve a = w.z from w.x = a + (w.u-hat) tanh(a + b)
                                   (monotone in a, bracketed within |w.u-hat| of w.x;
                                   bisection to machine precision), then
                                   z = x - u-hat tanh(a + b)

    The constraint w.u-hat >= -1 (appendix A.1 of the paper) makes f invertible; u is
    reparametrised to u-hat inside the bijector, so any u is allowed.

    Amortised use (a VAE's encoder gives one flow per example): u, w of shape [..., D] and b
    of shape [...] broadcast against the batch of the input, and u-hat is made per example.

    Args:
      u, w: tensors [D], or [..., D] for parameters per example.
      b: scalar tensor, or [...] (the batch shape of u and w).
      bisection_steps: iterations of the inverse's bisection (64 reaches float64 precision).

    Example:
      >>> bij = Planar(u=tf.ones([2]), w=tf.ones([2]), b=tf.zeros([]))
      >>> x = bij.forward(tf.random.normal([8, 2]))
      >>> amortised = Planar(u=tf.ones([8, 2]), w=tf.ones([8, 2]), b=tf.zeros([8]))
      >>> x = amortised.forward(tf.random.normal([8, 2]))  # one flow per example

    Reference: Rezende, Mohamed, "Variational Inference with Normalizing Flows",
    arXiv:1505.05770, Section 4.1 and Appendix A.1.
    """

    def __init__(self, u, w, b, bisection_steps=64, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            w = tf.convert_to_tensor(w)
            u = tf.convert_to_tensor(u, dtype=w.dtype)
            self._b = tf.convert_to_tensor(b, dtype=w.dtype)
            self._batch_shape_static = parameter_batch_shape(
                "Planar", u=(u, 1), w=(w, 1), b=(self._b, 0)
            )
            self._event_size = same_size(
                "Planar", "the sizes D of u and w", u=u.shape[-1], w=w.shape[-1]
            )
            self._w = w
            self._u = constrained_u(u, w)
            # w.u-hat = m(w.u) exactly, rather than the dot product of the rounded u-hat, and
            # at least -1 + eps: in float32 m rounds to -1 (or below, through the dot
            # product) once w.u < -17, and the flow is then singular where tanh' = 1.
            eps = np.finfo(w.dtype.as_numpy_dtype).eps
            wu = tf.reduce_sum(w * u, axis=-1)
            self._wu_hat = tf.maximum(tf.math.softplus(wu) - 1.0, eps - 1.0)
            self._bisection_steps = bisection_steps
            super().__init__(
                forward_min_event_ndims=1,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    @property
    def u_hat(self):
        return self._u

    @property
    def w_dot_u_hat(self):
        """w.u-hat per example, > -1: the flow's log-det is log|1 + w.u-hat tanh'(w.z + b)|."""
        return self._wu_hat

    def _wu(self):
        return self._wu_hat

    def _dot_w(self, x):
        check_event("Planar", x, self._event_size, self._batch_shape_static)
        if self._w.shape.rank == 1:
            return tf.linalg.matvec(x, self._w)
        return tf.reduce_sum(x * self._w, axis=-1)

    def _forward(self, x):
        return x + self._u * tf.tanh(self._dot_w(x) + self._b)[..., None]

    def _solve(self, y):
        """a = w.z for the z that maps to y (elementwise bisection over the batch)."""
        return solve_plus_tanh(self._dot_w(y), self._wu(), 1.0, self._b, self._bisection_steps)

    def _newton(self, y, a):
        """One Newton step from the bisection's root: exact value, and it gives the
        solution its implicit-function gradient with respect to y and the parameters."""
        c = self._wu()
        g = a + c * tf.tanh(a + self._b) - self._dot_w(y)
        return a - g / (1.0 + c * (1.0 - tf.tanh(a + self._b) ** 2))

    def _inverse(self, y):
        a = self._newton(y, self._solve(y))
        return y - self._u * tf.tanh(a + self._b)[..., None]

    def _log_det(self, a):
        return tf.math.log(tf.abs(1.0 + self._wu() * (1.0 - tf.tanh(a + self._b) ** 2)))

    def _forward_log_det_jacobian(self, x):
        return self._log_det(self._dot_w(x))

    def _inverse_log_det_jacobian(self, y):
        return -self._log_det(self._newton(y, self._solve(y)))
