"""A video model (VideoFlow) through the zoo and the command line, on a tiny model: a 2-step
`tfflows train videoflow` run published by `python -m tfflows.zoo.publish` into a zoo
folder of its own (zoo_fixtures.tiny_video_zoo) writes the weights, a generated
"stochastic_shapes" check and predictions.gif / predictions.png; `$TFFLOWS_ZOO` points the
zoo loader at that folder; `tfflows eval` reports a video model's bits/dim and
`tfflows predict` writes the GIF of its predicted futures.

The per-preset tests of test_zoo.py and test_zoo_sampling.py run on this preset too."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests import zoo_fixtures
from tfflows import cli, models, zoo
from tfflows.data import load_source, stochastic_shapes
from tfflows.training import evaluate_model
from tfflows.zoo.predictions import held_out_shapes
from tfflows.zoo.registry import get

NAME, DATA = zoo_fixtures.TINY_VIDEO, zoo_fixtures.VIDEO_DATA
# the shared fixtures
offline, cache = zoo_fixtures.offline, zoo_fixtures.cache
tiny_video_zoo, video_zoo = zoo_fixtures.tiny_video_zoo, zoo_fixtures.video_zoo
FRAME = (16, 16, 3)
ROOT = pathlib.Path(__file__).resolve().parents[1]
CELL = 16 + 2  # a frame and the grid's padding, in pixels


def run_model(run):
    """The trained model of a run folder, built from its own files (not through the zoo)."""
    model = models.build_model(json.loads((run / "model.json").read_text()))
    model.load_weights(run / "model.weights.h5")
    return model


def cells(path, scale=2):
    """A still (video_strip) read back: uint8 [rows, columns, 16, 16, 3], its frames."""
    with Image.open(path) as image:
        picture = np.asarray(image.convert("RGB"))[::scale, ::scale]
    rows, columns = (picture.shape[0] - 2) // CELL, (picture.shape[1] - 2) // CELL
    grid = picture[2:, 2:].reshape(rows, CELL, columns, CELL, 3)[:, :16, :, :16]
    return grid.transpose(0, 2, 1, 3, 4)


def assert_still_shows(path, model, videos, samples, frames, temperature, seed, scale=2):
    """The still at `path` shows, for each video, a row with its true frames (black past
    its end) and then `samples` rows of its context followed by `predict_frames` of it,
    computed here again."""
    k = model.context_frames
    got = cells(path, scale)
    assert got.shape == (len(videos) * (1 + samples), k + frames, *FRAME)
    context = np.repeat(videos[:, :k], samples, axis=0)
    drawn = model.predict_frames(context, frames, temperature=temperature, seed=seed)
    drawn = np.asarray(model.to_uint8(drawn)).reshape(len(videos), samples, frames, *FRAME)
    got = got.reshape(len(videos), 1 + samples, k + frames, *FRAME)
    true_frames = min(videos.shape[1], k + frames)
    np.testing.assert_array_equal(got[:, 0, :true_frames], videos[:, :true_frames])
    assert not got[:, 0, true_frames:].any()  # past the true video's end: black
    np.testing.assert_array_equal(got[:, 1:, :k], np.repeat(videos[:, None, :k], samples, 1))
    np.testing.assert_array_equal(got[:, 1:, k:], drawn)


def test_publish_writes_weights_a_generated_check_and_the_predictions(tiny_video_zoo):
    run, preset = tiny_video_zoo.run, tiny_video_zoo.preset
    spec = json.loads((preset / "preset.json").read_text())
    assert spec["weights"]["sha256"] == zoo.sha256_file(run / "model.weights.h5")
    assert (preset / "model.weights.h5").read_bytes() == (run / "model.weights.h5").read_bytes()
    summary = json.loads((run / "summary.json").read_text())
    assert spec["metrics"] == {"test": summary["test"], "steps": 2}
    assert spec["model"] == json.loads((run / "model.json").read_text())
    # The check: 4 stochastic shapes of 3 frames (seed 0), regenerated, not stored.
    check = spec["check"]
    assert {k: v for k, v in check.items() if k != "log_prob"} == {
        "kind": "stochastic_shapes",
        "n": 4,
        "seed": 0,
        "num_frames": 3,
    }
    model = run_model(run)
    videos = stochastic_shapes(4, num_frames=3, size=16, seed=0)
    np.testing.assert_allclose(check["log_prob"], model.log_prob(videos).numpy(), rtol=1e-5)
    assert len((preset / "preset.json").read_bytes()) < 4000  # no stored batch
    # The pictures: predictions instead of an image sample grid, and the curve.
    assert sorted(p.name for p in preset.iterdir()) == [
        "curve.png",
        "model.weights.h5",
        "predictions.gif",
        "predictions.png",
        "preset.json",
    ]
    # 4 held-out videos, each: the true video, then 5 futures at temperature 0.7, seed 0.
    held_out = held_out_shapes(model, 4, num_frames=2)
    assert_still_shows(preset / "predictions.png", model, held_out, 5, 2, 0.7, 0)
    with Image.open(preset / "predictions.gif") as gif:
        assert gif.is_animated and gif.n_frames == 3 and gif.info["loop"] == 0
        assert gif.size == ((6 * CELL + 2) * 2, (4 * CELL + 2) * 2)  # 6 columns, 4 rows


def test_a_video_runs_epoch_pictures_are_predicted_futures_of_its_test_videos(tiny_video_zoo):
    """The trainer's picture of the last step: the first 4 test videos, each with 3 futures
    at temperature 0.7, seed 0 (the run's defaults), as a PNG and an animated GIF."""
    run = tiny_video_zoo.run
    model = run_model(run)
    test_videos = load_source(zoo_fixtures.VIDEO_DATA).test_x[:4]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_00000002.gif",
        "step_00000002.png",
    ]
    assert_still_shows(run / "samples" / "step_00000002.png", model, test_videos, 3, 2, 0.7, 0, 1)
    with Image.open(run / "samples" / "step_00000002.gif") as gif:
        assert gif.is_animated and gif.size == ((4 * CELL + 2) * 2, (4 * CELL + 2) * 2)


