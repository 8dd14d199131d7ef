"""tfflows.data.video (stochastic shapes, Moving MNIST, video sources) and the video pictures of
tfflows.plotting (animated GIF, still strip)."""

import numpy as np
import pytest
from PIL import Image

from tests.conftest import SHARED_DATA
from tfflows import data, plotting
from tfflows.data import video

MNIST = SHARED_DATA / "mnist.npz"


@pytest.fixture(scope="module")
def shapes():
    """300 three-frame videos at 40 x 40 (4 pixels per unit), their labels and directions."""
    videos, directions = data.stochastic_shapes(300, 3, 40, seed=5, return_directions=True)
    return videos, video.shape_labels(300, seed=5), directions


def test_stochastic_shapes_shape_dtype_and_seed():
    a = data.stochastic_shapes(4, num_frames=5, size=32, seed=1)
    assert a.shape == (4, 5, 32, 32, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, data.stochastic_shapes(4, num_frames=5, size=32, seed=1))
    assert not np.array_equal(a, data.stochastic_shapes(4, num_frames=5, size=32, seed=2))
    # A black background: the corners are empty in frame 0.
    assert not a[:, 0, :4, :4].any()


def test_shapes_start_at_the_centre_and_move_by_their_direction(shapes):
    videos, labels, directions = shapes
    np.testing.assert_array_equal(directions, labels["direction"])
    c = video.centroids(videos)  # [N, 3, 2]
    np.testing.assert_allclose(c[:, 0], 20.0, atol=0.25)
    step = video.DIRECTIONS[directions] * 4.0  # one unit is 40 / 10 pixels
    # Within 3 frames every shape stays inside the frame (2 units from the centre at most).
    np.testing.assert_allclose(c[:, 1] - c[:, 0], step, atol=0.25)
    np.testing.assert_allclose(c[:, 2] - c[:, 1], step, atol=0.25)
    np.testing.assert_array_equal(video.direction_index(c[:, 1] - c[:, 0]), directions)


def test_directions_are_in_the_documented_order():
    np.testing.assert_array_equal(video.direction_index(video.DIRECTIONS), np.arange(8))
    # y is downwards: north is a move to smaller rows.
    assert video.DIRECTION_NAMES[video.direction_index(np.array([0.0, -3.0]))] == "N"
    assert video.DIRECTION_NAMES[video.direction_index(np.array([2.0, 2.1]))] == "SE"


def test_every_direction_colour_and_shape_appears(shapes):
    videos, labels, directions = shapes
    assert set(directions.tolist()) == set(range(8))
    assert set(labels["shape"].tolist()) == {0, 1, 2}
    assert set(labels["color"].tolist()) == set(range(6))
    assert labels["scale"].min() >= 0.5 and labels["scale"].max() <= 1.5
    # The pixels carry the labelled colour: which channels are lit, and the full value in a
    # covered pixel (a circle or square always covers one pixel whole).
    lit = videos[:, 0].reshape(len(videos), -1, 3).max(axis=1)
    np.testing.assert_array_equal(lit > 0, video.COLORS[labels["color"]] > 0)
    whole = labels["shape"] < 2
    np.testing.assert_array_equal(lit[whole], video.COLORS[labels["color"]][whole])


def test_shapes_have_their_area_and_are_anti_aliased(shapes):
    videos, labels, _ = shapes
    colour = video.COLORS[labels["color"]].max(axis=1).astype(float)
    frame = videos[:, 0].max(axis=-1) / colour[:, None, None]
    s = labels["scale"] * 4.0
    area = np.choose(labels["shape"], [np.pi * s**2, 4 * s**2, np.sqrt(3) * s**2])
    np.testing.assert_allclose(frame.sum(axis=(1, 2)), area, rtol=0.05)
    # Edge pixels lie strictly between black and the colour: always on a circle's or a
    # triangle's edges; a square's edges can fall on pixel borders (by chance, rarely).
    partial = ((frame > 0.02) & (frame < 0.98)).any(axis=(1, 2))
    assert partial[labels["shape"] != 1].all() and partial[labels["shape"] == 1].mean() > 0.8


