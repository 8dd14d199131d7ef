"""Serving signatures of a VAE (`tfflows.models.VAE`): `export_saved_model` uses them for
it; the layout, names, versions and the rest are those of `saved_model.py`.

| signature | inputs | outputs |
|---|---|---|
| serving_default, elbo | x, seed, condition* | elbo [N] |
| log_likelihood | x, num_samples, seed, condition* | log_likelihood [N] |
| sample | n, temperature, seed, condition* | samples [n, *input_shape] |
| encode | x, seed, condition* | latent [N, L], log_q [N] |
| decode | latent, condition* | x [N, *input_shape] |

x is float32 [N, *input_shape] (0 or 1 for a Bernoulli VAE, in [0, 1] for the discretized
logistic); n and num_samples are int32, seed int64, temperature float32. *condition (int32
labels [N], or [n] for `sample`) only for a conditional VAE (`num_classes`). Every output is
in nats or in pixel space: `elbo` and `log_likelihood` are log-densities (negative), `sample`
and `decode` return the decoder's pixel probabilities (Bernoulli) or means. Each signature
returns what the Python method returns with the same seed (`elbo(x, condition, seed)`,
`log_likelihood(x, condition, num_samples, seed)`, `sample(n, condition, seed,
temperature)`, `encode(x, condition, seed)`, `decode(latent, condition)`).

Caps: at most `max_batch` examples per request (`max_samples` for `sample`), and at most
`max_importance_samples` samples per example for `log_likelihood` (default 5,000, the
papers' number; its work is N * num_samples decoder passes, in chunks of bounded memory).
A request over a cap, bad pixels, labels out of range or a wrong shape fail before any work
with InvalidArgument naming the input.
"""

import tensorflow as tf

from tfflows.export import checks

MAX_IMPORTANCE_SAMPLES = 5000
VAE_SIGNATURES = ("serving_default", "elbo", "log_likelihood", "sample", "encode", "decode")


def is_vae(model) -> bool:
    from tfflows.models import VAE

    return isinstance(model, VAE)


def vae_serving_module(
    model,
    max_batch: int = checks.MAX_BATCH,
    max_samples: int = checks.MAX_BATCH,
    max_importance_samples: int = MAX_IMPORTANCE_SAMPLES,
) -> tf.Module:
    """A `tf.Module` holding the VAE's variables and one `tf.function` per signature of
    `VAE_SIGNATURES` (see the module doc)."""
    max_batch = checks.check_count(max_batch, "max_batch")
    max_samples = checks.check_count(max_samples, "max_samples")
    max_importance = checks.check_count(max_importance_samples, "max_importance_samples")
    module = tf.Module()
    checks.track_variables(module, model)
    conditional = model.num_classes is not None

    def seed_pair(seed):
        return tf.stack([tf.constant(0, tf.int64), seed])  # an int seed s is (0, s) in Python

    def labels_checked(condition, n, signature):
        if not conditional:
            return None
        rows = tf.debugging.Assert(
            tf.equal(tf.size(condition), n),
            [f"{signature}: give one label per example; got", tf.size(condition), "for", n],
        )
        in_range = tf.debugging.Assert(
            tf.reduce_all((condition >= 0) & (condition < model.num_classes)),
            [f"{signature}: labels must be in [0, {model.num_classes}), got", condition],
        )
        return checks.after([rows, in_range], condition)

    def examples(x, condition, signature, what="x", shape=model.data_shape):
        x = checks.batch_capped(x, max_batch, signature, what)
        x = checks.shape_checked(x, shape, what)
        return x, labels_checked(condition, tf.shape(x)[0], signature)

    def elbo(x, seed, condition=None):
        x, condition = examples(x, condition, "elbo")
        return {"elbo": model.elbo(x, condition, seed_pair(seed))}

    def log_likelihood(x, num_samples, seed, condition=None):
        template = (
            f"log_likelihood: num_samples = {{}} is more than this export allows "
            f"(max_importance_samples = {max_importance}); re-export with "
            "export_saved_model(..., max_importance_samples=...)"
        )
        tests = [
            checks.at_most(num_samples, max_importance, template),
            tf.debugging.Assert(
                num_samples >= 1, ["log_likelihood: num_samples must be >= 1, got", num_samples]
            ),
        ]
        num_samples = checks.after(tests, num_samples)
        x, condition = examples(x, condition, "log_likelihood")
        value = model.log_likelihood(x, condition, num_samples, seed_pair(seed))
        return {"log_likelihood": value}

    def sample(n, temperature, seed, condition=None):
        cap = checks.count_capped(n, max_samples, "sample", "n", "max_samples")
        n = checks.after([cap], n)
        condition = labels_checked(condition, n, "sample")
        x = model.sample(n, condition, seed_pair(seed), temperature)
        return {"samples": x}

    def encode(x, seed, condition=None):
        x, condition = examples(x, condition, "encode")
        z, log_q = model.encode(x, condition, seed_pair(seed))
        return {"latent": z, "log_q": log_q}

    def decode(latent, condition=None):
        latent, condition = examples(
            latent, condition, "decode", "latent", shape=(model.latent_dim,)
        )
        return {"x": model.decode(latent, condition)}

    x_spec = tf.TensorSpec([None, *model.data_shape], tf.float32, "x")
    seed = tf.TensorSpec([], tf.int64, "seed")
    labels = [tf.TensorSpec([None], tf.int32, "condition")] if conditional else []

    def signature(fn, specs):
        return tf.function(fn, input_signature=[*specs, *labels], autograph=False)

    module.elbo = signature(elbo, [x_spec, seed])
    module.log_likelihood = signature(
        log_likelihood, [x_spec, tf.TensorSpec([], tf.int32, "num_samples"), seed]
    )
    module.sample = signature(
        sample,
        [tf.TensorSpec([], tf.int32, "n"), tf.TensorSpec([], tf.float32, "temperature"), seed],
    )
    module.encode = signature(encode, [x_spec, seed])
    module.decode = signature(
        decode, [tf.TensorSpec([None, model.latent_dim], tf.float32, "latent")]
    )
    return module
