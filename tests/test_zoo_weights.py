"""Weights handling of the zoo under attack and failure: the bytes loaded are the bytes
verified even if the file is swapped after its check (explicit path, shipped folder, cache);
any file name loads; only https:// and file:// URLs; a read-only or full cache and unsafe
names are clear WeightsErrors; temporary files of killed processes are cleaned up, those of
live ones are not."""

import errno
import os
import pathlib
import subprocess
import sys
import tempfile
import types
import urllib.request

import numpy as np
import pytest

from tests import zoo_fixtures
from tfflows import zoo
from tfflows.zoo import weights as zoo_weights
from tfflows.zoo.registry import Preset, check_inputs, get

NAME = "maf_moons"
SCRIPTS = pathlib.Path(__file__).resolve().parent / "scripts"
offline, cache = zoo_fixtures.offline, zoo_fixtures.cache  # the shared fixtures


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The system temp folder, where the private verified copies go, isolated per test."""
    folder = tmp_path / "systemp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def shipped_bytes():
    preset = get(NAME)
    return (preset.directory / preset.weights["file"]).read_bytes()


def reproduces_check(model):
    """True if `model` has the preset's trained weights (its stored check values)."""
    check = get(NAME).spec["check"]
    got = model.log_prob(check_inputs(model, check)).numpy()
    return np.allclose(got, check["log_prob"], rtol=1e-5)


def use_preset_folder(monkeypatch, folder):
    """`zoo.load(NAME)` finds its shipped weights (if any) in `folder`."""
    preset = get(NAME)
    fake = Preset(NAME, pathlib.Path(folder), preset.spec)
    monkeypatch.setattr(zoo, "get", lambda name: fake)


def swap_after_hashing(monkeypatch, target, foreign):
    """Once a sha256 of the weights is complete (its hexdigest taken), the file at `target`
    is atomically replaced by other valid weights: the attack of a writer racing the load."""
    state = {"swapped": False}
    real = zoo_weights.hashlib.sha256

    class Spy:
        def __init__(self, *args):
            self.digest = real(*args)

        def update(self, data):
            self.digest.update(data)

        def hexdigest(self):
            value = self.digest.hexdigest()
            if not state["swapped"]:
                os.replace(foreign, target)
                state["swapped"] = True
            return value

    monkeypatch.setattr(zoo_weights, "hashlib", types.SimpleNamespace(sha256=Spy))
    return state


@pytest.fixture
def foreign(tmp_path):
    """Valid weights of the same architecture that are not the preset's (untrained)."""
    path = tmp_path / "foreign.weights.h5"
    zoo.load(NAME, weights=False).save_weights(path)
    return path


@pytest.mark.parametrize("source", ["path", "shipped", "cache"])
def test_a_file_swapped_after_its_check_is_not_loaded(
    source, tmp_path, cache, private_tmp, foreign, monkeypatch, offline
):
    w = get(NAME).weights
    kwargs = {}
    if source == "path":
        target = tmp_path / "mine" / "model.weights.h5"
        kwargs["path"] = target
        use_preset_folder(monkeypatch, tmp_path / "no-shipped-copy")
    elif source == "shipped":
        target = tmp_path / "package" / w["file"]
        use_preset_folder(monkeypatch, target.parent)
    else:
        target = cache / NAME / w["sha256"][:16] / w["file"]
        use_preset_folder(monkeypatch, tmp_path / "no-shipped-copy")
    target.parent.mkdir(parents=True)
    target.write_bytes(shipped_bytes())
    state = swap_after_hashing(monkeypatch, target, foreign)
    model = zoo.load(NAME, **kwargs)
    assert state["swapped"]  # the file on disk is now the foreign one
    assert target.read_bytes() != shipped_bytes()
    assert reproduces_check(model)  # ...but the verified bytes were loaded
    untrained = zoo.load(NAME, weights=False)
    untrained.load_weights(target)
    assert not reproduces_check(untrained)  # (the foreign file would have been caught)
    assert not list(private_tmp.iterdir())  # the private copy is gone


@pytest.mark.parametrize("file_name", ["weights.bin", "model.h5", "maf_moons", "w.keras"])
def test_an_explicit_path_of_any_name_loads(file_name, tmp_path, private_tmp):
    path = tmp_path / file_name
    path.write_bytes(shipped_bytes())
    assert reproduces_check(zoo.load(NAME, path=path))


def test_an_explicit_path_that_is_missing_or_tampered_is_an_error(tmp_path, private_tmp):
    with pytest.raises(zoo.WeightsError, match=r"weights file .*nowhere.bin does not exist"):
        zoo.load(NAME, path=tmp_path / "nowhere.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(shipped_bytes()[:-1] + b"\0")
    with pytest.raises(zoo.WeightsError, match=r"bad.bin: sha256 [0-9a-f]{64} does not match"):
        zoo.load(NAME, path=bad)
    assert not list(private_tmp.iterdir())


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/model.weights.h5",
        "ftp://example.com/model.weights.h5",
        "data:application/octet-stream;base64,AAAA",
        "example.com/model.weights.h5",
    ],
)
def test_only_https_and_file_urls_are_allowed(url, cache, offline):
    w = get(NAME).weights
    expected = r"weights URL .*; only https:// and file:// URLs are allowed"
    with pytest.raises(zoo.WeightsError, match=expected) as caught:
        zoo.resolve_weights(NAME, w["file"], w["sha256"], url=url, progress=False)
    assert url in str(caught.value)
    assert not cache.exists()


