"""Variational inference with flow posteriors: fit q to an unnormalised target exp(-U).

The reverse-KL training loop of tfflows (maximum likelihood is `tfflows.training.trainer`);
the 2-D targets U1..U4 are in `tfflows.data.energies`.
"""

from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from tfflows.data.energies import Energy

if TYPE_CHECKING:
    from tfflows.models import FlowModel


def reverse_kl_terms(
    model: "FlowModel", energy: Energy, n: int, beta: float | tf.Tensor = 1.0
) -> tuple[tf.Tensor, tf.Tensor]:
    """Monte-Carlo estimate of E_q[log q(z) + beta * U(z)] (the free energy) and its parts."""
    z, log_q = model.sample_and_log_prob(n)
    u = energy(z)
    return tf.reduce_mean(log_q + beta * u), z


def fit_vi(
    model: "FlowModel",
    energy: Energy,
    steps: int = 10_000,
    batch_size: int = 256,
    learning_rate: float = 5e-3,
    anneal_steps: int = 2_000,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
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


def kl_divergence(
    model: "FlowModel", energy: Energy, log_z: float, n: int = 100_000, seed: int = 1
) -> float:
    """KL(q || p) = E_q[log q(z) + U(z)] + log Z, averaged over n samples of q."""
    z, log_q = model.sample_and_log_prob(n, seed=seed)
    return float(tf.reduce_mean(log_q + energy(z))) + log_z
