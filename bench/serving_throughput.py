"""log_prob and sample throughput of an exported SavedModel (loaded with
`tf.saved_model.load`, as a serving process would) against the same model in process
(`tf.function` over `model.log_prob` / `model.sample`), interleaved, median of repeats.

    python bench/serving_throughput.py [--repeats 5] [--calls 10] [--out bench/results]

Workload: the glow32 Glow (32x32x3, 3 levels x 8 steps, 128 channels), batch 64, untrained
(speed does not depend on the weights). TF Serving itself cannot be installed here; the
SavedModel graph is what it would run.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfflows import models  # noqa: E402
from tfflows.export import export_saved_model  # noqa: E402


def rate(fn, calls, examples):
    fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls * examples / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    model = models.Glow((32, 32, 3), levels=3, steps_per_level=8, hidden_channels=128)
    x = tf.constant(np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8))
    model.initialize(x)
    path = export_saved_model(model, tempfile.mkdtemp(), name="glow32")
    loaded = tf.saved_model.load(str(path))
    log_prob_sig, sample_sig = loaded.signatures["log_prob"], loaded.signatures["sample"]
    log_prob_fn = tf.function(model.log_prob)
    sample_fn = tf.function(lambda: model.sample(64, 0.7, seed=0))
    n, t, s = tf.constant(64), tf.constant(0.7), tf.constant(0, tf.int64)
    cases = {
        ("log_prob", "in process (tf.function)"): lambda: log_prob_fn(x).numpy(),
        ("log_prob", "SavedModel signature"): lambda: log_prob_sig(x=x)["log_prob"].numpy(),
        ("sample", "in process (tf.function)"): lambda: sample_fn().numpy(),
        ("sample", "SavedModel signature"): lambda: sample_sig(n=n, temperature=t, seed=s)[
            "samples"
        ].numpy(),
    }
    rates = {key: [] for key in cases}
    for _ in range(args.repeats):
        for key, fn in cases.items():
            rates[key].append(rate(fn, args.calls, 64))
    rows = [
        {"measure": m, "how": how, "examples_per_second": round(statistics.median(r), 1)}
        for (m, how), r in rates.items()
    ]
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "tensorflow": tf.__version__,
        "workload": "glow32, batch 64",
        "repeats": args.repeats,
        "calls_per_repeat": args.calls,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving_throughput.json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    lines = [
        f"Serving, {meta['workload']} ({meta['date']}, {meta['machine']}, median of "
        f"{args.repeats} x {args.calls} calls)",
        "",
        "| measure | how | examples/s |",
        "|---|---|---|",
        *[f"| {r['measure']} | {r['how']} | {r['examples_per_second']} |" for r in rows],
    ]
    (out / "serving_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
