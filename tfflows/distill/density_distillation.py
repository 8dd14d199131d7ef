"""Probability density distillation: a Parallel WaveNet student learns from a WaveNet."""

import math

import keras
import tensorflow as tf

from tfflows.distill.losses import gaussian_kl, log_scale_penalty, power_loss
from tfflows.models import arguments
from tfflows.models.parallel_wavenet import ParallelWaveNet
from tfflows.models.terms_training import TermsTraining
from tfflows.models.wavenet import WaveNet


def _frozen_copy(teacher: WaveNet) -> WaveNet:
    """A copy of `teacher` with its weights, none of them trainable (so neither Keras nor
    `tfflows.train` can update it, and an optimizer restored from a file has the student's
    slots only)."""
    config = {k: v for k, v in teacher.get_config().items() if k != "trainable"}
    frozen = WaveNet.from_config(config)
    frozen.set_weights(teacher.get_weights())
    frozen.trainable = False
    return frozen


@keras.saving.register_keras_serializable(package="tfflows")
class DensityDistillation(TermsTraining, keras.Model):
    """Trains `student` to match the frozen `teacher` (van den Oord et al. 2017,
    arXiv:1711.10433; the closed-form KL of ClariNet, Ping et al. 2018, arXiv:1807.07281).

    For a batch of real clips x_real (and their labels), the student draws samples x of the
    same length from fresh noise, with the Gaussian of each x_t given the noise before it,
    q_t = N(mu_q, s_q^2); the teacher scores x in one parallel pass, p_t = N(mu_p, s_p^2).
    The loss per clip is

        mean_t KL(q_t || p_t) + penalty_weight * mean_t (log s_p - log s_q)^2
            + power_loss_weight * sum_f (phi_f(x) - phi_f(x_real))^2

    with the KL in closed form (`tfflows.distill.losses.gaussian_kl`: it averages exactly over
    x_t, leaving one noise draw for z_<t), and phi the spectrum averaged over time (the
    power loss, which keeps the student from whispering). The teacher's weights are frozen;
    the gradient flows through its network into the student's sample.

    `fit(x_real, labels)` and `tfflows.train(distillation, splits)` train it (checkpoints,
    resume, EMA); `nll` is the per-clip loss above (it is not a likelihood), `kl` the first
    term alone. Logged: loss, kl, penalty, power.

    Args:
      student: a `ParallelWaveNet`.
      teacher: a trained `WaveNet` with the same `num_classes`. The distillation holds a
        frozen copy (`distillation.teacher`); the model passed in stays as it was.
      power_loss_weight, penalty_weight: the weights above (ClariNet: penalty 4).
      frame_length, frame_step: the power loss's STFT (32 ms and 8 ms at 8 kHz).
    """

    def __init__(
        self,
        student: ParallelWaveNet,
        teacher: WaveNet,
        power_loss_weight: float = 1.0,
        penalty_weight: float = 4.0,
        frame_length: int = 256,
        frame_step: int = 64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(student, dict):
            student = keras.saving.deserialize_keras_object(student)
        if isinstance(teacher, dict):
            teacher = keras.saving.deserialize_keras_object(teacher)
        if not isinstance(student, ParallelWaveNet) or not isinstance(teacher, WaveNet):
            raise ValueError(
                "DensityDistillation takes a ParallelWaveNet student and a WaveNet teacher, got "
                f"{type(student).__name__} and {type(teacher).__name__}"
            )
        if student.num_classes != teacher.num_classes:
            raise ValueError(
                f"the student has num_classes={student.num_classes} but the teacher "
                f"{teacher.num_classes}: they must be conditioned alike"
            )
        if student.sample_rate != teacher.sample_rate:
            raise ValueError(
                f"sample rates differ: student {student.sample_rate}, teacher {teacher.sample_rate}"
            )
        for name, value in (
            ("power_loss_weight", power_loss_weight),
            ("penalty_weight", penalty_weight),
        ):
            if not math.isfinite(float(value)) or float(value) < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        self.student = student
        self.teacher = _frozen_copy(teacher)
        self.power_loss_weight = float(power_loss_weight)
        self.penalty_weight = float(penalty_weight)
        self.frame_length = arguments.count(frame_length, "frame_length")
        self.frame_step = arguments.count(frame_step, "frame_step")
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.term_trackers = {k: keras.metrics.Mean(name=k) for k in ("kl", "penalty", "power")}
        self.built = True

    # ----------------------------------------------------------------- the Trainable protocol
    @property
    def data_shape(self):
        return self.student.data_shape

    @property
    def condition_shape(self):
        return self.student.condition_shape

    @property
    def num_classes(self):
        return self.student.num_classes

    @property
    def num_bits(self):
        return None

    max_eval_batch = 32

    @property
    def min_length(self):
        return self.frame_length

    def check_data(self, x, name="x", allow_empty=False):
        x = self.student.check_data(x, name, allow_empty)
        if x.shape[1] < self.frame_length:
            raise ValueError(
                f"{name}: clips of {x.shape[1]} samples, shorter than the power loss's frame "
                f"({self.frame_length}); use longer clips or a smaller frame_length"
            )
        return x

    def checked_condition(self, condition, n=None):
        return self.student.checked_condition(condition, n)

    def _checked_batch(self, x):
        return self.student._checked_batch(x)

    def needs_initialization(self) -> bool:
        return False

    def initialize(self, x, condition=None, seed=None) -> None:
        """Nothing to initialise from data."""

    # ----------------------------------------------------------------- the loss
    def _noise(self, shape, seed, offset, global_batch):
        if seed is None:
            return tf.random.normal(shape, dtype=self.compute_dtype)
        if global_batch is not None:
            shape = tf.concat([[global_batch], shape[1:]], axis=0)
        noise = tf.random.stateless_normal(shape, seed, dtype=self.compute_dtype, alg="philox")
        if global_batch is not None:
            noise = noise[offset : offset + tf.shape(noise)[0]]
        return noise

    def loss_terms(self, x, condition=None, seed=None, offset=0, global_batch=None) -> dict:
        """{"kl", "penalty", "power", "loss"}: [N] each, for real clips x [N, T] (and their
        labels): the student samples len(x) clips of length T with the same labels."""
        x, c, n, valid = self.student._audio(x, condition)
        if x.shape[1] is not None and x.shape[1] < self.frame_length:
            raise ValueError(f"clips of {x.shape[1]} samples, shorter than {self.frame_length}")
        noise = self._noise(tf.shape(x), seed, offset, global_batch)
        sample, mu_q, log_scale_q = self.student.transform(noise, c)
        mu_p, log_scale_p = self.teacher.gaussians(sample, c)
        kl = tf.reduce_mean(gaussian_kl(mu_q, log_scale_q, mu_p, log_scale_p), axis=-1)
        penalty = tf.reduce_mean(log_scale_penalty(log_scale_q, log_scale_p), axis=-1)
        power = power_loss(sample, x, self.frame_length, self.frame_step)
        loss = kl + self.penalty_weight * penalty + self.power_loss_weight * power
        out = {"kl": kl, "penalty": penalty, "power": power, "loss": loss}
        return {k: arguments.masked(v, n, valid) for k, v in out.items()}

    def nll(self, x, condition=None, seed=None, offset=0, global_batch=None) -> tf.Tensor:
        """[N]: the distillation loss per clip (see the class doc; not a likelihood)."""
        return self.loss_terms(x, condition, seed, offset, global_batch)["loss"]

    def bits_from_nll(self, nll):
        return nll / math.log(2.0)

    def kl(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: mean over t of KL(q_t || p_t) in nats per sample, on the student's samples of
        the length of x (x only sets the length and the labels' count)."""
        return self.loss_terms(x, condition, seed)["kl"]

    def first_nonfinite(self, x, condition=None, seed=None) -> str | None:
        terms = self.loss_terms(x, condition, seed)
        for name in ("kl", "penalty", "power"):
            if not bool(tf.reduce_all(tf.math.is_finite(terms[name]))):
                return f"the distillation's {name} term is non-finite"
        return None

    # ----------------------------------------------------------------- Keras
    def compile(self, optimizer=None, jit_compile="auto", **kwargs):
        """As Keras' `compile`, with `jit_compile="auto"` meaning off: under `fit` the batch
        axis is dynamic, and XLA cannot carry a dynamic axis through the power loss's RFFT
        ("Asked to propagate a dynamic dimension ... not implemented"). `tfflows.train`
        feeds whole batches and chooses XLA on its own."""
        if jit_compile == "auto":
            jit_compile = False
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def _trained_variables(self):
        return self.student.trainable_variables

    def call(self, inputs, training=False):
        x, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.nll(x, c)

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "power_loss_weight": self.power_loss_weight,
            "penalty_weight": self.penalty_weight,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
        }
