"""Keras layers owning the MADE of a MAF or IAF step."""

import keras

from tfflows import bijectors
from tfflows.layers._conditioner import bind
from tfflows.layers.flow_layer import FlowLayer
from tfflows.nets.made import MADE


@keras.saving.register_keras_serializable(package="tfflows")
class MaskedAutoregressive(FlowLayer):
    """MAF step (density in one pass, sampling in D passes) over a MADE conditioner.

    Args:
      hidden: MADE hidden layer sizes.
      log_scale_bound: soft bound B on the log-scale, alpha = B tanh(raw / B) (None: unbounded
        as in the paper). The default 5 keeps the sequential direction finite: with an
        unbounded scale, D chained exp() of a large input overflow float32.
      condition_shape: (K,) or None.

    Reference: Papamakarios et al., arXiv:1705.07057.
    """

    condition_ranks = (1,)
    bijector_class = bijectors.MaskedAutoregressive

    def __init__(self, hidden=(64, 64), log_scale_bound=5.0, condition_shape=None, **kwargs):
        super().__init__(condition_shape=condition_shape, **kwargs)
        self.hidden = [int(h) for h in hidden]
        self.log_scale_bound = log_scale_bound

    def build(self, input_shape):
        if self.event_ndims_for(input_shape) != 1:
            raise ValueError(f"{type(self).__name__} takes [batch, D] vectors, got {input_shape}")
        self.made = MADE(
            input_shape[-1],
            self.hidden,
            condition_shape=self.condition_shape,
            dtype=self.network_policy,
            name="made",
        )
        self.made.build(input_shape)

    def bijector(self, condition=None):
        return self.bijector_class(bind(self.made, condition), log_scale_bound=self.log_scale_bound)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden": self.hidden,
            "log_scale_bound": self.log_scale_bound,
        }


@keras.saving.register_keras_serializable(package="tfflows")
class InverseAutoregressive(MaskedAutoregressive):
    """IAF step (sampling in one pass, density in D passes): the inverse of a MAF step.

    Reference: Kingma et al., arXiv:1606.04934.
    """

    bijector_class = bijectors.InverseAutoregressive
