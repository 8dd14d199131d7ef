"""The zoo's measuring recipes (zoo/recipes/*.py) on models whose answer is known."""

import importlib.util
import pathlib

import numpy as np

from tfflows.data.video import stochastic_shapes

RECIPES = pathlib.Path(__file__).resolve().parents[1] / "zoo" / "recipes"


def recipe(name):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Oracle:
    """A stand-in video model whose futures are given: `futures(i, context)` for the i-th
    call of predict_frames (frames come back as uint8 already)."""

    def __init__(self, futures):
        self.futures, self.calls = futures, 0

    def predict_frames(self, context, num_frames, temperature, seed=None):
        frames = self.futures(self.calls, np.asarray(context))
        self.calls += 1
        assert frames.shape[1] == num_frames
        return frames

    def to_uint8(self, frames):
        return frames


def test_directions_of_a_model_that_knows_each_future_and_of_a_blank_one():
    directions = recipe("videoflow_directions")
    videos = stochastic_shapes(3, num_frames=3, size=32, seed=5)
    # Every sample is the true future: one direction per video, always kept, always found.
    truth = Oracle(lambda i, context: np.repeat(videos[i : i + 1, 1:], len(context), 0))
    result = directions.measure(truth, videos, 6, 0.7, 0, 64)
    assert result["directions_per_video"] == [1, 1, 1]
    assert result["kept_mean"] == 1.0 and result["found_mean"] == 1.0
    assert result["same_shape_mean"] == 1.0
    # Sample j of each video is video j's future: 3 videos' directions from each context.
    others = stochastic_shapes(3, num_frames=3, size=32, seed=6, return_directions=True)
    moved, moves = others
    shifted = Oracle(lambda i, context: moved[:, 1:])
    result = directions.measure(shifted, videos, 3, 0.7, 0, 64)
    assert result["directions_per_video"] == [len(set(np.asarray(moves).tolist()))] * 3
    # Black futures: no shape found, so no direction.
    blank = Oracle(lambda i, context: np.zeros((len(context), 2, 32, 32, 3), np.uint8))
    result = directions.measure(blank, videos, 4, 0.7, 0, 64)
    assert result == {
        "directions_mean": 0.0,
        "directions_per_video": [0, 0, 0],
        "kept_mean": 0.0,
        "found_mean": 0.0,
        "same_shape_mean": 0.0,
    }


def test_shape_centroids_find_a_square_and_nothing_in_black():
    directions = recipe("videoflow_directions")
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[0, 2:4, 5:7, 1] = 200  # rows 2-3, columns 5-6
    centroids, found = directions.shape_centroids(frames, 64)
    np.testing.assert_allclose(centroids[0], [5.5, 2.5])
    assert found.tolist() == [True, False]


def test_same_shape_needs_the_contexts_size_and_colour():
    directions = recipe("videoflow_directions")
    context = np.zeros((8, 8, 3), np.uint8)
    context[2:4, 2:4] = (200, 0, 0)  # 4 red pixels
    frames = np.zeros((4, 8, 8, 3), np.uint8)
    frames[0, 5:7, 5:7] = (190, 30, 0)  # moved, same size, near colour
    frames[1, 5:6, 5:6] = (200, 0, 0)  # a quarter of the size
    frames[2, 4:8, 4:8] = (200, 0, 0)  # four times the size
    frames[3, 5:7, 5:7] = (0, 200, 0)  # another colour
    assert directions.same_shape(frames, context, 64).tolist() == [True, False, False, False]


def test_audio_report_numbers_and_files(tmp_path):
    """On a pair whose student is its teacher's mirror: an untrained WaveNet is N(0, 1) per
    sample and an untrained student of initial_scale 1 draws N(0, 1) noise, so the KL is 0
    and the teacher scores the student's samples as its own."""
    import json

    import keras

    from tests.test_audio_data import archive
    from tfflows.data import load_wav
    from tfflows.models import ParallelWaveNet, WaveNet

    path, _ = archive(
        tmp_path,
        [300 + 7 * i for i in range(20)],
        [i % 10 for i in range(20)],
        [i // 2 for i in range(20)],
    )
    keras.utils.set_random_seed(0)
    small = dict(residual_channels=4, gate_channels=4, skip_channels=4, num_classes=10)
    WaveNet(layers_per_cycle=2, cycles=1, **small).save(tmp_path / "t.keras")
    ParallelWaveNet(num_flows=2, layers_per_flow=2, initial_scale=1.0, **small).save(
        tmp_path / "s.keras"
    )
    report = recipe("audio_report").main(
        [
            "--teacher",
            str(tmp_path / "t.keras"),
            "--student",
            str(tmp_path / "s.keras"),
            "--data",
            str(path),
            "--out",
            str(tmp_path / "r"),
            "--length",
            "512",
            "--per-digit",
            "3",
        ]
    )
    assert abs(report["kl_student_to_teacher_nats_per_sample"]["mean"]) < 1e-5
    own, student = report["nll_of_own_samples"], report["nll_of_student_samples"]
    assert abs(own["mean"] - 0.5 * np.log(2 * np.pi * np.e)) < 0.1  # N(0, 1) entropy
    assert abs(own["mean"] - student["mean"]) < 4 * (own["standard_error"] + 1e-3)
    distances = report["spectral_distance_db"]
    # The test split (takes 0-4) holds digits 0, 1, 2, 5, 6, 7; digit 2 and 7 have one clip
    # each, with no other clip of their digit to compare with.
    assert distances["real_test_clips"]["n"] == 8 and distances["student_samples"]["n"] == 18
    assert json.loads((tmp_path / "r" / "report.json").read_text()) == report
    clip, rate = load_wav(tmp_path / "r" / "student_5.wav")
    assert rate == 8000 and clip.shape == (512,)
    assert (tmp_path / "r" / "spectrograms.png").stat().st_size > 10_000
