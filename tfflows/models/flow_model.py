"""FlowModel: a flow as a Keras 3 model users fit, score, sample, encode and save."""

import math
import numbers
import warnings

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors
from tfflows.data.quantization import dequantize, reduce_bits, to_uint8
from tfflows.data.validation import Space, check_array, check_labels, check_tensor

tfb = tfp.bijectors
tfd = tfp.distributions

PREPROCESSING = ("centered", "unit", "logit")


class FlowModel(keras.Model):
    """A bijector chain over a standard-normal base, with the Keras training API.

    Subclasses (`NICE`, `RealNVP`, `Glow`, `MAF`, `IAF`, `PlanarFlow`) create their flow
    layers in `__init__` and describe the flow as a *plan*: a list of tokens in data-to-latent
    order, `("layer", i)`, `("squeeze", f)`, `("permute", perm)`, `("flatten",)` and
    `("factor_out", i)`; everything after a factor-out acts on the half it keeps. Squeezes
    are undone at the end of their level, so the latent has the (preprocessed) data's shape
    and `bijector` is one bijector over one standard normal.

    Spaces:
      - data: what data sets store; with `num_bits` set, integer pixel values 0..255.
      - continuous space: dequantized data scaled to [-0.5, 0.5) ("centered", Glow) or
        [0, 1) ("unit", and "logit" where a Logit bijector is the flow's first step).
        Without `num_bits`, the data itself. `log_prob`, `sample`, `decode` live here.
      - latent: standard normal, `encode` maps to it.

    Args:
      input_shape: shape of one example, e.g. (32, 32, 3) or (2,).
      num_bits: bits per value of discrete data (8; Glow's CelebA-HQ uses 5), None for
        continuous data, or "auto" (every family's default): 8 for image shapes (H, W, C),
        None for vectors. Integer input to a model of continuous data is an error.
      preprocessing: "centered", "unit" or "logit" (discrete data only).
      logit_alpha: alpha of the logit preprocessing (Real NVP: 0.05; MAF: 1e-6).
      num_classes: for a class-conditional model: labels (ints or one-hot) are the condition.
      condition_shape: shape of a general condition (without batch), instead of num_classes.
    """

    def __init__(
        self,
        input_shape,
        num_bits="auto",
        preprocessing="centered",
        logit_alpha=0.05,
        num_classes=None,
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(input_shape, str) or not hasattr(input_shape, "__iter__"):
            raise ValueError(
                f"input_shape must be a shape such as (32, 32, 3), got {input_shape!r}"
            )
        self.data_shape = tuple(count(d, "input_shape") for d in input_shape)
        if num_bits == "auto":
            num_bits = 8 if len(self.data_shape) == 3 else None
        if num_bits is not None and not 1 <= int(num_bits) <= 8:
            raise ValueError(f"num_bits must be None or in 1..8, got {num_bits}")
        self.num_bits = None if num_bits is None else int(num_bits)
        if preprocessing not in PREPROCESSING:
            raise ValueError(f"preprocessing must be one of {PREPROCESSING}, got {preprocessing!r}")
        self.preprocessing = preprocessing
        self.logit_alpha = float(logit_alpha)
        if num_classes is not None and condition_shape is not None:
            raise ValueError("give num_classes or condition_shape, not both")
        self.num_classes = None if num_classes is None else int(num_classes)
        if self.num_classes is not None:
            self.condition_shape = (self.num_classes,)
        else:
            self.condition_shape = None if condition_shape is None else tuple(condition_shape)
        self.flow_layers = []
        self._plan = []
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")

    # ----------------------------------------------------------------- construction
    def add_step(self, layer, shape, kind="layer"):
        """Appends a flow layer (built for examples of `shape`) to the plan; `kind`
        "factor_out" makes the rest of the plan its inner flow."""
        layer.build((None, *shape))
        self.flow_layers.append(layer)
        self._plan.append((kind, len(self.flow_layers) - 1))
        return layer

    def add_token(self, *token):
        self._plan.append(tuple(token))

    def finish(self):
        """Call at the end of a subclass's __init__: fixes the latent shape, marks built."""
        self.latent_shape = tuple(self._latent_shape(self._plan, self.data_shape))
        self.built = True

    @property
    def event_size(self):
        return int(np.prod(self.data_shape))

    def _latent_shape(self, plan, shape):
        for token in plan:
            if token[0] == "flatten":
                return (int(np.prod(shape)),)
        return shape

    # ----------------------------------------------------------------- bijectors
    def _condition(self, condition, n=None):
        """The condition as the networks take it, [N, *condition_shape]; see
        `checked_condition` (this drops the validity mask)."""
        return self.checked_condition(condition, n)[0]

    def checked_condition(self, condition, n=None):
        """(condition for the networks, [N] validity mask or None).

        Integer labels (`num_classes`) must be in 0..num_classes-1 and one per example (or
        one for all when `n` is given); they become one-hot rows. Other conditions are
        floats of shape [N, *condition_shape] (or one, broadcast to `n`). Bad values raise
        ValueError in Python and in eager mode; inside a graph they fail an assertion, and
        under XLA (which drops assertions) the mask marks their examples, whose outputs
        the model turns into NaN.
        """
        if self.condition_shape is None:
            if condition is not None:
                raise ValueError(f"{self.name} is unconditional but received a condition")
            return None, None
        if condition is None:
            raise ValueError(
                f"{self.name} is conditional (condition_shape={self.condition_shape}): "
                "pass labels or a condition"
            )
        c = condition if tf.is_tensor(condition) else tf.convert_to_tensor(np.asarray(condition))
        valid = None
        if self.num_classes is not None and c.dtype.is_integer:
            c, valid = check_labels(c, self.num_classes, n)
            c = tf.one_hot(c, self.num_classes)
        else:
            single = c.shape.rank == len(self.condition_shape)
            c = tf.cast(c, tf.float32) if c.dtype.is_integer else c
            c, valid = check_tensor(c, None if single else self.condition_shape, name="condition")
            rows = None if single else c.shape[0]
            if rows is not None and isinstance(n, numbers.Integral) and rows != n:
                raise ValueError(f"condition: got {rows} rows for {n} examples")
        c = tf.cast(c, self.compute_dtype)
        if n is not None and c.shape.rank == len(self.condition_shape):
            c = tf.broadcast_to(c[None], [n, *self.condition_shape])
        return c, valid

    def _layer_bijector(self, layer, condition, **kwargs):
        c = condition if layer.condition_shape is not None else None
        return layer.bijector(c, **kwargs)

    def _chain(self, plan, condition):
        parts, squeezes = [], []
        for k, token in enumerate(plan):
            kind = token[0]
            if kind == "layer":
                parts.append(self._layer_bijector(self.flow_layers[token[1]], condition))
            elif kind in ("squeeze", "permute", "flatten"):
                parts.append(self._fixed_bijector(token))
                if kind == "squeeze":
                    squeezes.append(token[1])
            elif kind == "factor_out":
                inner = self._chain(plan[k + 1 :], condition)
                layer = self.flow_layers[token[1]]
                parts.append(self._layer_bijector(layer, condition, inner=inner))
                break
            else:
                raise ValueError(f"unknown plan token {token!r}")
        parts += [tfb.Invert(bijectors.Squeeze(f)) for f in reversed(squeezes)]
        # tfb.Chain applies its last bijector first in `forward`, so listing the parts in
        # data-to-latent order makes `inverse` run them in that order.
        return tfb.Chain(parts)

    def _fixed_bijector(self, token):
        """The parameter-free bijector of a "squeeze", "permute" or "flatten" token."""
        kind = token[0]
        if kind == "squeeze":
            return bijectors.Squeeze(token[1])
        if kind == "permute":
            return tfb.Permute(list(token[1]))
        return tfb.Reshape(event_shape_out=self.data_shape, event_shape_in=(self.event_size,))

    def _preprocessor(self):
        """Bijectors between the continuous space and the flow's input (data side first)."""
        if self.num_bits is not None and self.preprocessing == "logit":
            return [bijectors.Logit(self.logit_alpha)]
        return []

    def flow_bijector(self, condition=None):
        """The whole flow as one bijector, forward latent -> continuous space (fresh each call)."""
        return self.flow_bijector_for(self._condition(condition))

    def flow_bijector_for(self, c):
        """`flow_bijector` for the networks' condition tensor `c` (already checked)."""
        return tfb.Chain(self._preprocessor() + [self._chain(self._plan, c)])

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

    def get_distribution(self, condition=None, temperature=1.0):
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
    @property
    def continuous_low(self):
        return -0.5 if self.preprocessing == "centered" else 0.0

    @property
    def space(self):
        """The continuous space of a discrete model (`num_bits` set), or None."""
        if self.num_bits is None:
            return None
        names = {
            "centered": "pixels / 2^bits - 0.5, the centered space of Glow",
            "unit": "pixels / 2^bits",
            "logit": "pixels / 2^bits, then a logit inside the model",
        }
        low = self.continuous_low
        return Space(low, low + 1.0, names[self.preprocessing])

    def to_continuous(self, x, seed=None, offset=0, global_batch=None):
        """Data -> continuous space: integer pixels are reduced to `num_bits`, dequantized
        with seeded uniform noise and scaled; floats are taken to be there already.
        `seed="center"` puts every value at the centre of its bin instead (no noise).
        `offset` and `global_batch`: `x` is one replica's rows of a global batch, and gets
        the noise those rows get in the whole batch (see `tfflows.data.dequantize`)."""
        x = tf.convert_to_tensor(x)
        if x.dtype.is_integer:
            if self.num_bits is None:
                raise ValueError(
                    f"{self.name} models continuous data (num_bits=None) but got integers: "
                    "pass floats, or build the model with num_bits=8 for 8-bit pixels"
                )
            if isinstance(seed, str) and seed == "center":
                pixels = reduce_bits(x, self.num_bits) + 0.5
            else:
                seed = (0, 0) if seed is None else seed
                pixels = dequantize(x, self.num_bits, seed, offset, global_batch)
            scale = bijectors.PixelScale(self.num_bits, centered=self.preprocessing == "centered")
            return tf.cast(scale.inverse(pixels), self.compute_dtype)
        return tf.cast(x, self.compute_dtype)

    def to_uint8(self, x):
        """Continuous-space values (samples, decodes) -> uint8 images of the data's bits.

        Values outside the space go to the nearest edge (0 or 255); a non-finite value is
        an error (ValueError, or a failed assertion inside a graph), never a black pixel.
        """
        if self.num_bits is None:
            raise ValueError("to_uint8 is for discrete (num_bits) models")
        return to_uint8(x, self.num_bits, low=self.continuous_low)

    def check_data(self, x, name="x", allow_empty=False):
        """`x` as a numpy array after the checks of `tfflows.data.check_array` against this
        model's example shape, bits and continuous space (ValueError naming the problem)."""
        return check_array(x, self.data_shape, self.num_bits, name, self.space, allow_empty)

    def _inputs(self, x, condition=None, name="x"):
        """(x, condition, n, valid): checked inputs (see `tfflows.data.check_tensor`) with
        an empty batch replaced by one stand-in example, the true batch size n, and a [n]
        mask of valid examples (None: all valid)."""
        x, valid = check_tensor(x, self.data_shape, self.num_bits, name, self.space)
        c, c_valid = self.checked_condition(condition, _batch_size(x))
        return (*_nonempty(x, c), _both(valid, c_valid))

    @staticmethod
    def _outputs(value, n, valid):
        """`value` for the true batch: cut to n rows, NaN where an example is invalid."""
        value = value[:n]
        if valid is None:
            return value
        mask = tf.reshape(valid, [-1] + [1] * (len(value.shape) - 1))
        return tf.where(mask, value, tf.constant(np.nan, value.dtype))

    # ----------------------------------------------------------------- the user API
    def log_prob(self, x, condition=None, seed=None):
        """Log-density of each example in the continuous space (nats), shape [N].

        Integer pixels are dequantized with seeded noise (`seed`: two integers; default
        (0, 0), so repeated calls agree); floats are scored as they are. Input is checked
        (see `check_data`): bad values raise, and inside an XLA-compiled function, where
        nothing can raise, their examples score NaN. An empty batch gives [0] results.
        """
        x, c, n, valid = self._inputs(x, condition)
        lp = self.distribution_for(c).log_prob(self.to_continuous(x, seed))
        return self._outputs(lp, n, valid)

    def bits_per_dim(self, x, condition=None, seed=None):
        """Negative log-likelihood per dimension in bits, in the data's discrete space.

            bits/dim = -(log p(y) - D * num_bits * log 2) / (D log 2)

        where y is the continuous-space value; the second term is the log-det of scaling
        [0, 2^num_bits) to the unit interval, so the number compares with the literature.
        For continuous data (num_bits None) it is -log p(x) / (D log 2).
        """
        return self.bits_from_log_prob(self.log_prob(x, condition, seed))

    def bits_from_log_prob(self, log_prob):
        """bits/dim of the data from continuous-space log-densities (see `bits_per_dim`)."""
        return self.nll_from_log_prob(log_prob) / (self.event_size * math.log(2.0))

    def nll_from_log_prob(self, log_prob):
        """Negative log-likelihood of the data in nats per example, from continuous-space
        log-densities: for a discrete model the NLL of its n-bit pixels (the dequantized
        bound papers report, -log p(y) + D * num_bits * log 2; positive), else -log p(x).
        The `nll` that `fit` and `evaluate` report."""
        bits = 0.0 if self.num_bits is None else float(self.num_bits)
        return -log_prob + self.event_size * bits * math.log(2.0)

    def draw_latent(self, n, seed=None):
        """n standard-normal latents; a seed (an int, or an int64 scalar tensor) makes them
        reproducible everywhere (Philox: "auto_select" draws differently under XLA)."""
        shape = [n, *self.latent_shape]
        if seed is None:
            return tf.random.normal(shape, dtype=self.compute_dtype)
        if not tf.is_tensor(seed):
            seed = _whole(seed, "seed", minimum=None)
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
        return tf.random.stateless_normal(shape, seed=seed, dtype=self.compute_dtype, alg="philox")

    def sample(self, n, temperature=1.0, seed=None, condition=None):
        """n samples in the continuous space; `temperature` scales every latent's std.

        `seed` (an int) makes the draw reproducible (stateless RNG). Temperature 0 gives
        the mode path: every latent 0. A discrete model's samples are clipped into its
        continuous space (the flow can put mass outside it; those values are the edge
        pixels 0 or 255 anyway), so `log_prob(sample(...))` always scores them. A
        non-finite sample (a float32 overflow far in the tails) is kept and warned about.
        """
        n = _whole(n, "n")
        temperature = _temperature(temperature)
        z = self.draw_latent(n, seed)
        x = self.sample_from_latent(z, temperature, self.checked_condition(condition, n)[0])
        if tf.executing_eagerly():
            bad = int(tf.reduce_sum(tf.cast(~_all_finite(x), tf.int32)))
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
        z, c, n = _nonempty(z * tf.cast(temperature, self.compute_dtype), condition)
        x = self.flow_bijector_for(c).forward(z)[:n]
        if self.num_bits is not None:
            x = tf.clip_by_value(x, self.continuous_low, self.continuous_low + 1.0)
        return x

    def sample_and_log_prob(self, n, seed=None, condition=None):
        """Samples and their log-density, in one pass (what variational inference needs)."""
        n = _whole(n, "n")
        z = self.draw_latent(n, seed)
        bij = self.flow_bijector_for(self.checked_condition(condition, n)[0])
        x = bij.forward(z)
        nd = len(self.latent_shape)
        lp = self.base_distribution().log_prob(z) - bij.forward_log_det_jacobian(z, nd)
        return x, lp

    def encode(self, x, condition=None, seed="center", form="tensor"):
        """Data -> latent. `form`: "tensor" (the latent's shape), "flat" ([batch, D]) or
        "list" (one latent per scale, the factored-out ones first).

        Integer pixels go to the centres of their bins (`seed="center"`, the default), so
        `to_uint8(decode(encode(x)))` gives `x` back; a stateless seed (two integers)
        dequantizes them with noise as `log_prob` does."""
        x, c, n, valid = self._inputs(x, condition)
        z = self._outputs(self.flow_bijector_for(c).inverse(self.to_continuous(x, seed)), n, valid)
        if form == "tensor":
            return z
        if form == "flat":
            return tf.reshape(z, [tf.shape(z)[0], -1])
        if form == "list":
            return self._split_latents(self._plan, z)
        raise ValueError(f'form must be "tensor", "flat" or "list", got {form!r}')

    def decode(self, z, condition=None):
        """Latent (any `encode` form) -> continuous space (the flow's exact output: not
        clipped, unlike `sample`)."""
        if isinstance(z, list | tuple):
            z = self._merge_latents(self._plan, list(z))
        z = tf.convert_to_tensor(z, self.compute_dtype)
        if z.shape.rank == 2 and len(self.latent_shape) > 1:
            z = tf.reshape(z, [-1, *self.latent_shape])
        z, valid = check_tensor(z, self.latent_shape, name="latent")
        c, c_valid = self.checked_condition(condition, _batch_size(z))
        z, c, n = _nonempty(z, c)
        return self._outputs(self.flow_bijector_for(c).forward(z), n, _both(valid, c_valid))

    def _level(self, plan):
        """(squeeze factors of this level, index of its factor-out token or None)."""
        factors = []
        for k, token in enumerate(plan):
            if token[0] == "squeeze":
                factors.append(token[1])
            if token[0] == "factor_out":
                return factors, k
        return factors, None

    def _split_latents(self, plan, z):
        factors, k = self._level(plan)
        for f in factors:
            z = tf.nn.space_to_depth(z, f)
        if k is None:
            return [z]
        kept, out = tf.split(z, 2, axis=-1)
        return [out] + self._split_latents(plan[k + 1 :], kept)

    def _merge_latents(self, plan, parts):
        factors, k = self._level(plan)
        if k is None:
            z = tf.convert_to_tensor(parts[0], self.compute_dtype)
        else:
            kept = self._merge_latents(plan[k + 1 :], parts[1:])
            z = tf.concat([kept, tf.cast(parts[0], self.compute_dtype)], axis=-1)
        for f in reversed(factors):
            z = tf.nn.depth_to_space(z, f)
        return z

    # ----------------------------------------------------------------- initialisation
    def needs_initialization(self):
        return any(
            hasattr(layer, "initialized") and float(layer.initialized.numpy()) == 0.0
            for layer in self.flow_layers
        )

    def initialize(self, x, condition=None, seed=None):
        """Data-dependent initialisation (ActNorm) from one batch, data side first."""
        c = self._condition(condition)
        h = self.to_continuous(x, seed)
        for b in self._preprocessor():
            h = b.inverse(h)
        self._initialize_walk(self._plan, h, c)

    def _initialize_walk(self, plan, h, c):
        for k, token in enumerate(plan):
            kind = token[0]
            if kind == "layer":
                layer = self.flow_layers[token[1]]
                lc = c if layer.condition_shape is not None else None
                layer.initialize(h, lc)
                h = layer.bijector(lc).inverse(h)
            elif kind in ("squeeze", "permute", "flatten"):
                # The same bijector as in the chain, in the same (data-to-latent) direction.
                h = self._fixed_bijector(token).inverse(h)
            elif kind == "factor_out":
                kept, _ = tf.split(h, 2, axis=-1)
                self._initialize_walk(plan[k + 1 :], kept, c)
                return

    # ----------------------------------------------------------------- diagnosis
    def trace(self, x, condition=None, seed=None):
        """The data -> latent direction one step at a time: a list of (name, output,
        log-det) per step, data side first. What a non-finite loss is traced back with."""
        c = self._condition(condition)
        h = self.to_continuous(x, seed)
        steps = [("input (continuous space)", h, None)]
        for b in self._preprocessor():
            steps.append((b.name, *self._trace_step(b, h)))
            h = steps[-1][1]
        self._trace_walk(self._plan, h, c, steps)
        return steps

    @staticmethod
    def _trace_step(bij, h):
        out = bij.inverse(h)
        return out, bij.inverse_log_det_jacobian(h, event_ndims=len(h.shape) - 1)

    def _trace_walk(self, plan, h, c, steps):
        for k, token in enumerate(plan):
            kind = token[0]
            if kind in ("layer", "factor_out"):
                layer = self.flow_layers[token[1]]
                lc = c if layer.condition_shape is not None else None
                extra = {"inner": tfb.Identity()} if kind == "factor_out" else {}
                out, ldj = self._trace_step(layer.bijector(lc, **extra), h)
                steps.append((f"{layer.name} ({type(layer).__name__})", out, ldj))
                if kind == "factor_out":
                    kept, _ = tf.split(h, 2, axis=-1)
                    return self._trace_walk(plan[k + 1 :], kept, c, steps)
            else:
                out, ldj = self._trace_step(self._fixed_bijector(token), h)
                steps.append((kind, out, ldj))
            h = out

    def first_nonfinite(self, x, condition=None, seed=None):
        """Where a batch first becomes non-finite in the data -> latent direction: a
        sentence naming the step (layer), or None when every output and log-det is finite."""
        for name, out, ldj in self.trace(x, condition, seed):
            bad_out = int(tf.size(out)) - int(
                tf.reduce_sum(tf.cast(tf.math.is_finite(out), tf.int32))
            )
            if bad_out:
                if ldj is None:
                    return f"the input batch holds {bad_out} non-finite values"
                return f"the output of {name} holds {bad_out} non-finite values"
            if ldj is not None and not bool(tf.reduce_all(tf.math.is_finite(ldj))):
                return f"the log-det of {name} is non-finite"
        return None

    # ----------------------------------------------------------------- Keras
    def call(self, inputs, training=False):
        """`model(x)` / `predict(x)`: log_prob per example; a conditional model takes
        `(x, condition)`."""
        x, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.log_prob(x, c)

    def compile(self, optimizer=None, jit_compile="auto", **kwargs):
        """Adam(1e-3) unless told otherwise; XLA on by default outside a distribution
        strategy (it is not on by default on CPU in Keras, and flows gain from it)."""
        if optimizer is None:
            optimizer = keras.optimizers.Adam(1e-3)
        if jit_compile == "auto":
            jit_compile = not tf.distribute.has_strategy()
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "jit_compile": self.jit_compile,
        }

    def compile_from_config(self, config):
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(optimizer=optimizer, jit_compile=config.get("jit_compile", "auto"))
        if self.built:
            # Create the optimizer's slots so that a saved optimizer state can be restored.
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return [self.nll_tracker, self.bpd_tracker]

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x, (y if self.condition_shape is not None else None)

    def _step_seed(self):
        step = tf.cast(self.optimizer.iterations, tf.int32)
        replica = tf.distribute.get_replica_context()
        rid = 0 if replica is None else replica.replica_id_in_sync_group
        return tf.stack([step, tf.cast(rid, tf.int32) + 1])

    def train_step(self, data):
        x, c = self._unpack(data)
        with tf.GradientTape() as tape:
            lp = self.log_prob(x, c, seed=self._step_seed())
            loss = -tf.reduce_mean(lp)
            # Gradients are summed over replicas; scale so they average instead.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_metrics(lp)

    def test_step(self, data):
        x, c = self._unpack(data)
        return self._update_metrics(self.log_prob(x, c))

    def _update_metrics(self, lp):
        self.nll_tracker.update_state(self.nll_from_log_prob(lp))
        self.bpd_tracker.update_state(self.bits_from_log_prob(lp))
        logs = {m.name: m.result() for m in self.metrics}
        # Keras callbacks (TerminateOnNaN, EarlyStopping, ReduceLROnPlateau) watch "loss".
        logs["loss"] = logs["nll"]
        if _multi_worker(tf.distribute.get_strategy()):
            # Keras' fit reduces the logs over the workers along axis 0, which scalars lack
            # (tensorflow/tensorflow#72388).
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=1, **kwargs):
        """Maximum-likelihood training with no labels (labels = condition if conditional).

        Compiles with the defaults if `compile` was not called, and runs the data-dependent
        initialisation on the first batch if the model has not been initialised. The data
        is checked first (arrays whole; a `tf.data.Dataset` batch by batch, in its input
        pipeline, where a check can raise even when the training step runs under XLA).
        `nll` and `loss` in the logs are the data's negative log-likelihood in nats per
        example (see `nll_from_log_prob`), `bits_per_dim` the same in bits per dimension.
        """
        if not self.compiled:
            self.compile()
        x, y = self._checked_fit_data(x, y)
        if self.needs_initialization():
            bx, by = self._first_batch(x, y, batch_size or 32)
            self.initialize(bx, by if self.condition_shape is not None else None)
        if _multi_worker(self.distribute_strategy):
            x, y = _int32_pixels(x), _int32_pixels(y)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """Keras' evaluate with the checks and defaults of `fit`; `nll` as in `fit`."""
        if not self.compiled:
            self.compile()
        x, y = self._checked_fit_data(x, y)
        return super().evaluate(x, y, **kwargs)

    def _checked_fit_data(self, x, y):
        """Training or evaluation data after the input checks (see `fit`)."""
        if isinstance(x, tf.data.Dataset):
            return x.map(self._checked_items), y
        if isinstance(x, np.ndarray | tf.Tensor | list):
            x = self.check_data(np.asarray(x), name="training data")
            if y is not None and self.condition_shape is not None:
                self.checked_condition(y, len(x))
        return x, y

    def _checked_items(self, *items):
        """A dataset element (x, or (x, y, ...)) with graph checks on x and the labels."""
        x, _ = check_tensor(items[0], self.data_shape, self.num_bits, "x", self.space)
        rest = list(items[1:])
        if rest and self.condition_shape is not None and rest[0] is not None:
            if self.num_classes is not None and rest[0].dtype.is_integer:
                rest[0] = check_labels(rest[0], self.num_classes, _batch_size(x))[0]
            else:
                rest[0] = check_tensor(rest[0], self.condition_shape, name="condition")[0]
        return (x, *rest) if rest else x

    def _first_batch(self, x, y, batch_size):
        if isinstance(x, tf.data.Dataset):
            item = next(iter(x.take(1)))
            if isinstance(item, tuple):
                return item[0], (item[1] if len(item) > 1 else None)
            return item, None
        if isinstance(x, np.ndarray | tf.Tensor | list):
            return x[:batch_size], (None if y is None else y[:batch_size])
        raise ValueError(
            "fit takes arrays or a tf.data.Dataset; other inputs need an explicit "
            "model.initialize(first_batch) first"
        )

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": self.data_shape,
            "num_bits": self.num_bits,
            "preprocessing": self.preprocessing,
            "logit_alpha": self.logit_alpha,
            "num_classes": self.num_classes,
            "condition_shape": None if self.num_classes else self.condition_shape,
        }