def test_raw_vs_ema_recipe_scores_a_video_runs_checkpoint(tiny_video_zoo, tmp_path):
    """zoo/recipes/raw_vs_ema.py on the tiny run (trained without --ema: both numbers are
    its last checkpoint's, which holds the written weights), against an evaluation here."""
    run = tiny_video_zoo.run
    recipe = ROOT / "zoo" / "recipes" / "raw_vs_ema.py"
    raw = tmp_path / "raw.weights.h5"
    argv = [sys.executable, str(recipe), str(run), "--data", zoo_fixtures.VIDEO_DATA]
    argv += ["--save-raw", str(raw)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["checkpoint"].endswith("ckpt-2")
    test_x = load_source(zoo_fixtures.VIDEO_DATA).test_x
    expected = evaluate_model(run_model(run), test_x)["bits_per_dim"]
    np.testing.assert_allclose(result["raw_bits_per_dim"], expected, rtol=1e-5)
    np.testing.assert_allclose(result["ema_bits_per_dim"], expected, rtol=1e-5)
    model = run_model(run)
    model.load_weights(raw)
    np.testing.assert_allclose(evaluate_model(model, test_x)["bits_per_dim"], expected, rtol=1e-5)


def test_publish_refuses_bad_arguments_before_writing_anything(tiny_video_zoo, tmp_path):
    from tfflows.zoo.publish import publish

    commands = {"train": "t", "eval": "e"}
    for kind in ("samples", "normal"):
        with pytest.raises(ValueError, match='check kind is "stochastic_shapes", not'):
            publish(tiny_video_zoo.run, "v", "d", "x", "l", commands, kind, zoo_dir=tmp_path)
    with pytest.raises(ValueError, match="is not a file, a folder, tfds:NAME or generated"):
        missing = str(tmp_path / "missing.npz")
        publish(
            tiny_video_zoo.run, "v", "d", "x", "l", commands, zoo_dir=tmp_path, predict_data=missing
        )
    assert not any(tmp_path.iterdir())


def test_publish_predicts_from_the_test_videos_of_a_source_on_request(tiny_video_zoo, tmp_path):
    from tfflows.zoo.publish import main

    argv = [str(tiny_video_zoo.run), "--name", "v", "--description", "d", "--data", "x"]
    argv += ["--license", "l", "--train", "t", "--eval", "e", "--zoo-dir", str(tmp_path)]
    main([*argv, "--predict-data", DATA, "--predict-temperature", "1.0"])
    videos = load_source(DATA).test_x[:4]
    model = run_model(tiny_video_zoo.run)
    assert_still_shows(tmp_path / "v" / "predictions.png", model, videos, 5, 2, 1.0, 0)


def test_the_zoo_loader_finds_the_published_folder_offline_and_predicts(video_zoo, offline, cache):
    assert NAME in zoo.list() and zoo.info(NAME)["description"] == "a tiny VideoFlow"
    model = zoo.load(NAME)
    check = get(NAME).spec["check"]
    videos = stochastic_shapes(4, num_frames=3, size=16, seed=0)
    np.testing.assert_allclose(model.log_prob(videos).numpy(), check["log_prob"], rtol=1e-5)
    first = model.predict_frames(videos[:, :1], 3, temperature=0.7, seed=5).numpy()
    again = model.predict_frames(videos[:, :1], 3, temperature=0.7, seed=5).numpy()
    assert first.shape == (4, 3, *FRAME) and np.isfinite(first).all()
    np.testing.assert_array_equal(first, again)
    assert not cache.exists()  # the published folder's copy was used


def test_tfflows_zoo_names_more_zoo_folders_which_come_first(tmp_path, monkeypatch):
    """$TFFLOWS_ZOO's folders are searched before the shipped presets, and an earlier
    folder before a later one: a name in several is the first folder's."""
    shipped = get("maf_moons")
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        (folder / "maf_moons").mkdir(parents=True)
        (folder / "extra").mkdir()
        for name in ("maf_moons", "extra"):
            spec = {**shipped.spec, "name": name, "description": f"{name} in {folder.name}"}
            (folder / name / "preset.json").write_text(json.dumps(spec))
    assert "extra" not in zoo.list()
    monkeypatch.setenv("TFFLOWS_ZOO", f"{folders[0]}:{folders[1]}")
    assert get("maf_moons").directory == folders[0] / "maf_moons"
    assert zoo.info("extra")["description"] == "extra in a"
    assert "glow_celeba" in zoo.list()  # the shipped ones are still there
    monkeypatch.setenv("TFFLOWS_ZOO", str(folders[1]))
    assert zoo.info("maf_moons")["description"] == "maf_moons in b"


def cli_json(capsys, argv):
    """The last stdout line of `tfflows ARGV` (run in this process), as JSON."""
    capsys.readouterr()
    assert cli.main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_eval_reports_a_video_models_test_bits_per_dim(video_zoo, capsys):
    """The mean of model.bits_per_dim over the source's test videos (one batch, dequantized
    with seed (0, 0) as bits_per_dim's default), which is also the run's own test score."""
    test = load_source(DATA).test_x
    model = run_model(video_zoo.run)
    expected = float(np.mean(model.bits_per_dim(test).numpy()))
    result = cli_json(capsys, ["eval", NAME, "--data", DATA])
    assert result["examples"] == len(test) == 6
    np.testing.assert_allclose(result["bits_per_dim"], expected, rtol=1e-5)
    summary = json.loads((video_zoo.run / "summary.json").read_text())
    np.testing.assert_allclose(summary["test"]["bits_per_dim"], expected, rtol=1e-5)


def test_predict_writes_the_gif_and_still_of_sampled_futures(video_zoo, tmp_path, capsys):
    """Three predicted frames of 3-frame videos: the true video's third frame is black."""
    gif, still = tmp_path / "p.gif", tmp_path / "p.png"
    argv = ["predict", NAME, "--data", DATA, "--videos", "2", "--samples", "3", "--frames", "3"]
    argv += ["--temperature", "0.5", "--seed", "4", "--out", str(gif), "--still", str(still)]
    capsys.readouterr()
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.split() == [str(gif), str(still)]
    model = run_model(video_zoo.run)
    videos = load_source(DATA).test_x[:2]
    assert_still_shows(still, model, videos, 3, 3, 0.5, 4)
    with Image.open(gif) as image:
        assert image.n_frames == 4 and image.size == ((4 * CELL + 2) * 2, (2 * CELL + 2) * 2)


def test_predict_from_context_videos_alone_draws_no_truth_column(video_zoo, tmp_path, capsys):
    npz = tmp_path / "context.npz"
    np.savez(npz, x_train=held_out_shapes(run_model(video_zoo.run), 3, num_frames=0))
    still = tmp_path / "p.png"
    argv = ["predict", NAME, "--data", str(npz), "--split", "train", "--samples", "2"]
    argv += ["--out", str(tmp_path / "p.gif"), "--still", str(still)]
    assert cli.main([*argv, "--frames", "2"]) == 0
    assert cells(still).shape == (3 * 2, 3, *FRAME)  # 2 samples per video, no true video
    status = cli.main(argv)  # how many frames to predict is not said
    assert status == 1
    assert "hold only the 1 context frame(s): say how many frames to predict" in (
        capsys.readouterr().err
    )


def test_sample_and_predict_name_the_command_a_model_needs(video_zoo, capsys):
    capsys.readouterr()
    assert cli.main(["sample", NAME]) == 1
    assert capsys.readouterr().err == (
        f"tfflows sample: {NAME} is a video model: it predicts frames from context videos; "
        f"use tfflows predict {NAME} --data VIDEOS\n"
    )
    assert cli.main(["predict", "maf_moons", "--data", DATA]) == 1
    assert capsys.readouterr().err.startswith(
        "tfflows predict: maf_moons is not a video model (it takes examples of shape (2,))"
    )


def test_demo_of_a_video_preset_writes_its_predictions(video_zoo, tmp_path, capsys):
    out = tmp_path / "demo.gif"
    capsys.readouterr()
    assert cli.main(["demo", "--zoo", NAME, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and out.with_suffix(".png").is_file()
    model = run_model(video_zoo.run)
    bits = float(np.mean(model.bits_per_dim(held_out_shapes(model, 64)).numpy()))
    line = next(x for x in printed.splitlines() if "bits/dim on 64 of held-out" in x)
    np.testing.assert_allclose(float(line.split()[0]), bits, atol=1e-4)
