"""FlowModel: a flow as a Keras 3 model users fit, score, sample, encode and save."""

import warnings

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows.data.validation import check_tensor
from tfflows.models import arguments, diagnosis
from tfflows.models.arguments import count
from tfflows.models.assembly import Builder
from tfflows.models.conditioning import Conditioning
from tfflows.models.keras_training import KerasTraining
from tfflows.models.spaces import DataSpace

tfb = tfp.bijectors
tfd = tfp.distributions

# What the user API takes: numpy arrays, tensors, lists; seeds: two ints, a [2] tensor, or
# "center" (encode: no dequantization noise).
Data = np.ndarray | tf.Tensor | list
Seed = tuple | list | tf.Tensor | str | None

__all__ = ["FlowModel", "count"]


class FlowModel(KerasTraining, keras.Model):
    """A flow over a standard-normal base, with the Keras training API.

    A family (`NICE`, `RealNVP`, `Glow`, `MAF`, `IAF`, `PlanarFlow`) creates its flow layers
    in `__init__` in data-to-latent order with `add_step`, `squeeze`, `permute`,
    `flatten` and `add_split` (see `tfflows.models.assembly`), then calls `finish()`. The
    whole flow is one bijector (`bijector`, forward: latent -> continuous space) over one
    standard normal of the data's shape; `distribution` is that transformed distribution.

    The data's spaces (see `tfflows.models.spaces`): integer pixels, when `num_bits` is set,
    are dequantized and scaled to the continuous space where `log_prob`, `sample` and
    `decode` live; `encode` maps it to the latent.

    Args:
      input_shape: shape of one example, e.g. (32, 32, 3) or (2,).
      num_bits: bits per value of discrete data (8; Glow's CelebA-HQ uses 5), None for
        continuous data, or "auto" (every family's default): 8 for image shapes (H, W, C),
        None for vectors. Integer input to a model of continuous data is an error.
      preprocessing: "centered", "unit" or "logit" (discrete data only).
      logit_alpha: alpha of the logit preprocessing (Real NVP: 0.05; MAF: 1e-6).
      num_classes: for a class-conditional model: labels (ints or one-hot) are the condition.
      condition_shape: shape of a general condition (without batch), instead of num_classes.
      network_dtype: dtype policy of the flow's networks only, e.g. "mixed_bfloat16"; the
        flow's transforms and log-dets keep float32 (None: the model's own policy).
    """

    def __init__(
        self,
        input_shape,
        num_bits="auto",
        preprocessing="centered",
        logit_alpha=0.05,
        num_classes=None,
        condition_shape=None,
        network_dtype=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(input_shape, str) or not hasattr(input_shape, "__iter__"):
            raise ValueError(
                f"input_shape must be a shape such as (32, 32, 3), got {input_shape!r}"
            )
        self.data_shape = tuple(count(d, "input_shape") for d in input_shape)
        self.data_space = DataSpace(self.data_shape, num_bits, preprocessing, logit_alpha)
        self.conditioning = Conditioning(num_classes, condition_shape, owner=self.name)
        self.network_dtype = network_dtype
        self.flow_layers = []
        self._builder = Builder()
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")

    @classmethod
    def for_data(cls, x, **overrides):
        """A model of this family for data like `x` (an array [N, ...]): the example shape
        comes from `x`, and integer data means 8-bit pixels (`num_bits=8`) unless
        `overrides` say otherwise; `overrides` are constructor arguments (levels=2, ...)."""
        shape, integer = _shape_and_kind(x)
        if len(shape) == 4:
            raise ValueError(
                f"{cls.__name__} models images (H, W, C) or vectors; these examples have shape "
                f"{tuple(shape)}, videos (T, H, W, C): use VideoFlow (tfflows train videoflow)"
            )
        if integer:
            overrides.setdefault("num_bits", 8)
        return cls.from_shape(shape, **overrides)

    @classmethod
    def from_shape(cls, shape, **overrides):
        """A model of this family for examples of `shape` (vector families flatten it)."""
        return cls(tuple(shape), **overrides)

    # ----------------------------------------------------------------- the data's description
    @property
    def num_bits(self):
        return self.data_space.num_bits

    @property
    def preprocessing(self):
        return self.data_space.preprocessing

    @property
    def logit_alpha(self):
        return self.data_space.logit_alpha

    @property
    def num_classes(self):
        return self.conditioning.num_classes

    @property
    def condition_shape(self):
        return self.conditioning.shape

    @property
    def event_size(self) -> int:
        return self.data_space.size

    @property
    def continuous_low(self) -> float:
        return self.data_space.low

    @property
    def space(self):
        """The continuous space of a discrete model (`num_bits` set), or None."""
        return self.data_space.space

    # ----------------------------------------------------------------- construction
    def add_step(self, layer, shape):
        """Appends a flow layer, built for examples of `shape`, to the current level."""
        self._build_layer(layer, shape)
        return self._builder.add(layer)

    def add_split(self, layer, shape):
        """Factors out half of the channels with `layer` (e.g. `layers.FactorOut`); the
        steps added after it act on the kept half."""
        self._build_layer(layer, shape)
        return self._builder.split(layer)

    def squeeze(self, factor: int = 2):
        self._builder.squeeze(factor)

    def permute(self, permutation):
        self._builder.permute(permutation)

    def flatten(self):
        self._builder.flatten(self.data_shape)

    def _build_layer(self, layer, shape):
        # Read by the layer's networks as they are created in build (mixed precision).
        layer.network_dtype = self.network_dtype
        layer.build((None, *shape))
        self.flow_layers.append(layer)

    def finish(self):
        """Call at the end of a subclass's __init__: fixes the latent shape, marks built."""
        self.flow = self._builder.root
        self.latent_shape = self.flow.latent_shape(self.data_shape)
        self.built = True

    # ----------------------------------------------------------------- bijectors
    def checked_condition(self, condition, n=None):
        """(condition for the networks, [N] validity mask or None): see
        `tfflows.models.conditioning.Conditioning.checked`."""
        return self.conditioning.checked(condition, n, self.compute_dtype)

    def _condition(self, condition, n=None):
        return self.checked_condition(condition, n)[0]

    def flow_bijector(self, condition: Data | None = None) -> tfb.Bijector:
        """The whole flow as one bijector, forward latent -> continuous space (fresh each call)."""
        return self.flow_bijector_for(self._condition(condition))

    def flow_bijector_for(self, c):
        """`flow_bijector` for the networks' condition tensor `c` (already checked)."""
        return tfb.Chain(self.data_space.preprocessor() + [self.flow.bijector(c)])

    @property
    def bijector(self):
        """`flow_bijector()` of an unconditional model (forward: latent -> continuous space)."""
        return self.flow_bijector()

    def base_distribution(self, temperature=1.0):
        scale = tf.cast(temperature, self.compute_dtype)
        return tfd.Independent(
            tfd.Normal(tf.zeros(self.latent_shape, self.compute_dtype), scale),
            reinterpreted_batch_ndims=len(self.latent_shape),
        )

    def get_distribution(
        self, condition: Data | None = None, temperature: float = 1.0
    ) -> tfd.Distribution:
        """`tfd.TransformedDistribution` of the flow over the continuous space."""
        return self.distribution_for(self._condition(condition), temperature)

    def distribution_for(self, c, temperature=1.0):
        """`get_distribution` for the networks' condition tensor `c` (already checked)."""
        return tfd.TransformedDistribution(
            self.base_distribution(temperature), self.flow_bijector_for(c)
        )

    @property
    def distribution(self):
        return self.get_distribution()

    # ----------------------------------------------------------------- data spaces
    def to_continuous(self, x, seed=None, offset=0, global_batch=None):
        """Data -> continuous space: integer pixels are reduced to `num_bits`, dequantized
        with seeded uniform noise and scaled; floats are taken to be there already.
        `seed="center"` puts every value at the centre of its bin instead (no noise).
        `offset` and `global_batch`: `x` is one replica's rows of a global batch, and gets
        the noise those rows get in the whole batch (see `tfflows.data.dequantize`)."""
        return self.data_space.to_continuous(x, seed, offset, global_batch, self.compute_dtype)

    def to_uint8(self, x: Data) -> tf.Tensor:
        """Continuous-space values (samples, decodes) -> uint8 images of the data's bits.

        Values outside the space go to the nearest edge (0 or 255); a non-finite value is
        an error (ValueError, or a failed assertion inside a graph), never a black pixel.
        """
        return self.data_space.to_uint8(x)

    def check_data(self, x: Data, name: str = "x", allow_empty: bool = False) -> np.ndarray:
        """`x` as a numpy array after the checks of `tfflows.data.check_array` against this
        model's example shape, bits and continuous space (ValueError naming the problem)."""
        return self.data_space.check_array(x, name, allow_empty)

    def _checked_batch(self, x):
        """A batch of data with graph checks (see `tfflows.data.check_tensor`)."""
        return self.data_space.check_tensor(x)[0]

    def _inputs(self, x, condition=None):
        """(x, condition, n, valid): checked inputs (see `tfflows.data.check_tensor`) with
        an empty batch replaced by one stand-in example, the true batch size n, and a [n]
        mask of valid examples (None: all valid)."""
        x, valid = self.data_space.check_tensor(x)
        c, c_valid = self.checked_condition(condition, arguments.batch_size(x))
        return (*arguments.nonempty(x, c), arguments.both(valid, c_valid))

    # ----------------------------------------------------------------- the user API
    def log_prob(self, x: Data, condition: Data | None = None, seed: Seed = None) -> tf.Tensor:
        """Log-density of each example in the continuous space (nats), shape [N].

        Integer pixels are dequantized with seeded noise (`seed`: two integers; default
        (0, 0), so repeated calls agree); floats are scored as they are. Input is checked
        (see `check_data`): bad values raise, and inside an XLA-compiled function, where
        nothing can raise, their examples score NaN. An empty batch gives [0] results.
        """
        x, c, n, valid = self._inputs(x, condition)
        lp = self.distribution_for(c).log_prob(self.to_continuous(x, seed))
        return arguments.masked(lp, n, valid)

    def nll(
        self,
        x: Data,
        condition: Data | None = None,
        seed: Seed = None,
        offset: int | tf.Tensor = 0,
        global_batch: int | None = None,
    ) -> tf.Tensor:
        """The data's negative log-likelihood in nats per example, [N]: the loss that
        `fit` and `tfflows.train` minimise, and the `nll` they report.

        For a discrete model it is the dequantized bound papers report,
        -log p(y) + D * num_bits * log 2 (positive; bits/dim = nll / (D log 2)), else
        -log p(x). `seed`, `offset`, `global_batch`: see `to_continuous`.
        """
        x, c, n, valid = self._inputs(x, condition)
        y = self.to_continuous(x, seed, offset, global_batch)
        lp = self.distribution_for(c).log_prob(y)
        return arguments.masked(self.data_space.nll_from_log_prob(lp), n, valid)

    def bits_per_dim(self, x: Data, condition: Data | None = None, seed: Seed = None) -> tf.Tensor:
        """Negative log-likelihood per dimension in bits, in the data's discrete space.

            bits/dim = -(log p(y) - D * num_bits * log 2) / (D log 2)

        where y is the continuous-space value; the second term is the log-det of scaling
        [0, 2^num_bits) to the unit interval, so the number compares with the literature.
        For continuous data (num_bits None) it is -log p(x) / (D log 2).
        """
        return self.bits_from_nll(self.nll(x, condition, seed))

    def bits_from_log_prob(self, log_prob):
        """bits/dim of the data from continuous-space log-densities (see `bits_per_dim`)."""
        return self.data_space.bits_from_nll(self.data_space.nll_from_log_prob(log_prob))

    def bits_from_nll(self, nll):
        """bits/dim from the data's NLL in nats per example: nll / (D log 2)."""
        return self.data_space.bits_from_nll(nll)

    def nll_from_log_prob(self, log_prob):
        """The data's NLL in nats per example from continuous-space log-densities (see
        `nll`)."""
        return self.data_space.nll_from_log_prob(log_prob)

    def draw_latent(self, n: int | tf.Tensor, seed: int | tf.Tensor | None = None) -> tf.Tensor:
        """n standard-normal latents; a seed (an int, or an int64 scalar tensor) makes them
        reproducible everywhere (Philox: "auto_select" draws differently under XLA)."""
        shape = [n, *self.latent_shape]
        if seed is None:
            return tf.random.normal(shape, dtype=self.compute_dtype)
        if not tf.is_tensor(seed):
            seed = arguments.whole(seed, "seed", minimum=None)
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        return tf.random.stateless_normal(shape, seed=seed, dtype=self.compute_dtype, alg="philox")

    def sample(
        self,
        n: int | tf.Tensor,
        temperature: float | tf.Tensor = 1.0,
        seed: int | tf.Tensor | None = None,
        condition: Data | None = None,
    ) -> tf.Tensor:
        """n samples in the continuous space; `temperature` scales every latent's std.

        `seed` (an int, or an int64 scalar tensor) makes the draw reproducible (stateless
        RNG); `n` and `temperature` may be tensors too (a SavedModel's signature calls this).
        Temperature 0 gives the mode path: every latent 0. A discrete model's samples are
        clipped into its continuous space (the flow can put mass outside it; those values
        are the edge pixels 0 or 255 anyway), so `log_prob(sample(...))` always scores
        them. A non-finite sample (a float32 overflow far in the tails) is kept and warned
        about.
        """
        n = arguments.sample_count(n)
        temperature = arguments.temperature(temperature)
        z = self.draw_latent(n, seed)
        x = self.sample_from_latent(z, temperature, self.checked_condition(condition, n)[0])
        if tf.executing_eagerly():
            bad = int(tf.reduce_sum(tf.cast(~arguments.all_finite(x), tf.int32)))
            if bad:
                warnings.warn(
                    f"{bad} of {n} samples of {self.name} at temperature "
                    f"{float(temperature):g} hold non-finite values (the flow overflowed "
                    "float32 far in its tails); to_uint8 refuses them",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return x

    def sample_from_latent(self, z, temperature=1.0, condition=None):
        """The sample of standard-normal latents `z`: `decode(temperature * z)`, clipped
        into the continuous space for discrete models (see `sample`). `condition` is the
        networks' condition tensor (`checked_condition`'s first value)."""
        z, c, n = arguments.nonempty(z * tf.cast(temperature, self.compute_dtype), condition)
        return self.data_space.clip(self.flow_bijector_for(c).forward(z)[:n])

    def sample_and_log_prob(
        self, n: int, seed: int | None = None, condition: Data | None = None
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """Samples and their log-density, in one pass (what variational inference needs)."""
        n = arguments.whole(n, "n")
        z = self.draw_latent(n, seed)
        bij = self.flow_bijector_for(self.checked_condition(condition, n)[0])
        x = bij.forward(z)
        nd = len(self.latent_shape)
        lp = self.base_distribution().log_prob(z) - bij.forward_log_det_jacobian(z, nd)
        return x, lp

    def encode(
        self, x: Data, condition: Data | None = None, seed: Seed = "center", form: str = "tensor"
    ) -> tf.Tensor | list:
        """Data -> latent. `form`: "tensor" (the latent's shape), "flat" ([batch, D]) or
        "list" (one latent per scale, the factored-out ones first).

        Integer pixels go to the centres of their bins (`seed="center"`, the default), so
        `to_uint8(decode(encode(x)))` gives `x` back; a stateless seed (two integers)
        dequantizes them with noise as `log_prob` does."""
        x, c, n, valid = self._inputs(x, condition)
        z = self.flow_bijector_for(c).inverse(self.to_continuous(x, seed))
        z = arguments.masked(z, n, valid)
        if form == "tensor":
            return z
        if form == "flat":
            return tf.reshape(z, [tf.shape(z)[0], -1])
        if form == "list":
            return self.flow.split_latent(z)
        raise ValueError(f'form must be "tensor", "flat" or "list", got {form!r}')

    def decode(self, z: Data | list, condition: Data | None = None) -> tf.Tensor:
        """Latent (any `encode` form) -> continuous space (the flow's exact output: not
        clipped, unlike `sample`)."""
        if isinstance(z, list | tuple):
            z = self.flow.merge_latent(list(z), self.compute_dtype)
        z = tf.convert_to_tensor(z, self.compute_dtype)
        if z.shape.rank == 2 and len(self.latent_shape) > 1:
            z = tf.reshape(z, [-1, *self.latent_shape])
        z, valid = check_tensor(z, self.latent_shape, name="latent")
        c, c_valid = self.checked_condition(condition, arguments.batch_size(z))
        z, c, n = arguments.nonempty(z, c)
        x = self.flow_bijector_for(c).forward(z)
        return arguments.masked(x, n, arguments.both(valid, c_valid))

    # ----------------------------------------------------------------- initialisation
    def needs_initialization(self) -> bool:
        return any(
            hasattr(layer, "initialized") and float(layer.initialized.numpy()) == 0.0
            for layer in self.flow_layers
        )

    def initialize(self, x: Data, condition: Data | None = None, seed: Seed = None) -> None:
        """Data-dependent initialisation (ActNorm) from one batch, data side first."""
        c = self._condition(condition)
        h = self.to_continuous(x, seed)
        for b in self.data_space.preprocessor():
            h = b.inverse(h)

        def before(step, h, step_condition):
            if hasattr(step, "initialize"):
                step.initialize(h, step_condition)

        self.flow.walk(h, c, before=before)

    # ----------------------------------------------------------------- diagnosis
    def trace(self, x: Data, condition: Data | None = None, seed: Seed = None) -> list:
        """The data -> latent direction one step at a time: a list of (name, output,
        log-det) per step, data side first. What a non-finite loss is traced back with."""
        return diagnosis.trace(self, x, condition, seed)

    def first_nonfinite(
        self, x: Data, condition: Data | None = None, seed: Seed = None
    ) -> str | None:
        """Where a batch first becomes non-finite in the data -> latent direction: a
        sentence naming the step (layer), or None when every output and log-det is finite."""
        return diagnosis.first_nonfinite(self, x, condition, seed)

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": self.data_shape,
            "num_bits": self.num_bits,
            "preprocessing": self.preprocessing,
            "logit_alpha": self.logit_alpha,
            "num_classes": self.num_classes,
            "condition_shape": None if self.num_classes else self.condition_shape,
            "network_dtype": self.network_dtype,
        }


def _shape_and_kind(x):
    """(shape of one example, whether the values are integers) of an array-like batch."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    dtype = np.dtype(getattr(x.dtype, "as_numpy_dtype", x.dtype))
    return tuple(int(d) for d in x.shape[1:]), np.issubdtype(dtype, np.integer)
