"""Synthetic video data sets, as uint8 arrays [N, T, H, W, C].

- `stochastic_shapes`: the "stochastic movement" set of VideoFlow (Kumar et al. 2019,
  arXiv:1903.01434), made as tensor2tensor's `VideoStochasticShapes10k`
  (`tensor2tensor/data_generators/video_generated.py`) makes it: one shape per video, starting
  at the centre and moving in one of 8 directions drawn once per video.
- `moving_mnist`: Moving MNIST (Srivastava et al. 2015, arXiv:1502.04681): MNIST digits
  bouncing inside the frame.
- `video_source`: a spec string ("stochastic_shapes:num_videos=10000,size=32") -> train/test
  `Splits` whose test videos are never seen in training.
- `centroids`, `direction_index`: where a shape is and which of the 8 directions it moved in
  (to measure which directions a video model predicts).

Coordinates: x is the column (to the right), y the row (downwards); pixel (row i, column j)
covers [j, j + 1] x [i, i + 1], so the centre of a size x size frame is (size / 2, size / 2).
"""

import inspect
import math
import os

import numpy as np

from tfflows.data.sources import Splits, load_npz

# The 8 directions (dx, dy) in units per frame (y downwards), counter-clockwise as seen on
# screen from east: direction k points at 45 * k degrees above the x axis.
DIRECTIONS = np.array(
    [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)], dtype=np.int64
)
DIRECTION_NAMES = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")
# matplotlib's base colours b, g, r, c, m, y, as tensor2tensor draws them.
COLORS = np.array(
    [(0, 0, 255), (0, 128, 0), (255, 0, 0), (0, 191, 191), (191, 0, 191), (191, 191, 0)],
    dtype=np.uint8,
)
COLOR_NAMES = ("b", "g", "r", "c", "m", "y")
SHAPES = ("circle", "square", "triangle")
UNITS = 10  # the frame is a UNITS x UNITS box of units
SUBROWS = 8  # anti-aliasing: sub-rows per pixel row (columns are covered exactly)
TEST_SEED_OFFSET = 1_000_000  # video_source's test videos use seed + TEST_SEED_OFFSET


