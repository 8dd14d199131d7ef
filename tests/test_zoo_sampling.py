"""The zoo's models sample finite values at every temperature users pick, and those
samples score; video models predict finite frames from held-out videos at those
temperatures; real faces round-trip through encode and decode pixel for pixel."""

import numpy as np
import pytest

from tests import zoo_fixtures
from tests.conftest import SHARED_DATA
from tfflows import zoo
from tfflows.zoo.predictions import context_length, held_out_shapes
from tfflows.zoo.registry import is_vae, is_video

UNTRAINED = {n: zoo.load(n, weights=False) for n in zoo.list()}  # each built once
VAE_PRESETS = [n for n, model in UNTRAINED.items() if is_vae(model)]
IMAGE_PRESETS = [
    n for n, model in UNTRAINED.items() if len(model.data_shape) == 3 and n not in VAE_PRESETS
]
# the shipped video presets and the tiny one of zoo_fixtures (published for these tests)
VIDEO_PRESETS = [n for n, model in UNTRAINED.items() if is_video(model)]
VIDEO_PRESETS.append(zoo_fixtures.TINY_VIDEO)
tiny_video_zoo, video_zoo = zoo_fixtures.tiny_video_zoo, zoo_fixtures.video_zoo
preset_name = zoo_fixtures.preset_name


def test_glow_celeba_at_temperature_one_has_no_nan_sample():
    """The issue's draw: seeds 0 and 1, 256 samples each, had 4 NaN samples."""
    model = zoo.load("glow_celeba", progress=False)
    for seed in (0, 1):
        x = model.sample(256, temperature=1.0, seed=seed).numpy()
        assert np.isfinite(x).all(), f"seed {seed}"
        assert -0.5 <= x.min() and x.max() <= 0.5
        assert np.isfinite(model.log_prob(x).numpy()).all(), f"seed {seed}"


@pytest.mark.parametrize("name", VAE_PRESETS)
def test_every_vae_preset_draws_pixel_probabilities_that_score(name):
    """At every temperature: probabilities in [0, 1], strokes on a dark ground (MNIST's
    mean pixel is 0.13), and their binarised draws get a finite ELBO; a conditional VAE's
    digits change with the label."""
    model = zoo.load(name, progress=False)
    labels = None if model.num_classes is None else np.arange(20) % model.num_classes
    for temperature in (0.5, 0.7, 1.0):
        p = model.sample(20, labels, seed=7, temperature=temperature).numpy()
        assert p.shape == (20, *model.data_shape) and 0 <= p.min() and p.max() <= 1
        assert 0.03 < p.mean() < 0.3, (name, temperature, p.mean())
        x = (np.random.default_rng(0).random(p.shape) < p).astype(np.float32)
        assert np.isfinite(model.elbo(x, labels, seed=0).numpy()).all()
    if model.num_classes is not None:
        same_noise = [model.sample(4, np.full(4, y), seed=3).numpy() for y in (0, 1)]
        assert np.abs(same_noise[0] - same_noise[1]).mean() > 0.05


@pytest.mark.parametrize("name", IMAGE_PRESETS)
def test_every_image_preset_samples_and_scores_finitely(name):
    model = zoo.load(name, progress=False)
    # MAF samples one dimension after another (784 network passes): its one draw is the
    # hardest temperature; the others cover 0.5 and 0.7 too.
    sequential = name.startswith("maf")
    n = 4 if sequential else 64
    for temperature in (1.0,) if sequential else (0.5, 0.7, 1.0):
        x = model.sample(n, temperature=temperature, seed=7)
        assert np.isfinite(x.numpy()).all(), (name, temperature)
        assert np.isfinite(model.log_prob(x).numpy()).all(), (name, temperature)
        assert model.to_uint8(x).shape == (n, *model.data_shape)


@pytest.mark.parametrize("preset_name", VIDEO_PRESETS, indirect=True)
def test_every_video_preset_predicts_finite_frames_that_score(preset_name):
    """From held-out stochastic shapes' first frames, 4 futures of 2 frames at each
    temperature: finite, inside the continuous space, and the whole videos score finitely."""
    model = zoo.load(preset_name, progress=False)
    videos = held_out_shapes(model, 4, num_frames=2)
    context = videos[:, : context_length(model)]
    for temperature in (0.5, 0.7, 1.0):
        frames = model.predict_frames(context, 2, temperature=temperature, seed=7).numpy()
        assert np.isfinite(frames).all(), temperature
        space = model.space
        assert space.low <= frames.min() and frames.max() <= space.high, temperature
        predicted = np.asarray(model.to_uint8(frames))
        whole = np.concatenate([context, predicted], axis=1)
        assert np.isfinite(model.log_prob(whole).numpy()).all(), temperature


def test_real_faces_round_trip_through_the_latent_exactly():
    path = SHARED_DATA / "celeba32.npz"
    if not path.exists():
        pytest.skip(f"CelebA not found at {path}")
    with np.load(path) as d:
        faces = d["x"][d["celeba_id"] % 10 == 0][:256]
    model = zoo.load("glow_celeba", progress=False)
    back = model.to_uint8(model.decode(model.encode(faces))).numpy()
    np.testing.assert_array_equal(back, faces)
