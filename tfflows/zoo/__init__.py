"""The pretrained zoo: `tfflows.zoo.load("glow_celeba")` works offline.

    tfflows.zoo.list()            # names of the presets
    tfflows.zoo.info(name)        # description, measured metrics, data, license, commands
    tfflows.zoo.load(name)        # the model with its verified weights

Weights are found, in order: an explicit `path`; the copy shipped in the installed package;
the user cache (`$TFFLOWS_HOME`, default `~/.cache/tfflows`); the preset's URL (https or
file), downloaded atomically into the cache. The sha256 is checked before any weight is
loaded.
"""

from tfflows.zoo.registry import Preset, check_batch, check_inputs, get, names
from tfflows.zoo.weights import WeightsError, cache_root, resolve_weights, sha256_file


def list():  # noqa: A001 - the zoo's public name, as in the issue: tfflows.zoo.list()
    """Names of the available presets."""
    return names()


def info(name):
    """A preset's metadata: description, metrics, data, license, commands, card path."""
    preset = get(name)
    keys = ("description", "metrics", "data", "license", "commands", "parameters")
    out = {k: preset.spec[k] for k in keys if k in preset.spec}
    return {"name": name, **out, "weights": dict(preset.weights), "card": str(preset.card)}


def load(name, weights=True, path=None, progress=True):
    """The preset's model; with `weights`, its verified trained weights (see module doc).

    Args:
      name: a preset name (see `list()`).
      weights: False gives the architecture, untrained.
      path: an explicit weights file (checked against the preset's sha256 too).
    """
    from tfflows.models.registry import build_model

    preset = get(name)
    model = build_model(preset.spec["model"])
    if weights:
        w = preset.weights
        file = resolve_weights(
            name,
            w["file"],
            w["sha256"],
            shipped_dir=preset.directory,
            url=w.get("url"),
            path=path,
            progress=progress,
        )
        model.load_weights(file)
    return model


__all__ = [
    "Preset",
    "WeightsError",
    "cache_root",
    "check_batch",
    "check_inputs",
    "info",
    "list",
    "load",
    "resolve_weights",
    "sha256_file",
]
