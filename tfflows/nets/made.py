"""MADE: the autoregressive conditioner of MAF and IAF."""

import keras
import numpy as np
from keras import ops

from tfflows.nets.conditions import check_condition_shape, require_condition, zeros
from tfflows.nets.masked_dense import MaskedDense


def hidden_degrees(event_size, units):
    """Degrees 1..D-1 assigned cyclically, so every degree is represented (MADE's rule,
    deterministic instead of sampled)."""
    return (np.arange(units) % max(1, event_size - 1) + 1).tolist()


@keras.saving.register_keras_serializable(package="tfflows")
class MADE(keras.layers.Layer):
    """Masked autoencoder: output (p, i) depends on x_<i only (and on the condition).

        h_1 = act(x (W_1 * M_1) + c V + b_1),  ...,  out = h_L (W_out * M_out) + b_out

    The output has `num_params * D` units laid out parameter-major: [p_0(x)_1..D,
    p_1(x)_1..D, ...], i.e. the shift then the raw log-scale for MAF. The output layer
    starts at zero, so the flow starts as the identity. A vector condition c enters every
    first-layer unit unmasked (a conditional MADE).

    Args:
      event_size: D.
      hidden_units: widths of the masked hidden layers (each >= D - 1 for full coverage).
      num_params: parameters per coordinate (2: shift and log-scale).
      activation: hidden activation.
      condition_shape: (K,) or None.

    Reference: Germain et al., "MADE", arXiv:1502.03509; Papamakarios et al., "MAF",
    arXiv:1705.07057, Section 3.
    """

    def __init__(
        self,
        event_size,
        hidden_units=(64, 64),
        num_params=2,
        activation="relu",
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.event_size = int(event_size)
        self.hidden_units = [int(u) for u in hidden_units]
        self.num_params = int(num_params)
        self.activation = activation
        self.condition_shape = check_condition_shape(condition_shape, (1,), "MADE")
        if self.event_size < 1 or not self.hidden_units:
            raise ValueError("MADE needs event_size >= 1 and at least one hidden layer")
        policy = self.dtype_policy
        degrees = list(range(1, self.event_size + 1))
        self.hidden = []
        for i, units in enumerate(self.hidden_units):
            out_degrees = hidden_degrees(self.event_size, units)
            self.hidden.append(
                MaskedDense(degrees, out_degrees, activation=None, dtype=policy, name=f"masked_{i}")
            )
            degrees = out_degrees
        self.out = MaskedDense(
            degrees,
            list(range(1, self.event_size + 1)) * self.num_params,
            strict=True,
            kernel_initializer=zeros(),
            bias_initializer=zeros(),
            dtype=policy,
            name="masked_out",
        )
        self.cond_proj = None
        if self.condition_shape is not None:
            self.cond_proj = keras.layers.Dense(
                self.hidden_units[0], use_bias=False, dtype=policy, name="cond_proj"
            )
        self.act = keras.activations.get(activation)

    def build(self, input_shape):
        if input_shape[-1] != self.event_size:
            raise ValueError(f"MADE(event_size={self.event_size}) got input shape {input_shape}")
        width = self.event_size
        for layer in self.hidden:
            layer.build((None, width))
            width = len(layer.output_degrees)
        self.out.build((None, width))
        if self.cond_proj is not None:
            self.cond_proj.build((None, self.condition_shape[0]))

    def call(self, x, condition=None):
        require_condition(self, condition)
        h = x
        for i, layer in enumerate(self.hidden):
            h = layer(h)
            if i == 0 and self.cond_proj is not None:
                h = h + self.cond_proj(ops.cast(condition, x.dtype))
            h = self.act(h)
        return self.out(h)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_params * self.event_size)

    def get_config(self):
        return {
            **super().get_config(),
            "event_size": self.event_size,
            "hidden_units": self.hidden_units,
            "num_params": self.num_params,
            "activation": self.activation,
            "condition_shape": self.condition_shape,
        }
