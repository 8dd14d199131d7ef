"""The data a model scores and the continuous space its flow works in.

- data: what data sets store; with `num_bits` set, integer pixel values 0..255.
- continuous space: dequantized data scaled to [-0.5, 0.5) ("centered", Glow) or [0, 1)
  ("unit", and "logit" where a Logit bijector is the flow's first step). Without
  `num_bits`, the data itself. `log_prob`, `sample` and `decode` live here.
- latent: standard normal; the flow maps the continuous space to it.

The log-likelihood of the data counts the scaling's log-det, so bits/dim compares with the
literature:

    nll(x) = -log p(y) + D * num_bits * log 2      (nats per example)
    bits/dim = nll(x) / (D log 2)
"""

import math

import numpy as np
import tensorflow as tf

from tfflows import bijectors
from tfflows.data.quantization import dequantize, reduce_bits, to_uint8
from tfflows.data.validation import Space, check_array, check_tensor

PREPROCESSING = ("centered", "unit", "logit")
_DESCRIPTIONS = {
    "centered": "pixels / 2^bits - 0.5, the centered space of Glow",
    "unit": "pixels / 2^bits",
    "logit": "pixels / 2^bits, then a logit inside the model",
}


class DataSpace:
    """A model's data: its example shape, bits, and continuous space.

    Args:
      shape: shape of one example.
      num_bits: bits per value of discrete data, None for continuous data, or "auto":
        8 for image shapes (H, W, C), None for vectors.
      preprocessing: "centered", "unit" or "logit" (discrete data only).
      logit_alpha: alpha of the logit preprocessing.
    """

    def __init__(self, shape, num_bits="auto", preprocessing="centered", logit_alpha=0.05):
        self.shape = tuple(shape)
        if num_bits == "auto":
            num_bits = 8 if len(self.shape) == 3 else None
        if num_bits is not None and not 1 <= int(num_bits) <= 8:
            raise ValueError(f"num_bits must be None or in 1..8, got {num_bits}")
        self.num_bits = None if num_bits is None else int(num_bits)
        if preprocessing not in PREPROCESSING:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {preprocessing!r}")
        self.preprocessing = preprocessing
        self.logit_alpha = float(logit_alpha)

    @property
    def size(self) -> int:
        """D, the number of values of one example."""
        return int(np.prod(self.shape))

    @property
    def low(self) -> float:
        return -0.5 if self.preprocessing == "centered" else 0.0

    @property
    def space(self) -> Space | None:
        """The continuous space of discrete data, or None for continuous data."""
        if self.num_bits is None:
            return None
        return Space(self.low, self.low + 1.0, _DESCRIPTIONS[self.preprocessing])

    def preprocessor(self) -> list:
        """Bijectors between the continuous space and the flow's input (data side first)."""
        if self.num_bits is not None and self.preprocessing == "logit":
            return [bijectors.Logit(self.logit_alpha)]
        return []

    def to_continuous(self, x, seed=None, offset=0, global_batch=None, dtype=tf.float32):
        """Data -> continuous space (see `FlowModel.to_continuous`)."""
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_integer:
            return tf.cast(x, dtype)
        if self.num_bits is None:
            raise ValueError(
                "this model is for continuous data (num_bits=None) but got integers: pass "
                "floats, or build the model with num_bits=8 for 8-bit pixels"
            )
        if isinstance(seed, str) and seed == "center":
            pixels = reduce_bits(x, self.num_bits) + 0.5
        else:
            seed = (0, 0) if seed is None else seed
            pixels = dequantize(x, self.num_bits, seed, offset, global_batch)
        scale = bijectors.PixelScale(self.num_bits, centered=self.preprocessing == "centered")
        return tf.cast(scale.inverse(pixels), dtype)

    def to_uint8(self, x):
        if self.num_bits is None:
            raise ValueError("to_uint8 is for discrete (num_bits) models")
        return to_uint8(x, self.num_bits, low=self.low)

    def clip(self, x):
        """Continuous values onto the space (discrete data); unchanged for continuous data."""
        if self.num_bits is None:
            return x
        return tf.clip_by_value(x, self.low, self.low + 1.0)

    def check_array(self, x, name="x", allow_empty=False) -> np.ndarray:
        return check_array(x, self.shape, self.num_bits, name, self.space, allow_empty)

    def check_tensor(self, x, name="x"):
        return check_tensor(x, self.shape, self.num_bits, name, self.space)

    def nll_from_log_prob(self, log_prob):
        """The data's negative log-likelihood in nats per example (see the module doc)."""
        bits = 0.0 if self.num_bits is None else float(self.num_bits)
        return -log_prob + self.size * bits * math.log(2.0)

    def bits_from_nll(self, nll):
        return nll / (self.size * math.log(2.0))
