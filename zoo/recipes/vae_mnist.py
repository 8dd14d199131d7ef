"""Trains, scores and publishes the `vae_mnist_<posterior>` zoo entries and `cvae_mnist`.

    python zoo/recipes/vae_mnist.py train --data /path/to/mnist.npz --out runs/vae \\
        [--posteriors diagonal planar ...] [--seed 0] [--steps 20000]
    python zoo/recipes/vae_mnist.py table --data /path/to/mnist.npz --out runs/vae \\
        [--seeds 0 1 2] [--num-samples 1000]
    python zoo/recipes/vae_mnist.py publish --data /path/to/mnist.npz --out runs/vae

`table` scores each run's best weights on its validation split on the 10,000 statically
binarised test digits: -ELBO (one posterior sample per digit, seed (0, batch)) and the
importance-sampled NLL, -log p(x) ~ -logsumexp_k [log p(x, z_k) - log q(z_k|x)] + log K with
K = `--num-samples` (van den Berg et al. use 5,000), and writes `OUT/table.json` and
`OUT/table.md`; with several seeds it gives their mean and standard deviation.
`publish` writes the zoo folders of the seed-0 runs with those numbers (`table` first).

Every posterior gets the same encoder and decoder (MLPs of 300 and 300 ReLU units), the same
latent size (32), the same data, optimiser and number of updates; only q(z|x) differs (the
flow counts below). Each run is `tfflows train`: checkpoints every 1,000 steps, so re-running
the same command resumes the run it stopped in and skips the finished ones.

Data: MNIST's 60,000 training digits binarised afresh each epoch (`--augment binarize`, a
Bernoulli draw per pixel with the grey level as its probability), every 6th one held out
for validation (10,000 digits; the best weights on it are kept), and the 10,000 test digits
binarised once with seed 0 (the `binarized_mnist` source).
"""

import argparse
import pathlib
import subprocess
import sys

# Flow steps per posterior. Planar steps are cheap and single-unit, so there are more of
# them, as in van den Berg et al. (2018); the others get 4.
POSTERIORS = {
    "diagonal": ["num_flows=0"],
    "planar": ["num_flows=16"],
    "iaf": ["num_flows=4", "iaf_units=[320]", "context_units=64"],
    "sylvester_orthogonal": ["num_flows=4", "sylvester_columns=32"],
    "sylvester_householder": ["num_flows=4", "num_householder=8"],
    "sylvester_triangular": ["num_flows=4"],
}
COMMON = ["latent_dim=32", "hidden_units=[300,300]", "likelihood=bernoulli", "warmup_steps=5000"]
CVAE = ["posterior=iaf", "num_classes=10", *POSTERIORS["iaf"]]


def run_name(posterior: str, seed: int, conditional: bool = False) -> str:
    base = "cvae_mnist" if conditional else f"vae_mnist_{posterior}"
    return base if seed == 0 else f"{base}_seed{seed}"


def train_command(data, out, settings, steps, seed, minutes=None) -> list:
    cmd = [sys.executable, "-m", "tfflows.cli", "train", "vae"]
    cmd += ["--data", f"binarized_mnist:path={data}", "--augment", "binarize"]
    for s in settings:
        cmd += ["--set", s]
    cmd += ["--steps", str(steps), "--batch-size", "100", "--lr", "1e-3", "--ema", "0.999"]
    cmd += ["--validation-every", "6", "--checkpoint-every", "1000", "--xla", "off"]
    cmd += ["--seed", str(seed), "--log-every", "100", "--out", str(out)]
    if minutes:
        cmd += ["--minutes", str(minutes)]
    return cmd


def train(args) -> None:
    jobs = [(p, [*COMMON, f"posterior={p}", *POSTERIORS[p]], False) for p in args.posteriors]
    if args.cvae:
        jobs.append(("iaf", [*COMMON, *CVAE], True))
    for posterior, settings, conditional in jobs:
        out = pathlib.Path(args.out) / run_name(posterior, args.seed, conditional)
        done = out / "summary.json"
        if done.exists() and '"finished": true' in done.read_text():
            print(f"{out}: finished already", flush=True)
            continue
        cmd = train_command(args.data, out, settings, args.steps, args.seed, args.minutes)
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def load_best(run: pathlib.Path):
    """The run's model with its best weights on the validation split."""
    from tfflows.models import build_model

    model = build_model(run / "model.json")
    model.load_weights(run / "best.weights.h5")
    return model


