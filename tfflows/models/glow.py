"""Glow: ActNorm, invertible 1x1 convolutions and affine couplings, multi-scale."""

import keras

from tfflows import layers
from tfflows.models.arguments import count
from tfflows.models.flow_model import FlowModel


@keras.saving.register_keras_serializable(package="tfflows")
class Glow(FlowModel):
    """Glow (Kingma & Dhariwal 2018, arXiv:1807.03039).

    For each of `levels` levels: squeeze (space-to-depth), then `steps_per_level` steps of
    [ActNorm -> invertible 1x1 conv -> affine coupling (scale sigmoid(h + 2))], then (except
    after the last level) factor out half of the channels with a learned Gaussian prior
    conditioned on the other half. A learned prior on the top latent ("learntop"), which a
    class label shifts and scales in the class-conditional model (`num_classes`).

    Paper defaults: levels=3, steps_per_level=32, hidden_channels=512, LU-decomposed 1x1
    convolutions, affine coupling, 8-bit data scaled to [-0.5, 0.5) (5 bits for CelebA-HQ).

    Args:
      input_shape: (H, W, C), H and W divisible by 2^levels.
      levels, steps_per_level, hidden_channels: the architecture.
      lu_decomposed: LU-parametrised (True) or plain (False) 1x1 convolutions.
      coupling: "affine" or "additive".
      num_bits, preprocessing: see `FlowModel` (defaults 8 and "centered").
      num_classes: class-conditional prior (labels are the condition).
      condition_shape: a general condition fed to every coupling and prior network.
      learn_top: learned top prior (Glow's default).
      seed: seed of the 1x1 convolutions' random rotations.
      split_hidden_channels: width of the network that predicts the factored-out half
        from the kept half at each split (default: `hidden_channels`); 0 gives the single
        zero-initialised conv3x3 of Glow's code (`split2d_prior`) and of TFP's `tfb.Glow`.
    """

    def __init__(
        self,
        input_shape,
        levels=3,
        steps_per_level=32,
        hidden_channels=512,
        lu_decomposed=True,
        coupling="affine",
        num_bits=8,
        preprocessing="centered",
        num_classes=None,
        condition_shape=None,
        learn_top=True,
        seed=0,
        split_hidden_channels=None,
        **kwargs,
    ):
        super().__init__(
            input_shape,
            num_bits=num_bits,
            preprocessing=preprocessing,
            num_classes=num_classes,
            condition_shape=condition_shape,
            **kwargs,
        )
        levels = count(levels, "levels")
        steps_per_level = count(steps_per_level, "steps_per_level")
        hidden_channels = count(hidden_channels, "hidden_channels")
        h, w, c = self.data_shape
        if h % 2**levels or w % 2**levels:
            raise ValueError(
                f"Glow with {levels} levels needs H and W divisible by "
                f"{2**levels}, got {self.data_shape}"
            )
        if coupling not in ("affine", "additive"):
            raise ValueError(f'coupling must be "affine" or "additive", got {coupling!r}')
        self.levels, self.steps_per_level = int(levels), int(steps_per_level)
        self.hidden_channels, self.lu_decomposed = int(hidden_channels), bool(lu_decomposed)
        self.coupling, self.learn_top, self.seed = coupling, bool(learn_top), seed
        self.split_hidden_channels = count(
            hidden_channels if split_hidden_channels is None else split_hidden_channels,
            "split_hidden_channels",
            minimum=0,
        )
        net_condition = None if num_classes is not None else self.condition_shape
        conv = layers.LUInvertible1x1Conv if lu_decomposed else layers.Invertible1x1Conv
        for level in range(self.levels):
            self.squeeze(2)
            h, w, c = h // 2, w // 2, c * 4
            for step in range(self.steps_per_level):
                tag = f"{level}_{step}"
                self.add_step(layers.ActNorm(name=f"actnorm_{tag}"), (h, w, c))
                self.add_step(
                    conv(
                        seed=None if seed is None else seed * 1000 + len(self.flow_layers),
                        name=f"conv1x1_{tag}",
                    ),
                    (h, w, c),
                )
                if coupling == "affine":
                    step_layer = layers.AffineCoupling(
                        mask="channel",
                        scale="sigmoid",
                        hidden=self.hidden_channels,
                        condition_shape=net_condition,
                        name=f"coupling_{tag}",
                    )
                else:
                    step_layer = layers.AdditiveCoupling(
                        mask="channel",
                        hidden=self.hidden_channels,
                        condition_shape=net_condition,
                        name=f"coupling_{tag}",
                    )
                self.add_step(step_layer, (h, w, c))
            if level < self.levels - 1:
                self.add_split(
                    layers.FactorOut(
                        hidden=self.split_hidden_channels,
                        condition_shape=net_condition,
                        name=f"split_{level}",
                    ),
                    (h, w, c),
                )
                c //= 2
        if self.learn_top or num_classes is not None:
            self.add_step(
                layers.LearnedPrior(
                    condition_shape=self.condition_shape if num_classes is not None else None,
                    name="top_prior",
                ),
                (h, w, c),
            )
        self.finish()

    def get_config(self):
        return {
            **super().get_config(),
            "levels": self.levels,
            "steps_per_level": self.steps_per_level,
            "hidden_channels": self.hidden_channels,
            "lu_decomposed": self.lu_decomposed,
            "coupling": self.coupling,
            "learn_top": self.learn_top,
            "seed": self.seed,
            "split_hidden_channels": self.split_hidden_channels,
        }
