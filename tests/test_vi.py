"""Variational inference with planar flows on the energies of Rezende & Mohamed."""

import math

import numpy as np
import tensorflow as tf

from tfflows import models
from tfflows.data import energies
from tfflows.training import variational as vi


def test_log_normalizer_of_a_gaussian_energy():
    log_z = energies.log_normalizer(lambda z: 0.5 * tf.reduce_sum(z**2, -1))
    assert abs(log_z - math.log(2 * math.pi)) < 1e-6


def test_kl_is_zero_for_the_exact_posterior():
    """A fresh PlanarFlow is N(0, I); against the Gaussian energy its KL is 0."""
    model = models.PlanarFlow(2, num_layers=2)
    gauss = lambda z: 0.5 * tf.reduce_sum(z**2, -1)  # noqa: E731
    kl = vi.kl_divergence(model, gauss, math.log(2 * math.pi), n=20_000)
    assert abs(kl) < 1e-5


def test_fitting_planar_flows_to_u1_lowers_the_kl():
    energy = energies.u1
    log_z = energies.log_normalizer(energy)
    model = models.PlanarFlow(2, num_layers=8)
    before = vi.kl_divergence(model, energy, log_z, n=20_000)
    losses = vi.fit_vi(model, energy, steps=1500, anneal_steps=300, progress=False)
    after = vi.kl_divergence(model, energy, log_z, n=20_000)
    assert np.isfinite(losses).all()
    assert after < 0.5 * before and after > 0.0, (before, after)
