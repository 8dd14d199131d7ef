"""Serving signatures of audio models: a WaveNet scores and samples clips, a Parallel
WaveNet student samples them. `export_saved_model` uses them for `WaveNet` and
`ParallelWaveNet`; the layout, names, versions and the rest are those of `saved_model.py`.

| model | signature | inputs | outputs |
|---|---|---|---|
| ParallelWaveNet | serving_default, sample | n, length, seed, temperature, condition* | audio |
| WaveNet | serving_default, log_prob | x [N, T], condition* | log_prob [N] |
| WaveNet | sample | n, length, seed, temperature, condition* | audio |

n and length are int32, seed int64, temperature float32; x and audio are float32 samples
(x in [-1, 1]; audio [n, length] is not clipped). *condition (int32 labels, [n] or [1] for one label
for all) only for a model with `num_classes`. `sample` draws what `model.sample(n, length,
seed, condition, temperature)` draws in Python with the same seed: the student in one pass
per flow, the WaveNet one sample after another with its cached sampler (not compiled with
XLA here: TF Serving need not be built with it).

One request is capped at `max_audio` samples in all (n * length, or N * T; default
`MAX_AUDIO` = 160,000, 20 s at 8 kHz) and at most `max_batch` clips; a larger request fails
at once, before any work, with InvalidArgument naming its size, the cap and how to raise it.
"""

import tensorflow as tf

from tfflows.export import checks
from tfflows.models import arguments

MAX_AUDIO = 160_000


def is_audio_model(model) -> bool:
    """Whether `model` takes audio clips [N, T] (WaveNet, ParallelWaveNet)."""
    from tfflows.models import ParallelWaveNet, WaveNet

    return isinstance(model, WaveNet | ParallelWaveNet)


def audio_signature_names(model) -> tuple:
    """The signatures of an audio model's export; serving_default is the second one."""
    from tfflows.models import WaveNet

    if isinstance(model, WaveNet):
        return ("serving_default", "log_prob", "sample")
    return ("serving_default", "sample")


def audio_serving_module(
    model, max_batch: int = checks.MAX_BATCH, max_audio: int = MAX_AUDIO
) -> tf.Module:
    """A `tf.Module` holding an audio model's variables and one `tf.function` per signature
    of `audio_signature_names(model)` (see the module doc)."""
    max_batch = checks.check_count(max_batch, "max_batch")
    max_audio = checks.check_count(max_audio, "max_audio")
    module = tf.Module()
    checks.track_variables(module, model)
    conditional = model.num_classes is not None
    too_large = (
        f"is more than this export allows (max_audio = {max_audio}); ask for fewer or shorter "
        "clips, or re-export with export_saved_model(..., max_audio=...)"
    )

    def sample(n, length, seed, temperature, condition=None):
        template = f"sample: n * length = {{}} ({{}} clips of {{}} samples) {too_large}"
        total = tf.cast(n, tf.int64) * tf.cast(length, tf.int64)
        tests = [
            checks.at_most(total, max_audio, template, n, length),
            tf.debugging.Assert(n >= 1, ["sample: n must be >= 1, got", n]),
            tf.debugging.Assert(length >= 1, ["sample: length must be >= 1, got", length]),
            tf.debugging.Assert(
                tf.math.is_finite(temperature) & (temperature >= 0),
                ["sample: temperature must be >= 0 and finite, got", temperature],
            ),
        ]
        n = checks.after(tests, n)
        if conditional:
            one = tf.equal(tf.size(condition), 1)
            count = tf.debugging.Assert(
                one | tf.equal(tf.size(condition), n),
                ["sample: give one label, or n labels; got", tf.size(condition), "for n =", n],
            )
            condition = checks.after([count], condition)
            condition = tf.cond(one, lambda: tf.fill([n], condition[0]), lambda: condition)
        audio = model.sample(n, length, seed=seed, condition=condition, temperature=temperature)
        return {"audio": audio}

    scalars = [
        tf.TensorSpec([], tf.int32, "n"),
        tf.TensorSpec([], tf.int32, "length"),
        tf.TensorSpec([], tf.int64, "seed"),
        tf.TensorSpec([], tf.float32, "temperature"),
    ]
    labels = [tf.TensorSpec([None], tf.int32, "condition")] if conditional else []
    module.sample = tf.function(sample, input_signature=scalars + labels, autograph=False)

    if "log_prob" in audio_signature_names(model):

        def log_prob(x, condition=None):
            x = checks.batch_capped(x, max_batch, "log_prob", "x", "clips")
            shape = tf.shape(x, out_type=tf.int64)
            template = f"log_prob: {{}} samples in x ({{}} clips of {{}}) {too_large}"
            total = checks.at_most(shape[0] * shape[1], max_audio, template, shape[0], shape[1])
            x = checks.after([total], x)
            x, condition, n = arguments.nonempty(x, condition)
            return checks.cut({"log_prob": model.log_prob(x, condition)}, n)

        clips = [tf.TensorSpec([None, None], tf.float32, "x")]
        module.log_prob = tf.function(log_prob, input_signature=clips + labels, autograph=False)
    return module
