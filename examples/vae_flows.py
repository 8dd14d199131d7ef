"""VAEs on binarised MNIST with a diagonal-Gaussian or flow posterior q(z|x), side by side.

    python examples/vae_flows.py --data ../shared/data/mnist.npz --minutes 3 \\
        [--posteriors diagonal planar iaf sylvester_householder] [--cvae] [--out out/vae]

Each posterior gets the same encoder, decoder, data and time budget, trained by
`tfflows.train` with a fresh binarisation of the training digits every epoch; then every
model is scored on the statically binarised test digits: -ELBO and the importance-sampled
NLL (nats per digit; lower is better). The gap between them is what the posterior misses
of the true one: a richer q(z|x) closes part of it. `--cvae` also trains the conditional
VAE, draws each digit on demand and infers the labels of test digits from the images
(`VAE.classify`); after a minute or two its label steers the digit less well than the zoo's
`cvae_mnist` (40 epochs), whose draws are classified as the label asked for 95.4% of the
time. Pictures: `OUT/samples_<posterior>.png`, `OUT/reconstructions.png` (test digits, then
each model's reconstruction) and `OUT/cvae_digits.png`.

The zoo's entries (`vae_mnist_<posterior>`, `cvae_mnist`) are these models trained
longer (zoo/recipes/vae_mnist.py).
"""

import argparse
import pathlib

import numpy as np

import tfflows
from tfflows.data.sources import load_source
from tfflows.models import VAE
from tfflows.plotting import save_image_grid

FLOWS = {"diagonal": 0, "planar": 16}  # others: 4 flow steps


def make(posterior: str, num_classes=None) -> VAE:
    return VAE(
        (28, 28, 1),
        latent_dim=32,
        posterior=posterior,
        num_flows=FLOWS.get(posterior, 4),
        num_classes=num_classes,
        hidden_units=(300, 300),
        warmup_steps=2000,
    )


def fit(model: VAE, splits, minutes: float, out: pathlib.Path, labels: bool = False):
    settings = dict(batch_size=100, steps=100_000, max_minutes=minutes, augment="binarize")
    # resume=False: a second run of the example starts over instead of continuing the first.
    settings.update(test_examples=1000, out_dir=str(out), xla=False, samples=0, resume=False)
    if labels:
        data, test = (splits.train_x, splits.train_y), (splits.test_x, splits.test_y)
        return tfflows.train(model, data, test, **settings)
    return tfflows.train(model, splits.train_x, splits.test_x, **settings)


def grey(probs) -> np.ndarray:
    return np.round(255 * np.asarray(probs)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", required=True, help="mnist.npz (x_train, y_train, x_test, y_test)"
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="training time per model")
    parser.add_argument(
        "--posteriors", nargs="+", default=["diagonal", "planar", "iaf", "sylvester_householder"]
    )
    parser.add_argument("--cvae", action="store_true", help="also the conditional VAE")
    parser.add_argument("--num-samples", type=int, default=500, help="importance samples")
    parser.add_argument("--test", type=int, default=2000, help="test digits to score")
    parser.add_argument("--out", default="out/vae")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    splits = load_source(f"binarized_mnist:path={args.data}")
    x_test = splits.test_x[: args.test]
    rows = [grey(x_test[:10])]
    print(
        f"{'posterior':24s} {'-ELBO':>8s} {'NLL':>8s}  (nats per digit, {len(x_test)} test digits)"
    )
    for posterior in args.posteriors:
        run = fit(make(posterior), splits, args.minutes, out / posterior)
        model = run.model
        elbo = np.concatenate(
            [model.elbo(x_test[i : i + 500], seed=i) for i in range(0, len(x_test), 500)]
        )
        ll = np.concatenate(
            [
                model.log_likelihood(x_test[i : i + 500], num_samples=args.num_samples, seed=i)
                for i in range(0, len(x_test), 500)
            ]
        )
        print(f"{posterior:24s} {-elbo.mean():8.2f} {-ll.mean():8.2f}", flush=True)
        save_image_grid(grey(model.sample(64, seed=0)), out / f"samples_{posterior}.png", 8, 2)
        rows.append(grey(model.reconstruct(x_test[:10], seed=0)))
    save_image_grid(np.concatenate(rows), out / "reconstructions.png", columns=10, scale=2)
    if args.cvae:
        model = fit(make("iaf", num_classes=10), splits, args.minutes, out / "cvae", True).model
        digits = np.repeat(np.arange(10), 10)
        save_image_grid(grey(model.sample(100, digits, seed=0)), out / "cvae_digits.png", 10, 2)
        guess = np.asarray(model.classify(x_test[:1000], num_samples=16))
        accuracy = float(np.mean(guess == splits.test_y[:1000]))
        print(f"CVAE: labels inferred from 1,000 test digits: {accuracy:.1%} right (chance 10%)")
    print(f"pictures in {out}/")


if __name__ == "__main__":
    main()
