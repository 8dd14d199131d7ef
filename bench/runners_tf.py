"""tfflows and TensorFlow Probability's own bijectors on the workloads of `workloads.py`.

A runner holds, per measure, a callable doing one batch and waiting for its result:
"train" (NLL, gradient, Adam), "log_prob" and "sample". TensorFlow runners come in two
variants: "traced" (tf.function) and "xla" (tf.function(jit_compile=True)).
"""

import tempfile

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from bench.runner import Runner

tfb, tfd = tfp.bijectors, tfp.distributions


def _cycle(x, batch):
    """A function returning the next global batch of `x` on each call."""
    batches = [tf.constant(x[i : i + batch]) for i in range(0, len(x), batch)]
    state = {"i": 0}

    def next_batch():
        state["i"] += 1
        return batches[state["i"] % len(batches)]

    return next_batch


def _count(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


# --- tfflows ---------------------------------------------------------------------------


def _family(workload):
    from bench.workloads import GLOW32, MADE8, REALNVP2D

    return {
        "glow32": (
            "glow",
            {**GLOW32, "levels": workload.levels, "hidden_channels": workload.hidden},
        ),
        "realnvp2d": ("realnvp", REALNVP2D),
        "maf8": ("maf", MADE8),
        "iaf8": ("iaf", MADE8),
    }[workload.name]


def tfflows_fit_runner(workload, variant, x):
    """Keras `model.fit`'s compiled step (loss, gradient and Adam in one function): `fit`
    (jit_compile=False), `fit_xla` (True), or `fit_auto`, compile's default: the warm
    start's two halves with the faster gradient (`fit_warm_start.py`), chosen before the
    timing starts."""
    import keras

    from tfflows.models import build_model

    family, overrides = _family(workload)
    keras.utils.set_random_seed(0)
    model = build_model(family, workload.shape, **overrides)
    jit = {"fit": False, "fit_xla": True, "fit_auto": "auto"}[variant]
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit)
    model.fit(x[: workload.batch], batch_size=workload.batch, epochs=1, verbose=0)
    if variant == "fit_auto" and hasattr(model.train_function, "finish"):
        # (A checkout before the warm start has Keras' own "auto" and nothing to finish.)
        model.train_function.finish()
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(workload.batch, True)
    iterator = iter(data.prefetch(2))
    return Runner(
        "tfflows",
        variant,
        model.count_params(),
        {"train": lambda: model.train_function(iterator)["loss"].numpy()},
        note="Keras fit's train_function",
    )


def tfflows_runner(workload, variant, x):
    import keras

    from tfflows import models
    from tfflows.training import Trainer

    if variant.startswith("fit"):
        return tfflows_fit_runner(workload, variant, x)
    family, overrides = _family(workload)
    xla = variant == "xla"
    keras.utils.set_random_seed(0)
    trainer = Trainer(
        models.for_data(family, x, **overrides),
        x,
        out_dir=tempfile.mkdtemp(prefix="tfflows_bench_"),
        batch_size=workload.batch,
        xla=xla,
        progress=False,
    )
    trainer.initialize()
    model = trainer.model
    state = {"step": 0}

    def train():
        trainer.train_step(state["step"])
        state["step"] += 1

    next_batch = _cycle(x, workload.batch)
    # A one-argument function, as for TFP's runner. tf.function(model.log_prob) also
    # works, but matching a bound Keras method's arguments to its trace cost 0.8 ms per
    # call here (typing.Protocol isinstance checks in TensorFlow's trace-type builder).
    log_prob = tf.function(lambda xb: model.log_prob(xb), jit_compile=xla, autograph=False)
    sample = tf.function(lambda: model.sample(workload.batch), jit_compile=xla, autograph=False)
    return Runner(
        "tfflows",
        variant,
        model.count_params(),
        {
            "train": train,
            "log_prob": lambda: log_prob(next_batch()).numpy(),
            "sample": lambda: sample().numpy(),
        },
        note="tfflows.train's step (the loss comes back to the host before Adam applies)",
    )


# --- TFP -------------------------------------------------------------------------------