def _multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _int32_pixels(data):
    """uint8 pixels as int32: under MultiWorkerMirroredStrategy Keras' fit all-reduces the
    first batch, and collectives take no 8-bit integers."""
    if data is None:
        return None
    if isinstance(data, tf.data.Dataset):

        def widen(*items):
            out = tuple(
                tf.cast(t, tf.int32) if t.dtype in (tf.uint8, tf.int8) else t for t in items
            )
            return out if len(out) > 1 else out[0]

        return data.map(widen)
    if isinstance(data, np.ndarray) and data.dtype in (np.uint8, np.int8):
        return data.astype(np.int32)
    return data


def count(value, name: str, minimum: int = 1) -> int:
    """A constructor's size argument (levels, layers, units) as an int: ValueError naming
    it unless it is a whole number >= minimum (`Glow(levels="two")` says so)."""
    return _whole(value, name, minimum)


def _whole(value, name, minimum=0):
    """`value` as a Python int; ValueError unless it is a whole number (>= minimum)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, numbers.Integral):
        whole = int(value)
    elif float(value).is_integer():
        whole = int(value)
    else:
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if minimum is not None and whole < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {whole}")
    return whole


def _temperature(value):
    """A finite, non-negative temperature; a tensor inside a graph gets an assertion."""
    if tf.is_tensor(value) and not tf.executing_eagerly():
        check = tf.debugging.Assert(
            tf.math.is_finite(value) & (value >= 0), ["temperature must be >= 0 and finite"]
        )
        with tf.control_dependencies([check]):
            return tf.identity(value)
    t = float(value)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"temperature must be a finite number >= 0, got {t}")
    return t


def _all_finite(x):
    """[N] bool: whether every value of each example is finite."""
    return tf.reduce_all(tf.math.is_finite(tf.reshape(x, [tf.shape(x)[0], -1])), axis=1)


def _nonempty(x, c=None):
    """(x, c, n): an empty batch (known empty, or of unknown size inside a graph) replaced
    by one zero example, since TF's fused CPU convolutions fail on a batch of 0; results
    are cut back to the true batch size n."""
    n = tf.shape(x)[0]
    if x.shape[0] is not None and x.shape[0] > 0:
        return x, c, n

    def pad(t):
        one = tf.zeros(tf.concat([[1], tf.shape(t)[1:]], axis=0), t.dtype)
        return tf.cond(tf.shape(t)[0] > 0, lambda: t, lambda: one)

    return pad(x), (None if c is None else pad(c)), n


def _batch_size(x):
    """The batch size: a Python int when static, else a scalar tensor."""
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def _both(a, b):
    """The conjunction of two validity masks (None = all valid)."""
    if a is None or b is None:
        return b if a is None else a
    return a & b
