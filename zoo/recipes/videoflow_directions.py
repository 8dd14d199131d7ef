"""Which way do a video model's predicted shapes move? (VideoFlow's stochastic shapes.)

    python zoo/recipes/videoflow_directions.py MODEL [--videos 16] [--samples 64]
        [--temperature 0.7] [--seed 2026]

MODEL is a zoo name (videoflow_shapes), a training run folder or a .keras file. For each
of `--videos` held-out videos (generated with `--seed`, never a training seed), the model
predicts two frames from the first one, `--samples` times. A frame's shape is found as the
centroid of its pixels brighter than `--threshold` (out of 255, on the brightest channel);
its displacement from the context frame is binned into the 8 directions of the data
(`tfflows.data.video.direction_index`). Printed (and written with --out as JSON):

- directions: per context video, how many of the 8 directions appear among the samples'
  first predicted frames (the data moves every shape in 1 of 8 directions with equal
  probability, so a model that learned it shows all 8 from one frame);
- kept: how often the second predicted frame moves in the first one's direction (always, in
  the data);
- found: the fraction of futures with a shape found in both predicted frames (pixels over
  the threshold, of any colour and size);
- same_shape: the fraction of futures whose first predicted frame holds a shape like the
  context's: between half and twice its pixel count, and its mean colour within 80 (of 255)
  of the context's on every channel.
"""

import argparse
import json
import pathlib

import numpy as np

from tfflows.cli import load_model
from tfflows.data.video import direction_index, stochastic_shapes


def shape_centroids(frames: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """(centroids [..., 2] as (x, y) pixels, found [...]) of uint8 frames [..., H, W, C]."""
    bright = frames.max(axis=-1) > threshold
    h, w = bright.shape[-2:]
    count = bright.sum(axis=(-2, -1))
    ys, xs = np.mgrid[0:h, 0:w]
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = (bright * xs).sum(axis=(-2, -1)) / count
        cy = (bright * ys).sum(axis=(-2, -1)) / count
    return np.stack([cx, cy], axis=-1), count > 0


def shape_looks(frames: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    """(pixel counts [...], mean colours [..., C]) of the shapes in uint8 frames [..., H, W, C]
    (the pixels brighter than `threshold`; colour 0 where there are none)."""
    bright = frames.max(axis=-1) > threshold
    count = bright.sum(axis=(-2, -1))
    total = (frames * bright[..., None]).sum(axis=(-3, -2))
    return count, total / np.maximum(count, 1)[..., None]


def same_shape(frames, context, threshold, colour_tolerance=80.0):
    """Whether each frame [N, H, W, C] holds a shape like the one in `context` [H, W, C]."""
    count, colour = shape_looks(frames, threshold)
    count0, colour0 = shape_looks(context, threshold)
    sized = (count >= 0.5 * count0) & (count <= 2 * count0) & (count > 0)
    coloured = (np.abs(colour - colour0) <= colour_tolerance).all(axis=-1)
    return sized & coloured


def measure(model, videos, samples, temperature, seed, threshold):
    directions, kept, found, alike = [], [], [], []
    for i, video in enumerate(videos):
        context = np.repeat(video[None, :1], samples, axis=0)
        frames = model.to_uint8(model.predict_frames(context, 2, temperature, seed=seed + i))
        frames = np.asarray(frames)
        c0, f0 = shape_centroids(video[:1], threshold)
        c, f = shape_centroids(frames, threshold)
        c0, c = np.nan_to_num(c0), np.nan_to_num(c)  # no shape: NaN, masked out below
        first = direction_index(c[:, 0] - c0[0])
        second = direction_index(c[:, 1] - c[:, 0])
        ok = f[:, 0] & f[:, 1] & f0[0]
        directions.append(len(set(first[ok].tolist())))
        kept.append(float(np.mean(first[ok] == second[ok])) if ok.any() else 0.0)
        found.append(float(np.mean(ok)))
        alike.append(float(np.mean(same_shape(frames[:, 0], video[0], threshold))))
    return {
        "directions_mean": float(np.mean(directions)),
        "directions_per_video": directions,
        "kept_mean": float(np.mean(kept)),
        "found_mean": float(np.mean(found)),
        "same_shape_mean": float(np.mean(alike)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--videos", type=int, default=16)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threshold", type=int, default=64)
    parser.add_argument("--out")
    args = parser.parse_args()
    try:
        import tfflows.zoo

        model = tfflows.zoo.load(args.model)
    except ValueError:
        model = load_model(args.model)[0]
    size = model.frame_shape[0]
    videos = stochastic_shapes(args.videos, 3, size, seed=args.seed)
    result = {
        "model": args.model,
        "videos": args.videos,
        "samples": args.samples,
        "temperature": args.temperature,
        "seed": args.seed,
        **measure(model, videos, args.samples, args.temperature, args.seed, args.threshold),
    }
    # The same measurement on the data itself: what a perfect model would show.
    truth = stochastic_shapes(args.videos * args.samples, 3, size, seed=args.seed + 1)
    c, f = shape_centroids(truth, args.threshold)
    first, second = direction_index(c[:, 1] - c[:, 0]), direction_index(c[:, 2] - c[:, 1])
    result["data_kept"] = float(np.mean(first[f.all(1)] == second[f.all(1)]))
    result["data_same_shape"] = float(np.mean(same_shape(truth[:, 1], truth[:, 0], args.threshold)))
    print(json.dumps(result))
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
