"""Binarised grey-level images (tfflows.data.binarization) on small synthetic arrays: the
draws' probabilities and seeds, the binarized_mnist source, and the trainer's
augment="binarize" (a fresh draw per example per epoch) feeding a Bernoulli VAE."""

import keras
import numpy as np
import pytest

import tfflows
from tfflows import data
from tfflows.data import load_source
from tfflows.data.binarization import binarize
from tfflows.models import VAE
from tfflows.training.config import TrainConfig
from tfflows.training.feed import DataFeed, as_splits


def test_pixels_are_drawn_with_their_grey_level_as_probability():
    grey = np.tile(np.array([0, 51, 128, 255], np.uint8), (3000, 1))  # p = 0, .2, ~.5, 1
    drawn = binarize(grey, seed=1)
    assert drawn.dtype == np.float32 and set(np.unique(drawn)) == {0.0, 1.0}
    np.testing.assert_allclose(drawn.mean(0), [0.0, 0.2, 128 / 255, 1.0], atol=0.03)
    floats = binarize(np.full((3000, 2), 0.7, np.float32), seed=1)
    assert abs(floats.mean() - 0.7) < 0.03


def test_a_draw_depends_on_seed_epoch_and_example_not_on_the_batch():
    grey = np.random.default_rng(0).integers(0, 256, (10, 16), dtype=np.uint8)
    whole = binarize(grey, seed=3, epoch=2)
    np.testing.assert_array_equal(binarize(grey[[7, 2]], 3, 2, ids=[7, 2]), whole[[7, 2]])
    np.testing.assert_array_equal(binarize(grey, 3, 2), whole)
    assert np.any(binarize(grey, 3, 3) != whole)  # another epoch, another draw
    assert np.any(binarize(grey, 4, 2) != whole)  # another seed
    with pytest.raises(ValueError, match="0..255"):
        binarize(np.array([[300]]))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        binarize(np.array([[1.5]]))
    with pytest.raises(ValueError, match="ids"):
        binarize(grey, ids=[0])


@pytest.fixture
def tiny_mnist(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(
        path,
        x_train=rng.integers(0, 256, (24, 4, 4), dtype=np.uint8),
        y_train=rng.integers(0, 10, 24).astype(np.uint8),
        x_test=rng.integers(0, 256, (6, 4, 4), dtype=np.uint8),
        y_test=rng.integers(0, 10, 6).astype(np.uint8),
    )
    return path


def test_the_source_binarises_the_test_split_once_with_its_seed(tiny_mnist):
    splits = load_source(f"binarized_mnist:path={tiny_mnist},seed=5")
    assert splits.train_x.shape == (24, 4, 4, 1) and splits.train_x.dtype == np.uint8
    assert splits.test_x.shape == (6, 4, 4, 1) and set(np.unique(splits.test_x)) <= {0.0, 1.0}
    again = load_source(f"binarized_mnist:path={tiny_mnist},seed=5")
    np.testing.assert_array_equal(again.test_x, splits.test_x)
    by_function = data.binarized_mnist(tiny_mnist, seed=5)
    np.testing.assert_array_equal(by_function.test_x, splits.test_x)
    np.testing.assert_array_equal(by_function.train_x, splits.train_x)
    other_seed = data.binarized_mnist(tiny_mnist, seed=6).test_x
    assert not np.array_equal(other_seed, splits.test_x)
    assert len(splits.test_y) == 6
    with pytest.raises(ValueError, match="path="):
        load_source("binarized_mnist:seed=1")
    with pytest.raises(ValueError, match="takes path"):
        load_source(f"binarized_mnist:path={tiny_mnist},bits=3")


def test_the_trainer_draws_each_example_afresh_each_epoch(tiny_mnist, tmp_path):
    splits = load_source(f"binarized_mnist:path={tiny_mnist}")
    model = VAE((4, 4, 1), 2, hidden_units=(8,))
    with pytest.raises(ValueError, match="augment='binarize'"):
        DataFeed(model, as_splits(splits), batch_size=8)
    feed = DataFeed(model, as_splits(splits), batch_size=8, seed=1, augment="binarize")
    per_epoch = feed.steps_per_epoch
    first, _ = feed.batch(0)
    assert set(np.unique(first)) <= {0.0, 1.0}
    np.testing.assert_array_equal(feed.batch(0)[0], first)  # a resumed run sees the same
    ids = feed.order.batch_indices(0)
    later = [s for s in range(per_epoch, 2 * per_epoch) if ids[0] in feed.order.batch_indices(s)]
    row = list(feed.order.batch_indices(later[0])).index(ids[0])
    assert np.any(feed.batch(later[0])[0][row] != first[0])  # epoch 1: a new draw
    keras.utils.set_random_seed(0)
    config = TrainConfig(
        steps=4,
        batch_size=8,
        augment="binarize",
        out_dir=str(tmp_path / "run"),
        xla=False,
        progress=False,
        samples=0,
    )
    summary = tfflows.train(model, splits, config=config).summary
    assert summary["steps"] == 4 and np.isfinite(summary["test"]["negative_elbo"])
