"""Fully connected conditioner for vector couplings."""

import keras
from keras import ops

from tfflows.nets.conditions import check_condition_shape, require_condition, zeros


@keras.saving.register_keras_serializable(package="tfflows")
class MLP(keras.layers.Layer):
    """Multilayer perceptron h = W_L act(... act(W_1 [x, c] + b_1) ...) + b_L.

    The last layer starts at zero, so the flow step it parametrises starts as the identity.
    A vector condition c is concatenated to the input.

    Args:
      hidden_units: sizes of the hidden layers.
      output_units: size of the output.
      activation: hidden activation.
      condition_shape: shape of the condition without the batch axis (rank 1), or None.
    """

    def __init__(
        self, hidden_units, output_units, activation="relu", condition_shape=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_units = [int(u) for u in hidden_units]
        self.output_units = int(output_units)
        self.activation = activation
        self.condition_shape = check_condition_shape(condition_shape, (1,), "MLP")
        self.hidden = [
            keras.layers.Dense(u, activation=activation, dtype=self.dtype_policy, name=f"dense_{i}")
            for i, u in enumerate(self.hidden_units)
        ]
        self.out = keras.layers.Dense(
            self.output_units,
            kernel_initializer=zeros(),
            bias_initializer=zeros(),
            dtype=self.dtype_policy,
            name="out",
        )

    def build(self, input_shape):
        width = input_shape[-1] + (self.condition_shape[0] if self.condition_shape else 0)
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        self.out.build((None, width))

    def call(self, x, condition=None):
        require_condition(self, condition)
        h = x if condition is None else ops.concatenate([x, ops.cast(condition, x.dtype)], -1)
        for layer in self.hidden:
            h = layer(h)
        return self.out(h)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_units)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "output_units": self.output_units,
            "activation": self.activation,
            "condition_shape": self.condition_shape,
        }
