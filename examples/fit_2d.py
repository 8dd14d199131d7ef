"""Fit RealNVP and MAF to two moons and rings with `model.fit`; plot the densities.

python examples/fit_2d.py --epochs 60 --out out/fit_2d.png
"""

import argparse
import pathlib

import keras
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfflows import models, plotting  # noqa: E402
from tfflows.data import toy_data  # noqa: E402

EXTENT = 4.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", default="out/fit_2d.png")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    sets = {"two moons": toy_data.two_moons(20_000), "rings": toy_data.rings(20_000)}
    makers = {
        "RealNVP": lambda: models.RealNVP((2,), num_couplings=8, hidden=[128, 128]),
        "MAF": lambda: models.MAF(2, num_layers=8, hidden_units=[128, 128]),
    }
    fig, axes = plt.subplots(len(sets), 1 + len(makers), figsize=(4 * (1 + len(makers)), 8))
    for r, (set_name, x) in enumerate(sets.items()):
        test = x[-2000:]
        axes[r, 0].scatter(x[:3000, 0], x[:3000, 1], s=1)
        axes[r, 0].set_title(f"data: {set_name}")
        for c, (name, make) in enumerate(makers.items(), start=1):
            model = make()
            train = x[:-2000]
            steps = -(-len(train) // args.batch_size) * args.epochs
            schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps)
            model.compile(optimizer=keras.optimizers.Adam(schedule))
            model.fit(train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
            nll = -float(np.mean(model.log_prob(test)))
            print(f"{name} on {set_name}: test NLL {nll:.3f} nats")
            density = plotting.density_grid(model.log_prob, EXTENT, 250)
            axes[r, c].imshow(density, origin="lower", extent=[-EXTENT, EXTENT] * 2, cmap="magma")
            axes[r, c].set_title(f"{name}: test NLL {nll:.2f}")
    for a in axes.ravel():
        a.set_xlim(-EXTENT, EXTENT)
        a.set_ylim(-EXTENT, EXTENT)
        a.set_aspect("equal")
    fig.tight_layout()
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
