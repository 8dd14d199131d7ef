"""SavedModels with serving signatures, in the layout TF Serving watches.

    base_dir/<name>/<version>/saved_model.pb, variables/

Every signature uses the predict method (`tensorflow/serving/predict`), named inputs and
outputs, and a dynamic batch dimension:

| signature | inputs | outputs |
|---|---|---|
| serving_default, log_prob | x | log_prob [N] |
| bits_per_dim | x | bits_per_dim [N] |
| sample | n (int32), temperature (float32), seed (int64) | samples, images* |
| encode | x | latent |
| decode | latent | x, images* |

`x` is uint8 pixels for a discrete model (`num_bits` set; dequantized with the model's
fixed default noise, so scores are deterministic and equal `model.log_prob(x)`), float32
otherwise. *`images` (uint8) only for discrete models. A conditional model takes
`condition` as well (int32 labels [N] for `num_classes`, else float32 [N, *condition_shape];
for `sample`, one condition per sample). Only TensorFlow ops are in the graph: the export
runs in TF Serving's C++ loader with no Python, TFP or tfflows.
"""

import os
import pathlib
import shutil
import tempfile

import numpy as np
import tensorflow as tf

SIGNATURES = ("serving_default", "log_prob", "bits_per_dim", "sample", "encode", "decode")


def _condition_spec(model):
    if model.condition_shape is None:
        return None
    if model.num_classes is not None:
        return tf.TensorSpec([None], tf.int32, name="condition")
    return tf.TensorSpec([None, *model.condition_shape], tf.float32, name="condition")


def serving_module(model):
    """A `tf.Module` holding the model's variables and one `tf.function` per signature."""
    module = tf.Module()
    # Tracking the variables themselves (not the Keras model) is what the C++ loader needs
    # to find them ("Could not find variable ..." otherwise).
    module.model_variables = [v.value for v in model.variables]
    discrete = model.num_bits is not None
    x_spec = tf.TensorSpec([None, *model.data_shape], tf.uint8 if discrete else tf.float32, "x")
    z_spec = tf.TensorSpec([None, *model.latent_shape], tf.float32, "latent")
    c_spec = _condition_spec(model)
    conditional = c_spec is not None

    def with_condition(fn, specs):
        specs = [*specs, c_spec] if conditional else list(specs)
        if conditional:
            return tf.function(fn, input_signature=specs, autograph=False)
        return tf.function(lambda *args: fn(*args, None), input_signature=specs, autograph=False)

    def checked(tensor, shape, what):
        """`tensor` after asserting it is [N, *shape]: a wrong request fails with a message
        naming the input, not deep inside the flow."""
        # tf.debugging.assert_equal would pass at trace time: the signature declares the
        # dims, so TF folds tf.shape(tensor)[1:] to them. A client of the C API can still
        # send other dims; the element count (batch unknown, so not foldable) catches that.
        message = f"{what} must have shape [N, {', '.join(map(str, shape))}]"
        size = tf.shape(tensor, out_type=tf.int64)[0] * int(np.prod(shape))
        ok = tf.equal(tf.size(tensor, out_type=tf.int64), size)
        dims = tf.debugging.Assert(ok, [message, tf.shape(tensor)])
        with tf.control_dependencies([dims]):
            return tf.identity(tensor)

    def at_least_one(tensor):
        """(tensor, its batch size), with one zero example standing in for an empty batch:
        TF's fused CPU convolutions fail on a batch of 0; outputs are cut back with [:n]."""
        n = tf.shape(tensor)[0]
        dummy = tf.zeros(tf.concat([[1], tf.shape(tensor)[1:]], axis=0), tensor.dtype)
        return tf.cond(n > 0, lambda: tensor, lambda: dummy), n

    def cut(outputs, n):
        return {k: v[:n] for k, v in outputs.items()}

    def images(x):
        return {"images": model.to_uint8(x)} if discrete else {}

    def batch_op(fn, shape, what):
        """fn(tensor, condition) -> dict, on a checked, never-empty batch."""

        def run(tensor, condition):
            tensor, n = at_least_one(checked(tensor, shape, what))
            if condition is not None:
                condition, _ = at_least_one(condition)
            return cut(fn(tensor, condition), n)

        return run

    def decode_fn(latent, condition):
        x = model.decode(latent, condition)
        return {"x": x, **images(x)}

    log_prob = batch_op(lambda x, c: {"log_prob": model.log_prob(x, c)}, model.data_shape, "x")
    bits_per_dim = batch_op(
        lambda x, c: {"bits_per_dim": model.bits_per_dim(x, c)}, model.data_shape, "x"
    )
    encode = batch_op(lambda x, c: {"latent": model.encode(x, c)}, model.data_shape, "x")
    decode = batch_op(decode_fn, model.latent_shape, "latent")

    def sample(n, temperature, seed, condition):
        checks = [
            tf.debugging.assert_non_negative(n, message="sample: n must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="sample: temperature < 0"),
        ]
        if conditional:
            checks.append(
                tf.debugging.assert_equal(
                    tf.shape(condition)[0], n, message="sample: give one condition per sample"
                )
            )
        with tf.control_dependencies(checks):
            m = tf.maximum(n, 1)  # at least one: see at_least_one
            shape = tf.concat([[m], tf.constant(model.latent_shape, tf.int32)], axis=0)
        if conditional:
            condition, _ = at_least_one(condition)
        # The same draw as model.sample(n, temperature, seed): Philox, seed (seed, 0).
        z = tf.random.stateless_normal(
            shape, seed=tf.stack([seed, tf.constant(0, tf.int64)]), alg="philox"
        )
        c = model._condition(condition) if conditional else None
        x = model.flow_bijector(c).forward(z * temperature)
        return cut({"samples": x, **images(x)}, n)

    module.log_prob = with_condition(log_prob, [x_spec])
    module.bits_per_dim = with_condition(bits_per_dim, [x_spec])
    module.encode = with_condition(encode, [x_spec])
    module.decode = with_condition(decode, [z_spec])
    scalars = [
        tf.TensorSpec([], tf.int32, "n"),
        tf.TensorSpec([], tf.float32, "temperature"),
        tf.TensorSpec([], tf.int64, "seed"),
    ]
    module.sample = with_condition(sample, scalars)
    return module


def _next_version(directory):
    versions = (
        [int(p.name) for p in directory.iterdir() if p.name.isdigit()] if directory.exists() else []
    )
    return max(versions, default=0) + 1


def export_saved_model(model, base_dir, name=None, version=None):
    """Writes `model` as `base_dir/<name>/<version>/` and returns that path.

    `name` defaults to the model's name, `version` to one more than the highest existing
    version (TF Serving serves the highest). The SavedModel is written into a hidden
    temporary folder beside the target and renamed into place only when complete, so a
    server never sees a half-written version; an existing version is never overwritten.
    """
    name = name or model.name
    model_dir = pathlib.Path(base_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    version = _next_version(model_dir) if version is None else int(version)
    if version < 1:
        raise ValueError(f"version must be a positive integer, got {version}")
    target = model_dir / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists; TF Serving versions are never rewritten")
    module = serving_module(model)
    signatures = {
        "serving_default": module.log_prob.get_concrete_function(),
        **{s: getattr(module, s).get_concrete_function() for s in SIGNATURES[1:]},
    }
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server may run as another user
        os.replace(tmp, target)  # atomic on one file system: the version appears whole
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
