"""The amortised encoder of a VAE: the posterior's Gaussian and its flow's parameters."""

import keras
from keras import ops

from tfflows.nets.conditions import check_condition_shape, require_condition, zeros


@keras.saving.register_keras_serializable(package="tfflows")
class VAEEncoder(keras.layers.Layer):
    """x (flattened) [N, D] -> (mu, log_sigma, flow parameters, context), one set per example.

        h = act(... act(W_1 [x, c] + b_1) ...)
        mu = W_mu h + b_mu,  log_sigma = W_s h + b_s         (zero-initialised: q0 = N(0, I))
        flow parameters = W_f h + b_f                        (b_f ~ N(0, 0.5^2), see below)
        context = act(W_h h + b_h)                           (IAF's h of Kingma et al. 2016)

    The flow head's bias starts random, not zero: a planar flow's w and a Householder vector
    divide by their norm, and a zero Q matrix has no orthonormal factor. A vector condition c
    (the one-hot label of a conditional VAE) is concatenated to the input.

    Args:
      hidden_units: widths of the hidden layers.
      latent_dim: L.
      flow_units: number of flow parameters per example (0 for none).
      context_units: size of the context vector (0 for none).
      activation: hidden activation.
      condition_shape: (K,) or None.
    """

    def __init__(
        self,
        hidden_units,
        latent_dim,
        flow_units=0,
        context_units=0,
        activation="relu",
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_units = [int(u) for u in hidden_units]
        self.latent_dim = int(latent_dim)
        self.flow_units = int(flow_units)
        self.context_units = int(context_units)
        self.activation = activation
        self.condition_shape = check_condition_shape(condition_shape, (1,), "VAEEncoder")
        policy = self.dtype_policy
        self.hidden = [
            keras.layers.Dense(u, activation=activation, dtype=policy, name=f"dense_{i}")
            for i, u in enumerate(self.hidden_units)
        ]
        self.gaussian = keras.layers.Dense(
            2 * self.latent_dim,
            kernel_initializer=zeros(),
            bias_initializer=zeros(),
            dtype=policy,
            name="gaussian",
        )
        self.flow = None
        if self.flow_units:
            self.flow = keras.layers.Dense(
                self.flow_units,
                kernel_initializer=keras.initializers.VarianceScaling(0.1),
                bias_initializer=keras.initializers.RandomNormal(stddev=0.5),
                dtype=policy,
                name="flow",
            )
        self.context = None
        if self.context_units:
            self.context = keras.layers.Dense(
                self.context_units, activation=activation, dtype=policy, name="context"
            )

    def build(self, input_shape):
        width = input_shape[-1] + (self.condition_shape[0] if self.condition_shape else 0)
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        for head in (self.gaussian, self.flow, self.context):
            if head is not None:
                head.build((None, width))

    def call(self, x, condition=None):
        require_condition(self, condition)
        h = x if condition is None else ops.concatenate([x, ops.cast(condition, x.dtype)], -1)
        for layer in self.hidden:
            h = layer(h)
        mu, log_sigma = ops.split(self.gaussian(h), 2, axis=-1)
        flow = None if self.flow is None else self.flow(h)
        context = None if self.context is None else self.context(h)
        return mu, log_sigma, flow, context

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "latent_dim": self.latent_dim,
            "flow_units": self.flow_units,
            "context_units": self.context_units,
            "activation": self.activation,
            "condition_shape": self.condition_shape,
        }
