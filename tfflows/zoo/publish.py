"""Turns a finished training run into a zoo preset folder, or refreshes a preset's check.

    python -m tfflows.zoo.publish RUN_DIR --name maf_moons --description "..." \\
        --data "..." --license "..." --train "command" --eval "command" [--check-kind KIND] \\
        [--zoo-dir ZOO] [--curve [--steps-per-epoch N]]
    python -m tfflows.zoo.publish --refresh-check NAME [--check-kind KIND] [--zoo-dir ZOO]

The zoo folder ZOO is the checkout's `zoo/` (default: `./zoo`, so run it from the checkout's
root); it must exist and be empty or hold presets (`*/preset.json`).

The first copies `model.weights.h5` into `ZOO/<name>/`, records its sha256, the model config,
the run's measured metrics and the check entry, and writes a sample grid for image models
(and, with `--curve`, the run's test bits/dim from its TensorBoard logs as `curve.png`).
The model card (`ZOO/<name>/README.md`) is written by hand from these numbers.

The check entry is the log_prob of a fixed, in-distribution batch, which pins the weights
(the zoo tests recompute it; see `tfflows.zoo.registry` for the kinds). KIND defaults to
"samples" for image models (4 of the model's own samples at `--check-temperature`, default
0.5, as uint8 pixels, stored in preset.json) and "normal" for the others. Look at the samples:
where a temperature gives blank images (realnvp_mnist at 0.5), take a higher one (1.0).

`--refresh-check NAME` recomputes only the check entry of an existing preset from its shipped,
sha256-verified weights and rewrites it in `ZOO/NAME/preset.json`; everything else (weights, sha256,
metrics) stays byte for byte. KIND and the temperature default to the preset's own ("samples"
at 0.5 if the check was the retired "pixels").
"""

import argparse
import json
import os
import pathlib
import shutil

import numpy as np

from tfflows.models import FlowModel
from tfflows.models.registry import build_model
from tfflows.zoo.registry import check_batch, encode_batch, get
from tfflows.zoo.weights import sha256_file

CHECK_KINDS = ("samples", "two_moons", "normal")
CHECK_N, CHECK_SEED, CHECK_TEMPERATURE = 4, 0, 0.5


def zoo_folder(path: str | os.PathLike) -> pathlib.Path:
    """`path` if it is a zoo folder (an existing folder, empty or holding `*/preset.json`),
    else a ValueError saying what to pass."""
    path = pathlib.Path(path)
    if not path.is_dir():
        raise ValueError(
            f"zoo folder {path} does not exist: pass the checkout's zoo folder "
            "(--zoo-dir PATH/zoo, or run from the checkout's root)"
        )
    if any(path.iterdir()) and not any(path.glob("*/preset.json")):
        raise ValueError(
            f"{path.resolve()} is not a zoo folder (it holds no */preset.json and is not "
            "empty): pass the checkout's zoo folder with --zoo-dir"
        )
    return path


def default_check_kind(model: FlowModel) -> str:
    """ "samples" for image models (num_bits and a [H, W, C] shape), else "normal"."""
    return "samples" if model.num_bits is not None and len(model.data_shape) == 3 else "normal"


def compute_check(
    model: FlowModel,
    kind: str | None = None,
    n: int = CHECK_N,
    seed: int = CHECK_SEED,
    temperature: float = CHECK_TEMPERATURE,
) -> dict:
    """A preset's check entry for `model` (see `tfflows.zoo.registry`): the batch (stored in
    the entry for "samples", drawn at `temperature`) and its log_prob."""
    kind = kind or default_check_kind(model)
    if kind not in CHECK_KINDS:
        raise ValueError(f"check kind {kind!r} is not one of {', '.join(CHECK_KINDS)}")
    entry = {"kind": kind, "n": n, "seed": seed}
    if kind == "samples":
        samples = model.sample(n, temperature=temperature, seed=seed)
        if model.num_bits is not None:
            batch = np.asarray(model.to_uint8(samples))
        else:
            batch = np.asarray(samples, dtype=np.float32)
        entry.update(temperature=temperature, **encode_batch(batch))
    else:
        batch = check_batch(model, kind, n, seed)
    log_prob = np.asarray(model.log_prob(batch))
    if not np.all(np.isfinite(log_prob)):
        raise ValueError(f"the {kind} check batch has a non-finite log_prob {log_prob}")
    entry["log_prob"] = [float(v) for v in log_prob]
    return entry


def refresh_check(
    name: str,
    kind: str | None = None,
    directory: str | os.PathLike | None = None,
    temperature: float | None = None,
) -> dict:
    """Recomputes only the check entry of preset `name` from its shipped, verified weights
    and rewrites it in `directory/preset.json` (default: the preset's own folder); every other
    entry keeps its value and place. `kind` and `temperature` default to the preset's own
    (a retired "pixels" check becomes "samples" at 0.5). Returns the new entry."""
    from tfflows import zoo

    preset = get(name)
    target = pathlib.Path(directory or preset.directory) / "preset.json"
    spec = json.loads(target.read_text())
    if spec["weights"]["sha256"] != preset.weights["sha256"]:
        raise ValueError(f"{target} names other weights than the shipped preset {name!r}")
    old = spec.get("check", {})
    kind = kind or (None if old.get("kind") in (None, "pixels") else old["kind"])
    temperature = temperature or old.get("temperature") or CHECK_TEMPERATURE
    spec["check"] = compute_check(zoo.load(name, progress=False), kind, temperature=temperature)
    target.write_text(json.dumps(spec, indent=2) + "\n")
    return spec["check"]


