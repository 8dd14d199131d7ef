"""Real NVP: affine couplings with checkerboard and channel masks, multi-scale."""

import keras

from tfflows import layers
from tfflows.models.arguments import count
from tfflows.models.flow_model import FlowModel


@keras.saving.register_keras_serializable(package="tfflows")
class RealNVP(FlowModel):
    """Real NVP (Dinh, Sohl-Dickstein & Bengio 2017, arXiv:1605.08803).

    Vector data (`input_shape=(D,)`): `num_couplings` affine couplings on alternating halves,
    each conditioner an MLP with `hidden` units.

    Image data (`input_shape=(H, W, C)`), the paper's multi-scale architecture: each of
    `num_scales - 1` scales is 3 checkerboard couplings, a squeeze, 3 channel couplings and
    a factor-out of half the channels; the last scale is 4 checkerboard couplings. Data is
    8-bit, dequantized, and modelled after the logit transform with alpha = 0.05.

    Deviations: the conditioners are Glow's 3-layer ConvNet (`hidden` channels) instead of
    deep ResNets, ActNorm follows each coupling instead of batch normalisation (which
    makes the density depend on the batch), and the factored-out halves get Glow's learned
    prior (initialised to the paper's N(0, 1)).

    Args:
      input_shape: (D,) or (H, W, C).
      num_couplings: couplings of the vector form (default 8).
      num_scales: scales of the image form (default 2 here; the paper used 2-5 with
        bigger data).
      hidden: MLP sizes (vector form, default (256, 256)) or ConvNet width (image form,
        default 64).
      log_scale_bound: bound B of the coupling's log-scale, B tanh(h / B).
      num_bits, preprocessing, logit_alpha, condition_shape, num_classes: see `FlowModel`.
    """

    def __init__(
        self,
        input_shape,
        num_couplings=8,
        num_scales=2,
        hidden=None,
        log_scale_bound=2.0,
        num_bits="auto",
        preprocessing="logit",
        logit_alpha=0.05,
        num_classes=None,
        condition_shape=None,
        **kwargs,
    ):
        image = len(tuple(input_shape)) == 3
        super().__init__(
            input_shape,
            num_bits=num_bits,
            preprocessing=preprocessing,
            logit_alpha=logit_alpha,
            num_classes=num_classes,
            condition_shape=condition_shape,
            **kwargs,
        )
        self.num_couplings = count(num_couplings, "num_couplings")
        self.num_scales = count(num_scales, "num_scales")
        self.hidden = hidden if hidden is not None else (64 if image else [256, 256])
        self.log_scale_bound = log_scale_bound
        cond = self.condition_shape

        def coupling(mask, parity, shape, name):
            self.add_step(
                layers.AffineCoupling(
                    mask=mask,
                    parity=parity,
                    hidden=self.hidden,
                    scale="exp",
                    log_scale_bound=log_scale_bound,
                    condition_shape=cond,
                    name=name,
                ),
                shape,
            )

        if not image:
            if len(self.data_shape) != 1:
                raise ValueError(f"RealNVP takes (D,) or (H, W, C) data, got {self.data_shape}")
            for i in range(self.num_couplings):
                coupling("half", i % 2, self.data_shape, f"coupling_{i}")
            self.finish()
            return
        h, w, c = self.data_shape
        if h % 2 ** (self.num_scales - 1) or w % 2 ** (self.num_scales - 1):
            raise ValueError(
                f"{self.num_scales} scales need H and W divisible by "
                f"{2 ** (self.num_scales - 1)}, got {self.data_shape}"
            )
        for s in range(self.num_scales):
            last = s == self.num_scales - 1
            for i in range(4 if last else 3):
                coupling("checkerboard", i % 2, (h, w, c), f"checker_{s}_{i}")
                self.add_step(layers.ActNorm(name=f"actnorm_checker_{s}_{i}"), (h, w, c))
            if last:
                break
            self.squeeze(2)
            h, w, c = h // 2, w // 2, c * 4
            for i in range(3):
                coupling("channel", i % 2, (h, w, c), f"channel_{s}_{i}")
                self.add_step(layers.ActNorm(name=f"actnorm_channel_{s}_{i}"), (h, w, c))
            self.add_split(
                layers.FactorOut(hidden=self.hidden, condition_shape=cond, name=f"split_{s}"),
                (h, w, c),
            )
            c //= 2
        self.finish()

    def get_config(self):
        return {
            **super().get_config(),
            "num_couplings": self.num_couplings,
            "num_scales": self.num_scales,
            "hidden": self.hidden,
            "log_scale_bound": self.log_scale_bound,
        }
