"""Validation split, best weights, early stopping and flips (what the zoo runs use)."""

import json

import numpy as np
import pytest

from tfflows import models
from tfflows.training import evaluate_model, train
from tfflows.training.batches import flip_horizontally
from tfflows.training.selection import Selection, carve_validation

TINY = dict(levels=2, steps_per_level=1, hidden_channels=8)


def pixels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)


def test_flips_mirror_about_half_the_batch_the_same_way_at_the_same_step():
    x = pixels(64)
    a, b = flip_horizontally(x, 0, 5), flip_horizontally(x, 0, 5)
    np.testing.assert_array_equal(a, b)
    flipped = np.array([not np.array_equal(a[i], x[i]) for i in range(64)])
    assert 16 < flipped.sum() < 48
    np.testing.assert_array_equal(a[flipped], x[flipped][:, :, ::-1])
    np.testing.assert_array_equal(a[~flipped], x[~flipped])
    assert not np.array_equal(flip_horizontally(x, 0, 6), a)  # another step, other flips
    with pytest.raises(ValueError, match="image batches"):
        flip_horizontally(np.zeros((4, 3)), 0, 0)


def test_the_validation_split_is_every_kth_training_example():
    x, y = np.arange(20)[:, None], np.arange(20)
    tx, ty, vx, vy = carve_validation(x, y, 5)
    np.testing.assert_array_equal(vx[:, 0], [4, 9, 14, 19])
    np.testing.assert_array_equal(vy, [4, 9, 14, 19])
    assert len(tx) == 16 and not set(tx[:, 0]) & set(vx[:, 0])


def test_selection_keeps_the_best_counts_stale_epochs_and_survives_a_resume(tmp_path):
    sel = Selection(tmp_path / "best.json")
    for step, score in [(10, 3.0), (20, 2.9), (30, 2.95)]:
        sel.update(step, step / 10, {"bits_per_dim": score}, None)
        sel.commit()
    assert sel.step == 20 and sel.stale_epochs == 1 and not sel.exhausted(2)
    again = Selection.load(tmp_path)
    assert not again.update(30, 3, {"bits_per_dim": 2.0}, None)  # already counted
    again.update(40, 4, {"bits_per_dim": 2.96}, None)
    assert again.best == 2.9 and again.stale_epochs == 2 and again.exhausted(2)


def test_training_keeps_the_best_validation_weights_and_stops_on_patience(tmp_path):
    out = tmp_path / "run"
    x = pixels(100)
    # A learning rate of 0 leaves the weights as they are: every epoch scores the same,
    # which is never better, so patience 2 stops after epoch 3 (1 best + 2 stale).
    settings = dict(
        test_data=pixels(10, seed=1),
        out_dir=str(out),
        epochs=10,
        batch_size=10,
        learning_rate=0.0,
        validation_every=5,
        patience=2,
        augment="flip",
        progress=False,
    )
    summary = train(models.for_data("glow", x, **TINY), x, **settings).summary
    assert summary["stopped_by_patience"] and summary["steps"] == 3 * 8  # 80 train / 10
    best = json.loads((out / "best.json").read_text())
    assert best["step"] == 8 and best["stale_epochs"] == 2
    model = models.build_model(json.loads((out / "model.json").read_text()))
    model.load_weights(out / "best.weights.h5")
    held_out = x[np.arange(100) % 5 == 4]
    again = evaluate_model(model, held_out, batch_size=500)
    np.testing.assert_allclose(again["bits_per_dim"], best["validation"]["bits_per_dim"], rtol=1e-6)
    assert best["validation"]["examples"] == 20
    # Resuming a run that stopped on patience trains no further.
    resumed = train(models.for_data("glow", x, **TINY), x, **settings)
    assert resumed.summary["steps_this_run"] == 0 and resumed.summary["stopped_by_patience"]


def test_flip_is_refused_for_vectors(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    with pytest.raises(ValueError, match="augment='flip' is for images"):
        train(models.for_data("realnvp", x), x, out_dir=str(tmp_path), steps=1, augment="flip")


def test_train_trains_the_model_it_is_given(tmp_path):
    """On one device the caller's model is trained in place (no silent copy)."""
    x = pixels(40)
    model = models.for_data("glow", x, **TINY)
    before = [w.numpy().copy() for w in model.trainable_weights]
    result = train(model, x, out_dir=str(tmp_path), steps=2, batch_size=10, progress=False)
    assert result.model is model
    changed = zip(before, model.trainable_weights, strict=True)
    assert any(not np.array_equal(b, w.numpy()) for b, w in changed)


def test_xla_settings_are_checked():
    from tfflows.training import TrainConfig

    assert TrainConfig(xla="off").xla is False and TrainConfig(xla="on").xla is True
    with pytest.raises(ValueError, match="xla must be"):
        TrainConfig(xla="fast")
