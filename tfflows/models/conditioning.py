"""What a model is conditioned on: class labels (`num_classes`) or a general condition."""

import numbers

import numpy as np
import tensorflow as tf

from tfflows.data.validation import check_labels, check_tensor


def _whole_labels(c):
    """Float labels [N] (or one) as int32, if every one is a whole number; else ValueError."""
    if tf.executing_eagerly():
        values = c.numpy()
        if values.size and not np.all(np.isfinite(values) & (values == np.round(values))):
            raise ValueError(
                f"labels must be whole numbers (class indices), got {values.ravel()[:5]}"
            )
        return tf.cast(c, tf.int32)
    whole = tf.reduce_all(tf.equal(c, tf.round(c)))
    check = tf.debugging.Assert(whole, ["labels must be whole numbers (class indices)"])
    with tf.control_dependencies([check]):
        return tf.cast(c, tf.int32)


class Conditioning:
    """The condition of a model: None, `num_classes` labels, or a `condition_shape` tensor.

    `checked(condition, n)` turns what a user passes into what the networks take,
    [N, *condition_shape] (labels become one-hot rows), and a [N] validity mask (None when
    checked in Python). Integer labels must be in 0..num_classes-1 and one per example (or
    one for all when `n` is given); other conditions are finite floats of shape
    [N, *condition_shape] (or one, broadcast to `n`). Bad values raise ValueError in Python
    and eagerly; inside a graph they fail an assertion, and under XLA (which drops
    assertions) the mask marks their examples, whose outputs the model turns into NaN.
    """

    def __init__(self, num_classes=None, condition_shape=None, owner="the model"):
        if num_classes is not None and condition_shape is not None:
            raise ValueError("give num_classes or condition_shape, not both")
        self.num_classes = None if num_classes is None else int(num_classes)
        if self.num_classes is not None:
            self.shape = (self.num_classes,)
        else:
            self.shape = None if condition_shape is None else tuple(condition_shape)
        self.owner = owner

    def checked(self, condition, n=None, dtype=tf.float32):
        if self.shape is None:
            if condition is not None:
                raise ValueError(f"{self.owner} is unconditional but received a condition")
            return None, None
        if condition is None:
            raise ValueError(
                f"{self.owner} is conditional (condition_shape={self.shape}): "
                "pass labels or a condition"
            )
        c = condition if tf.is_tensor(condition) else tf.convert_to_tensor(np.asarray(condition))
        if self.num_classes is not None and not c.dtype.is_integer and (c.shape.rank or 0) <= 1:
            c = _whole_labels(c)  # [N] floats are labels (a [N, K] float is a condition)
        valid = None
        if self.num_classes is not None and c.dtype.is_integer:
            c, valid = check_labels(c, self.num_classes, n)
            c = tf.one_hot(c, self.num_classes)
        else:
            single = c.shape.rank == len(self.shape)
            c = tf.cast(c, tf.float32) if c.dtype.is_integer else c
            c, valid = check_tensor(c, None if single else self.shape, name="condition")
            rows = None if single else c.shape[0]
            if rows is not None and isinstance(n, numbers.Integral) and rows != n:
                raise ValueError(f"condition: got {rows} rows for {n} examples")
        c = tf.cast(c, dtype)
        if n is not None and c.shape.rank == len(self.shape):
            c = tf.broadcast_to(c[None], [n, *self.shape])
        return c, valid
