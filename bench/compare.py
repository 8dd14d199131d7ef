"""tfflows side by side with TFP's own bijectors and the PyTorch flow libraries (issue 7).

    pip install .[bench]          # torch (CPU), normflows, nflows, zuko
    python -m bench.compare [--workloads glow32,realnvp2d,maf8,iaf8] [--repeats 5]
                            [--seconds 1.0] [--mode isolated|inprocess] [--threads N]
                            [--baseline CHECKOUT] [--out bench/results]

For each workload (see bench/workloads.py) and each measure (train steps/s; log_prob and
sample examples/s), every runner is warmed up (tracing, compilation, ActNorm's first batch),
then timed in interleaved rounds: round r times every runner once, so a slow spell of the
machine hits them all. Each timing runs as many calls as fill about --seconds; the figure
is the median over --repeats rounds.

By default (`--mode isolated`) every library and variant runs in a worker process of its own
(bench/worker.py) with the same thread settings, started and warmed up one at a time, and
the rounds alternate their order; the table gives each ratio over the forward and over the
reversed rounds, so a verdict that depends on the order shows. `--mode inprocess` runs all
runners in this one process, as before issue 18: one library's thread pools can slow the
next. `--baseline` also times another checkout's tfflows in the same rounds (before and
after a change, in one session). Peak resident memory of training is measured in a
fresh process per runner (VmHWM after warm-up and 5 steps), since a process's peak
cannot be reset. Writes compare.json (every repetition) and compare.md (the table).

The tfflows figure is the better of its variants (traced, XLA); so is each peer's.
Each figure is also given in GFLOP/s of network work (`Workload.flops`) and as a share of
the rate of a plain 1024x1024 matrix product timed in the same rounds ("sgemm"): a flow
cannot run its networks faster than the machine multiplies matrices.
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MEASURES = {"train": "steps/s", "log_prob": "examples/s", "sample": "examples/s"}
REPO = pathlib.Path(__file__).resolve().parent.parent
TF_VARIANTS = ("traced", "xla")
PEERS = ("tfp", "normflows", "nflows", "zuko")


def build(library, variant, workload, x):
    if library in ("tfflows", "tfp"):
        from bench.runners_tf import TF_RUNNERS

        return TF_RUNNERS[library](workload, variant, x)
    from bench.runners_torch import TORCH_RUNNERS

    return TORCH_RUNNERS[library](workload, x)


def variants(library, only=None):
    """The variants measured for `library`; `only` (a set of names) keeps a TensorFlow
    library's variants to those named (PyTorch peers have one, "eager")."""
    if library == "tfflows":
        return _only((*TF_VARIANTS, "fit", "fit_xla", "fit_auto"), only)
    return _only(TF_VARIANTS, only) if library == "tfp" else ("eager",)


def _only(names, only):
    return tuple(n for n in names if not only or n in only)


def memory_available_mb() -> float:
    """MemAvailable of /proc/meminfo, in MB."""
    with open("/proc/meminfo") as meminfo:
        line = next(line for line in meminfo if line.startswith("MemAvailable"))
    return int(line.split()[1]) / 1024


def available(library):
    if library in ("tfflows", "tfp"):
        return True
    try:
        __import__({"normflows": "normflows", "nflows": "nflows", "zuko": "zuko"}[library])
        return True
    except ImportError:
        return False


def sgemm_measures(n=1024, frameworks=("tf", "torch")):
    """One n x n x n float32 matrix product per framework in `frameworks` (PyTorch only if
    installed): the rate this machine's BLAS kernels reach, timed in the same rounds as the
    flows, so each library's FLOP rate can be read against it. Returns ({framework: call},
    FLOPs per call); a framework not asked for is not imported."""
    measures = {}
    if "tf" in frameworks:
        import tensorflow as tf

        a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
        product = tf.function(lambda: tf.matmul(a, b))
        measures["tf"] = lambda: product().numpy()
    if "torch" in frameworks:
        try:
            import torch

            ta, tb = torch.randn(n, n), torch.randn(n, n)
            measures["torch"] = lambda: torch.mm(ta, tb)
        except ImportError:
            pass
    return measures, 2 * n**3


def _rate(fn, calls, per_call):
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls * per_call / (time.perf_counter() - t0)


