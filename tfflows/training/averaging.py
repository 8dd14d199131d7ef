"""Polyak averaging of the weights, with the warm-up of tf.train.ExponentialMovingAverage.

    average_t = m_t * average_{t-1} + (1 - m_t) * w_t,   m_t = min(momentum, (1+t)/(10+t))

at update t (0-based; the first update copies the weights). Keras' optimizer EMA uses the
full momentum from the second step on, so a 0.999 average still held 0.999^937 = 39% of the
*untrained* weights after one MNIST epoch; with the warm-up the early weights fade out at
once, and from t = 8,990 on (for 0.999) the rule is Keras' own.

The averages are variables of their own (a checkpoint child of the trainer), updated in the
same replica step as the optimizer, so every replica holds the same average.
"""

import contextlib

import tensorflow as tf


class WeightAverage:
    """Averages of `variables` (create it inside the strategy's scope)."""

    def __init__(self, variables, momentum: float):
        if not 0.0 < momentum < 1.0:
            raise ValueError(f"the averaging momentum must be in (0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.weights = list(variables)
        self.averages = [
            tf.Variable(
                v.value if hasattr(v, "value") else v,
                trainable=False,
                name=f"average_{i}",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            for i, v in enumerate(self.weights)
        ]
        self.updates = tf.Variable(
            0,
            dtype=tf.int64,
            trainable=False,
            name="average_updates",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )

    def update(self):
        """One averaging step after an optimizer update (inside the replica step)."""
        t = tf.cast(self.updates, tf.float32)
        m = tf.minimum(self.momentum, (1.0 + t) / (10.0 + t))
        m = m * tf.cast(self.updates > 0, tf.float32)  # the first update copies the weights
        for weight, average in zip(self.weights, self.averages, strict=True):
            w = weight.value if hasattr(weight, "value") else weight
            mv = tf.cast(m, average.dtype)
            average.assign(mv * average + (1.0 - mv) * w)
        self.updates.assign_add(1)

    def checkpoint_children(self) -> dict:
        return {f"average_{i}": a for i, a in enumerate(self.averages)} | {"updates": self.updates}

    @contextlib.contextmanager
    def swapped(self):
        """Inside, the model's weights are the averages (evaluation, samples, the written
        weights); the trained weights come back on exit."""
        self._swap()
        try:
            yield
        finally:
            self._swap()

    def _swap(self):
        for weight, average in zip(self.weights, self.averages, strict=True):
            current = tf.identity(weight.value if hasattr(weight, "value") else weight)
            weight.assign(average.value())
            average.assign(current)
