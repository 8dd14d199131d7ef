"""Convolutional conditioner for image couplings and Glow's split prior."""

import keras
from keras import ops

from tfflows.nets.conditions import check_condition_shape, require_condition, zeros


@keras.saving.register_keras_serializable(package="tfflows")
class ConvNet(keras.layers.Layer):
    """Glow's coupling network: conv3x3(hidden) - ReLU - conv1x1(hidden) - ReLU - conv3x3(out).

    The last convolution starts at zero (Glow's "zero initialisation"), so the flow step it
    parametrises starts as the identity. A condition is either a vector (projected to the
    hidden width and added after the first convolution, broadcast over positions) or a
    feature map with the input's height and width (concatenated to the input channels).

    With `hidden_channels=0` the network is the last convolution alone, as the prior of
    the split in Glow's code (`split2d_prior`: one zero-initialised conv3x3).

    Args:
      hidden_channels: width of the hidden layers (512 in Glow); 0 for none.
      output_channels: channels of the output.
      kernel_size: size of the first and last convolutions.
      condition_shape: (K,) or (H, W, K) without the batch axis, or None.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.3 and Appendix.
    """

    def __init__(
        self, hidden_channels, output_channels, kernel_size=3, condition_shape=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_channels = int(hidden_channels)
        self.output_channels = int(output_channels)
        self.kernel_size = int(kernel_size)
        self.condition_shape = check_condition_shape(condition_shape, (1, 3), "ConvNet")
        if self.hidden_channels < 0:
            raise ValueError(f"hidden_channels must be >= 0, got {hidden_channels}")
        policy = self.dtype_policy
        k = self.kernel_size
        self.conv_in = self.conv_mid = None
        if self.hidden_channels:
            self.conv_in = keras.layers.Conv2D(
                self.hidden_channels, k, padding="same", dtype=policy, name="conv_in"
            )
            self.conv_mid = keras.layers.Conv2D(
                self.hidden_channels, 1, activation="relu", dtype=policy, name="conv_mid"
            )
        self.conv_out = keras.layers.Conv2D(
            self.output_channels,
            k,
            padding="same",
            kernel_initializer=zeros(),
            bias_initializer=zeros(),
            dtype=policy,
            name="conv_out",
        )
        self.cond_proj = None
        if self.condition_shape is not None and len(self.condition_shape) == 1:
            if not self.hidden_channels:
                raise ValueError(
                    "a vector condition is added to the hidden layer: it needs hidden_channels > 0"
                )
            self.cond_proj = keras.layers.Dense(
                self.hidden_channels, use_bias=False, dtype=policy, name="cond_proj"
            )

    def _feature_map_condition(self):
        return self.condition_shape is not None and len(self.condition_shape) == 3

    def build(self, input_shape):
        channels = input_shape[-1]
        if self._feature_map_condition():
            channels += self.condition_shape[-1]
        if self.conv_in is None:
            self.conv_out.build((None, None, None, channels))
            return
        self.conv_in.build((None, None, None, channels))
        self.conv_mid.build((None, None, None, self.hidden_channels))
        self.conv_out.build((None, None, None, self.hidden_channels))
        if self.cond_proj is not None:
            self.cond_proj.build((None, self.condition_shape[0]))

    def call(self, x, condition=None):
        require_condition(self, condition)
        if self._feature_map_condition():
            x = ops.concatenate([x, ops.cast(condition, x.dtype)], axis=-1)
        if self.conv_in is None:
            return self.conv_out(x)
        h = self.conv_in(x)
        if self.cond_proj is not None:
            h = h + self.cond_proj(ops.cast(condition, x.dtype))[:, None, None, :]
        h = self.conv_mid(ops.relu(h))
        return self.conv_out(h)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_channels)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_channels": self.hidden_channels,
            "output_channels": self.output_channels,
            "kernel_size": self.kernel_size,
            "condition_shape": self.condition_shape,
        }
