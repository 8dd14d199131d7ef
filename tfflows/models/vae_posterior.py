"""The flow of a VAE's posterior q(z|x): planar, IAF or Sylvester steps with parameters per
example, applied to a draw z0 of the encoder's diagonal Gaussian."""

import math

import keras
import tensorflow as tf

from tfflows.bijectors.inverse_autoregressive import InverseAutoregressive
from tfflows.bijectors.planar import Planar
from tfflows.bijectors.sylvester import Sylvester, householder_q, orthogonal_q, permutation_q
from tfflows.nets.made import MADE

POSTERIORS = (
    "diagonal",
    "planar",
    "iaf",
    "sylvester_orthogonal",
    "sylvester_householder",
    "sylvester_triangular",
)


@keras.saving.register_keras_serializable(package="tfflows")
class PosteriorFlow(keras.layers.Layer):
    """z_K = f_K o ... o f_1 (z_0) and log|det dz_K/dz_0| = sum_k log|det df_k/dz_{k-1}|.

    The amortised parameters, per example and per step k (L = latent_dim):
      planar (Rezende & Mohamed 2015, arXiv:1505.05770): u, w [L], b []   (u made u-hat);
      sylvester_orthogonal (van den Berg et al. 2018, arXiv:1803.05649, Section 4):
        Q from the QR factor of a raw [L, M] matrix, R1, R2 [M, M] raw (upper triangle,
        tanh on the diagonal), b [M];
      sylvester_householder: Q = H_H ... H_1 from H raw reflection vectors [H, L], R1, R2,
        b with M = L;
      sylvester_triangular: R1, R2 [L, L], b [L], Q the identity on odd steps and the
        reversal of the axes on even ones (not amortised).
    IAF (Kingma et al. 2016, arXiv:1606.04934): step k is z <- (z - m_k(z, h)) exp(-s_k(z, h))
    with (m_k, s_k) from a MADE of its own that takes the encoder's context h; the order of
    the axes is reversed between steps. Its weights belong to this layer, not the encoder.

    `raw_size` is the number of raw parameters per example the encoder must give;
    `parameters(raw)` turns them into the steps' tensors (Q made once per example, before
    they are repeated over importance samples); `call(z0, params, context)` -> (z_K, log_det).
    """

    def __init__(
        self,
        kind,
        latent_dim,
        num_flows=4,
        sylvester_columns=None,
        num_householder=8,
        iaf_units=(64,),
        context_units=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if kind not in POSTERIORS:
            raise ValueError(f"posterior must be one of {', '.join(POSTERIORS)}, got {kind!r}")
        self.kind = kind
        self.latent_dim = int(latent_dim)
        self.num_flows = 0 if kind == "diagonal" else int(num_flows)
        self.sylvester_columns = int(sylvester_columns or latent_dim)
        if kind == "sylvester_orthogonal" and not 1 <= self.sylvester_columns <= self.latent_dim:
            raise ValueError(
                f"sylvester_columns must be in 1..latent_dim={latent_dim}, got {sylvester_columns}"
            )
        self.num_householder = int(num_householder)
        self.iaf_units = [int(u) for u in iaf_units]
        self.context_units = int(context_units)
        self.mades = []
        if kind == "iaf":
            if self.context_units < 1:
                raise ValueError("an IAF posterior needs context_units >= 1")
            self.mades = [
                MADE(
                    self.latent_dim,
                    self.iaf_units,
                    condition_shape=(self.context_units,),
                    dtype=self.dtype_policy,
                    name=f"made_{k}",
                )
                for k in range(self.num_flows)
            ]

    def build(self, input_shape=None):
        for made in self.mades:
            made.build((None, self.latent_dim))

    # ----------------------------------------------------------------- parameters
    def _shapes(self):
        """The raw parameters of one step: name -> shape."""
        d, m = self.latent_dim, self.sylvester_columns
        if self.kind == "planar":
            return {"u": (d,), "w": (d,), "b": ()}
        if self.kind == "sylvester_orthogonal":
            return {"q": (d, m), "r1": (m, m), "r2": (m, m), "b": (m,)}
        if self.kind == "sylvester_householder":
            return {"q": (self.num_householder, d), "r1": (d, d), "r2": (d, d), "b": (d,)}
        if self.kind == "sylvester_triangular":
            return {"r1": (d, d), "r2": (d, d), "b": (d,)}
        return {}

    @property
    def raw_size(self) -> int:
        one = sum(math.prod(s) for s in self._shapes().values())
        return one * self.num_flows

    def parameters(self, raw: tf.Tensor | None) -> list[dict]:
        """Per step, a dict of tensors [N, ...] from the encoder's raw output [N, raw_size]."""
        shapes = self._shapes()
        if not shapes:
            return [{} for _ in range(self.num_flows)]
        sizes = [math.prod(s) for s in shapes.values()]
        steps = tf.split(raw, self.num_flows, axis=-1)
        out = []
        for k, step in enumerate(steps):
            parts = tf.split(step, sizes, axis=-1)
            p = {
                name: tf.reshape(t, tf.concat([tf.shape(t)[:-1], shape], 0))
                for (name, shape), t in zip(shapes.items(), parts, strict=True)
            }
            if self.kind == "sylvester_orthogonal":
                p["q"] = orthogonal_q(p["q"])
            elif self.kind == "sylvester_householder":
                p["q"] = householder_q(p["q"])
            elif self.kind == "sylvester_triangular":
                p["q"] = permutation_q(self.latent_dim, reverse=k % 2 == 1, dtype=raw.dtype)
            out.append(p)
        return out

    # ----------------------------------------------------------------- the flow
    def bijectors(self, params: list[dict], context: tf.Tensor | None = None) -> list:
        """The steps as bijectors z_{k-1} -> z_k (IAF steps act on the reversed axes of
        every step after the first: see `call`)."""
        if self.kind == "planar":
            return [Planar(p["u"], p["w"], p["b"]) for p in params]
        if self.kind.startswith("sylvester"):
            return [Sylvester(p["q"], p["r1"], p["r2"], p["b"]) for p in params]
        if self.kind == "iaf":
            return [
                InverseAutoregressive(lambda z, made=made: made(z, condition=context))
                for made in self.mades
            ]
        return []

    def call(self, z0, params, context=None):
        z = z0
        log_det = tf.zeros(tf.shape(z0)[:-1], z0.dtype)
        for k, bij in enumerate(self.bijectors(params, context)):
            if self.kind == "iaf" and k > 0:
                z = tf.reverse(z, axis=[-1])  # volume-preserving: no log-det
            y = bij.forward(z)
            log_det += bij.forward_log_det_jacobian(z, event_ndims=1)
            z = y
        return z, log_det

    def get_config(self):
        return {
            **super().get_config(),
            "kind": self.kind,
            "latent_dim": self.latent_dim,
            "num_flows": self.num_flows,
            "sylvester_columns": self.sylvester_columns,
            "num_householder": self.num_householder,
            "iaf_units": self.iaf_units,
            "context_units": self.context_units,
        }
