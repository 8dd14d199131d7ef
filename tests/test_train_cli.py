"""`tfflows train` on the command line: outputs and resume; SIGKILL, SIGTERM and SIGSTOP at
exact points of a run (tests/scripts/train_with_fault.py sends them, so nothing races a
timer); the lock on the output folder; the debris a kill leaves.

Every comparison of weights between two separate runs pins `--xla off` (or takes the
recorded choice): `--xla auto` measures on each fresh run and may choose differently."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfflows import models

TINY = ["--set", "levels=2", "--set", "steps_per_level=1", "--set", "hidden_channels=8"]
FAULT = pathlib.Path(__file__).parent / "scripts" / "train_with_fault.py"
# 120 images, test = index % 10 == 0 -> 108 training images = 9 steps per epoch of 12.
TOTAL = 14


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    x = np.random.default_rng(0).integers(0, 256, (120, 8, 8, 3), dtype=np.uint8)
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x=x)
    return path


def command(data, out, steps, *extra, fault=None):
    """The `tfflows train` command line (through train_with_fault.py when `fault` is set)."""
    head = (
        [sys.executable, "-m", "tfflows.cli"]
        if fault is None
        else [sys.executable, str(FAULT), fault]
    )
    return [
        *head,
        "train",
        "glow",
        "--data",
        str(data),
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--batch-size",
        "12",
        "--checkpoint-every",
        "4",
        "--no-progress",
        *TINY,
        *extra,
    ]


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=ENV)


def load_weights(out):
    model = models.build_model(json.loads((out / "model.json").read_text()))
    model.load_weights(out / "model.weights.h5")
    return [w.numpy() for w in model.weights]


def succeeds(cmd):
    result = run(cmd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def kill_at(data, out, fault):
    """A TOTAL-step run (--xla off) that SIGKILLs itself at `fault` (see train_with_fault)."""
    killed = run(command(data, out, TOTAL, "--xla", "off", fault=f"KILL@{fault}"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not (out / "summary.json").exists()


def assert_same_weights(expected, out):
    """The weights written in `out` equal `expected` bit for bit."""
    got = load_weights(out)
    diff = max(float(np.abs(x - y).max()) for x, y in zip(expected, got, strict=True))
    assert diff == 0.0, f"resumed weights differ from the uninterrupted run by {diff}"


def latest_number(out):
    return int(tf.train.latest_checkpoint(str(out / "checkpoints")).rsplit("-", 1)[1])


def debris(out):
    """What an interrupted run can leave behind (see tfflows/training/files.py)."""
    patterns = ("**/*_temp", "**/*.tmp", "**/*.tmp.*", "**/checkpoint.tmp*", ".worker_*")
    return sorted(str(p.relative_to(out)) for g in patterns for p in out.glob(g))


@pytest.fixture(scope="module")
def straight(tiny_npz, tmp_path_factory):
    """Weights of uninterrupted TOTAL-step runs, one per XLA setting, made when first asked."""
    cache = {}

    def weights(xla):
        if xla not in cache:
            out = tmp_path_factory.mktemp(f"straight_xla_{xla}")
            succeeds(command(tiny_npz, out, TOTAL, "--xla", xla))
            cache[xla] = load_weights(out)
        return cache[xla]

    return weights


def test_cli_train_writes_checkpoints_logs_samples_and_resumes(tiny_npz, tmp_path):
    out = tmp_path / "run"
    first = succeeds(command(tiny_npz, out, 12, "--log-every", "3"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and summary["finished"] and summary["test"]["examples"] == 12
    assert summary["steps_per_second"] > 0 and 4 < summary["test"]["bits_per_dim"] < 12
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-12")
    assert (out / "samples" / "step_00000009.png").exists()  # end of epoch 1
    assert list((out / "logs").glob("events.out.tfevents.*"))
    assert json.loads((out / "train_config.json").read_text())["batch_size"] == 12
    assert "test" in first.stdout and "bits/dim" in first.stdout
    assert json.loads((out / "xla.json").read_text())["xla"] == summary["xla"]
    second = succeeds(command(tiny_npz, out, 16))
    assert "resumed from" in second.stdout and "ckpt-12 at step 12" in second.stdout
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["steps_this_run"] == 4
    assert resumed["xla"] == summary["xla"]  # "auto" took the recorded choice
    assert debris(out) == []


def test_cli_rejects_an_unknown_model_in_one_line(tiny_npz, tmp_path):
    cli = [sys.executable, "-m", "tfflows.cli", "train"]
    result = run([*cli, "flowy", "--data", str(tiny_npz), "--out", str(tmp_path)])
    assert result.returncode == 1
    assert "tfflows train: unknown model family 'flowy'" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigkill_at_a_step_then_resume_ends_like_an_uninterrupted_run(tiny_npz, tmp_path, straight):
    out = tmp_path / "killed"
    kill_at(tiny_npz, out, "step:6")
    assert latest_number(out) == 4
    resumed = succeeds(command(tiny_npz, out, TOTAL, "--xla", "off"))
    assert "ckpt-4 at step 4" in resumed.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == TOTAL and summary["steps_this_run"] == TOTAL - 4
    assert_same_weights(straight("off"), out)


# Where a SIGTERM lands -> the step the run stops at (it finishes the step it is in, or the
# next one when it lands between steps, and checkpoints there).
SIGTERM_POINTS = {
    "xla": 1,  # inside --xla auto's measurement, before the first step (no warm start)
    "step:0": 1,  # before the first step
    "save:4": 5,  # inside the write of checkpoint 4
    "epoch:9": 10,  # inside the end-of-epoch evaluation and sample grid
}


@pytest.mark.parametrize("point", SIGTERM_POINTS)
def test_sigterm_anywhere_stops_cleanly_and_the_resume_is_exact(
    point, tiny_npz, tmp_path, straight
):
    out = tmp_path / "stopped"
    # Warm start would run the first steps eagerly, as many as the machine's load allows,
    # and measure later: exact resumes need the steps fixed (see docs/training.md).
    xla = ["--xla", "auto", "--no-warm-start"] if point == "xla" else ["--xla", "off"]
    stopped = succeeds(command(tiny_npz, out, TOTAL, *xla, fault=f"TERM@{point}"))
    at = SIGTERM_POINTS[point]
    assert f"SIGTERM received: stopped at step {at}" in stopped.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stopped_by_signal"] == "SIGTERM" and not summary["finished"]
    assert summary["steps"] == at and latest_number(out) == at
    assert (out / "model.weights.h5").exists()
    # Stopping skips the test evaluation (the resumed run evaluates at its end).
    assert summary["test"] is None

    resumed = succeeds(command(tiny_npz, out, TOTAL, *xla))
    assert f"at step {at}" in resumed.stdout
    final = json.loads((out / "summary.json").read_text())
    assert final["steps"] == TOTAL and final["xla"] == summary["xla"]
    # An uninterrupted run that computes the same way: with "auto", the recorded choice.
    assert_same_weights(straight("on" if summary["xla"] else "off"), out)


def test_sigkill_inside_a_checkpoint_write_resumes_from_the_previous_and_cleans_up(
    tiny_npz, tmp_path, straight
):
    out = tmp_path / "killed"
    kill_at(tiny_npz, out, "save:8")
    assert list((out / "checkpoints" / "ckpt-8_temp").iterdir())  # the half-written one
    assert latest_number(out) == 4
    # Checkpoints every 5 steps now (which changes no weight): ckpt-8 is not written again,
    # and its temporary folder goes only if the run removes it.
    resumed = succeeds(command(tiny_npz, out, TOTAL, "--xla", "off", "--checkpoint-every", "5"))
    assert "removed what an interrupted run left" in resumed.stdout
    assert "checkpoints/ckpt-8_temp" in resumed.stdout
    assert "ckpt-4 at step 4" in resumed.stdout
    assert not (out / "checkpoints" / "ckpt-8.index").exists()
    assert debris(out) == []
    assert_same_weights(straight("off"), out)


def test_sigkill_while_writing_the_weights_then_the_same_command_writes_them(
    tiny_npz, tmp_path, straight
):
    out = tmp_path / "killed"
    kill_at(tiny_npz, out, "weights")
    assert (out / "model.tmp.weights.h5").exists() and not (out / "model.weights.h5").exists()
    again = succeeds(command(tiny_npz, out, TOTAL, "--xla", "off"))
    assert "model.tmp.weights.h5" in again.stdout and f"at step {TOTAL}" in again.stdout
    assert json.loads((out / "summary.json").read_text())["steps_this_run"] == 0
    assert debris(out) == []
    assert_same_weights(straight("off"), out)


def test_a_second_run_on_the_same_folder_is_refused_and_a_killed_runs_lock_is_released(
    tiny_npz, tmp_path, straight
):
    out = tmp_path / "run"
    # The first run freezes itself (SIGSTOP) before step 2, holding the lock.
    first = subprocess.Popen(
        command(tiny_npz, out, TOTAL, "--xla", "off", fault="STOP@step:2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)  # returns once it is stopped
        assert os.WIFSTOPPED(status), status
        files = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
        second = run(command(tiny_npz, out, TOTAL, "--xla", "off"))
        assert second.returncode == 1
        message = second.stderr.strip().splitlines()[-1]
        assert message.startswith(f"tfflows train: {out} is in use by another training run")
        assert f"pid {first.pid} " in message and "Traceback" not in second.stderr
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == files  # touched nothing
    finally:
        first.kill()  # SIGKILL ends a stopped process too
        first.wait()
    assert first.returncode == -signal.SIGKILL
    succeeds(command(tiny_npz, out, TOTAL, "--xla", "off"))
    assert_same_weights(straight("off"), out)