def test_triangle_points_up_and_square_is_axis_aligned():
    labels = {"direction": np.array([0, 0]), "shape": np.array([2, 1])}
    labels |= {"color": np.array([2, 2]), "scale": np.array([1.5, 1.0])}
    frame = video.render_shapes(labels, num_frames=1, size=100)[:, 0, :, :, 0] / 255.0
    width = frame.sum(axis=2)  # of each row, in pixels (10 pixels per unit)
    # Triangle of side 30 px, centroid at row 50: apex at 50 - 17.3, base at 50 + 8.7.
    rows = np.flatnonzero(width[0] > 0.01)
    assert (rows[0], rows[-1]) == (32, 58)
    assert np.all(np.diff(width[0, 33:58]) > 0)  # widening downwards: the apex is on top
    np.testing.assert_allclose(width[0, 40], (40.5 - 32.68) / np.sqrt(3) * 2, atol=0.1)
    # Square of half-side 10 px: rows 40..59, each 20 px wide.
    np.testing.assert_allclose(width[1, 40:60], 20.0, atol=1e-6)
    assert width[1, :40].sum() == 0 and width[1, 60:].sum() == 0


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_videos=0), "num_videos must be an integer >= 1"),
        (dict(num_videos=-3), "num_videos must be an integer >= 1"),
        (dict(num_videos=2, num_frames=0), "num_frames must be an integer >= 1"),
        (dict(num_videos=2, size=33), "size must be an even integer >= 10"),
        (dict(num_videos=2, size=8), "size must be an even integer >= 10"),
        (dict(num_videos=2.5), "num_videos must be an integer"),
    ],
)
def test_stochastic_shapes_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.stochastic_shapes(**kwargs)


def _blocks(*values, side=4):
    return np.stack([np.full((side, side), v, np.uint8) for v in values])


def test_moving_mnist_digits_stay_inside_and_bounce():
    images, kwargs = _blocks(255), dict(digits=1, seed=3, digit_size=4)
    videos = data.moving_mnist(20, num_frames=30, size=24, images=images, **kwargs)
    assert videos.shape == (20, 30, 24, 24, 1) and videos.dtype == np.uint8
    # The whole 4 x 4 digit is in every frame: never cut by a border.
    assert (videos.reshape(20, 30, -1) == 255).sum(axis=-1).min() == 16
    corner = video.centroids(videos) - 2.0  # top-left corner of the block, in [0, 20]
    velocity = np.diff(corner, axis=1)
    flips = np.sign(velocity[:, 1:]) * np.sign(velocity[:, :-1]) < 0
    assert flips.any(axis=(1, 2)).mean() > 0.9  # the speed is 2 px/frame over 20 px: bounces
    video_i, t, axis = np.nonzero(flips)
    at = corner[video_i, t + 1, axis]
    assert np.all((at <= 2.5) | (at >= 17.5))  # a flip happens at a border
    # 0.1 * 20 = 2 px per frame: no axis moves by more (rounding to pixels included).
    assert np.abs(velocity).max() == 2


def test_moving_mnist_combines_digits_by_max_and_is_seeded():
    images, kwargs = _blocks(100, 200), dict(num_frames=8, size=12, digits=2, digit_size=4)
    videos = data.moving_mnist(10, seed=0, images=images, **kwargs)
    assert videos.shape == (10, 8, 12, 12, 1)
    assert ((videos > 0).sum(axis=(2, 3, 4)) < 32).any()  # the two digits overlap somewhere
    assert set(np.unique(videos).tolist()) == {0, 100, 200}  # no sums, no overflow
    np.testing.assert_array_equal(videos, data.moving_mnist(10, seed=0, images=images, **kwargs))
    assert not np.array_equal(videos, data.moving_mnist(10, seed=1, images=images, **kwargs))


def test_moving_mnist_resizes_digits_with_the_frame():
    images = _blocks(255, side=28)
    small = data.moving_mnist(2, num_frames=2, size=32, digits=1, images=images)
    assert (small > 128).sum(axis=(2, 3, 4)).max() == 14 * 14


def test_moving_mnist_bad_arguments():
    with pytest.raises(ValueError, match="exactly one source"):
        data.moving_mnist(2)
    with pytest.raises(ValueError, match="uint8"):
        data.moving_mnist(2, images=np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="larger than the digits"):
        data.moving_mnist(2, size=4, images=_blocks(255, side=4), digit_size=4)
    with pytest.raises(ValueError, match="num_frames"):
        data.moving_mnist(2, num_frames=0, images=_blocks(255))


