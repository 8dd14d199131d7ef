"""Before and after the 1x1 convolution fix (commit 51d41ed), interleaved in one process.

    python -m bench.ab_1x1_conv [--variant traced|xla|fit] [--measures train,log_prob,sample]

The old form, `tf.linalg.matvec(w, x)`, becomes a batched matmul of one [C, C] x [C, 1]
product per pixel; the new one is a single [N, C] x [C, C] MatMul. Two glow32 runners
(bench/workloads.py) are traced, one with each form, then timed in 7 alternating rounds.
Prints the median rate of each and the ratio new/old (with its range over rounds).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="traced", choices=["traced", "xla", "fit"])
    parser.add_argument("--measures", default="train,log_prob,sample")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import tensorflow as tf

    import tfflows.bijectors.invertible_1x1_conv as full
    import tfflows.bijectors.lu_invertible_1x1_conv as lu
    from bench.runners_tf import tfflows_runner
    from bench.workloads import WORKLOADS

    workload = WORKLOADS["glow32"]
    x = workload.data(4)
    measures = args.measures.split(",") if args.variant != "fit" else ["train"]
    forms = {"old": lambda x, w: tf.linalg.matvec(w, x), "new": full.channel_matmul}
    runners = {}
    try:
        for name, form in forms.items():
            full.channel_matmul = lu.channel_matmul = form
            runners[name] = tfflows_runner(workload, args.variant, x)
            for m in measures:  # trace now, while this form is in place
                runners[name].measures[m]()
                runners[name].measures[m]()
    finally:
        full.channel_matmul = lu.channel_matmul = forms["new"]
    rates = {(n, m): [] for n in runners for m in measures}
    for i in range(args.rounds):
        order = list(runners.items())
        for name, runner in order if i % 2 else order[::-1]:
            for m in measures:
                calls = 3 if m == "train" else 10
                t0 = time.perf_counter()
                for _ in range(calls):
                    runner.measures[m]()
                per_call = (time.perf_counter() - t0) / calls
                rates[(name, m)].append((1 if m == "train" else workload.batch) / per_call)
    for m in measures:
        old, new = rates[("old", m)], rates[("new", m)]
        ratios = [b / a for a, b in zip(old, new, strict=True)]
        unit = "steps/s" if m == "train" else "examples/s"
        print(
            f"glow32 {args.variant} {m}: old {statistics.median(old):.2f}, new "
            f"{statistics.median(new):.2f} {unit}; new/old "
            f"{statistics.median(new) / statistics.median(old):.2f}x "
            f"(rounds {min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
