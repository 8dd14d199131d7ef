"""VAE SavedModels: `elbo`, `log_likelihood`, `sample`, `encode` and `decode` through TF's C
API (the loader TF Serving uses) equal the Python model with the same seed; bad requests
fail with a message naming the problem."""

import keras
import numpy as np
import pytest

from tests.c_loader import compile_runner, run_signature, signature_defs
from tests.test_export import PYFUNC_OPS, graph_ops
from tfflows.export import export_saved_model
from tfflows.models import VAE

SHAPE = (4, 3, 1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny conditional VAE with a Householder Sylvester posterior and a plain one with a
    planar posterior, every weight perturbed (zero output layers would hide mistakes)."""
    keras.utils.set_random_seed(0)
    small = dict(hidden_units=(8,), num_flows=2, num_householder=2)
    models = {
        "cvae": VAE(SHAPE, 3, posterior="sylvester_householder", num_classes=3, **small),
        "vae": VAE(SHAPE, 3, posterior="planar", **small),
    }
    rng = np.random.default_rng(0)
    base = tmp_path_factory.mktemp("m")
    out = {}
    for name, model in models.items():
        for v in model.trainable_variables:
            v.assign(v.numpy() + rng.normal(0, 0.3, v.shape).astype(np.float32))
        out[name] = (model, export_saved_model(model, base, name=name, max_importance_samples=50))
    return out


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return compile_runner(tmp_path_factory.mktemp("c"))


def binary(n, seed=1):
    return (np.random.default_rng(seed).random((n, *SHAPE)) < 0.4).astype(np.float32)


def labels(name, n):
    return {"condition": np.arange(n, dtype=np.int32) % 3} if name == "cvae" else {}


def test_signatures_and_no_python_ops(exported):
    for _, path in exported.values():
        defs = signature_defs(path)
        names = sorted(k for k in defs if not k.startswith("__"))
        assert names == ["decode", "elbo", "encode", "log_likelihood", "sample", "serving_default"]
        assert not graph_ops(path) & PYFUNC_OPS


@pytest.mark.parametrize("name", ["cvae", "vae"])
def test_c_api_equals_python(exported, runner, tmp_path, name):
    model, path = exported[name]
    x = binary(5)
    feed = {"x": x, "seed": np.int64(7), **labels(name, 5)}
    c = labels(name, 5).get("condition")

    got = run_signature(runner, path, "serving_default", feed, tmp_path / "d")["elbo"]
    np.testing.assert_allclose(got, model.elbo(x, c, seed=7), rtol=1e-5, atol=1e-4)
    assert got.shape == (5,) and np.all(got < 0)

    feed_ll = {**feed, "num_samples": np.int32(30)}
    got = run_signature(runner, path, "log_likelihood", feed_ll, tmp_path / "l")["log_likelihood"]
    want = model.log_likelihood(x, c, num_samples=30, seed=7)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)

    out = run_signature(runner, path, "encode", feed, tmp_path / "e")
    z, log_q = model.encode(x, c, seed=7)
    np.testing.assert_allclose(out["latent"], z, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["log_q"], log_q, rtol=1e-5, atol=1e-4)

    dec = run_signature(
        runner, path, "decode", {"latent": out["latent"], **labels(name, 5)}, tmp_path / "c"
    )["x"]
    np.testing.assert_allclose(dec, model.decode(out["latent"], c), rtol=1e-5, atol=1e-6)
    assert dec.shape == (5, *SHAPE)

    req = {"n": np.int32(4), "temperature": np.float32(0.8), "seed": np.int64(3)}
    got = run_signature(runner, path, "sample", {**req, **labels(name, 4)}, tmp_path / "s")
    c4 = labels(name, 4).get("condition")
    want = model.sample(4, c4, seed=3, temperature=0.8)
    np.testing.assert_allclose(got["samples"], want, rtol=1e-5, atol=1e-6)
    assert got["samples"].shape == (4, *SHAPE) and 0 < got["samples"].std()


@pytest.mark.parametrize(
    "signature, feed, message",
    [
        ("elbo", {"x": np.full((2, *SHAPE), 0.5, np.float32)}, "does not fit the bernoulli"),
        ("elbo", {"x": np.zeros((2, 3, 4, 1), np.float32)}, "x must have shape"),
        ("elbo", {"condition": np.array([0, 3], np.int32)}, "labels must be in"),
        ("elbo", {"condition": np.array([0], np.int32)}, "one label per example"),
        ("log_likelihood", {"num_samples": np.int32(51)}, "max_importance_samples = 50"),
        ("log_likelihood", {"num_samples": np.int32(0)}, "num_samples must be >= 1"),
    ],
)
def test_bad_requests_fail_with_their_message(exported, runner, tmp_path, signature, feed, message):
    _, path = exported["cvae"]
    base = {"x": binary(2), "seed": np.int64(0), "condition": np.array([0, 1], np.int32)}
    if signature == "log_likelihood":
        base["num_samples"] = np.int32(5)
    with pytest.raises(RuntimeError, match=message):
        run_signature(runner, path, signature, {**base, **feed}, tmp_path)
