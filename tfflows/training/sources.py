"""Training data from a source name: an npz file, an image folder, or `tfds:NAME`.

Everything is loaded into memory as numpy arrays: the trainer then decides the order of
examples itself (see `batches.py`), which is what makes an interrupted run resume on the very
batch it would have read next. Data sets that do not fit in memory are out of scope here.
"""

import dataclasses
import os
import pathlib

import numpy as np

from tfflows.data.pipelines import from_image_folder


@dataclasses.dataclass
class Splits:
    train_x: np.ndarray
    test_x: np.ndarray | None = None
    train_y: np.ndarray | None = None
    test_y: np.ndarray | None = None
    description: str = ""


def _with_channel_axis(x):
    # Grayscale image sets (MNIST) store [N, H, W]; image models want [N, H, W, 1].
    return x[..., None] if x.ndim == 3 and np.issubdtype(x.dtype, np.integer) else x


def split_every(n, test_every, ids=None):
    """Boolean test mask: examples whose id (or index) is divisible by `test_every`."""
    keys = np.arange(n) if ids is None else np.asarray(ids)
    return keys % test_every == 0


def load_source(spec, test_every=10):
    """Loads a data source into `Splits`.

    - `path.npz`: arrays `x_train`/`x_test` (and `y_train`/`y_test`) when present;
      otherwise `x` (and `y`) split into test = every example whose id is divisible by
      `test_every`, the id being an integer array named `*_id` (CelebA's `celeba_id`) or the
      index.
    - a folder of images (sub-folders are classes): test = every `test_every`-th image.
    - `tfds:NAME` (e.g. `tfds:mnist`): the prepared tensorflow-datasets splits "train" and
      "test" from `TFDS_DATA_DIR` (never downloaded here).
    """
    spec = str(spec)
    if spec.startswith("tfds:"):
        return _load_tfds(spec[len("tfds:") :])
    path = pathlib.Path(spec)
    if path.is_dir():
        return _load_folder(path, test_every)
    if not path.exists():
        raise ValueError(f"data source {spec!r} is not a file, a folder or tfds:NAME")
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


def _load_folder(path, test_every):
    ds = from_image_folder(path, batch_size=256, shuffle=False, labels="inferred")
    xs, ys = [], []
    for images, labels in ds.as_numpy_iterator():
        xs.append(images)
        ys.append(labels)
    x, y = np.concatenate(xs), np.concatenate(ys)
    test = split_every(len(x), test_every)
    return Splits(x[~test], x[test], y[~test], y[test], f"{path}: test = every {test_every}th")


def _load_tfds(name):
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
