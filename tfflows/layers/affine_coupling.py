"""Keras layer owning a Real NVP / Glow affine coupling's conditioner."""

import keras

from tfflows import bijectors
from tfflows.layers._conditioner import bind
from tfflows.layers._coupling_layer import CouplingLayer


@keras.saving.register_keras_serializable(package="tfflows")
class AffineCoupling(CouplingLayer):
    """Affine coupling step z2 = x2 * s(x1) + t(x1) (see `tfflows.bijectors.AffineCoupling`).

    Args:
      mask: "half"/"channel", "alternating" (vectors) or "checkerboard" (images).
      parity: 0 or 1.
      hidden: MLP hidden sizes (vectors) or ConvNet width (images, 512 in Glow).
      scale: "exp" (Real NVP, tanh-bounded log-scale) or "sigmoid" (Glow, sigmoid(h + 2)).
      log_scale_bound: bound of the "exp" form's log-scale.
      condition_shape: see `FlowLayer`.

    References: Dinh et al., arXiv:1605.08803; Kingma, Dhariwal, arXiv:1807.03039.
    """

    params_per_channel = 2

    def __init__(
        self,
        mask="half",
        parity=0,
        hidden=64,
        scale="exp",
        log_scale_bound=2.0,
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(mask, parity, hidden, condition_shape=condition_shape, **kwargs)
        self.scale = scale
        self.log_scale_bound = log_scale_bound

    def bijector(self, condition=None):
        return bijectors.AffineCoupling(
            bind(self.net, condition),
            mask=self._mask,
            parity=self.parity,
            scale=self.scale,
            log_scale_bound=self.log_scale_bound,
            event_ndims=self.event_ndims,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "log_scale_bound": self.log_scale_bound,
        }
