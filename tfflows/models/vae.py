"""A variational autoencoder whose posterior q(z|x) may be a normalizing flow."""

import math

import keras
import numpy as np
import tensorflow as tf

from tfflows.data.validation import _asserted, _check_shape, check_array
from tfflows.models import arguments
from tfflows.models.conditioning import Conditioning
from tfflows.models.terms_training import TermsTraining
from tfflows.models.vae_likelihoods import LIKELIHOODS, log_likelihood, mean
from tfflows.models.vae_posterior import POSTERIORS, PosteriorFlow
from tfflows.nets.mlp import MLP
from tfflows.nets.vae_encoder import VAEEncoder

_LOG_2PI = math.log(2.0 * math.pi)


def _standard_normal_log_prob(z):
    return tf.reduce_sum(-0.5 * z**2 - 0.5 * _LOG_2PI, axis=-1)


def _seed(seed):
    """A stateless seed [2] (an int n means (0, n)), or None for fresh noise."""
    if seed is None:
        return None
    if isinstance(seed, int | np.integer):
        return tf.constant([0, int(seed)], tf.int64)
    return tf.cast(tf.convert_to_tensor(seed), tf.int64)


@keras.saving.register_keras_serializable(package="tfflows")
class VAEState(keras.layers.Layer):
    """The VAE's weights outside its networks: the decoder's log-scale per pixel (Gaussian
    and logistic likelihoods; `pixels` = 0 for none) and the count of optimizer updates."""

    def __init__(self, pixels=0, **kwargs):
        super().__init__(**kwargs)
        self.pixels = int(pixels)
        self.pixel_log_scale = None

    def build(self, input_shape=None):
        if self.pixels:
            self.pixel_log_scale = self.add_weight(
                shape=(self.pixels,), initializer="zeros", name="pixel_log_scale"
            )
        self.update_count = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            name="update_count",
            aggregation="only_first_replica",
        )

    def get_config(self):
        return {**super().get_config(), "pixels": self.pixels}


