"""VideoFlow's latent prior as a transform: autoregressive in time, top-down over scales."""

from collections.abc import Callable, Sequence

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import bounded_log_scale, record_forward_ldj, record_inverse_ldj


class LatentAutoregressive(FlowBijector):
    """Affine map of a sequence of multi-scale latents onto standard normals, causal in time.

    A frame's latent u_t is cut into scales u_t^1, ..., u_t^L (the factored-out parts of a
    multi-scale flow, finest first, the top last). Each scale gets a Gaussian given the
    earlier frames of that scale and this frame's higher scales:

        (mu, alpha)_t^l = f_l(u_<t^l, u_t^>l)
        inverse (latent -> noise, all frames at once):   e_t^l = (u_t^l - mu_t^l) exp(-alpha_t^l)
        forward (noise -> latent, frame by frame, top scale first):
                                                         u_t^l = mu_t^l + exp(alpha_t^l) e_t^l
        log|det du/de| = sum_t sum_l sum alpha_t^l

    The Jacobian is block-triangular in time and over scales, so the log-det is a sum of
    per-frame terms: with `event_ndims=3` it is returned per frame ([batch, T], the terms a
    model scores its predicted frames with), with `event_ndims=4` per sequence. Axis -4 is
    time: frames of one sequence are not independent examples.

    Args:
      conditioners: one callable per scale, finest first, `f_l(u^l, higher)` -> (shift, raw
        log-scale), each [B, T, ...] like u^l, where `higher` is `higher(parts, l)` ([B, T,
        ...], None for the top scale). The output at frame t must depend on u^l at frames
        < t and on `higher` at frames <= t only (`tfflows.nets` temporal priors are built so).
      split: u [B, H, W, C] -> list of scales (finest first), e.g. `Level.split_latent`.
      merge: the inverse of `split`.
      higher: (list of scales [B, ...], l) -> the tensor scale l is conditioned on (e.g. the
        inner level's latent merged from scales l+1..L), or None.

    Example (two scales of 2 channels, the finer conditioned on the top one):
      >>> priors = [nets.Conv3DPrior(2, higher_channels=2), nets.Conv3DPrior(2)]
      >>> bij = LatentAutoregressive(
      ...     [p.__call__ for p in priors],
      ...     split=lambda u: [u[..., :2], u[..., 2:]],
      ...     merge=lambda parts: tf.concat(parts, -1),
      ...     higher=lambda parts, l: parts[1] if l == 0 else None)
      >>> e = bij.inverse(u)            # u: [batch, T, h, w, 4]; all frames at once
      >>> u_again = bij.forward(e)      # frame by frame

    Reference: Kumar et al., "VideoFlow: A Conditional Flow-Based Model for Stochastic Video
    Generation", arXiv:1903.01434, Section 4.2 (the latent dynamics model).
    """

    def __init__(
        self,
        conditioners: Sequence[Callable],
        split: Callable,
        merge: Callable,
        higher: Callable,
        validate_args: bool = False,
        name: str = "latent_autoregressive",
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._conditioners = list(conditioners)
            self._split, self._merge, self._higher = split, merge, higher
            super().__init__(
                forward_min_event_ndims=3,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    # Frames are folded into the batch for the per-frame split/merge of the scales.
    def _parts(self, u):
        if u.shape.rank is not None and u.shape.rank != 5:
            raise ValueError(
                "LatentAutoregressive takes sequences of latents [batch, T, H, W, C], got "
                f"shape {u.shape}"
            )
        shape = tf.shape(u)
        parts = self._split(tf.reshape(u, tf.concat([[-1], shape[2:]], 0)))
        return [tf.reshape(p, tf.concat([shape[:2], tf.shape(p)[1:]], 0)) for p in parts]

    def _whole(self, parts, like):
        shape = tf.shape(like)
        folded = [tf.reshape(p, tf.concat([[-1], tf.shape(p)[2:]], 0)) for p in parts]
        return tf.reshape(self._merge(folded), shape)

    def _condition(self, parts, level):
        if level == len(parts) - 1:
            return None
        shape = tf.shape(parts[level])
        folded = [tf.reshape(p, tf.concat([[-1], tf.shape(p)[2:]], 0)) for p in parts]
        h = self._higher(folded, level)
        return tf.reshape(h, tf.concat([shape[:2], tf.shape(h)[1:]], 0))

    def _params(self, parts, level):
        shift, raw = self._conditioners[level](parts[level], self._condition(parts, level))
        return shift, bounded_log_scale(raw)

    def _inverse(self, y):
        parts = self._parts(y)
        noise, ildj = [], 0.0
        for level in range(len(parts)):
            shift, log_scale = self._params(parts, level)
            noise.append((parts[level] - shift) * tf.exp(-log_scale))
            ildj -= tf.reduce_sum(log_scale, axis=[-3, -2, -1])
        record_inverse_ldj(self, y, ildj)
        return self._whole(noise, y)

    def _forward(self, x):
        noise = self._parts(x)
        steps = tf.shape(x)[1]
        time = tf.reshape(tf.range(steps), [1, -1, 1, 1, 1])

        # Pass t fixes frame t, top scale first; later frames stay 0 until their turn, so a
        # value computed from an unfinished frame never enters the result.
        def step(t, parts, fldj):
            parts = list(parts)
            for level in reversed(range(len(parts))):
                shift, log_scale = self._params(parts, level)
                value = shift + tf.exp(log_scale) * noise[level]
                parts[level] = tf.where(tf.equal(time, t), value, parts[level])
                now = tf.cast(tf.equal(time[..., 0, 0, 0], t), log_scale.dtype)
                fldj += now * tf.reduce_sum(log_scale, axis=[-3, -2, -1])
            return t + 1, parts, fldj

        _, parts, fldj = tf.while_loop(
            lambda *_: True,
            step,
            (tf.constant(0), [tf.zeros_like(p) for p in noise], tf.zeros(tf.shape(x)[:2], x.dtype)),
            maximum_iterations=steps,
        )
        record_forward_ldj(self, x, fldj)
        return self._whole(parts, x)

    def _inverse_log_det_jacobian(self, y):
        parts = self._parts(y)
        return -tf.add_n(
            [
                tf.reduce_sum(self._params(parts, level)[1], axis=[-3, -2, -1])
                for level in range(len(parts))
            ]
        )

    def _forward_log_det_jacobian(self, x):
        return -self._inverse_log_det_jacobian(self.forward(x))
