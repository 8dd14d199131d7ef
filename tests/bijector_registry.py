"""Small constructors for every tfflows bijector, used by the shared bijector checks.

Each `Case` builds a bijector family in a given dtype with randomised weights (a
zero-initialised network would make every check pass trivially), and says what valid data
and latent points look like. `test_registry_is_complete` fails when a bijector class in
`tfflows.bijectors` has no case here.
"""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfflows import bijectors, layers, nets

tfb = tfp.bijectors


@dataclasses.dataclass
class Built:
    """A built case: `bijector(condition)` returns a fresh bijector over `variables`."""

    bijector: Callable
    variables: list
    layers: list


@dataclasses.dataclass
class Case:
    name: str
    bijector_class: type
    build: Callable  # (dtype, seed) -> Built
    event_shape: tuple
    condition_shape: tuple | None = None
    data: str = "normal"  # "normal", "pixels" (in [0, 256)), "unit" (in [0, 1])
    latent: str = "normal"  # "normal" or "centered_unit" (in [-0.5, 0.5))
    edges: tuple = (-10.0, 10.0)  # extreme data values that must still map to finite values
    latent_shape: tuple | None = None  # when the bijector changes the event's shape

    @property
    def z_shape(self):
        return self.latent_shape or self.event_shape

    @property
    def event_ndims(self):
        return len(self.event_shape)

    def sample(self, kind, rng, n, dtype, event_shape):
        shape = (n, *event_shape)
        if kind == "normal":
            x = rng.standard_normal(shape)
        elif kind == "pixels":
            x = rng.uniform(0.0, 256.0, shape)
        elif kind == "unit":
            x = rng.uniform(0.0, 1.0, shape)
        elif kind == "centered_unit":
            x = rng.uniform(-0.5, 0.5, shape)
        else:
            raise ValueError(kind)
        return x.astype(dtype)

    def sample_x(self, rng, n, dtype):
        return self.sample(self.data, rng, n, dtype, self.event_shape)

    def sample_z(self, rng, n, dtype):
        return self.sample(self.latent, rng, n, dtype, self.z_shape)

    def sample_condition(self, rng, n, dtype):
        if self.condition_shape is None:
            return None
        return rng.standard_normal((n, *self.condition_shape)).astype(dtype)

    def edge_x(self, dtype):
        """A batch holding each edge value everywhere, plus a mixed one."""
        lo, hi = self.edges
        shape = self.event_shape
        mixed = np.where(np.arange(int(np.prod(shape))).reshape(shape) % 2 == 0, lo, hi)
        return np.stack([np.full(shape, lo), np.full(shape, hi), mixed]).astype(dtype)


def randomize(layer_list, seed, scale=0.3):
    """Moves every trainable weight away from its (often zero) initial value."""
    rng = np.random.default_rng(seed)
    for layer in layer_list:
        for v in layer.trainable_variables:
            noise = np.asarray(scale * rng.standard_normal(v.shape), dtype=v.dtype)
            v.assign(v.numpy() + noise)


def fixed_case(bijector_fn):
    """A case over a parameter-free bijector."""

    def build(dtype, seed):
        return Built(lambda condition=None: bijector_fn(), [], [])

    return build


def factor_out_build(condition_shape):
    """FactorOut over 4 channels whose kept half runs through an LU 1x1 conv (the 'inner')."""

    def build(dtype, seed):
        keras.utils.set_random_seed(seed)
        split = layers.FactorOut(hidden=8, condition_shape=condition_shape, dtype=dtype)
        split.build((None, 4, 4, 4))
        inner = layers.LUInvertible1x1Conv(seed=seed, dtype=dtype)
        inner.build((None, 4, 4, 2))
        # A smaller perturbation: at 0.3 this prior reaches log sigma = -6, where float32
        # round trips lose 1e-4 to conditioning rather than to any error in the math.
        randomize([split, inner], seed, scale=0.1)

        def bijector(condition=None):
            return split.bijector(condition, inner=inner.bijector())

        return Built(bijector, split.trainable_variables + inner.trainable_variables, [split])

    return build


