"""Keras layer owning a NICE additive coupling's conditioner."""

import keras

from tfflows import bijectors
from tfflows.layers._conditioner import bind
from tfflows.layers._coupling_layer import CouplingLayer


@keras.saving.register_keras_serializable(package="tfflows")
class AdditiveCoupling(CouplingLayer):
    """NICE coupling step z2 = x2 + m(x1) (see `tfflows.bijectors.AdditiveCoupling`).

    Args:
      mask: "half"/"channel", "alternating" (vectors) or "checkerboard" (images).
      parity: 0 or 1; alternate it between consecutive couplings.
      hidden: hidden sizes of the MLP (vectors: an int or a list) or the ConvNet width
        (images: an int).
      condition_shape: see `FlowLayer`.

    Reference: Dinh, Krueger, Bengio, "NICE", arXiv:1410.8516.
    """

    params_per_channel = 1

    def bijector(self, condition=None):
        return bijectors.AdditiveCoupling(
            bind(self.net, condition),
            mask=self._mask,
            parity=self.parity,
            event_ndims=self.event_ndims,
        )
