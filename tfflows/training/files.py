"""A run's files: written whole or not at all, and the leftovers of a killed run removed.

Every file the trainer writes goes to a temporary name beside its final one and is renamed
into place (an atomic replace on POSIX), so a SIGKILL leaves the previous version or the new
one, plus at most a temporary file that the next run removes (`remove_debris`).
"""

import os
import pathlib
import shutil

# The trainer's temporary names (`temporary_name`), TensorFlow's (`ckpt-N_temp/` while a
# checkpoint is written, `checkpoint.tmp<hex>` while the state file is), and the copies
# that non-chief workers of a multi-worker run write and delete after each save.
_DEBRIS = (
    "*.tmp",
    "*.tmp.*",
    "samples/*.tmp.png",
    "samples/*.tmp.gif",
    "checkpoints/ckpt-*_temp",
    "checkpoints/checkpoint.tmp*",
    ".worker_*_checkpoints",
)


def temporary_name(path: str | os.PathLike) -> pathlib.Path:
    """`model.weights.h5` -> `model.tmp.weights.h5`, `xla.json` -> `xla.json.tmp`,
    `a.gif` -> `a.tmp.gif`: the name a file is written under before it is renamed into place
    (weights and pictures keep their suffix, which Keras and Pillow require)."""
    path = pathlib.Path(path)
    if path.name.endswith(".weights.h5"):
        return path.with_name(path.name[: -len(".weights.h5")] + ".tmp.weights.h5")
    if path.suffix in (".png", ".gif"):  # Pillow picks the format by the suffix
        return path.with_name(path.stem + ".tmp" + path.suffix)
    return path.with_name(path.name + ".tmp")


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` through a temporary file and a rename."""
    tmp = temporary_name(path)
    tmp.write_text(text)
    tmp.replace(path)


def remove_debris(out_dir: str | os.PathLike) -> list[str]:
    """Deletes what an interrupted run left in `out_dir`; returns the names removed.

    Call it only while holding the folder's lock (`RunLock`): no other run is writing.
    """
    out = pathlib.Path(out_dir)
    found = sorted({p for pattern in _DEBRIS for p in out.glob(pattern)})
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return [str(p.relative_to(out)) for p in found]