def measure_workload(workload, libraries, repeats, seconds, log, only=None):
    from bench.runners_torch import Unsupported

    x = workload.data()
    runners, skipped = [], {}
    for library in libraries:
        for variant in variants(library, only):
            try:
                runners.append(build(library, variant, workload, x))
            except Unsupported as e:
                skipped[library] = str(e)
                break
    per_call = {"train": 1, "log_prob": workload.batch, "sample": workload.batch}
    calls = {}
    for r in runners:
        for m, fn in r.measures.items():
            for _ in range(2):
                fn()  # trace, compile
            t0 = time.perf_counter()
            fn()
            calls[(r.library, r.variant, m)] = max(2, round(seconds / (time.perf_counter() - t0)))
        log(f"  {workload.name}: {r.library}/{r.variant} ready ({r.params:,} parameters)")
    sgemm, sgemm_flops = sgemm_measures()
    for fn in sgemm.values():
        fn()
    rates = {key: [] for key in calls}
    rates.update({("sgemm", v, "gemm"): [] for v in sgemm})
    for i in range(repeats):
        for r in runners:
            for m, fn in r.measures.items():
                key = (r.library, r.variant, m)
                rates[key].append(_rate(fn, calls[key], per_call[m]))
        for v, fn in sgemm.items():
            rates[("sgemm", v, "gemm")].append(_rate(fn, 20, sgemm_flops / 1e9))
        log(f"  {workload.name}: round {i + 1}/{repeats} done")
    rows = []
    for r in runners:
        for m in r.measures:
            key = (r.library, r.variant, m)
            rows.append(
                {
                    "library": r.library,
                    "variant": r.variant,
                    "measure": m,
                    "unit": MEASURES[m],
                    "median": statistics.median(rates[key]),
                    "all": rates[key],
                    "calls_per_timing": calls[key],
                    "parameters": r.params,
                    "gflops": statistics.median(rates[key]) * workload.flops(m) / 1e9,
                }
            )
    for v in sgemm:
        key = ("sgemm", v, "gemm")
        rows.append(
            {
                "library": "sgemm",
                "variant": v,
                "measure": "gemm",
                "unit": "GFLOP/s",
                "median": statistics.median(rates[key]),
                "all": rates[key],
                "calls_per_timing": 20,
            }
        )
    return rows, skipped


class Worker:
    """A runner in a process of its own (bench/worker.py), timed on request."""

    def __init__(
        self,
        library,
        variant,
        workload,
        data_path,
        threads,
        seconds,
        log_dir,
        tfflows_path="",
        extra=(),
    ):
        from bench.worker import PREFIX

        self.library, self.variant, self.prefix = library, variant, PREFIX
        command = [
            sys.executable,
            "-m",
            "bench.worker",
            "--library",
            library.split("@")[0],
            "--variant",
            variant,
            "--workload",
            workload,
            "--data",
            data_path,
            "--threads",
            str(threads),
            "--seconds",
            str(seconds),
        ]
        if tfflows_path:
            command += ["--tfflows-path", tfflows_path]
        command += list(extra)  # e.g. --batch 8 --measures train (bench/scaling.py)
        tag = "_".join(extra).replace("-", "")
        name = f"{workload}_{library}_{variant}{'_' + tag if tag else ''}.log"
        self.log = pathlib.Path(log_dir) / name.replace("@", "_").replace(",", "_")
        self.spawn(command)
        self.measures = self.ready.get("measures", [])

    def spawn(self, command, env=None):
        """Starts the worker process (stderr to `self.log`) and waits for its ready line."""
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log.open("w"),
            text=True,
            cwd=REPO,
            env=env,
        )
        self.ready = self.read()

    def read(self):
        for line in self.proc.stdout:
            if line.startswith(self.prefix):
                return json.loads(line[len(self.prefix) :])
        tail = self.log.read_text()[-2000:]
        raise RuntimeError(f"{self.library}/{self.variant} worker exited:\n{tail}")

    def time(self, measure):
        self.proc.stdin.write(json.dumps({"time": measure}) + "\n")
        self.proc.stdin.flush()
        return self.read()["rate"]

    def peak_mb(self) -> float:
        """The worker's resident memory now (VmRSS), in MB; 0 once it has exited."""
        try:
            with open(f"/proc/{self.proc.pid}/status") as status:
                line = next(line for line in status if line.startswith("VmRSS"))
        except (FileNotFoundError, StopIteration):
            return 0.0
        return int(line.split()[1]) / 1024

    def ask(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"exit": True}) + "\n")
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # this worker only (it has answered everything asked)
                self.proc.wait()


