"""Serving signatures of video models (`tfflows.models.VideoFlow`): score videos, predict
their next frames, encode and decode them. `export_saved_model` uses them for any model that
has `predict_frames`; the layout, names, versions and the rest are those of `saved_model.py`.

| signature | inputs | outputs |
|---|---|---|
| serving_default, log_prob | x [N, T, H, W, C] | log_prob [N] |
| bits_per_dim | x | bits_per_dim [N] |
| predict_frames | context [N, k, H, W, C], num_frames, temperature, seed | samples, frames* |
| encode | x | latent [N, T, H, W, C] |
| decode | latent | x [N, T, H, W, C], frames* |

`x` and `context` are uint8 pixels (float32 for a continuous model); the number of frames
T (k) may change from one request to the next; num_frames is int32, temperature float32,
seed int64, and samples are [N, num_frames, H, W, C]. `log_prob` and `bits_per_dim` score the
frames after the model's `context_frames` given those (`model.log_prob`, `model.bits_per_dim`), so
`x` and `latent` need at least `context_frames + 1` frames; `predict_frames` draws
`num_frames` (>= 1) frames after each context of k >= 1 frames, as
`model.predict_frames(context, num_frames, temperature, seed)` does with the same seed, and
`samples` are its continuous values. *`frames` (uint8, `model.to_uint8`) only for discrete
models. `encode` maps videos to the model's standard-normal noise (pixels at their bins'
centres) and `decode` maps noise back. There is no `sample`: a video model predicts frames
after given ones, it has no unconditional draw (`predict_frames` is its sampling).

One request is capped: at most `max_batch` videos (default 1024), and at most `max_frames`
frames in all (default `MAX_FRAMES` = 1024): N * T for the videos of x or latent, and
N * (k + num_frames) for `predict_frames`, which encodes the context and decodes every frame.
A frame costs the server about what an image of the frame flow costs, so a request is bounded
in memory like an image request of as many images (see `saved_model.py`). A larger
request, or `num_frames` alone above `max_frames`, fails at once, before any work, with
InvalidArgument naming the request's size, the cap and how to raise it.
"""

import tensorflow as tf

from tfflows.export import checks

VIDEO_SIGNATURES = (
    "serving_default",
    "log_prob",
    "bits_per_dim",
    "predict_frames",
    "encode",
    "decode",
)
MAX_FRAMES = 1024


def video_serving_module(
    model, max_batch: int = checks.MAX_BATCH, max_frames: int = MAX_FRAMES
) -> tf.Module:
    """A `tf.Module` holding a video model's variables and one `tf.function` per signature
    of `VIDEO_SIGNATURES` (serving_default is `log_prob`).

    A request holds at most `max_batch` videos and `max_frames` frames in all (the
    predicted ones included); larger requests fail with InvalidArgument before any work.
    """
    max_batch = checks.check_count(max_batch, "max_batch")
    max_frames = checks.check_count(max_frames, "max_frames")
    module = tf.Module()
    checks.track_variables(module, model)
    discrete = model.num_bits is not None
    frame = tuple(model.data_shape[1:])
    pixels = tf.uint8 if discrete else tf.float32
    x_spec = tf.TensorSpec([None, None, *frame], pixels, "x")
    latent_spec = tf.TensorSpec([None, None, *frame], tf.float32, "latent")
    context_frames = model.context_frames
    too_large = (
        f"are more than this export allows (max_frames = {max_frames}); send fewer videos or "
        "frames per request, or re-export with export_saved_model(..., max_frames=...)"
    )

    def videos(tensor, signature, what, min_frames, why, predicted=None):
        """(tensor, its batch size): capped, checked, never empty. `predicted`: the frames
        a prediction adds to each video (they count against max_frames too)."""
        tensor = checks.batch_capped(tensor, max_batch, signature, what, "videos")
        tensor = checks.shape_checked(tensor, frame, what, leading=("N", "T"))
        shape = tf.shape(tensor, out_type=tf.int64)  # after the shape check: rank 5
        n, t = shape[0], shape[1]
        few = f"{signature}: {what} has {{}} frame(s) per video; give at least {min_frames} ({why})"
        tests = [tf.debugging.Assert(t >= min_frames, [tf.strings.format(few, [t])])]
        if predicted is None:
            template = (
                f"{signature}: {{}} frames in {what} ({{}} videos of {{}} frames) {too_large}"
            )
            tests.append(checks.at_most(n * t, max_frames, template, n, t))
        else:
            template = (
                f"{signature}: {{}} frames ({{}} videos of {{}} context frames and {{}} "
                f"to predict) {too_large}"
            )
            total = n * (t + predicted)
            tests.append(checks.at_most(total, max_frames, template, n, t, predicted))
        return checks.at_least_one(checks.after(tests, tensor))

    def scoring(fn, signature, spec):
        """A signature taking whole videos (x or latent) and returning fn's dict [N, ...]."""
        why = f"{context_frames} context frame(s) and one to score"

        def run(tensor):
            tensor, n = videos(tensor, signature, spec.name, context_frames + 1, why)
            return checks.cut(fn(tensor), n)

        return tf.function(run, input_signature=[spec], autograph=False)

    def with_frames(values):
        return {"frames": model.to_uint8(values)} if discrete else {}

    def decode(latent):
        finite = tf.reduce_all(tf.math.is_finite(latent))
        latent = checks.after(
            [tf.debugging.Assert(finite, ["decode: latent holds NaN or inf"])], latent
        )
        x = model.decode(latent)
        return {"x": x, **with_frames(x)}

    def predict_frames(context, num_frames, temperature, seed):
        # The num_frames cap first: every other check and all work wait for it, so a request
        # for too many frames fails at once with that message, before anything is allocated.
        cap = checks.count_capped(
            num_frames, max_frames, "predict_frames", "num_frames", "max_frames"
        )
        with tf.control_dependencies([cap]):
            valid = [
                tf.debugging.Assert(
                    num_frames >= 1, ["predict_frames: num_frames must be >= 1, got", num_frames]
                ),
                tf.debugging.Assert(
                    tf.math.is_finite(temperature) & (temperature >= 0),
                    ["predict_frames: temperature must be >= 0 and finite, got", temperature],
                ),
            ]
        context = checks.after(valid, context)
        predicted = tf.cast(num_frames, tf.int64)
        context, n = videos(
            context, "predict_frames", "context", 1, "frames to predict from", predicted
        )
        # model.predict_frames itself: the same seed draws the same frames as in Python.
        samples = model.predict_frames(context, num_frames, temperature, seed)[:n]
        return {"samples": samples, **with_frames(samples)}

    module.log_prob = scoring(lambda x: {"log_prob": model.log_prob(x)}, "log_prob", x_spec)
    module.bits_per_dim = scoring(
        lambda x: {"bits_per_dim": model.bits_per_dim(x)}, "bits_per_dim", x_spec
    )
    module.encode = scoring(lambda x: {"latent": model.encode(x)}, "encode", x_spec)
    module.decode = scoring(decode, "decode", latent_spec)
    module.predict_frames = tf.function(
        predict_frames,
        input_signature=[
            tf.TensorSpec([None, None, *frame], pixels, "context"),
            tf.TensorSpec([], tf.int32, "num_frames"),
            tf.TensorSpec([], tf.float32, "temperature"),
            tf.TensorSpec([], tf.int64, "seed"),
        ],
        autograph=False,
    )
    return module
