"""SavedModel export: TF Serving layout, signatures, the C API loader, no Python needed."""

import json
import pathlib
import signal
import subprocess
import sys
import threading
from subprocess import PIPE

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests.c_loader import compile_runner, run_signature
from tfflows import models
from tfflows.export import SIGNATURES, export_saved_model

PYFUNC_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}


def _glow(**kwargs):
    keras.utils.set_random_seed(0)
    model = models.Glow((8, 8, 3), levels=2, steps_per_level=2, hidden_channels=8, **kwargs)
    x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(16, dtype=np.int32) % 3
    model.initialize(x, labels if kwargs.get("num_classes") else None)
    _randomize(model)
    return model


def _maf():
    keras.utils.set_random_seed(0)
    model = models.MAF(2, num_layers=2, hidden_units=[16])
    _randomize(model)
    return model


def _randomize(model):
    """Zero-initialised last layers would make every model the identity; perturb them so
    a mixed-up signature or a wrong output cannot pass."""
    rng = np.random.default_rng(1)
    for v in model.trainable_variables:
        v.assign(v.numpy() + rng.normal(0, 0.05, v.shape).astype(np.float32))


CASES = {
    "glow": (_glow, {}),
    "glow_classes": (lambda: _glow(num_classes=3), {"condition": np.array([0, 2, 1, 1])}),
    "maf": (_maf, {}),
}


def _inputs(model, n=4):
    if model.num_bits is not None:
        return np.random.default_rng(2).integers(0, 256, (n, *model.data_shape), dtype=np.uint8)
    return np.random.default_rng(2).normal(size=(n, *model.data_shape)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    out = {}
    for name, (build, extra) in CASES.items():
        model = build()
        out[name] = (model, export_saved_model(model, base, name=name), extra)
    return out


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return compile_runner(tmp_path_factory.mktemp("c"))


def _expected(model, extra, x):
    c = extra.get("condition")
    z = model.encode(x, c).numpy()
    out = {
        "log_prob": {"log_prob": model.log_prob(x, c).numpy()},
        "bits_per_dim": {"bits_per_dim": model.bits_per_dim(x, c).numpy()},
        "encode": {"latent": z},
        "decode": {"x": model.decode(z, c).numpy()},
        "sample": {"samples": model.sample(4, 0.7, seed=11, condition=c).numpy()},
    }
    if model.num_bits is not None:
        out["decode"]["images"] = model.to_uint8(out["decode"]["x"]).numpy()
        out["sample"]["images"] = model.to_uint8(out["sample"]["samples"]).numpy()
    out["serving_default"] = out["log_prob"]
    return out


def _requests(model, extra, x):
    c = {"condition": extra["condition"].astype(np.int32)} if "condition" in extra else {}
    z = model.encode(x, extra.get("condition")).numpy().astype(np.float32)
    scalars = {"n": np.int32(4), "temperature": np.float32(0.7), "seed": np.int64(11)}
    return {
        "serving_default": {"x": x, **c},
        "log_prob": {"x": x, **c},
        "bits_per_dim": {"x": x, **c},
        "encode": {"x": x, **c},
        "decode": {"latent": z, **c},
        "sample": {**scalars, **c},
    }


def _assert_close(got, want, what):
    assert set(got) == set(want), (what, sorted(got), sorted(want))
    for key, value in want.items():
        if value.dtype == np.uint8:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{what}/{key}")
        else:
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=what)


