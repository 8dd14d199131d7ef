"""The demo jobs: `zoo_main` loads the pretrained `maf_moons` from the zoo (what `make run`
shows until glow_celeba ships); `main` fits a Real NVP flow to two moons with `fit`. Both
plot the density and samples.
"""

import pathlib
import time

import keras
import numpy as np

from tfflows import models, plotting, toy_data

EXTENT = 3.5


def build_flow():
    """Real NVP with 8 affine couplings of 2 x 128 hidden units."""
    return models.RealNVP((2,), num_couplings=8, hidden=[128, 128])


def fit(model, data, num_steps=4000, batch_size=256, learning_rate=1e-3, verbose=1):
    """Maximum likelihood with Adam and a cosine-decayed learning rate, for about
    `num_steps` steps (whole epochs); returns the Keras history."""
    epochs = max(1, round(num_steps * batch_size / len(data)))
    steps = epochs * -(-len(data) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    return model.fit(data, batch_size=batch_size, epochs=epochs, verbose=verbose)


def plot(model, data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    density = plotting.density_grid(model.log_prob, EXTENT, 300)
    samples = np.asarray(model.sample(2000, seed=1))
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].scatter(data[:2000, 0], data[:2000, 1], s=2)
    ax[0].set_title("data (two moons)")
    ax[1].imshow(density, origin="lower", extent=[-EXTENT, EXTENT] * 2, cmap="magma")
    ax[1].set_title("learned density")
    ax[2].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange")
    ax[2].set_title("samples from the flow")
    for a in ax:
        a.set_xlim(-EXTENT, EXTENT)
        a.set_ylim(-EXTENT, EXTENT)
        a.set_aspect("equal")
    fig.tight_layout()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return density.sum() * (2 * EXTENT / 299) ** 2


def main(out="out/two_moons.png", num_steps=4000, seed=0):
    keras.utils.set_random_seed(seed)
    train = toy_data.two_moons(20000, seed=seed)
    test = toy_data.two_moons(5000, seed=seed + 1)
    model = build_flow()
    start = time.perf_counter()
    history = fit(model, train, num_steps=num_steps, verbose=2)
    seconds = time.perf_counter() - start
    test_nll = -float(np.mean(model.log_prob(test)))
    mass = plot(model, train, out)
    steps = int(model.optimizer.iterations.numpy())
    print(
        f"trained {steps} steps in {seconds:.1f} s; last-epoch train NLL "
        f"{history.history['nll'][-1]:.3f}"
    )
    print(f"test NLL {test_nll:.3f} nats; density mass on the plotted square {mass:.3f}")
    print(f"wrote {out}")
    return test_nll


def zoo_main(name="maf_moons", out="out/maf_moons.png"):
    """Loads a 2-D zoo preset (offline, sha256-checked), plots it, and scores fresh moons
    drawn like its test set (5,000 points, seed 1)."""
    from tfflows import zoo

    model = zoo.load(name, progress=False)
    test = toy_data.two_moons(5000, seed=1)
    test_nll = -float(np.mean(model.log_prob(test)))
    mass = plot(model, toy_data.two_moons(2000, seed=0), out)
    print(f"loaded {name} from the zoo ({model.count_params():,} parameters)")
    print(f"test NLL {test_nll:.4f} nats on 5,000 fresh moons; density mass {mass:.3f}")
    print(f"wrote {out}")
    return test_nll
