"""Fit a small Glow or a MAF to real MNIST on a CPU time budget; report test bits/dim.

    python examples/mnist.py --model glow --minutes 30 --out out/mnist_glow
    python examples/mnist.py --model maf --minutes 20 --out out/mnist_maf

Checkpoints every epoch (Keras BackupAndRestore), so re-running the same command after an
interruption resumes where it stopped. Writes `result.json` (test bits/dim on the whole
10,000-image test set, steps, wall time) and, for Glow, a grid of samples at T = 0.7.
"""

import argparse
import json
import pathlib
import time

import keras
import numpy as np

from tfflows import data, models, plotting

ROOT = pathlib.Path(__file__).resolve().parents[1]


class TimeBudget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that ends after `seconds` of training
    (counted across resumed runs through `spent`)."""

    def __init__(self, seconds, spent=0.0):
        super().__init__()
        self.seconds, self.spent = seconds, spent

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def elapsed(self):
        return self.spent + time.perf_counter() - self.start

    def on_epoch_end(self, epoch, logs=None):
        if self.elapsed() >= self.seconds:
            self.model.stop_training = True


def build(name):
    if name == "glow":
        return models.Glow((28, 28, 1), levels=2, steps_per_level=8, hidden_channels=128)
    if name == "maf":
        return models.MAF(784, num_layers=5, hidden_units=[1024], num_bits=8)
    raise ValueError(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["glow", "maf"], default="glow")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps-per-epoch", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/mnist.npz"))
    parser.add_argument("--out", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = pathlib.Path(args.out or f"out/mnist_{args.model}")
    out.mkdir(parents=True, exist_ok=True)

    keras.utils.set_random_seed(args.seed)
    x_train, x_test = data.load_npz(args.data, "x_train"), data.load_npz(args.data, "x_test")
    shape = (28, 28, 1) if args.model == "glow" else (784,)
    x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
    train = data.from_numpy(
        x_train, batch_size=args.batch_size, seed=args.seed, drop_remainder=True, event_shape=shape
    ).repeat()

    model = build(args.model)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    print(f"{args.model}: {model.count_params():,} parameters")
    spent_file = out / "seconds_trained.txt"
    spent = float(spent_file.read_text()) if spent_file.exists() else 0.0
    budget = TimeBudget(args.minutes * 60.0, spent)

    class SaveSpent(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            spent_file.write_text(f"{budget.elapsed():.1f}")

    best = out / "best.weights.h5"
    history = model.fit(
        train,
        epochs=100_000,
        steps_per_epoch=args.steps_per_epoch,
        verbose=2,
        callbacks=[
            keras.callbacks.BackupAndRestore(str(out / "backup")),
            # A diverged step stops training at once, before any NaN weights are saved ...
            keras.callbacks.TerminateOnNaN(),
            # ... and the best epoch so far is what gets evaluated and saved.
            keras.callbacks.ModelCheckpoint(
                str(best),
                monitor="bits_per_dim",
                mode="min",
                save_best_only=True,
                save_weights_only=True,
            ),
            budget,
            SaveSpent(),
            keras.callbacks.CSVLogger(str(out / "log.csv"), append=True),
        ],
    )
    diverged = not np.isfinite(history.history["bits_per_dim"][-1])
    if diverged:
        print("training diverged (non-finite loss); evaluating the best checkpoint")
    if best.exists():
        model.load_weights(best)
    model.save(out / "model.keras")
    steps = int(model.optimizer.iterations.numpy())

    test = data.from_numpy(x_test, batch_size=500, shuffle=False, event_shape=shape)
    bpd = np.concatenate([model.bits_per_dim(xb, seed=(i, 0)).numpy() for i, xb in enumerate(test)])
    result = {
        "model": args.model,
        "parameters": int(model.count_params()),
        "steps": steps,
        "batch_size": args.batch_size,
        "seconds_trained": round(budget.elapsed(), 1),
        "test_bits_per_dim": round(float(bpd.mean()), 4),
        "test_images": int(len(bpd)),
        "diverged_and_restored_best": bool(diverged),
        "command": f"python examples/mnist.py --model {args.model} --minutes {args.minutes:g}",
    }
    if args.model == "glow":
        samples = model.to_uint8(model.sample(64, temperature=0.7, seed=0)).numpy()
        plotting.save_image_grid(samples, out / "samples_t0.7.png", columns=8, scale=2)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