def _tfp_glow(workload):
    def coupling(input_shape):
        return tfb.GlowDefaultNetwork(input_shape, num_hidden=workload.hidden)

    glow = tfb.Glow(
        output_shape=workload.shape,
        num_glow_blocks=workload.levels,
        num_steps_per_block=8,
        coupling_bijector_fn=coupling,
        exit_bijector_fn=tfb.GlowDefaultExitNetwork,
    )
    size = int(np.prod(workload.shape))
    dist = tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [size]), glow)
    return dist, glow


def _mlp(out, hidden, name):
    import tf_keras

    return tf_keras.Sequential(
        [tf_keras.layers.Dense(h, activation="relu") for h in hidden]
        + [tf_keras.layers.Dense(out, kernel_initializer="zeros")],
        name=name,
    )


def _tfp_realnvp(workload):
    d = workload.shape[0]
    bijectors, nets = [], []
    for i in range(8):
        net = _mlp(2 * (d - d // 2), [128, 128], f"coupling_{i}")
        nets.append(net)

        def fn(x, output_units, net=net):
            h = net(x)
            return h[..., :output_units], h[..., output_units:]

        bijectors.append(tfb.RealNVP(num_masked=d // 2, shift_and_log_scale_fn=fn))
        bijectors.append(tfb.Permute(list(range(d - 1, -1, -1))))
    flow = tfb.Chain(bijectors[:-1][::-1])
    flow.nets = nets  # the closures hide the networks from tf.Module's tracking
    return tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [d]), flow), flow


def _tfp_made_stack(workload, inverse):
    d = workload.shape[0]
    bijectors = []
    for i in range(5):
        if i > 0:
            bijectors.append(tfb.Permute(list(range(d - 1, -1, -1))))
        made = tfb.AutoregressiveNetwork(
            params=2, hidden_units=[256, 256], event_shape=[d], activation="relu"
        )
        maf = tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=made, name=f"maf_{i}")
        bijectors.append(tfb.Invert(maf) if inverse else maf)
    # Chain applies its last bijector first in the forward (sampling) direction; the
    # density direction starts from the data with made_0.
    flow = tfb.Chain(bijectors)
    return tfd.TransformedDistribution(tfd.Sample(tfd.Normal(0.0, 1.0), [d]), flow), flow


def tfp_runner(workload, variant, x):
    import tf_keras

    xla = variant == "xla"
    build = {
        "glow32": _tfp_glow,
        "realnvp2d": _tfp_realnvp,
        "maf8": lambda w: _tfp_made_stack(w, inverse=False),
        "iaf8": lambda w: _tfp_made_stack(w, inverse=True),
    }[workload.name]
    dist, flow = build(workload)
    next_batch = _cycle(x, workload.batch)
    optimizer = tf_keras.optimizers.Adam(1e-3)

    def prepare(xb, seed):
        if not workload.discrete:
            return xb
        # Dequantize to [0, 1), centred as Glow's code does: x / 256 - 0.5.
        u = tf.random.stateless_uniform(tf.shape(xb), seed)
        return (tf.cast(xb, tf.float32) + u) / 256.0 - 0.5

    first = prepare(next_batch(), tf.constant([0, 0]))
    dist.log_prob(first)  # creates variables; TFP's ActNorm initialises from this batch
    variables = flow.trainable_variables

    @tf.function(jit_compile=xla, autograph=False)
    def step(xb, seed):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(dist.log_prob(prepare(xb, seed)))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    state = {"step": 0}

    def train():
        state["step"] += 1
        step(next_batch(), tf.constant([0, state["step"]])).numpy()

    log_prob = tf.function(
        lambda xb: dist.log_prob(prepare(xb, tf.constant([1, 1]))),
        jit_compile=xla,
        autograph=False,
    )
    sample = tf.function(lambda: dist.sample(workload.batch), jit_compile=xla, autograph=False)
    return Runner(
        "tfp",
        variant,
        _count(variables),
        {
            "train": train,
            "log_prob": lambda: log_prob(next_batch()).numpy(),
            "sample": lambda: sample().numpy(),
        },
        note="loss, gradient and Adam in one tf.function (XLA for the xla variant)",
    )


TF_RUNNERS = {"tfflows": tfflows_runner, "tfp": tfp_runner}