def measure_workload_isolated(
    workload, libraries, repeats, seconds, threads, log, baseline="", only=None
):
    """Every (library, variant) in its own worker process with the same thread settings,
    started and warmed up one at a time, then timed in rounds that alternate their order
    (forward in even rounds, reversed in odd ones), so that neither a slow spell nor a
    position in the round favours one library.

    All workers stay alive until the rounds end, so their memory adds up (a glow32
    TensorFlow worker holds 1.5-3 GB): before starting the next, there must be room for one
    more as large as the largest so far, else the run stops and says to measure fewer
    variants (`--variants`) rather than let the machine swap or kill a worker."""
    import tempfile

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tfflows_bench_"))
    data_path = str(tmp / "data.npy")
    np_save(data_path, workload.data())
    specs = [(lib, v, "") for lib in libraries for v in variants(lib, only)]
    if baseline:
        specs += [("tfflows@before", v, baseline) for v in variants("tfflows", only)]
    specs += [("sgemm", "tf", "")] + ([("sgemm", "torch", "")] if available("normflows") else [])
    workers, skipped = [], {}
    try:
        for library, variant, path in specs:
            if library in skipped:
                continue
            largest = max((w.peak_mb() for w in workers), default=0.0)
            if memory_available_mb() < 1.25 * largest:
                raise MemoryError(
                    f"{workload.name}: {memory_available_mb():.0f} MB of memory left, and the "
                    f"largest worker so far holds {largest:.0f} MB: measure fewer variants "
                    "(--variants xla,fit_auto) or workloads at a time"
                )
            w = Worker(library, variant, workload.name, data_path, threads, seconds, tmp, path)
            if "error" in w.ready:
                w.close()
                if not w.ready.get("unsupported"):
                    raise RuntimeError(f"{library}/{variant}: {w.ready['error']}")
                skipped[library] = w.ready["error"].split(": ", 1)[-1]
                continue
            workers.append(w)
            log(
                f"  {workload.name}: {library}/{variant} ready ({w.ready['params']:,} "
                f"parameters, {w.ready['setup_seconds']:.0f} s to build and warm up)"
            )
        rates = {(w.library, w.variant, m): [] for w in workers for m in w.measures}
        orders = []
        for i in range(repeats):
            orders.append("forward" if i % 2 == 0 else "reverse")
            for w in workers if i % 2 == 0 else workers[::-1]:
                for m in w.measures:
                    rates[(w.library, w.variant, m)].append(w.time(m))
            log(f"  {workload.name}: round {i + 1}/{repeats} ({orders[-1]}) done")
    finally:
        for w in workers:
            w.close()
    rows = []
    for w in workers:
        for m in w.measures:
            key = (w.library, w.variant, m)
            gemm = w.library == "sgemm"
            rows.append(
                {
                    "library": w.library,
                    "variant": w.variant,
                    "measure": m,
                    "unit": "GFLOP/s" if gemm else MEASURES[m],
                    "median": statistics.median(rates[key]),
                    "all": rates[key],
                    "orders": orders,
                    "calls_per_timing": w.ready["calls"][m],
                    "setup_seconds": w.ready["setup_seconds"],
                    **(
                        {}
                        if gemm
                        else {
                            "parameters": w.ready["params"],
                            "gflops": statistics.median(rates[key]) * workload.flops(m) / 1e9,
                            "tfflows_path": w.ready["tfflows"],
                        }
                    ),
                }
            )
    return rows, skipped


def np_save(path, array):
    import numpy as np

    np.save(path, array)


