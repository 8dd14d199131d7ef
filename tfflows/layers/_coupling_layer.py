"""Shared build logic of the additive and affine coupling layers."""

from tfflows.bijectors.coupling_masks import check_mask, split_sizes, transformed_channels
from tfflows.layers._conditioner import make_conditioner
from tfflows.layers.flow_layer import FlowLayer


class CouplingLayer(FlowLayer):
    """A coupling step's layer: mask, parity and a conditioner made at build time.

    Subclasses set `params_per_channel` (1 for additive, 2 for affine).
    """

    params_per_channel = 1

    def __init__(self, mask="half", parity=0, hidden=64, condition_shape=None, **kwargs):
        super().__init__(condition_shape=condition_shape, **kwargs)
        self.mask = mask
        self.parity = int(parity)
        self.hidden = list(hidden) if isinstance(hidden, list | tuple) else int(hidden)

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        self._mask = check_mask(self.mask, self.parity, self.event_ndims)
        channels = input_shape[-1]
        if self._mask == "channel":
            first, second = split_sizes(channels)
            in_channels = first if self.parity == 0 else second
        else:
            in_channels = channels
        out = self.params_per_channel * transformed_channels(self._mask, self.parity, channels)
        self.net = make_conditioner(
            self, self.event_ndims, self.hidden, out, in_channels, name="conditioner"
        )

    def get_config(self):
        return {
            **super().get_config(),
            "mask": self.mask,
            "parity": self.parity,
            "hidden": self.hidden,
        }
