"""Sylvester normalizing flow of van den Berg, Hasenclever, Tomczak & Welling."""

import numpy as np
import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import (
    check_event,
    parameter_batch_shape,
    record_forward_ldj,
    record_inverse_ldj,
    same_size,
    solve_plus_tanh,
)


def orthogonal_q(raw: tf.Tensor) -> tf.Tensor:
    """Q [..., D, M] with orthonormal columns from any full-rank raw [..., D, M], M <= D.

    Q is the thin QR factor of raw with R's diagonal made positive: the Gram-Schmidt
    orthonormalisation of raw's columns, unique and smooth in raw. (The paper runs Bjorck's
    iteration Q <- Q (I + (I - Q^T Q) / 2) from raw / |raw|_F, which converges only for
    singular values in (0, sqrt 3), slowly for small ones, and needed up to 100 steps with
    a tolerance test; QR is orthonormal to rounding in one step, has a gradient for tall
    matrices, and compiles under XLA.)
    """
    raw = tf.convert_to_tensor(raw)
    if raw.shape.rank is not None and raw.shape.rank < 2:
        raise ValueError(f"orthogonal_q takes matrices [..., D, M], got shape {raw.shape}")
    d, m = raw.shape[-2], raw.shape[-1]
    if d is not None and m is not None and m > d:
        raise ValueError(f"orthogonal_q needs M <= D columns, got shape {raw.shape}")
    q, r = tf.linalg.qr(raw)
    diag = tf.linalg.diag_part(r)
    sign = tf.where(diag < 0, -tf.ones_like(diag), tf.ones_like(diag))
    return q * sign[..., None, :]


def householder_q(vectors: tf.Tensor) -> tf.Tensor:
    """Q = H_K ... H_2 H_1 [..., D, D] with H_k = I - 2 v_k v_k^T / |v_k|^2.

    Args:
      vectors: [..., K, D], the K reflection vectors v_k (nonzero), K static. H_1 acts on
        a vector first, as in the paper's code.
    """
    vectors = tf.convert_to_tensor(vectors)
    if vectors.shape.rank is not None and vectors.shape.rank < 2:
        raise ValueError(
            f"householder_q takes reflection vectors [..., K, D], got shape {vectors.shape}"
        )
    if vectors.shape[-2] is None or vectors.shape[-1] is None:
        raise ValueError(f"householder_q needs static K and D, got shape {vectors.shape}")
    unit = vectors / tf.norm(vectors, axis=-1, keepdims=True)
    v = unit[..., 0, :]
    q = tf.eye(vectors.shape[-1], dtype=vectors.dtype) - 2.0 * v[..., :, None] * v[..., None, :]
    for k in range(1, vectors.shape[-2]):
        v = unit[..., k, :]
        # H_k Q = Q - 2 v (v^T Q)
        q = q - 2.0 * v[..., :, None] * tf.linalg.matvec(q, v, transpose_a=True)[..., None, :]
    return q


def permutation_q(size: int, reverse: bool = False, dtype: tf.DType = tf.float32) -> tf.Tensor:
    """The triangular variant's Q [size, size]: the identity, or the reversal of the axes.

    With Q = I the flow is upper-triangular in z; with the reversal it is lower-triangular,
    so alternating the two lets every coordinate influence every other one.
    """
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"permutation_q needs a positive integer size, got {size!r}")
    eye = tf.eye(int(size), dtype=dtype)
    return tf.reverse(eye, axis=[1]) if reverse else eye


def triangular_with_tanh_diagonal(raw: tf.Tensor) -> tf.Tensor:
    """The upper triangle of raw with tanh on its diagonal (any raw gives an admissible R).

    The diagonal is kept within one machine epsilon of +-1: tanh rounds to exactly +-1 from
    |raw| ~ 9 in float32 (19 in float64), and a product R1_ii R2_ii = -1 would make the
    flow singular where h' = 1. tanh's slope is already below epsilon there.
    """
    bound = 1.0 - np.finfo(raw.dtype.as_numpy_dtype).eps
    diag = tf.clip_by_value(tf.tanh(tf.linalg.diag_part(raw)), -bound, bound)
    return tf.linalg.set_diag(tf.linalg.band_part(raw, 0, -1), diag)


