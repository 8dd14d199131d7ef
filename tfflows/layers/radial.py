"""Keras layer owning a radial flow's parameters."""

import keras

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer


@keras.saving.register_keras_serializable(package="tfflows")
class Radial(FlowLayer):
    """Radial flow step around a learned point z0 (see `tfflows.bijectors.Radial`).

    Starts at the identity: alpha_raw = beta_raw = 0 give alpha = log 2 and beta = 0.

    Reference: Rezende, Mohamed, arXiv:1505.05770, Section 4.1.
    """

    condition_ranks = ()

    def build(self, input_shape):
        self.event_ndims_for(input_shape)
        self.z0 = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="z0")
        self.alpha_raw = self.add_weight(shape=(), initializer="zeros", name="alpha_raw")
        self.beta_raw = self.add_weight(shape=(), initializer="zeros", name="beta_raw")

    def bijector(self, condition=None):
        return bijectors.Radial(self.z0.value, self.alpha_raw.value, self.beta_raw.value)
