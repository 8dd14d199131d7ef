"""The `tfflows` command line (also `python -m tfflows.cli`).

An error prints one line, `tfflows COMMAND: message`, on stderr and exits with status 1;
`tfflows --debug COMMAND ...` shows the traceback instead. TensorFlow is imported only by
the commands that need it, so `tfflows --help` is instant. `tfflows demo` runs
`tfflows.cli.demo`; `tfflows predict` draws a video model's futures
(`tfflows.zoo.predictions`).
"""

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

from tfflows.hints import did_you_mean

if TYPE_CHECKING:
    import keras


def _demo(args):
    from tfflows.cli import demo

    if args.zoo:
        from tfflows.zoo.registry import get

        config = get(args.zoo).spec["model"]["config"]
        shape = config.get("input_shape") or config.get("event_size") or []
        if "frame_shape" in config:  # a video model: predicted futures, as a GIF
            demo.video_main(args.zoo, out=args.out or f"out/{args.zoo}.gif", data=args.data)
        elif len(shape) == 3:
            demo.faces_main(args.zoo, out=args.out or f"out/{args.zoo}.png", data=args.data)
        else:
            demo.zoo_main(args.zoo, out=args.out or f"out/{args.zoo}.png")
    else:
        demo.main(out=args.out or "out/two_moons.png", num_steps=args.steps, seed=args.seed)


def _parse_set(items):
    """["levels=3", "coupling=additive"] -> {"levels": 3, "coupling": "additive"}."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set takes KEY=VALUE (e.g. --set levels=3), got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def model_to_train(spec: str, x, overrides: dict | None = None, seed: int = 0):
    """The model `tfflows train SPEC` trains on data like `x`.

    SPEC is a model JSON file (`model.json` of an earlier run), a zoo preset (its
    architecture and trained weights: fine-tuning; no overrides), or a family name built
    for the data's shape with `overrides` (`--set`), its initial weights drawn from `seed`.
    """
    overrides = dict(overrides or {})
    from tfflows import models

    if str(spec).endswith(".json"):
        return models.build_model(spec, **overrides)
    if spec.lower() not in models.FAMILIES:
        from tfflows import zoo

        if spec in zoo.list():
            if overrides:
                raise ValueError(f"preset {spec!r} has a fixed architecture; drop {overrides}")
            return zoo.load(spec, progress=False)
    import keras

    _check_arguments(models.family(spec), overrides)
    # The same seed gives the same initial weights (and so, with the data order and the
    # noise that the seed also fixes, the same run).
    keras.utils.set_random_seed(seed)
    return models.for_data(spec, x, **overrides)


def _check_arguments(cls: type, overrides: dict) -> None:
    """Names the `--set` key that `cls` has no argument for, the closest one and the rest
    (Keras' own message lists only the unknown keys)."""
    import inspect

    import keras

    known = {"name", "dtype"}
    for klass in cls.__mro__:
        if klass.__module__.startswith("keras") or klass in (keras.Model, object):
            break
        if "__init__" in vars(klass):
            for n, p in inspect.signature(klass.__init__).parameters.items():
                if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                    known.add(n)
    for key in overrides:
        if key not in known:
            raise ValueError(
                f"{cls.__name__} has no argument {key!r} (--set {key}=...)"
                + did_you_mean(key, known)
                + f"; its arguments: {', '.join(sorted(known - {'name', 'dtype'}))}"
            )


def _train(args):
    import dataclasses

    overrides = _parse_set(args.set)
    from tfflows.training import TrainConfig, train
    from tfflows.training.feed import as_splits

    # Every train option's `dest` is the TrainConfig field it sets.
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    settings = {k: v for k, v in vars(args).items() if k in names}
    settings["xla"] = {"on": True, "off": False}.get(args.xla, "auto")
    config = TrainConfig(**settings)
    splits = as_splits(args.data)
    model = model_to_train(args.model, splits.train_x, overrides, config.seed)
    train(model, splits, config=config)
    return 0


def _add_train(sub):
    p = sub.add_parser(
        "train",
        help="train a model on a data source, with checkpoints and resume",
        description="Train a tfflows model. Re-running the same command resumes from the "
        "newest readable checkpoint in --out (a damaged newer one is skipped and named). One "
        "run at a time per --out folder (a lock on OUT/train.lock).",
    )
    p.add_argument(
        "model",
        help='family ("glow", "realnvp", "nice", "maf", "iaf", "planar", "videoflow", '
        '"wavenet", "vae"), a zoo '
        "preset to fine-tune, or a model JSON file",
    )
    p.add_argument("--data", required=True, help=_DATA_HELP)
    p.add_argument("--out", dest="out_dir", default="runs/flow", help="checkpoints, logs, ...")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="model argument")
    p.add_argument("--steps", type=int, help="total steps (default: --epochs)")
    p.add_argument("--epochs", type=int, help="total epochs (default 1 without --steps)")
    p.add_argument("--minutes", dest="max_minutes", type=float, help="training time budget")
    p.add_argument("--batch-size", type=_positive, default=64, help="global batch size")
    p.add_argument("--lr", dest="learning_rate", type=float, default=1e-3, help="Adam's rate")
    p.add_argument("--warmup", dest="warmup_steps", type=int, default=0, help="warm-up steps")
    p.add_argument("--schedule", choices=["constant", "cosine"], default="constant")
    p.add_argument("--clip-norm", type=float, help="clip the global gradient norm")
    p.add_argument("--ema", type=float, help="Polyak averaging momentum, e.g. 0.999")
    p.add_argument(
        "--mixed-precision", choices=["bfloat16"], help="networks in bfloat16, flow in float32"
    )
    p.add_argument(
        "--strategy",
        choices=["auto", "one_device", "mirrored", "multiworker", "tpu"],
        default="auto",
    )
    p.add_argument(
        "--xla",
        choices=["auto", "on", "off"],
        default="auto",
        help="compile each replica's step with XLA (auto: whichever measures faster on this "
        "run's first batch, so two separate runs may choose differently: pin on or off for "
        "bitwise-identical runs; a resumed run keeps its choice)",
    )
    p.add_argument(
        "--no-warm-start",
        dest="warm_start",
        action="store_false",
        help="with --xla auto, wait for the compiled step before the first step instead of "
        "stepping eagerly while it compiles",
    )
    p.add_argument("--checkpoint-every", type=int, default=1000, help="steps")
    p.add_argument("--keep", dest="keep_checkpoints", type=int, default=3, help="checkpoints")
    p.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start over at step 0 (the checkpoints in --out are replaced)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=20, help="steps between log updates")
    p.add_argument("--test-examples", type=int, help="evaluate on at most this many")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no bar")
    p.add_argument(
        "--augment",
        choices=["flip", "binarize"],
        help="flip training images left-right, or binarise grey levels afresh each epoch",
    )
    p.add_argument(
        "--validation-every",
        type=int,
        help="hold out every k-th training example; keep the best weights on it",
    )
    p.add_argument(
        "--patience", type=int, help="stop after this many epochs without a better validation score"
    )
    p.set_defaults(func=_train)


