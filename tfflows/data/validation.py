"""Clear errors for bad input data."""

import numpy as np


def check_array(x, event_shape=None, num_bits=None, name="x"):
    """Checks one batch (or a whole array) of data and returns it as a numpy array.

    Raises ValueError naming the problem: empty, wrong rank or shape, non-finite values,
    pixel values outside 0..255 (integer data), or floats outside the declared range.

    Args:
      x: array-like [N, *event_shape].
      event_shape: expected shape of one example, or None to accept any.
      num_bits: None for continuous data; otherwise integer arrays must hold pixel values
        in 0..255 (n-bit reduction happens later) and float arrays must already be in the
        model's continuous space [-0.5, 0.5] or [0, 1] (checked against [-0.5, 1]).
      name: how to call the data in messages.
    """
    a = np.asarray(x)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {a.shape}): there is nothing to train on")
    if event_shape is not None:
        want = tuple(event_shape)
        if a.ndim != len(want) + 1:
            hint = ""
            if a.ndim == len(want) and a.shape[1:] == want[:-1] and want[-1] == 1:
                hint = " (grayscale images need a channel axis: x[..., None])"
            raise ValueError(
                f"{name} must have rank {len(want) + 1} [batch, {', '.join(map(str, want))}], "
                f"got shape {a.shape}{hint}"
            )
        if a.shape[1:] != want:
            raise ValueError(f"{name} examples must have shape {want}, got {a.shape[1:]}")
    if np.issubdtype(a.dtype, np.integer):
        if num_bits is None:
            return a
        lo, hi = a.min(), a.max()
        if lo < 0 or hi > 255:
            raise ValueError(f"{name} holds pixel values in [{lo}, {hi}], outside 0..255")
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name} must be numeric, got dtype {a.dtype}")
    finite = np.isfinite(a)
    if not finite.all():
        where = np.argwhere(~finite)[0]
        raise ValueError(
            f"{name} has {int((~finite).sum())} non-finite values (first at index "
            f"{tuple(int(i) for i in where)}: {a[tuple(where)]})"
        )
    if num_bits is not None and (a.min() < -0.5 or a.max() > 1.0):
        raise ValueError(
            f"{name} is float data in [{a.min():.3g}, {a.max():.3g}], outside the model's "
            "continuous space; pass uint8 pixel values instead, or scale to [-0.5, 0.5]"
        )
    return a