def score(model, x, y, num_samples: int, batch: int = 500) -> dict:
    """Mean -ELBO and importance-sampled NLL (nats per digit) over x; batch i's draws use
    the stateless seed (0, i), so the numbers are reproducible."""
    import numpy as np
    from tqdm import tqdm

    elbo, ll = [], []
    for i in tqdm(range(0, len(x), batch), desc=model.posterior, unit="batch", leave=False):
        c = None if y is None else y[i : i + batch]
        xb = x[i : i + batch]
        elbo.append(np.asarray(model.elbo(xb, c, seed=[0, i // batch])))
        ll.append(np.asarray(model.log_likelihood(xb, c, num_samples, seed=[0, i // batch])))
    elbo, ll = np.concatenate(elbo), np.concatenate(ll)
    return {
        "examples": len(x),
        "negative_elbo": float(-elbo.mean()),
        "nll": float(-ll.mean()),
        "num_samples": num_samples,
        "mean_bound_gap": float(np.mean(ll - elbo)),
    }


def runs_of(out, seeds, posteriors, cvae):
    for seed in seeds:
        for p in posteriors:
            run = pathlib.Path(out) / run_name(p, seed)
            if (run / "best.weights.h5").exists():
                yield p, seed, False, run
        run = pathlib.Path(out) / run_name("iaf", seed, True)
        if cvae and (run / "best.weights.h5").exists():
            yield "iaf", seed, True, run


def table(args) -> None:
    import json

    import numpy as np

    from tfflows.data.sources import load_source

    splits = load_source(f"binarized_mnist:path={args.data}")
    rows = {}
    for posterior, seed, conditional, run in runs_of(args.out, args.seeds, args.posteriors, True):
        model = load_best(run)
        y = splits.test_y if conditional else None
        result = score(model, splits.test_x, y, args.num_samples)
        best = json.loads((run / "best.json").read_text())
        summary = json.loads((run / "summary.json").read_text())
        result.update(
            step=best["step"],
            validation_negative_elbo=best["validation"]["negative_elbo"],
            seconds=summary.get("seconds_trained_total"),
            parameters=int(model.count_params()),
        )
        key = "cvae" if conditional else posterior
        rows.setdefault(key, {"seeds": {}})["seeds"][str(seed)] = result
        print(key, seed, json.dumps(result), flush=True)
    for runs in rows.values():
        for name in ("negative_elbo", "nll"):
            values = np.array([r[name] for r in runs["seeds"].values()])
            runs[f"{name}_mean"] = float(values.mean())
            runs[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
    out = pathlib.Path(args.out)
    (out / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| posterior | -ELBO | NLL | seeds |", "|---|---|---|---|"]
    for key, runs in rows.items():
        seeds = runs["seeds"]

        def cell(name, runs=runs):
            std = runs[f"{name}_std"]
            return f"{runs[f'{name}_mean']:.2f}" + ("" if std is None else f" ± {std:.2f}")

        lines.append(f"| {key} | {cell('negative_elbo')} | {cell('nll')} | {len(seeds)} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the posteriors in turn (resumable)")
    t.add_argument("--data", required=True, help="mnist.npz")
    t.add_argument("--out", default="runs/vae")
    t.add_argument("--posteriors", nargs="+", default=list(POSTERIORS), choices=POSTERIORS)
    t.add_argument("--no-cvae", dest="cvae", action="store_false", help="skip cvae_mnist")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=20000)
    t.add_argument("--minutes", type=float, help="budget per run (a stopped run resumes)")
    s = sub.add_parser("table", help="score every finished run on the test digits")
    s.add_argument("--data", required=True, help="mnist.npz")
    s.add_argument("--out", default="runs/vae")
    s.add_argument("--posteriors", nargs="+", default=list(POSTERIORS), choices=POSTERIORS)
    s.add_argument("--seeds", nargs="+", type=int, default=[0])
    s.add_argument("--num-samples", type=int, default=1000, help="importance samples (K)")
    args = parser.parse_args(argv)
    {"train": train, "table": table}[args.command](args)


if __name__ == "__main__":
    main()
