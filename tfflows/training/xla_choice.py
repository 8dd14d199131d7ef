"""Whether a run compiles each replica's loss and gradient with XLA.

`xla="auto"` measures: both versions of the (side-effect free) gradient step run on the
first batch after compiling, and the faster one is kept. XLA is not always faster on a CPU:
with Glow's 128-channel convolutions it was 13% slower here, on small networks it wins.
Several workers take XLA without measuring (they must agree); a TPU compiles whole programs.

The choice (measured or given) is recorded in `out_dir/xla.json`, and a resumed run (a
checkpoint was restored) with "auto" takes it from there, so that it computes exactly as the
run it continues. Two *separate* runs with "auto" each measure, and may choose differently
(timings on a busy machine are noisy; the tiny test model's two versions differed by a few
milliseconds): XLA and non-XLA steps round floats differently, and after a few steps the
weights differ. Pin `xla=True` or `False` (`--xla on|off`) when two separate runs must give
bitwise-identical weights.
"""

import json
import pathlib

import tensorflow as tf

from tfflows.models.xla_timing import COMPILE_ERRORS, failure_note, measure
from tfflows.training.files import write_text_atomic
from tfflows.training.strategies import is_single_worker


def recorded(record: pathlib.Path) -> bool | None:
    """The choice recorded in `record`, or None (absent or damaged: measure again)."""
    try:
        return bool(json.loads(record.read_text())["xla"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def choose(setting, record, resuming, strategy, measure, write=True):
    """(choice, note): `setting` True/False/"auto"; `measure()` -> (choice, note) times both
    versions; `write` records the choice in `record`."""
    record = pathlib.Path(record)
    earlier = recorded(record) if resuming else None
    if isinstance(setting, bool):
        choice, note = setting, None
        if earlier is not None and earlier != setting:
            note = (
                f"given, while the steps before this resume ran with XLA "
                f"{'on' if earlier else 'off'}: the weights will differ in the last bits "
                "from those of an uninterrupted run"
            )
    elif earlier is not None:
        return earlier, None
    elif isinstance(strategy, tf.distribute.TPUStrategy):
        choice, note = False, "TPU programs are compiled whole"
    elif not is_single_worker(strategy):
        choice, note = True, "several workers"
    else:
        choice, note = measure()
    if write:
        record.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(record, json.dumps({"xla": choice, "why": note or "given"}))
    return choice, note


__all__ = ["COMPILE_ERRORS", "choose", "failure_note", "measure", "recorded"]