@pytest.mark.skipif(not MNIST.exists(), reason=f"{MNIST} is absent (the shared data folder)")
def test_moving_mnist_from_the_shared_mnist_file():
    videos = data.moving_mnist(3, num_frames=4, size=64, path=MNIST, seed=0)
    assert videos.shape == (3, 4, 64, 64, 1)
    # Two 28 x 28 MNIST digits per frame: many bright pixels, most of the frame black.
    bright = (videos > 128).mean(axis=(2, 3, 4))
    assert np.all((bright > 0.02) & (bright < 0.2))


def test_video_source_splits_with_a_different_seed():
    splits = data.video_source("stochastic_shapes:num_videos=20,num_frames=2,size=10,seed=4")
    assert splits.train_x.shape == (20, 2, 10, 10, 3) and splits.test_x.shape == (2, 2, 10, 10, 3)
    np.testing.assert_array_equal(splits.train_x, data.stochastic_shapes(20, 2, 10, seed=4))
    np.testing.assert_array_equal(splits.test_x, data.stochastic_shapes(2, 2, 10, seed=1000004))
    assert "seed 1000004" in splits.description


def test_video_source_moving_mnist_tests_on_other_digits(tmp_path):
    path = tmp_path / "digits.npz"
    np.savez(path, x_train=_blocks(100), x_test=_blocks(200))
    splits = data.video_source(f"moving_mnist:path={path},num_videos=3,test_videos=2,size=16")
    assert set(np.unique(splits.train_x).tolist()) == {0, 100}
    assert set(np.unique(splits.test_x).tolist()) == {0, 200}


@pytest.mark.parametrize(
    "spec,match",
    [
        ("bouncing_balls:num_videos=3", "unknown video source"),
        ("stochastic_shapes:num_videos", "not key=value"),
        ("stochastic_shapes:colour=red", "has no option"),
        ("stochastic_shapes:seed=3,test_seed=3", "test_seed equals seed"),
    ],
)
def test_video_source_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        data.video_source(spec)


def test_a_misspelt_generated_source_is_named_in_the_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name
    assert set(data.sources._GENERATED) == set(video.GENERATORS)
    with pytest.raises(ValueError, match=r"generated videos .*did you mean stochastic_shapes:"):
        data.load_source("stochastic_shape:num_videos=30")
    with pytest.raises(ValueError, match=r"moving_mnist:\.\.\.\)$"):  # no hint for no near name
        data.load_source("faces.npz")


def test_gif_has_a_frame_per_video_frame_and_the_grid_size(tmp_path):
    videos = data.stochastic_shapes(3, num_frames=4, size=10, seed=0)
    path = plotting.save_video_gif(videos, tmp_path / "v.gif", columns=2, scale=3, fps=5)
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.is_animated
        assert gif.size == (3 * (2 * 12 + 2), 3 * (2 * 12 + 2))  # 2 x 2 grid, padding 2
        assert gif.info["duration"] == 200 and gif.info["loop"] == 0
        gif.seek(2)
        third = np.asarray(gif.convert("RGB"))
    expected = np.asarray(plotting.image_grid(videos[:, 2], columns=2))
    np.testing.assert_array_equal(third[::3, ::3], expected)


def test_video_strip_rows_are_videos_columns_are_frames():
    videos = data.stochastic_shapes(2, num_frames=3, size=10, seed=0)
    strip = np.asarray(plotting.video_strip(videos))
    assert strip.shape == (2 * 12 + 2, 3 * 12 + 2, 3)
    np.testing.assert_array_equal(strip[14:24, 26:36], videos[1, 2])
    with pytest.raises(ValueError, match=r"uint8 \[N, T, H, W, 1 or 3\]"):
        plotting.video_strip(videos[0])


def test_gif_of_grayscale_videos(tmp_path):
    videos = data.moving_mnist(2, num_frames=5, size=12, images=_blocks(255), digit_size=4)
    path = plotting.save_video_gif(videos, tmp_path / "g.gif", columns=2)
    with Image.open(path) as gif:
        assert gif.n_frames == 5 and gif.size == (2 * 14 + 2, 14 + 2)
        gif.seek(4)
        last = np.asarray(gif.convert("L"))
    np.testing.assert_array_equal(last, np.asarray(plotting.image_grid(videos[:, 4], 2)))
