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
runs in TF Serving's C++ loader with no Python, TFP or tfflows. A video model (`VideoFlow`)
gets the signatures of `video_signatures.py` (log_prob, bits_per_dim, predict_frames, encode,
decode of videos) instead, an audio model those of `audio_signatures.py`, a VAE those of
`vae_signatures.py` (elbo, log_likelihood, sample, encode, decode).

One request is capped, so a client cannot make the server allocate without bound: `sample`
answers at most `max_samples` samples, the other signatures at most `max_batch` examples
(default `MAX_SAMPLES` = `MAX_BATCH` = 1024). A larger request fails at once, before any
work, with InvalidArgument naming the request's size, the cap and how to raise it.
Measured on glow_celeba (`python tests/scripts/export_request_memory.py glow_celeba --n 512
1024 4096` and `--signature log_prob --n 512 1024 2048`), one request raises the server's
peak memory by 0.29-0.45 MB per example: 366 MB for 1024 samples, 435 MB for log_prob of
1024 images, 1.46 GB for 4096 samples, over the 2.6 GB resident once `tf.saved_model.load`
has loaded it; and a server runs several requests at a time.
"""

import os
import pathlib
import re
import shutil
import socket
import tempfile

import tensorflow as tf

from tfflows.export.audio_signatures import (
    MAX_AUDIO,
    audio_serving_module,
    audio_signature_names,
    is_audio_model,
)
from tfflows.export.checks import (
    MAX_BATCH,
    after,
    at_least_one,
    batch_capped,
    check_count,
    count_capped,
    cut,
    shape_checked,
    track_variables,
)
from tfflows.export.vae_signatures import (
    MAX_IMPORTANCE_SAMPLES,
    VAE_SIGNATURES,
    is_vae,
    vae_serving_module,
)
from tfflows.export.video_signatures import MAX_FRAMES, VIDEO_SIGNATURES, video_serving_module

SIGNATURES = ("serving_default", "log_prob", "bits_per_dim", "sample", "encode", "decode")
MAX_SAMPLES = 1024
# A TF Serving model name is a folder name under base_path and a part of the REST URL
# /v1/models/<name>:predict, so: no path separators, no ':' or spaces, not hidden, not . or ..
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
# Temporary folder of an export in progress: .<version>.tmp-<host>-<pid>-<mkdtemp suffix>
_TEMP = re.compile(r"\.\d+\.tmp-(?P<host>.+)-(?P<pid>\d+)-[a-z0-9_]+")


def _condition_spec(model):
    if model.condition_shape is None:
        return None
    if model.num_classes is not None:
        return tf.TensorSpec([None], tf.int32, name="condition")
    return tf.TensorSpec([None, *model.condition_shape], tf.float32, name="condition")


def is_video_model(model) -> bool:
    """Whether `model` is a video model (it predicts frames): it gets the video signatures."""
    return callable(getattr(model, "predict_frames", None))


def signature_names(model) -> tuple:
    """The signatures an export of `model` has: `VIDEO_SIGNATURES`, an audio model's
    (`audio_signature_names`) or `SIGNATURES`; serving_default is the second one's."""
    if is_audio_model(model):
        return audio_signature_names(model)
    if is_vae(model):
        return VAE_SIGNATURES
    return VIDEO_SIGNATURES if is_video_model(model) else SIGNATURES


def serving_module(
    model,
    max_samples: int = MAX_SAMPLES,
    max_batch: int = MAX_BATCH,
    max_frames: int = MAX_FRAMES,
    max_audio: int = MAX_AUDIO,
    max_importance_samples: int = MAX_IMPORTANCE_SAMPLES,
) -> tf.Module:
    """A `tf.Module` holding the model's variables and one `tf.function` per signature
    (`signature_names(model)`; a video model gets `video_serving_module`'s).

    `sample` answers at most `max_samples` samples per request, the other signatures at
    most `max_batch` examples (videos); a video model's requests hold at most `max_frames`
    frames. Larger requests fail with InvalidArgument before any work.
    """
    max_samples = check_count(max_samples, "max_samples")
    max_batch = check_count(max_batch, "max_batch")
    max_frames = check_count(max_frames, "max_frames")
    if is_video_model(model):
        return video_serving_module(model, max_batch=max_batch, max_frames=max_frames)
    if is_audio_model(model):
        return audio_serving_module(model, max_batch=max_batch, max_audio=max_audio)
    if is_vae(model):
        return vae_serving_module(model, max_batch, max_samples, max_importance_samples)
    module = tf.Module()
    track_variables(module, model)
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

    def images(x):
        return {"images": model.to_uint8(x)} if discrete else {}

    def batch_op(fn, signature, shape, what):
        """fn(tensor, condition) -> dict, on a capped, checked, never-empty batch."""

        def run(tensor, condition):
            tensor = batch_capped(tensor, max_batch, signature, what)
            tensor, n = at_least_one(shape_checked(tensor, shape, what))
            if condition is not None:
                condition = batch_capped(condition, max_batch, signature, "condition")
                condition, _ = at_least_one(condition)
            return cut(fn(tensor, condition), n)

        return run

    def decode_fn(latent, condition):
        x = model.decode(latent, condition)
        return {"x": x, **images(x)}

    def log_prob_fn(x, condition):
        return {"log_prob": model.log_prob(x, condition)}

    def bits_per_dim_fn(x, condition):
        return {"bits_per_dim": model.bits_per_dim(x, condition)}

    def encode_fn(x, condition):
        return {"latent": model.encode(x, condition)}

    log_prob = batch_op(log_prob_fn, "log_prob", model.data_shape, "x")
    bits_per_dim = batch_op(bits_per_dim_fn, "bits_per_dim", model.data_shape, "x")
    encode = batch_op(encode_fn, "encode", model.data_shape, "x")
    decode = batch_op(decode_fn, "decode", model.latent_shape, "latent")

    def sample(n, temperature, seed, condition):
        # The cap first: every other check and all work wait for it, so a request that is
        # too large fails at once with that message, before anything is allocated.
        more = " (several requests for more)"
        with tf.control_dependencies(
            [count_capped(n, max_samples, "sample", "n", "max_samples", more)]
        ):
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
        n = after(checks, n)
        # model.sample itself: it checks the labels (in range, one per sample) and
        # handles n = 0; the same seed draws the same samples as in Python.
        x = model.sample(n, temperature, seed, condition if conditional else None)
        return {"samples": x, **images(x)}

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


