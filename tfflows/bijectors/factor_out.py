"""The multi-scale split of Real NVP / Glow, with Glow's learned conditional prior."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import (
    bounded_log_scale,
    record_forward_ldj,
    record_inverse_ldj,
    sum_event,
)


class FactorOut(FlowBijector):
    """Factors out half of the channels with a learned Gaussian prior conditioned on the rest.

    The channels are split into x1 (kept, first half) and x2 (factored out). Glow models
    x2 ~ N(mu(x1), sigma(x1)^2); written as a bijector onto a standard normal:

        inverse (data -> latent):  z1 = inner^{-1}(x1),  z2 = (x2 - mu(x1)) / sigma(x1)
        forward (latent -> data):  x1 = inner(z1),       x2 = mu(x1) + sigma(x1) * z2
        log|det dz/dx| = log|det d inner^{-1}/dx1| - sum(log sigma(x1))

    `inner` is the rest of the flow (the next levels), applied to the kept half only; it must
    keep that half's shape (end the inner levels with an unsqueeze). So a whole multi-scale
    flow is one bijector over one standard-normal latent of the data's shape.

    Args:
      prior_fn: callable x1 -> h with 2 * C2 channels (mean first, raw log-scale second).
        A zero-initialised network gives N(0, 1), i.e. the identity on x2.
      inner: bijector for the kept half, or None for the identity.
      log_scale_bound: bound on log sigma (soft tanh clamp); None: Glow's unbounded log sigma,
        except that values beyond +-6 saturate (`saturate`) so that exp() cannot overflow.
      event_ndims: 3 for HWC images, 1 for vectors.

    Reference: Kingma, Dhariwal, "Glow", arXiv:1807.03039, Section 3 and the "split2d" of its
    code; Dinh et al., "Real NVP", arXiv:1605.08803, Section 3.6 (multi-scale architecture).
    """

    def __init__(
        self,
        prior_fn,
        inner=None,
        log_scale_bound=None,
        event_ndims=3,
        validate_args=False,
        name="factor_out",
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._prior_fn = prior_fn
            self._inner = inner if inner is not None else tfp.bijectors.Identity()
            self._log_scale_bound = log_scale_bound
            self._event_ndims = event_ndims
            super().__init__(
                forward_min_event_ndims=event_ndims,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    @property
    def inner(self):
        return self._inner

    def _split(self, x):
        c = x.shape[-1]
        if c is None or c < 2 or c % 2:
            raise ValueError(f"FactorOut needs an even number of channels, got {c}")
        return tf.split(x, 2, axis=-1)

    def _prior(self, x1):
        mean, raw = tf.split(self._prior_fn(x1), 2, axis=-1)
        return mean, bounded_log_scale(raw, self._log_scale_bound)

    def _inverse(self, y):
        x1, x2 = self._split(y)
        mean, log_scale = self._prior(x1)
        z2 = (x2 - mean) * tf.exp(-log_scale)
        z1 = self._inner.inverse(x1)
        ildj = self._inner.inverse_log_det_jacobian(x1, self._event_ndims) - sum_event(
            log_scale, self._event_ndims
        )
        record_inverse_ldj(self, y, ildj)
        return tf.concat([z1, z2], axis=-1)

    def _forward(self, x):
        z1, z2 = self._split(x)
        x1 = self._inner.forward(z1)
        mean, log_scale = self._prior(x1)
        fldj = self._inner.forward_log_det_jacobian(z1, self._event_ndims) + sum_event(
            log_scale, self._event_ndims
        )
        record_forward_ldj(self, x, fldj)
        return tf.concat([x1, mean + tf.exp(log_scale) * z2], axis=-1)

    def _inverse_log_det_jacobian(self, y):
        x1, _ = self._split(y)
        _, log_scale = self._prior(x1)
        return self._inner.inverse_log_det_jacobian(x1, self._event_ndims) - sum_event(
            log_scale, self._event_ndims
        )

    def _forward_log_det_jacobian(self, x):
        return -self._inverse_log_det_jacobian(self.forward(x))
