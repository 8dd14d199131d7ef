"""WaveNet: a Gaussian autoregressive flow over the samples of a clip."""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors, layers
from tfflows.bijectors._util import saturate
from tfflows.models import arguments
from tfflows.models.arguments import count
from tfflows.models.audio_model import AudioModel
from tfflows.models.keras_training import KerasTraining
from tfflows.nets.cached_sampler import sample_cached

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tfflows")
class WaveNet(AudioModel, KerasTraining, keras.Model):
    """WaveNet with a Gaussian output (van den Oord et al. 2016, arXiv:1609.03499; the
    Gaussian of ClariNet, Ping et al. 2018, arXiv:1807.07281), written as a MAF over time:

        p(x) = prod_t N(x_t; mu_t(x_<t), exp(a_t(x_<t))^2)
        log p(x) = sum_t [log N(z_t; 0, 1) - a_t],  z_t = (x_t - mu_t) exp(-a_t)

    with (mu, a) from a `tfflows.nets.CausalWaveNet` (a floored at -7). Scoring a clip is
    one parallel pass; sampling is sequential, one step per sample, with Fast WaveNet's
    per-layer caches in one XLA-compiled loop (`tfflows.nets.sample_cached`).

    Clips are float32 [N, T] in [-1, 1], any T; `log_prob` is in nats per clip, `nll` and
    `nats_per_sample` per sample. With `num_classes` the model is conditioned on a label per
    clip (e.g. the spoken digit), which enters every gate.

    Args:
      residual_channels, gate_channels, skip_channels: the widths (64 each by default).
      kernel_size: of the dilated convolutions (2).
      layers_per_cycle, cycles: dilations 1..2^(layers_per_cycle - 1), `cycles` times
        (10 and 2: 20 layers, a receptive field of 2,048 samples, 256 ms at 8 kHz).
      front_kernel: of the first causal convolution.
      num_classes: labels to condition on, or None.
      sample_rate: of the audio, in Hz (metadata for WAV files and reports).
    """

    def __init__(
        self,
        residual_channels: int = 64,
        gate_channels: int = 64,
        skip_channels: int = 64,
        kernel_size: int = 2,
        layers_per_cycle: int = 10,
        cycles: int = 2,
        front_kernel: int = 2,
        num_classes: int | None = None,
        sample_rate: int = 8000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._init_audio(num_classes, sample_rate)
        self.step = layers.CausalMaskedAutoregressive(
            count(residual_channels, "residual_channels"),
            count(gate_channels, "gate_channels"),
            count(skip_channels, "skip_channels"),
            count(kernel_size, "kernel_size"),
            count(layers_per_cycle, "layers_per_cycle"),
            count(cycles, "cycles"),
            count(front_kernel, "front_kernel"),
            condition_shape=self.condition_shape,
            name="wavenet",
        )
        self.step.build((None, None))
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self._compiled = {}
        self.built = True

    @classmethod
    def for_data(cls, x, **overrides) -> "WaveNet":
        """A model for clips like `x` ([N, T]; T is not fixed)."""
        if np.ndim(x) != 2:
            raise ValueError(f"WaveNet models clips [N, T], got shape {np.shape(x)}")
        return cls(**overrides)

    @classmethod
    def from_shape(cls, shape, **overrides) -> "WaveNet":
        """A model for clips of `shape` (T,) (any T)."""
        if len(tuple(shape)) != 1:
            raise ValueError(f"WaveNet models clips of shape (T,), got {tuple(shape)}")
        return cls(**overrides)

    @property
    def net(self):
        return self.step.net

    @property
    def receptive_field(self) -> int:
        """How many past samples one step sees."""
        return self.net.receptive_field

    # ----------------------------------------------------------------- the flow
    def bijector(self, condition=None) -> bijectors.MaskedAutoregressive:
        """The flow over a clip [T]: noise -> audio (forward, T passes), audio -> noise
        (inverse, one pass). `condition` is the networks' (checked) condition."""
        return self.step.bijector(condition)

    def params(self, x, condition=None) -> tuple[tf.Tensor, tf.Tensor]:
        """(mu, log-scale) [N, T] of p(x_t | x_<t) at every step of clips `x`, teacher-forced
        in one pass (what density distillation scores a student's samples with)."""
        x, c, n, valid = self._audio(x, condition)
        mu, raw = self.step.params(x, c)
        return arguments.masked(mu, n, valid), arguments.masked(saturate(raw), n, valid)

    def gaussians(self, y, c=None) -> tuple[tf.Tensor, tf.Tensor]:
        """(mu, log-scale) [N, T] at every step of any real-valued y (not checked against
        [-1, 1]: a student's samples may stray), given the networks' condition tensor c."""
        mu, raw = self.step.params(tf.cast(y, self.compute_dtype), c)
        return mu, saturate(raw)

    def _log_prob(self, x, c):
        bij = self.bijector(c)
        z = bij.inverse(x)
        base = tf.reduce_sum(tfd.Normal(tf.constant(0.0, x.dtype), 1.0).log_prob(z), axis=-1)
        return base + bij.inverse_log_det_jacobian(x, event_ndims=1)

    def log_prob(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: log p(x) of clips [N, T], in nats per clip (a density: audio is continuous)."""
        x, c, n, valid = self._audio(x, condition)
        return arguments.masked(self._log_prob(x, c), n, valid)

    def nll(self, x, condition=None, seed=None, offset=0, global_batch=None) -> tf.Tensor:
        """[N]: -log p(x) / T, nats per sample: the loss `fit` and `tfflows.train` minimise."""
        x, c, n, valid = self._audio(x, condition)
        nll = -self._log_prob(x, c) / tf.cast(tf.shape(x)[1], x.dtype)
        return arguments.masked(nll, n, valid)

    def nats_per_sample(self, x, condition=None) -> tf.Tensor:
        """[N]: -log p(x) / T."""
        return self.nll(x, condition)

    def bits_from_nll(self, nll):
        """Bits per sample from nats per sample."""
        return nll / math.log(2.0)

    def bits_per_dim(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: -log2 p(x) / T, bits per sample."""
        return self.bits_from_nll(self.nll(x, condition))

    def encode(self, x, condition=None) -> tf.Tensor:
        """Clips -> their noise z [N, T] (standard normal under the model), one pass."""
        x, c, n, valid = self._audio(x, condition)
        return arguments.masked(self.bijector(c).inverse(x), n, valid)

    def decode(self, z, condition=None) -> tf.Tensor:
        """Noise [N, T] -> clips through the flow's forward map: T full network passes, the
        uncached reference (the same values as `sample_from_noise`, which is fast)."""
        z, c, n, valid = self._audio(z, condition, "noise", audio=False)
        return arguments.masked(self.bijector(c).forward(z), n, valid)

    # ----------------------------------------------------------------- sampling
    def sample_from_noise(self, noise, condition=None, compiled: bool = True) -> tf.Tensor:
        """Clips [N, T] from noise [N, T]: x_t = mu_t(x_<t) + exp(a_t) noise_t, with cached
        per-layer state (`tfflows.nets.sample_cached`), compiled with XLA unless told not to."""
        noise, c, n, valid = self._audio(noise, condition, "noise", audio=False)
        return arguments.masked(self._sample_checked(noise, c, compiled), n, valid)

    def sample(
        self,
        n: int | tf.Tensor,
        length: int | tf.Tensor,
        seed: int | tf.Tensor | None = None,
        condition=None,
        temperature: float | tf.Tensor = 1.0,
    ) -> tf.Tensor:
        """n clips of `length` samples (float32 [n, length]; not clipped to [-1, 1]: the
        model's density is over the real line). `condition`: one label, or one per clip.
        Sequential: about one network step per sample (see `sample_from_noise`)."""
        n = arguments.sample_count(n)
        length = self._length(length)
        temperature = arguments.temperature(temperature)
        noise = self.draw_noise(n, length, seed) * tf.cast(temperature, self.compute_dtype)
        c, valid = self.checked_condition(condition, n)
        noise, c, _ = arguments.nonempty(noise, c)
        return arguments.masked(self._sample_checked(noise, c), n, valid)

    def _sample_checked(self, noise, c, compiled=True):
        if not compiled or not tf.executing_eagerly():
            return sample_cached(self.net, noise, c)
        key = c is not None
        if key not in self._compiled:
            self._compiled[key] = tf.function(
                lambda e, cond: sample_cached(self.net, e, cond), jit_compile=True
            )
        return self._compiled[key](noise, c)

    # ----------------------------------------------------------------- training hooks
    def first_nonfinite(self, x, condition=None, seed=None) -> str | None:
        """Where a batch first becomes non-finite, or None."""
        mu, log_scale = self.params(x, condition)
        if not bool(tf.reduce_all(tf.math.is_finite(mu) & tf.math.is_finite(log_scale))):
            return "the WaveNet's output (mu or log-scale) is non-finite"
        return None

    def call(self, inputs, training=False):
        x, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.log_prob(x, c)

    def get_config(self):
        step = self.step
        return {
            **super().get_config(),
            "residual_channels": step.residual_channels,
            "gate_channels": step.gate_channels,
            "skip_channels": step.skip_channels,
            "kernel_size": step.kernel_size,
            "layers_per_cycle": step.layers_per_cycle,
            "cycles": step.cycles,
            "front_kernel": step.front_kernel,
            "num_classes": self.num_classes,
            "sample_rate": self.sample_rate,
        }
