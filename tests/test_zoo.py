"""The pretrained zoo: every preset loads offline with verified weights that reproduce its
stored check values; the cache and download path; the command line; a real pip install."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from tfflows import zoo
from tfflows.zoo.registry import check_batch, get

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def offline(monkeypatch):
    """Any network access fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during an offline load: {args[:1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFFLOWS_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_zoo_lists_its_presets():
    assert "maf_moons" in zoo.list()
    info = zoo.info("maf_moons")
    assert info["parameters"] > 0 and info["license"] and info["commands"]["train"]
    assert pathlib.Path(info["card"]).is_file()


@pytest.mark.parametrize("name", zoo.list())
def test_every_preset_loads_offline_and_reproduces_its_check_values(name, offline, cache):
    preset = get(name)
    weights = preset.directory / preset.weights["file"]
    assert zoo.sha256_file(weights) == preset.weights["sha256"]
    model = zoo.load(name)
    check = preset.spec["check"]
    batch = check_batch(model, check["kind"], check["n"], check["seed"])
    np.testing.assert_allclose(model.log_prob(batch).numpy(), check["log_prob"], rtol=1e-5)
    samples = model.sample(3, temperature=0.7, seed=0)
    assert tuple(samples.shape) == (3, *model.data_shape)
    untrained = zoo.load(name, weights=False)
    assert not np.allclose(untrained.log_prob(batch).numpy(), check["log_prob"], rtol=1e-3)
    assert not cache.exists()  # the shipped copy was used, nothing cached


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"unknown zoo model 'glow_imagenet'.*maf_moons"):
        zoo.load("glow_imagenet")


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
    from another directory: the weights must ship as package data."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    build = tmp_path / "src"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(".venv", "runs", "out", ".git"))
    done = subprocess.run([*pip, str(build)], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import tfflows, numpy as np; m = tfflows.zoo.load('glow_celeba'); "
        "x = np.full((1, 32, 32, 3), 128, np.uint8); "
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
    installed_at, value = run.stdout.strip().splitlines()[-2:]
    assert str(venv) in installed_at  # the installed copy, not the source tree
    gray = np.full((1, 32, 32, 3), 128, np.uint8)
    expected = float(zoo.load("glow_celeba").log_prob(gray)[0])
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)
