"""Variational inference with flow posteriors: fit q to an unnormalised target exp(-U)."""

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm


def reverse_kl_terms(model, energy, n, beta=1.0):
    """Monte-Carlo estimate of E_q[log q(z) + beta * U(z)] (the free energy) and its parts."""
    z, log_q = model.sample_and_log_prob(n)
    u = energy(z)
    return tf.reduce_mean(log_q + beta * u), z


def fit_vi(
    model,
    energy,
    steps=10_000,
    batch_size=256,
    learning_rate=5e-3,
    anneal_steps=2_000,
    seed=0,
    progress=True,
):
    """Minimises the (annealed) free energy F = E_q[log q(z) + beta_t U(z)] with Adam.

    beta_t rises linearly from 0.01 to 1 over `anneal_steps`, as in Rezende & Mohamed's
    experiments (Section 6.1), then stays at 1; the learning rate follows a cosine decay.
    Returns the free energies per step (with beta = beta_t).
    """
    keras.utils.set_random_seed(seed)
    variables = model.trainable_variables
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps))

    @tf.function(jit_compile=True)
    def step(beta):
        with tf.GradientTape() as tape:
            loss, _ = reverse_kl_terms(model, energy, batch_size, beta)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    losses = []
    bar = tqdm(
        range(steps), desc="variational fit", unit="step", mininterval=2.0, disable=not progress
    )
    for t in bar:
        beta = min(1.0, 0.01 + t / max(1, anneal_steps))
        losses.append(float(step(tf.constant(beta, tf.float32))))
        if t % 500 == 0:
            bar.set_postfix(free_energy=f"{np.mean(losses[-500:]):.3f}", refresh=False)
    return losses


def kl_divergence(model, energy, log_z, n=100_000, seed=1):
    """KL(q || p) = E_q[log q(z) + U(z)] + log Z, averaged over n samples of q."""
    z, log_q = model.sample_and_log_prob(n, seed=seed)
    return float(tf.reduce_mean(log_q + energy(z))) + log_z