def latent_autoregressive_build(kinds):
    """VideoFlow's temporal prior over 3 frames of a 4x4x4 latent cut into two scales of 2
    channels (the finer one conditioned on the top one), with randomised prior networks of
    `kinds` (finest first)."""

    def build(dtype, seed):
        keras.utils.set_random_seed(seed)
        priors = []
        for level, kind in enumerate(kinds):
            prior = nets.temporal_prior(
                kind,
                channels=2,
                higher_channels=2 if level == 0 else 0,
                hidden_channels=4,
                depth=1,
                dtype=dtype,
            )
            prior.build((None, None, 4, 4, 2))
            priors.append(prior)
        randomize(priors, seed, scale=0.2)

        def bijector(condition=None):
            return bijectors.LatentAutoregressive(
                [p.__call__ for p in priors],
                split=lambda u: [u[..., :2], u[..., 2:]],
                merge=lambda parts: tf.concat(parts, axis=-1),
                higher=lambda parts, level: parts[1] if level == 0 else None,
            )

        variables = [v for p in priors for v in p.trainable_variables]
        return Built(bijector, variables, priors)

    return build


def _case(name, bijector_class, layer_cls, event_shape, condition_shape=None, **case_kw):
    layer_kw = case_kw.pop("layer_kw", {})

    def build(dtype, seed):
        keras.utils.set_random_seed(seed)
        layer = layer_cls(condition_shape=condition_shape, dtype=dtype, **layer_kw)
        layer.build((None, *event_shape))
        randomize([layer], seed)
        return Built(layer.bijector, layer.trainable_variables, [layer])

    return Case(name, bijector_class, build, event_shape, condition_shape, **case_kw)


B = bijectors
L = layers

