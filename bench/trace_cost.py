"""What tracing a training step costs, with and without AutoGraph (issue 18).

    python -m bench.trace_cost [--workloads realnvp2d,glow32] [--repeats 3]

The first training step of a TensorFlow flow waits for tracing (Python builds the graph),
then for the graph's optimisation or XLA compilation on its first call. Each run is a fresh
process that builds the workload's tfflows model (bench/workloads.py) and traces `loss and
gradients` of `model.nll` once, with AutoGraph or without: one trace per process, since a
second trace in the same process finds warm caches. Each repetition runs both, in
alternating order. It reports the seconds to trace, the graph's op count, the first call and
a later call, and one eager call for comparison. tfflows' training functions are traced without
AutoGraph (tfflows/training/steps.py): its models need no conversion of Python control flow.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = __import__("pathlib").Path(__file__).resolve().parent.parent


def child(workload_name: str, flag: str) -> None:
    import tensorflow as tf

    from bench.runners_tf import _family
    from bench.workloads import WORKLOADS
    from tfflows import models

    w = WORKLOADS[workload_name]
    family, overrides = _family(w)
    xb = tf.constant(w.data()[: w.batch])
    model = models.build_model(family, w.shape, **overrides)
    model(xb[:1])
    variables = model.trainable_variables
    seed = tf.constant([0, 0], tf.int64)

    def loss_and_grads(x, s):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.nll(x, None, seed=s))
        return loss, tape.gradient(loss, variables)

    result = {}
    for autograph in (flag == "on",):
        fn = tf.function(loss_and_grads, autograph=autograph)
        t = time.perf_counter()
        concrete = fn.get_concrete_function(xb, seed)
        traced = time.perf_counter() - t
        t = time.perf_counter()
        fn(xb, seed)[0].numpy()
        first = time.perf_counter() - t
        t = time.perf_counter()
        fn(xb, seed)[0].numpy()
        later = time.perf_counter() - t
        result["on" if autograph else "off"] = {
            "trace": traced,
            "ops": len(concrete.graph.get_operations()),
            "first_call": first,
            "later_call": later,
        }
    t = time.perf_counter()
    loss_and_grads(xb, seed)[0].numpy()
    result["eager_call"] = time.perf_counter() - t
    print("@@result " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="realnvp2d,glow32")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    print(
        "| workload | AutoGraph | trace (s) | ops | first call (s) | later call (s) | "
        "eager call (s) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in args.workloads.split(","):
        runs = {"on": [], "off": []}
        for r in range(args.repeats):
            for flag in ("on", "off") if r % 2 == 0 else ("off", "on"):
                runs[flag].append(_run(name, flag))
        eager = statistics.median(r["eager_call"] for r in runs["on"] + runs["off"])
        for flag in ("on", "off"):
            mine = [r[flag] for r in runs[flag]]
            med = {k: statistics.median(r[k] for r in mine) for k in mine[0]}
            print(
                f"| {name} | {flag} | {med['trace']:.2f} | {med['ops']:.0f} | "
                f"{med['first_call']:.2f} | {med['later_call']:.3f} | {eager:.2f} |"
            )


def _run(name: str, flag: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.trace_cost", "--child", name, flag],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    line = [s for s in out.stdout.splitlines() if s.startswith("@@result ")]
    if not line:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(line[0].split(" ", 1)[1])


if __name__ == "__main__":
    main()
