"""Keras layer owning NICE's diagonal scaling."""

import keras

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer


@keras.saving.register_keras_serializable(package="tfflows")
class DiagonalScaling(FlowLayer):
    """NICE's final scaling z = x * exp(S), one learned S per dimension (starts at 0).

    Reference: Dinh, Krueger, Bengio, "NICE", arXiv:1410.8516, Section 3.3.
    """

    condition_ranks = ()

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        self.log_scale = self.add_weight(
            shape=tuple(input_shape[1:]), initializer="zeros", name="log_scale"
        )

    def bijector(self, condition=None):
        return bijectors.DiagonalScaling(self.log_scale.value, self.event_ndims)
