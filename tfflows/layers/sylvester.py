"""Keras layer owning a Sylvester flow's parameters."""

import keras

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer

VARIANTS = ("orthogonal", "householder", "triangular")


def _positive_or_none(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Sylvester: {name} must be a positive integer, got {value!r}")
    return value


@keras.saving.register_keras_serializable(package="tfflows")
class Sylvester(FlowLayer):
    """Sylvester flow step x = z + Q R1 tanh(R2 Q^T z + b) (see `tfflows.bijectors.Sylvester`)
    with trainable weights, for vectors [batch, D].

    The three variants of the paper differ in how Q is made:
      "orthogonal":  Q [D, M] from the QR factor of a learned D x M matrix (`orthogonal_q`);
      "householder": Q [D, D] the product of `num_reflections` learned reflections;
      "triangular":  Q [D, D] the identity, or the reversal of the axes when `reverse`
                     (alternate it between steps so that every coordinate mixes).

    Starts at the identity: r1 = 0 gives R1 = 0 (tanh(0) = 0 on its diagonal).

    Args:
      variant: "orthogonal", "householder" or "triangular".
      num_vectors: M, the columns of Q for the orthogonal variant (default D, at most D).
      num_reflections: H for the Householder variant.
      reverse: the triangular variant's permutation.

    Reference: van den Berg, Hasenclever, Tomczak, Welling, arXiv:1803.05649, Section 4.
    """

    condition_ranks = ()

    def __init__(
        self, variant="orthogonal", num_vectors=None, num_reflections=1, reverse=False, **kwargs
    ):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"Sylvester: variant must be one of {VARIANTS}, got {variant!r}")
        if num_vectors is not None and variant != "orthogonal":
            raise ValueError("Sylvester: num_vectors (M) is for the orthogonal variant; M = D")
        self.variant = variant
        self.num_vectors = _positive_or_none(num_vectors, "num_vectors")
        self.num_reflections = _positive_or_none(num_reflections, "num_reflections")
        self.reverse = bool(reverse)

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"Sylvester takes [batch, D] vectors with a known D, got input shape "
                f"{tuple(input_shape)}"
            )
        d = self.size = int(input_shape[-1])
        m = self.num_vectors or d
        if m > d:
            raise ValueError(f"Sylvester: num_vectors must be at most D = {d}, got {m}")
        if self.variant == "orthogonal":
            self.q_raw = self.add_weight(shape=(d, m), initializer="orthogonal", name="q_raw")
        elif self.variant == "householder":
            self.reflections = self.add_weight(
                shape=(self.num_reflections, d), initializer="random_normal", name="reflections"
            )
        self.r1 = self.add_weight(shape=(m, m), initializer="zeros", name="r1")
        self.r2 = self.add_weight(
            shape=(m, m), initializer=keras.initializers.RandomNormal(stddev=m**-0.5), name="r2"
        )
        self.b = self.add_weight(shape=(m,), initializer="zeros", name="b")

    def q(self):
        """Q from the current weights."""
        if self.variant == "orthogonal":
            return bijectors.orthogonal_q(self.q_raw.value)
        if self.variant == "householder":
            return bijectors.householder_q(self.reflections.value)
        return bijectors.permutation_q(self.size, self.reverse, dtype=self.r1.value.dtype)

    def bijector(self, condition=None):
        return bijectors.Sylvester(self.q(), self.r1.value, self.r2.value, self.b.value)

    def get_config(self):
        return {
            **super().get_config(),
            "variant": self.variant,
            "num_vectors": self.num_vectors,
            "num_reflections": self.num_reflections,
            "reverse": self.reverse,
        }
