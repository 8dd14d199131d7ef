"""Binarised grey-level images (binarised MNIST): each pixel a Bernoulli draw with its grey
level as probability, drawn afresh every epoch for training (dynamic binarisation) and once
with a fixed seed for evaluation (static binarisation)."""

import numpy as np

from tfflows.data.sources import Splits, _with_channel_axis


def grey_levels(x: np.ndarray, name: str = "x") -> np.ndarray:
    """The pixels' probabilities as float32 in [0, 1]: uint8 (or other integer) pixels / 255,
    floats as they are. ValueError for values outside 0..255 or [0, 1], or non-numbers."""
    a = np.asarray(x)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"{name}: pixel values in [{a.min()}, {a.max()}], outside 0..255")
        return a.astype(np.float32) / 255.0
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be numeric grey levels, got dtype {a.dtype}")
    if a.size and not (np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0):
        raise ValueError(f"{name}: float grey levels must be finite and in [0, 1]")
    return a.astype(np.float32)


def binarize(x: np.ndarray, seed: int = 0, epoch: int = 0, ids=None) -> np.ndarray:
    """x_bin[i] ~ Bernoulli(x[i] / 255) (or x[i] for floats in [0, 1]), float32 0/1.

    Example i's draw depends only on (seed, epoch, ids[i]) (ids default to 0..N-1), not on
    the batch it is in: the trainer's `augment="binarize"` gives every training example a new
    draw each epoch, the same one however the run is batched or resumed; `epoch=0` with a
    fixed seed is the static binarisation of an evaluation set.
    """
    p = grey_levels(x)
    ids = np.arange(len(p)) if ids is None else np.asarray(ids)
    if len(ids) != len(p):
        raise ValueError(f"binarize: {len(ids)} ids for {len(p)} examples")
    u = (
        np.stack(
            [
                np.random.default_rng((int(seed), int(epoch), int(i))).random(p.shape[1:])
                for i in ids
            ]
        )
        if len(p)
        else np.zeros(p.shape)
    )
    return (u < p).astype(np.float32)


def binarized_mnist_source(spec: str) -> Splits:
    """`binarized_mnist:path=mnist.npz,seed=0`: MNIST's x_train as grey levels [N, 28, 28, 1]
    uint8 (train with `augment="binarize"`: a fresh Bernoulli draw per example per epoch)
    and x_test statically binarised with `seed` (float32 0/1), with their labels."""
    options = {}
    for part in filter(None, spec.partition(":")[2].split(",")):
        key, sep, value = part.partition("=")
        if not sep or key not in ("path", "seed"):
            raise ValueError(f"binarized_mnist takes path=... and seed=..., got {part!r}")
        options[key] = value
    if "path" not in options:
        raise ValueError("binarized_mnist needs path=mnist.npz (arrays x_train, x_test)")
    seed = int(options.get("seed", 0))
    with np.load(options["path"], allow_pickle=False) as archive:
        missing = {"x_train", "x_test"} - set(archive.files)
        if missing:
            raise ValueError(f"{options['path']} lacks {sorted(missing)}")
        arrays = {k: archive[k] for k in archive.files}
    test = _with_channel_axis(arrays["x_test"])
    return Splits(
        _with_channel_axis(arrays["x_train"]),
        binarize(test, seed),
        arrays.get("y_train"),
        arrays.get("y_test"),
        f"binarized MNIST: train dynamically binarised, test statically (seed {seed})",
    )


def binarized_mnist(path, seed: int = 0) -> Splits:
    """MNIST from `path` (an .npz with x_train, x_test and optionally y_train, y_test) for a
    Bernoulli VAE: `train_x` the grey levels, uint8 [N, 28, 28, 1] (binarise them afresh
    each epoch: `tfflows.train(..., augment="binarize")`, or `binarize(x, epoch=e)` for
    Keras `fit`), `test_x` statically binarised with `seed`, float32 0/1. The same as the
    data source `binarized_mnist:path=...,seed=...`."""
    return binarized_mnist_source(f"binarized_mnist:path={path},seed={int(seed)}")
