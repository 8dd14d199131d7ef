"""Trains and publishes the `maf_moons` preset (a small MAF on two moons).

    python zoo/recipes/maf_moons.py --out runs/maf_moons

Data: `tfflows.data.toy_data.two_moons(20000, seed=0)` to train, a separate 5,000 points
(seed=1) to test. Then `python -m tfflows.zoo.publish` records weights, sha256, metrics and
the check batch in zoo/maf_moons/preset.json. The data is written to OUT/moons.npz
(x_train, x_test), which `tfflows eval maf_moons --data OUT/moons.npz` scores.
"""

import argparse
import json
import pathlib

import keras
import numpy as np

from tfflows import models, train
from tfflows.data import toy_data
from tfflows.zoo.publish import publish

ARCHITECTURE = dict(num_layers=8, hidden_units=[128, 128])
ZOO_DIR = pathlib.Path(__file__).resolve().parents[1]  # this recipe's zoo folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/maf_moons")
    parser.add_argument("--steps", type=int, default=6000)
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "moons.npz"  # what `tfflows eval maf_moons --data` reads back
    np.savez(
        data, x_train=toy_data.two_moons(20_000, seed=0), x_test=toy_data.two_moons(5_000, seed=1)
    )
    keras.utils.set_random_seed(0)
    result = train(
        models.MAF((2,), **ARCHITECTURE),
        str(data),
        out_dir=args.out,
        steps=args.steps,
        batch_size=256,
        learning_rate=1e-3,
        schedule="cosine",
        seed=0,
        progress=False,
    )
    s = result.summary
    if not s["finished"]:
        raise SystemExit(f"stopped at step {s['steps']}: run the same command to resume")
    metrics = {
        "test_nll_nats": round(s["test"]["nll"], 4),
        "test_examples": s["test"]["examples"],
        "steps": s["steps"],
        "seconds_trained": s["seconds_trained_total"],
    }
    target = publish(
        args.out,
        "maf_moons",
        "MAF (8 MADE layers of 2x128, reverse permutations) on 2-D two moons",
        "tfflows.data.toy_data.two_moons: 20,000 training points (seed 0), 5,000 test (seed 1)",
        "synthetic data, no license restrictions; weights Apache-2.0",
        {
            "train": f"python zoo/recipes/maf_moons.py --out {args.out} --steps {args.steps}",
            "eval": f"tfflows eval maf_moons --data {args.out}/moons.npz",
        },
        "two_moons",
        metrics,
        zoo_dir=ZOO_DIR,
    )
    print(json.dumps({"preset": str(target), **metrics}))


if __name__ == "__main__":
    main()
