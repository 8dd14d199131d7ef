"""VideoFlow's SavedModel: log_prob, bits_per_dim, predict_frames, encode and decode of
videos through TF's C API (the loader TF Serving uses) and where tfflows, TFP and Keras
cannot be imported, equal to the Python model for any number of frames; bad requests and
requests over the caps fail with a message; the serving client sends frame files."""

import argparse
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests.c_loader import compile_runner, run_signature, signature_defs
from tests.test_export import PYFUNC_OPS, graph_ops, run_where_tfflows_cannot_be_imported
from tests.test_serving_client import client
from tfflows import models
from tfflows.export import VIDEO_SIGNATURES, export_saved_model

FRAME = (8, 8, 3)
CAP_BATCH, CAP_FRAMES = 3, 16


def _videos(n, frames, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, frames, *FRAME), dtype=np.uint8)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A tiny VideoFlow (context_frames=1) exported with max_batch 3 and max_frames 16."""
    keras.utils.set_random_seed(0)
    model = models.VideoFlow(
        FRAME, levels=2, steps_per_level=1, hidden_channels=4, prior_channels=4
    )
    model.initialize(_videos(4, 3, seed=10))
    # Zero-initialised last layers would make the temporal prior ignore the past; perturb
    # every weight so that a signature dropping the context or a frame cannot pass.
    rng = np.random.default_rng(1)
    for v in model.trainable_variables:
        v.assign(v.numpy() + rng.normal(0, 0.1, v.shape).astype(np.float32))
    base = tmp_path_factory.mktemp("m")
    path = export_saved_model(
        model, base, name="videoflow", max_batch=CAP_BATCH, max_frames=CAP_FRAMES
    )
    return model, path


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    return compile_runner(tmp_path_factory.mktemp("c"))


def _predict(context, num_frames, temperature, seed):
    return {
        "context": context,
        "num_frames": np.int32(num_frames),
        "temperature": np.float32(temperature),
        "seed": np.int64(seed),
    }


def _predicted(model, context, num_frames, temperature, seed):
    samples = model.predict_frames(context, num_frames, temperature, seed).numpy()
    return {"samples": samples, "frames": model.to_uint8(samples).numpy()}


def _assert_close(got, want, what):
    assert sorted(got) == sorted(want), (what, sorted(got), sorted(want))
    for key, value in want.items():
        assert got[key].shape == value.shape, (what, key, got[key].shape, value.shape)
        if value.dtype == np.uint8:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{what}/{key}")
        else:
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=what)


def test_the_export_has_the_video_signatures_and_no_pyfunc(video):
    _, path = video
    defs = signature_defs(path)
    assert sorted(k for k in defs if not k.startswith("__")) == sorted(VIDEO_SIGNATURES)
    assert "sample" not in defs  # no unconditional draw: predict_frames is the sampling

    def specs(tensors):
        return {
            k: (tf.as_dtype(v.dtype).name, [d.size for d in v.tensor_shape.dim])
            for k, v in tensors.items()
        }

    video_of = [-1, -1, *FRAME]
    for name in ("serving_default", "log_prob", "bits_per_dim", "encode"):
        assert specs(defs[name].inputs) == {"x": ("uint8", video_of)}
    assert specs(defs["decode"].inputs) == {"latent": ("float32", video_of)}
    assert specs(defs["predict_frames"].inputs) == {
        "context": ("uint8", video_of),
        "num_frames": ("int32", []),
        "temperature": ("float32", []),
        "seed": ("int64", []),
    }
    assert sorted(defs["predict_frames"].outputs) == ["frames", "samples"]
    assert sorted(defs["decode"].outputs) == ["frames", "x"]
    assert {defs[s].method_name for s in VIDEO_SIGNATURES} == {"tensorflow/serving/predict"}
    ops = graph_ops(path)
    assert len(ops) > 20 and not ops & PYFUNC_OPS


def test_c_api_loader_runs_log_prob_and_predict_frames_like_python(video, runner, tmp_path):
    """Through the C API, with other numbers of frames than any used at export (the
    signatures take any T) and two context lengths."""
    model, path = video
    x3, x5 = _videos(3, 3, seed=2), _videos(2, 5, seed=3)
    for signature, x in (("serving_default", x3), ("log_prob", x5)):
        got = run_signature(runner, path, signature, {"x": x}, tmp_path / signature)
        _assert_close(got, {"log_prob": model.log_prob(x).numpy()}, f"{signature} T={x.shape[1]}")
    for k, num_frames, temperature, seed in ((1, 3, 0.7, 5), (2, 2, 1.0, 7)):
        context = x5[:, :k]
        feed = _predict(context, num_frames, temperature, seed)
        got = run_signature(runner, path, "predict_frames", feed, tmp_path / f"p{k}")
        want = _predicted(model, context, num_frames, temperature, seed)
        _assert_close(got, want, f"predict_frames k={k}")


def _bad(**changes):
    """A predict_frames request that is fine but for `changes`."""
    return {**_predict(_videos(2, 1), 3, 0.7, 0), **changes}


TOO_LARGE = r"re-export with export_saved_model\(\.\.\., max_(frames|batch)=\.\.\.\)"


@pytest.mark.parametrize(
    "signature, feed, message",
    [
        # as many values per frame as 8x8x3: only the dims tell them apart
        ("log_prob", {"x": _videos(2, 3).reshape(2, 3, 4, 16, 3)}, r"\[N, T, 8, 8, 3\], got"),
        ("log_prob", {"x": _videos(2, 3).reshape(2, 3, 8, 24)}, r"\[N, T, 8, 8, 3\], got"),
        ("predict_frames", _bad(context=_videos(2, 1)[:, 0]), r"context must have shape"),
        ("log_prob", {"x": _videos(2, 1)}, r"log_prob: x has 1 frame\(s\) per video; give at "),
        ("predict_frames", _bad(num_frames=np.int32(0)), r"num_frames must be >= 1, got\] \[0\]"),
        ("predict_frames", _bad(num_frames=np.int32(-2)), r"num_frames must be >= 1"),
        (
            "predict_frames",
            _bad(num_frames=np.int32(2**31 - 1)),
            r"predict_frames: num_frames = 2147483647 is more than this export allows "
            r"\(max_frames = 16\); ask for at most 16 per request, or " + TOO_LARGE,
        ),
        ("predict_frames", _bad(temperature=np.float32(-0.5)), r"predict_frames: temperature must"),
        (
            "predict_frames",
            _bad(context=_videos(3, 2), num_frames=np.int32(4)),
            r"predict_frames: 18 frames \(3 videos of 2 context frames and 4 to predict\) are "
            r"more than this export allows \(max_frames = 16\); .*" + TOO_LARGE,
        ),
        (
            "log_prob",
            {"x": _videos(4, 2)},
            r"log_prob: a batch of 4 videos in x is more than this export allows "
            r"\(max_batch = 3\); send at most 3 per request, or " + TOO_LARGE,
        ),
    ],
    ids=[
        "frame_shape",
        "rank_4",
        "images_as_context",
        "one_frame",
        "num_frames_0",
        "num_frames_negative",
        "num_frames_int32_max",
        "negative_temperature",
        "frames_over_cap",
        "batch_over_cap",
    ],
)
def test_c_api_loader_rejects_bad_video_requests(video, runner, tmp_path, signature, feed, message):
    _, path = video
    with pytest.raises(RuntimeError, match=message) as error:
        run_signature(runner, path, signature, feed, tmp_path)
    assert str(error.value).startswith("TF_SessionRun: INVALID_ARGUMENT: "), str(error.value)


def test_loaded_signatures_check_requests_and_answer_empty_batches(video):
    model, path = video
    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures

    def call(signature, **feed):
        return {k: v.numpy() for k, v in sig[signature](**feed).items()}

    bad = [
        ("predict_frames", _bad(temperature=np.float32("nan")), "predict_frames: temperature must"),
        ("predict_frames", _bad(context=_videos(2, 0)), "context has 0 frame.s. per video"),
        ("predict_frames", _bad(num_frames=np.int32(17)), r"num_frames = 17 is more than"),
        ("log_prob", {"x": _videos(3, 6)}, r"18 frames in x \(3 videos of 6 frames\) are more"),
        ("bits_per_dim", {"x": _videos(2, 1)}, "bits_per_dim: x has 1 frame"),
        ("encode", {"x": _videos(2, 1)}, "encode: x has 1 frame"),
        (
            "decode",
            {"latent": np.full((1, 2, *FRAME), np.nan, np.float32)},
            "decode: latent holds NaN",
        ),
    ]
    for signature, feed, message in bad:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            call(signature, **{k: tf.constant(v) for k, v in feed.items()})
    # At the caps exactly: answered.
    x = _videos(CAP_BATCH, CAP_FRAMES // CAP_BATCH, seed=4)
    np.testing.assert_allclose(call("log_prob", x=x)["log_prob"], model.log_prob(x), rtol=1e-5)
    at_cap = call("predict_frames", **_predict(_videos(2, 1), CAP_FRAMES // 2 - 1, 0.5, 1))
    assert at_cap["frames"].shape == (2, CAP_FRAMES // 2 - 1, *FRAME)
    # An empty batch is answered (TF's CPU convolutions fail on one: the export pads it).
    assert call("log_prob", x=_videos(0, 3))["log_prob"].shape == (0,)
    empty = call("predict_frames", **_predict(_videos(0, 1), 2, 0.7, 0))
    assert empty["samples"].shape == empty["frames"].shape == (0, 2, *FRAME)


def test_loads_and_runs_where_tfflows_tfp_and_keras_cannot_be_imported(video, tmp_path):
    model, path = video
    x = _videos(2, 4, seed=5)
    latent = model.encode(x).numpy()
    requests = {
        "serving_default": {"x": x},
        "log_prob": {"x": x[:, :2]},
        "bits_per_dim": {"x": x},
        "encode": {"x": x},
        "decode": {"latent": latent},
        "predict_frames": _predict(x[:, :2], 3, 0.8, 9),
    }
    decoded = model.decode(latent).numpy()
    want = {
        "serving_default": {"log_prob": model.log_prob(x).numpy()},
        "log_prob": {"log_prob": model.log_prob(x[:, :2]).numpy()},
        "bits_per_dim": {"bits_per_dim": model.bits_per_dim(x).numpy()},
        "encode": {"latent": latent},
        "decode": {"x": decoded, "frames": model.to_uint8(decoded).numpy()},
        "predict_frames": _predicted(model, x[:, :2], 3, 0.8, 9),
    }
    np.testing.assert_array_equal(want["decode"]["frames"], x)  # decode(encode(x)) = x
    results = run_where_tfflows_cannot_be_imported(path, requests, tmp_path)
    assert sorted(results) == sorted(want)
    for signature, outputs in want.items():
        _assert_close(results[signature], outputs, signature)


@pytest.mark.parametrize(
    "value, error", [(0, ValueError), (2**31, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_max_frames_is_checked(value, error, tmp_path):
    model = models.VideoFlow(FRAME, levels=1, steps_per_level=1, hidden_channels=4)
    with pytest.raises(error, match="max_frames must be an integer"):
        export_saved_model(model, tmp_path, name="v", max_frames=value)
    assert not (tmp_path / "v").exists()


def _write_frames(frames, directory):
    paths = []
    for t, frame in enumerate(frames):
        paths.append(directory / f"t{t}.png")
        Image.fromarray(frame).save(paths[-1])
    return [str(p) for p in paths]


def test_client_predicts_frames_from_frame_files_and_writes_them(video, tmp_path):
    model, path = video
    context = _videos(1, 2, seed=6)
    files = _write_frames(context[0], tmp_path)
    args = argparse.Namespace(
        images=None, frames=files, n=16, temperature=0.6, seed=3, num_frames=3
    )
    dtypes = client.signature_inputs_from_saved_model(path, "predict_frames")
    values = client.request_values(args)
    inputs = client.cast_inputs(dtypes, {k: v for k, v in values.items() if k in dtypes})
    assert inputs["context"].shape == (1, 2, *FRAME) and inputs["seed"].dtype == np.int64
    loaded = tf.saved_model.load(str(path))
    outputs = loaded.signatures["predict_frames"](**{k: tf.constant(v) for k, v in inputs.items()})
    outputs = {k: v.numpy() for k, v in outputs.items()}
    _assert_close(outputs, _predicted(model, context, 3, 0.6, 3), "client predict_frames")
    picture = np.asarray(Image.open(client.save_outputs(outputs, tmp_path / "future.png")))
    assert picture.shape == (2 + 10, 2 + 3 * 10, 3)  # one row, 3 frames, 2-pixel padding
    for t in range(3):
        left = 2 + 10 * t
        np.testing.assert_array_equal(picture[2:10, left : left + 8], outputs["frames"][0, t])
    scored = client.cast_inputs(
        client.signature_inputs_from_saved_model(path, "log_prob"), {"x": values["x"]}
    )
    np.testing.assert_array_equal(scored["x"], context)


def test_client_reports_unusable_frame_files_in_one_line(video, tmp_path, monkeypatch):
    _, path = video
    files = _write_frames(_videos(1, 1)[0], tmp_path)
    Image.new("RGB", (16, 16)).save(tmp_path / "big.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    for extra, message in [
        (str(tmp_path / "big.png"), f"{tmp_path / 'big.png'} is 16x16 pixels but {files[0]} "),
        (str(tmp_path / "broken.png"), f"cannot read the image {tmp_path / 'broken.png'}: "),
    ]:
        argv = ["client.py", "--model", "v", "--signature", "predict_frames"]
        argv += ["--saved-model", str(path), "--frames", files[0], extra]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as error:
            client.main()
        line = str(error.value.code)
        assert line.startswith(f"client.py: {message}") and "\n" not in line, line
