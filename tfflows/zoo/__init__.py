"""The pretrained zoo: `tfflows.zoo.load("glow_celeba")` works offline.

    tfflows.zoo.list()            # names of the presets
    tfflows.zoo.info(name)        # description, measured metrics, data, license, commands
    tfflows.zoo.load(name)        # the model with its verified weights

Weights are found, in order: an explicit `path` (any file name); the copy shipped in the
installed package; the user cache (`$TFFLOWS_HOME`, default `~/.cache/tfflows`); the preset's
URL (https:// or file:// only), downloaded atomically into the cache. The file is read once
into a private temporary copy while its sha256 is checked, and the model loads that copy: the
weights loaded are the bytes that were verified, even if the file is replaced meanwhile. See
`tfflows.zoo.weights` for the details (temporary files, errors).

Presets are the package's (`tfflows.zoo_presets`, the checkout's `zoo/`) and those of the
zoo folders `$TFFLOWS_ZOO` names (os.pathsep-separated), which come first: a preset
published with `python -m tfflows.zoo.publish ... --zoo-dir DIR` loads with
`TFFLOWS_ZOO=DIR`. Video presets (VideoFlow) predict frames (`predict_frames`) instead of
sampling; `tfflows.zoo.predictions` draws their futures.
"""

from tfflows.zoo.registry import Preset, check_batch, check_inputs, get, names
from tfflows.zoo.weights import (
    WeightsError,
    cache_root,
    resolve_weights,
    sha256_file,
    verified_copy,
)


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
      path: an explicit weights file, of any name (checked against the preset's sha256 too).
      progress: show a progress bar while downloading.

    Raises:
      WeightsError: no weights found, a sha256 mismatch, a URL other than https:// or
        file://, or a cache or temporary folder that cannot be written; the message says
        what to do.
    """
    from tfflows.models.registry import build_model

    preset = get(name)
    model = build_model(preset.spec["model"])
    if weights:
        w = preset.weights
        with verified_copy(
            name,
            w["file"],
            w["sha256"],
            shipped_dir=preset.directory,
            url=w.get("url"),
            path=path,
            progress=progress,
        ) as file:
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
    "verified_copy",
]
