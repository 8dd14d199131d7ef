"""Audio SavedModels: the Parallel WaveNet student's `sample` and the WaveNet's `log_prob`
and `sample` through TF's C API (the loader TF Serving uses), equal to the Python models;
bad requests and requests over the caps fail with a message."""

import keras
import numpy as np
import pytest

from tests.c_loader import compile_runner, run_signature, signature_defs
from tests.test_export import PYFUNC_OPS, graph_ops
from tfflows.export import export_saved_model
from tfflows.models import ParallelWaveNet, WaveNet

CAP_AUDIO = 400


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny conditional teacher and student with perturbed weights, exported."""
    keras.utils.set_random_seed(0)
    small = dict(residual_channels=6, gate_channels=6, skip_channels=6, num_classes=3)
    teacher = WaveNet(layers_per_cycle=3, cycles=1, **small)
    student = ParallelWaveNet(num_flows=2, layers_per_flow=3, **small)
    rng = np.random.default_rng(0)
    for model in (teacher, student):
        for v in model.trainable_variables:
            v.assign(v.numpy() + rng.normal(0, 0.2, v.shape).astype(np.float32))
    base = tmp_path_factory.mktemp("m")
    return {
        name: (model, export_saved_model(model, base, name=name, max_audio=CAP_AUDIO))
        for name, model in (("student", student), ("teacher", teacher))
    }


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return compile_runner(tmp_path_factory.mktemp("c"))


def _sample_request(n=2, length=50, seed=5, temperature=0.8, condition=(1,)):
    return {
        "n": np.int32(n),
        "length": np.int32(length),
        "seed": np.int64(seed),
        "temperature": np.float32(temperature),
        "condition": np.asarray(condition, np.int32),
    }


def test_signatures_and_no_python_ops(exported):
    for name, signatures in (
        ("student", ["sample", "serving_default"]),
        ("teacher", ["log_prob", "sample", "serving_default"]),
    ):
        path = exported[name][1]
        defs = signature_defs(path)
        assert sorted(k for k in defs if not k.startswith("__")) == signatures
        assert not graph_ops(path) & PYFUNC_OPS


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_c_api_sample_draws_what_python_draws(exported, runner, tmp_path, who):
    model, path = exported[who]
    signature = "serving_default" if who == "student" else "sample"
    for i, (n, length, seed, temperature, condition) in enumerate(
        [(2, 50, 5, 0.8, (1,)), (3, 30, 9, 1.0, (0, 2, 1)), (1, 7, 0, 0.0, (2,))]
    ):
        feed = _sample_request(n, length, seed, temperature, condition)
        got = run_signature(runner, path, signature, feed, tmp_path / str(i))["audio"]
        labels = condition[0] if len(condition) == 1 else list(condition)
        want = model.sample(n, length, seed=seed, condition=labels, temperature=temperature)
        assert got.shape == (n, length)
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got).max() > 0  # a sample of zeros would pass any equality above


def test_c_api_teacher_log_prob(exported, runner, tmp_path):
    model, path = exported["teacher"]
    rng = np.random.default_rng(3)
    x = (0.5 * np.tanh(rng.standard_normal((3, 40)))).astype(np.float32)
    labels = np.array([0, 1, 2], np.int32)
    got = run_signature(runner, path, "serving_default", {"x": x, "condition": labels}, tmp_path)
    np.testing.assert_allclose(got["log_prob"], model.log_prob(x, labels), rtol=1e-5)


@pytest.mark.parametrize(
    "who, signature, feed, message",
    [
        (
            "student",
            "sample",
            _sample_request(n=10, length=50),
            r"n \* length = 500 \(10 clips of 50 samples\) is more than this export allows "
            r"\(max_audio = 400\)",
        ),
        ("student", "sample", _sample_request(length=0), r"length must be >= 1"),
        ("student", "sample", _sample_request(temperature=-1.0), r"temperature must be >= 0"),
        ("student", "sample", _sample_request(condition=(1, 2, 0)), r"one label, or n labels"),
        ("teacher", "sample", _sample_request(condition=(7,)), r"labels must be in 0..2"),
        (
            "teacher",
            "log_prob",
            {"x": np.full((2, 10), 1.5, np.float32), "condition": np.array([0, 1], np.int32)},
            r"outside \[-1, 1\]",
        ),
        (
            "teacher",
            "log_prob",
            {"x": np.zeros((2, 300), np.float32), "condition": np.array([0, 1], np.int32)},
            r"600 samples in x \(2 clips of 300\) is more than this export allows",
        ),
    ],
    ids=[
        "over_cap",
        "length_0",
        "negative_temperature",
        "label_count",
        "label_range",
        "out_of_range_audio",
        "log_prob_over_cap",
    ],
)
def test_c_api_refuses_bad_requests(exported, runner, tmp_path, who, signature, feed, message):
    with pytest.raises(RuntimeError, match=message):
        run_signature(runner, exported[who][1], signature, feed, tmp_path)
