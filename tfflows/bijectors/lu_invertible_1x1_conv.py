"""Glow's invertible 1x1 convolution in LU-decomposed form."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector
from tfflows.bijectors._util import num_positions
from tfflows.bijectors.invertible_1x1_conv import channel_matmul


def lu_weight(permutation, lower, upper, sign_s, log_s):
    """W = P L (U + diag(sign(s) * exp(log|s|))), with unit-diagonal L from `lower`."""
    dtype = log_s.dtype
    c = tf.shape(log_s)[0]
    eye = tf.eye(c, dtype=dtype)
    l_mat = tf.linalg.band_part(lower, -1, 0) * (1.0 - eye) + eye
    u_mat = tf.linalg.band_part(upper, 0, -1) * (1.0 - eye) + tf.linalg.diag(sign_s * tf.exp(log_s))
    p_mat = tf.gather(eye, permutation)
    return p_mat, l_mat, u_mat


class LUInvertible1x1Conv(ConstantLogDet, FlowBijector):
    """Invertible 1x1 convolution with W = P L (U + diag(s)), P fixed.

        inverse (data -> latent):  z[h, w, :] = W x[h, w, :]
        forward (latent -> data):  x[h, w, :] = W^{-1} z[h, w, :], by two triangular solves
        log|det dz/dx| = H * W * sum(log|s|)

    The log-determinant costs O(C) instead of O(C^3), and the inverse needs no general
    matrix inverse.

    Args:
      permutation: int tensor [C], row order of P (fixed, not trained).
      lower: tensor [C, C]; only its strictly lower triangle is used (L has unit diagonal).
      upper: tensor [C, C]; only its strictly upper triangle is used.
      sign_s: tensor [C] of +-1 (fixed).
      log_s: tensor [C], log|s|.
      event_ndims: 3 for HWC images, 1 for vectors.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.2 ("LU Decomposition").
    """

    def __init__(
        self,
        permutation,
        lower,
        upper,
        sign_s,
        log_s,
        event_ndims=3,
        validate_args=False,
        name="lu_invertible_1x1_conv",
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._log_s = tf.convert_to_tensor(log_s)
            dtype = self._log_s.dtype
            self._p, self._l, self._u = lu_weight(
                tf.convert_to_tensor(permutation, dtype=tf.int32),
                tf.convert_to_tensor(lower, dtype=dtype),
                tf.convert_to_tensor(upper, dtype=dtype),
                tf.convert_to_tensor(sign_s, dtype=dtype),
                self._log_s,
            )
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    @property
    def weight(self):
        return self._p @ self._l @ self._u

    def _inverse(self, y):
        return channel_matmul(y, self.weight)

    def _forward(self, x):
        # W^{-1} = U^{-1} L^{-1} P^T, as a C x C matrix built by two triangular solves.
        eye = tf.eye(tf.shape(self._log_s)[0], dtype=self._log_s.dtype)
        l_inv = tf.linalg.triangular_solve(self._l, eye, lower=True)
        w_inv = tf.linalg.triangular_solve(self._u, l_inv @ tf.transpose(self._p), lower=False)
        return channel_matmul(x, w_inv)

    def _constant_ildj(self, y):
        return num_positions(y, self._event_ndims) * tf.reduce_sum(self._log_s)