def load_model(source: str | os.PathLike) -> tuple["keras.Model", str]:
    """(model, name): a trained model from a training run folder (`model.json` +
    `model.weights.h5`) or a `.keras` file, named after the folder or file."""
    import pathlib

    path = pathlib.Path(source)
    if path.is_dir():
        config, weights = path / "model.json", path / "model.weights.h5"
        if not config.exists() or not weights.exists():
            raise FileNotFoundError(
                f"{path} is not a finished training run (it lacks model.json or model.weights.h5)"
            )
        from tfflows.models import build_model

        model = build_model(config)
        model.load_weights(weights)
        return model, path.name
    if path.suffix == ".keras" and path.exists():
        import keras

        import tfflows.distill  # noqa: F401 - registers the classes for deserialization
        import tfflows.models  # noqa: F401

        return keras.models.load_model(path), path.stem
    if path.name in ("model.json", "model.weights.h5") and path.exists():
        raise FileNotFoundError(f"{source}: pass the training run folder, {path.parent}")
    raise FileNotFoundError(
        f"{source}: not a zoo model, a training run folder or a .keras file"
        + did_you_mean(str(source), _zoo_names())
    )


def _zoo_names() -> list[str]:
    from tfflows import zoo

    return zoo.list()


def _export(args):
    from tfflows.export import export_saved_model

    model, name = zoo_or_run(args.source)
    model = getattr(model, "student", model)  # a distillation exports its student
    path = export_saved_model(
        model,
        args.out,
        name=name if args.name is None else args.name,
        version=args.version,
        max_samples=args.max_samples,
        max_batch=args.max_batch,
        max_frames=args.max_frames,
        max_audio=args.max_audio,
        max_importance_samples=args.max_importance_samples,
    )
    print(path)
    return 0


def zoo_or_run(source: str | os.PathLike) -> tuple["keras.Model", str]:
    """(model, name): a zoo preset by name, else a training run folder or .keras file."""
    from tfflows import zoo

    if source in zoo.list():
        return zoo.load(source), source
    return load_model(source)


