"""Building a model from a family name, a config dict or a JSON file."""

import json
import pathlib

import keras

from tfflows.models.flow_model import FlowModel
from tfflows.models.glow import Glow
from tfflows.models.maf import IAF, MAF
from tfflows.models.nice import NICE
from tfflows.models.planar_flow import PlanarFlow
from tfflows.models.real_nvp import RealNVP
from tfflows.models.vae import VAE
from tfflows.models.video_flow import VideoFlow
from tfflows.models.wavenet import WaveNet

FAMILIES = {
    "glow": Glow,
    "realnvp": RealNVP,
    "nice": NICE,
    "maf": MAF,
    "iaf": IAF,
    "planar": PlanarFlow,
    "videoflow": VideoFlow,
    "wavenet": WaveNet,
    "vae": VAE,
}


def model_config(model):
    """A JSON-able description that `build_model` turns back into the same architecture."""
    return keras.saving.serialize_keras_object(model)


def build_model(spec, input_shape=None, **overrides):
    """A fresh (untrained) model.

    Args:
      spec: a family name ("glow", "realnvp", "nice", "maf", "iaf", "planar",
        "videoflow", "wavenet", "vae"), a config
        from `model_config`, a path to a JSON file holding either, or a `FlowModel` (whose
        config is rebuilt: how a model made outside a strategy scope gets rebuilt in one).
      input_shape: shape of one example, for a family name.
      overrides: constructor arguments (e.g. levels=2) for a family name.
    """
    if isinstance(spec, FlowModel | VideoFlow | WaveNet | VAE):
        spec = model_config(spec)
    if isinstance(spec, str | pathlib.Path) and str(spec).endswith(".json"):
        path = pathlib.Path(spec)
        if not path.is_file():
            raise ValueError(f"model config file {path} does not exist")
        spec = json.loads(path.read_text())
    if isinstance(spec, dict):
        if "class_name" not in spec:
            name = spec.get("family")
            if name is None:
                raise ValueError(
                    'a model config needs "class_name" (from model_config) or "family"'
                )
            kwargs = {k: v for k, v in spec.items() if k != "family"}
            return build_model(name, input_shape, **{**kwargs, **overrides})
        if overrides:
            spec = {**spec, "config": {**spec["config"], **overrides}}
        import tfflows.distill  # noqa: F401 - registers DensityDistillation (it imports models)

        return keras.saving.deserialize_keras_object(spec)
    if not isinstance(spec, str):
        raise ValueError(f"cannot build a model from {type(spec).__name__}")
    cls = family(spec)
    shape = overrides.pop("input_shape", input_shape)
    if shape is None:
        raise ValueError(f"building {spec!r} needs the shape of one example (input_shape)")
    return cls.from_shape(shape, **overrides)


def family(name: str) -> type:
    """The model class of a family name ("glow", "realnvp", ...)."""
    cls = FAMILIES.get(str(name).lower())
    if cls is None:
        from tfflows.hints import did_you_mean

        raise ValueError(
            f"unknown model family {name!r}; known: {', '.join(FAMILIES)} (or a zoo preset, "
            "tfflows zoo list)" + did_you_mean(str(name).lower(), FAMILIES)
        )
    return cls


def for_data(name: str, x, **overrides):
    """A fresh model of family `name` for data like `x` (see `FlowModel.for_data`)."""
    if "input_shape" in overrides and hasattr(x, "shape"):
        given = overrides.pop("input_shape")
        shape = tuple(int(d) for d in x.shape[1:])
        if not hasattr(given, "__iter__") or tuple(given) != shape:
            raise ValueError(
                f"input_shape={given!r} does not match the data, whose examples have shape "
                f"{shape}; leave input_shape out: it comes from the data"
            )
    return family(name).for_data(x, **overrides)
