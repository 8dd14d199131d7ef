"""How cost grows as work grows: glow32's training speed and peak memory against batch size
and model size, tfflows against normflows (issue 18).

    python -m bench.scaling [--batches 8,16,32,64,128,256,512] [--hidden 64,128,256]
                            [--levels 1,2,3] [--repeats 3] [--seconds 2] [--out bench/results]

Every point is a fresh worker process (bench/worker.py, the same thread settings for both
libraries) that builds glow32 with the point's batch size, coupling channels and number of
levels, warms up, times `--repeats` timings of training steps and reports its peak resident
memory (VmHWM), so each point's peak is its own. The two libraries alternate which goes
first from point to point. The batch sweep keeps 3 levels of 128 channels; the size sweep
keeps batch 64. Writes scaling.json, scaling.md and scaling.png (matplotlib).
"""

import argparse
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

from bench.compare import Worker

LIBRARIES = (("tfflows", "fit"), ("normflows", "eager"))


def measure_point(library, variant, point, threads, seconds, repeats, log_dir):
    extra = ["--measures", "train"]
    for key, value in point.items():
        extra += [f"--{key}", str(value)]
    w = Worker(library, variant, "glow32", "", threads, seconds, log_dir, extra=extra)
    try:
        if "error" in w.ready:
            raise RuntimeError(f"{library}/{variant} at {point}: {w.ready['error']}")
        rates = [w.time("train") for _ in range(repeats)]
        peak = w.ask({"memory": True})["peak_mb"]
    finally:
        w.close()
    return {
        "library": library,
        "variant": variant,
        **point,
        "steps_per_s": statistics.median(rates),
        "all": rates,
        "peak_mb": peak,
        "parameters": w.ready["params"],
        "setup_seconds": w.ready["setup_seconds"],
    }


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    batch_rows = [r for r in rows if r["sweep"] == "batch"]
    size_rows = [r for r in rows if r["sweep"] == "size"]
    for library, _ in LIBRARIES:
        mine = sorted((r for r in batch_rows if r["library"] == library), key=lambda r: r["batch"])
        if mine:
            b = [r["batch"] for r in mine]
            axes[0, 0].plot(b, [r["steps_per_s"] * r["batch"] for r in mine], "o-", label=library)
            axes[0, 1].plot(b, [r["peak_mb"] for r in mine], "o-", label=library)
        for levels in sorted({r["levels"] for r in size_rows}):
            pts = sorted(
                (r for r in size_rows if r["library"] == library and r["levels"] == levels),
                key=lambda r: r["hidden"],
            )
            if pts:
                p = [r["hidden"] for r in pts]
                style = "o-" if library == "tfflows" else "s--"
                axes[1, 0].plot(
                    p, [r["steps_per_s"] for r in pts], style, label=f"{library}, {levels} levels"
                )
                axes[1, 1].plot(
                    p, [r["peak_mb"] for r in pts], style, label=f"{library}, {levels} levels"
                )
    for ax in axes[0]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size (3 levels, 128 channels)")
    axes[0, 0].set_ylabel("training examples / s")
    axes[0, 1].set_ylabel("peak resident memory (MB)")
    for ax in axes[1]:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("coupling channels (batch 64; parameters in scaling.md)")
    axes[1, 0].set_ylabel("training steps / s")
    axes[1, 1].set_ylabel("peak resident memory (MB)")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("glow32 training on this machine's CPU: tfflows (Keras fit) vs normflows")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def table(rows, meta):
    lines = [
        f"glow32 scaling ({meta['date']}, {meta['machine']}; a fresh process per point, "
        f"{meta['threads']} threads, median of {meta['repeats']} timings)",
        "",
        "| sweep | batch | levels | channels | parameters (tfflows) | tfflows steps/s | "
        "normflows steps/s | ratio | tfflows peak MB | normflows peak MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    points = {}
    for r in rows:
        points.setdefault((r["sweep"], r["batch"], r["levels"], r["hidden"]), {})[r["library"]] = r
    for (sweep, batch, levels, hidden), libs in points.items():
        ours, peer = libs.get("tfflows"), libs.get("normflows")

        def cell(r, key, fmt):
            return "-" if r is None else format(r[key], fmt)

        ratio = f"{ours['steps_per_s'] / peer['steps_per_s']:.2f}x" if ours and peer else "-"
        lines.append(
            f"| {sweep} | {batch} | {levels} | {hidden} | {cell(ours, 'parameters', ',')} | "
            f"{cell(ours, 'steps_per_s', '.3f')} | {cell(peer, 'steps_per_s', '.3f')} | "
            f"{ratio} | {cell(ours, 'peak_mb', '.0f')} | {cell(peer, 'peak_mb', '.0f')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="8,16,32,64,128,256,512")
    parser.add_argument("--hidden", default="64,128,256")
    parser.add_argument("--levels", default="1,2,3")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per timing")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    libraries = list(LIBRARIES)
    try:
        __import__("normflows")
    except ImportError:
        print("normflows is not installed (pip install .[bench]): tfflows only", file=sys.stderr)
        libraries = libraries[:1]
    points = [
        ("batch", {"batch": b, "levels": 3, "hidden": 128})
        for b in map(int, args.batches.split(","))
    ]
    points += [
        ("size", {"batch": 64, "levels": lv, "hidden": h})
        for lv in map(int, args.levels.split(","))
        for h in map(int, args.hidden.split(","))
    ]
    log_dir = tempfile.mkdtemp(prefix="tfflows_scaling_")
    rows = []
    for i, (sweep, point) in enumerate(points):
        for library, variant in libraries if i % 2 == 0 else libraries[::-1]:
            row = measure_point(
                library, variant, point, args.threads, args.seconds, args.repeats, log_dir
            )
            rows.append({"sweep": sweep, **row})
            print(
                f"{sweep} {point} {library}: {row['steps_per_s']:.3f} steps/s, "
                f"{row['peak_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )
    import platform

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "threads": args.threads,
        "repeats": args.repeats,
        "seconds_per_timing": args.seconds,
    }
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps({**meta, "rows": rows}, indent=2))
    (out / "scaling.md").write_text(table(rows, meta))
    plot(rows, out / "scaling.png")
    print(table(rows, meta))


if __name__ == "__main__":
    main()
