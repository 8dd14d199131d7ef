"""NICE: additive couplings and a diagonal scaling."""

import keras

from tfflows import layers
from tfflows.models.arguments import count
from tfflows.models.flow_model import FlowModel


@keras.saving.register_keras_serializable(package="tfflows")
class NICE(FlowModel):
    """NICE (Dinh, Krueger & Bengio 2015, arXiv:1410.8516).

    The data is flattened to a vector; `num_couplings` additive couplings on alternating
    (odd/even) coordinates, each with an MLP of `hidden_layers` x `hidden_units` ReLU units,
    then a learned diagonal scaling. Paper defaults for MNIST: 4 couplings, 5 x 1000.

    Deviation: the base is a standard normal (the paper used a logistic prior for MNIST), so
    that every tfflows model has the same base.

    Args:
      input_shape: shape of one example (flattened inside).
      num_couplings, hidden_layers, hidden_units: the architecture.
      num_bits, preprocessing, logit_alpha, condition_shape, num_classes: see `FlowModel`
        (NICE scaled 8-bit pixels to [0, 1]: image shapes get num_bits=8, preprocessing
        "unit").
    """

    def __init__(
        self,
        input_shape,
        num_couplings=4,
        hidden_layers=5,
        hidden_units=1000,
        num_bits="auto",
        preprocessing="unit",
        logit_alpha=0.05,
        num_classes=None,
        condition_shape=None,
        **kwargs,
    ):
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
        self.hidden_layers = count(hidden_layers, "hidden_layers")
        self.hidden_units = count(hidden_units, "hidden_units")
        flat = (self.event_size,)
        if len(self.data_shape) > 1:
            self.flatten()
        for i in range(self.num_couplings):
            self.add_step(
                layers.AdditiveCoupling(
                    mask="alternating",
                    parity=i % 2,
                    hidden=[self.hidden_units] * self.hidden_layers,
                    condition_shape=self.condition_shape,
                    name=f"coupling_{i}",
                ),
                flat,
            )
        self.add_step(layers.DiagonalScaling(name="scaling"), flat)
        self.finish()

    def get_config(self):
        return {
            **super().get_config(),
            "num_couplings": self.num_couplings,
            "hidden_layers": self.hidden_layers,
            "hidden_units": self.hidden_units,
        }