def peak_memory(library, variant, workload_name):
    """Peak RSS (MB) of a fresh process that builds the runner and trains 5 steps."""
    code = (
        "import json\n"
        "from bench.compare import build\n"
        "from bench.workloads import WORKLOADS\n"
        f"w = WORKLOADS[{workload_name!r}]\n"
        f"r = build({library!r}, {variant!r}, w, w.data())\n"
        "for _ in range(7): r.measures['train']()\n"
        # VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss across fork and exec.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(json.dumps(int(hwm.split()[1]) / 1024))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=pathlib.Path(__file__).resolve().parent.parent,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if out.returncode != 0:
        return None
    return float(out.stdout.strip().splitlines()[-1])


def best(rows, library, measure):
    mine = [r for r in rows if r["library"] == library and r["measure"] == measure]
    return max(mine, key=lambda r: r["median"]) if mine else None


def _ratio(ours, top):
    """ours / top: the ratio of medians, the range of the per-round ratios (each round
    times both within seconds) and, when rounds alternated their order, the median ratio
    of the forward and of the reversed rounds: a verdict that holds either way round."""
    rounds = [a / b for a, b in zip(ours["all"], top["all"], strict=True)]
    text = f"{ours['median'] / top['median']:.2f}x ({min(rounds):.2f}-{max(rounds):.2f})"
    orders = ours.get("orders")
    if orders and len(set(orders)) == 2:
        by = {
            o: statistics.median(r for r, o2 in zip(rounds, orders, strict=True) if o2 == o)
            for o in ("forward", "reverse")
        }
        text += f"; fwd {by['forward']:.2f}x, rev {by['reverse']:.2f}x"
    return text


def before_after(results):
    """The tfflows@before rows (`--baseline`, another checkout measured in the same rounds)
    against the current code's: one line per workload and measure."""
    lines = [
        "| workload | measure | before | after | after / before (range; by order) |",
        "|---|---|---|---|---|",
    ]
    for name, res in results.items():
        for m, unit in MEASURES.items():
            old, new = best(res["rows"], "tfflows@before", m), best(res["rows"], "tfflows", m)
            if old and new:
                lines.append(
                    f"| {name} | {m} {unit} | {old['median']:,.2f} ({old['variant']}) | "
                    f"{new['median']:,.2f} ({new['variant']}) | {_ratio(new, old)} |"
                )
    return lines if len(lines) > 2 else []


def table(results, meta):
    how = (
        f"each library in its own process, {meta.get('threads')} threads each, rounds "
        "alternating their order"
        if meta.get("mode") == "isolated"
        else "all in one process"
    )
    lines = [
        f"tfflows vs peers ({meta['date']}, {meta['machine']}; TF {meta['tensorflow']}, "
        f"TFP {meta['tfp']}, torch {meta.get('torch', '-')}; median of {meta['repeats']} "
        f"interleaved rounds, {how})",
        "",
        "| workload | measure | tfflows | best peer | tfflows / best peer (range over rounds) | "
        "GFLOP/s tfflows, best peer (% of sgemm) | " + " | ".join(PEERS) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(PEERS),
    ]
    sgemm_lines = []
    for name, res in results.items():
        rows = res["rows"]
        gemm = {r["variant"]: r["median"] for r in rows if r["library"] == "sgemm"}
        ceiling = max(gemm.values()) if gemm else None
        if gemm:
            sgemm_lines.append(
                f"{name}: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(gemm.items()))
            )

        def flop_rate(r, ceiling=ceiling):
            if r is None:
                return "-"
            share = f" ({100 * r['gflops'] / ceiling:.0f}%)" if ceiling else ""
            return f"{r['gflops']:.0f}{share}"

        for m, unit in list(MEASURES.items()) + [("peak_memory", "MB")]:
            if m == "peak_memory":
                mem = res["memory"]
                ours = mem.get("tfflows")
                peers = {p: mem.get(p) for p in PEERS}
                fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
                cells = [fmt(peers[p]) for p in PEERS]
                lines.append(
                    f"| {name} | train peak RSS (MB) | {fmt(ours)} | | | | "
                    + " | ".join(cells)
                    + " |"
                )
                continue
            ours = best(rows, "tfflows", m)
            peer_rows = {p: best(rows, p, m) for p in PEERS}
            present = [r for r in peer_rows.values() if r]
            top = max(present, key=lambda r: r["median"]) if present else None

            def fmt(r):
                if r is None:
                    return "-"
                v = r["median"]
                s = f"{v:,.0f}" if v >= 100 else f"{v:.2f}"
                return f"{s} ({r['variant']})" if r["variant"] != "eager" else s

            ratio = "-"
            if ours and top:
                ratio = _ratio(ours, top)
            lines.append(
                f"| {name} | {m} {unit} | {fmt(ours)} | {top['library'] if top else '-'} "
                f"| {ratio} | {flop_rate(ours)}, {flop_rate(top)} | "
                + " | ".join(fmt(peer_rows[p]) for p in PEERS)
                + " |"
            )
    params = []
    for name, res in results.items():
        counts = {}
        for r in res["rows"]:
            if "parameters" in r:
                counts.setdefault(r["library"], r["parameters"])
        params.append(f"{name}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
        for lib, why in res["skipped"].items():
            params.append(f"{name}: {lib} skipped ({why})")
    lines += ["", "Parameters: " + "; ".join(params) + "."]
    changes = before_after(results)
    if changes:
        lines += [
            "",
            f"Before and after, measured in the same rounds (before: {meta.get('baseline')}):",
            "",
            *changes,
        ]
    if sgemm_lines:
        lines += [
            "",
            "GFLOP/s counts the networks' dense and convolution FLOPs only "
            "(`Workload.flops` in bench/workloads.py). sgemm = a 1024x1024 float32 matrix "
            "product timed in the same rounds (GFLOP/s): " + "; ".join(sgemm_lines) + ".",
        ]
    return "\n".join(lines) + "\n"


def main():
    from bench.workloads import WORKLOADS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--libraries", default="tfflows," + ",".join(PEERS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per timing")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument(
        "--variants",
        default="traced,xla,fit_auto",
        help="comma-separated variants of the TensorFlow libraries (traced, xla, fit, "
        "fit_xla, fit_auto), or 'all'. The default leaves out Keras' own steps, fit and "
        "fit_xla (fit_auto is what compile() gives), because every worker stays alive for "
        "the rounds (glow32's hold 1.5-3 GB each)",
    )
    parser.add_argument(
        "--mode",
        choices=("isolated", "inprocess"),
        default="isolated",
        help="isolated: every library and variant in a worker process of its own (default); "
        "inprocess: all in this process",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="isolated mode")
    parser.add_argument(
        "--baseline",
        metavar="CHECKOUT",
        default="",
        help="isolated mode: also time the tfflows of another checkout (e.g. a git worktree "
        "of the commit before a change) in the same rounds",
    )
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--table", metavar="JSON", help="only rewrite the table of a results file")
    args = parser.parse_args()
    if args.table:
        saved = json.loads(pathlib.Path(args.table).read_text())
        text = table(saved.pop("results"), saved)
        pathlib.Path(args.table).with_suffix(".md").write_text(text)
        print(text)
        return

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    import tensorflow as tf
    import tensorflow_probability as tfp

    libraries = [lib for lib in args.libraries.split(",") if available(lib)]
    missing = set(args.libraries.split(",")) - set(libraries)
    if missing:
        log(f"not installed, skipped: {', '.join(sorted(missing))} (pip install .[bench])")
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, no GPU",
        "tensorflow": tf.__version__,
        "tfp": tfp.__version__,
        "repeats": args.repeats,
        "mode": args.mode,
        "threads": args.threads if args.mode == "isolated" else None,
        "baseline": args.baseline or None,
        "variants": args.variants or None,
        "seconds_per_timing": args.seconds,
        "libraries": libraries,
    }
    try:
        import torch

        meta["torch"] = torch.__version__
    except ImportError:
        pass
    only = None if args.variants == "all" else set(args.variants.split(",")) - {""} or None
    results = {}
    for name in args.workloads.split(","):
        workload = WORKLOADS[name]
        if args.mode == "isolated":
            rows, skipped = measure_workload_isolated(
                workload,
                libraries,
                args.repeats,
                args.seconds,
                args.threads,
                log,
                args.baseline,
                only,
            )
        else:
            rows, skipped = measure_workload(
                workload, libraries, args.repeats, args.seconds, log, only
            )
        memory = {}
        if not args.no_memory:
            for library in {r["library"] for r in rows} - {"sgemm", "tfflows@before"}:
                variant = best(rows, library, "train")["variant"]
                memory[library] = peak_memory(library, variant, name)
                log(f"  {name}: {library}/{variant} peak RSS {memory[library]} MB")
        results[name] = {"rows": rows, "skipped": skipped, "memory": memory}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = (
        "compare"
        if set(args.workloads.split(",")) == set(WORKLOADS)
        else ("compare_" + "_".join(args.workloads.split(",")))
    )
    stem += "_inprocess" if args.mode == "inprocess" else ""
    stem += "_before_after" if args.baseline else ""
    (out / f"{stem}.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    text = table(results, meta)
    (out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
