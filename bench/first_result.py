"""Time to first result: how long a user waits before a model answers (issue 18).

    python -m bench.first_result [--workloads realnvp2d,glow32] [--repeats 3]
                                 [--out bench/results]

Steady-state speed is not what a new user feels first. Every repetition here is a fresh
Python process that does what a user's script does, and the parent clocks each stage on
the wall from the moment it starts the process:

- import: the interpreter starts and imports the library (TensorFlow, PyTorch with it);
- build: the model of the workload (bench/workloads.py) exists, with its variables;
- log_prob: the first log-density of a batch is back (eager, as a user first calls it);
- step: the first training step is done, tracing and compilation included;
- step_20: the 20th is done (so a fast first step that slows the next ones shows).

Runs alternate the order of libraries from one repetition to the next; the figure is the
median over repetitions. Writes first_result.json and first_result.md.

tfflows starts as users do: `fit` (compile with its defaults, then fit one batch) and the
Trainer behind `tfflows train` (its default `xla="auto"` included). TFP starts from its
bijectors with a tf.function training step (traced, or jit_compile=True for xla), and
normflows from its own modules in eager PyTorch.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

STAGES = ("import", "build", "log_prob", "step", "step_20")
MORE = 19  # steps after the first, for "step_20": a fast first step must not cost later ones
RUNS = (
    ("tfflows", "fit"),
    ("tfflows", "trainer"),
    ("tfp", "traced"),
    ("tfp", "xla"),
    ("normflows", "eager"),
)
REPO = pathlib.Path(__file__).resolve().parent.parent


def _event(stage: str) -> None:
    print(f"@@stage {stage}", flush=True)


def _tfflows(workload, variant, x) -> None:
    import keras
    import numpy as np

    from tfflows import models
    from tfflows.training import Trainer

    _event("import")
    from bench.runners_tf import _family

    family, overrides = _family(workload)
    batch = x[: workload.batch]
    if variant == "fit":
        model = models.build_model(family, workload.shape, **overrides)
        model(batch[:1])  # variables exist: what "build" means for every library here
        _event("build")
        model.log_prob(batch).numpy()
        _event("log_prob")
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(batch, batch_size=workload.batch, epochs=1, verbose=0)
        _event("step")
        more = np.concatenate([batch] * MORE)
        model.fit(more, batch_size=workload.batch, epochs=1, verbose=0, shuffle=False)
        _event("step_20")
        return
    trainer = Trainer(
        models.for_data(family, x, **overrides),
        x,
        out_dir=tempfile.mkdtemp(prefix="tfflows_first_"),
        batch_size=workload.batch,
        progress=False,
    )
    trainer.initialize()
    _event("build")
    trainer.model.log_prob(batch).numpy()
    _event("log_prob")
    trainer.train_step(0)
    _event("step")
    for s in range(1, 1 + MORE):
        trainer.train_step(s)
    _event("step_20")
    # No compiling thread left at exit (a --baseline checkout may predate warm start).
    getattr(trainer, "finish_warm_start", lambda: None)()


def _tfp(workload, variant, x) -> None:
    import tensorflow as tf
    import tf_keras

    from bench import runners_tf

    _event("import")
    build = {
        "glow32": runners_tf._tfp_glow,
        "realnvp2d": runners_tf._tfp_realnvp,
        "maf8": lambda w: runners_tf._tfp_made_stack(w, inverse=False),
        "iaf8": lambda w: runners_tf._tfp_made_stack(w, inverse=True),
    }[workload.name]
    dist, flow = build(workload)

    def prepare(xb):
        if not workload.discrete:
            return tf.constant(xb)
        return (tf.cast(xb, tf.float32) + tf.random.uniform(xb.shape)) / 256.0 - 0.5

    batch = x[: workload.batch]
    # TFP creates the variables (and initialises ActNorm) on the first call.
    dist.log_prob(prepare(batch[:1])).numpy()
    _event("build")
    dist.log_prob(prepare(batch)).numpy()
    _event("log_prob")
    variables = flow.trainable_variables
    optimizer = tf_keras.optimizers.Adam(1e-3)

    @tf.function(jit_compile=variant == "xla", autograph=False)
    def step(xb):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(xb))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    step(prepare(batch)).numpy()
    _event("step")
    for _ in range(MORE):
        step(prepare(batch)).numpy()
    _event("step_20")


def _normflows(workload, variant, x) -> None:
    import torch

    from bench import runners_torch

    _event("import")
    build = (
        runners_torch._normflows_glow
        if workload.name == "glow32"
        else runners_torch._normflows_vector
    )
    model, log_prob, _ = build(workload)
    _event("build")
    xb = runners_torch._prepare(workload, torch.from_numpy(x[: workload.batch]))
    with torch.no_grad():
        log_prob(xb).sum().item()
    _event("log_prob")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for i in range(1 + MORE):
        optimizer.zero_grad(set_to_none=True)
        loss = -log_prob(xb).mean()
        loss.backward()
        optimizer.step()
        loss.item()
        if i == 0:
            _event("step")
    _event("step_20")


def child(library: str, variant: str, workload_name: str, data: str) -> None:
    if os.environ.get("BENCH_TFFLOWS_PATH"):
        sys.path.insert(0, os.environ["BENCH_TFFLOWS_PATH"])
    import numpy as np

    from bench.workloads import WORKLOADS

    workload = WORKLOADS[workload_name]
    x = np.load(data)
    {"tfflows": _tfflows, "tfp": _tfp, "normflows": _normflows}[library](workload, variant, x)


def run_once(
    library: str, variant: str, workload: str, data: str, threads: int, checkouts: dict
) -> dict:
    """Seconds from starting a fresh process to the end of each stage (wall clock).
    `library` "tfflows@before" runs in the checkout `checkouts["before"]` (--baseline)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": str(threads)}
    name, _, where = library.partition("@")
    if where:
        # This harness, that checkout's tfflows (put first on the child's path).
        env["BENCH_TFFLOWS_PATH"] = checkouts[where]
    command = [sys.executable, "-m", "bench.first_result", "--child", name, variant, workload]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*command, data],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    times = {}
    for line in proc.stdout:
        if line.startswith("@@stage "):
            times[line.split()[1]] = time.perf_counter() - t0
    err = proc.stderr.read()
    if proc.wait() != 0 or set(times) != set(STAGES):
        raise RuntimeError(f"{library}/{variant} on {workload} failed:\n{err[-3000:]}")
    return times


