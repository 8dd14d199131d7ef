"""Clear errors for bad input data, the same for numpy arrays and tensors.

numpy arrays and eager tensors are checked in Python and raise `ValueError` naming the
problem. Inside a `tf.function` the checks are graph ops on the runtime values: a
`tf.debugging.Assert` stops the call with the same sentence, and because XLA drops
assertions (`jit_compile=True` turns them into no-ops), every check also returns a
per-example validity mask that the model uses to turn the outputs of bad examples into
NaN. So bad input is never scored as if it were good, in any mode.
"""

import dataclasses

import numpy as np
import tensorflow as tf

# Continuous-space floats may overshoot the space by this much (the round-off of a decode).
FLOAT_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class Space:
    """The continuous space a discrete model scores floats in: [low, high]."""

    low: float
    high: float
    description: str = ""

    def __str__(self):
        text = f"[{self.low:g}, {self.high:g}]"
        return f"{text} ({self.description})" if self.description else text


def check_array(
    x, event_shape=None, num_bits=None, name="x", space=None, allow_empty=False
) -> np.ndarray:
    """Checks one batch (or a whole array) of data and returns it as a numpy array.

    Raises ValueError naming the problem: empty (unless `allow_empty`), wrong rank or
    shape, non-numeric, non-finite values, integers given to a model of continuous data,
    pixel values outside 0..255, or floats outside the model's continuous space.

    Args:
      x: array-like [N, *event_shape].
      event_shape: expected shape of one example, or None to accept any.
      num_bits: None for continuous data (integers are then an error); otherwise integer
        arrays must hold pixel values in 0..255 (n-bit reduction happens later) and float
        arrays must already be in the model's continuous `space`.
      name: how to call the data in messages.
      space: a `Space`; default [-0.5, 1] (any of the tfflows spaces).
      allow_empty: accept a batch of 0 examples (scoring it gives 0 results).
    """
    a = np.asarray(x)
    if a.ndim == 0 or (a.shape[0] == 0 and not allow_empty):
        raise ValueError(f"{name} is empty (shape {a.shape}): there is nothing to train on")
    _check_shape(a.shape, event_shape, name)
    if np.issubdtype(a.dtype, np.integer):
        _check_integer_allowed(num_bits, name)
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"{name} holds pixel values in [{a.min()}, {a.max()}], outside 0..255")
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
    if num_bits is not None and a.size:
        space = space or Space(-0.5, 1.0)
        lo, hi = float(a.min()), float(a.max())
        if lo < space.low - FLOAT_TOLERANCE or hi > space.high + FLOAT_TOLERANCE:
            raise ValueError(_float_range_message(name, lo, hi, space))
    return a


def _float_range_message(name, lo, hi, space):
    return (
        f"{name} is float data in [{lo:.3g}, {hi:.3g}], outside the model's continuous "
        f"space {space}; pass uint8 pixel values instead, or floats scaled to "
        f"[{space.low:g}, {space.high:g}] (pixels / 256{f' - {-space.low:g}' if space.low else ''})"
    )


def _check_shape(shape, event_shape, name):
    if event_shape is None:
        return
    want = tuple(event_shape)
    shape = tuple(shape)
    if len(shape) != len(want) + 1:
        hint = ""
        if len(shape) == len(want) and shape[1:] == want[:-1] and want[-1] == 1:
            hint = " (grayscale images need a channel axis: x[..., None])"
        raise ValueError(
            f"{name} must have rank {len(want) + 1} [batch, {', '.join(map(str, want))}], "
            f"got shape {shape}{hint}"
        )
    if any(None not in (d, w) and d != w for d, w in zip(shape[1:], want, strict=True)):
        raise ValueError(f"{name} examples must have shape {want}, got {shape[1:]}")


def _check_integer_allowed(num_bits, name):
    if num_bits is None:
        raise ValueError(
            f"{name} holds integers, but the model was built for continuous data "
            "(num_bits=None): pass floats, or build the model with num_bits=8 to model "
            "8-bit pixels"
        )


def check_tensor(x, event_shape, num_bits=None, name="x", space=None):
    """The tensor version of `check_array`: returns (x, valid).

    `valid` is None when everything was checked in Python (numpy input, eager tensors);
    inside a graph it is a [N] bool tensor, False for the examples that fail a check, and
    `x` carries an assertion that raises outside XLA. Static problems (shape, integers
    for a continuous model) raise ValueError at once in every mode. Empty batches pass.
    """
    if not tf.is_tensor(x) or isinstance(x, tf.Variable):
        return tf.convert_to_tensor(check_array(x, event_shape, num_bits, name, space, True)), None
    if tf.executing_eagerly():
        check_array(x.numpy(), event_shape, num_bits, name, space, allow_empty=True)
        return x, None
    _check_shape(x.shape, event_shape, name)
    axes = list(range(1, len(x.shape)))
    if x.dtype.is_integer:
        _check_integer_allowed(num_bits, name)
        ok = (x >= 0) & (x <= 255)
        message = f"{name} holds pixel values outside 0..255"
    elif x.dtype.is_floating:
        ok = tf.math.is_finite(x)
        message = f"{name} holds non-finite values"
        if num_bits is not None:
            space = space or Space(-0.5, 1.0)
            ok &= (x >= space.low - FLOAT_TOLERANCE) & (x <= space.high + FLOAT_TOLERANCE)
            message = (
                # No apostrophes: TF escapes them in assertion messages.
                f"{name} holds non-finite values or floats outside the continuous space "
                f"{space} of this model; pass uint8 pixel values, or floats scaled to it"
            )
    else:
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype.name}")
    valid = tf.reduce_all(ok, axis=axes)
    return _asserted(x, valid, message), valid