def _check_count(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def shape_labels(num_videos: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Draws the random choices of `num_videos` stochastic-shapes videos.

    Returns a dict of arrays [num_videos]: "direction" (int, an index into `DIRECTIONS`),
    "shape" (int, into `SHAPES`), "color" (int, into `COLORS`), "scale" (float s in [0.5, 1.5]
    units: circle radius, square half-side, half the triangle's side). Deterministic in `seed`.
    """
    _check_count(num_videos, "num_videos")
    rng = np.random.default_rng(seed)
    return {
        "direction": rng.integers(len(DIRECTIONS), size=num_videos),
        "shape": rng.integers(len(SHAPES), size=num_videos),
        "color": rng.integers(len(COLORS), size=num_videos),
        "scale": rng.uniform(0.5, 1.5, size=num_videos),
    }


def _half_widths(shape: np.ndarray, scale: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Half-width of each shape's horizontal cross-section at height dy from its centroid.

    All three shapes are convex and symmetric about their vertical axis, so a cross-section
    is one interval [cx - w, cx + w] (w = 0 where the row misses the shape).
    """
    s = scale[:, None]
    circle = np.sqrt(np.maximum(s**2 - dy**2, 0.0))
    square = np.where(np.abs(dy) <= s, s, 0.0)
    # Equilateral triangle of side 2s, apex up, centred on its centroid: it spans
    # dy in [-2h/3, h/3] (h = sqrt(3) s) and widens by 1/sqrt(3) per unit of depth.
    h = math.sqrt(3.0) * s
    inside = (dy >= -2 * h / 3) & (dy <= h / 3)
    triangle = np.where(inside, (dy + 2 * h / 3) / math.sqrt(3.0), 0.0)
    return np.choose(shape[:, None], [circle, square, triangle])


def _coverage(shape, scale, cx, cy, size: int) -> np.ndarray:
    """Fraction of each pixel a shape covers, float32 [B, size, size] (positions in pixels).

    Each pixel row is cut into SUBROWS sub-rows; in each, the shape's interval overlaps each
    pixel column by an exactly computed length: an anti-aliased drawing without a canvas.
    """
    rows = (np.arange(size * SUBROWS) + 0.5) / SUBROWS  # sub-row centres
    w = _half_widths(shape, scale, rows[None, :] - cy[:, None])  # [B, size * SUBROWS]
    left, right = cx[:, None] - w, cx[:, None] + w
    columns = np.arange(size)
    overlap = np.minimum(right[..., None], columns + 1) - np.maximum(left[..., None], columns)
    cover = np.clip(overlap, 0.0, 1.0, dtype=np.float32)
    return cover.reshape(len(shape), size, SUBROWS, size).mean(axis=2)


def render_shapes(labels: dict[str, np.ndarray], num_frames: int = 3, size: int = 32) -> np.ndarray:
    """Draws the videos of `shape_labels` as uint8 [N, num_frames, size, size, 3].

    Frame t shows the shape (centroid) at the centre plus t * DIRECTIONS[direction] units,
    one unit being size / 10 pixels, anti-aliased on a black background; a shape leaving the
    frame is cut off.
    """
    _check_count(num_frames, "num_frames")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 10 or size % 2:
        raise ValueError(
            f"size must be an even integer >= 10 (the 10 x 10 unit box at one pixel per unit "
            f"or more, its centre on a pixel corner), got {size!r}"
        )
    n, unit = len(labels["shape"]), size / UNITS
    steps = np.arange(num_frames)
    move = DIRECTIONS[labels["direction"]][:, None, :] * steps[None, :, None] * unit
    cx, cy = (size / 2 + move[..., 0]).ravel(), (size / 2 + move[..., 1]).ravel()
    per_frame = {k: np.repeat(labels[k], num_frames) for k in ("shape", "scale", "color")}
    videos = np.empty((n * num_frames, size, size, 3), np.uint8)
    chunk = max(1, 2**22 // (size * size * SUBROWS))  # bounds the temporary arrays
    for i in range(0, n * num_frames, chunk):
        part = slice(i, i + chunk)
        scale = per_frame["scale"][part] * unit
        cover = _coverage(per_frame["shape"][part], scale, cx[part], cy[part], size)
        color = COLORS[per_frame["color"][part]].astype(np.float32)
        videos[part] = np.rint(cover[..., None] * color[:, None, None, :])
    return videos.reshape(n, num_frames, size, size, 3)


def stochastic_shapes(
    num_videos: int,
    num_frames: int = 3,
    size: int = 32,
    seed: int = 0,
    return_directions: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """VideoFlow's stochastic movement data set: uint8 videos [num_videos, num_frames, size,
    size, 3].

    As tensor2tensor's `VideoStochasticShapes10k` (Kumar et al. 2019, arXiv:1903.01434;
    `tensor2tensor/data_generators/video_generated.py`), at size x size pixels: black
    background; one shape per video, a circle of radius s, a square of half-side s or an
    equilateral triangle (apex up) of side 2s, with s ~ U[0.5, 1.5] units of a 10 x 10 unit
    box; colour one of matplotlib's b, g, r, c, m, y (`COLORS`). The shape starts at the
    centre and moves by one of the 8 (dx, dy) in {-1, 0, 1}^2 minus (0, 0) units per frame
    (`DIRECTIONS`), drawn once per video, so only the direction is uncertain. Anti-aliased
    (exact horizontal coverage, 8 sub-rows per pixel).

    Differences from tensor2tensor's pictures: the whole 10 x 10 box fills the frame
    (tensor2tensor's matplotlib layout crops it to [1.09, 8.91], 8.18 pixels per unit at
    64 x 64); the triangle is centred on its centroid (tensor2tensor puts its base at y - s), so
    every shape's centroid is at the centre in frame 0; squares are anti-aliased too (Agg snaps
    them to pixels); y points down (matplotlib's up), which only relabels the directions.

    Args:
      num_videos: how many videos (>= 1).
      num_frames: frames per video (>= 1; tensor2tensor makes 5 and trains on the first 3).
      size: frame height and width in pixels, even and >= 10.
      seed: the videos are a deterministic function of (num_videos, seed).
      return_directions: also return each video's direction, int [num_videos] in 0..7 (an
        index into `DIRECTIONS` / `DIRECTION_NAMES`: E, NE, N, NW, W, SW, S, SE).

    Example:
      >>> videos, directions = stochastic_shapes(8, num_frames=3, size=32,
      ...                                        return_directions=True)
      >>> videos.shape, videos.dtype
      ((8, 3, 32, 32, 3), dtype('uint8'))
    """
    labels = shape_labels(num_videos, seed)
    videos = render_shapes(labels, num_frames, size)
    return (videos, labels["direction"]) if return_directions else videos


def _digit_images(path, images, key: str) -> np.ndarray:
    if (path is None) == (images is None):
        raise ValueError(
            "moving_mnist needs digit images from exactly one source: path= an MNIST .npz "
            "(arrays x_train / x_test) or images= a uint8 array [N, h, w]"
        )
    digits = np.asarray(load_npz(path, key) if images is None else images)
    if digits.ndim == 4 and digits.shape[-1] == 1:
        digits = digits[..., 0]
    if digits.dtype != np.uint8 or digits.ndim != 3 or len(digits) == 0:
        raise ValueError(
            f"digit images must be uint8 [N, h, w] with N >= 1, got {digits.dtype} {digits.shape}"
        )
    return digits


def _resized(digits: np.ndarray, digit_size: int) -> np.ndarray:
    if digits.shape[1:] == (digit_size, digit_size):
        return digits
    from PIL import Image

    return np.stack(
        [np.asarray(Image.fromarray(d).resize((digit_size,) * 2, Image.LANCZOS)) for d in digits]
    )


def _bounce(rng: np.random.Generator, n: int, num_frames: int, limit: float) -> np.ndarray:
    """Top-left corners [n, num_frames, 2] (x, y) in [0, limit]: a random start, a random
    direction at the speed of Srivastava et al. (0.1 * limit per frame), mirrored at the
    borders (the velocity's component changes sign, the speed stays)."""
    position = rng.uniform(0.0, limit, size=(n, 2))
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    velocity = 0.1 * limit * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    path = np.empty((n, num_frames, 2))
    for t in range(num_frames):
        path[:, t] = position
        position = position + velocity
        low, high = position < 0, position > limit
        position = np.where(low, -position, np.where(high, 2 * limit - position, position))
        velocity = np.where(low | high, -velocity, velocity)
    return path


def moving_mnist(
    num_videos: int,
    num_frames: int = 20,
    size: int = 64,
    digits: int = 2,
    seed: int = 0,
    path: str | os.PathLike | None = None,
    images: np.ndarray | None = None,
    key: str = "x_train",
    digit_size: int | None = None,
) -> np.ndarray:
    """Moving MNIST (Srivastava et al. 2015, arXiv:1502.04681): uint8 videos
    [num_videos, num_frames, size, size, 1] of `digits` digits bouncing inside the frame.

    Each digit starts at a random place and moves in a random direction at a fixed speed
    (a tenth of its free range per frame), mirrored at the borders, so it always stays whole
    inside the frame; the digits of a video are combined by pixel-wise max. Deterministic in
    (arguments, seed).

    Args:
      num_videos, num_frames: how many videos, of how many frames (>= 1 each).
      size: frame height and width in pixels (64 as in the paper; 32 works too).
      digits: digits per video (>= 1).
      seed: random seed of the digits chosen and their paths.
      path: an MNIST .npz file (e.g. the shared `mnist.npz`); its array `key` holds the digits.
      images: or the digit images themselves, uint8 [N, h, w] (or [N, h, w, 1]).
      key: which array of `path` to read ("x_train" for training, "x_test" for test videos).
      digit_size: the digits' side in pixels; default their own size times size / 64 (28
        pixels in a 64 x 64 frame, 14 in 32 x 32, as in the paper's proportions).
    """
    _check_count(num_videos, "num_videos")
    _check_count(num_frames, "num_frames")
    _check_count(digits, "digits")
    source = _digit_images(path, images, key)
    digit_size = digit_size or max(1, round(source.shape[1] * size / 64))
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size <= digit_size:
        raise ValueError(
            f"size must be an integer larger than the digits ({digit_size} pixels), got {size!r}"
        )
    rng = np.random.default_rng(seed)
    chosen = _resized(source[rng.integers(len(source), size=num_videos * digits)], digit_size)
    corners = np.rint(_bounce(rng, num_videos * digits, num_frames, size - digit_size))
    corners = corners.astype(np.int64).reshape(num_videos, digits, num_frames, 2)
    chosen = chosen.reshape(num_videos, digits, digit_size, digit_size)
    videos = np.zeros((num_videos, num_frames, size, size), np.uint8)
    video, offsets = np.arange(num_videos)[:, None, None], np.arange(digit_size)
    for k in range(digits):
        for t in range(num_frames):
            rows = (corners[:, k, t, 1, None] + offsets)[:, :, None]
            cols = (corners[:, k, t, 0, None] + offsets)[:, None, :]
            old = videos[video, t, rows, cols]
            videos[video, t, rows, cols] = np.maximum(old, chosen[:, k])
    return videos[..., None]


def centroids(frames: np.ndarray) -> np.ndarray:
    """Intensity-weighted centroid (x, y) in pixels of frames [..., H, W, C] -> [..., 2]
    (pixel (i, j)'s centre is (j + 0.5, i + 0.5)); NaN for an all-black frame."""
    frames = np.asarray(frames, dtype=np.float64).sum(axis=-1)
    h, w = frames.shape[-2:]
    mass = frames.sum(axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (frames.sum(axis=-2) * (np.arange(w) + 0.5)).sum(axis=-1) / mass
        y = (frames.sum(axis=-1) * (np.arange(h) + 0.5)).sum(axis=-1) / mass
    return np.stack([x, y], axis=-1)


def direction_index(displacement: np.ndarray) -> np.ndarray:
    """Displacements (dx, dy) [..., 2] (y downwards) -> the nearest of the 8 `DIRECTIONS`,
    int [...] in 0..7, by angle (45-degree bins centred on E, NE, N, ...)."""
    d = np.asarray(displacement, dtype=np.float64)
    angle = np.arctan2(-d[..., 1], d[..., 0])
    return np.rint(angle / (np.pi / 4)).astype(np.int64) % 8


GENERATORS = {"stochastic_shapes": stochastic_shapes, "moving_mnist": moving_mnist}


def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _parse_spec(spec: str) -> tuple[str, dict]:
    name, _, rest = spec.partition(":")
    if name not in GENERATORS:
        raise ValueError(f"unknown video source {name!r}; known: {', '.join(GENERATORS)}")
    options = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"video source option {item!r} is not key=value (in {spec!r})")
        options[key.strip()] = _parse_value(value.strip())
    allowed = set(inspect.signature(GENERATORS[name]).parameters) - {"return_directions"}
    allowed |= {"test_videos", "test_seed"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"{name} has no option {unknown}; it takes {sorted(allowed)}")
    for key, value in options.items():
        if key not in ("path", "key") and isinstance(value, str):
            raise ValueError(
                f"{name} option {key}={value!r} is not a number (options are separated by "
                f"commas, e.g. {name}:num_videos=1000,num_frames=3)"
            )
    return name, options


def video_source(spec: str) -> Splits:
    """A video data set from a spec string -> `Splits` (train_x, test_x), uint8 videos.

    `spec` is "NAME:key=value,...", e.g.
    "stochastic_shapes:num_videos=10000,num_frames=3,size=32,seed=0" or
    "moving_mnist:path=../shared/data/mnist.npz,num_videos=10000,num_frames=10,size=64".
    The keys are the generator's arguments, plus `test_videos` (default num_videos // 10, at
    least 1) and `test_seed` (default seed + 1000000). The test videos are generated with
    `test_seed`, so they are never seen in training; moving_mnist's test videos moreover take
    their digits from the npz file's "x_test" array (the train videos from "x_train").
    """
    name, options = _parse_spec(spec)
    num_videos = options.pop("num_videos", 10000)
    test_videos = options.pop("test_videos", max(1, num_videos // 10))
    seed = options.pop("seed", 0)
    test_seed = options.pop("test_seed", seed + TEST_SEED_OFFSET)
    if test_seed == seed:
        raise ValueError(f"test_seed equals seed ({seed}): the test videos would be training ones")
    generate = GENERATORS[name]
    test_options = dict(options, key="x_test") if name == "moving_mnist" else options
    train = generate(num_videos, seed=seed, **options)
    test = generate(test_videos, seed=test_seed, **test_options)
    description = (
        f"{name}: {num_videos} train videos (seed {seed}), "
        f"{test_videos} test videos (seed {test_seed})"
    )
    return Splits(train, test, description=description)
