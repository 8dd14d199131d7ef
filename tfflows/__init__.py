"""tfflows: normalizing flows for TensorFlow, as TFP bijectors over Keras 3 layers."""

from tfflows import bijectors, data, layers, models, nets

__version__ = "0.1.0"

__all__ = ["bijectors", "data", "layers", "models", "nets", "__version__"]
