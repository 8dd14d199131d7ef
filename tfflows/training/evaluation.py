"""Scoring a model on a data set: mean bits/dim and NLL, reproducibly."""

import weakref

import numpy as np
import tensorflow as tf

# One compiled scoring function per model, so that evaluating every epoch does not trace
# and compile it again each time.
_SCORERS = weakref.WeakKeyDictionary()


def _scorer(model):
    if model not in _SCORERS:

        @tf.function(jit_compile=True, autograph=False)
        def score(xb, cb, seed):
            terms = getattr(model, "loss_terms", None)
            if terms is None:
                return {"nll": model.nll(xb, cb, seed=seed)}
            out = dict(terms(xb, cb, seed=seed))
            score = out[getattr(model, "evaluation_term", "loss")]
            out.pop("loss")
            return {"nll": score, **out}

        _SCORERS[model] = score
    return _SCORERS[model]


def evaluate_model(model, x, y=None, batch_size: int = 500) -> dict:
    """Mean bits/dim and NLL (the data's, in nats per example: see `FlowModel.nll`) of
    `model` on `x`; batch i is dequantized with seed (0, i), so the number is reproducible.

    A model whose loss has parts (`loss_terms(x, condition, seed)`: a dict of [N] values,
    its "loss" being `nll`; the distillation's KL, penalty and power) gets each part's mean
    under its own key as well. Its score ("nll") is the part named by the model's
    `evaluation_term` ("loss" by default; a VAE's is the unweighted -ELBO, whatever its KL
    warm-up's weight is now).
    """
    score = _scorer(model)
    parts = {}
    for i, start in enumerate(range(0, len(x), batch_size)):
        cb = None if y is None else tf.convert_to_tensor(y[start : start + batch_size])
        xb = tf.convert_to_tensor(x[start : start + batch_size])
        for key, value in score(xb, cb, tf.constant([0, i], tf.int64)).items():
            parts.setdefault(key, []).append(value.numpy())
    parts = {k: np.concatenate(v) for k, v in parts.items()}
    nll = parts.pop("nll")
    return {
        "examples": int(len(nll)),
        "nll": float(nll.mean()),
        "bits_per_dim": float(np.mean(model.bits_from_nll(nll))),
        **{k: float(v.mean()) for k, v in parts.items()},
    }
