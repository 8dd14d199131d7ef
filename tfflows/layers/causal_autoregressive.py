"""Keras layers owning the causal WaveNet of an autoregressive flow step over time."""

import keras
from keras import ops

from tfflows import bijectors
from tfflows.layers.flow_layer import FlowLayer
from tfflows.nets.causal_wavenet import CausalWaveNet, dilation_cycle


@keras.saving.register_keras_serializable(package="tfflows")
class CausalMaskedAutoregressive(FlowLayer):
    """A MAF step over time whose conditioner is a `CausalWaveNet`: a Gaussian WaveNet.

        inverse (audio -> noise, one parallel pass):  z_t = (x_t - mu_t(x_<t)) exp(-a_t(x_<t))
        forward (noise -> audio, T passes):           x_t = mu_t(x_<t) + exp(a_t(x_<t)) z_t

    a_t is the network's raw log-scale through `bijectors._util.saturate`: unchanged on
    [-6, 6] and never below -7, ClariNet's floor on the log-scale, which bounds the density
    at 7 - log(2 pi) / 2 = 6.08 nats per sample (digital silence cannot drive it to -inf).
    The bijector's event is a whole clip [T], for any T.

    Args:
      residual_channels, gate_channels, skip_channels, kernel_size, front_kernel: the
        network's sizes (see `tfflows.nets.CausalWaveNet`).
      layers_per_cycle, cycles: dilations 1, 2, ..., 2^(layers_per_cycle - 1), `cycles` times.
      log_scale_init: the network's initial raw log-scale.
      condition_shape: (K,) or None.

    References: van den Oord et al., arXiv:1609.03499; Ping et al., arXiv:1807.07281;
    Papamakarios et al., arXiv:1705.07057 (the MAF view).
    """

    condition_ranks = (1,)
    bijector_class = bijectors.MaskedAutoregressive

    def __init__(
        self,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 2,
        layers_per_cycle: int = 10,
        cycles: int = 2,
        front_kernel: int = 2,
        log_scale_init: float = 0.0,
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(condition_shape=condition_shape, **kwargs)
        self.residual_channels = int(residual_channels)
        self.gate_channels = int(gate_channels)
        self.skip_channels = int(skip_channels)
        self.kernel_size = int(kernel_size)
        self.layers_per_cycle = int(layers_per_cycle)
        self.cycles = int(cycles)
        self.front_kernel = int(front_kernel)
        self.log_scale_init = float(log_scale_init)
        self.net = CausalWaveNet(
            self.residual_channels,
            self.gate_channels,
            self.skip_channels,
            self.kernel_size,
            dilation_cycle(self.layers_per_cycle, self.cycles),
            self.front_kernel,
            self.log_scale_init,
            condition_shape=self.condition_shape,
            dtype=self.network_policy,
            name="wavenet",
        )

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} takes audio [batch, T], got input shape {input_shape}"
            )
        self.net.build(input_shape)
        self.built = True

    def params(self, x, condition=None):
        """(mu, raw log-scale), each [B, T], of the affine map at every step."""
        out = ops.cast(self.net(x, condition=condition), x.dtype)
        return out[..., 0], out[..., 1]

    def shift_and_log_scale_fn(self, condition=None):
        """The conditioner in the layout the MAF bijector takes: [B, 2T], shift first."""

        def fn(x):
            return ops.concatenate(self.params(x, condition), axis=-1)

        return fn

    def bijector(self, condition=None):
        return self.bijector_class(self.shift_and_log_scale_fn(condition), log_scale_bound=None)

    def get_config(self):
        return {
            **super().get_config(),
            "residual_channels": self.residual_channels,
            "gate_channels": self.gate_channels,
            "skip_channels": self.skip_channels,
            "kernel_size": self.kernel_size,
            "layers_per_cycle": self.layers_per_cycle,
            "cycles": self.cycles,
            "front_kernel": self.front_kernel,
            "log_scale_init": self.log_scale_init,
        }


@keras.saving.register_keras_serializable(package="tfflows")
class CausalInverseAutoregressive(CausalMaskedAutoregressive):
    """An IAF step over time, Parallel WaveNet's flow: the inverse of the MAF step above.

        forward (noise -> audio, one parallel pass):  x_t = (z_t - mu_t(z_<t)) exp(-a_t(z_<t))

    i.e. x_t = z_t s_t + m_t with s_t = exp(-a_t), m_t = -mu_t s_t, both functions of z_<t.

    Reference: van den Oord et al., "Parallel WaveNet", arXiv:1711.10433, Section 2.2.
    """

    bijector_class = bijectors.InverseAutoregressive