CASES = [
    _case("planar", B.Planar, L.Planar, (3,)),
    _case("radial", B.Radial, L.Radial, (3,)),
    # Sylvester flows: M = 3 < D = 4 leaves a direction untouched; 3 reflections; reversal.
    _case(
        "sylvester_orthogonal",
        B.Sylvester,
        L.Sylvester,
        (4,),
        layer_kw={"variant": "orthogonal", "num_vectors": 3},
    ),
    _case(
        "sylvester_householder",
        B.Sylvester,
        L.Sylvester,
        (4,),
        layer_kw={"variant": "householder", "num_reflections": 3},
    ),
    _case(
        "sylvester_triangular",
        B.Sylvester,
        L.Sylvester,
        (4,),
        layer_kw={"variant": "triangular", "reverse": True},
    ),
    _case("additive_half", B.AdditiveCoupling, L.AdditiveCoupling, (4,), layer_kw={"hidden": 16}),
    _case(
        "additive_alternating_cond",
        B.AdditiveCoupling,
        L.AdditiveCoupling,
        (5,),
        condition_shape=(3,),
        layer_kw={"mask": "alternating", "parity": 1, "hidden": [16, 16]},
    ),
    _case(
        "additive_checkerboard",
        B.AdditiveCoupling,
        L.AdditiveCoupling,
        (4, 4, 2),
        layer_kw={"mask": "checkerboard", "hidden": 8},
    ),
    _case(
        "affine_half_cond",
        B.AffineCoupling,
        L.AffineCoupling,
        (4,),
        condition_shape=(2,),
        layer_kw={"hidden": 16},
    ),
    _case(
        "affine_alternating",
        B.AffineCoupling,
        L.AffineCoupling,
        (5,),
        layer_kw={"mask": "alternating", "hidden": 16},
    ),
    _case(
        "affine_checkerboard",
        B.AffineCoupling,
        L.AffineCoupling,
        (4, 4, 2),
        layer_kw={"mask": "checkerboard", "parity": 1, "hidden": 8},
    ),
    _case(
        "affine_channel_glow",
        B.AffineCoupling,
        L.AffineCoupling,
        (4, 4, 4),
        layer_kw={"mask": "channel", "scale": "sigmoid", "hidden": 8},
    ),
    _case(
        "affine_channel_glow_featuremap_cond",
        B.AffineCoupling,
        L.AffineCoupling,
        (4, 4, 3),
        condition_shape=(4, 4, 2),
        layer_kw={"mask": "channel", "parity": 1, "scale": "sigmoid", "hidden": 8},
    ),
    _case("diagonal_scaling", B.DiagonalScaling, L.DiagonalScaling, (4,)),
    _case("learned_prior", B.ElementwiseAffine, L.LearnedPrior, (4, 4, 3)),
    _case(
        "learned_prior_class_cond",
        B.ElementwiseAffine,
        L.LearnedPrior,
        (4, 4, 3),
        condition_shape=(5,),
    ),
    _case(
        "learned_prior_vector_cond", B.ElementwiseAffine, L.LearnedPrior, (3,), condition_shape=(2,)
    ),
    _case("actnorm_image", B.ActNorm, L.ActNorm, (4, 4, 3)),
    _case("actnorm_vector", B.ActNorm, L.ActNorm, (3,)),
    _case("invertible_1x1_conv", B.Invertible1x1Conv, L.Invertible1x1Conv, (4, 4, 4)),
    _case(
        "lu_invertible_1x1_conv",
        B.LUInvertible1x1Conv,
        L.LUInvertible1x1Conv,
        (4, 4, 4),
        layer_kw={"seed": 1},
    ),
    Case("squeeze", B.Squeeze, fixed_case(B.Squeeze), (4, 4, 2), latent_shape=(2, 2, 8)),
    Case("factor_out", B.FactorOut, factor_out_build(None), (4, 4, 4)),
    Case("factor_out_cond", B.FactorOut, factor_out_build((3,)), (4, 4, 4), condition_shape=(3,)),
    _case("maf", B.MaskedAutoregressive, L.MaskedAutoregressive, (4,), layer_kw={"hidden": [16]}),
    _case(
        "maf_cond",
        B.MaskedAutoregressive,
        L.MaskedAutoregressive,
        (4,),
        condition_shape=(2,),
        layer_kw={"hidden": [16, 16]},
    ),
    _case(
        "iaf",
        B.InverseAutoregressive,
        L.InverseAutoregressive,
        (4,),
        layer_kw={"hidden": [16]},
    ),
    # Audio: a WaveNet over a clip of 6 samples is a MAF (the teacher), its IAF the student.
    _case(
        "wavenet_maf",
        B.MaskedAutoregressive,
        L.CausalMaskedAutoregressive,
        (6,),
        layer_kw={
            "residual_channels": 4,
            "gate_channels": 4,
            "skip_channels": 4,
            "layers_per_cycle": 2,
            "cycles": 1,
        },
    ),
    _case(
        "wavenet_iaf_cond",
        B.InverseAutoregressive,
        L.CausalInverseAutoregressive,
        (6,),
        condition_shape=(2,),
        layer_kw={
            "residual_channels": 4,
            "gate_channels": 4,
            "skip_channels": 4,
            "kernel_size": 3,
            "layers_per_cycle": 2,
            "cycles": 1,
        },
    ),
    Case(
        "pixel_scale",
        B.PixelScale,
        fixed_case(B.PixelScale),
        (3,),
        data="pixels",
        latent="centered_unit",
        edges=(0.0, 256.0),
    ),
    Case(
        "pixel_scale_5bit_uncentered",
        B.PixelScale,
        fixed_case(lambda: B.PixelScale(num_bits=5, centered=False)),
        (3,),
        data="pixels",
        latent="centered_unit",
        edges=(0.0, 32.0),
    ),
    Case("logit", B.Logit, fixed_case(B.Logit), (3,), data="unit", edges=(0.0, 1.0)),
    # Events are whole sequences [T, H, W, C]: the log-det is checked against the Jacobian
    # over all frames, which is block-triangular in time.
    Case(
        "latent_autoregressive_conv3d",
        B.LatentAutoregressive,
        latent_autoregressive_build(["conv3d", "conv3d"]),
        (3, 4, 4, 4),
    ),
    Case(
        "latent_autoregressive_lstm_pointwise",
        B.LatentAutoregressive,
        latent_autoregressive_build(["conv_lstm", "pointwise"]),
        (3, 4, 4, 4),
    ),
    # TFP's own permutation, which tfflows puts between MAF/IAF steps: checked the same way.
    Case("permute_reverse", tfb.Permute, fixed_case(lambda: tfb.Permute([3, 2, 1, 0])), (4,)),
]

# 2-D versions of the vector families, for the "density integrates to 1" check.
CASES_2D = [
    _case("planar_2d", B.Planar, L.Planar, (2,)),
    _case("radial_2d", B.Radial, L.Radial, (2,)),
    _case(
        "sylvester_householder_2d",
        B.Sylvester,
        L.Sylvester,
        (2,),
        layer_kw={"variant": "householder", "num_reflections": 2},
    ),
    _case("additive_2d", B.AdditiveCoupling, L.AdditiveCoupling, (2,), layer_kw={"hidden": 16}),
    _case("affine_2d", B.AffineCoupling, L.AffineCoupling, (2,), layer_kw={"hidden": 16}),
    _case(
        "maf_2d", B.MaskedAutoregressive, L.MaskedAutoregressive, (2,), layer_kw={"hidden": [16]}
    ),
    _case(
        "iaf_2d", B.InverseAutoregressive, L.InverseAutoregressive, (2,), layer_kw={"hidden": [16]}
    ),
]
