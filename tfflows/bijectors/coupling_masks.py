"""Masks shared by the coupling bijectors (NICE additive, Real NVP / Glow affine).

A coupling layer leaves one part of its input unchanged and transforms the other part with
parameters computed from the unchanged part. Two ways of choosing the parts:

- "channel" (alias "half"): split the last axis into two halves. The conditioner sees only
  the conditioning half and returns parameters for the other half. Parity 0 conditions on
  the first half, parity 1 on the second. Real NVP's channel mask and Glow's split.
- "alternating" (vectors) / "checkerboard" (images): a binary mask `b` over the event; the
  conditioner sees `b * x` and returns parameters for every position, of which only the
  positions where `b == 0` are used. Real NVP's checkerboard mask.

Public because the coupling layers (`tfflows.layers`) size their conditioners with the same
rules. `CouplingBijector` is a mixin, not a Bijector: the coupling bijectors inherit it.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfflows.bijectors._util import record_forward_ldj, record_inverse_ldj, sum_event

__all__ = [
    "MASKS",
    "CouplingBijector",
    "binary_mask",
    "check_mask",
    "merge",
    "split",
    "split_sizes",
    "transformed_channels",
]

MASKS = ("channel", "half", "alternating", "checkerboard")


def check_mask(mask: str, parity: int, event_ndims: int) -> str:
    """The canonical mask name ("half" becomes "channel"), after checking that `mask` is one
    of MASKS, `parity` 0 or 1, and the mask fits events of `event_ndims` dimensions."""
    if mask not in MASKS:
        raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
    if parity not in (0, 1):
        raise ValueError(f"parity must be 0 or 1, got {parity!r}")
    if mask == "checkerboard" and event_ndims != 3:
        raise ValueError("the checkerboard mask needs image events (event_ndims=3, HWC)")
    if mask == "alternating" and event_ndims != 1:
        raise ValueError("the alternating mask needs vector events (event_ndims=1)")
    return "channel" if mask == "half" else mask


def split_sizes(channels: int) -> tuple[int, int]:
    """Sizes (first, second) of the channel split; the first half takes the extra channel."""
    if channels < 2:
        raise ValueError(f"a channel coupling needs at least 2 channels, got {channels}")
    first = (channels + 1) // 2
    return first, channels - first


def binary_mask(mask: str, parity: int, event_shape: Sequence[int], dtype: tf.DType) -> tf.Tensor:
    """The 0/1 mask (1 = conditioning position) for the alternating and checkerboard masks."""
    if mask == "alternating":
        (d,) = event_shape
        b = (np.arange(d) % 2 == parity).astype(np.float64)
    else:
        h, w, c = event_shape
        grid = (np.arange(h)[:, None] + np.arange(w)[None, :]) % 2 == parity
        b = np.repeat(grid[:, :, None], c, axis=2).astype(np.float64)
    return tf.constant(b, dtype=dtype)


def split(x: tf.Tensor, parity: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Returns (conditioning part, transformed part) for the channel mask."""
    first, second = split_sizes(x.shape[-1])
    a, b = tf.split(x, [first, second], axis=-1)
    return (a, b) if parity == 0 else (b, a)


def merge(cond: tf.Tensor, trans: tf.Tensor, parity: int) -> tf.Tensor:
    """The inverse of `split`: the channel-mask parts back in their places."""
    return tf.concat([cond, trans] if parity == 0 else [trans, cond], axis=-1)


def transformed_channels(mask: str, parity: int, channels: int) -> int:
    """How many channels the conditioner's parameters describe (per parameter kind)."""
    if mask == "channel":
        first, second = split_sizes(channels)
        return second if parity == 0 else first
    return channels


class CouplingBijector:
    """Mixin with the forward/inverse of a coupling: subclasses define `_transform_params`.

    `_transform_params(h)` turns the conditioner's output `h` into `(shift, log_scale)` for the
    transformed part (`log_scale` None for a volume-preserving coupling). The transformed
    part maps data to latent as `z2 = x2 * exp(log_scale) + shift`, so the forward (latent to
    data) map is `x2 = (z2 - shift) * exp(-log_scale)`.
    """

    def _coupling_init(self, conditioner, mask, parity, event_ndims):
        self._conditioner = conditioner
        self._mask = check_mask(mask, parity, event_ndims)
        self._parity = parity
        self._event_ndims = event_ndims

    @property
    def conditioner(self):
        return self._conditioner

    def _params(self, x_cond):
        shift, log_scale = self._transform_params(self._conditioner(x_cond))
        return shift, log_scale

    def _ldj(self, log_scale, keep):
        if log_scale is None:
            return None
        if keep is not None:
            log_scale = log_scale * (1.0 - keep)
        return sum_event(log_scale, self._event_ndims)

    def _apply(self, x, direction):
        """direction +1: data -> latent (inverse); -1: latent -> data (forward)."""
        if self._mask == "channel":
            x_cond, x_trans = split(x, self._parity)
            shift, log_scale = self._params(x_cond)
            keep = None
        else:
            keep = binary_mask(self._mask, self._parity, x.shape[-self._event_ndims :], x.dtype)
            shift, log_scale = self._params(x * keep)
            x_trans = x
        if direction > 0:
            y = x_trans * tf.exp(log_scale) + shift if log_scale is not None else x_trans + shift
        else:
            y = (x_trans - shift) * tf.exp(-log_scale) if log_scale is not None else x_trans - shift
        if keep is None:
            out = merge(x_cond, y, self._parity)
        else:
            out = keep * x + (1.0 - keep) * y
        ldj = self._ldj(log_scale, keep)
        if ldj is not None and direction < 0:
            ldj = -ldj
        return out, ldj

    def _inverse(self, y):
        x, ildj = self._apply(y, +1)
        if ildj is not None:
            record_inverse_ldj(self, y, ildj)
        return x

    def _forward(self, x):
        y, fldj = self._apply(x, -1)
        if fldj is not None:
            record_forward_ldj(self, x, fldj)
        return y

    def _inverse_log_det_jacobian(self, y):
        return self._apply(y, +1)[1]

    def _forward_log_det_jacobian(self, x):
        return self._apply(x, -1)[1]
