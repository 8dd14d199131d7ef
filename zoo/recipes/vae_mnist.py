"""Trains the `vae_mnist_<posterior>` zoo entries and `cvae_mnist`, one after another.

    python zoo/recipes/vae_mnist.py train --data /path/to/mnist.npz --out runs/vae \\
        [--posteriors diagonal planar ...] [--seed 0] [--steps 20000]

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
    args = parser.parse_args(argv)
    train(args)


if __name__ == "__main__":
    main()