@keras.saving.register_keras_serializable(package="tfflows")
class VAE(TermsTraining, keras.Model):
    """Variational autoencoder with a diagonal-Gaussian or flow posterior.

        q(z|x) : z_0 = mu(x) + sigma(x) * eps, eps ~ N(0, I);  z = z_K = f_K o ... o f_1(z_0)
                 log q(z|x) = log N(z_0; mu, sigma^2) - sum_k log|det df_k/dz_{k-1}|
        p(z) = N(0, I),  p(x|z) = the decoder's likelihood (Bernoulli, Gaussian or
               discretized logistic: `tfflows.models.vae_likelihoods`)
        ELBO(x) = E_q[log p(x|z) + log p(z) - log q(z|x)]         (one sample of eps)
        log p(x) ~ logsumexp_k [log p(x, z_k) - log q(z_k|x)] - log K  (K samples)

    The flow's parameters come from the encoder, one flow per example (planar: u, w, b;
    Sylvester: Q, R1, R2, b; IAF: MADEs that take the encoder's context h): Rezende &
    Mohamed 2015 (arXiv:1505.05770), Kingma et al. 2016 (arXiv:1606.04934), van den Berg
    et al. 2018 (arXiv:1803.05649). The encoder and decoder are MLPs over the flattened
    pixels. With `num_classes` it is the conditional VAE (Sohn et al. 2015): the one-hot
    label enters encoder and decoder; `sample(n, condition=labels)` draws chosen classes
    and `classify(x)` picks the label with the highest conditional likelihood.

    Training minimises `nll` = reconstruction + beta * KL per example, with the KL
    estimated by the same sample, log q(z|x) - log p(z), and beta rising linearly from 0
    to 1 over `warmup_steps` optimizer updates (KL warm-up, Sonderby et al. 2016). The
    count of updates is the model variable `update_count` (non-trainable): `fit`'s step and
    `tfflows.train`'s (through `count_update`) add one per update, and it is saved with
    the weights and in the trainer's checkpoints, so a resumed run keeps its beta.

    Args:
      input_shape: shape of one example, e.g. (28, 28, 1) or (D,).
      latent_dim: L.
      posterior: "diagonal", "planar", "iaf", "sylvester_orthogonal",
        "sylvester_householder" or "sylvester_triangular".
      num_flows: flow steps of the posterior.
      likelihood: "bernoulli" (binary data), "gaussian" (real data; a learned scale per
        pixel) or "discretized_logistic" (pixels k/255 in [0, 1]; a learned scale per pixel).
      num_classes: labels to condition on, or None.
      hidden_units: widths of the encoder's hidden layers (and the decoder's, unless
        `decoder_units` says otherwise).
      decoder_units: widths of the decoder's hidden layers (() makes it linear).
      warmup_steps: updates over which beta rises to 1 (0: beta = 1 from the start).
      sylvester_columns: M of the orthogonal Sylvester flow (default L).
      num_householder: reflections per step of the Householder Sylvester flow.
      iaf_units: hidden widths of each IAF step's MADE.
      context_units: size of the encoder's context h for IAF.
      activation: hidden activation of every network.
    """

    max_eval_batch = 500
    # Evaluations (tfflows.train's test and validation scores, `evaluate`) report -ELBO
    # with the full KL: the warm-up's weighted loss would flatter a young model.
    evaluation_term = "negative_elbo"

    def __init__(
        self,
        input_shape,
        latent_dim: int,
        posterior: str = "diagonal",
        num_flows: int = 4,
        likelihood: str = "bernoulli",
        num_classes: int | None = None,
        hidden_units=(300, 300),
        decoder_units=None,
        warmup_steps: int = 0,
        sylvester_columns: int | None = None,
        num_householder: int = 8,
        iaf_units=(64,),
        context_units: int = 32,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(input_shape, str) or not hasattr(input_shape, "__iter__"):
            raise ValueError(
                f"input_shape must be a shape such as (28, 28, 1), got {input_shape!r}"
            )
        self.data_shape = tuple(arguments.count(d, "input_shape") for d in input_shape)
        self.event_size = math.prod(self.data_shape)
        self.latent_dim = arguments.count(latent_dim, "latent_dim")
        if posterior not in POSTERIORS:
            raise ValueError(f"posterior must be one of {', '.join(POSTERIORS)}, got {posterior!r}")
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}"
            )
        self.posterior = posterior
        self.likelihood = likelihood
        self.num_flows = arguments.count(num_flows, "num_flows", minimum=0)
        self.num_classes = (
            None if num_classes is None else arguments.count(num_classes, "num_classes")
        )
        self.conditioning = Conditioning(num_classes=self.num_classes, owner="this VAE")
        self.condition_shape = self.conditioning.shape
        self.hidden_units = [arguments.count(u, "hidden_units") for u in hidden_units]
        self.decoder_units = (
            list(self.hidden_units)
            if decoder_units is None
            else [arguments.count(u, "decoder_units") for u in decoder_units]
        )
        self.warmup_steps = arguments.whole(warmup_steps, "warmup_steps")
        self.sylvester_columns = sylvester_columns
        self.num_householder = arguments.count(num_householder, "num_householder")
        self.iaf_units = [arguments.count(u, "iaf_units") for u in iaf_units]
        self.context_units = arguments.count(context_units, "context_units")
        self.activation = activation
        self.network_dtype = None
        self.flow = PosteriorFlow(
            posterior,
            self.latent_dim,
            self.num_flows,
            sylvester_columns=sylvester_columns,
            num_householder=self.num_householder,
            iaf_units=self.iaf_units,
            context_units=self.context_units if posterior == "iaf" else 0,
            name="posterior_flow",
        )
        self.encoder = VAEEncoder(
            self.hidden_units,
            self.latent_dim,
            flow_units=self.flow.raw_size,
            context_units=self.context_units if posterior == "iaf" else 0,
            activation=activation,
            condition_shape=self.condition_shape,
            name="encoder",
        )
        self.encoder.build((None, self.event_size))
        self.flow.build()  # after the encoder: its hidden layers start alike for every posterior
        self.decoder = MLP(
            self.decoder_units,
            self.event_size,
            activation=activation,
            condition_shape=self.condition_shape,
            name="decoder",
        )
        self.decoder.build((None, self.latent_dim))
        # In a layer of their own: a model's own weights take the model's name into their
        # paths (vae_1/...), which the trainer's checkpoints are keyed by.
        self.state = VAEState(self.event_size if likelihood != "bernoulli" else 0, name="state")
        self.state.build()
        self.nll_tracker = keras.metrics.Mean(name="nll")
        self.bpd_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.term_trackers = {k: keras.metrics.Mean(name=k) for k in ("reconstruction", "kl")}
        self.built = True

    @classmethod
    def for_data(cls, x, **overrides) -> "VAE":
        """A VAE for examples like `x` [N, ...] (latent_dim defaults to 32)."""
        if np.ndim(x) < 2:
            raise ValueError(f"a VAE needs a batch of examples [N, ...], got shape {np.shape(x)}")
        return cls.from_shape(tuple(np.shape(x)[1:]), **overrides)

    @property
    def pixel_log_scale(self):
        """[D] log-scales of the Gaussian or logistic pixels (None for Bernoulli)."""
        return self.state.pixel_log_scale

    @property
    def update_count(self):
        """Optimizer updates so far (the KL warm-up's clock)."""
        return self.state.update_count

    @classmethod
    def from_shape(cls, input_shape, **kwargs) -> "VAE":
        """`build_model("vae", input_shape, latent_dim=...)`: latent_dim defaults to 32."""
        return cls(input_shape, kwargs.pop("latent_dim", 32), **kwargs)

    # ----------------------------------------------------------------- data and conditions
    @property
    def num_bits(self):
        return None

    def check_data(self, x, name="x", allow_empty=False):
        """x [N, *input_shape] as float32 numpy: finite; binary for Bernoulli, in [0, 1] for
        the discretized logistic. Raises ValueError naming the problem."""
        a = np.asarray(x)
        if a.dtype == bool or np.issubdtype(a.dtype, np.integer):
            a = a.astype(np.float32)
        a = check_array(a, self.data_shape, None, name, None, allow_empty)
        if self.likelihood == "bernoulli" and a.size and not np.all((a == 0) | (a == 1)):
            bad = a[(a != 0) & (a != 1)]
            raise ValueError(
                f"{name}: a Bernoulli VAE models binary data (0 or 1), got {bad.size} other "
                f"values (e.g. {bad.ravel()[0]:g}); binarise the pixels first "
                "(tfflows.data.binarization.binarize; tfflows.train(..., augment='binarize') "
                "draws them afresh each epoch)"
            )
        self._refuse_integers(np.asarray(x).dtype, name)
        if self.likelihood == "discretized_logistic" and a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(
                f"{name}: the discretized logistic models pixels k/255 in [0, 1], got values "
                f"in [{a.min():g}, {a.max():g}]; divide 8-bit pixels by 255"
            )
        return a.astype(np.float32)

    def _refuse_integers(self, dtype, name="x"):
        if self.likelihood == "gaussian" and tf.as_dtype(dtype).is_integer:
            raise ValueError(
                f"{name}: a Gaussian VAE models real values (its samples are in [0, 1]), got "
                "integers; divide 8-bit pixels by 255"
            )

    def _checked_batch(self, x):
        """A batch as float32 with graph checks (shape now; values by assertion)."""
        self._refuse_integers(x.dtype if tf.is_tensor(x) else np.asarray(x).dtype)
        x = tf.cast(x, tf.float32)
        _check_shape(tuple(x.shape), self.data_shape, "x")
        if tf.executing_eagerly():
            return tf.convert_to_tensor(self.check_data(x.numpy(), allow_empty=True))
        flat = tf.reshape(x, [tf.shape(x)[0], -1])
        ok = tf.math.is_finite(flat)
        if self.likelihood == "bernoulli":
            ok &= tf.equal(flat, 0.0) | tf.equal(flat, 1.0)
        elif self.likelihood == "discretized_logistic":
            ok &= (flat >= 0.0) & (flat <= 1.0)
        return _asserted(x, tf.reduce_all(ok, axis=1), f"x does not fit the {self.likelihood}")

    def checked_condition(self, condition, n=None):
        return self.conditioning.checked(condition, n, tf.float32)

    def _inputs(self, x, condition):
        """(flattened x [N, D], one-hot condition or None)."""
        x = self._checked_batch(x)
        c, _ = self.checked_condition(condition, arguments.batch_size(x))
        return tf.reshape(x, [-1, self.event_size]), c

    def needs_initialization(self) -> bool:
        return False

    def initialize(self, x, condition=None, seed=None) -> None:
        """Nothing to initialise from data."""

    # ----------------------------------------------------------------- the posterior
    def _posterior(self, x_flat, c, samples, seed, offset=0, global_batch=None):
        """(z [S*N, L], log q(z|x) [S*N]) for S samples per example, sample-major rows."""
        mu, log_sigma, raw, context = self.encoder(x_flat, condition=c)
        params = self.flow.parameters(raw)

        def repeat(t):
            return None if t is None else tf.tile(t, [samples] + [1] * (len(t.shape) - 1))

        mu, log_sigma, context = repeat(mu), repeat(log_sigma), repeat(context)
        params = [
            {k: v if k == "q" and v.shape.rank == 2 else repeat(v) for k, v in p.items()}
            for p in params
        ]
        shape = tf.shape(mu)
        if seed is None:
            eps = tf.random.normal(shape)
        elif global_batch is None:
            eps = tf.random.stateless_normal(shape, seed, alg="philox")
        else:
            # The rows of this replica within the global batch (S = 1 in training).
            full = tf.random.stateless_normal([global_batch, self.latent_dim], seed, alg="philox")
            eps = full[offset : offset + shape[0]]
        z0 = mu + tf.exp(log_sigma) * eps
        log_q0 = _standard_normal_log_prob(eps) - tf.reduce_sum(log_sigma, -1)
        z, log_det = self.flow(z0, params, context)
        return z, log_q0 - log_det

    def _log_joint(self, x_flat, c, z, samples):
        """(log p(x|z), log p(z)) [S*N] for z [S*N, L]."""
        c = None if c is None else tf.tile(c, [samples, 1])
        out = self.decoder(z, condition=c)
        x = tf.tile(x_flat, [samples, 1])
        return log_likelihood(self.likelihood, x, out, self.pixel_log_scale), (
            _standard_normal_log_prob(z)
        )

    def encode(self, x, condition=None, seed=None):
        """(z [N, L], log q(z|x) [N]): one draw of the posterior per example."""
        x_flat, c = self._inputs(x, condition)
        return self._posterior(x_flat, c, 1, _seed(seed))

    def decode(self, z, condition=None):
        """Pixel probabilities (Bernoulli) or means [N, *input_shape] of p(x|z)."""
        if isinstance(z, tuple) and len(z) == 2 and np.ndim(z[0]) == 2 and np.ndim(z[1]) == 1:
            raise ValueError("decode takes z [N, L]; encode returns (z, log_q): pass encode(x)[0]")
        z = tf.convert_to_tensor(z, tf.float32)
        if z.shape.rank != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"decode takes z [N, {self.latent_dim}], got shape {z.shape}")
        c, _ = self.checked_condition(condition, arguments.batch_size(z))
        out = mean(self.likelihood, self.decoder(z, condition=c))
        return tf.reshape(out, [-1, *self.data_shape])

    def reconstruct(self, x, condition=None, seed=None):
        """decode(encode(x)[0]): the probabilities or means of p(x|z) at a posterior draw."""
        return self.decode(self.encode(x, condition, seed)[0], condition)

    def sample(self, n, condition=None, seed=None, temperature=1.0):
        """n draws of the decoder's mean (Bernoulli probabilities; Gaussian and logistic
        means clipped to [0, 1]) at z ~ N(0, temperature^2 I); [n, *input_shape]."""
        n = arguments.sample_count(n)
        t = arguments.temperature(temperature)
        seed = _seed(seed)
        shape = [n, self.latent_dim]
        z = (
            tf.random.normal(shape)
            if seed is None
            else tf.random.stateless_normal(shape, seed, alg="philox")
        )
        return tf.clip_by_value(self.decode(t * z, condition), 0.0, 1.0)

    # ----------------------------------------------------------------- scores
    def beta(self) -> tf.Tensor:
        """The KL weight now: min(1, update_count / warmup_steps)."""
        if self.warmup_steps == 0:
            return tf.constant(1.0)
        return tf.minimum(1.0, tf.cast(self.update_count, tf.float32) / self.warmup_steps)

    def loss_terms(self, x, condition=None, seed=None, offset=0, global_batch=None) -> dict:
        """{"reconstruction": -log p(x|z), "kl": log q(z|x) - log p(z) (this sample's
        estimate), "negative_elbo": their sum, "loss": reconstruction + beta * kl}, [N] each
        in nats."""
        x_flat, c = self._inputs(x, condition)
        z, log_q = self._posterior(x_flat, c, 1, _seed(seed), offset, global_batch)
        log_px, log_pz = self._log_joint(x_flat, c, z, 1)
        reconstruction, kl = -log_px, log_q - log_pz
        return {
            "reconstruction": reconstruction,
            "kl": kl,
            "negative_elbo": reconstruction + kl,
            "loss": reconstruction + self.beta() * kl,
        }

    def elbo(self, x, condition=None, seed=None) -> tf.Tensor:
        """[N]: log p(x|z) + log p(z) - log q(z|x) at one draw z ~ q(z|x), in nats."""
        return -self.loss_terms(x, condition, seed)["negative_elbo"]

    def nll(self, x, condition=None, seed=None, offset=0, global_batch=None) -> tf.Tensor:
        """[N]: the training loss, -ELBO with the KL weighted by `beta()`."""
        return self.loss_terms(x, condition, seed, offset, global_batch)["loss"]

    def bits_from_nll(self, nll):
        return nll / (self.event_size * math.log(2.0))

    def log_likelihood(
        self, x, condition=None, num_samples: int = 5000, seed=None, max_rows: int = 20000
    ) -> tf.Tensor:
        """[N]: log p(x) ~ logsumexp_k w_k - log K, w_k = log p(x, z_k) - log q(z_k|x), z_k ~ q.

        The K samples run in chunks of at most `max_rows` (samples x examples) decoder rows,
        combined by a running logsumexp, so K = 5000 on MNIST needs no more memory than a
        batch. Chunk j uses the stateless seed (seed, j). Inside a graph (the exported
        signature) `num_samples` may be a scalar int32 tensor; the chunks and the draws are
        the same, so the export returns what Python returns.
        """
        if tf.is_tensor(num_samples) and not tf.executing_eagerly():
            k = tf.cast(num_samples, tf.int32)
        else:
            k = arguments.count(num_samples, "num_samples")
        rows = arguments.count(max_rows, "max_rows")
        x_flat, c = self._inputs(x, condition)
        n = tf.shape(x_flat)[0]
        if x_flat.shape[0] == 0:
            return tf.zeros([0])
        per_chunk = tf.maximum(1, rows // tf.maximum(n, 1))
        chunks = (k + per_chunk - 1) // per_chunk
        base = _seed(seed)
        if base is None:
            base = tf.random.uniform([2], 0, 2**31 - 1, dtype=tf.int64)

        def step(j, total):
            s = tf.minimum(per_chunk, k - j * per_chunk)
            chunk_seed = tf.stack([base[0] + base[1], tf.cast(j, tf.int64)])
            w = self._log_weights(x_flat, c, s, chunk_seed)
            return j + 1, tf.reduce_logsumexp(tf.stack([total, tf.reduce_logsumexp(w, 0)]), 0)

        _, total = tf.while_loop(
            lambda j, _: j < chunks, step, [tf.constant(0), tf.fill([n], -np.inf)]
        )
        return total - tf.math.log(tf.cast(k, tf.float32))

    @tf.function(reduce_retracing=True)
    def _log_weights(self, x_flat, c, samples, seed):
        z, log_q = self._posterior(x_flat, c, samples, seed)
        log_px, log_pz = self._log_joint(x_flat, c, z, samples)
        return tf.reshape(log_px + log_pz - log_q, [samples, -1])

    def classify(self, x, num_samples: int = 16, seed=0) -> tf.Tensor:
        """[N] int32: argmax_y log p(x|y) (importance-sampled with `num_samples`): the label
        that explains x best, with a uniform prior over labels (the CVAE used backwards)."""
        if self.num_classes is None:
            raise ValueError("classify needs a conditional VAE (num_classes)")
        x = self.check_data(x, allow_empty=True)
        scores = [
            self.log_likelihood(x, np.full(len(x), y, np.int32), num_samples, seed)
            for y in range(self.num_classes)
        ]
        return tf.argmax(tf.stack(scores, -1), axis=-1, output_type=tf.int32)

    def first_nonfinite(self, x, condition=None, seed=None) -> str | None:
        terms = self.loss_terms(x, condition, seed)
        for name in ("reconstruction", "kl"):
            if not bool(tf.reduce_all(tf.math.is_finite(terms[name]))):
                return f"the VAE's {name} term is non-finite"
        return None

    # ----------------------------------------------------------------- training
    def count_update(self):
        """One optimizer update done: moves the KL warm-up on (the trainer calls it)."""
        self.update_count.assign_add(1.0)

    def _after_update(self):
        self.count_update()

    def call(self, inputs, training=False):
        """`model(x)` / `predict(x)`: the ELBO per example; a CVAE takes (x, labels)."""
        x, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.elbo(x, c)

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "posterior": self.posterior,
            "num_flows": self.num_flows,
            "likelihood": self.likelihood,
            "num_classes": self.num_classes,
            "hidden_units": self.hidden_units,
            "decoder_units": self.decoder_units,
            "warmup_steps": self.warmup_steps,
            "sylvester_columns": self.sylvester_columns,
            "num_householder": self.num_householder,
            "iaf_units": self.iaf_units,
            "context_units": self.context_units,
            "activation": self.activation,
        }
