"""Keras 3 layers that own the weights of one flow step each.

`layer.bijector(condition)` builds a fresh `tfp.bijectors.Bijector` from the layer's
current variables; `layer.initialize(x)` runs data-dependent initialisation (ActNorm).
"""

from tfflows.layers.actnorm import ActNorm
from tfflows.layers.additive_coupling import AdditiveCoupling
from tfflows.layers.affine_coupling import AffineCoupling
from tfflows.layers.causal_autoregressive import (
    CausalInverseAutoregressive,
    CausalMaskedAutoregressive,
)
from tfflows.layers.diagonal_scaling import DiagonalScaling
from tfflows.layers.factor_out import FactorOut
from tfflows.layers.flow_layer import FlowLayer
from tfflows.layers.invertible_1x1_conv import Invertible1x1Conv
from tfflows.layers.learned_prior import LearnedPrior
from tfflows.layers.lu_invertible_1x1_conv import LUInvertible1x1Conv
from tfflows.layers.masked_autoregressive import InverseAutoregressive, MaskedAutoregressive
from tfflows.layers.planar import Planar
from tfflows.layers.radial import Radial
from tfflows.layers.sylvester import Sylvester

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "CausalInverseAutoregressive",
    "CausalMaskedAutoregressive",
    "DiagonalScaling",
    "FactorOut",
    "FlowLayer",
    "InverseAutoregressive",
    "Invertible1x1Conv",
    "LearnedPrior",
    "LUInvertible1x1Conv",
    "MaskedAutoregressive",
    "Planar",
    "Radial",
    "Sylvester",
]
