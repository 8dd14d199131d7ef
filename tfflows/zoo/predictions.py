"""Pictures of a video model's predictions, for model cards and `tfflows predict`.

For each context video, its true continuation and several sampled futures side by side: an
animated GIF (one row per video: the true video first, then the samples, each starting with
the same context frames) and a still of the same videos (a row per video, a column per frame)
for places that cannot show GIFs.
"""

import os
import pathlib

import numpy as np

# Held-out stochastic shapes for the pictures: the seed of `video_source`'s test videos for
# training seed 0, never a training seed.
HELD_OUT_SEED = 1_000_000
VIDEOS, SAMPLES, TEMPERATURE, SEED = 4, 5, 0.7, 0


def context_length(model) -> int:
    """How many frames of each video condition the prediction: the model's context frames,
    at least one."""
    return max(int(model.context_frames), 1)


def future_grid(
    model,
    videos: np.ndarray,
    samples: int = SAMPLES,
    num_frames: int | None = None,
    temperature: float = TEMPERATURE,
    seed: int | None = SEED,
) -> tuple[np.ndarray, int]:
    """(uint8 videos [N * columns, k + P, H, W, C], columns): for each of the N `videos`
    (uint8 [N, T, H, W, C]), its first k = `context_length(model)` frames followed by its true
    frames (first column; frames past the video's end are black) and by `samples` futures of
    P = `num_frames` frames (default T - k) drawn by `model.predict_frames` at `temperature`
    (`seed`: reproducible). Without true frames (T == k) there is no truth column, so
    columns is `samples` + 1 with the truth and `samples` without it.
    """
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.dtype != np.uint8:
        raise ValueError(
            f"context videos must be uint8 [N, T, H, W, C], got {videos.dtype} {videos.shape}"
        )
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an integer >= 1, got {samples!r}")
    k = context_length(model)
    if videos.shape[1] < k:
        raise ValueError(
            f"the videos have {videos.shape[1]} frame(s), but the model predicts from {k} "
            "context frame(s)"
        )
    future = videos.shape[1] - k
    if num_frames is not None and num_frames < 1:
        raise ValueError(f"the number of frames to predict must be >= 1, got {num_frames}")
    num_frames = future if num_frames is None else num_frames
    if num_frames < 1:
        raise ValueError(
            f"the videos hold only the {k} context frame(s): say how many frames to predict"
        )
    context = videos[:, :k]
    drawn = model.predict_frames(np.repeat(context, samples, axis=0), num_frames, temperature, seed)
    # np.repeat keeps each video's samples together: row i * samples + j is sample j of i.
    drawn = np.asarray(model.to_uint8(drawn))
    futures = [drawn.reshape(len(videos), samples, num_frames, *videos.shape[2:])]
    if future:
        truth = np.zeros((len(videos), 1, num_frames, *videos.shape[2:]), np.uint8)
        shown = min(future, num_frames)
        truth[:, 0, :shown] = videos[:, k : k + shown]
        futures.insert(0, truth)
    futures = np.concatenate(futures, axis=1)
    columns = futures.shape[1]
    context = np.repeat(context[:, None], columns, axis=1)
    grid = np.concatenate([context, futures], axis=2)
    return grid.reshape(-1, *grid.shape[2:]), columns


def save_predictions(
    model,
    videos: np.ndarray,
    gif: str | os.PathLike,
    still: str | os.PathLike | None = None,
    samples: int = SAMPLES,
    num_frames: int | None = None,
    temperature: float = TEMPERATURE,
    seed: int | None = SEED,
    scale: int = 2,
    fps: float = 2.0,
) -> list[pathlib.Path]:
    """Writes `future_grid(...)` as an animated GIF at `gif` and, if `still` is given, as a
    still PNG (a row per video, a column per frame), both enlarged `scale` times; returns the
    paths written."""
    from PIL import Image

    from tfflows.plotting import save_video_gif, video_strip

    grid, columns = future_grid(model, videos, samples, num_frames, temperature, seed)
    written = [save_video_gif(grid, gif, columns=columns, scale=scale, fps=fps)]
    if still is not None:
        picture = video_strip(grid)
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        path = pathlib.Path(still)
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path)
        written.append(path)
    return written


def held_out_shapes(model, n: int = VIDEOS, num_frames: int = 2) -> np.ndarray:
    """`n` stochastic-shapes videos at the model's frame size, of `context_length(model)`
    + `num_frames` frames, generated with `HELD_OUT_SEED` (never a training seed)."""
    from tfflows.data.video import stochastic_shapes

    height, width, channels = model.data_shape[1:]
    if height != width or channels != 3:
        raise ValueError(
            f"the model's frames are {(height, width, channels)}, not square RGB "
            "stochastic shapes: give context videos (a data source)"
        )
    frames = context_length(model) + num_frames
    return stochastic_shapes(n, num_frames=frames, size=height, seed=HELD_OUT_SEED)
