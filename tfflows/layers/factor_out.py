"""Keras layer owning the learned prior of Glow's multi-scale split."""

import keras

from tfflows import bijectors
from tfflows.layers._conditioner import bind, make_conditioner
from tfflows.layers.flow_layer import FlowLayer


@keras.saving.register_keras_serializable(package="tfflows")
class FactorOut(FlowLayer):
    """Factors out half the channels with prior N(mu(x1), sigma(x1)^2) learned by a
    zero-initialised network (see `tfflows.bijectors.FactorOut`).

    `bijector(condition, inner)` takes the bijector of the following levels, which act on
    the kept half.

    Args:
      hidden: ConvNet width (images) or MLP sizes (vectors) of the prior network.
      log_scale_bound: optional soft bound on log sigma (None as in Glow).
      condition_shape: see `FlowLayer`.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039 (split2d and its learned prior).
    """

    def __init__(self, hidden=64, log_scale_bound=None, condition_shape=None, **kwargs):
        super().__init__(condition_shape=condition_shape, **kwargs)
        self.hidden = list(hidden) if isinstance(hidden, list | tuple) else int(hidden)
        self.log_scale_bound = log_scale_bound

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        c = input_shape[-1]
        if c % 2:
            raise ValueError(f"FactorOut needs an even number of channels, got {c}")
        self.prior_net = make_conditioner(self, self.event_ndims, self.hidden, c, c // 2, "prior")

    def bijector(self, condition=None, inner=None):
        return bijectors.FactorOut(
            bind(self.prior_net, condition),
            inner=inner,
            log_scale_bound=self.log_scale_bound,
            event_ndims=self.event_ndims,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "hidden": self.hidden,
            "log_scale_bound": self.log_scale_bound,
        }
