"""Video prediction with VideoFlow: sample several futures of moving shapes; write a GIF.

    python examples/video_prediction.py --out out/video_prediction.gif
    python examples/video_prediction.py --train-minutes 10 --out out/video_prediction.gif

By default it loads the pretrained `videoflow_shapes` from the zoo (offline), when the
checkout has that preset (it says so when not). With `--train-minutes` it trains a small
VideoFlow from scratch on freshly generated stochastic shapes instead (`model.fit`), for
that long (the first step compiles for a minute or more; it prints how many steps it made).
Either way it takes one frame of held-out videos, predicts `--frames` frames `--samples`
times at `--temperature`, prints the test bits/dim, and writes a GIF whose rows are videos:
the true video first, then the samples.
"""

import argparse
import pathlib
import time

import keras
import numpy as np

from tfflows import data, models, plotting


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` at the end of the first batch after `seconds`."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def trained_model(minutes: float) -> models.VideoFlow:
    keras.utils.set_random_seed(0)
    model = models.VideoFlow(
        (32, 32, 3), levels=3, steps_per_level=4, hidden_channels=64, prior_channels=32
    )
    videos = data.stochastic_shapes(5000, num_frames=3, size=32, seed=0)
    history = model.fit(
        videos, batch_size=16, epochs=100, callbacks=[TimeBudget(60 * minutes)], verbose=0
    )
    steps = int(model.optimizer.iterations.numpy())
    print(
        f"trained {steps} steps in {minutes:g} minutes (the first one compiles), "
        f"training bits/dim {history.history['bits_per_dim'][-1]:.3f}"
    )
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-minutes", type=float, default=None)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--frames", type=int, default=2)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--out", default="out/video_prediction.gif")
    args = parser.parse_args()
    if args.train_minutes:
        model = trained_model(args.train_minutes)
    else:
        import tfflows.zoo

        if "videoflow_shapes" not in tfflows.zoo.list():
            parser.error("this checkout has no videoflow_shapes preset: pass --train-minutes N")
        model = tfflows.zoo.load("videoflow_shapes")
    test = data.stochastic_shapes(256, num_frames=1 + args.frames, size=32, seed=args.seed)
    bits = float(np.mean(model.bits_per_dim(test)))
    print(f"test bits/dim of the predicted frames: {bits:.4f}")
    rows = []
    for i, video in enumerate(test[: args.videos]):
        context = np.repeat(video[None, :1], args.samples, axis=0)
        futures = model.predict_frames(context, args.frames, args.temperature, seed=i)
        futures = np.asarray(model.to_uint8(futures))
        rows.append(video[None])
        rows.append(np.concatenate([context, futures], axis=1))
    grid = np.concatenate(rows)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotting.save_video_gif(grid, out, columns=1 + args.samples, scale=3, fps=2)
    print(f"wrote {out}: each row is a true video, then {args.samples} sampled futures")


if __name__ == "__main__":
    main()
