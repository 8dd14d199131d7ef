"""tfflows: normalizing flows for TensorFlow, as TFP bijectors over Keras 3 layers."""

from tfflows import bijectors, data, export, layers, models, nets, training, zoo
from tfflows.training import train

__version__ = "0.1.0"

__all__ = [
    "bijectors",
    "data",
    "export",
    "layers",
    "models",
    "nets",
    "train",
    "training",
    "zoo",
    "__version__",
]
