"""Keras layer owning a planar flow's parameters."""

import keras
from keras import ops

from tfflows import bijectors
from tfflows.bijectors.planar import SOFTPLUS_ZERO
from tfflows.layers.flow_layer import FlowLayer


@keras.saving.register_keras_serializable(package="tfflows")
class Planar(FlowLayer):
    """Planar flow step x = z + u-hat tanh(w.z + b) (see `tfflows.bijectors.Planar`).

    Starts at the identity: w is random, b = 0, and u = log(e - 1) w / |w|^2, the point
    where the invertibility reparametrisation gives u-hat = 0.

    Reference: Rezende, Mohamed, arXiv:1505.05770, Section 4.1.
    """

    condition_ranks = ()

    def build(self, input_shape):
        self.event_ndims_for(input_shape)
        d = input_shape[-1]
        self.w = self.add_weight(
            shape=(d,), initializer=keras.initializers.RandomNormal(stddev=d**-0.5), name="w"
        )
        self.u = self.add_weight(shape=(d,), initializer="zeros", name="u")
        self.b = self.add_weight(shape=(), initializer="zeros", name="b")
        w = ops.convert_to_tensor(self.w)
        self.u.assign(SOFTPLUS_ZERO * w / ops.sum(w * w))

    def bijector(self, condition=None):
        return bijectors.Planar(u=self.u.value, w=self.w.value, b=self.b.value)
