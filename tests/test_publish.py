"""`tfflows.zoo.publish` writes into the zoo folder it is given (never a path computed from
the package's own location), refuses a folder that is not a zoo, and draws a run's learning
curve on request."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfflows import models, zoo
from tfflows.models.registry import model_config
from tfflows.zoo.publish import main, publish
from tfflows.zoo.registry import get

COMMANDS = {"train": "python make_it.py", "eval": "python score_it.py"}


@pytest.fixture
def run(tmp_path):
    """A finished run folder: model.json and model.weights.h5 of a tiny planar flow."""
    run = tmp_path / "run"
    run.mkdir()
    model = models.PlanarFlow(2, num_layers=2)
    model.log_prob(np.zeros((1, 2), np.float32))  # builds the weights
    (run / "model.json").write_text(json.dumps(model_config(model)))
    model.save_weights(run / "model.weights.h5")
    return run


def test_publish_writes_into_the_zoo_folder_it_is_given(tmp_path, run):
    zoo_dir = tmp_path / "my_zoo"
    zoo_dir.mkdir()  # an empty folder is a new zoo
    target = publish(run, "tiny_planar", "d", "no data", "l", COMMANDS, "normal", zoo_dir=zoo_dir)
    assert target == zoo_dir / "tiny_planar"
    spec = json.loads((target / "preset.json").read_text())
    assert spec["weights"]["sha256"] == zoo.sha256_file(run / "model.weights.h5")
    assert spec["check"]["kind"] == "normal" and len(spec["check"]["log_prob"]) == 4
    assert not (get("maf_moons").directory.parent / "tiny_planar").exists()


def test_publish_refuses_a_folder_that_is_not_a_zoo(tmp_path, run, monkeypatch):
    with pytest.raises(ValueError, match="zoo folder .*missing does not exist"):
        publish(run, "x", "d", "no data", "l", COMMANDS, zoo_dir=tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("not a preset")
    with pytest.raises(ValueError, match="is not a zoo folder"):
        publish(run, "x", "d", "no data", "l", COMMANDS, zoo_dir=tmp_path)
    monkeypatch.chdir(tmp_path)  # the default is ./zoo, which is not here
    with pytest.raises(ValueError, match="zoo folder zoo does not exist"):
        publish(run, "x", "d", "no data", "l", COMMANDS)
    assert not (tmp_path / "x").exists()


def test_the_command_line_names_a_missing_zoo_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["--refresh-check", "maf_moons"])
    assert stop.value.code == 2
    assert "zoo folder zoo does not exist: pass the checkout's zoo folder" in (
        capsys.readouterr().err
    )


def test_refresh_check_on_the_command_line_rewrites_the_given_zoo(tmp_path, capsys):
    shipped = get("maf_moons").directory / "preset.json"
    original = shipped.read_text()
    copy = tmp_path / "zoo" / "maf_moons" / "preset.json"
    copy.parent.mkdir(parents=True)
    spec = json.loads(original)
    spec["check"]["log_prob"] = [0.0] * len(spec["check"]["log_prob"])
    copy.write_text(json.dumps(spec, indent=2) + "\n")
    main(["--refresh-check", "maf_moons", "--zoo-dir", str(tmp_path / "zoo")])
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    written, stored = json.loads(copy.read_text())["check"], json.loads(original)["check"]
    assert written["log_prob"] == printed["log_prob"]
    # recomputed from the shipped weights: the stored values, to float32 reduction order
    np.testing.assert_allclose(written.pop("log_prob"), stored.pop("log_prob"), rtol=1e-5)
    assert written == stored
    assert shipped.read_text() == original


def test_publish_draws_the_runs_learning_curve_on_request(tmp_path, run):
    writer = tf.summary.create_file_writer(str(run / "logs"))
    with writer.as_default():
        for step, value in ((10, 3.0), (20, 2.5), (30, 2.25)):
            tf.summary.scalar("test/bits_per_dim", value, step=step)
    writer.close()
    zoo_dir = tmp_path / "zoo"
    zoo_dir.mkdir()
    plain = publish(run, "a", "d", "no data", "l", COMMANDS, "normal", zoo_dir=zoo_dir)
    assert not (plain / "curve.png").exists()
    drawn = publish(run, "b", "d", "no data", "l", COMMANDS, "normal", zoo_dir=zoo_dir, curve=True)
    with Image.open(drawn / "curve.png") as image:
        assert image.size == (600, 360)
