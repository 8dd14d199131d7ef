"""Training steps/s of `tfflows.train`'s step: one device vs MirroredStrategy over two
logical CPU devices, each with and without XLA, measured interleaved in one process.

    python bench/training_throughput.py [--workload glow32|glow_mnist] [--repeats 5]
                                        [--steps 20] [--out bench/results]

Workloads (global batch 64, uint8 images): glow32, Glow on 32x32x3 with 3 levels x 8 steps
and 128 hidden channels (the glow32 workload of the benchmarks); glow_mnist, the MNIST
example's Glow on 28x28x1 with 2 levels x 8 steps and 128 channels. Writes a markdown table
and raw JSON.
On a CPU, two logical devices share the same cores: the mirrored figure measures the
overhead of the distributed step (splitting, all-reduce), not a speed-up.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from tfflows import models  # noqa: E402
from tfflows.training import Trainer  # noqa: E402

WORKLOADS = {
    "glow32": ((32, 32, 3), dict(levels=3, steps_per_level=8, hidden_channels=128)),
    "glow_mnist": ((28, 28, 1), dict(levels=2, steps_per_level=8, hidden_channels=128)),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="glow32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    shape, architecture = WORKLOADS[args.workload]
    x = np.random.default_rng(0).integers(0, 256, (64 * 64, *shape), dtype=np.uint8)
    configs = {
        (strategy, xla): Trainer(
            models.for_data("glow", x, **architecture),
            x,
            out_dir=f"/tmp/tfflows_bench/{strategy}_{xla}",
            strategy=strategy,
            xla=xla,
            batch_size=64,
            progress=False,
        )
        for strategy in ("one_device", "mirrored")
        for xla in (True, False)
    }
    for trainer in configs.values():
        trainer.initialize()
        for s in range(3):  # trace and compile
            trainer.train_step(s)
    times = {key: [] for key in configs}
    for _ in range(args.repeats):
        for key, trainer in configs.items():
            start = trainer.step
            t0 = time.perf_counter()
            for s in range(start, start + args.steps):
                trainer.train_step(s)
            times[key].append(args.steps / (time.perf_counter() - t0))
    rows = []
    base = statistics.median(times[("one_device", True)])
    for (strategy, xla), rates in times.items():
        median = statistics.median(rates)
        rows.append(
            {
                "strategy": strategy,
                "replicas": configs[(strategy, xla)].replicas,
                "xla": xla,
                "steps_per_second": round(median, 3),
                "examples_per_second": round(64 * median, 1),
                "relative_to_one_device_xla": round(median / base, 3),
                "all": [round(r, 3) for r in rates],
            }
        )
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "tensorflow": tf.__version__,
        "workload": f"{args.workload}: Glow {'x'.join(map(str, shape))}, "
        f"{architecture['levels']} levels x {architecture['steps_per_level']} steps, "
        f"{architecture['hidden_channels']} channels, batch 64",
        "repeats": args.repeats,
        "steps_per_repeat": args.steps,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"training_throughput_{args.workload}"
    (out / f"{stem}.json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    lines = [
        f"Training step, {meta['workload']} ({meta['date']}, {meta['machine']}, "
        f"median of {args.repeats} x {args.steps} steps)",
        "",
        "| strategy | replicas | XLA | steps/s | examples/s | vs one device + XLA |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['strategy']} | {r['replicas']} | {'on' if r['xla'] else 'off'} | "
            f"{r['steps_per_second']} | {r['examples_per_second']} | "
            f"{r['relative_to_one_device_xla']} |"
        )
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
