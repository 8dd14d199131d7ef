"""Glow's invertible 1x1 convolution with a full weight matrix."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector
from tfflows.bijectors._util import num_positions


@tf.custom_gradient
def log_abs_det(w):
    """log|det W| from a QR decomposition (sum log|diag R|), with gradient W^{-T}.

    XLA on CPU has no kernel for `tf.linalg.slogdet`; QR and `inv` compile, and the
    closed-form gradient avoids differentiating through QR.
    """
    r = tf.linalg.qr(w, full_matrices=False).r
    value = tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(r))))

    def grad(upstream):
        return upstream * tf.transpose(tf.linalg.inv(w))

    return value, grad


def channel_matmul(x, w):
    """y[..., c] = sum_k W[c, k] x[..., k]: a 1x1 convolution over the last axis.

    One [N, C] x [C, C] matrix product over all positions. (`tf.linalg.matvec(w, x)` says
    the same but becomes a batched matmul of N separate [C, C] x [C, 1] products, which
    oneDNN ran 15x slower: 1.6 ms instead of 0.1 ms per glow32 layer.)
    """
    channels = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
    y = tf.matmul(tf.reshape(x, [-1, channels]), w, transpose_b=True)
    return tf.reshape(y, tf.shape(x))


class Invertible1x1Conv(ConstantLogDet, FlowBijector):
    """Invertible 1x1 convolution: one learned C x C matrix W mixes the channels at every pixel.

        inverse (data -> latent):  z[h, w, :] = W x[h, w, :]
        forward (latent -> data):  x[h, w, :] = W^{-1} z[h, w, :]
        log|det dz/dx| = H * W * log|det W|

    Args:
      weight: tensor [C, C], invertible.
      event_ndims: 3 for HWC images, 1 for vectors.

    Example:
      >>> w = tf.linalg.qr(tf.random.normal([4, 4])).q
      >>> z = Invertible1x1Conv(w).inverse(tf.random.normal([2, 8, 8, 4]))

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.2.
    """

    def __init__(self, weight, event_ndims=3, validate_args=False, name="invertible_1x1_conv"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._weight = tf.convert_to_tensor(weight)
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _inverse(self, y):
        return channel_matmul(y, self._weight)

    def _forward(self, x):
        return channel_matmul(x, tf.linalg.inv(self._weight))

    def _constant_ildj(self, y):
        return num_positions(y, self._event_ndims) * log_abs_det(self._weight)
