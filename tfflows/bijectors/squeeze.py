"""The squeeze operation of Real NVP and Glow (space-to-depth)."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector


class Squeeze(ConstantLogDet, FlowBijector):
    """Trades spatial resolution for channels: each f x f block becomes f*f channels.

        inverse (data -> latent):  [H, W, C] -> [H/f, W/f, f*f*C]   (space_to_depth)
        forward (latent -> data):  [H/f, W/f, f*f*C] -> [H, W, C]   (depth_to_space)
        log|det J| = 0 (a permutation)

    Args:
      factor: block size f; H and W must be divisible by it.

    Example:
      >>> Squeeze().inverse(tf.zeros([1, 32, 32, 3])).shape
      TensorShape([1, 16, 16, 12])

    References: Dinh et al., "Density estimation using Real NVP", arXiv:1605.08803,
    Section 3.6 and Figure 3; Kingma, Dhariwal, "Glow", arXiv:1807.03039, Figure 2.
    """

    def __init__(self, factor=2, validate_args=False, name="squeeze"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._factor = int(factor)
            self._event_ndims = 3
            super().__init__(
                forward_min_event_ndims=3,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _check_divisible(self, shape):
        h, w = shape[-3], shape[-2]
        for size in (h, w):
            if size is not None and size % self._factor:
                raise ValueError(
                    f"Squeeze(factor={self._factor}) needs height and width divisible by "
                    f"{self._factor}; got an event of shape {list(shape[-3:])}"
                )

    def _inverse(self, y):
        self._check_divisible(y.shape)
        return tf.nn.space_to_depth(y, self._factor)

    def _forward(self, x):
        return tf.nn.depth_to_space(x, self._factor)

    def _forward_event_shape(self, input_shape):
        h, w, c = input_shape[-3:]
        f = self._factor
        return input_shape[:-3].concatenate([h * f, w * f, c // (f * f)])

    def _inverse_event_shape(self, output_shape):
        self._check_divisible(output_shape)
        h, w, c = output_shape[-3:]
        f = self._factor
        return output_shape[:-3].concatenate([h // f, w // f, c * f * f])

    def _forward_event_shape_tensor(self, input_shape):
        f = self._factor
        return tf.concat([input_shape[:-3], input_shape[-3:-1] * f, input_shape[-1:] // (f * f)], 0)

    def _inverse_event_shape_tensor(self, output_shape):
        f = self._factor
        return tf.concat(
            [output_shape[:-3], output_shape[-3:-1] // f, output_shape[-1:] * (f * f)], 0
        )
