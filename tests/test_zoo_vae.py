"""The zoo's VAEs on real MNIST test digits (../shared/data): the conditional VAE infers
labels from images far above chance and draws the digit it is asked for, and every VAE
preset's ELBO on real digits is near its card's number; the command line samples a preset.
The per-preset tests of test_zoo.py and test_zoo_sampling.py run on these presets too."""

import numpy as np
import pytest
from PIL import Image

from tfflows import zoo
from tfflows.cli import main
from tfflows.data.binarization import binarize

VAE_PRESETS = [n for n in zoo.list() if n.startswith(("vae_mnist_", "cvae_mnist"))]
pytestmark = pytest.mark.skipif(not VAE_PRESETS, reason="no VAE preset in this zoo")


@pytest.fixture(scope="module")
def test_digits(mnist):
    """300 test digits, statically binarised as the cards' test split is (seed 0)."""
    _, _, x_test, y_test = mnist
    return binarize(x_test[:300], seed=0), y_test[:300].astype(np.int32)


def test_the_cvae_infers_labels_of_real_test_digits(test_digits):
    x, y = test_digits
    model = zoo.load("cvae_mnist", progress=False)
    guess = np.asarray(model.classify(x, num_samples=16, seed=0))
    accuracy = float(np.mean(guess == y))
    assert accuracy > 0.8, accuracy  # chance is 0.1
    # Each draw of label k is explained best by label k (the decoder listens to the label).
    labels = np.repeat(np.arange(10), 3)
    probs = np.asarray(model.sample(30, labels, seed=1, temperature=0.7))
    drawn = (probs > 0.5).astype(np.float32)
    assert np.mean(np.asarray(model.classify(drawn, num_samples=8)) == labels) > 0.8


@pytest.mark.parametrize("name", VAE_PRESETS)
def test_each_preset_scores_real_digits_near_its_card(name, test_digits):
    x, y = test_digits
    model = zoo.load(name, progress=False)
    card = zoo.info(name)["metrics"]["test"]["negative_elbo"]
    c = y if model.num_classes is not None else None
    negative_elbo = -float(np.mean(model.elbo(x, c, seed=0)))
    # 300 digits, one posterior draw each: within 6 nats of the card's 10,000-digit mean
    # (an untrained VAE scores about 543 nats = 784 ln 2; a preset loaded with another
    # preset's weights would be far off or fail to load).
    assert abs(negative_elbo - card) < 6, (negative_elbo, card)


def test_cli_samples_a_digit_of_the_cvae(tmp_path, capsys):
    """16 sevens at the default temperature 0.7 and seed 0, 10 to a row, doubled in size:
    the first tile is the first draw's pixel probabilities as grey levels."""
    out = tmp_path / "sevens.png"
    assert main(["sample", "cvae_mnist", "--n", "16", "--condition", "7", "--out", str(out)]) == 0
    with Image.open(out) as picture:
        assert picture.size == (2 * (10 * 30 + 2), 2 * (2 * 30 + 2))
        first = np.asarray(picture)[4:60:2, 4:60:2]
    model = zoo.load("cvae_mnist", progress=False)
    want = np.asarray(model.sample(16, np.full(16, 7), seed=0, temperature=0.7))[0, ..., 0]
    np.testing.assert_array_equal(first, np.round(255 * want).astype(np.uint8))
    assert first.std() > 20  # a digit, not a blank tile