def _zoo(args):
    from tfflows import zoo

    for name in zoo.list():
        meta = zoo.info(name)
        print(f"{name:16s} {meta.get('parameters', 0):>12,} params  {meta['description']}")
    return 0


def _sample(args):
    import numpy as np

    from tfflows.plotting import save_image_grid
    from tfflows.zoo.registry import is_vae, is_video

    model, _ = zoo_or_run(args.model)
    if is_video(model):
        raise ValueError(
            f"{args.model} is a video model: it predicts frames from context videos; use "
            f"tfflows predict {args.model} --data VIDEOS"
        )
    model = getattr(model, "student", model)  # a distillation run samples its student
    if tuple(model.data_shape) == (None,):
        return _sample_audio(model, args)
    if is_vae(model):
        return _sample_vae(model, args)
    if args.length is not None or args.condition is not None:
        raise ValueError("--length and --condition are for audio models")
    x = model.sample(args.n, temperature=args.temperature, seed=args.seed)
    if model.num_bits is None or len(model.data_shape) != 3:
        np.save(args.out, np.asarray(x))
    else:
        columns = int(np.ceil(np.sqrt(args.n)))
        save_image_grid(np.asarray(model.to_uint8(x)), args.out, columns=columns, scale=2)
    print(args.out)
    return 0


def _labels(model, args):
    """Labels for n draws of a conditional model: --condition for all, else 0, 1, 2, ..."""
    import numpy as np

    if model.num_classes is None:
        if args.condition is not None:
            raise ValueError(f"{args.model} is unconditional: drop --condition")
        return None
    if args.condition is None:
        return np.arange(args.n) % model.num_classes
    return np.full(args.n, args.condition)


def _sample_vae(model, args):
    """A VAE's draws: the decoder's pixel probabilities (or means) at z ~ N(0, T^2 I), as a
    PNG grid of grey levels, or as a .npy array."""
    import numpy as np

    from tfflows.plotting import save_image_grid

    if args.length is not None:
        raise ValueError("--length is for audio models")
    x = np.asarray(model.sample(args.n, _labels(model, args), args.seed, args.temperature))
    if args.out.lower().endswith(".npy"):
        np.save(args.out, x)
    else:
        columns = 10 if model.num_classes == 10 else int(np.ceil(np.sqrt(args.n)))
        images = np.round(255 * x).astype(np.uint8)
        save_image_grid(images, args.out, columns=columns, scale=2)
    print(args.out)
    return 0


