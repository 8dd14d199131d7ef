"""The presets: `zoo/<name>/preset.json` in the repository, shipped in the package as
`tfflows.zoo_presets` (see setup.py), each beside its weights and model card.

`$TFFLOWS_ZOO` names more zoo folders (separated by `os.pathsep`), searched before the shipped
one: a preset published elsewhere (`python -m tfflows.zoo.publish ... --zoo-dir DIR`) loads
from DIR with `TFFLOWS_ZOO=DIR`, and takes the place of a shipped preset of the same name.

preset.json:
  name, description, model (a `tfflows.models.model_config`), weights {file, sha256, url},
  metrics (measured numbers), check (below), data, license, commands {train, eval}.

check: the log_prob of a fixed batch, which pins the weights (the zoo tests recompute it).
The batch must lie where the model has its data, so that its log-probs are moderate numbers
that every thread partitioning of the reductions reproduces to float32 precision (a batch far
outside the data, e.g. uniform random pixels for a MAF on MNIST, scores about -1e18, and
those values changed by 3e-5 relative with the machine's load). `check_inputs` rebuilds it.
  {"kind": "samples", "n", "seed", "temperature", "dtype", "shape", "data", "log_prob"}:
      the model's own samples (seed, temperature 0.5) as the data stores them (uint8 pixels
      for image models), in `data` as base64 of the raw bytes (C order, little-endian).
      Image presets.
  {"kind": "two_moons", "n", "seed", "log_prob"}: `tfflows.data.toy_data.two_moons(n, seed=seed)`.
  {"kind": "normal", "n", "seed", "log_prob"}: standard normal vectors (numpy's seeded
      generator), for 2-D presets whose density covers them (planar_u1..u4).
  {"kind": "stochastic_shapes", "n", "seed", "num_frames", "log_prob"}: video presets:
      `tfflows.data.video.stochastic_shapes(n, num_frames, size, seed)` at the model's frame
      size, regenerated, not stored (4 videos of 3 frames at 32 x 32 would be 49 KB of
      base64). The generator is numpy only (integer draws, float64 geometry), so the batch
      is the same on every machine; a change to its drawing fails the check, as it should:
      the preset's measured numbers were taken on those pictures.
  {"kind": "pixels", ...}: uniform random uint8 pixels; read for old presets, no longer
      written (far outside the data).
VAE presets: "samples" holds the VAE's own samples made binary (pixel probabilities > 0.5,
uint8) for a Bernoulli VAE, with "labels" for a conditional one, and "log_prob" holds their
ELBO at the stateless seed `seed` (a VAE has no exact log_prob: `check_values` says so).
Audio presets: a WaveNet's check is "samples" (its own clips, float32 [n, length]) with
"labels" (one per clip) for a model with `num_classes`; a Parallel WaveNet student's is
  {"kind": "student_samples", "n", "length", "seed", "labels", "log_prob"}: the log-density
      of the student's own samples from that seed, `sample_and_log_prob(n, length, seed,
      labels)`, regenerated (scoring other clips is sequential for a student, and its noise
      is drawn with Philox, the same on every machine). `check_values` computes any kind's
      values.
"""

import base64
import dataclasses
import importlib.resources
import json
import os
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


def extra_roots() -> list[pathlib.Path]:
    """The zoo folders named by `$TFFLOWS_ZOO` (os.pathsep-separated), in order."""
    value = os.environ.get("TFFLOWS_ZOO", "")
    return [pathlib.Path(p) for p in value.split(os.pathsep) if p]


def _all():
    found = {}
    # The shipped presets first, so that a folder of $TFFLOWS_ZOO replaces a name; an
    # earlier folder of $TFFLOWS_ZOO wins over a later one.
    for root in [presets_root(), *reversed(extra_roots())]:
        for spec_file in sorted(root.glob("*/preset.json")):
            spec = json.loads(spec_file.read_text())
            found[spec["name"]] = Preset(spec["name"], spec_file.parent, spec)
    return found


def names():
    return sorted(_all())


def get(name):
    presets = _all()
    if name not in presets:
        from tfflows.hints import did_you_mean

        raise ValueError(
            f"unknown zoo model {name!r}"
            + did_you_mean(str(name), presets, "{!r}")
            + f"; available: {', '.join(sorted(presets))}"
        )
    return presets[name]


GENERATED_KINDS = ("two_moons", "normal", "pixels", "stochastic_shapes")
STORED_DTYPES = ("uint8", "float32")


def is_audio(model) -> bool:
    """Whether `model` takes audio clips [N, T] (its example shape (None,))."""
    return tuple(model.data_shape) == (None,)


