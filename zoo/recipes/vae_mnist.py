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


def negative_elbo(model, x, y) -> float:
    """Mean -ELBO (nats per digit) as `tfflows eval` measures it (batches of 500, batch i's
    posterior draws with the stateless seed (0, i))."""
    from tfflows.training import evaluate_model

    return evaluate_model(model, x, y)["negative_elbo"]


def importance_nll(model, x, y, num_samples: int, batch: int = 500) -> float:
    """Mean -log p(x) (nats per digit), importance-sampled with K = `num_samples` draws of
    q(z|x) per digit; batch i's draws use the stateless seed (0, i)."""
    import numpy as np
    from tqdm import tqdm

    ll = []
    for i in tqdm(range(0, len(x), batch), desc=f"K={num_samples}", unit="batch", leave=False):
        c = None if y is None else y[i : i + batch]
        ll.append(
            np.asarray(model.log_likelihood(x[i : i + batch], c, num_samples, seed=[0, i // batch]))
        )
    return float(-np.concatenate(ll).mean())


def score(model, x, y, num_samples: int, nll: float | None = None) -> dict:
    """{-ELBO, NLL}: see `negative_elbo` and `importance_nll` (`nll` if already measured)."""
    import numpy as np

    if nll is None:
        nll = importance_nll(model, x, y, num_samples)
    result = {
        "examples": len(x),
        "negative_elbo": negative_elbo(model, x, y),
        "nll": nll,
        "num_samples": num_samples,
    }
    if model.num_classes is not None:
        # The CVAE used backwards: the label with the highest log p(x | label), K = 16.
        guess = np.concatenate(
            [np.asarray(model.classify(x[i : i + 500], 16, seed=0)) for i in range(0, len(x), 500)]
        )
        result["label_accuracy"] = float(np.mean(guess == y))
        # And forwards: 100 draws of each label (binary pixels drawn from the decoder's
        # probabilities, z ~ N(0, I)), each classified the same way.
        asked = np.repeat(np.arange(model.num_classes), 100)
        probs = np.asarray(model.sample(len(asked), asked, seed=0))
        drawn = (np.random.default_rng(0).random(probs.shape) < probs).astype(np.float32)
        guess = np.concatenate(
            [
                np.asarray(model.classify(drawn[i : i + 500], 16, seed=0))
                for i in range(0, len(drawn), 500)
            ]
        )
        result["samples_classified_as_asked"] = float(np.mean(guess == asked))
    return result


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
    out = pathlib.Path(args.out)
    old = json.loads((out / "table.json").read_text()) if (out / "table.json").exists() else {}
    rows = {}
    for posterior, seed, conditional, run in runs_of(args.out, args.seeds, args.posteriors, True):
        key = "cvae" if conditional else posterior
        best = json.loads((run / "best.json").read_text())
        done = old.get(key, {}).get("seeds", {}).get(str(seed), {})
        same = done.get("step") == best["step"] and done.get("num_samples") == args.num_samples
        model = load_best(run)
        y = splits.test_y if conditional else None
        # The importance-sampled NLL is the slow part: kept from an earlier table of the
        # same weights and K.
        result = score(model, splits.test_x, y, args.num_samples, done["nll"] if same else None)
        summary = json.loads((run / "summary.json").read_text())
        result.update(
            step=best["step"],
            validation_negative_elbo=best["validation"]["negative_elbo"],
            seconds=summary.get("seconds_trained_total"),
            parameters=int(model.count_params()),
        )
        rows.setdefault(key, {"seeds": {}})["seeds"][str(seed)] = result
        print(key, seed, json.dumps(result), flush=True)
        # Kept as it comes, so that an interrupted table keeps what it scored.
        old.setdefault(key, {"seeds": {}}).setdefault("seeds", {})[str(seed)] = result
        (out / "table.json").write_text(json.dumps(old, indent=2) + "\n")
    for runs in rows.values():
        for name in ("negative_elbo", "nll"):
            values = np.array([r[name] for r in runs["seeds"].values()])
            runs[f"{name}_mean"] = float(values.mean())
            runs[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
    (out / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    k = f"{args.num_samples:,}"
    lines = [
        f"| posterior | zoo entry | -ELBO | NLL (K = {k}) | runs (seeds) |",
        "|---|---|---|---|---|",
    ]
    for key, runs in rows.items():
        seeds = runs["seeds"]

        def cell(name, runs=runs):
            std = runs[f"{name}_std"]
            return f"{runs[f'{name}_mean']:.2f}" + ("" if std is None else f" ± {std:.2f}")

        lines.append(
            f"| {key} | [`{preset_name(key)}`](zoo/{preset_name(key)}/README.md) | "
            f"{cell('negative_elbo')} | {cell('nll')} | {len(seeds)} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


DESCRIBE = {
    "diagonal": "no flow: q(z|x) = N(mu(x), diag sigma(x)^2)",
    "planar": "16 planar steps (Rezende & Mohamed 2015), u, w and b given per digit by the encoder",
    "iaf": "4 IAF steps (Kingma et al. 2016), each a MADE of 320 hidden units that also takes "
    "the encoder's 64-unit context h; the order of the axes reversed between steps",
    "sylvester_orthogonal": "4 orthogonal Sylvester steps (van den Berg et al. 2018), M = 32: "
    "Q [32, 32] the QR factor of an encoder output, R1, R2 upper triangular and b, all per digit",
    "sylvester_householder": "4 Householder Sylvester steps (van den Berg et al. 2018): Q the "
    "product of 8 reflections, R1, R2 and b, all per digit",
    "sylvester_triangular": "4 triangular Sylvester steps (van den Berg et al. 2018): Q the "
    "identity and the reversal of the axes in turn, R1, R2 and b per digit",
}
DATA = (
    "`../shared/data/mnist.npz`: MNIST's 60,000 training digits, every 6th held out for "
    "validation (10,000), the other 50,000 binarised afresh every epoch (a Bernoulli draw per "
    "pixel with its grey level as probability); the 10,000 test digits binarised once with "
    "seed 0 (`binarized_mnist:path=mnist.npz`)"
)
LICENSE = "weights Apache-2.0; MNIST (LeCun, Cortes and Burges) is CC BY-SA 3.0"
CARD = pathlib.Path(__file__).with_name("vae_card.md")


def preset_name(key: str) -> str:
    return "cvae_mnist" if key == "cvae" else f"vae_mnist_{key}"


def card(key: str, spec: dict, row: dict) -> str:
    """The model card of a published preset, from `vae_card.md` and its measured numbers."""
    conditional = key == "cvae"
    posterior = "iaf" if conditional else key
    metrics, cfg = spec["metrics"], spec["model"]["config"]
    template = CARD.read_text().split("<!-- cvae -->")
    body = template[1 if conditional else 0]
    return body.format(
        name=preset_name(key),
        posterior=cfg["posterior"],
        num_flows=cfg["num_flows"],
        latent_dim=cfg["latent_dim"],
        describe=DESCRIBE[posterior],
        parameters=f"{spec['parameters']:,}",
        data=DATA,
        license=LICENSE,
        train=f"--posteriors {key} --no-cvae" if not conditional else "--posteriors",
        updates=f"{metrics['updates']:,}",
        epochs=metrics["updates"] // 500,
        step=f"{metrics['steps']:,}",
        validation=f"{metrics['validation']['negative_elbo']:.2f}",
        minutes=f"{row['seconds'] / 60:.1f}",
        elbo=f"{metrics['test']['negative_elbo']:.2f}",
        nll=f"{metrics['test']['nll']:.2f}",
        k=f"{metrics['test']['num_samples']:,}",
        k_arg=metrics["test"]["num_samples"],
        sha=spec["weights"]["sha256"],
        paper="This is a small MLP VAE trained for minutes on a CPU: compare the six entries "
        "with each other, not with van den Berg et al. (2018), whose gated convolutional VAEs "
        "(latent 64) trained for up to 2,000 epochs ([docs/vae.md](../../docs/vae.md)).",
        accuracy=f"**{row['label_accuracy']:.1%}** of the 10,000 test digits (chance 10%), "
        "each given the label with the highest log p(x \\| label), importance-sampled with 16 "
        f"draws per label: `python zoo/recipes/vae_mnist.py score {preset_name(key)} --data "
        "mnist.npz`. Forwards: of 1,000 binary draws (100 per label, z ~ N(0, I), pixels "
        f"drawn from the decoder's probabilities), {row['samples_classified_as_asked']:.1%} are "
        "classified as the label they were drawn with (samples.png shows which draws come "
        "out as another digit)"
        if "label_accuracy" in row
        else "",
    )


def publish_presets(args) -> None:
    """Publishes the seed-0 runs with their table numbers and writes their cards."""
    import json

    from tfflows.zoo.publish import publish

    out = pathlib.Path(args.out)
    rows = json.loads((out / "table.json").read_text())
    for key in args.keys or rows:
        row = rows[key]["seeds"]["0"]
        conditional = key == "cvae"
        run = out / run_name("iaf" if conditional else key, 0, conditional)
        best = json.loads((run / "best.json").read_text())
        summary = json.loads((run / "summary.json").read_text())
        test = {k: row[k] for k in ("examples", "negative_elbo", "nll", "num_samples")}
        metrics = {
            "test": test,
            "validation": best["validation"],
            "steps": best["step"],
            "updates": summary["steps"],
            "seconds_trained": summary["seconds_trained_total"],
        }
        name = preset_name(key)
        description = (
            f"VAE on binarised MNIST, {'conditional, ' if conditional else ''}posterior "
            f"{'iaf' if conditional else key}, MLP 300-300, latent 32"
        )
        commands = {
            "train": "python zoo/recipes/vae_mnist.py train --data mnist.npz --out runs/vae",
            "eval": f"tfflows eval {name} --data binarized_mnist:path=mnist.npz",
        }
        target = publish(
            run,
            name,
            description,
            DATA,
            LICENSE,
            commands,
            metrics=metrics,
            zoo_dir=args.zoo_dir,
            curve=True,
            steps_per_epoch=500,
            weights="best.weights.h5",
        )
        spec = json.loads((target / "preset.json").read_text())
        (target / "README.md").write_text(card(key, spec, row))
        print(target, flush=True)


def score_models(args) -> None:
    """Prints each model's -ELBO and importance-sampled NLL on the static test digits."""
    import json

    from tfflows import zoo
    from tfflows.data.sources import load_source

    splits = load_source(f"binarized_mnist:path={args.data}")
    for name in args.models:
        model = zoo.load(name) if name in zoo.list() else load_best(pathlib.Path(name))
        y = splits.test_y if model.num_classes is not None else None
        result = score(model, splits.test_x, y, args.num_samples)
        print(json.dumps({"model": name, **result}), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the posteriors in turn (resumable)")
    t.add_argument("--data", required=True, help="mnist.npz")
    t.add_argument("--out", default="runs/vae")
    t.add_argument("--posteriors", nargs="*", default=list(POSTERIORS), choices=POSTERIORS)
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
    p = sub.add_parser("score", help="score zoo presets (or run folders) on the test digits")
    p.add_argument("models", nargs="+", help="preset names or run folders (best weights)")
    p.add_argument("--data", required=True, help="mnist.npz")
    p.add_argument("--num-samples", type=int, default=1000, help="importance samples (K)")
    u = sub.add_parser("publish", help="publish the seed-0 runs (after table) with cards")
    u.add_argument("keys", nargs="*", help="posteriors and/or cvae (default: every row)")
    u.add_argument("--out", default="runs/vae")
    u.add_argument("--zoo-dir", default="zoo")
    args = parser.parse_args(argv)
    commands = {"train": train, "table": table, "score": score_models, "publish": publish_presets}
    commands[args.command](args)


if __name__ == "__main__":
    main()