def _asserted(x, valid, message):
    bad = tf.reduce_sum(tf.cast(~valid, tf.int32))
    check = tf.debugging.Assert(tf.equal(bad, 0), [message, "; bad examples:", bad])
    with tf.control_dependencies([check]):
        return tf.identity(x)


def check_labels(labels, num_classes, batch=None, name="labels"):
    """Integer class labels in 0..num_classes-1, one per example: returns (labels, valid).

    `labels` may be [N], [N, 1] or a scalar (one label for the whole batch when `batch` is
    given). Like `check_tensor`: ValueError in Python, assertion plus a [N] validity mask
    (None when checked in Python) inside a graph.
    """
    t = labels if tf.is_tensor(labels) else tf.convert_to_tensor(np.asarray(labels))
    if not t.dtype.is_integer:
        raise ValueError(f"{name} must be integers (class indices) or one-hot floats")
    if t.shape.rank is not None and t.shape.rank > 1:
        if t.shape.rank != 2 or t.shape[-1] != 1:
            raise ValueError(
                f"{name} must be one class index per example, shape [N] or [N, 1], got "
                f"shape {tuple(t.shape)}"
            )
    t = tf.reshape(t, [-1]) if t.shape.rank != 0 else t
    if tf.executing_eagerly():
        values = t.numpy().reshape(-1)
        bad = values[(values < 0) | (values >= num_classes)]
        if bad.size:
            raise ValueError(
                f"{name} must be in 0..{num_classes - 1} (num_classes={num_classes}), got "
                f"{', '.join(map(str, sorted(set(bad.tolist()))[:5]))}"
            )
        if batch is not None and t.shape.rank == 1 and int(t.shape[0]) != int(batch):
            raise ValueError(f"{name}: got {int(t.shape[0])} labels for {int(batch)} examples")
        return t, None
    valid = (t >= 0) & (t < num_classes)
    message = f"{name} must be in 0..{num_classes - 1} (num_classes={num_classes})"
    t = _asserted(t, tf.reshape(valid, [-1]), message)
    if batch is not None and t.shape.rank == 1:
        count = tf.debugging.assert_equal(
            tf.shape(t)[0], tf.cast(batch, tf.int32), message=f"{name}: one label per example"
        )
        with tf.control_dependencies([count]):
            t = tf.identity(t)
    return t, valid


AUDIO = Space(-1.0, 1.0, "audio")


def check_audio(x, name="audio", min_length=1):
    """Audio clips [N, T] as float in [-1, 1]: returns (x as a tensor, valid).

    Raises ValueError naming the problem (rank, integer samples, too short, non-finite or
    out-of-range values) in Python and eagerly; inside a graph, like `check_tensor`, an
    assertion plus a [N] validity mask. Empty batches pass.
    """
    shape = tuple(np.shape(x)) if not tf.is_tensor(x) else tuple(x.shape)
    if len(shape) != 2:
        hint = " (one clip [T]: add a batch axis, clip[None])" if len(shape) == 1 else ""
        hint = " (drop the channel axis: x[..., 0])" if len(shape) == 3 and shape[-1] == 1 else hint
        raise ValueError(f"{name} must be clips [N, T] (rank 2), got shape {shape}{hint}")
    dtype = x.dtype if tf.is_tensor(x) else np.asarray(x).dtype
    if tf.as_dtype(dtype).is_integer:
        raise ValueError(
            f"{name} holds integers ({tf.as_dtype(dtype).name}): pass float samples in [-1, 1], "
            "e.g. int16 / 32768"
        )
    if shape[1] is not None and shape[1] < min_length:
        raise ValueError(f"{name}: clips of {shape[1]} samples, at least {min_length} needed")
    x, valid = check_tensor(x, (None,), None, name)
    if valid is None:
        values = np.asarray(x)
        if values.size and np.abs(values).max() > 1.0:
            raise ValueError(
                f"{name} has samples in [{values.min():.3g}, {values.max():.3g}], outside [-1, 1]: "
                "scale the audio (e.g. int16 / 32768, or clip / max|clip|)"
            )
        return x, None
    inside = tf.reduce_all(tf.abs(x) <= 1.0, axis=1)
    return _asserted(x, inside, f"{name} holds samples outside [-1, 1]"), valid & inside
