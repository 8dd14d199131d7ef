"""Resuming from a damaged output folder (in one process, through `tfflows.train`): the newest
checkpoint that restores whole is used and the bad files are named; an unreadable state file
loses nothing; with no readable checkpoint the run stops and changes nothing. And the lock
that keeps two runs out of one folder."""

import hashlib
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfflows import models
from tfflows.training import CheckpointError, RunLockedError, Trainer, train
from tfflows.training.lock import RunLock

X = np.random.default_rng(0).integers(0, 256, (96, 8, 8, 3), dtype=np.uint8)
SETTINGS = dict(
    batch_size=12,
    checkpoint_every=4,
    xla=False,
    progress=False,
    samples=0,
)


def glow():
    """The same tiny Glow (same initial weights) every time."""
    keras.utils.set_random_seed(0)
    return models.for_data("glow", X, levels=2, steps_per_level=1, hidden_channels=8)


DATA = "ckpt-8.data-00000-of-00001"


def weights(model):
    return [w.numpy() for w in model.weights]


@pytest.fixture(scope="module")
def eight_steps(tmp_path_factory):
    """A run folder with ckpt-4 and ckpt-8."""
    out = tmp_path_factory.mktemp("eight")
    train(glow(), X, out_dir=str(out), steps=8, **SETTINGS)
    return out


@pytest.fixture(scope="module")
def twelve_steps(tmp_path_factory):
    """The weights of an uninterrupted 12-step run."""
    out = tmp_path_factory.mktemp("twelve")
    return weights(train(glow(), X, out_dir=str(out), steps=12, **SETTINGS).model)


def flip_a_byte(path, at=5000):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    # name: (what is done to OUT/checkpoints, the checkpoint resumed from, words of the warning)
    "garbage state file": (
        lambda c: (c / "checkpoint").write_bytes(b"\x00\x17garbage {"),
        "ckpt-8",
        ["checkpoint is unreadable", "found the checkpoints from their files"],
    ),
    "empty state file": (
        lambda c: (c / "checkpoint").write_text(""),
        "ckpt-8",
        ["checkpoint is unreadable"],
    ),
    "flipped byte in the data": (
        lambda c: flip_a_byte(c / DATA),
        "ckpt-4",
        ["ckpt-8 cannot be restored", DATA, "DataLossError", "Checksum does not match"],
    ),
    "truncated index": (
        lambda c: truncate(c / "ckpt-8.index"),
        "ckpt-4",
        ["ckpt-8 cannot be restored", "ckpt-8.index", "not an sstable"],
    ),
    "missing data file": (
        lambda c: (c / DATA).unlink(),
        "ckpt-4",
        ["ckpt-8 cannot be restored", DATA, "No such file"],
    ),
    "missing index, garbage state file": (
        lambda c: [(c / "ckpt-8.index").unlink(), (c / "checkpoint").write_text("x")],
        "ckpt-4",
        ["checkpoint is unreadable", "ckpt-8 cannot be restored", DATA],
    ),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_folder_resumes_from_the_newest_readable_checkpoint_exactly(
    damage, eight_steps, twelve_steps, tmp_path, capsys
):
    out = tmp_path / "run"
    shutil.copytree(eight_steps, out)
    do, expected, words = DAMAGE[damage]
    do(out / "checkpoints")
    capsys.readouterr()
    result = train(glow(), X, out_dir=str(out), steps=12, **SETTINGS)
    err = capsys.readouterr().err
    assert result.summary["resumed_from"] == str(out / "checkpoints" / expected)
    for word in words:
        assert word in err, err
    assert result.summary["steps_this_run"] == 12 - int(expected.split("-")[1])
    for got, want in zip(weights(result.model), twelve_steps, strict=True):
        np.testing.assert_array_equal(got, want)
    # The state file is whole again and names the new checkpoints.
    state = tf.train.get_checkpoint_state(str(out / "checkpoints"))
    assert state.model_checkpoint_path.endswith("ckpt-12")


def test_a_relative_out_folder_resumes_with_no_warning(
    eight_steps, twelve_steps, tmp_path, monkeypatch, capsys
):
    """`--out runs/x` (relative): TF's state file names its checkpoints relative to the
    folder, which was once joined twice and every checkpoint reported unreadable."""
    shutil.copytree(eight_steps, tmp_path / "runs" / "x")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    result = train(glow(), X, out_dir="runs/x", steps=12, **SETTINGS)
    err = capsys.readouterr().err
    assert "cannot be restored" not in err and "warning" not in err.lower(), err
    assert result.summary["resumed_from"] == os.path.join("runs", "x", "checkpoints", "ckpt-8")
    for got, want in zip(weights(result.model), twelve_steps, strict=True):
        np.testing.assert_array_equal(got, want)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_no_readable_checkpoint_stops_the_run_and_changes_nothing(eight_steps, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(eight_steps, out)
    flip_a_byte(out / "checkpoints" / DATA)
    truncate(out / "checkpoints" / "ckpt-4.index")
    (out / "checkpoints" / "checkpoint").write_text("")
    before = digest(out / "checkpoints")
    with pytest.raises(CheckpointError) as error:
        train(glow(), X, out_dir=str(out), steps=12, **SETTINGS)
    message = str(error.value)
    assert f"no checkpoint in {out / 'checkpoints'} can be restored" in message
    assert DATA in message and "ckpt-4.index" in message and "--no-resume" in message
    assert digest(out / "checkpoints") == before
    # Starting over deliberately works, and replaces them.
    result = train(glow(), X, out_dir=str(out), steps=8, resume=False, **SETTINGS)
    assert result.summary["resumed_from"] is None and result.summary["steps_this_run"] == 8
    assert tf.train.latest_checkpoint(str(out / "checkpoints")).endswith("ckpt-8")
    again = Trainer(glow(), X, out_dir=str(out), **SETTINGS)
    assert again.restore().endswith("ckpt-8") and again.skipped_checkpoints == []


def test_a_second_run_on_a_locked_folder_is_refused(tmp_path):
    with RunLock(tmp_path):
        holder = (tmp_path / "train.lock").read_text()
        assert holder.startswith(f"pid {os.getpid()} ")
        with pytest.raises(RunLockedError) as error:
            train(glow(), X, out_dir=str(tmp_path), steps=1, **SETTINGS)
        assert str(error.value).startswith(f"{tmp_path} is in use by another training run")
        assert f"pid {os.getpid()} " in str(error.value)
        assert not (tmp_path / "checkpoints").exists()
    assert train(glow(), X, out_dir=str(tmp_path), steps=1, **SETTINGS).summary["steps"] == 1
