"""The demo job: fit a Real NVP flow to two moons and plot the learned density.

Until the pretrained zoo lands, this is what `make run` shows: the bijectors and layers of
tfflows trained by maximum likelihood, with a picture of the result.
"""

import pathlib
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tqdm import tqdm

from tfflows import layers, toy_data

tfd = tfp.distributions
tfb = tfp.bijectors


def build_flow(num_couplings=8, hidden=(128, 128)):
    steps = [
        layers.AffineCoupling(mask="half", parity=i % 2, hidden=list(hidden), name=f"coupling_{i}")
        for i in range(num_couplings)
    ]
    for step in steps:
        step.build((None, 2))
    return steps


def distribution(steps):
    """The flow's density: a standard normal pushed through the steps (data = forward)."""
    bijector = tfb.Chain([s.bijector() for s in reversed(steps)])
    base = tfd.MultivariateNormalDiag(loc=tf.zeros(2))
    return tfd.TransformedDistribution(base, bijector)


def fit(steps, data, num_steps=2000, batch_size=256, learning_rate=1e-3, seed=0):
    """Maximum likelihood with Adam and a cosine-decayed learning rate; returns the per-step
    negative log-likelihoods."""
    variables = [v for s in steps for v in s.trainable_variables]
    optimizer = keras.optimizers.Adam(
        keras.optimizers.schedules.CosineDecay(learning_rate, num_steps)
    )
    rng = np.random.default_rng(seed)

    @tf.function(jit_compile=True)
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(distribution(steps).log_prob(x))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    losses = []
    with tqdm(range(num_steps), desc="fitting two moons", unit="step", mininterval=1.0) as bar:
        for i in bar:
            batch = data[rng.integers(0, len(data), batch_size)]
            losses.append(float(train_step(tf.constant(batch))))
            if i % 100 == 0:
                bar.set_postfix(nll=f"{np.mean(losses[-100:]):.3f}", refresh=False)
    return losses


def plot(steps, data, path, extent=3.5):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = np.linspace(-extent, extent, 300, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    dist = distribution(steps)
    density = np.exp(dist.log_prob(grid).numpy()).reshape(300, 300)
    samples = dist.sample(2000, seed=1).numpy()
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].scatter(data[:2000, 0], data[:2000, 1], s=2)
    ax[0].set_title("data (two moons)")
    ax[1].imshow(density, origin="lower", extent=[-extent, extent, -extent, extent], cmap="magma")
    ax[1].set_title("learned density")
    ax[2].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange")
    ax[2].set_title("samples from the flow")
    for a in ax:
        a.set_xlim(-extent, extent)
        a.set_ylim(-extent, extent)
        a.set_aspect("equal")
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return density.sum() * (axis[1] - axis[0]) ** 2


def main(out="out/two_moons.png", num_steps=4000, seed=0):
    keras.utils.set_random_seed(seed)
    train = toy_data.two_moons(20000, seed=seed)
    test = toy_data.two_moons(5000, seed=seed + 1)
    steps = build_flow()
    start = time.perf_counter()
    losses = fit(steps, train, num_steps=num_steps, seed=seed)
    seconds = time.perf_counter() - start
    test_nll = -float(tf.reduce_mean(distribution(steps).log_prob(test)))
    mass = plot(steps, train, out)
    recent = np.mean(losses[-100:])
    print(f"trained {num_steps} steps in {seconds:.1f} s; last-100 train NLL {recent:.3f}")
    print(f"test NLL {test_nll:.3f} nats; density mass on the plotted square {mass:.3f}")
    print(f"wrote {out}")
    return test_nll