def _sample_audio(model, args):
    import numpy as np

    from tfflows.data.audio import save_wav

    if not args.out.lower().endswith(".wav"):
        raise ValueError(f"an audio model writes a .wav file, not {args.out}")
    if args.n < 1:
        raise ValueError(f"--n must be >= 1 for an audio model, got {args.n}")
    length = args.length or model.sample_rate
    condition = _labels(model, args)
    clips = np.asarray(model.sample(args.n, length, args.seed, condition, args.temperature))
    gap = np.zeros((len(clips), model.sample_rate // 4))
    save_wav(args.out, np.concatenate([clips, gap], axis=1).reshape(-1), model.sample_rate)
    print(args.out)
    return 0


def _eval(args):
    import json

    from tfflows.training import evaluate_model
    from tfflows.training.feed import fit_shape
    from tfflows.zoo.registry import is_vae

    model, _ = zoo_or_run(args.model)
    if not hasattr(model, "nll"):  # a Parallel WaveNet student
        raise ValueError(
            f"{args.model} has no fast likelihood (a student scores clips one sample at a "
            "time): evaluate its teacher, or the distillation run, or measure the student "
            "with zoo/recipes/audio_report.py"
        )
    x, y = _split_of(args.data, args.split)
    x = x[: args.examples] if args.examples else x
    # Images flattened for vector models (and back); a video model's any frame count.
    x = fit_shape(x, model.data_shape, args.split)
    if model.condition_shape is not None and y is None:
        raise ValueError(
            f"{args.model} is conditional, but the {args.split} split of {args.data} has no "
            "labels (y): give data with labels"
        )
    c = None if model.condition_shape is None else y[: len(x)]
    if is_vae(model):
        # Checked here: the compiled evaluation cannot raise, it would score NaN.
        hint = (
            " (binarized_mnist's train split is grey levels: it is binarised afresh each "
            "epoch in training; evaluate the test split, which is binarised once)"
            if args.data.startswith("binarized_mnist") and args.split == "train"
            else ""
        )
        try:
            x = model.check_data(x, name=f"the {args.split} split")
        except ValueError as error:
            raise ValueError(f"{error}{hint}") from None
    # Audio models cap their evaluation batch (500 long clips do not fit in memory).
    batch = min(args.batch_size, getattr(model, "max_eval_batch", args.batch_size))
    result = evaluate_model(model, x, c, batch_size=batch)
    print(json.dumps({"model": args.model, "data": args.data, "split": args.split, **result}))
    return 0


def _split_of(data, split):
    """(x, y) of a data source's "test" or "train" split."""
    from tfflows.data import load_source

    splits = load_source(data)
    x = splits.test_x if split == "test" else splits.train_x
    y = splits.test_y if split == "test" else splits.train_y
    if x is None:
        raise ValueError(f"{data} has no {split} split")
    return x, y


def _predict(args):
    from tfflows.zoo.predictions import save_predictions
    from tfflows.zoo.registry import is_video

    model, _ = zoo_or_run(args.model)
    if not is_video(model):
        raise ValueError(
            f"{args.model} is not a video model (it takes examples of shape "
            f"{tuple(model.data_shape)}); draw its samples with tfflows sample {args.model}"
        )
    videos = _split_of(args.data, args.split)[0][: args.videos]
    written = save_predictions(
        model,
        videos,
        args.out,
        args.still,
        samples=args.samples,
        num_frames=args.frames,
        temperature=args.temperature,
        seed=args.seed,
    )
    for path in written:
        print(path)
    return 0


def _add_zoo_commands(sub):
    p = sub.add_parser("zoo", help="list the pretrained models")
    p.add_argument("action", choices=["list"])
    p.set_defaults(func=_zoo)
    p = sub.add_parser("sample", help="draw samples from a zoo model or a training run")
    p.add_argument("model", help="zoo name, training run folder or .keras file")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        default="samples.png",
        help="PNG grid (images), .npy (vectors) or .wav (audio models: the clips one after "
        "another, 0.25 s apart)",
    )
    p.add_argument("--length", type=_positive, help="audio models: samples per clip (1 s)")
    p.add_argument(
        "--condition",
        type=int,
        help="audio models and VAEs with labels: the label (default: 0, 1, ...)",
    )
    p.set_defaults(func=_sample)
    p = sub.add_parser(
        "eval",
        help="bits/dim and NLL of a model on a data set's test split",
        description="Prints one JSON line: examples, nll and bits_per_dim (a video model: "
        "nll in nats per predicted frame, bits per pixel-channel of the frames after the "
        "context). Batch i is dequantized with seed (0, i), as in training's evaluation.",
    )
    p.add_argument("model", help="zoo name, training run folder or .keras file")
    p.add_argument("--data", required=True, help=_DATA_HELP)
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--examples", type=_positive, help="at most this many")
    p.add_argument("--batch-size", type=_positive, default=500)
    p.set_defaults(func=_eval)
    p = sub.add_parser(
        "predict",
        help="a video model's predicted futures of context videos, as an animated GIF",
        description="For each of the first --videos videos of the data's split: its first "
        "context frames, then in one row the true video and --samples futures sampled at "
        "--temperature (seeded), side by side in one looping GIF; --still also writes them as "
        "a PNG (one row for the true video and one per sample, a column per frame; a true "
        "video shorter than the prediction ends in black frames). Prints the paths written.",
    )
    p.add_argument("model", help="zoo name of a video model, training run folder or .keras file")
    p.add_argument(
        "--data",
        required=True,
        help="the context videos, uint8 [N, T, H, W, C]: an .npz file or a generated source "
        "such as stochastic_shapes:num_videos=40,num_frames=3,size=32 (its split --split)",
    )
    p.add_argument("--split", choices=["test", "train"], default="test")
    p.add_argument("--videos", type=_positive, default=4, help="how many context videos")
    p.add_argument("--samples", type=int, default=5, help="sampled futures per video")
    p.add_argument(
        "--frames",
        type=int,
        help="frames to predict (default: the videos' frames after the context)",
    )
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="predictions.gif", help="the animated GIF")
    p.add_argument("--still", help="also write the videos as a still PNG here")
    p.set_defaults(func=_predict)


