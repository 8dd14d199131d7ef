"""The pretrained zoo: every preset loads offline with verified weights that reproduce its
stored check values (robustly: in-distribution batches); the cache and download path; the
command line; a real pip install. The attacks and failures of weights handling (swapped
files, URL schemes, unwritable caches, unsafe names, killed downloads) are in
test_zoo_weights.py."""

import json
import os
import pathlib
import shutil
import site
import subprocess
import sys

import numpy as np
import pytest

from tests import zoo_fixtures
from tfflows import zoo
from tfflows.zoo.predictions import context_length
from tfflows.zoo.publish import refresh_check
from tfflows.zoo.registry import (
    check_condition,
    check_inputs,
    check_values,
    get,
    is_audio,
    is_vae,
    is_video,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
# the shared fixtures
offline, cache = zoo_fixtures.offline, zoo_fixtures.cache
tiny_video_zoo, video_zoo = zoo_fixtures.tiny_video_zoo, zoo_fixtures.video_zoo
tiny_audio_zoo, audio_zoo = zoo_fixtures.tiny_audio_zoo, zoo_fixtures.audio_zoo
preset_name = zoo_fixtures.preset_name
# Every shipped preset, a tiny video preset and tiny audio presets (a teacher and its
# student) published from 2-step runs into zoo folders of their own.
PRESETS = [
    *zoo.list(),
    zoo_fixtures.TINY_VIDEO,
    zoo_fixtures.TINY_TEACHER,
    zoo_fixtures.TINY_STUDENT,
]


def test_the_zoo_lists_its_presets():
    assert "maf_moons" in zoo.list()
    info = zoo.info("maf_moons")
    assert info["parameters"] > 0 and info["license"] and info["commands"]["train"]
    assert pathlib.Path(info["card"]).is_file()


# The stored check values are reproduced to 1e-5 relative. That is robust because every
# check batch is in-distribution: log-probs of -1.2 to -9.3 nats (2-D presets) and 2,700 to
# 10,600 nats (images), which any partitioning of the reductions reproduces to float32
# precision (measured: at most 9.4e-7 relative between batches of 1, 4, 12 and 64 rows, with
# 1 and 2 threads). The retired uniform-pixel batch gave maf_mnist log-probs near -3e18 that
# moved by 6.6e-5 relative between such batchings.
CHECK_RTOL = 1e-5


@pytest.mark.parametrize("preset_name", PRESETS, indirect=True)
def test_every_preset_loads_offline_and_reproduces_its_check_values(preset_name, offline, cache):
    name = preset_name
    preset = get(name)
    weights = preset.directory / preset.weights["file"]
    assert zoo.sha256_file(weights) == preset.weights["sha256"]
    model = zoo.load(name)
    check = preset.spec["check"]
    assert check["n"] == len(check["log_prob"])
    np.testing.assert_allclose(check_values(model, check), check["log_prob"], rtol=CHECK_RTOL)
    if is_audio(model):
        labels = None if model.num_classes is None else [0, 1, 2]
        samples = model.sample(3, 100, seed=0, condition=labels, temperature=0.7)
        assert tuple(samples.shape) == (3, 100) and np.isfinite(samples.numpy()).all()
    elif is_video(model):
        batch = check_inputs(model, check)  # a video model predicts frames from context videos
        context = batch[:3, : context_length(model)]
        samples = model.predict_frames(context, 2, temperature=0.7, seed=0)
        assert tuple(samples.shape) == (3, 2, *model.data_shape[1:])
        assert np.isfinite(samples.numpy()).all()
    elif is_vae(model):
        labels = None if model.num_classes is None else [0, 1, 2]
        samples = model.sample(3, labels, seed=0).numpy()
        assert samples.shape == (3, *model.data_shape)
        assert samples.min() >= 0 and samples.max() <= 1 and samples.std() > 0.1
    else:
        samples = model.sample(3, temperature=0.7, seed=0)
        assert tuple(samples.shape) == (3, *model.data_shape)
    untrained = zoo.load(name, weights=False)
    assert not np.allclose(check_values(untrained, check), check["log_prob"], rtol=1e-3)
    assert not cache.exists()  # the shipped copy was used, nothing cached


@pytest.mark.parametrize("preset_name", PRESETS, indirect=True)
def test_every_check_batch_is_in_distribution(preset_name):
    """Image presets store their own samples (uint8 pixels), which are not blank and score
    between 0 and 8 bits/dim (8 is uniform noise; the retired random-pixel batches scored 13
    to 4e16); video presets' generated stochastic shapes show their shape in every frame
    and score between 0 and 8 bits per predicted pixel-channel; the 2-D presets' points
    score above -20 nats (the retired maf_moons batch had a point 19 standard deviations
    out in the latent, at -185 nats)."""
    check = get(preset_name).spec["check"]
    model = zoo.load(preset_name, weights=False)
    if is_audio(model):
        # Clips of a model's own samples (a WaveNet's stored, a student's regenerated), at
        # moderate nats per sample (the untrained models are about N(0, 1) per sample).
        per_sample = np.asarray(check["log_prob"]) / check.get("length", 256)
        assert np.all((per_sample > -10) & (per_sample < 10)), per_sample
        if check["kind"] == "samples":
            batch = check_inputs(model, check)
            assert batch.dtype == np.float32 and batch.shape == (check["n"], 256)
            assert np.isfinite(batch).all() and batch.std() > 0
        else:
            assert check["kind"] == "student_samples" and check["length"] == 256
        return
    batch = check_inputs(model, check)
    if is_vae(model):
        # Its own samples made binary, with an ELBO between 0 and 1 bit per pixel (1 is a
        # coin flip per pixel) and a stroke in every digit (at least 16 lit pixels: a thin
        # 1 at temperature 0.5 has 23 of 784).
        assert check["kind"] == "samples" and batch.dtype == np.uint8 and batch.max() == 1
        bits = -np.asarray(check["log_prob"]) / (model.event_size * np.log(2.0))
        assert np.all((bits > 0) & (bits < 1)), bits
        assert np.all(batch.reshape(len(batch), -1).sum(axis=1) >= 16)
    elif is_video(model):
        assert check["kind"] == "stochastic_shapes" and batch.dtype == np.uint8
        assert batch.shape == (check["n"], check["num_frames"], *model.data_shape[1:])
        predicted = check["num_frames"] - model.context_frames
        dims = predicted * float(np.prod(model.data_shape[1:]))
        bits = -np.asarray(check["log_prob"]) / (dims * np.log(2.0)) + model.num_bits
        assert np.all((bits > 0) & (bits < 8)), bits
        assert (batch.reshape(*batch.shape[:2], -1) > 0).any(axis=-1).all()  # no blank frame
    elif model.num_bits is not None:
        assert check["kind"] == "samples" and batch.dtype == np.uint8
        assert batch.shape == (check["n"], *model.data_shape)
        dims = float(np.prod(model.data_shape))
        bits = -np.asarray(check["log_prob"]) / (dims * np.log(2.0)) + model.num_bits
        assert np.all((bits > 0) & (bits < 8)), bits
        lit = (batch.reshape(len(batch), -1) > 0).mean(axis=1)
        assert np.all(lit > 0.05), lit  # realnvp_mnist's samples at temperature 0.5 are blank
    else:
        assert min(check["log_prob"]) > -20, check["log_prob"]


@pytest.mark.parametrize("preset_name", PRESETS, indirect=True)
def test_check_values_do_not_depend_on_how_the_batch_is_computed(preset_name):
    """The same rows scored one at a time, as the stored batch, and inside a batch of 64
    (other partitions of every reduction) agree with the stored values to CHECK_RTOL."""
    check = get(preset_name).spec["check"]
    if check["kind"] == "student_samples":
        pytest.skip("a student's check is the log-density of its own samples from one draw")
    model = zoo.load(preset_name, progress=False)
    if is_vae(model):
        # The ELBO at one posterior draw per row: a row's noise depends on its place in the
        # batch, so only the stored batch itself is scored again (repeated: same values).
        c = check_condition(check)
        for _ in range(2):
            got = model.elbo(check_inputs(model, check), c, seed=check["seed"]).numpy()
            np.testing.assert_allclose(got, check["log_prob"], rtol=CHECK_RTOL)
        return
    batch = check_inputs(model, check)
    x = batch if is_audio(model) else model.to_continuous(batch).numpy()
    n = len(x)
    c = check_condition(check)
    cs = [None] * n if c is None else c[:, None]
    singles = [model.log_prob(x[i : i + 1], cs[i]).numpy()[0] for i in range(n)]
    tiled = np.tile(x, (64 // n, *[1] * (x.ndim - 1)))
    within_64 = model.log_prob(tiled, None if c is None else np.tile(c, 64 // n)).numpy()
    for got in (singles, model.log_prob(x, c).numpy(), *within_64.reshape(-1, n)):
        np.testing.assert_allclose(got, check["log_prob"], rtol=CHECK_RTOL)


def test_refresh_check_rewrites_only_the_check_entry(tmp_path):
    """A preset with a retired uniform-pixel check gets an in-distribution "samples" check
    from its shipped weights; every other byte of preset.json stays."""
    name = "realnvp_mnist"
    original = (get(name).directory / "preset.json").read_text()
    spec = json.loads(original)
    spec["check"] = {"kind": "pixels", "n": 4, "seed": 0, "log_prob": [0.0] * 4}
    (tmp_path / "preset.json").write_text(json.dumps(spec, indent=2) + "\n")
    check = refresh_check(name, directory=tmp_path)
    written = json.loads((tmp_path / "preset.json").read_text())
    assert written["check"] == check and check["kind"] == "samples"
    assert check["temperature"] == 0.5 and check["shape"] == [4, 28, 28, 1]
    assert list(written) == list(spec)  # same entries, same order
    assert {k: v for k, v in written.items() if k != "check"} == {
        k: v for k, v in spec.items() if k != "check"
    }
    model = zoo.load(name)
    np.testing.assert_allclose(
        model.log_prob(check_inputs(model, check)).numpy(), check["log_prob"], rtol=CHECK_RTOL
    )
    assert (get(name).directory / "preset.json").read_text() == original  # shipped untouched


def test_refresh_check_of_a_video_preset_keeps_its_kind_and_frames(video_zoo, tmp_path):
    """The tiny video preset's check, zeroed in a copy of its preset.json, comes back from
    its weights: the same generated batch (kind, n, seed, num_frames) and log-probs."""
    name = zoo_fixtures.TINY_VIDEO
    spec = json.loads((video_zoo.preset / "preset.json").read_text())
    stored = dict(spec["check"])
    spec["check"]["log_prob"] = [0.0] * stored["n"]
    (tmp_path / "preset.json").write_text(json.dumps(spec, indent=2) + "\n")
    check = refresh_check(name, directory=tmp_path)
    assert json.loads((tmp_path / "preset.json").read_text())["check"] == check
    np.testing.assert_allclose(check.pop("log_prob"), stored.pop("log_prob"), rtol=CHECK_RTOL)
    assert check == stored == {"kind": "stochastic_shapes", "n": 4, "seed": 0, "num_frames": 3}


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown zoo model 'glow_imagenet'.*maf_moons"):
        zoo.load("glow_imagenet")
    with pytest.raises(ValueError, match=r"'glow_celebA'; did you mean 'glow_celeba'\?"):
        zoo.load("glow_celebA")


def test_a_tampered_file_is_refused_before_loading(tmp_path):
    preset = get("maf_moons")
    bad = tmp_path / "model.weights.h5"
    data = bytearray((preset.directory / preset.weights["file"]).read_bytes())
    data[-100] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(zoo.WeightsError, match=r"model.weights.h5: sha256 [0-9a-f]{64} does not"):
        zoo.load("maf_moons", path=bad)


def test_download_verifies_caches_and_rejects_tampering(tmp_path, cache):
    preset = get("maf_moons")
    w = preset.weights
    source = tmp_path / "remote" / w["file"]
    source.parent.mkdir()
    good = (preset.directory / w["file"]).read_bytes()
    source.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # tampered remote copy
    url = source.as_uri()
    with pytest.raises(zoo.WeightsError, match="download was discarded"):
        zoo.resolve_weights("maf_moons", w["file"], w["sha256"], url=url, progress=False)
    assert not [p for p in cache.rglob("*") if p.is_file()]  # nothing cached, no temp left
    source.write_bytes(good)
    got = zoo.resolve_weights("maf_moons", w["file"], w["sha256"], url=url, progress=False)
    assert got.is_relative_to(cache) and got.read_bytes() == good
    source.unlink()  # the second load must come from the cache
    again = zoo.resolve_weights("maf_moons", w["file"], w["sha256"], url=url, progress=False)
    assert again == got


def run_cli(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "tfflows.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=cwd,
    )


def test_cli_zoo_list_sample_and_eval(tmp_path):
    listed = run_cli("zoo", "list")
    assert listed.returncode == 0 and "maf_moons" in listed.stdout
    out = tmp_path / "s.npy"
    sampled = run_cli("sample", "maf_moons", "--n", "5", "--seed", "3", "--out", str(out))
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    model = zoo.load("maf_moons")
    np.testing.assert_allclose(np.load(out), model.sample(5, 0.7, seed=3).numpy(), atol=1e-5)
    x = np.random.default_rng(0).normal(size=(50, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x_train=x, x_test=x[:20])
    scored = run_cli("eval", "maf_moons", "--data", str(tmp_path / "d.npz"))
    assert scored.returncode == 0, scored.stderr[-2000:]
    result = json.loads(scored.stdout.strip().splitlines()[-1])
    expected = -model.log_prob(x[:20]).numpy().mean()
    assert result["examples"] == 20
    np.testing.assert_allclose(result["nll"], expected, rtol=1e-5)


def test_pip_install_into_a_fresh_venv_loads_the_zoo_offline(tmp_path):
    """`pip install .` (not editable) into a new virtual environment, then load a preset
    from another directory: the weights must ship as package data. The dependencies
    (TensorFlow, ...) come from this environment through a .pth file rather than from the
    package index again; `make test` installs them from requirements.txt."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python*/site-packages")
    # A plain path line: this environment's own .pth files (the editable install of
    # tfflows among them) are not processed, so only the installed copy can be imported.
    (site_packages / "zz_test_runner.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    build = tmp_path / "src"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".venv", "runs", "out", ".git"))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps"]
    done = subprocess.run(
        [*pip, "--no-build-isolation", "--no-index", str(build)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import json, pathlib, tfflows, tfflows.zoo_presets, numpy as np; "
        "m = tfflows.zoo.load('glow_celeba'); "
        "x = np.full((1, 32, 32, 3), 128, np.uint8); "
        "zoo = pathlib.Path(tfflows.zoo_presets.__path__[0]); "
        "files = [p for d in zoo.glob('*/preset.json') for p in d.parent.glob('*.*')]; "
        "print(json.dumps(sorted(str(p.relative_to(zoo)) for p in files))); "
        "print(tfflows.__file__); print(float(np.asarray(m.log_prob(x))[0]))"
    )
    env = {"PATH": os.environ["PATH"], "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": str(tmp_path)}
    run = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=elsewhere,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    shipped, installed_at, value = run.stdout.strip().splitlines()[-3:]
    assert str(venv) in installed_at  # the installed copy, not the source tree
    # Every file of every preset folder ships: weights, cards, pictures, GIFs, WAVs.
    presets = [path.parent for path in (ROOT / "zoo").glob("*/preset.json")]
    source = sorted(str(p.relative_to(ROOT / "zoo")) for d in presets for p in d.glob("*.*"))
    assert json.loads(shipped) == source
    gray = np.full((1, 32, 32, 3), 128, np.uint8)
    expected = float(zoo.load("glow_celeba").log_prob(gray)[0])
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