def publish(
    run_dir: str | os.PathLike,
    name: str,
    description: str,
    data: str,
    license: str,
    commands: dict[str, str],
    check_kind: str | None = None,
    metrics: dict | None = None,
    overrides: dict | None = None,
    check_temperature: float = CHECK_TEMPERATURE,
    *,
    zoo_dir: str | os.PathLike = "zoo",
    curve: bool = False,
    steps_per_epoch: int | None = None,
) -> pathlib.Path:
    """Writes `zoo_dir/<name>/` from the run in `run_dir` (see the module doc); returns the
    folder. `zoo_dir` (default `./zoo`) must be a zoo folder (see `zoo_folder`).

    `check_kind`, `check_temperature`: see `compute_check` (kind None: "samples" for image
    models, else "normal").
    `overrides`: config entries that change no weight (e.g. MAF's event_size [784] ->
    [28, 28, 1], so samples come back as images); loading the weights checks that.
    `curve`: also draw the run's test bits/dim from its TensorBoard logs into `curve.png`,
    against epochs if `steps_per_epoch` is given, else against steps."""
    zoo_dir = zoo_folder(zoo_dir)
    run = pathlib.Path(run_dir)
    config = json.loads((run / "model.json").read_text())
    if overrides:
        config = {**config, "config": {**config["config"], **overrides}}
    model = build_model(config)
    model.load_weights(run / "model.weights.h5")
    target = zoo_dir / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "model.weights.h5", target / "model.weights.h5")
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
        "check": compute_check(model, check_kind, temperature=check_temperature),
        "data": data,
        "license": license,
        "commands": commands,
    }
    (target / "preset.json").write_text(json.dumps(spec, indent=2) + "\n")
    if model.num_bits is not None and len(model.data_shape) == 3:
        from tfflows.plotting import save_image_grid

        images = np.asarray(model.to_uint8(model.sample(64, temperature=0.7, seed=0)))
        save_image_grid(images, target / "samples_t0.7.png", columns=8, scale=2)
    if curve:
        from tfflows.plotting import plot_curves

        plot_curves({name: run}, target / "curve.png", steps_per_epoch=steps_per_epoch)
    return target


def main(argv: list[str] | None = None) -> None:
    """Runs `python -m tfflows.zoo.publish ARGS` (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="the finished run (not with --refresh-check)")
    parser.add_argument(
        "--refresh-check",
        metavar="NAME",
        help="recompute only the check entry of the existing preset NAME from its weights",
    )
    parser.add_argument("--name")
    parser.add_argument("--description")
    parser.add_argument("--data")
    parser.add_argument("--license")
    parser.add_argument("--train", help="the command that trained it")
    parser.add_argument("--eval", help="the command that evaluates it")
    parser.add_argument("--check-kind", choices=CHECK_KINDS, default=None)
    parser.add_argument(
        "--check-temperature",
        type=float,
        default=None,
        help=f'temperature of a "samples" check batch (default {CHECK_TEMPERATURE}, or the '
        "preset's own with --refresh-check): pick one whose samples look like the data",
    )
    parser.add_argument(
        "--override", action="append", default=[], metavar="KEY=JSON", help="config entry"
    )
    parser.add_argument(
        "--zoo-dir",
        default="zoo",
        help="the zoo folder to write into (default: ./zoo, the checkout's when run from its root)",
    )
    parser.add_argument(
        "--curve",
        action="store_true",
        help="also draw the run's test bits/dim from its TensorBoard logs into curve.png",
    )
    parser.add_argument("--steps-per-epoch", type=int, help="with --curve: plot against epochs")
    args = parser.parse_args(argv)
    try:
        zoo_dir = zoo_folder(args.zoo_dir)
    except ValueError as error:
        parser.error(str(error))
    if args.refresh_check:
        if args.run_dir:
            parser.error("--refresh-check takes no RUN_DIR: it reads the preset's own weights")
        if not (zoo_dir / args.refresh_check / "preset.json").is_file():
            parser.error(f"{zoo_dir / args.refresh_check} holds no preset.json to refresh")
        check = refresh_check(
            args.refresh_check,
            args.check_kind,
            zoo_dir / args.refresh_check,
            temperature=args.check_temperature,
        )
        print(
            json.dumps(
                {"preset": args.refresh_check, "kind": check["kind"], "log_prob": check["log_prob"]}
            )
        )
        return
    needed = ("run_dir", "name", "description", "data", "license", "train", "eval")
    missing = [k for k in needed if not getattr(args, k)]
    if missing:
        parser.error(f"publishing a run needs {', '.join(missing)}")
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
            check_temperature=args.check_temperature or CHECK_TEMPERATURE,
            zoo_dir=zoo_dir,
            curve=args.curve,
            steps_per_epoch=args.steps_per_epoch,
        )
    )


if __name__ == "__main__":
    main()