def _add_export(sub):
    p = sub.add_parser(
        "export",
        help="write a SavedModel with serving signatures in TF Serving's layout",
        description="Writes OUT/NAME/VERSION/ (atomically) and prints that path.",
    )
    p.add_argument("source", help="a zoo name, a training run folder or a .keras file")
    p.add_argument("--out", default="export/models", help="TF Serving's model base folder")
    p.add_argument("--name", help="model name (default: the folder or file name)")
    p.add_argument("--version", type=int, help="default: one more than the highest")
    p.add_argument("--max-samples", type=int, default=1024, help="largest n of one sample request")
    p.add_argument(
        "--max-batch",
        type=int,
        default=1024,
        help="largest batch (images or videos) of one log_prob, bits_per_dim, encode or "
        "decode request",
    )
    p.add_argument(
        "--max-frames",
        type=int,
        default=1024,
        help="largest number of frames in one request to a video model (every video's, the "
        "predicted ones included)",
    )
    p.add_argument(
        "--max-audio",
        type=int,
        default=160_000,
        help="largest number of audio samples in one request to an audio model (n * length)",
    )
    p.add_argument(
        "--max-importance-samples",
        type=int,
        default=5000,
        help="a VAE's log_likelihood: largest num_samples per example in one request",
    )
    p.set_defaults(func=_export)


def _positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `tfflows` command (each sets `func`, the function that runs it)."""
    parser = argparse.ArgumentParser(
        prog="tfflows",
        description="Normalizing flows for TensorFlow: train, sample, eval, "
        "export, and the pretrained zoo.",
    )
    parser.add_argument("--debug", action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit a flow to two moons and plot the density")
    demo.add_argument("--out", help="where to write the PNG")
    demo.add_argument(
        "--zoo",
        help="show this zoo preset instead of training (image presets: samples; video "
        "presets: predicted futures as a GIF)",
    )
    demo.add_argument(
        "--data", help="image preset: npz of real images to score; video preset: a video source"
    )
    demo.add_argument("--steps", type=int, default=4000, help="training steps")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    _add_train(sub)
    _add_export(sub)
    _add_zoo_commands(sub)
    for command in sub.choices.values():  # `tfflows train --debug ...` works too
        _name_defaults(command)
        command.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
        )
    return parser


def _name_defaults(parser: argparse.ArgumentParser) -> None:
    """Each option's help names its default, where it has one the help does not state
    (argparse's ArgumentDefaultsHelpFormatter also prints "default: None", and nothing for
    an option without help)."""
    for action in parser._actions:
        text, default = action.help or "", action.default
        if (
            action.option_strings
            and action.nargs != 0  # not a flag (store_true: "default: False" says nothing)
            and default is not None
            and default is not argparse.SUPPRESS
            and text != argparse.SUPPRESS
            and "default" not in text
        ):
            action.help = f"{text} (default: %(default)s)" if text else "default: %(default)s"


_DEBUG_HELP = "on an error, show the Python traceback instead of a one-line message"
_DATA_HELP = (
    "file.npz, an image folder, tfds:NAME, generated videos "
    "(stochastic_shapes:num_videos=N,num_frames=T,size=S,... or moving_mnist:path=mnist.npz,...)"
    ", spoken digits (fsdd:path=fsdd.npz,length=4096), or binarised MNIST for a VAE "
    "(binarized_mnist:path=mnist.npz)"
)


def _user_error_types():
    """The exceptions that describe a problem with the command's input (a path, a name, a
    setting, a file's contents): their message alone is the answer. The project's own such
    errors are looked up only if their module is loaded (otherwise none was raised)."""
    types = [ValueError, OSError]
    for module, name in (
        ("tfflows.zoo.weights", "WeightsError"),
        ("tfflows.training.errors", "NonFiniteLossError"),
        ("tfflows.training.errors", "CheckpointError"),
        ("tfflows.training.errors", "RunLockedError"),
    ):
        if module in sys.modules:
            types.append(getattr(sys.modules[module], name))
    return tuple(types)


def main(argv: list[str] | None = None) -> int:
    """Runs `tfflows ARGS`; returns the exit status (0, 1 on an error, 130 on Ctrl-C)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    prefix = f"tfflows {args.command}:"
    try:
        return args.func(args) or 0
    except Exception as error:
        if args.debug:
            raise
        if isinstance(error, _user_error_types()):
            print(f"{prefix} {error}", file=sys.stderr)
        else:
            kind = type(error).__name__
            print(
                f"{prefix} unexpected {kind}: {error} (run again with --debug for the traceback)",
                file=sys.stderr,
            )
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{prefix} interrupted", file=sys.stderr)
        return 130
    except SystemExit as stop:
        if args.debug or not isinstance(stop.code, str):
            raise
        print(f"{prefix} {stop.code}", file=sys.stderr)
        return 1
