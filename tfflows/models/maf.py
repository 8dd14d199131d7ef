"""MAF and IAF: stacks of affine autoregressive transforms with reversing permutations."""

import keras

from tfflows import layers
from tfflows.models.arguments import count
from tfflows.models.flow_model import FlowModel


class _Autoregressive(FlowModel):
    step_class = None

    def __init__(
        self,
        event_size,
        num_layers=5,
        hidden_units=(1024,),
        log_scale_bound=5.0,
        num_bits="auto",
        preprocessing="logit",
        logit_alpha=1e-6,
        num_classes=None,
        condition_shape=None,
        **kwargs,
    ):
        if isinstance(event_size, list | tuple):
            shape = tuple(count(d, "event_size") for d in event_size)
        else:
            shape = (count(event_size, "event_size"),)
        super().__init__(
            shape,
            num_bits=num_bits,
            preprocessing=preprocessing,
            logit_alpha=logit_alpha,
            num_classes=num_classes,
            condition_shape=condition_shape,
            **kwargs,
        )
        self.num_layers = count(num_layers, "num_layers")
        self.hidden_units = [count(u, "hidden_units") for u in hidden_units]
        self.log_scale_bound = log_scale_bound
        flat = (self.event_size,)
        if len(self.data_shape) > 1:
            self.flatten()
        reverse = tuple(range(self.event_size - 1, -1, -1))
        for i in range(self.num_layers):
            if i > 0:
                self.permute(reverse)
            self.add_step(
                self.step_class(
                    hidden=self.hidden_units,
                    log_scale_bound=log_scale_bound,
                    condition_shape=self.condition_shape,
                    name=f"made_{i}",
                ),
                flat,
            )
        self.finish()

    def get_config(self):
        config = super().get_config()
        config["event_size"] = list(config.pop("input_shape"))
        return {
            **config,
            "num_layers": self.num_layers,
            "hidden_units": self.hidden_units,
            "log_scale_bound": self.log_scale_bound,
        }


@keras.saving.register_keras_serializable(package="tfflows")
class MAF(_Autoregressive):
    """Masked Autoregressive Flow (Papamakarios, Pavlakou & Murray 2017, arXiv:1705.07057).

    `num_layers` MADE-parametrised affine autoregressive steps, the order reversed between
    consecutive steps. Density evaluation is one pass per step; sampling is sequential.
    Paper defaults for MNIST: 5 steps ("MAF 5"), MADE with one hidden layer of 1024 units,
    data dequantized and logit-transformed with alpha = 1e-6.

    Deviations: no batch normalisation between steps (it makes the density depend on the
    batch); the log-scale is softly bounded by `log_scale_bound` (5) for stability.

    Args:
      event_size: D, or the shape of one example (flattened inside).
      num_layers, hidden_units: the architecture.
      num_bits, preprocessing, logit_alpha, condition_shape, num_classes: see `FlowModel`.
    """

    step_class = layers.MaskedAutoregressive


@keras.saving.register_keras_serializable(package="tfflows")
class IAF(_Autoregressive):
    """Inverse Autoregressive Flow (Kingma et al. 2016, arXiv:1606.04934) as a density model.

    The same stack as `MAF` with every step inverted: sampling is one pass per step,
    density evaluation is sequential (D network passes per step). IAF's usual roles are the
    posterior of variational inference and the fast student of Parallel WaveNet.

    Args: as `MAF`.
    """

    step_class = layers.InverseAutoregressive
