"""Pictures: image grids and video GIFs (Pillow), 2-D densities, and learning curves from a
training run's TensorBoard logs (matplotlib; the model cards' curve.png)."""

import os
import pathlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image


def image_grid(
    images: np.ndarray, columns: int = 8, padding: int = 2, background: int = 255
) -> "Image.Image":
    """uint8 images [N, H, W, C] (C = 1 or 3) -> one PIL image, `columns` per row."""
    from PIL import Image

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"image_grid takes uint8 [N, H, W, 1 or 3], got {images.dtype} {images.shape}"
        )
    n, h, w, c = images.shape
    rows = -(-n // columns)
    grid = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c), background, np.uint8
    )
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top : top + h, left : left + w] = image
    return Image.fromarray(grid[..., 0] if c == 1 else grid)


def save_image_grid(
    images: np.ndarray, path: str | os.PathLike, columns: int = 8, scale: int = 1
) -> pathlib.Path:
    """Writes `image_grid(images, columns)` to `path` (PNG), enlarged `scale` times."""
    from PIL import Image

    grid = image_grid(images, columns)
    if scale != 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path


def _check_videos(videos: np.ndarray) -> np.ndarray:
    videos = np.asarray(videos)
    if videos.dtype != np.uint8 or videos.ndim != 5 or videos.shape[-1] not in (1, 3):
        raise ValueError(
            f"videos must be uint8 [N, T, H, W, 1 or 3], got {videos.dtype} {videos.shape}"
        )
    return videos


def save_video_gif(
    videos: np.ndarray,
    path: str | os.PathLike,
    columns: int = 8,
    scale: int = 1,
    fps: float = 4.0,
) -> pathlib.Path:
    """Writes uint8 videos [N, T, H, W, C] as one looping animated GIF (Pillow): frame t is
    `image_grid(videos[:, t], columns)`, the N videos side by side, enlarged `scale` times.

    Pillow stores two identical consecutive grids as one frame shown twice as long (the
    animation looks the same; the GIF then has fewer than T frames).
    """
    from PIL import Image

    videos = _check_videos(videos)
    frames = [image_grid(videos[:, t], columns) for t in range(videos.shape[1])]
    if scale != 1:
        frames = [f.resize((f.width * scale, f.height * scale), Image.NEAREST) for f in frames]
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0
    )
    return path


def video_strip(videos: np.ndarray, padding: int = 2) -> "Image.Image":
    """uint8 videos [N, T, H, W, C] -> one still PIL image: a row per video, a column per
    frame (save it with `.save("strip.png")`)."""
    videos = _check_videos(videos)
    n, t = videos.shape[:2]
    return image_grid(videos.reshape(n * t, *videos.shape[2:]), columns=t, padding=padding)


def density_grid(
    log_prob_fn: Callable[[np.ndarray], np.ndarray], extent: float, size: int = 300
) -> np.ndarray:
    """exp(log_prob) on a size x size grid over [-extent, extent]^2 (rows = y)."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    points = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    return np.exp(np.asarray(log_prob_fn(points))).reshape(size, size)


def read_scalars(
    run_dir: str | os.PathLike, tag: str = "test/bits_per_dim"
) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one scalar over all the run's event files, sorted by step; a step
    logged twice (a resumed run repeating a step) keeps its last value. Every resume appends a
    new events file to RUN_DIR/logs; all of them are read, a killed run's cut-off last record
    aside."""
    import tensorflow as tf

    files = sorted(pathlib.Path(run_dir, "logs").glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event files in {pathlib.Path(run_dir, 'logs')}")
    points = {}
    for path in files:
        records = iter(tf.data.TFRecordDataset(str(path)))
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError:
                # A run killed while its writer flushed ends its file in half a record: the
                # records before it are whole (each has its own crc), as TensorBoard reads.
                break
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == tag:
                    points[int(event.step)] = float(tf.make_ndarray(value.tensor))
    steps = np.array(sorted(points), dtype=np.int64)
    return steps, np.array([points[s] for s in steps], dtype=np.float64)


def plot_curves(
    runs: Mapping[str, str | os.PathLike],
    path: str | os.PathLike,
    tag: str = "test/bits_per_dim",
    steps_per_epoch: int | None = None,
    title: str | None = None,
) -> str | os.PathLike:
    """Draws `tag` against steps (or epochs) for {label: run_dir} into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for label, run_dir in runs.items():
        steps, values = read_scalars(run_dir, tag)
        x = steps / steps_per_epoch if steps_per_epoch else steps
        ax.plot(x, values, marker="o", markersize=3, label=f"{label} (last {values[-1]:.3f})")
    ax.set_xlabel("epoch" if steps_per_epoch else "step")
    ax.set_ylabel(tag.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_spectrograms(
    rows: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    sample_rate: int = 8000,
    titles: list[str] | None = None,
    frame_length: int = 256,
) -> pathlib.Path:
    """Log-power spectrograms (dB) of clips {row label: [N, T]}: a row per label, a column
    per clip (e.g. real, teacher and student clips of the same digits), on one colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {k: np.atleast_2d(np.asarray(v, np.float64)) for k, v in rows.items()}
    columns = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(
        len(rows), columns, figsize=(2.2 * columns, 1.9 * len(rows)), dpi=100, squeeze=False
    )
    for r, (label, clips) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(clips):
                # Digital silence (zero padding) has no dB value: it is drawn white.
                with np.errstate(divide="ignore"):
                    ax.specgram(
                        clips[c],
                        NFFT=frame_length,
                        Fs=sample_rate,
                        noverlap=frame_length * 3 // 4,
                        cmap="magma",
                        vmin=-120,
                        vmax=-20,
                    )
            if c == 0:
                ax.set_ylabel(label)
            if r == 0 and titles:
                ax.set_title(titles[c], fontsize=9)
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
