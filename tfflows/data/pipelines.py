"""Streaming tf.data pipelines from numpy arrays, image folders and tensorflow-datasets.

The in-memory loaders (npz files, `load_source`'s train/test splits) are in
`tfflows.data.sources`.
"""

import os
import pathlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfflows.data.validation import check_array

AUTOTUNE = tf.data.AUTOTUNE


def _batched(ds, batch_size, shuffle, seed, buffer, drop_remainder):
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def from_numpy(
    x: np.ndarray,
    y: np.ndarray | None = None,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = False,
    event_shape: Sequence[int] | None = None,
    num_bits: int | None = 8,
) -> tf.data.Dataset:
    """A shuffled, batched, prefetched data set of (x) or (x, y) from arrays.

    `x` is validated first (see `check_array`); uint8 stays uint8 (models dequantize).
    """
    x = check_array(x, event_shape=event_shape, num_bits=num_bits)
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} examples but y has {len(y)} labels")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    return _batched(ds, batch_size, shuffle, seed, min(len(x), 50_000), drop_remainder)


def from_image_folder(
    directory: str | os.PathLike,
    image_size: Sequence[int] | None = None,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    labels: str | None = None,
    color_mode: str = "rgb",
) -> tf.data.Dataset:
    """Images under `directory` (any depth; png, jpg, bmp, gif) as uint8 batches.

    Uses `keras.utils.image_dataset_from_directory`. `labels="inferred"` yields
    (images, class index) with one class per sub-folder; None yields images only.
    `image_size` (height, width) resizes every image; None takes the size of the first image.
    """
    import keras

    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise ValueError(f"image folder {directory} does not exist")
    files = [
        p
        for p in directory.rglob("*")
        if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif")
    ]
    if not files:
        raise ValueError(f"image folder {directory} holds no images (png, jpg, bmp, gif)")
    if image_size is None:
        from PIL import Image

        with Image.open(files[0]) as first:
            image_size = (first.height, first.width)
    ds = keras.utils.image_dataset_from_directory(
        str(directory),
        labels=labels,
        color_mode=color_mode,
        image_size=tuple(image_size),
        batch_size=None,
        shuffle=False,
        interpolation="bilinear",
        verbose=False,
    )

    def to_uint8(*item):
        image = tf.cast(tf.clip_by_value(tf.round(item[0]), 0.0, 255.0), tf.uint8)
        return image if len(item) == 1 else (image, item[1])

    ds = ds.map(to_uint8, num_parallel_calls=AUTOTUNE)
    return _batched(ds, batch_size, shuffle, seed, 10_000, False)


def from_tfds(
    name: str,
    split: str = "train",
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    image_key: str = "image",
    label_key: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """A tensorflow-datasets data set (e.g. "mnist", "celeb_a") as uint8 image batches.

    This is the real `tfds.load` path; `download=False` by default because machines without
    internet must find the prepared data in `data_dir` (tests use `tfds.testing.mock_data`).
    `label_key` (e.g. "label") makes it yield (images, labels).
    """
    import tensorflow_datasets as tfds

    ds = tfds.load(name, split=split, data_dir=data_dir, download=download, shuffle_files=shuffle)

    def pick(example):
        image = tf.cast(example[image_key], tf.uint8)
        return image if label_key is None else (image, example[label_key])

    ds = ds.map(pick, num_parallel_calls=AUTOTUNE)
    if ds.cardinality() == 0:
        raise ValueError(f"tfds data set {name!r} split {split!r} is empty")
    return _batched(ds, batch_size, shuffle, seed, 10_000, False)