def table(results: dict, meta: dict) -> str:
    lines = [
        f"Time to first result ({meta['date']}, {meta['machine']}; TF {meta['tensorflow']}, "
        f"torch {meta.get('torch', '-')}; seconds from starting a fresh process to the end "
        f"of each stage, median of {meta['repeats']} runs, order alternated)",
        "",
        "| workload | library | import | build | first log_prob | first training step | "
        "20th training step | first step / normflows' | 20th step / normflows' |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        ref = runs.get("normflows/eager")
        for key, stages in runs.items():
            med = {s: statistics.median(stages[s]) for s in STAGES}
            ratio = " | ".join(
                f"{med[s] / statistics.median(ref[s]):.1f}x" if ref else "-"
                for s in ("step", "step_20")
            )
            lines.append(
                f"| {name} | {key} | "
                + " | ".join(f"{med[s]:.1f}" for s in STAGES)
                + f" | {ratio} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="realnvp2d,glow32")
    parser.add_argument("--runs", default=",".join(f"{lib}/{v}" for lib, v in RUNS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default="bench/results")
    parser.add_argument(
        "--baseline",
        metavar="CHECKOUT",
        default="",
        help="also run the tfflows runs with another checkout's tfflows (this harness), as "
        "tfflows@before, in the same alternation",
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import numpy as np

    from bench.workloads import WORKLOADS

    runs = [tuple(r.split("/")) for r in args.runs.split(",")]
    checkouts = {}
    if args.baseline:
        checkouts["before"] = os.path.abspath(args.baseline)
        runs += [("tfflows@before", v) for lib, v in list(runs) if lib == "tfflows"]
    try:
        __import__("normflows")
    except ImportError:
        print("normflows is not installed (pip install .[bench]): skipped", file=sys.stderr)
        runs = [r for r in runs if r[0] != "normflows"]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tfflows_first_"))
    results = {}
    for name in args.workloads.split(","):
        data = str(tmp / f"{name}.npy")
        np.save(data, WORKLOADS[name].data())
        results[name] = {f"{lib}/{v}": {s: [] for s in STAGES} for lib, v in runs}
        for r in range(args.repeats):
            for lib, v in runs if r % 2 == 0 else runs[::-1]:
                times = run_once(lib, v, name, data, args.threads, checkouts)
                for s in STAGES:
                    results[name][f"{lib}/{v}"][s].append(times[s])
                print(
                    f"{name} {lib}/{v} run {r + 1}: "
                    + ", ".join(f"{s} {times[s]:.1f} s" for s in STAGES),
                    file=sys.stderr,
                )
    import platform

    import tensorflow as tf

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "tensorflow": tf.__version__,
        "repeats": args.repeats,
        "threads": args.threads,
    }
    try:
        import torch

        meta["torch"] = torch.__version__
    except ImportError:
        pass
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "first_result.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    text = table(results, meta)
    (out / "first_result.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
