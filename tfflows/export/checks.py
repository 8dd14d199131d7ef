"""The graph-side checks every serving signature shares: request caps, exact input shapes,
empty batches. Only TensorFlow ops: they run in TF Serving's C++ loader."""

import numbers

import tensorflow as tf

INT32_MAX = 2**31 - 1
# Examples (images, videos) in one request to any signature but `sample` (see saved_model.py).
MAX_BATCH = 1024


def check_count(value, what: str, low: int = 1, high: int = INT32_MAX) -> int:
    """An export argument (a cap, a version) as an int in [low, high]; TypeError or
    ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{what} must be an integer from {low} to {high}, got {value}")
    return int(value)


def track_variables(module: tf.Module, model) -> None:
    """Makes `module` track the model's variables themselves: the C++ loader finds them only
    so ("Could not find variable ..." when the module merely holds the Keras model)."""
    module.model_variables = [v.value for v in model.variables]


def at_most(count, cap: int, template: str, *values) -> tf.Operation:
    """An assertion op: `count` <= `cap`, else InvalidArgument with `template` formatted
    with the count and `values` (built in the graph: the message names the request's values)."""
    return tf.debugging.Assert(count <= cap, [tf.strings.format(template, [count, *values])])


def count_capped(count, cap: int, signature: str, name: str, option: str, note: str = ""):
    """An assertion op: the request's `name` (a scalar count) is at most `cap`, else
    InvalidArgument naming the value, the cap (the export option `option`) and how to raise it."""
    template = (
        f"{signature}: {name} = {{}} is more than this export allows ({option} = {cap}); "
        f"ask for at most {cap} per request{note}, or re-export with "
        f"export_saved_model(..., {option}=...)"
    )
    return at_most(count, cap, template)


def after(checks, tensor):
    """`tensor`, computed only once every op of `checks` has run."""
    with tf.control_dependencies(checks):
        return tf.identity(tensor)


def batch_capped(tensor, max_batch: int, signature: str, what: str, noun: str = "examples"):
    """`tensor` after asserting its batch (first dimension) is at most `max_batch`."""
    template = (
        f"{signature}: a batch of {{}} {noun} in {what} is more than this export allows "
        f"(max_batch = {max_batch}); send at most {max_batch} per request, or re-export "
        "with export_saved_model(..., max_batch=...)"
    )
    return after([at_most(tf.shape(tensor)[0], max_batch, template)], tensor)


def shape_checked(tensor, shape, what: str, leading=("N",)):
    """`tensor` after asserting it is [*leading, *shape] (the leading dims any size): a wrong
    request fails with a message naming the input, not deep inside the flow."""
    # The signature declares the rank and the trailing dims, so TF folds every check built
    # from them (tf.rank, tf.shape(x)[1:] == shape, tf.debugging.assert_equal) to True at
    # trace time or in Grappler, while a client of the C API can send any shape. The shape's
    # run-time values joined as text compare exactly, for any rank, with nothing to fold.
    dims = tf.strings.reduce_join(
        tf.strings.as_string(tf.shape(tensor)[len(leading) :]), separator=","
    )
    ok = tf.equal(dims, ",".join(str(int(d)) for d in shape))
    message = f"{what} must have shape [{', '.join([*leading, *map(str, shape)])}], got"
    return after([tf.debugging.Assert(ok, [message, tf.shape(tensor)], summarize=8)], tensor)


def at_least_one(tensor):
    """(tensor, its batch size), with one zero example standing in for an empty batch:
    TF's fused CPU convolutions fail on a batch of 0; outputs are cut back with `cut`."""
    n = tf.shape(tensor)[0]
    dummy = tf.zeros(tf.concat([[1], tf.shape(tensor)[1:]], axis=0), tensor.dtype)
    return tf.cond(n > 0, lambda: tensor, lambda: dummy), n


def cut(outputs: dict, n) -> dict:
    """Every output cut back to the request's batch size `n`."""
    return {k: v[:n] for k, v in outputs.items()}
