"""Keras `fit` starting warm: its first steps run eagerly while the compiled step is built.

Keras compiles `fit`'s whole step (loss, gradient, optimizer update) before the first batch:
for glow32 on this project's 2-core CPU about 45 s with XLA, and more again whenever XLA
turns out slower than the plain graph (it does for Glow's 128-channel convolutions). A model
compiled with `jit_compile="auto"` (the default) instead gets `WarmTrainFunction`, the same
three phases as the trainer's warm start (`tfflows/training/warm_start.py`):

1. eager steps, while a thread traces and runs once (on the first batch) the gradient half
   of the step without XLA, `model._fit_gradients` (it has no side effects), and traces
   the update half, `model._fit_update`;
2. the compiled plain graph, while the thread compiles the gradient half with XLA;
3. at the next step after that, both gradient versions are timed on the first batch
   (`xla_timing.measure`) and the faster is kept; `model.xla_choice` says which and why.

The update always runs as a plain traced graph (it is a few element-wise ops per
variable). If the XLA compilation fails (an op XLA lacks), the plain graph is kept, with a
warning. Once chosen, `model.jit_compile` follows the choice, so `evaluate`, `predict` and
`fit`'s validation compile the same way. A `fit` that ends while the thread still builds
returns at once; the build goes on, the next `fit` picks it up (`compile` waits for it and
drops it), and the interpreter waits for it at exit (`model.train_function.finish()` waits
and chooses at once).
"""

import warnings

import tensorflow as tf

from tfflows.models import xla_timing
from tfflows.models.background import Background


def applies(model) -> bool:
    """Warm start needs Keras' per-step path on one CPU device: no `run_eagerly`, one step
    per execution, no strategy, no GPU (see `warm_start.py` for why not on a GPU)."""
    strategy = model.distribute_strategy
    return (
        not model.run_eagerly
        and model.steps_per_execution == 1
        and strategy.num_replicas_in_sync == 1
        and getattr(strategy, "cluster_resolver", None) is None  # one worker
        and not tf.config.list_logical_devices("GPU")
    )


class WarmTrainFunction:
    """`model.train_function` for a warm-started `fit`: call(iterator) -> the step's logs."""

    def __init__(self, model):
        self.model = model
        self.gradients, self.update = model._fit_gradients, model._fit_update  # eager
        self.plain = None
        self.building = None
        self.first = None  # (batch, outputs, gradients) of the first step, for the builds
        self.eager_steps = 0
        self.choice = None

    def __call__(self, iterator):
        data = _next(iterator)
        if self.building is not None and self.building.done():
            self._advance()
        eager = self.plain is None
        _, outputs, grads = self.gradients(data)
        logs = self.update(outputs, grads)
        if eager:
            self.eager_steps += 1
            if self.building is None:
                # After the first update: the optimizer's slots exist, so tracing the
                # update creates no variables.
                self.first = (data, outputs, grads)
                self.building = Background(self._build_plain)
        return logs

    def _build_plain(self):
        data, outputs, grads = self.first
        gradients = Traced(self.model._fit_gradients)
        gradients(data)
        update = Traced(self.model._fit_update)
        update.concrete(outputs, grads)
        return gradients, update

    def _build_xla(self):
        gradients = Traced(self.model._fit_gradients, jit_compile=True)
        try:
            gradients(self.first[0])
        except xla_timing.COMPILE_ERRORS as e:  # an op XLA cannot compile: keep the plain graph
            return None, xla_timing.failure_note(e)
        return gradients, None

    def _advance(self):
        building, self.building = self.building, None
        built = building.result()  # a failed plain build raises here, once
        if self.plain is None:
            self.plain, self.update = built
            self.gradients = self.plain
            self.building = Background(self._build_xla)
            return
        with_xla, failure = built
        if with_xla is None:
            choice, why = False, failure
            warnings.warn(f"fit: {failure}; training without XLA", stacklevel=4)
        else:
            choice, why = xla_timing.measure({True: with_xla, False: self.plain}, self.first[:1])
        self.gradients = with_xla if choice else self.plain
        self.first = None
        self.choice = {"xla": choice, "why": why, "eager_steps": self.eager_steps}
        if self.model.jit_compile != choice:
            # evaluate, predict and fit's validation follow the choice (and do not compile
            # with XLA what XLA could not compile).
            self.model.jit_compile = choice
            self.model.test_function = self.model.predict_function = None

    def abandon(self) -> None:
        """Waits for a build still running and drops it, without raising its error (the
        model is compiled again: nothing may trace its new optimizer from here on)."""
        building, self.building = self.building, None
        if building is not None:
            try:
                building.result()
            except Exception:  # noqa: BLE001
                pass

    def finish(self) -> None:
        """Waits for the builds still running and makes the choice (tests; benchmarks)."""
        while self.building is not None:
            self._advance()


class Traced:
    """`tf.function(fn)` called through its concrete function for the arguments' shapes.

    Calling a `tf.function` with a gradient per variable costs a dispatch on every
    argument's type each step: on realnvp2d (about 16 ms a step here) that made the two
    halves slower than Keras' one fused step, while calling the concrete functions was level
    with it (`python -m bench.fit_step_ab`, see docs/performance.md)."""

    def __init__(self, fn, jit_compile: bool = False):
        self.jit_compile = jit_compile
        self.function = tf.function(
            fn, autograph=False, reduce_retracing=True, jit_compile=jit_compile
        )
        self._concrete = {}

    def concrete(self, *args):
        key = tuple(None if t is None else (tuple(t.shape), t.dtype) for t in tf.nest.flatten(args))
        if key not in self._concrete:
            self._concrete[key] = self.function.get_concrete_function(*args)
        return self._concrete[key]

    def __call__(self, *args):
        return self.concrete(*args)(*args)


def _next(iterator):
    """The next batch, or StopIteration at the end of the epoch (as Keras' own function)."""
    if isinstance(iterator, tf.data.Iterator | tf.distribute.DistributedIterator):
        optional = iterator.get_next_as_optional()
        if not optional.has_value():
            raise StopIteration
        return optional.get_value()
    return tf.nest.map_structure(
        lambda v: v if v is None else tf.convert_to_tensor(v), next(iterator)
    )
