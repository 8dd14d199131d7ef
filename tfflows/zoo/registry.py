"""The presets: `zoo/<name>/preset.json` in the repository, shipped in the package as
`tfflows.zoo_presets` (see setup.py), each beside its weights and model card.

preset.json:
  name, description, model (a `tfflows.models.model_config`), weights {file, sha256, url},
  metrics (measured numbers), check {kind, n, seed, log_prob} (log_prob of a fixed batch,
  pinning the weights), data, license, commands {train, eval}.
"""

import dataclasses
import importlib.resources
import json
import pathlib

import numpy as np


@dataclasses.dataclass
class Preset:
    name: str
    directory: pathlib.Path
    spec: dict

    @property
    def weights(self):
        return self.spec["weights"]

    @property
    def card(self):
        return self.directory / "README.md"


def presets_root():
    return pathlib.Path(str(importlib.resources.files("tfflows.zoo_presets")))


def _all():
    root = presets_root()
    found = {}
    for spec_file in sorted(root.glob("*/preset.json")):
        spec = json.loads(spec_file.read_text())
        found[spec["name"]] = Preset(spec["name"], spec_file.parent, spec)
    return found


def names():
    return sorted(_all())


def get(name):
    presets = _all()
    if name not in presets:
        raise ValueError(f"unknown zoo model {name!r}; available: {', '.join(sorted(presets))}")
    return presets[name]


def check_batch(model, kind, n, seed):
    """The fixed batch whose log_prob a preset stores: uint8 pixels ("pixels") or standard
    normal vectors ("normal"), from numpy's seeded generator."""
    rng = np.random.default_rng(seed)
    if kind == "pixels":
        return rng.integers(0, 256, (n, *model.data_shape), dtype=np.uint8)
    if kind == "normal":
        return rng.normal(size=(n, *model.data_shape)).astype(np.float32)
    raise ValueError(f"unknown check batch kind {kind!r}")
