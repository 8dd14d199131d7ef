"""Warm start: a fresh run's first steps go eagerly while the compiled step is built.

Tracing and compiling a training step takes a while before the first step can run: on this
project's 2-core CPU about 10 s for glow32 (3 levels x 8 steps, 8,782 ops in the gradient
graph) without XLA and about 45 s with it, and `xla="auto"` builds both versions to time
them. One eager step of the same model takes about 1.5 s. So a fresh run on one device
with `xla="auto"` starts at once, in three phases:

1. eager steps, while a background thread traces and optimises the gradient step without
   XLA (called once on the first batch: it has no side effects, the update is a separate
   function) and traces the update;
2. compiled steps without XLA, while the thread compiles the XLA version;
3. at the first step boundary after that, the loop times the two compiled versions (nothing
   else runs meanwhile) and keeps the faster, as `xla="auto"` always did.

Eager steps cost little on large models (glow32: about 1.5 s eager against 0.55 s
compiled) and much on small ones (realnvp2d: 0.1 s against 0.02 s), which is why phase 1
ends as soon as the non-XLA graph is ready, not when both are.

If XLA cannot compile the step (an op it lacks), phase 3 keeps the plain graph and says why
in the log and `xla.json`. A stop (SIGINT/SIGTERM) during phases 1-2 writes the checkpoint
and weights without waiting for the build and records no choice (the resumed run measures);
the interpreter waits for the thread at exit. Keras `fit` starts warm the same way
(`tfflows/models/fit_warm_start.py`).

Why only then: how many steps run eagerly depends on the machine's load, and eager and
compiled steps round differently in the last bits. A pinned `xla=True`/`False` promises
bitwise-identical separate runs, a resumed run computes exactly as the run it continues,
and several replicas or workers must step in lockstep; those start compiled, as before.
"""

from tfflows.models.background import Background

__all__ = ["Background"]
