"""Keras layer owning an LU-decomposed invertible 1x1 convolution."""

import keras
import numpy as np
import tensorflow as tf

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer


def random_rotation_lu(channels, seed):
    """(perm, L, U, sign(s), log|s|) of a random orthogonal W = P L (U + diag(s))."""
    rng = np.random.default_rng(seed)
    w = np.linalg.qr(rng.standard_normal((channels, channels)))[0]
    lu, p = tf.linalg.lu(tf.constant(w))  # w[p] = L U
    lu = lu.numpy()
    lower = np.tril(lu, -1) + np.eye(channels)
    s = np.diag(lu)
    upper = np.triu(lu, 1)
    return np.argsort(p.numpy()), lower, upper, np.sign(s), np.log(np.abs(s))


@keras.saving.register_keras_serializable(package="tfflows")
class LUInvertible1x1Conv(FlowLayer):
    """Invertible 1x1 convolution W = P L (U + diag(s)), started at a random rotation.

    P and sign(s) are fixed (non-trainable); L, U and log|s| are trained.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3.2.
    """

    condition_ranks = ()

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, input_shape):
        self.event_ndims = self.event_ndims_for(input_shape)
        c = input_shape[-1]
        perm, lower, upper, sign, log_s = random_rotation_lu(c, self.seed)
        const = keras.initializers.Constant
        self.permutation = self.add_weight(
            shape=(c,), dtype="int32", initializer=const(perm), trainable=False, name="permutation"
        )
        self.sign_s = self.add_weight(
            shape=(c,), initializer=const(sign), trainable=False, name="sign_s"
        )
        self.lower = self.add_weight(shape=(c, c), initializer=const(lower), name="lower")
        self.upper = self.add_weight(shape=(c, c), initializer=const(upper), name="upper")
        self.log_s = self.add_weight(shape=(c,), initializer=const(log_s), name="log_s")

    def bijector(self, condition=None):
        return bijectors.LUInvertible1x1Conv(
            self.permutation.value,
            self.lower.value,
            self.upper.value,
            self.sign_s.value,
            self.log_s.value,
            self.event_ndims,
        )

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
