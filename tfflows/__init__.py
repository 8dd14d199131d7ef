"""tfflows: normalizing flows for TensorFlow, as TFP bijectors over Keras 3 layers.

The submodules load on first use (PEP 562), so that `import tfflows.cli` and
`tfflows --help` do not import TensorFlow: `tfflows.models.Glow`, `tfflows.zoo.load(...)`,
`tfflows.train(...)` and `from tfflows import models` work as if they were imported here.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "bijectors",
    "data",
    "distill",
    "export",
    "layers",
    "models",
    "nets",
    "training",
    "zoo",
)

__all__ = [*_SUBMODULES, "train", "__version__"]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"tfflows.{name}")
    if name == "train":
        from tfflows.training import train

        return train
    raise AttributeError(f"module 'tfflows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
