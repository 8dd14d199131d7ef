"""Base class of the Keras layers that own one flow step's weights."""

import keras

from tfflows.nets.conditions import check_condition_shape


class FlowLayer(keras.layers.Layer):
    """A flow step: Keras 3 owns its weights; `bijector()` builds the math from them.

    `bijector(condition)` returns a new `tfp.bijectors.Bijector` on every call, reading the
    layer's current variables, so gradients reach them, later updates are seen, and TFP's
    per-object cache never outlives a training step. Calling the layer maps data to latent
    (the bijector's inverse).

    Args:
      condition_shape: shape of the condition without the batch axis: (K,) for a vector
        (e.g. a one-hot class), (H, W, K) for a feature map; None for an unconditional step.
    """

    condition_ranks = (1, 3)
    # The dtype policy of the networks this layer creates; the model that owns the layer
    # sets it before building (`FlowModel(network_dtype=...)`, mixed precision).
    network_dtype = None

    def __init__(self, condition_shape=None, **kwargs):
        super().__init__(**kwargs)
        self.condition_shape = check_condition_shape(
            condition_shape, self.condition_ranks, type(self).__name__
        )

    def event_ndims_for(self, input_shape):
        """1 for [batch, D] inputs, 3 for [batch, H, W, C]."""
        ndims = len(input_shape) - 1
        if ndims not in (1, 3):
            raise ValueError(
                f"{type(self).__name__} takes [batch, D] vectors or [batch, H, W, C] images, "
                f"got input shape {tuple(input_shape)}"
            )
        return ndims

    @property
    def network_policy(self):
        """The dtype policy for this layer's networks: `network_dtype`, else the layer's."""
        return self.network_dtype or self.dtype_policy

    def bijector(self, condition=None):
        raise NotImplementedError

    def initialize(self, x, condition=None):
        """Data-dependent initialisation from a first batch `x`; most steps have none."""

    def call(self, x, condition=None):
        return self.bijector(condition).inverse(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "condition_shape": self.condition_shape}
