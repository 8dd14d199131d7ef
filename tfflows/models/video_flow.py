"""VideoFlow: a multi-scale image flow per frame and a latent prior autoregressive in time."""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors
from tfflows.models import arguments
from tfflows.models.arguments import count
from tfflows.models.glow import Glow
from tfflows.models.keras_training import KerasTraining
from tfflows.models.real_nvp import RealNVP
from tfflows.nets.temporal_priors import PRIORS, temporal_prior

tfd = tfp.distributions

# The frame flows, and how each one's constructor names the architecture's sizes.
_FRAME_FLOWS = {
    "glow": (Glow, ("levels", "steps_per_level", "hidden_channels")),
    "realnvp": (RealNVP, ("num_scales", "num_couplings", "hidden")),
}


@keras.saving.register_keras_serializable(package="tfflows")
class VideoFlow(KerasTraining, keras.Model):
    """VideoFlow (Kumar et al. 2019, arXiv:1903.01434): p(x_{k+1..T} | x_{1..k}).

    Every frame goes through the same multi-scale image flow (`frame_flow`, Glow by
    default), whose standard-normal latent u_t is cut into scales u_t^1..u_t^L (finest
    first). The temporal prior (`bijectors.LatentAutoregressive`) maps them onto noise,
    scale l of frame t through a Gaussian given the earlier frames of that scale and this
    frame's higher scales, from one prior network per scale (`tfflows.nets.temporal_priors`):

        log p(x_t | x_<t) = log N(e_t; 0, I) - sum_l sum alpha_t^l + log|det du_t/dx_t|
        log p(x_{k+1..T} | x_{1..k}) = sum_{t > k} log p(x_t | x_<t)

    u_t is the image flow's own latent (its split priors and learned top prior included),
    so with `prior="independent"` each frame scores exactly as under the image flow, and a
    temporal prior refines that Gaussian: the two affine maps compose into VideoFlow's
    conditional Gaussian over the flow's factored-out latents. Videos are uint8
    [N, T, H, W, C] (T may change between calls, T > `context_frames`); the first
    `context_frames` frames are the condition and are not scored.

    Args:
      frame_shape: (H, W, C) of one frame.
      context_frames: k, the frames given (1 in VideoFlow's shapes experiment).
      flow: the frame flow's family, "glow" or "realnvp".
      levels, steps_per_level, hidden_channels: the frame flow's size.
      prior: "conv3d" (default), "conv_lstm", "pointwise" or "independent".
      prior_channels, prior_depth: the prior networks' width and depth.
      latent_skip: the prior's mean is the previous frame's latent plus the network's output.
      num_bits, preprocessing: the frames' discrete data (see `FlowModel`).
      seed: seed of the frame flow's random rotations.
      network_dtype: dtype policy of the frame flow's and the priors' networks only, e.g.
        "mixed_bfloat16"; transforms and log-dets stay float32 (see `FlowModel`).
    """

    def __init__(
        self,
        frame_shape: tuple[int, int, int],
        context_frames: int = 1,
        flow: str = "glow",
        levels: int = 3,
        steps_per_level: int = 8,
        hidden_channels: int = 128,
        prior: str = "conv3d",
        prior_channels: int = 64,
        prior_depth: int = 2,
        latent_skip: bool = False,
        num_bits: int | None = 8,
        preprocessing: str = "centered",
        seed: int | None = 0,
        network_dtype: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(frame_shape, str) or len(tuple(frame_shape)) != 3:
            raise ValueError(
                f"frame_shape must be one frame's (H, W, C), got {frame_shape!r} (for videos "
                "[N, T, H, W, C] that is videos.shape[2:], or use VideoFlow.for_data(videos))"
            )
        if flow not in _FRAME_FLOWS:
            raise ValueError(f"flow must be one of {', '.join(_FRAME_FLOWS)}, got {flow!r}")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
        self.context_frames = count(context_frames, "context_frames", minimum=0)
        self.flow_family, self.prior_kind = flow, prior
        self.levels = count(levels, "levels")
        self.steps_per_level = count(steps_per_level, "steps_per_level")
        self.hidden_channels = count(hidden_channels, "hidden_channels")
        self.prior_channels = count(prior_channels, "prior_channels")
        self.prior_depth = count(prior_depth, "prior_depth", minimum=0)
        self.latent_skip, self.seed = bool(latent_skip), seed
        self.network_dtype = network_dtype
        sizes = (levels, steps_per_level, hidden_channels)
        frame_family, names = _FRAME_FLOWS[flow]
        sizes = dict(zip(names, sizes, strict=True))
        extra = {"seed": seed} if flow == "glow" else {}
        self.frame_flow = frame_family(
            tuple(frame_shape),
            num_bits=num_bits,
            preprocessing=preprocessing,
            network_dtype=network_dtype,
            name="frame_flow",
            **sizes,
            **extra,
        )
        if len(self.frame_flow.latent_shape) != 3:
            raise ValueError(
                f"VideoFlow needs an image flow over (H, W, C) frames, got {frame_shape}"
            )
        self.frame_shape = self.frame_flow.data_shape
        self.data_space = self.frame_flow.data_space
        self.priors = self._make_priors()
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.built = True

    @classmethod
    def for_data(cls, x, **overrides) -> "VideoFlow":
        """A model for videos like `x` ([N, T, H, W, C]; any T)."""
        shape = tuple(int(d) for d in np.shape(x)[1:])
        if len(shape) != 4:
            raise ValueError(
                f"VideoFlow models videos [N, T, H, W, C]; these examples have shape {shape}"
                + (
                    " (images: for videos of MNIST digits, --data moving_mnist:path=mnist.npz)"
                    if len(shape) == 3
                    else ""
                )
            )
        return cls.from_shape(shape, **overrides)

    @classmethod
    def from_shape(cls, shape, **overrides) -> "VideoFlow":
        """A model for videos of `shape` (T, H, W, C) (T is not fixed) or frames (H, W, C)."""
        shape = tuple(shape)
        if len(shape) not in (3, 4):
            raise ValueError(
                f"VideoFlow takes videos (T, H, W, C) or frames (H, W, C), got shape {shape}"
            )
        return cls(shape[-3:], **overrides)

    def _make_priors(self):
        parts = self.frame_flow.flow.split_latent(tf.zeros([1, *self.frame_flow.latent_shape]))
        priors = []
        for level, part in enumerate(parts):
            higher = self._higher([tf.zeros_like(p) for p in parts], level)
            prior = temporal_prior(
                self.prior_kind,
                channels=part.shape[-1],
                higher_channels=0 if higher is None else higher.shape[-1],
                hidden_channels=self.prior_channels,
                depth=self.prior_depth,
                latent_skip=self.latent_skip,
                name=f"prior_{level}",
                network_dtype=self.network_dtype,
            )
            prior.build((None, None, *part.shape[1:]))
            priors.append(prior)
        return priors

    def _higher(self, parts, level):
        """This frame's latent above scale `level`, at that scale's resolution: the inner
        level's latent merged from scales level+1.. (None for the top scale)."""
        if level == len(parts) - 1:
            return None
        inner = self.frame_flow.flow
        for _ in range(level + 1):
            inner = inner.inner
        return inner.merge_latent(list(parts[level + 1 :]), self.compute_dtype)

    # ----------------------------------------------------------------- the Trainable protocol
    @property
    def data_shape(self) -> tuple:
        """The shape of one example, (T, H, W, C), T = None: any number of frames."""
        return (None, *self.frame_shape)

    @property
    def condition_shape(self):
        return None

    @property
    def num_classes(self):
        return None

    @property
    def num_bits(self):
        return self.data_space.num_bits

    @property
    def space(self):
        return self.data_space.space

    def checked_condition(self, condition, n=None):
        if condition is not None:
            raise ValueError(
                "VideoFlow takes no condition: the context frames are the first "
                f"{self.context_frames} frames of each video"
            )
        return None, None

    # ----------------------------------------------------------------- input checks
    def _check_video_shape(self, shape, name, min_frames=None):
        if len(shape) != 5:
            kind = "images [N, H, W, C]" if len(shape) == 4 else f"an array of rank {len(shape)}"
            hint = ""
            if len(shape) == 4 and tuple(shape[-3:]) == tuple(self.frame_shape):
                hint = " (if it is one video [T, H, W, C], add a batch axis: videos[None])"
            raise ValueError(
                f"{name}: VideoFlow takes videos [N, T, H, W, C] with frames "
                f"{self.frame_shape}, got {kind} of shape {tuple(shape)}{hint}"
            )
        if tuple(shape[2:]) != self.frame_shape:
            raise ValueError(
                f"{name}: frames of shape {tuple(shape[2:])}, but this model's frames are "
                f"{self.frame_shape}"
            )
        frames = shape[1]
        if min_frames is None and frames is not None and frames < self.context_frames + 1:
            raise ValueError(
                f"{name}: {frames} frame(s) per video, but the model needs at least "
                f"{self.context_frames + 1} ({self.context_frames} context frame(s) and one "
                "to score)"
            )
        if min_frames is not None and frames is not None and frames < min_frames:
            raise ValueError(f"{name}: needs at least {min_frames} frame(s), got {frames}")

    def check_data(self, x, name: str = "x", allow_empty: bool = False) -> np.ndarray:
        """`x` as a numpy array after the checks of `check_array` on each frame, and of the
        videos' rank, frame shape and frame count (ValueError naming the problem)."""
        x = np.asarray(x)
        self._check_video_shape(x.shape, name)
        self.data_space.check_array(x.reshape(-1, *self.frame_shape), name, allow_empty)
        return x

    def _videos(self, x, name="x", min_frames=None):
        """(videos as a tensor, n, [n] validity mask or None), checked."""
        if not tf.is_tensor(x):
            x = np.asarray(x)
            self._check_video_shape(x.shape, name, min_frames)
            self.data_space.check_array(x.reshape(-1, *self.frame_shape), name, True)
            x = tf.convert_to_tensor(x)
        self._check_video_shape(x.shape, name, min_frames)
        frames, valid = self.data_space.check_tensor(_fold(x), name)
        x = tf.reshape(frames, tf.shape(x))
        if valid is not None:
            valid = tf.reduce_all(tf.reshape(valid, tf.shape(x)[:2]), axis=1)
        if x.shape[1] is None:
            x, valid = self._frame_count_checked(x, valid, name, min_frames)
        # An empty batch becomes one stand-in video (convolutions fail on empty batches);
        # results are cut back to n.
        x, _, n = arguments.nonempty(x)
        return x, n, valid

    def _frame_count_checked(self, x, valid, name, min_frames):
        """A frame count unknown until run time: an assertion (it raises outside XLA) and,
        where nothing can raise, every video invalid (NaN results) when it is too small."""
        needed = self.context_frames + 1 if min_frames is None else min_frames
        enough = tf.shape(x)[1] >= needed
        check = tf.debugging.Assert(
            enough, [f"{name} has too few frames per video: the model needs at least {needed}"]
        )
        with tf.control_dependencies([check]):
            x = tf.identity(x)
        mask = tf.fill(tf.shape(x)[:1], enough)
        return x, mask if valid is None else valid & mask

    # ----------------------------------------------------------------- the flow
    def prior_bijector(self) -> bijectors.LatentAutoregressive:
        """The temporal prior: the frames' latents -> noise (inverse); fresh on each call."""
        return bijectors.LatentAutoregressive(
            [prior.__call__ for prior in self.priors],
            split=self.frame_flow.flow.split_latent,
            merge=lambda parts: self.frame_flow.flow.merge_latent(parts, self.compute_dtype),
            higher=self._higher,
        )

    def to_continuous(self, x, seed=None, offset=0, global_batch=None) -> tf.Tensor:
        """Videos -> continuous space, frame by frame (see `FlowModel.to_continuous`)."""
        x = tf.convert_to_tensor(x)
        frames = tf.shape(x)[1]
        if global_batch is not None:
            global_batch = global_batch * frames
        y = self.frame_flow.to_continuous(_fold(x), seed, offset * frames, global_batch)
        return tf.reshape(y, tf.shape(x))

    def to_uint8(self, x) -> tf.Tensor:
        """Continuous-space frames -> uint8 (see `FlowModel.to_uint8`); any leading axes."""
        x = tf.convert_to_tensor(x)
        return tf.reshape(self.frame_flow.to_uint8(_fold(x)), tf.shape(x))

    def _frame_terms(self, y):
        """(noise e, [N, T] log p(x_t | x_<t)) of continuous-space videos y."""
        frame_bijector = self.frame_flow.flow_bijector_for(None)
        flat = _fold(y)
        u = frame_bijector.inverse(flat)
        ildj = frame_bijector.inverse_log_det_jacobian(flat, event_ndims=3)
        prior = self.prior_bijector()
        u = tf.reshape(u, tf.shape(y))
        e = prior.inverse(u)
        base = tfd.Normal(tf.constant(0.0, self.compute_dtype), 1.0)
        log_base = tf.reduce_sum(base.log_prob(e), axis=[-3, -2, -1])
        lp = log_base + prior.inverse_log_det_jacobian(u, event_ndims=3)
        return e, lp + tf.reshape(ildj, tf.shape(y)[:2])

    # ----------------------------------------------------------------- the user API
    def frame_log_probs(self, x, seed=None) -> tf.Tensor:
        """[N, T]: log p(x_t | x_<t) of every frame in the continuous space (nats); the
        first `context_frames` are the condition (`log_prob` leaves them out)."""
        x, n, valid = self._videos(x)
        lp = self._frame_terms(self.to_continuous(x, seed))[1]
        return arguments.masked(lp, n, valid)

    def log_prob(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: log p(x_{k+1..T} | x_{1..k}) in the continuous space (nats), k =
        `context_frames`. Pixels are dequantized with seeded noise (default (0, 0))."""
        self.checked_condition(condition)
        x, n, valid = self._videos(x)
        lp = self._frame_terms(self.to_continuous(x, seed))[1]
        return arguments.masked(tf.reduce_sum(lp[:, self.context_frames :], axis=1), n, valid)

    def nll(self, x, condition=None, seed=None, offset=0, global_batch=None) -> tf.Tensor:
        """[N]: the data's negative log-likelihood in nats per predicted frame (mean over
        the frames after the context), the loss `fit` and `tfflows.train` minimise:
        -log p(y_t | y_<t) + D * num_bits * log 2 with D = H * W * C."""
        self.checked_condition(condition)
        x, n, valid = self._videos(x)
        y = self.to_continuous(x, seed, offset, global_batch)
        lp = self._frame_terms(y)[1][:, self.context_frames :]
        nll = self.data_space.nll_from_log_prob(tf.reduce_mean(lp, axis=1))
        return arguments.masked(nll, n, valid)

    def bits_from_nll(self, nll):
        """bits per predicted pixel-channel from `nll` (nats per predicted frame)."""
        return self.data_space.bits_from_nll(nll)

    def bits_per_dim(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: bits per pixel-channel of the predicted frames, the number papers report."""
        return self.bits_from_nll(self.nll(x, condition, seed))

    def encode(self, x, seed="center") -> tf.Tensor:
        """Videos -> the noise e [N, T, H, W, C] (standard normal under the model).
        Pixels go to their bins' centres unless a seed (two integers) is given."""
        x, n, valid = self._videos(x)
        e = self._frame_terms(self.to_continuous(x, seed))[0]
        return arguments.masked(e, n, valid)

    def decode(self, e) -> tf.Tensor:
        """Noise [N, T, H, W, C] -> videos in the continuous space (exact: not clipped)."""
        e = tf.convert_to_tensor(e, self.compute_dtype)
        self._check_video_shape(e.shape, "noise", min_frames=1)
        u = self.prior_bijector().forward(e)
        y = self.frame_flow.flow_bijector_for(None).forward(_fold(u))
        return tf.reshape(y, tf.shape(e))

    def predict_frames(
        self,
        context,
        num_frames: int | tf.Tensor,
        temperature: float | tf.Tensor = 1.0,
        seed: int | tf.Tensor | None = None,
    ) -> tf.Tensor:
        """Samples `num_frames` frames after each context video, [N, num_frames, H, W, C]
        in the continuous space (`to_uint8` makes frames of them).

        The context ([N, k, H, W, C], k >= 1; all of it conditions the prediction) is encoded
        at its pixels' bin centres; the new frames' noise is drawn at `temperature` (0: every
        new frame is its prior's mean given the frames before it), and decoded frame by
        frame, top scale first. `seed` (an int) makes the draw reproducible.
        """
        num_frames = _frame_count(num_frames)
        temperature = arguments.temperature(temperature)
        context, n, valid = self._videos(context, "context", min_frames=1)
        e_context = self._frame_terms(self.to_continuous(context, "center"))[0]
        rows = tf.shape(context)[0]
        shape = tf.concat([[rows, num_frames], tf.constant(self.frame_shape)], 0)
        if seed is None:
            noise = tf.random.normal(shape, dtype=self.compute_dtype)
        else:
            if not tf.is_tensor(seed):
                seed = arguments.whole(seed, "seed", minimum=None)
            seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(1, tf.int64)])
            noise = tf.random.stateless_normal(shape, seed, dtype=self.compute_dtype, alg="philox")
        e = tf.concat([e_context, noise * tf.cast(temperature, self.compute_dtype)], axis=1)
        frames = self.decode(e)[:, tf.shape(context)[1] :]
        return arguments.masked(self.data_space.clip(frames), n, valid)

    def sample(self, *args, **kwargs):
        """Not for video models: they sample the futures of context videos."""
        raise TypeError(
            "a VideoFlow samples the frames after context videos: use "
            "predict_frames(context, num_frames, temperature, seed)"
        )

    # ----------------------------------------------------------------- training hooks
    def needs_initialization(self) -> bool:
        return self.frame_flow.needs_initialization()

    def initialize(self, x, condition=None, seed=None) -> None:
        """Data-dependent initialisation (ActNorm) of the frame flow from a batch of videos."""
        x, _, _ = self._videos(x)
        self.frame_flow.initialize(_fold(x), seed=seed)

    def first_nonfinite(self, x, condition=None, seed=None) -> str | None:
        """Where a batch first becomes non-finite: a frame-flow step, or the prior."""
        x, _, _ = self._videos(x)
        where = self.frame_flow.first_nonfinite(_fold(x), seed=seed)
        if where is not None:
            return where
        lp = self._frame_terms(self.to_continuous(x, seed))[1]
        if not bool(tf.reduce_all(tf.math.is_finite(lp))):
            return "the temporal prior (its noise or log-det) is non-finite"
        return None

    def call(self, inputs, training=False):
        return self.log_prob(inputs)

    def _checked_batch(self, x):
        return self._videos(x)[0]

    def get_config(self):
        return {
            **super().get_config(),
            "frame_shape": self.frame_shape,
            "context_frames": self.context_frames,
            "flow": self.flow_family,
            "levels": self.levels,
            "steps_per_level": self.steps_per_level,
            "hidden_channels": self.hidden_channels,
            "prior": self.prior_kind,
            "prior_channels": self.prior_channels,
            "prior_depth": self.prior_depth,
            "latent_skip": self.latent_skip,
            "num_bits": self.num_bits,
            "preprocessing": self.data_space.preprocessing,
            "seed": self.seed,
            "network_dtype": self.network_dtype,
        }


def _frame_count(n):
    """`num_frames` of `predict_frames`: a whole number >= 1 (asserted for a graph tensor)."""
    if tf.is_tensor(n) and not tf.executing_eagerly():
        check = tf.debugging.assert_positive(n, message="predict_frames: num_frames must be >= 1")
        with tf.control_dependencies([check]):
            return tf.identity(n)
    return arguments.whole(int(n) if tf.is_tensor(n) else n, "num_frames", minimum=1)


def _fold(x):
    """[N, T, ...] -> [N * T, ...]."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


__all__ = ["VideoFlow"]
