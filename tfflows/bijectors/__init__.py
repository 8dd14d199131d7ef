"""Flow transforms as TensorFlow Probability bijectors: the math only.

Each bijector follows TFP's convention: `forward` maps latent to data, `inverse` maps data
to latent. Trainable parameters live in Keras 3 layers (`tfflows.layers`, `tfflows.nets`),
which build a fresh bijector from their current variables on every call.
"""

from tfflows.bijectors.actnorm import ActNorm
from tfflows.bijectors.additive_coupling import AdditiveCoupling
from tfflows.bijectors.affine_coupling import AffineCoupling
from tfflows.bijectors.diagonal_scaling import DiagonalScaling
from tfflows.bijectors.elementwise_affine import ElementwiseAffine
from tfflows.bijectors.factor_out import FactorOut
from tfflows.bijectors.inverse_autoregressive import InverseAutoregressive
from tfflows.bijectors.invertible_1x1_conv import Invertible1x1Conv
from tfflows.bijectors.latent_autoregressive import LatentAutoregressive
from tfflows.bijectors.logit import Logit
from tfflows.bijectors.lu_invertible_1x1_conv import LUInvertible1x1Conv
from tfflows.bijectors.masked_autoregressive import MaskedAutoregressive
from tfflows.bijectors.pixel_scale import PixelScale
from tfflows.bijectors.planar import Planar
from tfflows.bijectors.radial import Radial
from tfflows.bijectors.squeeze import Squeeze
from tfflows.bijectors.sylvester import Sylvester, householder_q, orthogonal_q, permutation_q

__all__ = [
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "DiagonalScaling",
    "ElementwiseAffine",
    "FactorOut",
    "InverseAutoregressive",
    "Invertible1x1Conv",
    "LUInvertible1x1Conv",
    "LatentAutoregressive",
    "Logit",
    "MaskedAutoregressive",
    "PixelScale",
    "Planar",
    "Radial",
    "Squeeze",
    "Sylvester",
    "householder_q",
    "orthogonal_q",
    "permutation_q",
]
