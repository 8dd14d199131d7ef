"""A run's checkpoints on disk: finding them, restoring the newest readable one, and removing
what a killed run left behind.

`tf.train.CheckpointManager` writes checkpoint N as `ckpt-N_temp/part-*`, merges that into
`ckpt-N.index` + `ckpt-N.data-00000-of-00001`, and only then names it in the state file
`checkpoint` (written atomically through `checkpoint.tmp<random>`). So a kill leaves either a
complete checkpoint or debris (`ckpt-N_temp/`, `checkpoint.tmp*`) next to the previous one.

Restoring validates the bytes: every tensor in the data file carries a crc32c in the index,
and TensorFlow checks it on restore (a flipped byte anywhere in the data file raised
`DataLossError` in every one of 3,000 positions tried; a truncated index or a missing data
file raises too). Of all 5,939 single-byte flips of a small checkpoint's index, 47 went
undetected, and none of those changed any restored value (the bytes were unused).
So a checkpoint either restores the exact values it was written with, or raises.
"""

import os
import pathlib
import re

import tensorflow as tf

from tfflows.training.errors import CheckpointError

STATE_FILE = "checkpoint"
_FILE = re.compile(r"^ckpt-(\d+)\.(index|data-\d+-of-\d+)$")
# TF's wrapping of an op's message: "{{function_node __wrapped__RestoreV2...}} ... [Op:RestoreV2]".
_TF_NOISE = re.compile(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]")
# What a restore raises on a damaged checkpoint (pybind maps some reader errors to IndexError)
# or on one that is not this model's (AssertionError from assert_existing_objects_matched).
_UNREADABLE = (tf.errors.OpError, AssertionError, ValueError, IndexError, OSError)


def read_state(directory: str | os.PathLike) -> tuple[list[str], str | None]:
    """The checkpoints the state file names, newest first, and what is wrong with the file
    (None when it is fine or absent). Never raises on a damaged file."""
    directory = pathlib.Path(directory)
    path = directory / STATE_FILE
    if not path.exists():
        return [], None
    try:
        state = tf.train.get_checkpoint_state(str(directory))
    except ValueError as error:  # an empty or incomplete state
        return [], f"{path} is unreadable ({error})"
    if state is None:  # TF logged the parse error and ignored the file
        return [], f"{path} is unreadable (not a checkpoint state)"
    listed = [*state.all_model_checkpoint_paths, state.model_checkpoint_path]
    newest_first = []
    for name in reversed(listed):
        # TF has already joined a relative name to the folder as given: a relative folder
        # must not be joined twice (runs/x/checkpoints/runs/x/checkpoints/ckpt-3).
        inside = pathlib.Path(name).parent == directory
        prefix = (
            str(directory / pathlib.Path(name).name) if inside else os.path.join(directory, name)
        )
        if prefix not in newest_first:
            newest_first.append(prefix)
    return newest_first, None


def checkpoints_on_disk(directory: str | os.PathLike) -> list[str]:
    """Prefixes of every `ckpt-N` with an index or data file, highest N first."""
    directory = pathlib.Path(directory)
    numbers = set()
    if directory.is_dir():
        for child in directory.iterdir():
            match = _FILE.match(child.name)
            if match:
                numbers.add(int(match.group(1)))
    return [str(directory / f"ckpt-{n}") for n in sorted(numbers, reverse=True)]


def number(prefix: str) -> int:
    """N of a `.../ckpt-N` prefix."""
    return int(prefix.rsplit("-", 1)[1])


def _describe(prefix, error):
    """`ckpt-8.data-00000-of-00001, ckpt-8.index: DataLossError: <TF's first line>`."""
    prefix = pathlib.Path(prefix)
    files = sorted(p.name for p in prefix.parent.glob(f"{prefix.name}.*"))
    message = (getattr(error, "message", None) or str(error)).strip()
    message = _TF_NOISE.sub("", message).strip()
    first = message.splitlines()[0] if message else "(no message)"
    return f"{', '.join(files) or 'no files'}: {type(error).__name__}: {first}"


def restore_newest_readable(checkpoint: tf.train.Checkpoint, directory: str | os.PathLike):
    """Restores the newest checkpoint of `directory` that reads back whole.

    The order: the state file's checkpoints newest first, then any other `ckpt-N` on disk by
    N (so an unreadable state file loses nothing). Returns (prefix, skipped, state_problem):
    `skipped` lists (prefix, why) for the newer checkpoints that failed; prefix is None when
    the folder holds no checkpoint at all. Raises `CheckpointError` naming the folder and
    every checkpoint's problem when there are checkpoints but none restores.
    """
    listed, state_problem = read_state(directory)
    candidates = listed + [p for p in checkpoints_on_disk(directory) if p not in listed]
    skipped = []
    for prefix in candidates:
        status = None
        try:
            status = checkpoint.restore(prefix)
            status.assert_existing_objects_matched()
        except _UNREADABLE as error:
            if status is not None:
                status.expect_partial()  # no warnings about its values when it is collected
            skipped.append((prefix, _describe(prefix, error)))
            continue
        return prefix, skipped, state_problem
    if candidates:
        problems = "; ".join(why for _, why in skipped)
        raise CheckpointError(
            f"no checkpoint in {directory} can be restored ({problems}); nothing was changed. "
            "To start over, delete or move that folder, or pass --no-resume (resume=False), "
            "which trains from step 0 and replaces those checkpoints"
        )
    return None, [], state_problem


def rewrite_state(directory: str | os.PathLike, latest: str) -> None:
    """Makes the state file name `latest` as the newest checkpoint, with the older
    `ckpt-N` on disk before it, so that `CheckpointManager` continues (and prunes) from
    there. Their index files' times stand in for the times they were written."""
    older = [p for p in checkpoints_on_disk(directory) if number(p) < number(latest)]
    paths = [*reversed(older), latest]
    paths = [p for p in paths if os.path.exists(p + ".index")] or [latest]
    times = [os.path.getmtime(p + ".index") if os.path.exists(p + ".index") else 0.0 for p in paths]
    tf.__internal__.train.update_checkpoint_state(
        str(directory),
        latest,
        all_model_checkpoint_paths=paths,
        all_model_checkpoint_timestamps=times,
        last_preserved_timestamp=min(times) - 1.0,
        save_relative_paths=True,
    )
