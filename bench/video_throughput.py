"""VideoFlow throughput: frames/s of training and of prediction.

    python -m bench.video_throughput [--batch 16] [--frames 3] [--repeats 5] [--quick]

The model is the zoo's videoflow_shapes architecture (32x32x3 frames; a Glow of 3 levels x 4
steps with 96 channels per frame; the conv3d latent prior, 64 channels, depth 2), untrained
(speed does not depend on the weights), on generated stochastic-shapes videos. Measured in
one process, in interleaved rounds (medians and ranges over `--repeats`):

- train: Keras `fit`'s compiled step (loss, gradient, Adam) with and without XLA, in frames
  per second (videos per step x frames per video);
- predict: `predict_frames` from one context frame to `--frames - 1` new ones, traced and
  under XLA, in predicted frames per second;
- the same for the ablation `prior="independent"` (each frame scored by the Glow alone), so
  the temporal prior's share of the cost shows.

There is no peer to run: the authors' VideoFlow is tensor2tensor's `next_frame_glow`, and
tensor2tensor 1.15.7 (its last release) does not import with TensorFlow 2.21. It needs
tensorflow-addons, whose last release (0.23.0) imports `keras.src.engine`, a Keras 2 module
that Keras 3 lacks, and its models are TF1 graph code (`tf.compat.v1`, estimators).
"""

import argparse
import json
import pathlib
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from tfflows.data.video import stochastic_shapes
from tfflows.models import VideoFlow

RESULTS = pathlib.Path(__file__).parent / "results"
ZOO = dict(context_frames=1, levels=3, steps_per_level=4, hidden_channels=96, prior_channels=64)


def build(prior: str, quick: bool = False) -> VideoFlow:
    keras.utils.set_random_seed(0)
    settings = dict(ZOO, prior=prior)
    if quick:
        settings.update(levels=2, steps_per_level=1, hidden_channels=8, prior_channels=8)
    return VideoFlow((32, 32, 3), **settings)


def runners(
    prior: str, videos: np.ndarray, batch: int, quick: bool, train: bool = True
) -> tuple[dict, int]:
    """({name: (call, frames per call)}, parameters) for one prior (`train=False`: the
    prediction only, on an initialised untrained model)."""
    out = {}
    frames = videos.shape[1]
    if not train:
        model = build(prior, quick)
        model.initialize(videos[:batch])
    for xla in (True, False) if train else ():
        model = build(prior, quick)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla)
        model.fit(videos[:batch], batch_size=batch, epochs=1, verbose=0)
        data = tf.data.Dataset.from_tensor_slices(videos).repeat().batch(batch, True)
        iterator = iter(data.prefetch(2))
        out[f"train_{'xla' if xla else 'traced'}"] = (
            lambda m=model, it=iterator: m.train_function(it)["loss"].numpy(),
            batch * frames,
        )
    context = tf.constant(videos[:batch, :1])
    for xla in (True, False):
        predict = tf.function(
            lambda c, m=model: m.predict_frames(c, frames - 1, 1.0, seed=0), jit_compile=xla
        )
        out[f"predict_{'xla' if xla else 'traced'}"] = (
            lambda f=predict: f(context).numpy(),
            batch * (frames - 1),
        )
    return out, model.count_params()


def run(args) -> dict:
    videos = stochastic_shapes(max(args.batch * 4, 64), num_frames=args.frames, seed=0)
    cases, parameters = {}, {}
    for prior in ("conv3d", "independent"):
        calls, parameters[prior] = runners(prior, videos, args.batch, args.quick)
        cases.update({f"{prior}/{k}": v for k, v in calls.items()})
    for call, _ in cases.values():  # warm-up: tracing and XLA compilation
        call()
    rates = {k: [] for k in cases}
    names = list(cases)
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            call, frames = cases[name]
            start = time.perf_counter()
            for _ in range(args.calls):
                call()
            rates[name].append(args.calls * frames / (time.perf_counter() - start))
    return {
        "batch": args.batch,
        "frames_per_video": args.frames,
        "parameters": parameters,
        "quick": args.quick,
        "frames_per_second": {k: statistics.median(v) for k, v in rates.items()},
        "all_frames_per_second": rates,
    }


def markdown(report) -> str:
    rates, every = report["frames_per_second"], report["all_frames_per_second"]
    lines = [
        f"VideoFlow frames/s (batch {report['batch']}, {report['frames_per_video']}-frame "
        f"videos, 32x32x3; median of {len(next(iter(every.values())))} interleaved rounds; "
        f"parameters: conv3d prior {report['parameters']['conv3d']:,}, independent "
        f"{report['parameters']['independent']:,})",
        "",
        "| prior | measure | traced | XLA | best / independent prior's best |",
        "|---|---|---|---|---|",
    ]
    for measure in ("train", "predict"):
        best = {
            p: max(rates[f"{p}/{measure}_traced"], rates[f"{p}/{measure}_xla"])
            for p in ("conv3d", "independent")
        }
        for prior in ("conv3d", "independent"):
            cells = []
            for kind in ("traced", "xla"):
                v = every[f"{prior}/{measure}_{kind}"]
                cells.append(f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})")
            ratio = best[prior] / best["independent"]
            lines.append(f"| {prior} | {measure} | {cells[0]} | {cells[1]} | {ratio:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3, help="calls per timed round")
    parser.add_argument("--quick", action="store_true", help="a tiny model: a smoke run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames must be at least 2 (one context frame and one to predict)")
    report = run(args)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "video_throughput.json").write_text(json.dumps(report, indent=2))
    (out / "video_throughput.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
