"""The 2-D test energies U1..U4 of Rezende & Mohamed (2015), Table 1, and their log Z.

A target density is p(z) = exp(-U(z)) / Z. U2, U3 and U4 do not decay along z1 (their
density is not normalisable on the whole plane), and the paper shows them on [-4, 4]^2.
tfflows adds, for those three, a smooth wall outside that square,
0.5 * (max(|z1| - 4, 0) / 0.2)^2, which leaves the paper's shapes untouched inside the
square and makes Z finite, so KL(q || p) is a number.
"""

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

WALL = 4.0


def _wall(z1):
    return 0.5 * (tf.nn.relu(tf.abs(z1) - WALL) / 0.2) ** 2


def _w1(z1):
    return tf.sin(2.0 * math.pi * z1 / 4.0)


def _w2(z1):
    return 3.0 * tf.exp(-0.5 * ((z1 - 1.0) / 0.6) ** 2)


def _w3(z1):
    return 3.0 * tf.sigmoid((z1 - 1.0) / 0.3)


def _logsumexp2(a, b):
    return tf.reduce_logsumexp(tf.stack([a, b], axis=0), axis=0)


def u1(z: tf.Tensor) -> tf.Tensor:
    """A ring split in two (each U maps z [..., 2] to [...]): U1 = 0.5 ((|z| - 2) / 0.4)^2
    - log(e^(-0.5 ((z1 - 2) / 0.6)^2) + e^(-0.5 ((z1 + 2) / 0.6)^2))."""
    z1 = z[..., 0]
    ring = 0.5 * ((tf.norm(z, axis=-1) - 2.0) / 0.4) ** 2
    return ring - _logsumexp2(-0.5 * ((z1 - 2.0) / 0.6) ** 2, -0.5 * ((z1 + 2.0) / 0.6) ** 2)


def u2(z: tf.Tensor) -> tf.Tensor:
    """U2 = 0.5 ((z2 - w1(z1)) / 0.4)^2 + the wall, w1(z1) = sin(2 pi z1 / 4): a sine band."""
    z1, z2 = z[..., 0], z[..., 1]
    return 0.5 * ((z2 - _w1(z1)) / 0.4) ** 2 + _wall(z1)


def u3(z: tf.Tensor) -> tf.Tensor:
    """U3 = -log(e^(-0.5 ((z2 - w1) / 0.35)^2) + e^(-0.5 ((z2 - w1 + w2) / 0.35)^2)) + the wall,
    w2(z1) = 3 e^(-0.5 ((z1 - 1) / 0.6)^2): a sine band and a bent copy."""
    z1, z2 = z[..., 0], z[..., 1]
    a = -0.5 * ((z2 - _w1(z1)) / 0.35) ** 2
    b = -0.5 * ((z2 - _w1(z1) + _w2(z1)) / 0.35) ** 2
    return -_logsumexp2(a, b) + _wall(z1)


def u4(z: tf.Tensor) -> tf.Tensor:
    """U4 = -log(e^(-0.5 ((z2 - w1) / 0.4)^2) + e^(-0.5 ((z2 - w1 + w3) / 0.35)^2)) + the wall,
    w3(z1) = 3 sigmoid((z1 - 1) / 0.3): a sine band and a shifted copy."""
    z1, z2 = z[..., 0], z[..., 1]
    a = -0.5 * ((z2 - _w1(z1)) / 0.4) ** 2
    b = -0.5 * ((z2 - _w1(z1) + _w3(z1)) / 0.35) ** 2
    return -_logsumexp2(a, b) + _wall(z1)


Energy = Callable[[tf.Tensor], tf.Tensor]

ENERGIES: dict[str, Energy] = {"u1": u1, "u2": u2, "u3": u3, "u4": u4}


def log_normalizer(energy: Energy, extent: float = 6.0, size: int = 1201) -> float:
    """log Z = log of the integral of exp(-U) over [-extent, extent]^2 (midpoint rule)."""
    step = 2.0 * extent / size
    axis = -extent + step * (np.arange(size) + 0.5)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    neg_u = -energy(tf.constant(grid, tf.float64)).numpy()
    return float(np.logaddexp.reduce(neg_u) + 2.0 * np.log(step))
