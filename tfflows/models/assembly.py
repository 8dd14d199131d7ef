"""How a flow is put together: steps in data-to-latent order, grouped in levels.

A `Level` is one scale of a flow: its steps (flow layers that own weights, or fixed
reshapes: a squeeze, a permutation, a flatten), then optionally a split (`FactorOut`) whose
kept half goes through the next `Level`, the `inner` one. Squeezes are undone at the end of
their level, so a level maps a tensor to one of the same shape, and the whole flow is one
bijector over one standard-normal latent of the data's shape (or its flat size).

Everything that needs the flow's structure uses this one description:

- `bijector(c)` builds the flow (forward: latent -> data side), fresh on every call;
- `walk(h, c, visit)` runs the data-to-latent direction one step at a time (data-dependent
  initialisation and the diagnosis of non-finite values both use it);
- `split(z)` / `merge(parts)` cut a latent into one part per scale and back;
- `latent_shape(shape)`.

A family (`Glow`, `RealNVP`, ...) only describes its steps through `Builder`.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors

tfb = tfp.bijectors


class Squeeze:
    """Space-to-depth by `factor` (Real NVP, Glow); undone at the end of its level."""

    def __init__(self, factor: int = 2):
        self.factor = int(factor)
        self.name = "squeeze"

    def bijector(self, condition=None):
        return bijectors.Squeeze(self.factor)


class Permute:
    """A fixed permutation of the last axis (MAF's reversed orders)."""

    def __init__(self, permutation):
        self.permutation = tuple(int(i) for i in permutation)
        self.name = "permute"

    def bijector(self, condition=None):
        return tfb.Permute(list(self.permutation))


class Flatten:
    """Flattens an event of `shape` to a vector (vector flows on images)."""

    def __init__(self, shape):
        self.shape = tuple(int(d) for d in shape)
        self.name = "flatten"

    def bijector(self, condition=None):
        size = int(np.prod(self.shape))
        return tfb.Reshape(event_shape_out=self.shape, event_shape_in=(size,))


FIXED_STEPS = (Squeeze, Permute, Flatten)


def _condition_for(step, condition):
    """The condition a step takes: fixed steps and unconditional layers take none."""
    if isinstance(step, FIXED_STEPS) or getattr(step, "condition_shape", None) is None:
        return None
    return condition


def step_bijector(step, condition, **kwargs):
    """`step`'s bijector (fresh) for the flow's condition."""
    return step.bijector(_condition_for(step, condition), **kwargs)


@dataclasses.dataclass
class Level:
    """One scale: `steps` (data side first), then an optional `split` layer whose kept
    half goes through `inner`."""

    steps: list = dataclasses.field(default_factory=list)
    split: object = None
    inner: "Level | None" = None

    @property
    def squeezes(self) -> list[int]:
        return [s.factor for s in self.steps if isinstance(s, Squeeze)]

    def bijector(self, condition=None) -> tfb.Bijector:
        """This level (and the ones inside it) as one bijector, forward latent -> data."""
        parts = [step_bijector(s, condition) for s in self.steps]
        if self.split is not None:
            inner = self.inner.bijector(condition)
            parts.append(step_bijector(self.split, condition, inner=inner))
        parts += [tfb.Invert(bijectors.Squeeze(f)) for f in reversed(self.squeezes)]
        # tfb.Chain applies its last bijector first in `forward`, so listing the parts in
        # data-to-latent order makes `inverse` run them in that order.
        return tfb.Chain(parts)

    def walk(
        self, h, condition=None, visit: Callable | None = None, before: Callable | None = None
    ):
        """Runs data -> latent one step at a time; returns the last output.

        `before(step, h, condition)` is called before each step's bijector is built (the
        data-dependent initialisation hooks in there); `visit(step, bijector, h, out)` after
        it ran. A split is visited with the identity as its inner flow, then the walk goes
        on with the kept half through the inner level.
        """
        for step in self.steps:
            if before is not None:
                before(step, h, _condition_for(step, condition))
            bij = step_bijector(step, condition)
            out = bij.inverse(h)
            if visit is not None:
                visit(step, bij, h, out)
            h = out
        if self.split is None:
            return h
        if before is not None:
            before(self.split, h, _condition_for(self.split, condition))
        if visit is not None:
            bij = step_bijector(self.split, condition, inner=tfb.Identity())
            visit(self.split, bij, h, bij.inverse(h))
        kept, _ = tf.split(h, 2, axis=-1)
        return self.inner.walk(kept, condition, visit, before)

    def split_latent(self, z) -> list:
        """The latent (this level's shape) as one tensor per scale, factored-out first."""
        for f in self.squeezes:
            z = tf.nn.space_to_depth(z, f)
        if self.split is None:
            return [z]
        kept, out = tf.split(z, 2, axis=-1)
        return [out, *self.inner.split_latent(kept)]

    def merge_latent(self, parts, dtype=tf.float32):
        """The inverse of `split_latent`."""
        if self.split is None:
            z = tf.convert_to_tensor(parts[0], dtype)
        else:
            kept = self.inner.merge_latent(parts[1:], dtype)
            z = tf.concat([kept, tf.cast(parts[0], dtype)], axis=-1)
        for f in reversed(self.squeezes):
            z = tf.nn.depth_to_space(z, f)
        return z

    def layers(self) -> list:
        """Every flow layer (weights) of this level and the ones inside, data side first."""
        own = [s for s in self.steps if not isinstance(s, FIXED_STEPS)]
        if self.split is None:
            return own
        return [*own, self.split, *self.inner.layers()]

    def latent_shape(self, shape) -> tuple:
        """The latent's shape for data of `shape` (the flat size after a Flatten)."""
        if any(isinstance(s, Flatten) for s in self.steps):
            return (int(np.prod(shape)),)
        if self.inner is not None:
            return self.inner.latent_shape(shape)
        return tuple(shape)


class Builder:
    """Collects a family's steps in data-to-latent order into a `Level` tree.

        flow = Builder()
        flow.squeeze(2); flow.add(layer); ...; flow.split(factor_out_layer)
        flow.add(...)             # now inside the split's inner level
        root = flow.root

    `add` and `split` take Keras layers, built by the caller for the shape they see.
    """

    def __init__(self):
        self.root = Level()
        self._current = self.root

    def add(self, layer):
        self._current.steps.append(layer)
        return layer

    def squeeze(self, factor: int = 2):
        self._current.steps.append(Squeeze(factor))

    def permute(self, permutation):
        self._current.steps.append(Permute(permutation))

    def flatten(self, shape):
        self._current.steps.append(Flatten(shape))

    def split(self, layer):
        """Factors out half of the channels with `layer`; later steps act on the kept half."""
        self._current.split = layer
        self._current.inner = Level()
        self._current = self._current.inner
        return layer
