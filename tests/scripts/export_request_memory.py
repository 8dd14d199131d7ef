"""Peak memory of one serving request, to size `export_saved_model`'s caps.

    python tests/scripts/export_request_memory.py glow_celeba --signature sample --n 16 64 256
    python tests/scripts/export_request_memory.py glow_celeba --signature log_prob --n 256

Exports the zoo preset's architecture (weights do not change the memory) once, with caps
that admit the largest size, then runs one request of each size in a fresh process, loaded
with `tf.saved_model.load` as a server would hold it: after a warm-up request of size 1, it
resets the process's peak resident memory (Linux: /proc/self/clear_refs) and prints how far
the request raised it above the resident memory before, in MB and per example (JSON lines).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _status_mb(field):
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB


def _reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM (the peak resident set) to the current one.
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _request(loaded, signature, n):
    import numpy as np
    import tensorflow as tf

    fn = loaded.signatures[signature]
    if signature == "sample":
        args = dict(n=tf.constant(n), temperature=tf.constant(0.7), seed=tf.constant(0, tf.int64))
    else:
        spec = fn.structured_input_signature[1]["x"]
        shape = [n, *spec.shape[1:]]
        args = dict(x=tf.constant(np.random.default_rng(0).integers(0, 256, shape), spec.dtype))
    fn(**args)


def child(path, signature, n):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    _request(loaded, signature, 1)
    before = _status_mb("VmRSS")
    _reset_peak()
    _request(loaded, signature, n)
    grown = _status_mb("VmHWM") - before
    print(
        json.dumps(
            {
                "signature": signature,
                "n": n,
                "rss_before_mb": round(before, 1),
                "peak_growth_mb": round(grown, 1),
                "mb_per_example": round(grown / n, 2),
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("--signature", default="sample")
    parser.add_argument("--n", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.signature, args.n[0])
    from tfflows import zoo
    from tfflows.export import export_saved_model

    with tempfile.TemporaryDirectory() as base:
        model, cap = zoo.load(args.preset, weights=False), max(args.n)
        path = export_saved_model(model, base, name="m", max_samples=cap, max_batch=cap)
        for n in args.n:
            command = [sys.executable, __file__, args.preset, "--signature", args.signature]
            subprocess.run([*command, "--n", str(n), "--child", str(path)], check=True)


if __name__ == "__main__":
    main()
