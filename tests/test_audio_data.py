"""FSDD as fixed-length clips: cut, pad, peak-normalise, split by take."""

import numpy as np
import pytest

from tests.conftest import SHARED_DATA
from tfflows.data.audio import fsdd


def archive(tmp_path, lengths, takes, digits, scale=1000):
    """An FSDD-layout .npz whose clip i is a ramp of `lengths[i]` samples, peak scale * (i+1)."""
    clips = [
        (np.linspace(-1, 1, n) * scale * (i + 1)).astype(np.int16) for i, n in enumerate(lengths)
    ]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    path = tmp_path / "fsdd.npz"
    np.savez(
        path,
        audio=np.concatenate(clips),
        offsets=offsets,
        digit=np.asarray(digits, np.uint8),
        speaker=np.zeros(len(lengths), np.uint8),
        take=np.asarray(takes, np.uint8),
        speaker_names=np.asarray(["a"]),
        sample_rate=np.int64(8000),
    )
    return path, clips


def test_clips_are_cut_padded_and_split_by_take(tmp_path):
    path, clips = archive(tmp_path, [6, 10, 3, 8], takes=[10, 0, 4, 5], digits=[1, 2, 3, 4])
    splits = fsdd(path, length=8, peak=None)
    assert splits.train_x.dtype == np.float32 and splits.train_x.shape == (2, 8)
    assert splits.train_y.tolist() == [1, 4] and splits.test_y.tolist() == [2, 3]
    np.testing.assert_array_equal(splits.train_x[0, :6], clips[0] / 32768.0)
    np.testing.assert_array_equal(splits.train_x[0, 6:], 0.0)  # padded at the end
    np.testing.assert_array_equal(splits.test_x[0], clips[1][:8] / 32768.0)  # cut
    assert splits.test_x.shape == (2, 8)


def test_peak_normalisation_of_each_clip(tmp_path):
    path, clips = archive(tmp_path, [6, 10], takes=[9, 9], digits=[0, 0], scale=300)
    x = fsdd(path, length=6, peak=0.5).train_x
    np.testing.assert_allclose(np.abs(x).max(axis=1), [0.5, 0.5], rtol=1e-6)
    kept = clips[1][:6].astype(np.float64)
    np.testing.assert_allclose(x[1], kept * 0.5 / np.abs(kept).max(), rtol=1e-6)


def test_bad_arguments_and_files(tmp_path):
    path, _ = archive(tmp_path, [4], takes=[0], digits=[0])
    for length in (0, 2.5, True):
        with pytest.raises(ValueError, match="length must be a whole number"):
            fsdd(path, length=length)
    with pytest.raises(ValueError, match="peak must be in"):
        fsdd(path, peak=1.5)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an FSDD archive: it lacks audio, offsets"):
        fsdd(tmp_path / "other.npz")


def test_the_shared_fsdd_file():
    path = SHARED_DATA / "fsdd.npz"
    if not path.exists():
        pytest.skip(f"FSDD not found at {path} (../shared/data is only on CI/dev machines)")
    splits = fsdd(path)
    assert splits.train_x.shape == (2700, 4096) and splits.test_x.shape == (300, 4096)
    assert np.bincount(splits.test_y).tolist() == [30] * 10
    assert np.abs(splits.train_x).max() <= 0.95 + 1e-6
    np.testing.assert_allclose(np.abs(splits.test_x).max(axis=1), 0.95, rtol=1e-5)


def test_wav_round_trip_clips_and_refuses_bad_clips(tmp_path):
    from tfflows.data import load_wav, save_wav

    clip = np.array([0.0, 0.5, -0.25, 1.7, -3.0], np.float32)
    save_wav(tmp_path / "a.wav", clip, 8000)
    back, rate = load_wav(tmp_path / "a.wav")
    assert rate == 8000
    np.testing.assert_allclose(back, [0.0, 0.5, -0.25, 32767 / 32768, -32767 / 32768], atol=1e-4)
    with pytest.raises(ValueError, match="one clip"):
        save_wav(tmp_path / "b.wav", np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        save_wav(tmp_path / "b.wav", np.array([np.nan]))


def test_spectrogram_picture_has_a_row_per_kind(tmp_path):
    from PIL import Image

    from tfflows.plotting import save_spectrograms

    t = np.arange(2048) / 8000
    tone = np.sin(2 * np.pi * 440 * t)[None]
    path = save_spectrograms({"real": tone, "model": 0.5 * tone}, tmp_path / "s.png")
    width, height = Image.open(path).size
    one = save_spectrograms({"real": tone}, tmp_path / "one.png")
    assert Image.open(one).size[1] < height and width > 100


def test_save_wav_refuses_integer_samples_and_bad_rates(tmp_path):
    from tfflows.data import save_wav

    with pytest.raises(ValueError, match="int16 / 32768"):
        save_wav(tmp_path / "a.wav", np.array([1000, -1000], np.int16))
    with pytest.raises(ValueError, match="sample_rate"):
        save_wav(tmp_path / "a.wav", np.zeros(4), 8000.5)
    save_wav(tmp_path / "new" / "folder" / "a.wav", np.zeros(4))  # folders are made
    assert (tmp_path / "new" / "folder" / "a.wav").exists()
