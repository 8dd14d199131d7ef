"""Learning curves from a training run's TensorBoard logs (every resume appends a new
events file to OUT/logs; all of them are read, a killed run's cut-off last record aside)."""

import pathlib

import numpy as np
import tensorflow as tf


def read_scalars(run_dir, tag="test/bits_per_dim"):
    """(steps, values) of one scalar over all the run's event files, sorted by step; a step
    logged twice (a resumed run repeating a step) keeps its last value."""
    files = sorted(pathlib.Path(run_dir, "logs").glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event files in {pathlib.Path(run_dir, 'logs')}")
    points = {}
    for path in files:
        records = iter(tf.data.TFRecordDataset(str(path)))
        while True:
            try:
                record = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError:
                # A run killed while its writer flushed ends its file in half a record: the
                # records before it are whole (each has its own crc), as TensorBoard reads.
                break
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == tag:
                    points[int(event.step)] = float(tf.make_ndarray(value.tensor))
    steps = np.array(sorted(points), dtype=np.int64)
    return steps, np.array([points[s] for s in steps], dtype=np.float64)


def plot_curves(runs, path, tag="test/bits_per_dim", steps_per_epoch=None, title=None):
    """Draws `tag` against steps (or epochs) for {label: run_dir} into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for label, run_dir in runs.items():
        steps, values = read_scalars(run_dir, tag)
        x = steps / steps_per_epoch if steps_per_epoch else steps
        ax.plot(x, values, marker="o", markersize=3, label=f"{label} (last {values[-1]:.3f})")
    ax.set_xlabel("epoch" if steps_per_epoch else "step")
    ax.set_ylabel(tag.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
