"""Inverse autoregressive flow (IAF): a MAF turned around."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfflows.bijectors.masked_autoregressive import MaskedAutoregressive

tfb = tfp.bijectors


class InverseAutoregressive(tfb.Invert):
    """IAF: `tfb.Invert` of a `MaskedAutoregressive` transform over the same network.

    With (mu, alpha) = f(z) from an autoregressive network:

        forward (latent -> data, one pass):   x_i = z_i * exp(-alpha_i(z_<i)) + ... (see below)
        inverse (data -> latent, D passes):   sequential

    Precisely, forward(z) = MAF.inverse(z) = (z - mu(z)) * exp(-alpha(z)): sampling is one
    network pass, scoring data is sequential. Kingma et al. write the same step as
    z' = sigma * z + (1 - sigma) * m; both are affine maps with autoregressive parameters.

    Args:
      shift_and_log_scale_fn: autoregressive callable z [..., D] -> h [..., 2D].
      log_scale_bound: as in `MaskedAutoregressive`.

    Reference: Kingma et al., "Improved Variational Inference with Inverse Autoregressive
    Flow", arXiv:1606.04934, Section 4; Papamakarios et al., arXiv:1705.07057, Section 3.3.
    """

    def __init__(
        self,
        shift_and_log_scale_fn,
        log_scale_bound=None,
        validate_args=False,
        name="inverse_autoregressive",
    ):
        with tf.name_scope(name) as name:
            maf = MaskedAutoregressive(
                shift_and_log_scale_fn,
                log_scale_bound=log_scale_bound,
                validate_args=validate_args,
            )
            super().__init__(maf, validate_args=validate_args, name=name)
