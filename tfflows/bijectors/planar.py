"""Planar flow of Rezende & Mohamed."""

import math

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector

# m(a) = -1 + softplus(a) is 0 at a = log(e - 1): where u = SOFTPLUS_ZERO * w / |w|^2 the
# reparametrised u-hat is 0 and the flow is the identity.
SOFTPLUS_ZERO = math.log(math.e - 1.0)


def constrained_u(u, w):
    """u-hat = u + (m(w.u) - w.u) w / |w|^2 with m(a) = -1 + softplus(a), so w.u-hat > -1."""
    wu = tf.reduce_sum(w * u)
    return u + (tf.math.softplus(wu) - 1.0 - wu) * w / tf.reduce_sum(w * w)


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

    Args:
      u, w: tensors [D]. b: scalar tensor.
      bisection_steps: iterations of the inverse's bisection (64 reaches float64 precision).

    Example:
      >>> bij = Planar(u=tf.ones([2]), w=tf.ones([2]), b=tf.zeros([]))
      >>> x = bij.forward(tf.random.normal([8, 2]))

    Reference: Rezende, Mohamed, "Variational Inference with Normalizing Flows",
    arXiv:1505.05770, Section 4.1 and Appendix A.1.
    """

    def __init__(self, u, w, b, bisection_steps=64, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._w = tf.convert_to_tensor(w)
            self._u = constrained_u(tf.convert_to_tensor(u, dtype=self._w.dtype), self._w)
            self._b = tf.convert_to_tensor(b, dtype=self._w.dtype)
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

    def _wu(self):
        return tf.reduce_sum(self._w * self._u)

    def _forward(self, x):
        a = tf.linalg.matvec(x, self._w)
        return x + self._u * tf.tanh(a + self._b)[..., None]

    def _solve(self, y):
        """a = w.z for the z that maps to y (elementwise bisection over the batch)."""
        c = self._wu()
        target = tf.linalg.matvec(y, self._w)
        lo = target - tf.abs(c)
        hi = target + tf.abs(c)

        def step(lo, hi):
            mid = 0.5 * (lo + hi)
            above = mid + c * tf.tanh(mid + self._b) > target
            return tf.where(above, lo, mid), tf.where(above, mid, hi)

        lo, hi = tf.while_loop(
            lambda *_: True, step, (lo, hi), maximum_iterations=self._bisection_steps
        )
        return tf.stop_gradient(0.5 * (lo + hi))

    def _newton(self, y, a):
        """One Newton step from the bisection's root: exact value, and it gives the
        solution its implicit-function gradient with respect to y and the parameters."""
        c = self._wu()
        g = a + c * tf.tanh(a + self._b) - tf.linalg.matvec(y, self._w)
        return a - g / (1.0 + c * (1.0 - tf.tanh(a + self._b) ** 2))

    def _inverse(self, y):
        a = self._newton(y, self._solve(y))
        return y - self._u * tf.tanh(a + self._b)[..., None]

    def _log_det(self, a):
        return tf.math.log(tf.abs(1.0 + self._wu() * (1.0 - tf.tanh(a + self._b) ** 2)))

    def _forward_log_det_jacobian(self, x):
        return self._log_det(tf.linalg.matvec(x, self._w))

    def _inverse_log_det_jacobian(self, y):
        return -self._log_det(self._newton(y, self._solve(y)))
