"""`tfflows ARGS` (the CLI's main) with one signal sent to itself at an exact point of the run:
deterministic fault injection, so that no test has to race a process with a timer.

    python train_with_fault.py SIGNAL@POINT tfflows-arguments...

SIGNAL: KILL, TERM, INT or STOP (STOP freezes the run there, holding its lock, until the
test kills it). POINT:
  step:N     just before training step N (N steps are done)
  save:N     inside the write of checkpoint N: its tensors are in ckpt-N_temp/, TensorFlow
             has not yet merged them into ckpt-N.index / .data (nor named it in the state file)
  xla        inside `--xla auto`'s measurement, at its first call of a gradient function
  epoch:N    inside the epoch-end report (test bits/dim, sample grid) at step N
  weights    model.tmp.weights.h5 is written, not yet renamed to model.weights.h5
The signal is sent once, from the main thread, so a SIGTERM's handler has run before the
code after the point does.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tensorflow.python.ops import gen_io_ops  # noqa: E402

from tfflows import cli  # noqa: E402
from tfflows.training.trainer import Trainer  # noqa: E402

fault, argv = sys.argv[1], sys.argv[2:]
name, _, point = fault.partition("@")
where, _, at = point.partition(":")
SIGNAL = getattr(signal, f"SIG{name}")
fired = []


def fire():
    if not fired:
        fired.append(True)
        os.kill(os.getpid(), SIGNAL)


def wrap(cls, method, before):
    """Replaces cls.method by one that calls before(self, *args) first."""
    original = getattr(cls, method)

    def wrapper(self, *args, **kwargs):
        before(self, *args, **kwargs)
        return original(self, *args, **kwargs)

    setattr(cls, method, wrapper)


if where == "step":
    wrap(Trainer, "train_step", lambda self, step: step == int(at) and fire())
elif where == "epoch":
    wrap(Trainer, "_epoch_report", lambda self, log, step: step == int(at) and fire())
elif where == "xla":
    measuring = []
    original_resolve = Trainer.resolve_xla

    def resolve_xla(self):
        measuring.append(True)
        try:
            return original_resolve(self)
        finally:
            measuring.clear()

    Trainer.resolve_xla = resolve_xla
    wrap(Trainer, "_grad_function", lambda self, xla: measuring and fire())
elif where == "save":
    original_merge = gen_io_ops.merge_v2_checkpoints

    def merge_v2_checkpoints(checkpoint_prefixes, destination_prefix, *args, **kwargs):
        prefix = getattr(destination_prefix, "numpy", lambda: destination_prefix)()
        prefix = prefix.decode() if isinstance(prefix, bytes) else str(prefix)
        if prefix.endswith(f"ckpt-{at}"):
            fire()
        return original_merge(checkpoint_prefixes, destination_prefix, *args, **kwargs)

    gen_io_ops.merge_v2_checkpoints = merge_v2_checkpoints
elif where == "weights":
    import pathlib

    original_replace = pathlib.Path.replace

    def replace(self, target):
        if self.name == "model.tmp.weights.h5":
            fire()
        return original_replace(self, target)

    pathlib.Path.replace = replace
else:
    raise SystemExit(f"unknown fault point {point!r}")

code = cli.main(argv)
if not fired and code == 0:
    print(f"train_with_fault: the run never reached {point}", file=sys.stderr)
    code = 3
sys.exit(code)
