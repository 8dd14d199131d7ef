"""FlowModel: a flow as a Keras 3 model users fit, score, sample, encode and save."""

import math

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors
from tfflows.data.quantization import dequantize, to_uint8
from tfflows.data.validation import check_array

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
      num_bits: bits per value of discrete data (8; Glow's CelebA-HQ uses 5), or None for
        continuous data.
      preprocessing: "centered", "unit" or "logit" (discrete data only).
      logit_alpha: alpha of the logit preprocessing (Real NVP: 0.05; MAF: 1e-6).
      num_classes: for a class-conditional model: labels (ints or one-hot) are the condition.
      condition_shape: shape of a general condition (without batch), instead of num_classes.
    """

    def __init__(
        self,
        input_shape,
        num_bits=None,
        preprocessing="centered",
        logit_alpha=0.05,
        num_classes=None,
        condition_shape=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.data_shape = tuple(int(d) for d in input_shape)
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
        if self.condition_shape is None:
            if condition is not None:
                raise ValueError(f"{self.name} is unconditional but received a condition")
            return None
        if condition is None:
            raise ValueError(
                f"{self.name} is conditional (condition_shape={self.condition_shape}): "
                "pass labels or a condition"
            )
        c = tf.convert_to_tensor(condition)
        if self.num_classes is not None and c.dtype.is_integer:
            c = tf.one_hot(tf.reshape(c, [-1]), self.num_classes)
        c = tf.cast(c, self.compute_dtype)
        if n is not None and c.shape.rank == len(self.condition_shape):
            c = tf.broadcast_to(c[None], [n, *self.condition_shape])
        return c

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
        c = self._condition(condition)
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
        return tfd.TransformedDistribution(
            self.base_distribution(temperature), self.flow_bijector(condition)
        )

    @property
    def distribution(self):
        return self.get_distribution()

    # ----------------------------------------------------------------- data spaces
    @property
    def continuous_low(self):
        return -0.5 if self.preprocessing == "centered" else 0.0

    def to_continuous(self, x, seed=None, offset=0, global_batch=None):
        """Data -> continuous space: integer pixels are reduced to `num_bits`, dequantized
        with seeded uniform noise and scaled; floats are taken to be there already.
        `offset` and `global_batch`: `x` is one replica's rows of a global batch, and gets
        the noise those rows get in the whole batch (see `tfflows.data.dequantize`)."""
        x = tf.convert_to_tensor(x)
        if x.dtype.is_integer:
            if self.num_bits is None:
                return tf.cast(x, self.compute_dtype)
            seed = (0, 0) if seed is None else seed
            pixels = dequantize(x, self.num_bits, seed, offset, global_batch)
            scale = bijectors.PixelScale(self.num_bits, centered=self.preprocessing == "centered")
            return tf.cast(scale.inverse(pixels), self.compute_dtype)
        return tf.cast(x, self.compute_dtype)

    def to_uint8(self, x):
        """Continuous-space values (samples, decodes) -> uint8 images of the data's bits."""
        if self.num_bits is None:
            raise ValueError("to_uint8 is for discrete (num_bits) models")
        return to_uint8(x, self.num_bits, low=self.continuous_low)

    def _check(self, x):
        if isinstance(x, np.ndarray) or isinstance(x, list):
            check_array(x, self.data_shape, self.num_bits)
        elif tf.is_tensor(x) and tf.executing_eagerly() and not isinstance(x, tf.Variable):
            if tuple(x.shape[1:]) != self.data_shape:
                raise ValueError(f"examples must have shape {self.data_shape}, got {x.shape[1:]}")

    # ----------------------------------------------------------------- the user API
    def log_prob(self, x, condition=None, seed=None):
        """Log-density of each example in the continuous space (nats).

        Integer pixels are dequantized with seeded noise (`seed`: two integers; default
        (0, 0), so repeated calls agree); floats are scored as they are.
        """
        self._check(x)
        y = self.to_continuous(x, seed)
        return self.get_distribution(condition).log_prob(y)

    def bits_per_dim(self, x, condition=None, seed=None):
        """Negative log-likelihood per dimension in bits, in the data's discrete space.

            bits/dim = -(log p(y) - D * num_bits * log 2) / (D log 2)

        where y is the continuous-space value; the second term is the log-det of scaling
        [0, 2^num_bits) to the unit interval, so the number compares with the literature.
        For continuous data (num_bits None) it is -log p(x) / (D log 2).
        """
        return self._bits(self.log_prob(x, condition, seed))

    def _bits(self, log_prob):
        d = float(self.event_size)
        bits = 0.0 if self.num_bits is None else float(self.num_bits)
        return -log_prob / (d * math.log(2.0)) + bits

    def _draw_latent(self, n, seed):
        """Standard-normal latents; a seed makes them reproducible everywhere (Philox:
        the default "auto_select" generator differs under XLA)."""
        shape = [int(n), *self.latent_shape]
        if seed is None:
            return tf.random.normal(shape, dtype=self.compute_dtype)
        return tf.random.stateless_normal(
            shape, seed=(int(seed), 0), dtype=self.compute_dtype, alg="philox"
        )

    def sample(self, n, temperature=1.0, seed=None, condition=None):
        """n samples in the continuous space; `temperature` scales every latent's std.

        `seed` (an int) makes the draw reproducible (stateless RNG). Temperature 0 gives
        the mode path: every latent 0.
        """
        n = int(n)
        c = self._condition(condition, n)
        z = self._draw_latent(n, seed) * tf.cast(temperature, self.compute_dtype)
        return self.flow_bijector(c).forward(z)

    def sample_and_log_prob(self, n, seed=None, condition=None):
        """Samples and their log-density, in one pass (what variational inference needs)."""
        z = self._draw_latent(n, seed)
        bij = self.flow_bijector(condition)
        x = bij.forward(z)
        nd = len(self.latent_shape)
        lp = self.base_distribution().log_prob(z) - bij.forward_log_det_jacobian(z, nd)
        return x, lp

    def encode(self, x, condition=None, seed=None, form="tensor"):
        """Data -> latent. `form`: "tensor" (the latent's shape), "flat" ([batch, D]) or
        "list" (one latent per scale, the factored-out ones first)."""
        self._check(x)
        z = self.flow_bijector(condition).inverse(self.to_continuous(x, seed))
        if form == "tensor":
            return z
        if form == "flat":
            return tf.reshape(z, [tf.shape(z)[0], -1])
        if form == "list":
            return self._split_latents(self._plan, z)
        raise ValueError(f'form must be "tensor", "flat" or "list", got {form!r}')

    def decode(self, z, condition=None):
        """Latent (any `encode` form) -> continuous space."""
        if isinstance(z, list | tuple):
            z = self._merge_latents(self._plan, list(z))
        z = tf.convert_to_tensor(z, self.compute_dtype)
        if z.shape.rank == 2 and len(self.latent_shape) > 1:
            z = tf.reshape(z, [-1, *self.latent_shape])
        return self.flow_bijector(condition).forward(z)

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
        self.nll_tracker.update_state(-lp)
        self.bpd_tracker.update_state(self._bits(lp))
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
        initialisation on the first batch if the model has not been initialised.
        """
        if not self.compiled:
            self.compile()
        if self.needs_initialization():
            bx, by = self._first_batch(x, y, batch_size or 32)
            self.initialize(bx, by if self.condition_shape is not None else None)
        if _multi_worker(self.distribute_strategy):
            x, y = _int32_pixels(x), _int32_pixels(y)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    def _first_batch(self, x, y, batch_size):
        if isinstance(x, tf.data.Dataset):
            item = next(iter(x.take(1)))
            if isinstance(item, tuple):
                return item[0], (item[1] if len(item) > 1 else None)
            return item, None
        if isinstance(x, np.ndarray | tf.Tensor | list):
            check_array(x, self.data_shape, self.num_bits)
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