def test_a_redirect_away_from_https_is_refused():
    handler = zoo_weights._HttpsOnlyRedirects()
    request = urllib.request.Request("https://example.com/w.h5")
    with pytest.raises(zoo.WeightsError, match=r"redirected to http://evil.example/w.h5"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://evil.example/w.h5")
    followed = handler.redirect_request(request, None, 302, "Found", {}, "https://cdn.example/w")
    assert followed.full_url == "https://cdn.example/w"


def remote_weights(tmp_path):
    source = tmp_path / "remote" / "model.weights.h5"
    source.parent.mkdir(exist_ok=True)
    source.write_bytes(shipped_bytes())
    return source.as_uri()


def test_a_cache_that_cannot_be_created_is_a_clear_error(tmp_path, monkeypatch):
    """A cache folder whose parent is a regular file cannot be created (mkdir fails even as
    root, unlike a chmod-ed folder)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TFFLOWS_HOME", str(blocker / "cache"))
    w = get(NAME).weights
    url = remote_weights(tmp_path)
    with pytest.raises(zoo.WeightsError) as caught:
        zoo.resolve_weights(NAME, w["file"], w["sha256"], url=url, progress=False)
    message = str(caught.value)
    assert f"cannot write to {blocker / 'cache' / NAME}" in message
    assert "$TFFLOWS_HOME" in message and "path=" in message


def test_a_full_disk_is_a_clear_error_and_leaves_no_temporary_file(tmp_path, cache, monkeypatch):
    """The download's temporary file writes to /dev/full, which fails with ENOSPC."""
    real_mkstemp = tempfile.mkstemp

    def full_mkstemp(*args, **kwargs):
        fd, path = real_mkstemp(*args, **kwargs)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path

    monkeypatch.setattr(tempfile, "mkstemp", full_mkstemp)
    w = get(NAME).weights
    url = remote_weights(tmp_path)
    with pytest.raises(zoo.WeightsError) as caught:
        zoo.resolve_weights(NAME, w["file"], w["sha256"], url=url, progress=False)
    message = str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOSPC
    assert f"cannot write to {cache / NAME / w['sha256'][:16]}" in message
    assert "disk is full" in message and "$TFFLOWS_HOME" in message and "path=" in message
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_an_unwritable_temp_folder_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(tempfile, "tempdir", str(blocker / "tmp"))
    with pytest.raises(zoo.WeightsError, match=r"cannot write to .*a-file/tmp: .*\$TMPDIR"):
        zoo.load(NAME)


@pytest.mark.parametrize(
    "field, value",
    [
        ("file_name", "../../escaped.weights.h5"),
        ("file_name", "sub/model.weights.h5"),
        ("file_name", ".."),
        ("file_name", "."),
        ("file_name", ""),
        ("file_name", "ABSOLUTE"),
        ("name", "../escaped"),
        ("name", ".."),
        ("sha256", "../../../../escaped/" + "0" * 44),
    ],
)
def test_unsafe_names_are_refused_before_anything_is_written(field, value, tmp_path, cache):
    w = get(NAME).weights
    args = {"name": NAME, "file_name": w["file"], "sha256": w["sha256"]}
    args[field] = str(tmp_path / "absolute.weights.h5") if value == "ABSOLUTE" else value
    url = remote_weights(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(zoo.WeightsError, match="not a plain file name|not 64 lowercase hex"):
        zoo.resolve_weights(url=url, progress=False, **args)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere


def temp_name(stem, pid, host=None):
    """A temporary file's name as the zoo makes them: <stem>.pid<pid>@<host>.<random>.part"""
    return f"{stem}.pid{pid}@{host or zoo_weights._host()}.abc123.part"


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process
    return child.pid


def test_a_killed_download_leaves_a_temp_file_that_the_next_resolve_removes(tmp_path, cache):
    w = get(NAME).weights
    url = remote_weights(tmp_path)
    env = dict(os.environ, TFFLOWS_HOME=str(cache), TF_CPP_MIN_LOG_LEVEL="2")
    killed = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "zoo_killed_download.py"),
            NAME,
            w["file"],
            w["sha256"],
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr[-3000:]
    folder = cache / NAME / w["sha256"][:16]
    stale = list(folder.iterdir())
    assert len(stale) == 1 and stale[0].name.startswith(".model.weights.h5.")
    assert not (folder / w["file"]).exists()
    # A download running in this (live) process, and one of another host: both are left.
    live = folder / temp_name(".model.weights.h5", os.getpid())
    elsewhere = folder / temp_name(".model.weights.h5", dead_pid(), host="other-host")
    live.write_bytes(b"in progress")
    elsewhere.write_bytes(b"in progress on another machine")
    got = zoo.resolve_weights(NAME, w["file"], w["sha256"], url=url, progress=False)
    assert got.read_bytes() == shipped_bytes()
    assert not stale[0].exists()
    assert sorted(folder.iterdir()) == sorted([got, live, elsewhere])


def test_stale_private_copies_are_removed_and_live_ones_kept(private_tmp):
    stale = private_tmp / temp_name("tfflows-weights", dead_pid())
    live = private_tmp / temp_name("tfflows-weights", os.getpid())
    other = private_tmp / "tfflows-weights.pid1@x"  # not ours: not the temp name pattern
    for folder in (stale, live, other):
        folder.mkdir()
        (folder / "model.weights.h5").write_bytes(b"partial")
    assert reproduces_check(zoo.load(NAME))
    assert sorted(private_tmp.iterdir()) == sorted([live, other])
