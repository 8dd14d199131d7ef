"""Data sets in memory, as numpy arrays: `load_source` reads a source name (an npz file, an
image folder, or `tfds:NAME`) into train and test `Splits`; `load_npz` reads one array.

Everything is loaded into memory: the trainer then decides the order of examples itself (see
`tfflows.training.batches`), which is what makes an interrupted run resume on the very batch
it would have read next. Data sets that do not fit in memory are out of scope here; the
streaming `tf.data` pipelines are in `tfflows.data.pipelines`.
"""

import dataclasses
import os
import pathlib

import numpy as np

from tfflows.data.pipelines import from_image_folder
from tfflows.hints import did_you_mean

# The generated video sources (`tfflows.data.video.GENERATORS`, which imports this module).
_GENERATED = ("stochastic_shapes", "moving_mnist")


@dataclasses.dataclass
class Splits:
    """A data set's train and test examples (and labels), and how the test split was made."""

    train_x: np.ndarray
    test_x: np.ndarray | None = None
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    description: str = ""


def _with_channel_axis(x: np.ndarray) -> np.ndarray:
    # Grayscale image sets (MNIST) store [N, H, W]; image models want [N, H, W, 1].
    return x[..., None] if x.ndim == 3 and np.issubdtype(x.dtype, np.integer) else x


def split_every(n: int, test_every: int, ids: np.ndarray | None = None) -> np.ndarray:
    """Boolean test mask: examples whose id (or index) is divisible by `test_every`."""
    keys = np.arange(n) if ids is None else np.asarray(ids)
    return keys % test_every == 0


def load_source(spec: str | os.PathLike, test_every: int = 10) -> Splits:
    """Loads a data source into `Splits`.

    - `path.npz`: arrays `x_train`/`x_test` (and `y_train`/`y_test`) when present;
      otherwise `x` (and `y`) split into test = every example whose id is divisible by
      `test_every`, the id being an integer array named `*_id` (CelebA's `celeba_id`) or the
      index.
    - a folder of images (sub-folders are classes): test = every `test_every`-th image.
    - `tfds:NAME` (e.g. `tfds:mnist`): the prepared tensorflow-datasets splits "train" and
      "test" from `TFDS_DATA_DIR` (never downloaded here).
    - generated videos: `stochastic_shapes:num_videos=10000,num_frames=3,size=32` or
      `moving_mnist:path=mnist.npz,...` (see `tfflows.data.video.video_source`).
    - spoken digits: `fsdd:path=fsdd.npz,length=4096` (see `tfflows.data.audio.fsdd`).
    - binarised MNIST: `binarized_mnist:path=mnist.npz,seed=0` (see
      `tfflows.data.binarization`; train with augment="binarize").
    """
    spec = str(spec)
    if spec.startswith("binarized_mnist:"):
        from tfflows.data.binarization import binarized_mnist_source  # it imports sources

        return binarized_mnist_source(spec)
    if spec.startswith("fsdd:"):
        from tfflows.data.audio import fsdd_source

        return fsdd_source(spec)
    if spec.partition(":")[0] in _GENERATED:
        from tfflows.data.video import video_source  # video imports sources: import here

        return video_source(spec)
    if spec.startswith("tfds:"):
        return _load_tfds(spec[len("tfds:") :])
    path = pathlib.Path(spec)
    if path.is_dir():
        return _load_folder(path, test_every)
    if not path.exists():
        raise ValueError(
            f"data source {spec!r} is not a file, a folder, tfds:NAME or generated videos "
            f"({', '.join(g + ':...' for g in _GENERATED)})"
            + did_you_mean(spec.partition(":")[0], _GENERATED, "{}:...")
        )
    if path.suffix != ".npz":
        raise ValueError(f"data file {path} is not an .npz file")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    if "x_train" in arrays:
        return Splits(
            _with_channel_axis(arrays["x_train"]),
            _with_channel_axis(arrays["x_test"]) if "x_test" in arrays else None,
            arrays.get("y_train"),
            arrays.get("y_test"),
            f"{path.name}: x_train / x_test",
        )
    if "x" not in arrays:
        raise ValueError(f"{path} has neither x_train nor x; it has {sorted(arrays)}")
    x, y = _with_channel_axis(arrays["x"]), arrays.get("y")
    id_keys = [k for k in sorted(arrays) if k.endswith("_id")]
    ids = arrays[id_keys[0]] if id_keys else None
    test = split_every(len(x), test_every, ids)
    rule = f"{id_keys[0] if id_keys else 'index'} % {test_every} == 0"
    return Splits(
        x[~test],
        x[test],
        None if y is None else y[~test],
        None if y is None else y[test],
        f"{path.name}: test = {rule}",
    )


def _load_folder(path: pathlib.Path, test_every: int) -> Splits:
    ds = from_image_folder(path, batch_size=256, shuffle=False, labels="inferred")
    xs, ys = [], []
    for images, labels in ds.as_numpy_iterator():
        xs.append(images)
        ys.append(labels)
    x, y = np.concatenate(xs), np.concatenate(ys)
    test = split_every(len(x), test_every)
    return Splits(x[~test], x[test], y[~test], y[test], f"{path}: test = every {test_every}th")


def _load_tfds(name: str) -> Splits:
    import tensorflow_datasets as tfds

    data_dir = os.environ.get("TFDS_DATA_DIR")
    out = {}
    for split in ("train", "test"):
        try:
            arrays = tfds.as_numpy(
                tfds.load(name, split=split, batch_size=-1, data_dir=data_dir, download=False)
            )
        except ValueError:
            if split == "train":
                raise
            continue
        out[split] = arrays
    train, test = out["train"], out.get("test")
    return Splits(
        _with_channel_axis(np.asarray(train["image"])),
        None if test is None else _with_channel_axis(np.asarray(test["image"])),
        train.get("label"),
        None if test is None else test.get("label"),
        f"tfds {name}: train / test",
    )


def load_npz(path: str | os.PathLike, key: str = "x") -> np.ndarray:
    """One array from an npz file (no pickle), with a clear error for a missing key."""
    with np.load(path, allow_pickle=False) as archive:
        if key not in archive:
            raise ValueError(f"{path} has no array {key!r}; it has {sorted(archive.files)}")
        return archive[key]
