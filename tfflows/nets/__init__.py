"""Keras 3 networks that parametrise flow steps (conditioners, MADE, split priors).

Every network's last layer is zero-initialised, so every flow step starts at (or, for
Glow's sigmoid coupling, next to) the identity, and every network takes an optional
condition input (`tfflows.nets.conditions` checks it).
"""

from tfflows.nets.cached_sampler import sample_cached
from tfflows.nets.causal_wavenet import CausalWaveNet, dilation_cycle
from tfflows.nets.conditions import check_condition_shape, require_condition
from tfflows.nets.conv_net import ConvNet
from tfflows.nets.made import MADE
from tfflows.nets.masked_dense import MaskedDense
from tfflows.nets.mlp import MLP
from tfflows.nets.temporal_priors import (
    PRIORS,
    Conv3DPrior,
    ConvLSTMPrior,
    IndependentPrior,
    PointwisePrior,
    TemporalPrior,
    temporal_prior,
)

__all__ = [
    "CausalWaveNet",
    "dilation_cycle",
    "sample_cached",
    "MLP",
    "PRIORS",
    "Conv3DPrior",
    "ConvLSTMPrior",
    "IndependentPrior",
    "PointwisePrior",
    "TemporalPrior",
    "temporal_prior",
    "ConvNet",
    "MADE",
    "MaskedDense",
    "check_condition_shape",
    "require_condition",
]