def _row_times(x, m, transpose=False):
    """x m (x m^T when `transpose`) for row vectors x [..., K] and matrices m [..., K, L].

    Parameters without a batch give one [N, K] x [K, L] MatMul (a batched matvec of tiny
    products is much slower on oneDNN); per-example parameters need the batched product.
    """
    if m.shape.rank == 2:
        k = x.shape[-1] if x.shape[-1] is not None else tf.shape(x)[-1]
        y = tf.matmul(tf.reshape(x, [-1, k]), m, transpose_b=transpose)
        return tf.reshape(y, tf.concat([tf.shape(x)[:-1], tf.shape(y)[-1:]], axis=0))
    return tf.linalg.matvec(m, x, transpose_a=not transpose)


class Sylvester(FlowBijector):
    """Sylvester flow f(z) = z + Q R1 h(R2 Q^T z + b) with h = tanh.

        forward (latent -> data):  x = z + Q R1 tanh(R2 Q^T z + b)
        log|det dx/dz| = sum_i log|1 + R1_ii R2_ii tanh'(a_i)|,  a = R2 Q^T z + b
                         (Sylvester's determinant identity: det(I_D + Q R1 H R2 Q^T)
                          = det(I_M + R1 H R2), H = diag(tanh'(a)), a triangular matrix)
        inverse (data -> latent):  no closed form. z keeps its part outside the span of Q,
            and v = Q^T z solves v + R1 tanh(R2 v + b) = Q^T x, whose row i involves only
            v_i, ..., v_M: back-substitution from i = M down to 1 solves one scalar equation
            v_i + R1_ii tanh(R2_ii v_i + s_i) = c_i per row, increasing in v_i and
            bracketed within |R1_ii| of c_i (bisection to machine precision), then one
            Newton step on the whole system gives the solution its implicit-function
            gradient; z = x - Q R1 tanh(R2 v + b). Each direction records its log-det.

    R1 and R2 are made from the raw r1, r2: their upper triangles, with tanh on the
    diagonals as in the paper, so R1_ii R2_ii > -1 = -1 / sup|h'| for any raw values and f is
    invertible (the paper's Section 3; the back-substitution above shows it row by row, with
    no condition on R2 beyond that). Q must have orthonormal columns (Q^T Q = I_M): make
    it with `orthogonal_q` (M <= D), `householder_q` (M = D) or `permutation_q` (M = D, the
    triangular variant); the log-det and the inverse rely on it and it is not checked.

    Every parameter may carry a batch shape, one flow per example as a VAE's encoder gives
    them, broadcasting against the input's batch.

    Args:
      q: [..., D, M], orthonormal columns.
      r1, r2: [..., M, M], raw (lower triangles ignored, diagonals through tanh).
      b: [..., M].
      bisection_steps: iterations per row of the inverse's bisection (64 reaches float64
        precision).

    Example:
      >>> q = orthogonal_q(tf.random.normal([8, 4, 2]))  # per example, M = 2 < D = 4
      >>> bij = Sylvester(q, tf.random.normal([8, 2, 2]), tf.random.normal([8, 2, 2]),
      ...                 tf.zeros([8, 2]))
      >>> x = bij.forward(tf.random.normal([8, 4]))

    Reference: van den Berg, Hasenclever, Tomczak, Welling, "Sylvester Normalizing Flows for
    Variational Inference", arXiv:1803.05649, Sections 3 and 4.
    """

    def __init__(self, q, r1, r2, b, bisection_steps=64, validate_args=False, name="sylvester"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            q = tf.convert_to_tensor(q)
            r1 = tf.convert_to_tensor(r1, dtype=q.dtype)
            r2 = tf.convert_to_tensor(r2, dtype=q.dtype)
            b = tf.convert_to_tensor(b, dtype=q.dtype)
            self._batch_shape_static = parameter_batch_shape(
                "Sylvester", q=(q, 2), r1=(r1, 2), r2=(r2, 2), b=(b, 1)
            )
            m = same_size(
                "Sylvester",
                "the sizes M of q's columns, r1, r2 and b",
                q_columns=q.shape[-1],
                r1_rows=r1.shape[-2],
                r1_columns=r1.shape[-1],
                r2_rows=r2.shape[-2],
                r2_columns=r2.shape[-1],
                b=b.shape[-1],
            )
            if m is None:
                raise ValueError("Sylvester needs a static M (the columns of q)")
            d = q.shape[-2]
            if d is not None and m > d:
                raise ValueError(
                    f"Sylvester: q [..., D, M] needs M <= D orthonormal columns, got {q.shape}"
                )
            self._event_size, self._m = d, m
            self._q, self._b = q, b
            self._r1 = triangular_with_tanh_diagonal(r1)
            self._r2 = triangular_with_tanh_diagonal(r2)
            self._diag = tf.linalg.diag_part(self._r1) * tf.linalg.diag_part(self._r2)
            # a = R2 Q^T z + b = z (Q R2^T) + b and Q R1 h = h (Q R1)^T, as row vectors.
            self._q_r2t = tf.linalg.matmul(q, self._r2, transpose_b=True)
            self._q_r1 = tf.linalg.matmul(q, self._r1)
            self._bisection_steps = bisection_steps
            super().__init__(
                forward_min_event_ndims=1,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    @property
    def q(self):
        return self._q

    @property
    def r1(self):
        """R1 as used: upper-triangular, diagonal in (-1, 1)."""
        return self._r1

    @property
    def r2(self):
        return self._r2

    def _check(self, x):
        check_event("Sylvester", x, self._event_size, self._batch_shape_static)

    def _log_det(self, a):
        return tf.reduce_sum(tf.math.log1p(self._diag * (1.0 - tf.tanh(a) ** 2)), axis=-1)

    def _pre_activation(self, x):
        return _row_times(x, self._q_r2t) + self._b

    def _forward(self, x):
        self._check(x)
        a = self._pre_activation(x)
        record_forward_ldj(self, x, self._log_det(a))
        return x + _row_times(tf.tanh(a), self._q_r1, transpose=True)

    def _forward_log_det_jacobian(self, x):
        self._check(x)
        return self._log_det(self._pre_activation(x))

    def _back_substitute(self, c):
        """v with v + R1 tanh(R2 v + b) = c, row by row from the last (no gradient)."""
        r1d, r2d = tf.linalg.diag_part(self._r1), tf.linalg.diag_part(self._r2)
        r1_strict = tf.linalg.set_diag(self._r1, tf.zeros_like(r1d))
        v0 = tf.zeros_like(c + self._b + self._diag)

        def row(i, v):
            e = tf.one_hot(i, self._m, dtype=c.dtype)
            # Rows > i of v are solved, rows <= i are still 0: a_j is exact for j > i, and
            # so are s_i = a_i (v_i = 0) and t_i = sum_{j > i} R1_ij tanh(a_j).
            a = _row_times(v, self._r2, transpose=True) + self._b
            t = _row_times(tf.tanh(a), r1_strict, transpose=True)
            s = tf.reduce_sum(a * e, -1)
            target = tf.reduce_sum((c - t) * e, -1)
            r1_i, r2_i = tf.reduce_sum(r1d * e, -1), tf.reduce_sum(r2d * e, -1)
            v_i = solve_plus_tanh(target, r1_i, r2_i, s, self._bisection_steps)
            return i - 1, v + e * v_i[..., None]

        return tf.while_loop(lambda i, _: i >= 0, row, (tf.constant(self._m - 1), v0))[1]

    def _newton(self, c, v):
        """One Newton step on v + R1 tanh(R2 v + b) = c; its Jacobian I + R1 H R2 is upper
        triangular."""
        a = _row_times(v, self._r2, transpose=True) + self._b
        h = tf.tanh(a)
        residual = v + _row_times(h, self._r1, transpose=True) - c
        jac = tf.eye(self._m, dtype=c.dtype) + tf.linalg.matmul(
            self._r1 * (1.0 - h**2)[..., None, :], self._r2
        )
        return v - tf.linalg.triangular_solve(jac, residual[..., None], lower=False)[..., 0]

    def _invert(self, y):
        """(z, ildj) for the data point y."""
        self._check(y)
        c = _row_times(y, self._q)
        v = self._newton(c, self._back_substitute(c))
        a = _row_times(v, self._r2, transpose=True) + self._b
        z = y - _row_times(tf.tanh(a), self._q_r1, transpose=True)
        return z, -self._log_det(a)

    def _inverse(self, y):
        z, ildj = self._invert(y)
        record_inverse_ldj(self, y, ildj)
        return z

    def _inverse_log_det_jacobian(self, y):
        return self._invert(y)[1]
