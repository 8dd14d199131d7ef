"""Keras layer owning Glow's learned (optionally class-conditional) prior."""

import keras
from keras import ops

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer
from tfflows.nets.conditions import require_condition, zeros


@keras.saving.register_keras_serializable(package="tfflows")
class LearnedPrior(FlowLayer):
    """Learned Gaussian on the top latent: z = (x - mu) / sigma, per channel.

        (mu, log sigma) = b + W c      (b learned; W c only with a vector condition c)

    Both start at zero, so the prior starts as N(0, 1) and the step as the identity. With a
    one-hot class label as c this is Glow's class-conditional prior.

    Args:
      condition_shape: (K,) for a vector condition such as a one-hot label, or None.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039 ("learntop" and "ycond").
    """

    condition_ranks = (1,)

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        c = input_shape[-1]
        self.bias = self.add_weight(shape=(2 * c,), initializer="zeros", name="bias")
        self.cond_proj = None
        if self.condition_shape is not None:
            self.cond_proj = keras.layers.Dense(
                2 * c,
                use_bias=False,
                kernel_initializer=zeros(),
                dtype=self.dtype_policy,
                name="cond_proj",
            )
            self.cond_proj.build((None, self.condition_shape[0]))

    def bijector(self, condition=None):
        require_condition(self, condition)
        h = ops.convert_to_tensor(self.bias)
        if self.cond_proj is not None:
            h = self.cond_proj(ops.cast(condition, h.dtype))
            h = h + self.bias
            # [batch, 2C] -> [batch, 1, ..., 1, 2C], broadcast over the event's positions.
            h = ops.reshape(h, (-1,) + (1,) * (self.event_ndims - 1) + (h.shape[-1],))
        shift, log_scale = ops.split(h, 2, axis=-1)
        return bijectors.ElementwiseAffine(shift, log_scale, self.event_ndims)
