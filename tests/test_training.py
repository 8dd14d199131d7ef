"""tfflows.train: data order, schedules, sources, non-finite losses, EMA, checkpoints."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfflows import data, models
from tfflows.cli import model_to_train
from tfflows.data import load_source
from tfflows.training import (
    BatchOrder,
    NonFiniteLossError,
    TrainConfig,
    Trainer,
    evaluate_model,
    train,
)
from tfflows.training.evaluation import _scorer
from tfflows.training.trainer import _learning_rate
from tfflows.zoo.registry import get as get_preset

TINY_GLOW = dict(levels=2, steps_per_level=2, hidden_channels=8)


def tiny_glow(x, seed=0):
    """A tiny Glow for data like `x`, its initial weights drawn from `seed`."""
    keras.utils.set_random_seed(seed)
    return models.for_data("glow", x, **TINY_GLOW)


def pixels(n, shape=(8, 8, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def test_batch_order_is_a_function_of_the_step_and_covers_each_epoch_once():
    order = BatchOrder(num_examples=50, global_batch=8, seed=3)
    assert order.steps_per_epoch == 6  # 2 examples dropped per epoch
    epoch0 = np.concatenate([order.batch_indices(s) for s in range(6)])
    assert len(set(epoch0.tolist())) == 48
    epoch1 = np.concatenate([order.batch_indices(s) for s in range(6, 12)])
    assert not np.array_equal(epoch0, epoch1)  # reshuffled
    # A fresh object (a resumed run) reads the same batch at the same step.
    np.testing.assert_array_equal(BatchOrder(50, 8, 3).batch_indices(9), order.batch_indices(9))
    assert not np.array_equal(BatchOrder(50, 8, 4).batch_indices(9), order.batch_indices(9))
    with pytest.raises(ValueError, match="fewer than one global batch"):
        BatchOrder(5, 8)


def test_a_replicas_rows_get_the_noise_they_get_in_the_global_batch():
    x = pixels(8)
    whole = data.dequantize(x, 8, seed=(1, 7)).numpy()
    part = data.dequantize(x[4:6], 8, seed=(1, 7), offset=4, global_batch=8).numpy()
    np.testing.assert_array_equal(part, whole[4:6])
    assert not np.array_equal(data.dequantize(x[4:6], 8, seed=(1, 7)).numpy(), whole[4:6])


def test_learning_rate_warmup_then_constant_or_cosine():
    constant = _learning_rate(TrainConfig(learning_rate=1e-3, warmup_steps=10), 100)
    assert float(constant(0)) == 0.0
    np.testing.assert_allclose(float(constant(5)), 5e-4, rtol=1e-6)
    np.testing.assert_allclose([float(constant(s)) for s in (10, 50, 100)], 1e-3, rtol=1e-6)
    cosine = _learning_rate(TrainConfig(learning_rate=1e-3, schedule="cosine"), 100)
    np.testing.assert_allclose(float(cosine(0)), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(float(cosine(50)), 5e-4, rtol=1e-5)
    assert float(cosine(100)) < 1e-9
    assert _learning_rate(TrainConfig(learning_rate=2e-4), 100) == 2e-4


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="loss scaling"):
        TrainConfig(mixed_precision="float16")
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="linear")
    with pytest.raises(ValueError, match="ema"):
        TrainConfig(ema=1.5)
    with pytest.raises(ValueError, match="strategy"):
        Trainer(tiny_glow(pixels(64)), pixels(64), strategy="horovod")


def test_sources_npz_splits_by_id_and_adds_a_channel_axis(tmp_path):
    ids = np.arange(1, 41, dtype=np.int32)
    np.savez(tmp_path / "faces.npz", x=pixels(40), celeba_id=ids)
    s = load_source(tmp_path / "faces.npz")
    assert len(s.test_x) == 4 and len(s.train_x) == 36  # ids 10, 20, 30, 40
    np.testing.assert_array_equal(s.test_x, pixels(40)[ids % 10 == 0])
    gray = np.zeros((20, 28, 28), np.uint8)
    np.savez(tmp_path / "digits.npz", x_train=gray, y_train=np.arange(20), x_test=gray[:5])
    s = load_source(tmp_path / "digits.npz")
    assert s.train_x.shape == (20, 28, 28, 1) and s.test_x.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(s.train_y, np.arange(20))
    with pytest.raises(ValueError, match="neither x_train nor x"):
        np.savez(tmp_path / "bad.npz", images=gray)
        load_source(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="not a file, a folder, tfds:NAME or generated videos"):
        load_source(tmp_path / "missing.npz")


def test_sources_image_folder(tmp_path):
    for k in range(12):
        folder = tmp_path / ("cats" if k % 2 else "dogs")
        folder.mkdir(exist_ok=True)
        Image.fromarray(np.full((6, 6, 3), 20 * k, np.uint8)).save(folder / f"{k}.png")
    s = load_source(tmp_path)
    assert s.train_x.shape[1:] == (6, 6, 3) and len(s.train_x) + len(s.test_x) == 12
    assert len(s.test_x) == 2 and set(np.unique(s.train_y)) == {0, 1}


def test_nan_in_the_data_is_named_before_any_step(tmp_path):
    x = np.random.default_rng(0).normal(size=(64, 2)).astype(np.float32)
    x[37, 1] = np.nan
    with pytest.raises(ValueError, match=r"training data has 1 non-finite values.*\(37, 1\)"):
        train(
            models.for_data("realnvp", x),
            x,
            out_dir=str(tmp_path),
            steps=2,
            batch_size=16,
            progress=False,
        )
    assert not (tmp_path / "checkpoints").exists()


def test_a_non_finite_step_names_the_step_and_layer_and_keeps_the_weights(tmp_path):
    settings = dict(
        out_dir=str(tmp_path), batch_size=16, checkpoint_every=2, progress=False, samples=0
    )
    train(tiny_glow(pixels(64)), pixels(64), steps=4, **settings)
    trainer = Trainer(tiny_glow(pixels(64)), pixels(64), steps=8, resume=False, **settings)
    trainer.restore()
    # exp(100) overflows float32: the second ActNorm's output becomes infinite.
    trainer.model.get_layer("actnorm_0_1").log_scale.assign(np.full(12, 100.0, np.float32))
    before = [w.numpy().copy() for w in trainer.model.weights]
    with pytest.raises(NonFiniteLossError) as error:
        trainer.run()
    message = str(error.value)
    assert error.value.step == 4 and "step 4" in message
    assert "actnorm_0_1 (ActNorm)" in message and "non-finite" in message
    assert error.value.checkpoint.endswith("ckpt-4")
    for w, b in zip(trainer.model.weights, before, strict=True):
        np.testing.assert_array_equal(w.numpy(), b)  # the bad step was not applied
    assert tf.train.latest_checkpoint(str(tmp_path / "checkpoints")).endswith("ckpt-4")


def test_ema_weights_are_what_the_run_evaluates_and_writes(tmp_path):
    result = train(
        tiny_glow(pixels(64)),
        pixels(64),
        test_data=pixels(16, seed=1),
        out_dir=str(tmp_path),
        steps=6,
        batch_size=16,
        ema=0.5,
        progress=False,
    )
    model = result.model
    raw = [w.numpy() for w in model.trainable_weights]
    fresh = models.build_model(json.loads((tmp_path / "model.json").read_text()))
    fresh.load_weights(tmp_path / "model.weights.h5")
    written = [w.numpy() for w in fresh.trainable_weights]
    averages = [v.numpy() for v in result.average.averages]
    for w, a in zip(written, averages, strict=True):
        np.testing.assert_array_equal(w, a)
    assert max(float(np.abs(w - r).max()) for w, r in zip(written, raw, strict=True)) > 1e-5
    expected = evaluate_model(fresh, pixels(16, seed=1))["bits_per_dim"]
    np.testing.assert_allclose(result.summary["test"]["bits_per_dim"], expected, rtol=1e-6)


def test_evaluate_model_is_the_mean_of_bits_per_dim_with_per_batch_seeds():
    keras.utils.set_random_seed(0)
    model = models.Glow((8, 8, 3), **TINY_GLOW)
    # Flat images: all of their spread is dequantization noise, so the seeds matter.
    x = np.repeat(np.arange(0, 250, 25, dtype=np.uint8), 192).reshape(10, 8, 8, 3)
    model.initialize(x)
    got = evaluate_model(model, x, batch_size=4)
    bits = tf.function(lambda xb, s: model.bits_per_dim(xb, seed=s), jit_compile=True)

    def expected(first):
        seeds = [tf.constant([first, i], tf.int64) for i in range(3)]
        return np.concatenate([bits(x[4 * i : 4 * i + 4], seeds[i]).numpy() for i in range(3)])

    assert got["examples"] == 10
    np.testing.assert_allclose(got["bits_per_dim"], expected(0).mean(), rtol=1e-6)
    assert abs(got["bits_per_dim"] - expected(1).mean()) > 1e-3  # other noise, other number
    traces = _scorer(model).experimental_get_tracing_count()
    assert evaluate_model(model, x, batch_size=4) == got
    assert _scorer(model).experimental_get_tracing_count() == traces  # no retrace per epoch


def test_mixed_precision_runs_the_networks_in_bfloat16_and_the_flow_in_float32(tmp_path):
    result = train(
        tiny_glow(pixels(32)),
        pixels(32),
        out_dir=str(tmp_path),
        steps=2,
        batch_size=16,
        mixed_precision="bfloat16",
        progress=False,
        samples=0,
    )
    model = result.model
    coupling = model.get_layer("coupling_0_0")
    assert coupling.net.compute_dtype == "bfloat16"
    assert coupling.net.conv_in.kernel.dtype == "float32"  # weights stay float32
    assert model.get_layer("actnorm_0_0").compute_dtype == "float32"
    lp = model.log_prob(pixels(4))
    assert lp.dtype == tf.float32 and np.all(np.isfinite(lp.numpy()))
    assert result.summary["steps"] == 2


def test_xla_auto_measures_once_and_a_resumed_run_keeps_the_choice(tmp_path):
    settings = dict(out_dir=str(tmp_path), batch_size=16, progress=False, samples=0)
    first = train(tiny_glow(pixels(64)), pixels(64), steps=2, **settings)
    assert first.summary["xla"] in (True, False)
    resumed = Trainer(tiny_glow(pixels(64)), pixels(64), steps=4, **settings)
    resumed.restore()
    assert resumed.resolve_xla() == first.summary["xla"]
    assert resumed.xla_note is None  # taken from xla.json, not measured again
    assert json.loads((tmp_path / "xla.json").read_text())["xla"] == first.summary["xla"]
    # A run that starts at step 0 (resume=False, or nothing to restore) measures afresh:
    # the record is of the checkpoints it would not continue.
    fresh = Trainer(tiny_glow(pixels(64)), pixels(64), **settings)
    measured = fresh.resolve_xla()
    assert fresh.xla_note.startswith("measured")
    # A given choice is recorded too, so that resuming it with "auto" computes the same way;
    # giving another one than the steps before used is said.
    forced = Trainer(tiny_glow(pixels(64)), pixels(64), xla=False, **settings)
    forced.restore()
    assert forced.resolve_xla() is False
    assert json.loads((tmp_path / "xla.json").read_text())["xla"] is False
    assert (forced.xla_note is not None and "will differ" in forced.xla_note) == measured
    later = Trainer(tiny_glow(pixels(64)), pixels(64), steps=6, **settings)
    later.restore()
    assert later.resolve_xla() is False and later.xla_note is None


def test_a_zoo_preset_name_fine_tunes_its_trained_weights(tmp_path):
    from tfflows import zoo
    from tfflows.data import toy_data

    spec = get_preset("maf_moons").spec["check"]
    trainer = Trainer(
        model_to_train("maf_moons", toy_data.two_moons(512)),
        toy_data.two_moons(512),
        out_dir=str(tmp_path),
        steps=2,
        batch_size=64,
        progress=False,
    )
    batch = zoo.check_batch(trainer.model, spec["kind"], spec["n"], spec["seed"])
    np.testing.assert_allclose(trainer.model.log_prob(batch).numpy(), spec["log_prob"], rtol=1e-5)
    assert trainer.run().summary["steps"] == 2
    with pytest.raises(ValueError, match="fixed architecture"):
        model_to_train("maf_moons", toy_data.two_moons(512), {"num_layers": 2})


def test_ema_warms_up_so_early_weights_fade_out(tmp_path):
    trainer = Trainer(
        tiny_glow(pixels(64)),
        pixels(64),
        out_dir=str(tmp_path),
        steps=5,
        batch_size=16,
        ema=0.999,
        progress=False,
    )
    trainer.initialize()
    weights = lambda: [w.numpy().copy() for w in trainer.model.trainable_weights]  # noqa: E731
    expected = None
    for t in range(5):
        trainer.train_step(t)
        now = weights()
        if expected is None:
            expected = now  # the first update copies the weights
        else:
            m = min(0.999, (1.0 + t) / (10.0 + t))
            expected = [m * a + (1.0 - m) * w for a, w in zip(expected, now, strict=True)]
    got = [v.numpy() for v in trainer.average.averages]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_learning_curves_read_a_log_that_a_kill_cut_off(tmp_path):
    from tfflows.plotting import read_scalars

    for run in range(2):  # a killed run's events file, then its resume's
        writer = tf.summary.create_file_writer(str(tmp_path / "logs" / str(run)))
        with writer.as_default():
            for step in range(3 * run, 3 * run + 3):
                tf.summary.scalar("test/bits_per_dim", float(step), step=step)
        writer.close()
    files = sorted((tmp_path / "logs").glob("*/events.out.tfevents.*"))
    for f in files:
        f.rename(tmp_path / "logs" / f"events.out.tfevents.{f.parent.name}")
    first = tmp_path / "logs" / "events.out.tfevents.0"
    first.write_bytes(first.read_bytes()[:-5])  # half of its last record (step 2)
    steps, values = read_scalars(tmp_path)
    np.testing.assert_array_equal(steps, [0, 1, 3, 4, 5])
    np.testing.assert_array_equal(values, [0.0, 1.0, 3.0, 4.0, 5.0])
