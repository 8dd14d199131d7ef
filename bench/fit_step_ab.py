"""A/B in one process: Keras' own `fit` step against the two halves of a warm start.

    python -m bench.fit_step_ab [--workload realnvp2d] [--steps 200] [--rounds 5]
        [--variants keras_xla,keras_plain,concrete_xla,concrete_plain,function_xla]

Variants (steady state; every one trains its own copy of the model from the same seed):

- keras_xla / keras_plain: Keras' `train_function`, the whole step (loss, gradient, Adam)
  compiled with / without XLA;
- concrete_xla / concrete_plain: `fit_warm_start.Traced` halves, the gradient with / without
  XLA and the update as a plain graph, each called through its concrete function (what a
  warm-started `fit` runs once it has chosen);
- function_xla: the same halves called through their `tf.function` wrappers;
- both_xla: the concrete halves with the update compiled by XLA too.

Rounds alternate the order of the variants; prints steps/s, median and range.
"""

import argparse
import statistics
import time

import keras
import tensorflow as tf

from bench.runners_tf import _family
from bench.workloads import WORKLOADS
from tfflows.models import build_model
from tfflows.models.fit_warm_start import Traced


def _make(variant, workload, x):
    keras.utils.set_random_seed(0)
    family, overrides = _family(workload)
    model = build_model(family, workload.shape, **overrides)
    kind, xla = variant.split("_")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla == "xla")
    model.fit(x[: workload.batch], batch_size=workload.batch, epochs=1, verbose=0)
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(workload.batch, True)
    iterator = iter(data.prefetch(2))
    if kind == "keras":
        return lambda: model.train_function(iterator)["loss"].numpy()
    gradients = Traced(model._fit_gradients, jit_compile=xla == "xla")
    update = Traced(model._fit_update, jit_compile=kind == "both")
    if kind == "function":
        gradients, update = gradients.function, update.function

    def step():
        _, outputs, grads = gradients(next(iterator))
        return update(outputs, grads)["loss"].numpy()

    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="realnvp2d", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--variants", default="keras_xla,keras_plain,concrete_xla,concrete_plain,function_xla"
    )
    args = parser.parse_args(argv)
    workload = WORKLOADS[args.workload]
    x = workload.data()
    variants = args.variants.split(",")
    steps = {v: _make(v, workload, x) for v in variants}
    for step in steps.values():
        for _ in range(3):
            step()
    rates = {v: [] for v in variants}
    for r in range(args.rounds):
        for v in variants if r % 2 == 0 else variants[::-1]:
            t0 = time.perf_counter()
            for _ in range(args.steps):
                steps[v]()
            rates[v].append(args.steps / (time.perf_counter() - t0))
    for v in variants:
        print(
            f"{args.workload} {v}: {statistics.median(rates[v]):.2f} steps/s "
            f"({min(rates[v]):.2f}-{max(rates[v]):.2f})"
        )


if __name__ == "__main__":
    main()
