"""Warm start (tfflows/training/warm_start.py): a fresh `xla="auto"` run steps eagerly
while its compiled step is built in a thread, then goes on compiled.

The background build is held on an event here, so which steps run eagerly is fixed by the
test, not by the machine's speed."""

import json
import threading

import numpy as np
import pytest

from tfflows.training import Trainer, train
from tfflows.training.trainer import Trainer as TrainerClass

from .test_training import pixels, tiny_glow

SETTINGS = dict(batch_size=16, progress=False, samples=0, steps=6)


@pytest.fixture
def held_build(monkeypatch):
    """Make the background build wait for the returned event before building."""
    release = threading.Event()
    build = TrainerClass._build_compiled

    def waiting(self, grads):
        release.wait()
        return build(self, grads)

    monkeypatch.setattr(TrainerClass, "_build_compiled", waiting)
    yield release
    release.set()  # a failed test must not leave the thread waiting


def test_eager_steps_compute_what_compiled_steps_do_then_the_run_goes_on_compiled(
    tmp_path, held_build
):
    release = held_build
    x = pixels(96)
    # An earlier run's record in the folder: a fresh run measures anew all the same.
    (tmp_path / "warm").mkdir()
    (tmp_path / "warm" / "xla.json").write_text(json.dumps({"xla": False, "why": "old"}))
    warm = Trainer(tiny_glow(x), x, out_dir=str(tmp_path / "warm"), **SETTINGS)
    cold = Trainer(tiny_glow(x), x, out_dir=str(tmp_path / "cold"), xla=False, **SETTINGS)
    assert warm.warm_start_applies() and not cold.warm_start_applies()
    for t in (warm, cold):
        t.initialize()
    warm_losses = [warm.train_step(s)[0] for s in range(3)]
    cold_losses = [cold.train_step(s)[0] for s in range(3)]
    # Held: all three steps ran eagerly, and they computed what the compiled steps did.
    assert warm.eager_steps == 3 and warm._eager is not None and warm._xla is None
    np.testing.assert_allclose(warm_losses, cold_losses, rtol=1e-5)
    # Adam moves nearly every weight by ~1e-3 per step. Where a gradient is ~0, Adam's
    # division by its running size turns the last bits that eager and graph kernels round
    # apart into a visible step, so a few entries may differ; nearly all must agree.
    apart = np.concatenate(
        [
            np.abs(a.numpy() - b.numpy()).ravel()
            for a, b in zip(
                warm.model.trainable_variables, cold.model.trainable_variables, strict=True
            )
        ]
    )
    assert np.mean(apart < 1e-5) > 0.99, np.sort(apart)[-10:]
    release.set()
    warm.finish_warm_start()
    assert warm._eager is None and warm._building is None and warm._xla in (True, False)
    assert warm.xla_note.startswith("measured") and "the first 3 steps ran eagerly" in warm.xla_note
    assert json.loads((tmp_path / "warm" / "xla.json").read_text())["xla"] == warm._xla
    more = [warm.train_step(s)[0] for s in range(3, 5)]
    assert warm.eager_steps == 3  # compiled from here on
    cold_more = [cold.train_step(s)[0] for s in range(3, 5)]
    np.testing.assert_allclose(more, cold_more, rtol=1e-4)


def test_a_pinned_setting_or_a_resumed_run_starts_compiled(tmp_path):
    x = pixels(64)
    settings = dict(out_dir=str(tmp_path), **SETTINGS)
    assert not Trainer(tiny_glow(x), x, xla=True, **settings).warm_start_applies()
    first = train(tiny_glow(x), x, **{**settings, "steps": 2})
    assert first.summary["xla"] in (True, False)  # a short run waits for the choice
    resumed = Trainer(tiny_glow(x), x, **{**settings, "steps": 4})
    resumed.restore()
    assert resumed.step == 2 and not resumed.warm_start_applies()
    resumed.train_step(2)
    assert resumed.eager_steps == 0 and resumed._xla == first.summary["xla"]


def test_a_run_ended_during_the_build_waits_for_it_and_leaves_no_thread(tmp_path, held_build):
    release = held_build
    x = pixels(64)
    threading.Timer(0.0, release.set).start()  # released at once, however slow the machine
    trainer = train(tiny_glow(x), x, out_dir=str(tmp_path), **{**SETTINGS, "steps": 1})
    assert trainer.summary["xla"] in (True, False)
    assert not [t for t in threading.enumerate() if t.name == "tfflows-compile"]


def test_an_error_in_the_background_build_is_raised_in_the_training_loop(tmp_path, monkeypatch):
    def broken(self, grads):
        raise RuntimeError("the compiler broke")

    monkeypatch.setattr(TrainerClass, "_build_compiled", broken)
    x = pixels(64)
    trainer = Trainer(tiny_glow(x), x, out_dir=str(tmp_path), **SETTINGS)
    trainer.initialize()
    trainer.train_step(0)
    with pytest.raises(RuntimeError, match="the compiler broke"):
        trainer.finish_warm_start()


class _StopAfterFirstStep:
    """Stands for `StopRequest` with SIGTERM already received: the loop stops after the
    step it is in (here the first)."""

    requested, signal_name = True, "SIGTERM"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_stop_during_the_build_writes_the_weights_without_waiting_for_it(
    tmp_path, held_build, monkeypatch, capsys
):
    release = held_build
    # Released only if the run waits for it: then the run ends and the assertion fails
    # (rather than hanging the suite).
    timer = threading.Timer(600.0, release.set)
    timer.daemon = True
    timer.start()
    monkeypatch.setattr("tfflows.training.trainer.StopRequest", _StopAfterFirstStep)
    # An earlier run's record in the folder must not pass for this run's choice.
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "xla.json").write_text(json.dumps({"xla": True, "why": "an earlier run"}))
    x = pixels(64)
    trainer = train(tiny_glow(x), x, out_dir=str(tmp_path), **SETTINGS)
    assert not release.is_set()  # the build was still held when the run returned
    timer.cancel()
    release.set()
    assert trainer.summary["steps"] == 1 and trainer.summary["xla"] is None
    assert (tmp_path / "model.weights.h5").exists()
    assert not (tmp_path / "xla.json").exists()  # nothing chosen: the resumed run measures
    assert "no XLA choice recorded" in capsys.readouterr().out


@pytest.mark.parametrize("warm_start", [True, False])
def test_a_step_xla_cannot_compile_trains_without_it(tmp_path, monkeypatch, warm_start):
    grad_function = TrainerClass._grad_function

    def no_xla(self, xla):
        if not xla:
            return grad_function(self, xla)

        def broken(*args):
            raise NotImplementedError("no XLA kernel for this op\\nmore detail")

        return broken

    monkeypatch.setattr(TrainerClass, "_grad_function", no_xla)
    x = pixels(64)
    trainer = train(
        tiny_glow(x), x, out_dir=str(tmp_path), warm_start=warm_start, **{**SETTINGS, "steps": 3}
    )
    assert trainer.summary["xla"] is False and trainer.summary["steps"] == 3
    why = json.loads((tmp_path / "xla.json").read_text())["why"]
    assert why.startswith("XLA failed to compile the step (NotImplementedError: no XLA kernel")
