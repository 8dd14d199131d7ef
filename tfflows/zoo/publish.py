"""Turns a finished training run into a zoo preset folder.

    python -m tfflows.zoo.publish RUN_DIR --name maf_moons --description "..." \\
        --data "..." --license "..." --train "command" --eval "command" [--check-kind normal]

Copies `model.weights.h5` into `zoo/<name>/`, records its sha256, the model config, the run's
measured metrics and the log_prob of a fixed check batch (which pins the weights: the zoo
tests recompute it), and writes a sample grid for image models. The model card
(`zoo/<name>/README.md`) is written by hand from these numbers.
"""

import argparse
import json
import pathlib
import shutil

import numpy as np

from tfflows.models.registry import build_model
from tfflows.zoo.registry import check_batch
from tfflows.zoo.weights import sha256_file

ZOO = pathlib.Path(__file__).resolve().parents[2] / "zoo"


def publish(
    run_dir, name, description, data, license, commands, check_kind, metrics=None, overrides=None
):
    """`overrides`: config entries that change no weight (e.g. MAF's event_size [784] ->
    [28, 28, 1], so samples come back as images); loading the weights checks that."""
    run = pathlib.Path(run_dir)
    config = json.loads((run / "model.json").read_text())
    if overrides:
        config = {**config, "config": {**config["config"], **overrides}}
    model = build_model(config)
    model.load_weights(run / "model.weights.h5")
    target = ZOO / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "model.weights.h5", target / "model.weights.h5")
    batch = check_batch(model, check_kind, 4, 0)
    summary = (
        json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
    )
    spec = {
        "name": name,
        "description": description,
        "parameters": int(model.count_params()),
        "model": config,
        "weights": {
            "file": "model.weights.h5",
            "sha256": sha256_file(target / "model.weights.h5"),
            "url": None,
        },
        "metrics": metrics or {"test": summary.get("test"), "steps": summary.get("steps")},
        "check": {
            "kind": check_kind,
            "n": 4,
            "seed": 0,
            "log_prob": [float(v) for v in np.asarray(model.log_prob(batch))],
        },
        "data": data,
        "license": license,
        "commands": commands,
    }
    (target / "preset.json").write_text(json.dumps(spec, indent=2) + "\n")
    if model.num_bits is not None and len(model.data_shape) == 3:
        from tfflows.plotting import save_image_grid

        images = np.asarray(model.to_uint8(model.sample(64, temperature=0.7, seed=0)))
        save_image_grid(images, target / "samples_t0.7.png", columns=8, scale=2)
    return target


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--license", required=True)
    parser.add_argument("--train", required=True, help="the command that trained it")
    parser.add_argument("--eval", required=True, help="the command that evaluates it")
    parser.add_argument("--check-kind", choices=["pixels", "normal"], default="pixels")
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=JSON", help="config entry"
    )
    args = parser.parse_args()
    overrides = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.override)}
    commands = {"train": args.train, "eval": args.eval}
    print(
        publish(
            args.run_dir,
            args.name,
            args.description,
            args.data,
            args.license,
            commands,
            args.check_kind,
            overrides=overrides,
        )
    )


if __name__ == "__main__":
    main()
