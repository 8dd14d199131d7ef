"""Where a batch becomes non-finite: the data -> latent direction one step at a time."""

import tensorflow as tf

from tfflows.models.assembly import FIXED_STEPS


def step_name(step) -> str:
    """ "actnorm_0_1 (ActNorm)" for a layer, "squeeze" / "permute" / "flatten" otherwise."""
    if isinstance(step, FIXED_STEPS):
        return step.name
    return f"{step.name} ({type(step).__name__})"


def _ldj(bij, h):
    return bij.inverse_log_det_jacobian(h, event_ndims=len(h.shape) - 1)


def trace(model, x, condition=None, seed=None) -> list:
    """[(name, output, log-det)] per step of `model`, data side first, starting with the
    input in the continuous space (log-det None)."""
    c = model._condition(condition)
    h = model.to_continuous(x, seed)
    steps = [("input (continuous space)", h, None)]
    for b in model.data_space.preprocessor():
        out = b.inverse(h)
        steps.append((b.name, out, _ldj(b, h)))
        h = out

    def visit(step, bij, h_in, out):
        steps.append((step_name(step), out, _ldj(bij, h_in)))

    model.flow.walk(h, c, visit=visit)
    return steps


def first_nonfinite(model, x, condition=None, seed=None) -> str | None:
    """A sentence naming the step (layer) where `x` first becomes non-finite, or None."""
    for name, out, ldj in trace(model, x, condition, seed):
        bad = int(tf.size(out)) - int(tf.reduce_sum(tf.cast(tf.math.is_finite(out), tf.int32)))
        if bad:
            if ldj is None:
                return f"the input batch holds {bad} non-finite values"
            return f"the output of {name} holds {bad} non-finite values"
        if ldj is not None and not bool(tf.reduce_all(tf.math.is_finite(ldj))):
            return f"the log-det of {name} is non-finite"
    return None