def test_layout_versions_and_no_half_written_version(tmp_path, monkeypatch):
    model = _maf()
    first = export_saved_model(model, tmp_path, name="maf")
    second = export_saved_model(model, tmp_path, name="maf")
    assert first == tmp_path / "maf" / "1" and second == tmp_path / "maf" / "2"
    assert (first / "saved_model.pb").exists() and (first / "variables").is_dir()
    with pytest.raises(FileExistsError, match="never rewritten"):
        export_saved_model(model, tmp_path, name="maf", version=1)

    def crash(*args, **kwargs):
        (pathlib.Path(args[1]) / "saved_model.pb").write_bytes(b"half")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        export_saved_model(model, tmp_path, name="maf")
    assert sorted(p.name for p in (tmp_path / "maf").iterdir()) == ["1", "2"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_model_cli_lists_the_signatures_and_graph_has_no_pyfunc(exported, name):
    _, path, _ = exported[name]
    # The module behind the saved_model_cli script, which not every venv layout has in bin/.
    cli = [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    shown = subprocess.run(
        [*cli, "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for signature in SIGNATURES:
        assert f"signature_def['{signature}']" in shown
    assert shown.count("Method name is: tensorflow/serving/predict") == len(SIGNATURES)
    assert "shape: (-1" in shown  # dynamic batch
    ops = graph_ops(path)
    assert len(ops) > 20  # the graph was read
    assert not ops & PYFUNC_OPS


def graph_ops(path):
    """The op types in an export's graph and in every function of its library."""
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    graph = proto.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node}
    for function in graph.library.function:
        ops |= {n.op for n in function.node_def}
    return ops


@pytest.mark.parametrize("name", sorted(CASES))
def test_c_api_loader_runs_every_signature_like_the_keras_model(exported, runner, name, tmp_path):
    model, path, extra = exported[name]
    x = _inputs(model)
    want = _expected(model, extra, x)
    for signature, feed in _requests(model, extra, x).items():
        got = run_signature(runner, path, signature, feed, tmp_path / signature)
        _assert_close(got, want[signature], f"{name}:{signature}")


def test_c_api_loader_rejects_bad_requests(exported, runner, tmp_path):
    _, path, _ = exported["glow"]
    scalars = {"temperature": np.float32(0.7), "seed": np.int64(0)}
    with pytest.raises(RuntimeError, match="n must be >= 0"):
        run_signature(runner, path, "sample", {"n": np.int32(-1), **scalars}, tmp_path)
    # (2, 4, 16, 3) has as many values per image as (8, 8, 3): only its dims tell them apart.
    for shape in [(2, 4, 4, 3), (2, 4, 16, 3), (2, 8, 8, 3, 1), (2, 8, 24)]:
        with pytest.raises(RuntimeError, match=r"x must have shape \[N, 8, 8, 3\]"):
            run_signature(runner, path, "log_prob", {"x": np.zeros(shape, np.uint8)}, tmp_path)
    with pytest.raises(RuntimeError, match="(?i)type|dtype|expects"):
        run_signature(runner, path, "log_prob", {"x": np.zeros((2, 8, 8, 3), np.float32)}, tmp_path)


@pytest.mark.parametrize("bad", [7, 99, -1, 3])
def test_c_api_loader_rejects_out_of_range_labels(exported, runner, tmp_path, bad):
    """tf.one_hot of an invalid label is all zeros: without a check, 7, 99 and -1 scored
    the same. The model's graph check fails the request, as TF Serving would answer."""
    model, path, _ = exported["glow_classes"]
    x = _inputs(model)
    labels = np.array([0, bad, 1, 1], np.int32)
    for signature in ("log_prob", "bits_per_dim", "encode"):
        with pytest.raises(RuntimeError, match=r"INVALID_ARGUMENT.*must be in 0\.\.2"):
            run_signature(runner, path, signature, {"x": x, "condition": labels}, tmp_path)
    scalars = {"n": np.int32(4), "temperature": np.float32(0.7), "seed": np.int64(0)}
    with pytest.raises(RuntimeError, match=r"INVALID_ARGUMENT.*must be in 0\.\.2"):
        run_signature(runner, path, "sample", {**scalars, "condition": labels}, tmp_path)
    good = {**scalars, "condition": np.array([0, 2, 1, 1], np.int32)}
    assert run_signature(runner, path, "sample", good, tmp_path)["samples"].shape[0] == 4


def test_python_signatures_reject_bad_requests(exported):
    _, path, _ = exported["glow"]
    loaded = tf.saved_model.load(str(path))
    sample = loaded.signatures["sample"]
    args = dict(temperature=tf.constant(0.7), seed=tf.constant(0, tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="n must be >= 0"):
        sample(n=tf.constant(-3), **args)
    # (The C API test above checks the message; here TF's own shape errors may come first.)
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError)):
        loaded.signatures["log_prob"](x=tf.zeros([2, 4, 4, 3], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.signatures["decode"](latent=tf.zeros([2, 8, 8, 2], tf.float32))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError)):
        loaded.signatures["log_prob"](x=tf.zeros([2, 8, 8, 3], tf.float32))
    same = sample(n=tf.constant(2), **args)["samples"].numpy()
    np.testing.assert_array_equal(same, sample(n=tf.constant(2), **args)["samples"].numpy())
    other = sample(n=tf.constant(2), temperature=tf.constant(0.7), seed=tf.constant(1, tf.int64))
    assert not np.array_equal(same, other["samples"].numpy())
    assert sample(n=tf.constant(0), **args)["samples"].shape[0] == 0
    empty = loaded.signatures["log_prob"](x=tf.zeros([0, 8, 8, 3], tf.uint8))["log_prob"]
    assert empty.shape == (0,)  # an empty request is answered, not an error


BLOCKED = ("keras", "tf_keras", "tensorflow_probability", "tfflows")
BLOCKED_RUNNER = r"""
import json, sys

for blocked in ("tfflows", "tensorflow_probability", "keras", "tf_keras"):
    try:
        __import__(blocked)
        raise SystemExit(f"{blocked} could be imported")
    except ImportError:
        pass
import numpy as np
import tensorflow as tf

path, feeds_file, out_file = sys.argv[1:]
loaded = tf.saved_model.load(path)
feeds = np.load(feeds_file)
out = {}
for key in feeds.files:
    signature, name = key.split("/")
    out.setdefault(signature, {})[name] = tf.constant(feeds[key])
results = {}
for signature, args in out.items():
    for k, v in loaded.signatures[signature](**args).items():
        results[f"{signature}/{k}"] = v.numpy()
np.savez(out_file, **results)
print(json.dumps(sorted(results)))
"""


def site_without(blocked, farm):
    """A copy (by symlinks) of site-packages without the `blocked` distributions: with
    `python -S` and it as the only path, those packages really cannot be imported."""
    site = pathlib.Path(np.__file__).parents[1]
    farm.mkdir()
    for entry in site.iterdir():
        top = entry.name.split("-")[0].split(".")[0].lower()
        if top in blocked or entry.suffix == ".pth" or entry.name.startswith("__editable__"):
            continue
        (farm / entry.name).symlink_to(entry)
    return farm


def run_where_tfflows_cannot_be_imported(path, requests, tmp_path):
    """Runs every request ({signature: {input: array}}) on `tf.saved_model.load(path)` in a
    Python where tfflows, TFP and Keras cannot be imported; {signature: {output: array}}."""
    feeds = {f"{s}/{k}": np.asarray(v) for s, f in requests.items() for k, v in f.items()}
    np.savez(tmp_path / "feeds.npz", **feeds)
    script = tmp_path / "blocked.py"
    script.write_text(BLOCKED_RUNNER)
    env = {"PYTHONPATH": str(site_without(BLOCKED, tmp_path / "site")), "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [script, path, tmp_path / "feeds.npz", tmp_path / "o.npz"]
    done = subprocess.run(
        [sys.executable, "-S", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = np.load(tmp_path / "o.npz")
    out = {}
    for key in results.files:
        signature, name = key.split("/")
        out.setdefault(signature, {})[name] = results[key]
    return out


@pytest.mark.parametrize("name", ["glow", "glow_classes"])
def test_loads_and_runs_where_tfflows_tfp_and_keras_cannot_be_imported(exported, name, tmp_path):
    model, path, extra = exported[name]
    x = _inputs(model)
    results = run_where_tfflows_cannot_be_imported(path, _requests(model, extra, x), tmp_path)
    want = _expected(model, extra, x)
    assert sorted(results) == sorted(want)
    for signature, outputs in want.items():
        _assert_close(results[signature], outputs, f"{name}:{signature}")


def test_eight_threads_share_one_loaded_model(exported):
    model, path, _ = exported["glow"]
    loaded = tf.saved_model.load(str(path))
    log_prob, sample = loaded.signatures["log_prob"], loaded.signatures["sample"]
    xs = [tf.constant(_inputs(model, n=2 + k % 3)) for k in range(8)]
    args = [
        dict(n=tf.constant(1 + k % 4), temperature=tf.constant(0.5), seed=tf.constant(k, tf.int64))
        for k in range(8)
    ]
    want_lp = [log_prob(x=x)["log_prob"].numpy() for x in xs]
    want_s = [sample(**a)["samples"].numpy() for a in args]
    failures = []

    def worker(k):
        try:
            for _ in range(200):
                np.testing.assert_array_equal(log_prob(x=xs[k])["log_prob"].numpy(), want_lp[k])
                np.testing.assert_array_equal(sample(**args[k])["samples"].numpy(), want_s[k])
        except Exception as error:  # noqa: BLE001 - collected and reported below
            failures.append((k, repr(error)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures[:3]


def test_cli_export_of_a_training_run(tmp_path):
    from tfflows.training import train

    run = tmp_path / "run"
    data = np.random.default_rng(0).integers(0, 256, (32, 8, 8, 3), dtype=np.uint8)
    train(
        models.for_data("glow", data, levels=2, steps_per_level=1, hidden_channels=8),
        data,
        out_dir=str(run),
        steps=2,
        batch_size=16,
        progress=False,
        samples=0,
    )
    done = subprocess.run(
        [sys.executable, "-m", "tfflows.cli", "export", str(run), "--out", str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    path = pathlib.Path(done.stdout.strip().splitlines()[-1])
    assert path == tmp_path / "m" / "run" / "1"
    trained = models.build_model(json.loads((run / "model.json").read_text()))
    trained.load_weights(run / "model.weights.h5")
    x = _inputs(trained)
    got = tf.saved_model.load(str(path)).signatures["log_prob"](x=tf.constant(x))["log_prob"]
    np.testing.assert_allclose(got.numpy(), trained.log_prob(x).numpy(), rtol=1e-5)


CAP_SAMPLES, CAP_BATCH = 4, 3


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    """A tiny class-conditional MAF exported with small caps: max_samples 4, max_batch 3."""
    keras.utils.set_random_seed(0)
    model = models.MAF(2, num_layers=1, hidden_units=[8], num_classes=3)
    _randomize(model)
    base = tmp_path_factory.mktemp("capped")
    path = export_saved_model(model, base, name="maf", max_samples=CAP_SAMPLES, max_batch=CAP_BATCH)
    return model, path


def test_c_api_loader_caps_the_samples_of_one_request(capped, runner, tmp_path):
    model, path = capped
    scalars = {"temperature": np.float32(0.7), "seed": np.int64(5)}
    labels = np.array([0, 1, 2, 1], np.int32)
    got = run_signature(
        runner, path, "sample", {"n": np.int32(4), **scalars, "condition": labels}, tmp_path
    )
    want = model.sample(4, 0.7, seed=5, condition=labels).numpy()
    np.testing.assert_allclose(got["samples"], want, rtol=1e-5, atol=1e-5)
    for n in (CAP_SAMPLES + 1, 2**31 - 1):
        # One label only: the cap must be reported first, before the one-condition-per-sample
        # check and before anything of size n is allocated (2^31 - 1 samples would not fit).
        feed = {"n": np.int32(n), **scalars, "condition": labels[:1]}
        with pytest.raises(RuntimeError) as error:
            run_signature(runner, path, "sample", feed, tmp_path)
        message = str(error.value)
        assert message.startswith("TF_SessionRun: INVALID_ARGUMENT: "), message
        assert f"sample: n = {n} is more than this export allows (max_samples = 4)" in message
        assert "export_saved_model(..., max_samples=...)" in message


def test_c_api_loader_caps_the_batch_of_one_request(capped, runner, tmp_path):
    model, path = capped
    x = np.random.default_rng(3).normal(size=(CAP_BATCH + 1, 2)).astype(np.float32)
    labels = np.array([2, 0, 1, 0], np.int32)
    got = run_signature(runner, path, "log_prob", {"x": x[:3], "condition": labels[:3]}, tmp_path)
    want = model.log_prob(x[:3], labels[:3]).numpy()
    np.testing.assert_allclose(got["log_prob"], want, rtol=1e-5)
    too_big = {
        "log_prob": ({"x": x, "condition": labels}, "x"),
        "bits_per_dim": ({"x": x, "condition": labels}, "x"),
        "encode": ({"x": x, "condition": labels}, "x"),
        "decode": ({"latent": x, "condition": labels}, "latent"),
        "serving_default": ({"x": x[:1], "condition": labels}, "condition"),
    }
    for signature, (feed, what) in too_big.items():
        with pytest.raises(RuntimeError) as error:
            run_signature(runner, path, signature, feed, tmp_path / signature)
        message = str(error.value)
        assert message.startswith("TF_SessionRun: INVALID_ARGUMENT: "), message
        assert f"a batch of 4 examples in {what} is more than this export allows" in message
        assert "(max_batch = 3); send at most 3 per request" in message
        assert "export_saved_model(..., max_batch=...)" in message


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(max_samples=0), ValueError),
        (dict(max_samples=2**31), ValueError),
        (dict(max_samples=2.5), TypeError),
        (dict(max_batch=0), ValueError),
        (dict(max_batch=True), TypeError),
    ],
)
def test_caps_are_checked(kwargs, error, tmp_path):
    with pytest.raises(error, match="max_"):
        export_saved_model(_maf(), tmp_path, name="maf", **kwargs)
    assert not (tmp_path / "maf").exists()


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "/tmp/abs", "", ".", "..", ".hidden", "a b", "m:predict", "x" * 256]
)
def test_names_that_are_not_tf_serving_model_names_are_refused(name, tmp_path):
    base = tmp_path / "base"
    with pytest.raises(ValueError, match="TF Serving model name"):
        export_saved_model(_maf(), base, name=name)
    assert not any(tmp_path.rglob("saved_model.pb"))


def test_model_name_default_is_checked_and_good_names_work(tmp_path):
    model = _maf()
    assert export_saved_model(model, tmp_path, name="glow_celeba-v2.1") == (
        tmp_path / "glow_celeba-v2.1" / "1"
    )
    model.name = "../escape"
    with pytest.raises(ValueError, match=r"'\.\./escape' \(the model's name; pass name="):
        export_saved_model(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["glow_celeba-v2.1"]


@pytest.mark.parametrize(
    "version, error",
    [(0, ValueError), (-1, ValueError), (2**63, ValueError), (1.5, TypeError), ("2", TypeError)],
)
def test_versions_must_be_positive_integers(version, error, tmp_path):
    with pytest.raises(error, match="version must be an integer"):
        export_saved_model(_maf(), tmp_path, name="maf", version=version)
    assert not (tmp_path / "maf").exists()


SCRIPTS = pathlib.Path(__file__).parent / "scripts"


def _writer(temporary):
    """(host, pid) of a temporary folder named .<version>.tmp-<host>-<pid>-<suffix>."""
    host, pid, _ = temporary.name.split(".tmp-", 1)[1].rsplit("-", 2)
    return host, int(pid)


def test_an_export_killed_mid_write_leaves_no_version_and_the_next_one_cleans_up(tmp_path):
    script = [sys.executable, str(SCRIPTS / "export_killed.py"), str(tmp_path)]
    killed = subprocess.Popen(script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, stderr[-3000:]
    model_dir = tmp_path / "maf"
    (stale,) = model_dir.iterdir()  # only the dead writer's temporary folder
    host, pid = _writer(stale)
    assert stale.name.startswith(".1.tmp-") and pid == killed.pid
    assert (stale / "variables").is_dir() and not (stale / "saved_model.pb").exists()
    # TF Serving looks only at numeric folder names: no version, so nothing half-written.
    assert not [p for p in model_dir.iterdir() if p.name.isdigit()]

    # Left alone: a live export in another process (here a process waiting on its stdin)
    # and a dead one on another host (its pid means nothing here).
    live = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=PIPE)
    try:
        alive = model_dir / f".1.tmp-{host}-{live.pid}-abc123"
        elsewhere = model_dir / f".1.tmp-other{host}-{killed.pid}-abc123"
        alive.mkdir()
        elsewhere.mkdir()
        path = export_saved_model(_maf(), tmp_path, name="maf")
        assert path == model_dir / "1" and (path / "saved_model.pb").exists()
        left = sorted(p.name for p in model_dir.iterdir())
        assert left == sorted(["1", alive.name, elsewhere.name])
    finally:
        live.communicate(b"")
