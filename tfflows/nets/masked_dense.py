"""Dense layer with an autoregressive connectivity mask (the building block of MADE)."""

import keras
import numpy as np
from keras import ops


def autoregressive_mask(input_degrees, output_degrees, strict):
    """M[j, k] = 1 if output k may see input j: deg_out > deg_in (strict) or >= (hidden)."""
    d_in = np.asarray(input_degrees)[:, None]
    d_out = np.asarray(output_degrees)[None, :]
    return (d_out > d_in) if strict else (d_out >= d_in)


@keras.saving.register_keras_serializable(package="tfflows")
class MaskedDense(keras.layers.Layer):
    """y = act(x (W * M) + b), with M fixed by the units' degrees.

    Args:
      input_degrees: degree of each input unit (1..D for the data's coordinates).
      output_degrees: degree of each output unit; their count is the layer's width.
      strict: True for the output layer (deg_out > deg_in), False for hidden layers.
      activation: activation function.
      kernel_initializer, bias_initializer: Keras initializers.

    Reference: Germain, Gregor, Murray, Larochelle, "MADE: Masked Autoencoder for
    Distribution Estimation", arXiv:1502.03509, Section 4.
    """

    def __init__(
        self,
        input_degrees,
        output_degrees,
        strict=False,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_degrees = [int(d) for d in input_degrees]
        self.output_degrees = [int(d) for d in output_degrees]
        self.strict = bool(strict)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.mask = autoregressive_mask(self.input_degrees, self.output_degrees, self.strict)

    def build(self, input_shape):
        if input_shape[-1] != len(self.input_degrees):
            raise ValueError(
                f"{self.name} expects {len(self.input_degrees)} input features, "
                f"got shape {input_shape}"
            )
        shape = self.mask.shape
        self.kernel = self.add_weight(
            shape=shape, initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = self.add_weight(
            shape=(shape[1],), initializer=self.bias_initializer, name="bias"
        )

    def call(self, x):
        mask = ops.convert_to_tensor(self.mask, dtype=self.kernel.dtype)
        return self.activation(ops.matmul(x, self.kernel * mask) + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.output_degrees))

    def get_config(self):
        return {
            **super().get_config(),
            "input_degrees": self.input_degrees,
            "output_degrees": self.output_degrees,
            "strict": self.strict,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
