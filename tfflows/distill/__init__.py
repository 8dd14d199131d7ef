"""Probability density distillation (Parallel WaveNet): a fast IAF student learns a slow
autoregressive teacher's density."""

from tfflows.distill.density_distillation import DensityDistillation
from tfflows.distill.losses import (
    average_spectrum,
    gaussian_kl,
    log_scale_penalty,
    log_spectral_distance,
    power_loss,
)

__all__ = [
    "DensityDistillation",
    "average_spectrum",
    "gaussian_kl",
    "log_scale_penalty",
    "log_spectral_distance",
    "power_loss",
]
