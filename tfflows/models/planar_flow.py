"""A stack of planar flows."""

import keras
import numpy as np

from tfflows import layers
from tfflows.models.arguments import count
from tfflows.models.flow_model import FlowModel


@keras.saving.register_keras_serializable(package="tfflows")
class PlanarFlow(FlowModel):
    """K planar flows (Rezende & Mohamed 2015, arXiv:1505.05770, Section 4.1).

    Built for variational inference: `sample_and_log_prob` gives samples and their density
    in one pass. `log_prob` of given points also works (each planar inverse is solved
    numerically), so a planar flow can score data too.

    Args:
      event_size: D.
      num_layers: K (the paper's Figure 3 uses K = 2, 8, 32).
    """

    def __init__(self, event_size, num_layers=8, **kwargs):
        kwargs.pop("input_shape", None)
        super().__init__((count(event_size, "event_size"),), **kwargs)
        self.num_layers = count(num_layers, "num_layers")
        for i in range(self.num_layers):
            self.add_step(layers.Planar(name=f"planar_{i}"), self.data_shape)
        self.finish()

    @classmethod
    def from_shape(cls, shape, **overrides):
        """A planar flow on the flattened `shape`."""
        return cls(int(np.prod(shape)), **overrides)

    def get_config(self):
        config = super().get_config()
        config.pop("input_shape")
        return {**config, "event_size": self.data_shape[0], "num_layers": self.num_layers}
