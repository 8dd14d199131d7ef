"""One benchmark runner in a process of its own, driven over stdin (issue 18).

    python -m bench.worker --library tfflows --variant xla --workload glow32 [--threads 2]

Libraries that share a process slow each other: one's thread pools (oneDNN, OpenMP's
spin-waits, TensorFlow's inter-op pool) are still awake when the next one runs. So
`bench.compare` starts one worker per (library, variant), each with the same thread
settings, and times them in turn: while one works, the others block on a read of stdin.

The worker builds its runner, warms it up (tracing, compilation, ActNorm's first batch),
picks per measure a number of calls that fills about --seconds, and says so. Then it
answers one JSON request per line:

    {"time": "log_prob"}  ->  {"rate": examples (or steps) per second over one timing}
    {"memory": true}      ->  {"peak_mb": the process's peak resident memory so far}
    {"exit": true}

Replies are lines starting with `@@bench ` on stdout, so that whatever a library prints
cannot be mistaken for one. `--tfflows-path` puts another checkout's tfflows first on the
path: the same harness then measures the code before and after a change, in one session.
"""

import argparse
import json
import os
import sys
import time

PREFIX = "@@bench "
PER_CALL = {"train": "steps", "log_prob": "batch", "sample": "batch", "gemm": "gflop"}


def frameworks_imported() -> dict:
    """Which frameworks this process imported (a worker must hold only its own)."""
    return {
        "tensorflow_imported": "tensorflow" in sys.modules,
        "torch_imported": "torch" in sys.modules,
    }


def apply_threads(threads: int) -> None:
    """The same thread settings for every library: `threads` intra-op and inter-op threads
    in TensorFlow and PyTorch, and OpenMP/MKL told the same before either is imported."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


TF_LIBRARIES = ("tfflows", "tfp")


def uses_tensorflow(library: str, variant: str) -> bool:
    return library in TF_LIBRARIES or (library == "sgemm" and variant == "tf")


def set_threads(library: str, variant: str, threads: int) -> None:
    """Import the one framework this worker uses and give it `threads` threads, before it
    runs its first op (TensorFlow refuses the setting after that). A PyTorch worker never
    imports TensorFlow, and the other way round."""
    if uses_tensorflow(library, variant):
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)


class _Sgemm:
    """A 1024x1024x1024 float32 matrix product: the rate the machine's BLAS reaches."""

    def __init__(self, variant: str):
        from bench.compare import sgemm_measures

        self.library, self.variant, self.params, self.note = "sgemm", variant, 0, ""
        measures, flops = sgemm_measures(frameworks=(variant,))
        self.measures, self.gflop = {"gemm": measures[variant]}, flops / 1e9


def build_runner(library: str, variant: str, workload_name: str, data_path: str, **changes):
    """(runner, workload); `changes` replace fields of the workload (batch, levels, hidden)."""
    import dataclasses

    import numpy as np

    from bench.workloads import WORKLOADS

    if library == "sgemm":
        return _Sgemm(variant), None
    workload = dataclasses.replace(WORKLOADS[workload_name], **changes)
    # The coordinator made the data (toy data comes from tfflows, which imports TF).
    x = np.load(data_path) if data_path else workload.data()
    if uses_tensorflow(library, variant):
        from bench.runners_tf import TF_RUNNERS

        return TF_RUNNERS[library](workload, variant, x), workload
    from bench.runners_torch import TORCH_RUNNERS

    return TORCH_RUNNERS[library](workload, x), workload


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; not ru_maxrss, which Linux carries over
    from a parent across fork and exec)."""
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM"))
    return int(hwm.split()[1]) / 1024


def _reply(obj) -> None:
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def _units_per_call(runner, workload, measure: str) -> float:
    kind = PER_CALL[measure]
    if kind == "gflop":
        return runner.gflop
    return 1 if kind == "steps" else workload.batch


def serve(args) -> None:
    if args.tfflows_path:
        sys.path.insert(0, os.path.abspath(args.tfflows_path))
    t0 = time.perf_counter()
    set_threads(args.library, args.variant, args.threads)
    try:
        changes = {k: getattr(args, k) for k in ("batch", "levels", "hidden") if getattr(args, k)}
        runner, workload = build_runner(
            args.library, args.variant, args.workload, args.data, **changes
        )
        if args.measures:
            runner.measures = {m: runner.measures[m] for m in args.measures.split(",")}
    except Exception as e:  # the coordinator records why and goes on without this runner
        _reply(
            {"error": f"{type(e).__name__}: {e}", "unsupported": type(e).__name__ == "Unsupported"}
        )
        return
    calls, per_call = {}, {}
    for m, fn in runner.measures.items():
        for _ in range(2):
            fn()  # trace, compile
        t1 = time.perf_counter()
        fn()
        calls[m] = max(2, round(args.seconds / (time.perf_counter() - t1)))
        per_call[m] = _units_per_call(runner, workload, m)
    tfflows = sys.modules.get("tfflows")
    _reply(
        {
            "ready": True,
            "params": runner.params,
            "measures": list(runner.measures),
            "calls": calls,
            "setup_seconds": time.perf_counter() - t0,
            # Which checkout was measured (--tfflows-path), for the record.
            "tfflows": os.path.dirname(tfflows.__file__) if tfflows else None,
            **frameworks_imported(),
        }
    )
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("exit"):
            break
        if request.get("memory"):
            _reply({"peak_mb": peak_rss_mb()})
            continue
        m = request["time"]
        fn, n = runner.measures[m], calls[m]
        t1 = time.perf_counter()
        for _ in range(n):
            fn()
        _reply({"rate": n * per_call[m] / (time.perf_counter() - t1)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--workload", default="")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--tfflows-path", default="")
    parser.add_argument("--data", default="", help=".npy of the workload's data")
    parser.add_argument("--measures", default="", help="only these, comma-separated")
    for field in ("batch", "levels", "hidden"):
        parser.add_argument(f"--{field}", type=int, default=0, help="change the workload")
    args = parser.parse_args()
    apply_threads(args.threads)
    serve(args)


if __name__ == "__main__":
    main()
