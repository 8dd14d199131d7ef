"""Keras layer owning ActNorm's parameters, with Glow's data-dependent initialisation."""

import keras
from keras import ops

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer

# Below this variance a channel counts as constant and keeps scale 1 (log-scale 0) instead
# of being blown up by 1 / std.
CONSTANT_CHANNEL_VARIANCE = 1e-10


@keras.saving.register_keras_serializable(package="tfflows")
class ActNorm(FlowLayer):
    """ActNorm step z = (x + loc) * exp(log_scale) (see `tfflows.bijectors.ActNorm`).

    `initialize(x)` sets loc = -mean(x) and log_scale = -log std(x) per channel, so the
    first batch leaves the step with mean 0 and variance 1 per channel; a constant channel
    keeps log_scale = 0 (it is only centred). The `initialized` weight records that this
    happened, and is saved with the weights, so a restored model is not re-initialised.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.1.
    """

    condition_ranks = ()

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        c = (input_shape[-1],)
        self.loc = self.add_weight(shape=c, initializer="zeros", name="loc")
        self.log_scale = self.add_weight(shape=c, initializer="zeros", name="log_scale")
        self.initialized = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="initialized"
        )

    def bijector(self, condition=None):
        return bijectors.ActNorm(self.loc.value, self.log_scale.value, self.event_ndims)

    def data_statistics(self, x):
        """Per-channel (loc, log_scale) that normalise the batch `x`."""
        x = ops.cast(x, self.variable_dtype)
        axes = list(range(len(x.shape) - 1))
        mean = ops.mean(x, axis=axes)
        var = ops.mean(ops.square(x - mean), axis=axes)
        constant = var < CONSTANT_CHANNEL_VARIANCE
        log_scale = ops.where(constant, 0.0, -0.5 * ops.log(ops.where(constant, 1.0, var)))
        return -mean, log_scale

    def initialize(self, x, condition=None):
        loc, log_scale = self.data_statistics(x)
        self.loc.assign(loc)
        self.log_scale.assign(log_scale)
        self.initialized.assign(1.0)
