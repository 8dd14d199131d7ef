"""The jobs of `tfflows demo`: `faces_main` loads the pretrained `glow_celeba` from the zoo,
writes a grid of samples and scores real faces (what `make run` does); `zoo_main` does the
same for a 2-D preset such as `maf_moons` (density plot); `video_main` for a video preset
such as `videoflow_shapes` (predicted futures as a GIF); `main` fits a Real NVP flow to two
moons with `fit`.
"""

import os
import pathlib
import time

import keras
import numpy as np

from tfflows import models, plotting
from tfflows.data.toy_data import two_moons

EXTENT = 3.5


def build_flow() -> models.RealNVP:
    """Real NVP with 8 affine couplings of 2 x 128 hidden units."""
    return models.RealNVP((2,), num_couplings=8, hidden=[128, 128])


def fit(
    model: keras.Model,
    data: np.ndarray,
    num_steps: int = 4000,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    verbose: int = 1,
) -> keras.callbacks.History:
    """Maximum likelihood with Adam and a cosine-decayed learning rate, for about
    `num_steps` steps (whole epochs); returns the Keras history."""
    epochs = max(1, round(num_steps * batch_size / len(data)))
    steps = epochs * -(-len(data) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    return model.fit(data, batch_size=batch_size, epochs=epochs, verbose=verbose)


def plot(model: keras.Model, data: np.ndarray, path: str | os.PathLike) -> float:
    """Draws the data, the model's density and its samples side by side into `path` (PNG);
    returns the density's mass on the plotted square (near 1 when the plot shows it all)."""
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
    return float(density.sum() * (2 * EXTENT / 299) ** 2)


def main(out: str = "out/two_moons.png", num_steps: int = 4000, seed: int = 0) -> float:
    """Fits `build_flow()` to 20,000 moons, prints its test NLL, plots it to `out`; returns the
    test NLL in nats."""
    keras.utils.set_random_seed(seed)
    train = two_moons(20000, seed=seed)
    test = two_moons(5000, seed=seed + 1)
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


def zoo_main(name: str = "maf_moons", out: str = "out/maf_moons.png") -> float:
    """Loads a 2-D zoo preset (offline, sha256-checked), plots it, and scores fresh moons
    drawn like its test set (5,000 points, seed 1)."""
    from tfflows import zoo

    model = zoo.load(name, progress=False)
    test = two_moons(5000, seed=1)
    test_nll = -float(np.mean(model.log_prob(test)))
    mass = plot(model, two_moons(2000, seed=0), out)
    print(f"loaded {name} from the zoo ({model.count_params():,} parameters)")
    print(f"test NLL {test_nll:.4f} nats on 5,000 fresh moons; density mass {mass:.3f}")
    print(f"wrote {out}")
    return test_nll


# Where the demo looks for CelebA 32x32 faces to score without --data (after $TFFLOWS_DATA).
FACE_FILES = ("celeba32.npz",)


def find_faces(data: str | None = None) -> pathlib.Path | None:
    """A CelebA npz path: `data`, $TFFLOWS_DATA/celeba32.npz, or one of FACE_FILES (relative to
    the current folder); None if none exists. Only places the user names are looked at."""
    candidates = [data] if data else []
    if os.environ.get("TFFLOWS_DATA"):
        candidates.append(os.path.join(os.environ["TFFLOWS_DATA"], "celeba32.npz"))
    candidates += [] if data else list(FACE_FILES)
    for path in candidates:
        if path and pathlib.Path(path).is_file():
            return pathlib.Path(path)
    if data:
        raise FileNotFoundError(f"{data} does not exist")
    return None


def faces_main(
    name: str = "glow_celeba",
    out: str = "out/glow_celeba.png",
    data: str | None = None,
    faces: int = 256,
) -> dict | None:
    """Loads an image preset (offline, sha256-checked), writes 64 samples at temperature
    0.7 as a grid, and prints its bits/dim on `faces` real test images: those of `data`,
    or for a 32x32x3 model the CelebA npz when one is found (test split: celeba_id % 10 == 0).
    Returns `evaluate_model`'s result, or None when there was nothing to score.
    """
    from tfflows import zoo
    from tfflows.data import load_source
    from tfflows.training import evaluate_model

    t0 = time.perf_counter()
    model = zoo.load(name, progress=False)
    print(f"loaded {name} from the zoo ({model.count_params():,} parameters)")
    images = np.asarray(model.to_uint8(model.sample(64, temperature=0.7, seed=0)))
    pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
    plotting.save_image_grid(images, out, columns=8, scale=2)
    print(f"wrote 64 samples at temperature 0.7 to {out}")
    # CelebA is looked for only for a model of CelebA's shape; others score --data alone.
    celeba = tuple(model.data_shape) == (32, 32, 3)
    path = find_faces(data) if data or celeba else None
    what = "faces" if celeba else "images"
    result = None
    if path is None:
        looked = ", ".join(FACE_FILES) + " and $TFFLOWS_DATA/celeba32.npz"
        print(
            (f"no CelebA faces found to score (looked for {looked}); " if celeba else "")
            + f"score real images with: tfflows eval {name} --data FILE.npz"
        )
    else:
        x = load_source(str(path)).test_x[:faces].reshape(-1, *model.data_shape)
        result = evaluate_model(model, x)
        print(
            f"{result['bits_per_dim']:.4f} bits/dim on {len(x)} real test {what} from {path} "
            f"(the card's number is over the whole test split)"
        )
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return result


def video_main(
    name: str = "videoflow_shapes",
    out: str = "out/videoflow_shapes.gif",
    data: str | None = None,
    videos: int = 64,
) -> dict:
    """Loads a video preset (offline, sha256-checked), writes the predicted futures of 4
    context videos as a GIF at `out` and a still beside it (`.png`), and prints its bits/dim
    on `videos` test videos: those of the video source `data`, else stochastic shapes at the
    model's frame size from a held-out seed (`tfflows.zoo.predictions.held_out_shapes`).
    Returns `evaluate_model`'s result."""
    from tfflows import zoo
    from tfflows.training import evaluate_model
    from tfflows.zoo import predictions

    t0 = time.perf_counter()
    model = zoo.load(name, progress=False)
    print(f"loaded {name} from the zoo ({model.count_params():,} parameters)")
    if data is None:
        test = predictions.held_out_shapes(model, videos)
        where = "held-out stochastic shapes"
    else:
        from tfflows.data import load_source

        test = load_source(data).test_x[:videos]
        where = f"the test videos of {data}"
    out = pathlib.Path(out)
    written = predictions.save_predictions(
        model, test[: predictions.VIDEOS], out, out.with_suffix(".png")
    )
    print(
        f"wrote the true video and {predictions.SAMPLES} futures at temperature "
        f"{predictions.TEMPERATURE} of {predictions.VIDEOS} videos to "
        + " and ".join(map(str, written))
    )
    result = evaluate_model(model, test)
    print(f"{result['bits_per_dim']:.4f} bits/dim on {len(test)} of {where}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return result
