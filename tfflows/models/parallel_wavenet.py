"""Parallel WaveNet's student: inverse autoregressive flows over time, sampled in one pass."""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import layers
from tfflows.bijectors._util import saturate
from tfflows.models import arguments
from tfflows.models.arguments import count
from tfflows.models.audio_model import AudioModel

tfb = tfp.bijectors
tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tfflows")
class ParallelWaveNet(AudioModel, keras.Model):
    """K inverse autoregressive flows over time from white noise (van den Oord et al. 2017,
    "Parallel WaveNet", arXiv:1711.10433; the Gaussian form of ClariNet, arXiv:1807.07281):

        x^0 = z ~ N(0, I),   x^i_t = x^{i-1}_t s^i_t + m^i_t,   (m^i, s^i) from x^{i-1}_<t
        x = x^K = z * s_t + mu_t  with  s_t = prod_i s^i_t,  mu_t = sum_i m^i_t prod_{j>i} s^j_t

    Every flow is a `tfflows.layers.CausalInverseAutoregressive` (a WaveNet over its input,
    s^i = exp(-a^i), m^i = -mu^i s^i), so all T steps run in parallel. Since mu_t and s_t
    depend on z_<t only, x_t given z_<t is N(mu_t, s_t^2): `sample_and_params` returns them,
    and density distillation (`tfflows.distill.DensityDistillation`) compares them with the
    teacher's Gaussians in closed form. log q(x) = sum_t [log N(z_t; 0, 1) - log s_t].

    The first flow's scale starts at `initial_scale` (the others at 1, all shifts at 0), so an
    untrained student draws white noise at about the loudness of speech, not at 1.

    Args:
      num_flows: K (4 in Parallel WaveNet).
      layers_per_flow: dilated layers per flow, dilations 1, 2, ..., 2^(layers - 1).
      residual_channels, gate_channels, skip_channels, kernel_size, front_kernel: each
        flow's WaveNet (kernel 3 as in Parallel WaveNet; 24 channels, not the papers' 64,
        so that sampling stays >= 10x faster than the cached teacher on a 2-core CPU:
        `python -m bench.audio_sampling`).
      initial_scale: the student's initial standard deviation.
      num_classes, sample_rate: as `WaveNet`; a student and its teacher share them.
    """

    def __init__(
        self,
        num_flows: int = 4,
        layers_per_flow: int = 8,
        residual_channels: int = 24,
        gate_channels: int = 24,
        skip_channels: int = 24,
        kernel_size: int = 3,
        front_kernel: int = 2,
        initial_scale: float = 0.1,
        num_classes: int | None = None,
        sample_rate: int = 8000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_audio(num_classes, sample_rate)
        if not 0 < float(initial_scale) < math.exp(6):
            raise ValueError(f"initial_scale must be in (0, e^6), got {initial_scale!r}")
        self.initial_scale = float(initial_scale)
        self.num_flows = count(num_flows, "num_flows")
        self.flows = []
        for i in range(self.num_flows):
            flow = layers.CausalInverseAutoregressive(
                count(residual_channels, "residual_channels"),
                count(gate_channels, "gate_channels"),
                count(skip_channels, "skip_channels"),
                count(kernel_size, "kernel_size"),
                count(layers_per_flow, "layers_per_flow"),
                1,
                count(front_kernel, "front_kernel"),
                log_scale_init=-math.log(self.initial_scale) if i == 0 else 0.0,
                condition_shape=self.condition_shape,
                name=f"flow_{i}",
            )
            flow.build((None, None))
            self.flows.append(flow)
        self._compiled = {}
        self.built = True

    @property
    def receptive_field(self) -> int:
        """How many past noise samples x_t depends on."""
        return sum(f.net.receptive_field for f in self.flows)

    def bijector(self, condition=None) -> tfb.Bijector:
        """The student as one bijector, noise -> audio (forward: one pass per flow; inverse:
        T passes per flow). `condition` is the networks' (checked) condition."""
        return tfb.Chain([f.bijector(condition) for f in reversed(self.flows)])

    def transform(self, z, condition=None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(x, mu, log s), each [N, T]: the flows applied to noise z, and the closed-form
        Gaussian of x_t given z_<t (x = z * exp(log s) + mu). `condition`: the networks'."""
        h = z
        mu_total = tf.zeros_like(z)
        log_scale_total = tf.zeros_like(z)
        for flow in self.flows:
            mu, raw = flow.params(h, condition)
            a = saturate(raw)
            scale = tf.exp(-a)
            h = (h - mu) * scale
            mu_total = (mu_total - mu) * scale
            log_scale_total = log_scale_total - a
        return h, mu_total, log_scale_total

    def _transform(self, z, c):
        """`transform`, compiled with XLA once per condition kind when called eagerly (an
        eager pass dispatches every op from Python and is several times slower)."""
        if not tf.executing_eagerly():
            return self.transform(z, c)
        key = c is not None
        if key not in self._compiled:
            self._compiled[key] = tf.function(self.transform, jit_compile=True)
        return self._compiled[key](z, c)

    def sample_and_params(
        self, n=None, length=None, seed=None, condition=None, noise=None, temperature=1.0
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(x, mu, log s), each [n, length]: samples and the Gaussians of each x_t given the
        noise before t. Give `noise` [n, length] or (`n`, `length`, `seed`)."""
        if noise is None:
            n, length = arguments.sample_count(n), self._length(length)
            noise = self.draw_noise(n, length, seed)
        noise, c, rows, valid = self._audio(noise, condition, "noise", audio=False)
        temperature = arguments.temperature(temperature)
        x, mu, log_scale = self._transform(noise * tf.cast(temperature, noise.dtype), c)
        return tuple(arguments.masked(v, rows, valid) for v in (x, mu, log_scale))

    def sample(
        self,
        n: int | tf.Tensor,
        length: int | tf.Tensor,
        seed: int | tf.Tensor | None = None,
        condition=None,
        temperature: float | tf.Tensor = 1.0,
    ) -> tf.Tensor:
        """n clips of `length` samples, float32 [n, length], in one parallel pass per flow
        (not clipped to [-1, 1]). Temperature 0 gives each step's mean mu_t (less hiss)."""
        return self.sample_and_params(n, length, seed, condition, temperature=temperature)[0]

    def sample_and_log_prob(
        self, n: int, length: int, seed: int | None = None, condition=None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(clips [n, length], log q(clip) [n]) in one pass: the log-density of the student's
        own samples is exact and cheap (log q = sum log N(z) - sum log s)."""
        n, length = arguments.sample_count(n), self._length(length)
        noise = self.draw_noise(n, length, seed)
        x, _, log_scale = self.sample_and_params(noise=noise, condition=condition)
        base = tfd.Normal(tf.constant(0.0, noise.dtype), 1.0).log_prob(noise)
        return x, tf.reduce_sum(base - log_scale, axis=-1)

    def log_prob(self, x, condition=None) -> tf.Tensor:
        """[N]: log q(x) of any clips, through the flows' inverses: sequential, T network
        passes per flow (an IAF scores other data slowly; use it on short clips)."""
        x, c, n, valid = self._audio(x, condition)
        bij = self.bijector(c)
        z = bij.inverse(x)
        base = tf.reduce_sum(tfd.Normal(tf.constant(0.0, x.dtype), 1.0).log_prob(z), axis=-1)
        return arguments.masked(base + bij.inverse_log_det_jacobian(x, event_ndims=1), n, valid)

    def encode(self, x, condition=None) -> tf.Tensor:
        """Clips -> noise (sequential, see `log_prob`)."""
        x, c, n, valid = self._audio(x, condition)
        return arguments.masked(self.bijector(c).inverse(x), n, valid)

    def decode(self, z, condition=None) -> tf.Tensor:
        """Noise [N, T] -> clips, one pass per flow."""
        return self.sample_and_params(noise=z, condition=condition)[0]

    def call(self, inputs, training=False):
        z, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.decode(z, c)

    def get_config(self):
        first = self.flows[0]
        return {
            **super().get_config(),
            "num_flows": self.num_flows,
            "layers_per_flow": first.layers_per_cycle,
            "residual_channels": first.residual_channels,
            "gate_channels": first.gate_channels,
            "skip_channels": first.skip_channels,
            "kernel_size": first.kernel_size,
            "front_kernel": first.front_kernel,
            "initial_scale": self.initial_scale,
            "num_classes": self.num_classes,
            "sample_rate": self.sample_rate,
        }