def check_condition(check) -> np.ndarray | None:
    """The labels a check entry scores its batch with (None for unconditional models)."""
    labels = check.get("labels")
    return None if labels is None else np.asarray(labels, np.int32)


def is_vae(model) -> bool:
    """Whether `model` is a VAE (scored by its ELBO, not an exact log_prob)."""
    return callable(getattr(model, "elbo", None)) and hasattr(model, "latent_dim")


def check_values(model, check) -> np.ndarray:
    """What a check entry's "log_prob" holds, recomputed from `model` (a VAE's ELBO)."""
    if is_vae(model):
        x = check_inputs(model, check)
        return np.asarray(model.elbo(x, check_condition(check), seed=check["seed"]))
    if check["kind"] == "student_samples":
        _, log_prob = model.sample_and_log_prob(
            check["n"], check["length"], check["seed"], check_condition(check)
        )
        return np.asarray(log_prob)
    return np.asarray(model.log_prob(check_inputs(model, check), check_condition(check)))


def is_video(model) -> bool:
    """Whether `model` takes videos [N, T, H, W, C] (its example shape (None, H, W, C))."""
    shape = tuple(model.data_shape)
    return len(shape) == 4 and shape[0] is None


def check_batch(model, kind: str, n: int, seed: int, num_frames: int | None = None) -> np.ndarray:
    """A generated check batch (see the module doc): "two_moons" points, "normal" vectors
    or "pixels" (uniform uint8), from numpy's seeded generator, or "stochastic_shapes"
    videos of `num_frames` frames for a video model. A "samples" batch is stored in the
    preset: use `check_inputs(model, preset.spec["check"])`."""
    if kind == "stochastic_shapes":
        return _shapes_batch(model, n, seed, num_frames)
    if is_video(model):
        raise ValueError(
            f'a video model\'s check batch is "stochastic_shapes" videos, not {kind!r}'
        )
    rng = np.random.default_rng(seed)
    if kind == "pixels":
        return rng.integers(0, 256, (n, *model.data_shape), dtype=np.uint8)
    if kind == "normal":
        return rng.normal(size=(n, *model.data_shape)).astype(np.float32)
    if kind == "two_moons":
        from tfflows.data.toy_data import two_moons

        return two_moons(n, seed=seed)
    if kind == "samples":
        raise ValueError(
            'a "samples" check batch is stored in the preset: use check_inputs(model, check)'
        )
    raise ValueError(
        f"unknown check batch kind {kind!r}; known: samples, {', '.join(GENERATED_KINDS)}"
    )


def _shapes_batch(model, n, seed, num_frames):
    if not is_video(model):
        raise ValueError(
            f'a "stochastic_shapes" check batch is for video models, but this model takes '
            f"examples of shape {tuple(model.data_shape)}"
        )
    height, width, channels = model.data_shape[1:]
    if height != width or channels != 3:
        raise ValueError(
            f"stochastic_shapes makes square RGB frames, but this model's frames are "
            f"{(height, width, channels)}: pick another check kind"
        )
    if num_frames is None:
        raise ValueError('a "stochastic_shapes" check batch needs num_frames')
    from tfflows.data.video import stochastic_shapes

    return stochastic_shapes(n, num_frames=num_frames, size=height, seed=seed)


def encode_batch(batch):
    """The "samples" check fields that store `batch` (uint8 or float32): dtype, shape, data."""
    batch = np.ascontiguousarray(batch)
    if batch.dtype.name not in STORED_DTYPES:
        raise ValueError(f"a stored check batch is {' or '.join(STORED_DTYPES)}, not {batch.dtype}")
    data = base64.b64encode(batch.astype(batch.dtype.newbyteorder("<")).tobytes())
    return {"dtype": batch.dtype.name, "shape": list(batch.shape), "data": data.decode("ascii")}


def check_inputs(model, check):
    """The batch of a preset's `check` entry (a dict from preset.json), for `model`."""
    if check["kind"] != "samples":
        frames = check.get("num_frames")
        return check_batch(model, check["kind"], check["n"], check["seed"], frames)
    dtype, shape = check["dtype"], tuple(check["shape"])
    fits = len(shape) == len(model.data_shape) + 1 and all(
        want is None or have == want for have, want in zip(shape[1:], model.data_shape, strict=True)
    )
    if dtype not in STORED_DTYPES or not fits:
        raise ValueError(
            f"the stored check batch is {dtype} {list(shape)}; the model takes "
            f"{' or '.join(STORED_DTYPES)} [n, {', '.join(map(str, model.data_shape))}]"
        )
    raw = base64.b64decode(check["data"], validate=True)
    little = np.dtype(dtype).newbyteorder("<")
    return np.frombuffer(raw, dtype=little).reshape(shape).astype(dtype)
