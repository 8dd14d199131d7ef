"""Two-dimensional toy data sets for demos, tests and docs."""

from collections.abc import Sequence

import numpy as np


def two_moons(n: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Two interleaved half circles (as scikit-learn's make_moons), float32 [n, 2]."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0.0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    pts = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return ((pts - [0.5, 0.25]) * 2.0).astype(np.float32)


def rings(
    n: int, radii: Sequence[float] = (1.0, 2.0, 3.0), noise: float = 0.08, seed: int = 0
) -> np.ndarray:
    """Concentric rings with as many points per ring as its radius asks, float32 [n, 2]."""
    rng = np.random.default_rng(seed)
    radii = np.asarray(radii, dtype=np.float64)
    which = rng.choice(len(radii), size=n, p=radii / radii.sum())
    angle = rng.uniform(0.0, 2.0 * np.pi, n)
    r = radii[which] + noise * rng.standard_normal(n)
    return np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1).astype(np.float32)
