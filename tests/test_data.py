"""tfflows.data: dequantization, pipelines from arrays, image folders and tfds, and errors."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfflows import data


def test_dequantize_stays_in_its_bin_and_is_seeded():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    y = data.dequantize(x, 8, seed=(1, 2)).numpy()
    assert np.all(y >= x) and np.all(y < x.astype(np.float32) + 1)
    np.testing.assert_array_equal(y, data.dequantize(x, 8, seed=(1, 2)))
    assert not np.array_equal(y, data.dequantize(x, 8, seed=(1, 3)))
    five = data.dequantize(x, 5, seed=(1, 2)).numpy()
    np.testing.assert_array_equal(np.floor(five), x // 8)
    with pytest.raises(ValueError, match="num_bits"):
        data.reduce_bits(x, 9)


def test_seeded_noise_is_the_same_under_xla():
    x = np.arange(256, dtype=np.uint8).reshape(4, 64)
    eager = data.dequantize(x, 8, seed=(3, 4))
    xla = tf.function(lambda t: data.dequantize(t, 8, seed=(3, 4)), jit_compile=True)(x)
    np.testing.assert_array_equal(eager, xla)


@pytest.mark.parametrize("num_bits,low", [(8, -0.5), (5, -0.5), (8, 0.0)])
def test_to_uint8_inverts_dequantize_and_scale(num_bits, low):
    x = np.arange(256, dtype=np.uint8)
    y = data.dequantize(x, num_bits, seed=(0, 1)) / 2.0**num_bits + low
    expected = (x // 2 ** (8 - num_bits)) * 2 ** (8 - num_bits)
    np.testing.assert_array_equal(data.to_uint8(y, num_bits, low=low), expected)


def test_from_numpy_batches_every_example_once_per_epoch():
    x = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1)
    y = np.arange(10)
    ds = data.from_numpy(x, y, batch_size=4, seed=3)
    seen = np.concatenate([yb.numpy() for _, yb in ds])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    for xb, yb in ds:
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
        assert xb.dtype == tf.uint8


@pytest.mark.parametrize(
    "x,match",
    [
        (np.zeros((0, 4, 4, 1), np.uint8), "empty"),
        (np.zeros((3, 4, 4), np.uint8), "grayscale images need a channel axis"),
        (np.zeros((3, 4, 5, 1), np.uint8), r"must have shape \(4, 4, 1\)"),
        (np.full((3, 4, 4, 1), np.inf, np.float32), "non-finite"),
        (np.full((3, 4, 4, 1), 300, np.int32), "outside 0..255"),
        (np.full((3, 4, 4, 1), 17.0, np.float32), "continuous space"),
    ],
)
def test_bad_arrays_get_clear_errors(x, match):
    with pytest.raises(ValueError, match=match):
        data.from_numpy(x, event_shape=(4, 4, 1), num_bits=8)


def test_from_image_folder_reads_the_pixels_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    written = {}
    for label in ("cats", "dogs"):
        (tmp_path / label).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 256, (6, 5, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f"{i}.png")
            written[pixels.tobytes()] = label
    ds = data.from_image_folder(tmp_path, labels="inferred", batch_size=4, seed=0)
    count = 0
    for xb, yb in ds:
        assert xb.dtype == tf.uint8 and xb.shape[1:] == (6, 5, 3)
        for image, label in zip(xb.numpy(), yb.numpy(), strict=True):
            assert written[image.tobytes()] == ("cats", "dogs")[label]
            count += 1
    assert count == 6
    images_only = data.from_image_folder(tmp_path, batch_size=6, image_size=(4, 4))
    assert next(iter(images_only)).shape == (6, 4, 4, 3)
    with pytest.raises(ValueError, match="holds no images"):
        (tmp_path / "empty").mkdir()
        data.from_image_folder(tmp_path / "empty")


def test_from_tfds_goes_through_tfds_load():
    with tfds.testing.mock_data(num_examples=7):
        ds = data.from_tfds("mnist", split="train", batch_size=4, label_key="label", seed=0)
        batches = list(ds)
    assert sum(len(xb) for xb, _ in batches) == 7
    xb, yb = batches[0]
    assert xb.dtype == tf.uint8 and xb.shape[1:] == (28, 28, 1) and yb.dtype.is_integer


def test_load_npz_names_the_missing_key(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((2, 2)))
    np.testing.assert_array_equal(data.load_npz(tmp_path / "d.npz", "images"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"no array 'x'; it has \['images'\]"):
        data.load_npz(tmp_path / "d.npz")