def _check_name(name, default):
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    origin = " (the model's name; pass name=...)" if default else ""
    raise ValueError(
        f"name must be a TF Serving model name, got {name!r}{origin}: 1 to 255 letters, "
        "digits, '_', '-' or '.', starting with a letter or digit (so no path separators, "
        "no '.' or '..', not absolute, not empty)"
    )


def _host():
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"


def _process_alive(pid):
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, run by another user
        return True
    return True


def _remove_stale_temporaries(model_dir):
    """Removes the temporary folders of exports on this host whose process is gone (killed
    while writing). A live export's folder, or another host's, is left alone."""
    host = _host()
    for path in model_dir.iterdir():
        match = _TEMP.fullmatch(path.name)
        if not match or match["host"] != host:
            continue
        pid = int(match["pid"])
        if pid > 0 and not _process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)


def export_saved_model(
    model,
    base_dir,
    name: str | None = None,
    version: int | None = None,
    max_samples: int = MAX_SAMPLES,
    max_batch: int = MAX_BATCH,
    max_frames: int = MAX_FRAMES,
    max_audio: int = MAX_AUDIO,
    max_importance_samples: int = MAX_IMPORTANCE_SAMPLES,
) -> pathlib.Path:
    """Writes `model` as `base_dir/<name>/<version>/` and returns that path.

    `name` defaults to the model's name and must be a TF Serving model name (letters,
    digits, `_`, `-`, `.`; starting with a letter or digit). `version` defaults to one more
    than the highest existing version (TF Serving serves the highest). The SavedModel is
    written into a hidden temporary folder beside the target, `.<version>.tmp-<host>-<pid>-*`,
    and renamed into place only when complete, so a server never sees a half-written
    version; an existing version is never overwritten. Temporary folders left by an export
    killed on this host (its process is gone) are removed by the next export.

    `sample` answers at most `max_samples` samples per request and the other signatures
    at most `max_batch` examples; a larger request fails with InvalidArgument (see the
    module docstring for the memory one request takes). A video model (`VideoFlow`) gets
    the signatures of `tfflows.export.video_signatures` instead, and `max_frames` caps the
    frames of one request (every video's, the predicted ones included); `max_samples`
    concerns `sample` only, which a video model does not have. An audio model (`WaveNet`,
    `ParallelWaveNet`) gets the signatures of `tfflows.export.audio_signatures`, and
    `max_audio` caps the samples of one request. A VAE gets the signatures of
    `tfflows.export.vae_signatures`; `max_importance_samples` caps `log_likelihood`'s
    samples per example.
    """
    name = _check_name(model.name if name is None else name, default=name is None)
    if version is not None:
        version = check_count(version, "version", high=2**63 - 1)
    module = serving_module(
        model,
        max_samples,
        max_batch=max_batch,
        max_frames=max_frames,
        max_audio=max_audio,
        max_importance_samples=max_importance_samples,
    )
    model_dir = pathlib.Path(base_dir) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(model_dir)
    version = _next_version(model_dir) if version is None else version
    target = model_dir / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists; TF Serving versions are never rewritten")
    names = signature_names(model)
    signatures = {
        "serving_default": getattr(module, names[1]).get_concrete_function(),
        **{s: getattr(module, s).get_concrete_function() for s in names[1:]},
    }
    prefix = f".{version}.tmp-{_host()}-{os.getpid()}-"
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=prefix, dir=model_dir))
    try:
        tf.saved_model.save(module, str(tmp), signatures=signatures)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a server may run as another user
        os.replace(tmp, target)  # atomic on one file system: the version appears whole
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
