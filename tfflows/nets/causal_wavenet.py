"""WaveNet's network: gated dilated causal convolutions with residual and skip paths."""

import math

import keras
from keras import ops

from tfflows.nets.conditions import check_condition_shape, require_condition, zeros


def dilation_cycle(layers_per_cycle: int, cycles: int) -> list[int]:
    """[1, 2, 4, ..., 2^(L-1)] repeated `cycles` times, WaveNet's dilation schedule."""
    return [2**i for i in range(layers_per_cycle)] * cycles


@keras.saving.register_keras_serializable(package="tfflows")
class CausalWaveNet(keras.layers.Layer):
    """Audio x [B, T] -> per-step (mu, raw log-scale) [B, T, 2], output t from x_<t only.

        h^0 = front(shift(x))                      shift(x)_t = x_{t-1}, shift(x)_0 = 0
        f, g = dilated_causal_conv_l(h^{l-1}) + V_l c
        u = tanh(f) * sigmoid(g)
        h^l = (h^{l-1} + W_res u) / sqrt(2),   skip += W_skip u
        (mu, raw) = W_2 relu(W_1 relu(skip))

    The one-sample shift makes the output strictly causal, so (mu_t, raw_t) parametrise
    p(x_t | x_<t) (a MAF over time: `tfflows.layers.CausalMaskedAutoregressive`) or, fed
    with noise, an IAF step over time (`CausalInverseAutoregressive`). The last layer
    starts at zero with the log-scale bias `log_scale_init`, so a flow step starts as a
    fixed affine map. A condition vector c (e.g. a one-hot digit) enters every gate.

    Args:
      residual_channels, gate_channels, skip_channels: the widths R, G, S.
      kernel_size: k of the dilated convolutions (2 in WaveNet, 3 in Parallel WaveNet).
      dilations: one dilation per gated layer (default: 1..512 twice, `dilation_cycle(10, 2)`).
      front_kernel: kernel of the first (causal) convolution from 1 to R channels.
      log_scale_init: the initial raw log-scale (the output's bias).
      condition_shape: (K,) or None.

    The receptive field is front_kernel + (k - 1) * sum(dilations) samples before t.

    References: van den Oord et al., "WaveNet", arXiv:1609.03499, Sections 2.1-2.5; Ping
    et al., "ClariNet", arXiv:1807.07281, Section 3 (Gaussian output).
    """

    def __init__(
        self,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 2,
        dilations: list[int] | None = None,
        front_kernel: int = 2,
        log_scale_init: float = 0.0,
        condition_shape: tuple | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.residual_channels = int(residual_channels)
        self.gate_channels = int(gate_channels)
        self.skip_channels = int(skip_channels)
        self.kernel_size = int(kernel_size)
        self.dilations = [int(d) for d in (dilations or dilation_cycle(10, 2))]
        self.front_kernel = int(front_kernel)
        self.log_scale_init = float(log_scale_init)
        self.condition_shape = check_condition_shape(condition_shape, (1,), "CausalWaveNet")
        sizes = (self.residual_channels, self.gate_channels, self.skip_channels)
        if min(sizes) < 1 or self.kernel_size < 1 or self.front_kernel < 1:
            raise ValueError(f"CausalWaveNet needs positive widths and kernels, got {sizes}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be whole numbers >= 1, got {self.dilations}")
        policy = self.dtype_policy
        conv = keras.layers.Conv1D
        self.front = conv(
            self.residual_channels, self.front_kernel, padding="causal", dtype=policy, name="front"
        )
        self.gates, self.mixes, self.cond_projs = [], [], []
        for i, d in enumerate(self.dilations):
            self.gates.append(
                conv(
                    2 * self.gate_channels,
                    self.kernel_size,
                    dilation_rate=d,
                    padding="causal",
                    dtype=policy,
                    name=f"gate_{i}",
                )
            )
            # One 1x1 convolution gives both the residual and the skip output.
            self.mixes.append(
                keras.layers.Dense(
                    self.residual_channels + self.skip_channels, dtype=policy, name=f"mix_{i}"
                )
            )
            if self.condition_shape is not None:
                self.cond_projs.append(
                    keras.layers.Dense(
                        2 * self.gate_channels, use_bias=False, dtype=policy, name=f"cond_{i}"
                    )
                )
        self.head_hidden = keras.layers.Dense(self.skip_channels, dtype=policy, name="head_hidden")
        self.head_out = keras.layers.Dense(
            2,
            kernel_initializer=zeros(),
            bias_initializer=keras.initializers.Constant([0.0, self.log_scale_init]),
            dtype=policy,
            name="head_out",
        )

    @property
    def receptive_field(self) -> int:
        """How many past samples output t can see."""
        return self.front_kernel + (self.kernel_size - 1) * sum(self.dilations)

    def build(self, input_shape):
        rank3 = (None, None, 1)
        self.front.build(rank3)
        for gate, mix in zip(self.gates, self.mixes, strict=True):
            gate.build((None, None, self.residual_channels))
            mix.build((None, None, self.gate_channels))
        for proj in self.cond_projs:
            proj.build((None, *self.condition_shape))
        self.head_hidden.build((None, None, self.skip_channels))
        self.head_out.build((None, None, self.skip_channels))
        self.built = True

    def call(self, x, condition=None):
        require_condition(self, condition)
        x = ops.cast(x, self.compute_dtype)
        shifted = ops.pad(x, [[0, 0], [1, 0]])[:, :-1]
        h = self.front(shifted[..., None])
        skip = 0.0
        for i, (gate, mix) in enumerate(zip(self.gates, self.mixes, strict=True)):
            a = gate(h)
            if condition is not None:
                a = a + self.cond_projs[i](ops.cast(condition, self.compute_dtype))[:, None, :]
            f, g = ops.split(a, 2, axis=-1)
            out = mix(ops.tanh(f) * ops.sigmoid(g))
            res, s = out[..., : self.residual_channels], out[..., self.residual_channels :]
            h = (h + res) * math.sqrt(0.5)
            skip = skip + s
        return self.head_out(ops.relu(self.head_hidden(ops.relu(skip))))

    def compute_output_shape(self, input_shape):
        return (*input_shape, 2)

    def get_config(self):
        return {
            **super().get_config(),
            "residual_channels": self.residual_channels,
            "gate_channels": self.gate_channels,
            "skip_channels": self.skip_channels,
            "kernel_size": self.kernel_size,
            "dilations": self.dilations,
            "front_kernel": self.front_kernel,
            "log_scale_init": self.log_scale_init,
            "condition_shape": self.condition_shape,
        }
