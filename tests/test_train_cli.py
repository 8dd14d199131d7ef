"""`tfflows train` on the command line: outputs, resume, and a SIGKILL mid-run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfflows import models

TINY = ["--set", "levels=2", "--set", "steps_per_level=1", "--set", "hidden_channels=8"]


@pytest.fixture
def tiny_npz(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (120, 8, 8, 3), dtype=np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=x)
    return path


def command(data, out, steps, *extra):
    return [
        sys.executable,
        "-m",
        "tfflows.cli",
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


def run(cmd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def load_weights(out):
    model = models.build_model(json.loads((out / "model.json").read_text()))
    model.load_weights(out / "model.weights.h5")
    return [w.numpy() for w in model.weights]


def test_cli_train_writes_checkpoints_logs_samples_and_resumes(tiny_npz, tmp_path):
    out = tmp_path / "run"
    first = run(command(tiny_npz, out, 12, "--log-every", "3"))
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    # 120 images, test = index % 10 == 0 -> 108 train = 9 steps per epoch of 12
    assert summary["steps"] == 12 and summary["finished"] and summary["test"]["examples"] == 12
    assert summary["steps_per_second"] > 0 and 4 < summary["test"]["bits_per_dim"] < 12
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-12")
    assert (out / "samples" / "step_00000009.png").exists()  # end of epoch 1
    assert list((out / "logs").glob("events.out.tfevents.*"))
    assert json.loads((out / "train_config.json").read_text())["batch_size"] == 12
    assert "test" in first.stdout and "bits/dim" in first.stdout
    second = run(command(tiny_npz, out, 16))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resumed from" in second.stdout and "ckpt-12 at step 12" in second.stdout
    assert json.loads((out / "summary.json").read_text())["steps_this_run"] == 4


def test_cli_rejects_an_unknown_model(tiny_npz, tmp_path):
    cli = [sys.executable, "-m", "tfflows.cli", "train"]
    result = run([*cli, "flowy", "--data", str(tiny_npz), "--out", str(tmp_path)])
    assert result.returncode != 0 and "unknown model family 'flowy'" in result.stderr


def test_sigkill_mid_run_then_resume_ends_like_an_uninterrupted_run(tiny_npz, tmp_path):
    steps = 40
    straight = tmp_path / "straight"
    assert run(command(tiny_npz, straight, steps)).returncode == 0
    killed = tmp_path / "killed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        command(tiny_npz, killed, steps),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            latest = tf.train.latest_checkpoint(str(killed / "checkpoints"))
            if latest and int(latest.rsplit("-", 1)[1]) >= 12:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "summary.json").exists()
    resumed = run(command(tiny_npz, killed, steps))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from" in resumed.stdout
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["steps"] == steps and summary["steps_this_run"] < steps
    a, b = load_weights(straight), load_weights(killed)
    diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))
    assert diff == 0.0, f"resumed weights differ from the uninterrupted run by {diff}"


def test_sigterm_stops_cleanly_with_weights_and_the_resume_matches(tiny_npz, tmp_path):
    steps = 400
    stopped = tmp_path / "stopped"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        command(tiny_npz, stopped, steps, "--checkpoint-every", "1000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        # The signal may come before the first step: the run still makes one step and stops.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if list((stopped / "logs").glob("**/events*")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before the signal"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "SIGTERM received: stopped at step" in out
    summary = json.loads((stopped / "summary.json").read_text())
    assert summary["stopped_by_signal"] == "SIGTERM" and not summary["finished"]
    assert 0 < summary["steps"] < steps
    # The checkpoint was written at the step the run stopped at, not an earlier one.
    latest = tf.train.latest_checkpoint(str(stopped / "checkpoints"))
    assert int(latest.rsplit("-", 1)[1]) == summary["steps"]
    assert (stopped / "model.weights.h5").exists()

    total = summary["steps"] + 5
    resumed = run(command(tiny_npz, stopped, total, "--checkpoint-every", "1000"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight = tmp_path / "straight"
    assert run(command(tiny_npz, straight, total, "--checkpoint-every", "1000")).returncode == 0
    a, b = load_weights(straight), load_weights(stopped)
    diff = max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))
    assert diff == 0.0, f"resumed weights differ from the uninterrupted run by {diff}"
