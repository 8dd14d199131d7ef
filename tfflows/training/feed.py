"""A run's data for one model: checked splits, a held-out validation split, and the global
batch of every step (a pure function of the seed and the step; see `batches.py`)."""

import pathlib

import numpy as np

from tfflows.data.binarization import binarize, grey_levels
from tfflows.data.sources import Splits, load_source
from tfflows.training.batches import BatchOrder, flip_horizontally
from tfflows.training.selection import carve_validation


def as_splits(data, test_data=None) -> Splits:
    """`Splits` from a source (path, "tfds:NAME"), an array, (x, y), or `Splits`;
    `test_data` (an array or (x, y)) replaces the source's test split."""
    if isinstance(data, Splits):
        splits = data
    elif isinstance(data, str | pathlib.Path):
        splits = load_source(data)
    elif isinstance(data, tuple):
        splits = Splits(np.asarray(data[0]), train_y=np.asarray(data[1]))
    else:
        splits = Splits(np.asarray(data))
    if test_data is not None:
        test = test_data if isinstance(test_data, tuple) else (test_data, None)
        splits.test_x = np.asarray(test[0])
        splits.test_y = None if test[1] is None else np.asarray(test[1])
    return splits


def fit_shape(x, shape, name):
    """Flattens images for vector models (and the reverse) when the sizes agree. A None in
    `shape` (a video model's frame count) matches any size."""
    if x is None or _matches(x.shape[1:], shape):
        return x
    if any(d is None for d in shape):
        wanted = ", ".join("T" if d is None else str(d) for d in shape)
        raise ValueError(
            f"{name} examples have shape {tuple(x.shape[1:])}, the model takes ({wanted}) "
            "(T: any length: frames of a video, samples of a clip)"
        )
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape(len(x), *shape)
    raise ValueError(f"{name} examples have shape {x.shape[1:]}, the model takes {shape}")


def _matches(shape, pattern):
    return len(shape) == len(pattern) and all(
        p is None or int(s) == int(p) for s, p in zip(shape, pattern, strict=True)
    )


class DataFeed:
    """The training, validation and test arrays of a run, checked against `model` before
    any step (NaN, pixels outside 0..255, floats outside the model's space, labels outside
    0..num_classes-1 and wrong shapes are named), and the global batch of each step.

    Args:
      model: the model the data is for (its example shape, space, condition).
      splits: the data (see `as_splits`).
      batch_size: the global batch.
      seed: data order and flips.
      validation_every: hold out every k-th training example (see `selection.py`).
      augment: None, "flip" (images mirrored left-right with probability 1/2) or
        "binarize" (grey levels drawn as 0/1 pixels, afresh for every example each epoch:
        `tfflows.data.binarization.binarize`; the test split is used as it is).
    """

    def __init__(self, model, splits, batch_size, seed=0, validation_every=None, augment=None):
        shape = model.data_shape
        train_x = fit_shape(splits.train_x, shape, "training")
        self.test_x = fit_shape(splits.test_x, shape, "test")
        if augment == "binarize":
            grey_levels(train_x, "training data")
            train_x_seen = binarize(train_x[:64], seed)
        else:
            train_x_seen = train_x
        model.check_data(train_x_seen, name="training data")
        if self.test_x is not None and len(self.test_x):
            model.check_data(self.test_x, name="test data")
        conditional = model.condition_shape is not None
        if conditional and splits.train_y is None:
            raise ValueError("the model is conditional but the data has no labels (y)")
        if conditional:
            model.checked_condition(splits.train_y, len(train_x))
            if splits.test_y is not None and self.test_x is not None:
                model.checked_condition(splits.test_y, len(self.test_x))
        train_y = splits.train_y if conditional else None
        self.test_y = splits.test_y if conditional else None
        self.train_x, self.train_y, self.val_x, self.val_y = carve_validation(
            train_x, train_y, validation_every
        )
        if augment == "binarize" and self.val_x is not None:
            self.val_x = binarize(self.val_x, seed)  # static: the same every evaluation
        if augment == "flip" and len(shape) != 3:
            raise ValueError(f"augment='flip' is for images (H, W, C); the data has {shape}")
        self.augment, self.seed = augment, seed
        self.order = BatchOrder(len(self.train_x), batch_size, seed)

    @property
    def steps_per_epoch(self) -> int:
        return self.order.steps_per_epoch

    def batch(self, step: int):
        """(x, y) of the global batch that step `step` trains on (y None if unconditional)."""
        idx = self.order.batch_indices(step)
        x = self.train_x[idx]
        if self.augment == "flip":
            x = flip_horizontally(x, self.seed, step)
        elif self.augment == "binarize":
            x = binarize(x, self.seed, step // self.steps_per_epoch, ids=idx)
        return x, (None if self.train_y is None else self.train_y[idx])

    def test(self, limit=None):
        """(x, y) of the test split (at most `limit` examples), or None."""
        if self.test_x is None or not len(self.test_x):
            return None
        x = self.test_x if limit is None else self.test_x[:limit]
        return x, (None if self.test_y is None else self.test_y[: len(x)])

    def validation(self):
        """(x, y) of the held-out validation split, or None."""
        return None if self.val_x is None else (self.val_x, self.val_y)
