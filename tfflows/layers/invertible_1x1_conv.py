"""Keras layer owning a plain invertible 1x1 convolution's weight."""

import keras

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer


@keras.saving.register_keras_serializable(package="tfflows")
class Invertible1x1Conv(FlowLayer):
    """Invertible 1x1 convolution with a full C x C weight, initialised to a random rotation.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.2.
    """

    condition_ranks = ()

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        c = input_shape[-1]
        self.weight = self.add_weight(
            shape=(c, c), initializer=keras.initializers.Orthogonal(seed=self.seed), name="weight"
        )

    def bijector(self, condition=None):
        return bijectors.Invertible1x1Conv(self.weight.value, self.event_ndims)

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
