"""VAE training with a flow posterior: ELBO steps/s, tfflows against the Sylvester flows
authors' PyTorch code (issue 18).

    python -m bench.vae_training [--sylvester-repo PATH] [--posteriors diagonal planar ...]
        [--repeats 5] [--seconds 1.0] [--threads N] [--quick] [--out bench/results]

The workload is the zoo recipe's (zoo/recipes/vae_mnist.py): binarised 28x28 MNIST (784
inputs), latent 32, encoder and decoder MLPs of 300 and 300 ReLU units, a Bernoulli
likelihood, batch 100, Adam(1e-3), the KL weight warming up over 5,000 updates, and the six
posteriors with the recipe's flows: diagonal (none), planar (16 steps), iaf (4 steps, MADE
of 320 units, context 64), sylvester_orthogonal (4 steps, M = 32), sylvester_householder
(4 steps, 8 reflections) and sylvester_triangular (4 steps). One training step = one
posterior draw per digit, the -ELBO with its KL weight, its gradient and an Adam update.
Data: the first 5,000 digits of ../shared/data/mnist.npz binarised once, or random binary
images where that file is absent (speed does not depend on the pixels). `--quick` shrinks
everything (latent 4, MLPs of 16 units, 2 flow steps, batch 16) for a smoke run.

Runs, each in a worker process of its own holding one model per posterior, with the same
thread settings (bench/worker.py's `apply_threads` and `set_threads`; a PyTorch worker
never imports TensorFlow), started and warmed up one at a time, then timed in interleaved
rounds whose order alternates (forward, reversed, ...): in each round every posterior is
timed by every run back to back, each timing about `--seconds`. Figures are medians over
`--repeats` rounds with their ranges; ratios are per round, as in `bench.compare`.

- tfflows traced / XLA: `tfflows.models.VAE` compiled with `jit_compile=False` / `True`;
  the timed call is Keras `fit`'s compiled step, `model.train_function(iterator)` over a
  `tf.data` pipeline (as `bench/runners_tf.py`'s `tfflows_fit_runner`), metrics included.
- torch, matched: tfflows' architecture in PyTorch 2 (eager), with the authors' flow
  layers where they run: `models.flows.Planar`, `Sylvester` and `TriangularSylvester`,
  the Householder product of `HouseholderSylvesterVAE.batch_construct_orthogonal`, and
  `models.layers.MaskedLinear` as the IAF steps' masked layers, imported unchanged from
  `--sylvester-repo` (github.com/riannevdberg/sylvester-flows, last commit 32dde9b,
  2019). Everything else is written here: the MLPs and their heads, which have exactly
  tfflows' sizes and layout (one head of raw flow parameters per digit: per step u, w, b /
  Q, R1, R2, b), R1 and R2 made as tfflows makes them (upper triangles, tanh on the
  diagonal), Q of the orthogonal flow as tfflows' QR factor (the authors' Bjorck
  iteration does not run on torch 2: see below), and the IAF step as tfflows' (a MADE of
  their masked layers, with their block masks rather than tfflows' cyclic degrees: the
  same sizes and cost; its first layer also takes the encoder's 64-unit context through
  a bias-free projection, ReLU, z <- (z - m) exp(-s) with s saturated at +-6, the axes
  reversed between steps). Parameter counts are equal to tfflows' for all six posteriors
  (tests/test_bench_vae.py checks it, and that with tfflows' weights copied in and the
  same noise, and tfflows' masks, this model computes tfflows' reconstruction and KL
  terms). Without `--sylvester-repo` every piece is written here (plain torch, the same
  math), and the table says so.
- torch, paper: the authors' own VAE classes (`VAE`, `PlanarVAE`, `IAFVAE`,
  `OrthogonalSylvesterVAE`, `HouseholderSylvesterVAE`, `TriangularSylvesterVAE`) and
  their loss (`optimization.loss.calculate_loss`), with one change made by subclassing,
  not by editing their files: `create_encoder` / `create_decoder` return tfflows' MLPs
  instead of their gated convolutions, and the encoder's output width is 300. Their
  amortised heads, flows and training step (their `train` loop's body) are used as they
  are. Its parameter counts differ from tfflows' (both given): equal for diagonal and
  planar; the Sylvester flows take R1's strict upper and R2's strict lower triangle from
  one L x L output and the diagonals from two heads of L (1,155,840 fewer parameters at
  latent 32 and 4 steps, where tfflows gives each of R1 and R2 a full L x L output and
  uses only its upper triangle); their IAF is another architecture (a 320-unit context,
  one more masked 320 x 320 layer per step, ELU, a sigmoid gate).

Same in every run: the MLPs, latent 32, batch 100, the data, one sample per
digit, the -ELBO with a Bernoulli likelihood and the linear KL warm-up, Adam(1e-3), float32,
CPU, threads. Differences: the paper runs keep the authors' q(z|x) parametrisation (a
variance through softplus, not a log-scale) and their likelihood (BCE of sigmoid
probabilities, not of logits); their code trains with Adamax (eps 1e-7), Adam here.
Their OrthogonalSylvesterVAE does not run on torch 2 (checked on 2.13): its orthogonalisation
loop reads `torch.max(norms).data[0]` (models/VAE.py:346), an IndexError on a 0-dim tensor
since PyTorch 0.4, so that paper cell says "fails" and the error is in the JSON. Their code
also warns (non-inplace `resize`, `nn.init.kaiming_normal`, invalid escape sequences) but
runs. tfflows' step also updates its four logged metrics; the torch steps read the loss
back (`.item()`) as the authors' loop does. Initial weights differ (PyTorch's defaults
against tfflows' zero-initialised heads); speed does not depend on them. No peak memory is
measured (a worker holds six models). Writes vae_training.json (every round) and
vae_training.md into `--out`.

Threads: beside other jobs, PyTorch's OpenMP threads collapse. On 2026-11-28 (2 cores, a
training job and a CI run beside it) the matched diagonal VAE trained at 105 steps/s with
1 thread and 1.6 with 2. On a shared machine, measure with `--threads 1`.
"""

import argparse
import functools
import json
import math
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import types

from bench import compare

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
MNIST = REPO.parent / "shared" / "data" / "mnist.npz"
SHAPE = (28, 28, 1)
PIXELS = 784
EXAMPLES = 5000

# zoo/recipes/vae_mnist.py's COMMON and POSTERIORS (tests/test_bench_vae.py checks that
# they still agree), with VAE's defaults spelled out.
COMMON = {
    "latent_dim": 32,
    "hidden_units": [300, 300],
    "likelihood": "bernoulli",
    "warmup_steps": 5000,
}
POSTERIORS = {
    "diagonal": {"num_flows": 0},
    "planar": {"num_flows": 16},
    "iaf": {"num_flows": 4, "iaf_units": [320], "context_units": 64},
    "sylvester_orthogonal": {"num_flows": 4, "sylvester_columns": 32},
    "sylvester_householder": {"num_flows": 4, "num_householder": 8},
    "sylvester_triangular": {"num_flows": 4},
}
QUICK_COMMON = {**COMMON, "latent_dim": 4, "hidden_units": [16, 16]}
QUICK = {
    "diagonal": {"num_flows": 0},
    "planar": {"num_flows": 2},
    "iaf": {"num_flows": 2, "iaf_units": [8], "context_units": 4},
    "sylvester_orthogonal": {"num_flows": 2, "sylvester_columns": 2},
    "sylvester_householder": {"num_flows": 2, "num_householder": 2},
    "sylvester_triangular": {"num_flows": 2},
}
BATCH, QUICK_BATCH = 100, 16
RUNS = (("tfflows", "traced"), ("tfflows", "xla"), ("torch", "matched"), ("torch", "paper"))
LOG_2PI = math.log(2.0 * math.pi)
LOG_SCALE_LIMIT = 6.0  # tfflows.bijectors._util.LOG_SCALE_LIMIT (IAF's log-scale saturation)


def settings(posterior: str, quick: bool = False) -> dict:
    """The keyword arguments of `tfflows.models.VAE` for `posterior` (every one given)."""
    s = {
        "posterior": posterior,
        **(QUICK_COMMON if quick else COMMON),
        "num_householder": 8,
        "iaf_units": [64],
        "context_units": 32,
        **(QUICK if quick else POSTERIORS)[posterior],
    }
    s.setdefault("sylvester_columns", s["latent_dim"])
    return s


def batch_size(quick: bool) -> int:
    return QUICK_BATCH if quick else BATCH


def raw_shapes(s: dict) -> dict:
    """The raw flow parameters of one step that the encoder gives per digit, name -> shape,
    in tfflows' order (`PosteriorFlow._shapes`)."""
    d, m, kind = s["latent_dim"], s["sylvester_columns"], s["posterior"]
    return {
        "planar": {"u": (d,), "w": (d,), "b": ()},
        "sylvester_orthogonal": {"q": (d, m), "r1": (m, m), "r2": (m, m), "b": (m,)},
        "sylvester_householder": {
            "q": (s["num_householder"], d),
            "r1": (d, d),
            "r2": (d, d),
            "b": (d,),
        },
        "sylvester_triangular": {"r1": (d, d), "r2": (d, d), "b": (d,)},
    }.get(kind, {})


def make_data(n: int = EXAMPLES, seed: int = 0):
    """(x [n, 28, 28, 1] float32 of 0s and 1s, a description)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if MNIST.exists():
        with np.load(MNIST) as archive:
            grey = archive["x_train"][:n].reshape(-1, *SHAPE).astype(np.float32) / 255.0
        x = (rng.random(grey.shape) < grey).astype(np.float32)
        return x, f"MNIST x_train[:{len(x)}] binarised once (Bernoulli draws, seed {seed})"
    x = (rng.random((n, *SHAPE)) < 0.5).astype(np.float32)
    return x, f"{n} random binary 28x28 images (seed {seed}; {MNIST} absent)"


# --- tfflows ---------------------------------------------------------------------------


def tfflows_runner(posterior: str, variant: str, x, quick: bool = False):
    """Keras `fit`'s compiled step of the recipe's VAE (`variant`: "traced" or "xla").
    The runner's `model` is the VAE: one step (`fit` on the first batch) is done, and the
    iterator's first batch is x[:batch]."""
    import keras
    import tensorflow as tf

    from bench.runner import Runner
    from tfflows.models import VAE

    batch = batch_size(quick)
    keras.utils.set_random_seed(0)
    model = VAE(x.shape[1:], **settings(posterior, quick))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=variant == "xla")
    model.fit(x[:batch], batch_size=batch, epochs=1, verbose=0)
    data = tf.data.Dataset.from_tensor_slices(x).repeat().batch(batch, drop_remainder=True)
    iterator = iter(data.prefetch(2))

    def train():
        return float(model.train_function(iterator)["loss"].numpy())

    # Trainable parameters, as the torch runs count them (count_params() adds one: the
    # non-trainable update counter of the KL warm-up).
    trainable = sum(math.prod(v.shape) for v in model.trainable_variables)
    runner = Runner(
        "tfflows",
        variant,
        trainable,
        {"train": train},
        note=f"Keras fit's train_function, jit_compile={variant == 'xla'}",
    )
    runner.model, runner.sources = model, {"everything": "tfflows"}
    return runner


# --- PyTorch ---------------------------------------------------------------------------


def import_sylvester(path):
    """The authors' modules from a checkout of riannevdberg/sylvester-flows at `path`,
    imported unchanged: models.flows, models.layers, models.VAE, optimization.loss."""
    import importlib
    import warnings

    root = pathlib.Path(path).resolve()
    if not (root / "models" / "flows.py").exists():
        raise FileNotFoundError(f"{root} is not a checkout of sylvester-flows (no models/flows.py)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences in their docstrings
        modules = {
            "flows": "models.flows",
            "layers": "models.layers",
            "VAE": "models.VAE",
            "loss": "optimization.loss",
        }
        loaded = {k: importlib.import_module(v) for k, v in modules.items()}
    for name, module in loaded.items():
        if not pathlib.Path(module.__file__).resolve().is_relative_to(root):
            raise ImportError(f"{modules[name]} came from {module.__file__}, not from {root}")
    return types.SimpleNamespace(root=root, **loaded)


def _mlp_layers(nn, width, hidden):
    layers = []
    for units in hidden:
        layers += [nn.Linear(width, units), nn.ReLU()]
        width = units
    return layers


@functools.cache
def torch_models():
    """The PyTorch pieces (torch is imported here, never by a TensorFlow worker)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn

    def saturate(x, limit=LOG_SCALE_LIMIT):
        excess = x.abs() - limit
        return torch.where(excess > 0, x.sign() * (limit + torch.tanh(excess)), x)

    def triangular(raw):
        """tfflows' `triangular_with_tanh_diagonal`: the upper triangle, tanh on the
        diagonal (kept within one epsilon of +-1)."""
        bound = 1.0 - torch.finfo(raw.dtype).eps
        diag = torch.tanh(torch.diagonal(raw, dim1=-2, dim2=-1)).clamp(-bound, bound)
        return torch.triu(raw, diagonal=1) + torch.diag_embed(diag)

    def orthogonal_q(raw):
        """tfflows' `orthogonal_q`: the thin QR factor with R's diagonal made positive."""
        q, r = torch.linalg.qr(raw)
        sign = torch.where(torch.diagonal(r, dim1=-2, dim2=-1) < 0, -1.0, 1.0)
        return q * sign.unsqueeze(-2)

    # Written here, used without --sylvester-repo: the same calls as their modules.
    class OwnPlanar(nn.Module):
        """z + u-hat tanh(w.z + b), called as models.flows.Planar: u [N, L, 1], w [N, 1, L],
        b [N, 1, 1]; the log-det as tfflows' Planar (w.u-hat at least -1 + eps)."""

        def forward(self, z, u, w, b):
            u, w, b = u.squeeze(2), w.squeeze(1), b.reshape(-1)
            wu = (w * u).sum(-1, keepdim=True)
            u_hat = u + (F.softplus(wu) - 1.0 - wu) * w / (w * w).sum(-1, keepdim=True)
            eps = torch.finfo(z.dtype).eps
            wu_hat = (F.softplus(wu.squeeze(-1)) - 1.0).clamp(min=eps - 1.0)
            h = torch.tanh((w * z).sum(-1) + b)
            return z + u_hat * h[:, None], torch.log((1.0 + wu_hat * (1.0 - h * h)).abs())

    class OwnSylvester(nn.Module):
        """z + Q R1 tanh(R2 Q^T z + b), called as models.flows.Sylvester: r1, r2 [N, M, M]
        (already triangular), q [N, L, M], b [N, 1, M]."""

        def forward(self, z, r1, r2, q, b):
            a = torch.bmm(z.unsqueeze(1), torch.bmm(q, r2.transpose(1, 2))) + b
            h = torch.tanh(a)
            out = z + torch.bmm(h, torch.bmm(q, r1).transpose(1, 2)).squeeze(1)
            diag = torch.diagonal(r1, dim1=-2, dim2=-1) * torch.diagonal(r2, dim1=-2, dim2=-1)
            return out, torch.log1p(diag * (1.0 - h.squeeze(1) ** 2)).sum(-1)

    class OwnTriangularSylvester(nn.Module):
        """The same with Q the identity or the reversal of the axes (`permute_z`), called
        as models.flows.TriangularSylvester."""

        def forward(self, z, r1, r2, b, permute_z=None):
            zp = z if permute_z is None else z[:, permute_z]
            a = torch.bmm(zp.unsqueeze(1), r2.transpose(1, 2)) + b
            h = torch.tanh(a)
            y = torch.bmm(h, r1.transpose(1, 2)).squeeze(1)
            y = y if permute_z is None else y[:, permute_z]
            diag = torch.diagonal(r1, dim1=-2, dim2=-1) * torch.diagonal(r2, dim1=-2, dim2=-1)
            return z + y, torch.log1p(diag * (1.0 - h.squeeze(1) ** 2)).sum(-1)

    def own_householder(raw, flows, reflections, size):
        """Q = H_H ... H_1 per digit and step, as their batch_construct_orthogonal:
        raw [N, flows * reflections * size] -> [flows, N, size, size]."""
        v = raw.reshape(-1, flows, reflections, size)
        v = v / v.norm(dim=-1, keepdim=True)
        q = torch.eye(size) - 2.0 * v[:, :, 0, :, None] * v[:, :, 0, None, :]
        for k in range(1, reflections):
            vk = v[:, :, k]
            q = q - 2.0 * vk[..., :, None] * (vk.unsqueeze(-2) @ q)
        return q.transpose(0, 1)

    class OwnMaskedLinear(nn.Module):
        """x (W * M) + b with W [in, out] as their MaskedLinear, M from tfflows' MADE
        degrees (output k sees input j if deg_out > deg_in, >= for hidden layers)."""

        def __init__(self, in_degrees, out_degrees, strict):
            super().__init__()
            d_in, d_out = np.asarray(in_degrees)[:, None], np.asarray(out_degrees)[None, :]
            mask = (d_out > d_in) if strict else (d_out >= d_in)
            self.register_buffer("mask", torch.tensor(mask, dtype=torch.float32))
            self.weight = nn.Parameter(torch.empty(mask.shape))
            nn.init.kaiming_normal_(self.weight)
            self.bias = nn.Parameter(torch.zeros(mask.shape[1]))

        def forward(self, x):
            return x.mm(self.mask * self.weight) + self.bias

    class MadeStep(nn.Module):
        """One IAF step as tfflows': (m, s) = MADE(z, h), z <- (z - m) exp(-saturate(s))."""

        def __init__(self, size, units, context, masked):
            super().__init__()
            degrees = list(range(1, size + 1))
            layers = []
            for width in units:
                out = (np.arange(width) % max(1, size - 1) + 1).tolist()  # tfflows' degrees
                layers.append(masked(degrees, out, False))
                degrees = out
            self.hidden = nn.ModuleList(layers)
            self.cond = nn.Linear(context, units[0], bias=False)
            self.shift = masked(degrees, list(range(1, size + 1)), True)
            self.log_scale = masked(degrees, list(range(1, size + 1)), True)

        def forward(self, z, context):
            h = z
            for i, layer in enumerate(self.hidden):
                h = layer(h)
                if i == 0:
                    h = h + self.cond(context)
                h = torch.relu(h)
            log_scale = saturate(self.log_scale(h))
            return (z - self.shift(h)) * torch.exp(-log_scale), -log_scale.sum(-1)

    class MatchedVAE(nn.Module):
        """tfflows' VAE (`settings`) in PyTorch; the flow layers are the authors' where
        `theirs` (from `import_sylvester`) is given. `sources` says which piece is whose."""

        def __init__(self, s, theirs=None):
            super().__init__()
            size, hidden, kind = s["latent_dim"], s["hidden_units"], s["posterior"]
            self.kind, self.size, self.warmup = kind, size, s["warmup_steps"]
            self.num_flows = 0 if kind == "diagonal" else s["num_flows"]
            self.body = nn.Sequential(*_mlp_layers(nn, PIXELS, hidden))
            self.gaussian = nn.Linear(hidden[-1], 2 * size)
            self.shapes = raw_shapes(s)
            per_step = sum(math.prod(shape) for shape in self.shapes.values())
            self.flow_head = None
            if per_step and self.num_flows:
                self.flow_head = nn.Linear(hidden[-1], self.num_flows * per_step)
            self.context = None
            self.decoder = nn.Sequential(
                *_mlp_layers(nn, size, hidden), nn.Linear(hidden[-1], PIXELS)
            )
            self.updates = 0
            mine = "written here (plain torch, tfflows' math)"
            where = f"sylvester-flows at {theirs.root}" if theirs else None
            self.sources = {"MLPs and heads": "written here, tfflows' sizes and layout"}
            flows = theirs.flows if theirs else None
            if kind == "planar":
                self.planar = flows.Planar() if theirs else OwnPlanar()
                self.sources["flow steps"] = f"models/flows.py Planar ({where})" if theirs else mine
            elif kind in ("sylvester_orthogonal", "sylvester_householder"):
                if theirs:
                    self.sylvester = flows.Sylvester(s["sylvester_columns"])
                else:
                    self.sylvester = OwnSylvester()
                self.sources["flow steps"] = (
                    f"models/flows.py Sylvester ({where})" if theirs else mine
                )
                self.sources["R1, R2"] = "written here (tfflows' triangular_with_tanh_diagonal)"
            elif kind == "sylvester_triangular":
                if theirs:
                    self.triangular = flows.TriangularSylvester(size)
                else:
                    self.triangular = OwnTriangularSylvester()
                self.register_buffer("flip", torch.arange(size - 1, -1, -1))
                self.sources["flow steps"] = (
                    f"models/flows.py TriangularSylvester ({where})" if theirs else mine
                )
                self.sources["R1, R2"] = "written here (tfflows' triangular_with_tanh_diagonal)"
            if kind == "sylvester_orthogonal":
                self.sources["Q"] = (
                    "written here: tfflows' QR (their Bjorck iteration, "
                    "OrthogonalSylvesterVAE.batch_construct_orthogonal, fails on torch 2)"
                )
            elif kind == "sylvester_householder":
                reflections = s["num_householder"]
                if theirs:
                    shim = types.SimpleNamespace(
                        z_size=size,
                        num_householder=reflections,
                        num_flows=self.num_flows,
                        _eye=torch.eye(size).unsqueeze(0),
                    )
                    method = theirs.VAE.HouseholderSylvesterVAE.batch_construct_orthogonal
                    self.householder = functools.partial(method, shim)
                    self.sources["Q"] = (
                        f"models/VAE.py HouseholderSylvesterVAE.batch_construct_orthogonal "
                        f"({where})"
                    )
                else:
                    self.householder = functools.partial(
                        own_householder, flows=self.num_flows, reflections=reflections, size=size
                    )
                    self.sources["Q"] = mine
            elif kind == "iaf":
                self.context = nn.Sequential(nn.Linear(hidden[-1], s["context_units"]), nn.ReLU())
                if theirs:

                    def masked(d_in, d_out, strict):
                        return theirs.layers.MaskedLinear(len(d_in), len(d_out), strict)

                else:
                    masked = OwnMaskedLinear
                self.mades = nn.ModuleList(
                    MadeStep(size, s["iaf_units"], s["context_units"], masked)
                    for _ in range(self.num_flows)
                )
                self.sources["masked layers"] = (
                    f"models/layers.py MaskedLinear ({where}; its block masks, not tfflows' "
                    "cyclic degrees: the same sizes and cost)"
                    if theirs
                    else mine
                )
                self.sources["IAF step"] = "written here (tfflows' MADE and affine step)"

        def steps(self, raw):
            """Per step, {name: [N, *shape]} from the head's raw output, as tfflows."""
            sizes = [math.prod(shape) for shape in self.shapes.values()]
            out = []
            for step in raw.chunk(self.num_flows, dim=1):
                parts = torch.split(step, sizes, dim=1)
                out.append(
                    {
                        name: part.reshape(-1, *shape)
                        for (name, shape), part in zip(self.shapes.items(), parts, strict=True)
                    }
                )
            return out

        def flow(self, z, raw, context):
            """(z_K, sum_k log|det dz_k / dz_{k-1}|)."""
            log_det = z.new_zeros(z.shape[0])
            if self.kind == "iaf":
                for k, made in enumerate(self.mades):
                    if k > 0:
                        z = z.flip(-1)
                    z, ld = made(z, context)
                    log_det = log_det + ld
                return z, log_det
            if self.flow_head is None:
                return z, log_det
            steps = self.steps(raw)
            if self.kind == "sylvester_householder":
                stacked = torch.stack([p["q"] for p in steps], 1)  # [N, K, H, L]
                qs = self.householder(stacked.reshape(z.shape[0], -1))
            for k, p in enumerate(steps):
                if self.kind == "planar":
                    b = p["b"].reshape(-1, 1, 1)
                    z, ld = self.planar(z, p["u"].unsqueeze(2), p["w"].unsqueeze(1), b)
                elif self.kind == "sylvester_triangular":
                    r1, r2, b = triangular(p["r1"]), triangular(p["r2"]), p["b"].unsqueeze(1)
                    z, ld = self.triangular(z, r1, r2, b, self.flip if k % 2 == 1 else None)
                else:
                    r1, r2, b = triangular(p["r1"]), triangular(p["r2"]), p["b"].unsqueeze(1)
                    q = orthogonal_q(p["q"]) if self.kind == "sylvester_orthogonal" else qs[k]
                    z, ld = self.sylvester(z, r1, r2, q, b)
                log_det = log_det + ld
            return z, log_det

        def beta(self):
            return 1.0 if not self.warmup else min(1.0, self.updates / self.warmup)

        def loss_terms(self, x, eps=None):
            """As tfflows' `VAE.loss_terms`, [N] each; `eps` [N, L] the posterior's noise."""
            x = x.reshape(x.shape[0], -1)
            h = self.body(x)
            mu, log_sigma = self.gaussian(h).chunk(2, dim=-1)
            if eps is None:
                eps = torch.randn_like(mu)
            z0 = mu + torch.exp(log_sigma) * eps
            log_q0 = (-0.5 * eps**2 - 0.5 * LOG_2PI).sum(-1) - log_sigma.sum(-1)
            raw = None if self.flow_head is None else self.flow_head(h)
            context = None if self.context is None else self.context(h)
            z, log_det = self.flow(z0, raw, context)
            logits = self.decoder(z)
            reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
            reconstruction = reconstruction.sum(-1)
            kl = log_q0 - log_det - (-0.5 * z**2 - 0.5 * LOG_2PI).sum(-1)
            return {
                "reconstruction": reconstruction,
                "kl": kl,
                "negative_elbo": reconstruction + kl,
                "loss": reconstruction + self.beta() * kl,
            }

    def paper_model(s, theirs):
        """(their VAE class for the posterior with tfflows' MLPs, their `args`)."""
        V = theirs.VAE
        hidden = s["hidden_units"]

        class MLPBody(V.VAE):
            """Their VAE with tfflows' MLP encoder and decoder instead of gated convolutions."""

            def __init__(self, args):
                super().__init__(args)
                self.q_z_nn_output_dim = hidden[-1]  # their heads are built after this

            def create_encoder(self):
                body = nn.Sequential(nn.Flatten(), *_mlp_layers(nn, PIXELS, hidden))
                mean = nn.Linear(hidden[-1], self.z_size)
                var = nn.Sequential(nn.Linear(hidden[-1], self.z_size), nn.Softplus())
                return body, mean, var

            def create_decoder(self):
                body = nn.Sequential(nn.Flatten(), *_mlp_layers(nn, self.z_size, hidden))
                return body, nn.Sequential(nn.Linear(hidden[-1], PIXELS), nn.Sigmoid())

        base = {
            "diagonal": V.VAE,
            "planar": V.PlanarVAE,
            "iaf": V.IAFVAE,
            "sylvester_orthogonal": V.OrthogonalSylvesterVAE,
            "sylvester_householder": V.HouseholderSylvesterVAE,
            "sylvester_triangular": V.TriangularSylvesterVAE,
        }[s["posterior"]]
        cls = MLPBody if base is V.VAE else type(f"MLP{base.__name__}", (base, MLPBody), {})
        args = types.SimpleNamespace(
            z_size=s["latent_dim"],
            input_size=[1, 28, 28],
            input_type="binary",
            cuda=False,
            num_flows=s["num_flows"],
            num_ortho_vecs=s["sylvester_columns"],
            num_householder=s["num_householder"],
            made_h_size=s["iaf_units"][0],
        )
        return cls(args), args

    return types.SimpleNamespace(
        torch=torch,
        MatchedVAE=MatchedVAE,
        paper_model=paper_model,
        OwnMaskedLinear=OwnMaskedLinear,
    )


def count_torch(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def torch_runner(posterior, variant, x, quick=False, sylvester_repo=None):
    """ "matched" (tfflows' architecture, their flow layers) or "paper" (their VAE classes
    with tfflows' MLPs): one eager training step per call, returning the loss."""
    import warnings

    from bench.runner import Runner

    pieces = torch_models()
    torch = pieces.torch
    theirs = import_sylvester(sylvester_repo) if sylvester_repo else None
    if variant == "paper" and theirs is None:
        raise ValueError("the paper run needs --sylvester-repo")
    s, batch = settings(posterior, quick), batch_size(quick)
    flat = torch.from_numpy(x.reshape(len(x), -1))
    batches = [flat[i : i + batch] for i in range(0, len(flat) - batch + 1, batch)]
    state = {"i": -1}

    def next_batch():
        state["i"] = (state["i"] + 1) % len(batches)
        return batches[state["i"]]

    torch.manual_seed(0)
    if variant == "matched":
        model = pieces.MatchedVAE(s, theirs)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train():
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss_terms(next_batch())["loss"].mean()
            loss.backward()
            optimizer.step()
            model.updates += 1
            return loss.item()

        sources = model.sources
        note = "tfflows' architecture in eager PyTorch"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nn.init.kaiming_normal is deprecated
            model, args = pieces.paper_model(s, theirs)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        updates = {"n": 0}

        def train():
            # The body of their optimization/training.py `train` loop.
            beta = min(1.0, updates["n"] / s["warmup_steps"])
            data = next_batch()
            optimizer.zero_grad()
            x_mean, z_mu, z_var, ldj, z0, zk = model(data)
            loss, rec, kl, _ = theirs.loss.calculate_loss(
                x_mean, data, z_mu, z_var, z0, zk, ldj, args, beta=beta
            )
            loss.backward()
            value = loss.item()
            optimizer.step()
            rec.item(), kl.item()
            updates["n"] += 1
            return value

        sources = {
            "VAE, heads, flows, loss": f"{type(model).__mro__[1].__name__} and "
            f"optimization.loss.calculate_loss (sylvester-flows at {theirs.root})",
            "MLPs": "written here (create_encoder / create_decoder overridden)",
        }
        note = "the authors' VAE class with tfflows' MLPs, eager PyTorch"
    runner = Runner("torch", variant, count_torch(model), {"train": train}, note=note)
    runner.model, runner.sources = model, sources
    return runner


def build(library, variant, posterior, x, quick=False, sylvester_repo=None):
    if library == "tfflows":
        return tfflows_runner(posterior, variant, x, quick)
    return torch_runner(posterior, variant, x, quick, sylvester_repo)


# --- worker processes ------------------------------------------------------------------


def describe(error: BaseException, repo=None) -> str:
    """The error, with the line of the authors' code it came from (if any)."""
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    if repo:
        root = pathlib.Path(repo).resolve()
        theirs = [
            f
            for f in traceback.extract_tb(error.__traceback__)
            if pathlib.Path(f.filename).resolve().is_relative_to(root)
        ]
        if theirs:
            f = theirs[-1]
            rel = pathlib.Path(f.filename).resolve().relative_to(root)
            text += f" (at {rel}:{f.lineno}: `{f.line}`)"
    return text


def versions(library: str) -> dict:
    out = {"python": platform.python_version()}
    for name in ("tensorflow", "keras", "tensorflow_probability", "torch", "numpy"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            out[name] = module.__version__
    return out


def serve(args) -> None:
    """A worker: builds and warms up one runner per posterior, then times on request."""
    from bench.worker import PREFIX, apply_threads, frameworks_imported, set_threads

    def reply(obj):
        sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
        sys.stdout.flush()

    library, variant = args.worker.split("/")
    t0 = time.perf_counter()
    apply_threads(args.threads)
    set_threads(library, variant, args.threads)
    if library == "torch":
        import warnings

        warnings.simplefilter("ignore")  # their code's deprecation warnings, every step
    import numpy as np

    x = np.load(args.data)
    calls, info = {}, {}
    for posterior in args.posteriors:
        t1 = time.perf_counter()
        try:
            runner = build(library, variant, posterior, x, args.quick, args.sylvester_repo)
            train = runner.measures["train"]
            train(), train()  # trace, compile (and a retrace for the new iterator)
            t2 = time.perf_counter()
            loss = train()
            n = max(2, round(args.seconds / (time.perf_counter() - t2)))
        except Exception as e:  # recorded; the other posteriors go on
            traceback.print_exc()
            info[posterior] = {"error": describe(e, args.sylvester_repo)}
            continue
        calls[posterior] = (train, n)
        info[posterior] = {
            "parameters": runner.params,
            "calls_per_timing": n,
            "setup_seconds": time.perf_counter() - t1,
            "warmup_loss": loss,
            "note": runner.note,
            "sources": runner.sources,
        }
    reply(
        {
            "ready": True,
            "posteriors": info,
            "setup_seconds": time.perf_counter() - t0,
            "versions": versions(library),
            **frameworks_imported(),
        }
    )
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("exit"):
            break
        train, n = calls[request["time"]]
        t1 = time.perf_counter()
        for _ in range(n):
            loss = train()
        reply({"rate": n / (time.perf_counter() - t1), "loss": loss})
    # Straight out: tearing down six models and their tf.data pipelines took over a minute
    # on a loaded machine, and nothing is left to write.
    sys.stderr.flush()
    os._exit(0)


class Worker(compare.Worker):
    """One run (library/variant) in a process of its own."""

    def __init__(self, run, args, data_path, log_dir):
        from bench.worker import PREFIX

        self.run, self.prefix = run, PREFIX
        self.library, self.variant = run.split("/", 1)  # for compare.Worker's messages
        command = [sys.executable, "-m", "bench.vae_training", "--worker", run]
        command += ["--data", data_path, "--threads", str(args.threads)]
        command += ["--seconds", str(args.seconds), "--posteriors", *args.posteriors]
        if args.quick:
            command.append("--quick")
        if args.sylvester_repo:
            command += ["--sylvester-repo", str(args.sylvester_repo)]
        self.log = pathlib.Path(log_dir) / f"{run.replace('/', '_')}.log"
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(args.threads)  # before the worker's first import
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.spawn(command, env)
        self.ok = [p for p, i in self.ready["posteriors"].items() if "error" not in i]


# --- the coordinator -------------------------------------------------------------------


def _commit(path):
    if not path:
        return None
    out = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return out.stdout.strip() if out.returncode == 0 else None


def run(args, log=print) -> dict:
    import numpy as np

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="tfflows_vae_bench_"))
    x, source = make_data(200 if args.quick else EXAMPLES)
    data_path = str(tmp / "data.npy")
    np.save(data_path, x)
    runs = [f"{lib}/{var}" for lib, var in RUNS if var != "paper" or args.sylvester_repo]
    workers, failed = [], {}
    rates, losses, orders = {}, {}, []
    try:
        for name in runs:
            try:
                w = Worker(name, args, data_path, tmp)
            except RuntimeError as e:
                failed[name] = str(e)
                log(f"{name}: failed to start ({str(e).splitlines()[0]}; log in {tmp})")
                continue
            workers.append(w)
            for p, i in w.ready["posteriors"].items():
                what = (
                    f"error: {i['error']}"
                    if "error" in i
                    else f"{i['parameters']:,} parameters, {i['setup_seconds']:.0f} s"
                )
                log(f"  {name} {p}: {what}")
        for i in range(args.repeats):
            orders.append("forward" if i % 2 == 0 else "reverse")
            for p in args.posteriors:
                for w in workers if i % 2 == 0 else workers[::-1]:
                    if p in w.ok:
                        answer = w.ask({"time": p})
                        rates.setdefault((w.run, p), []).append(answer["rate"])
                        losses[(w.run, p)] = answer["loss"]
            log(f"round {i + 1}/{args.repeats} ({orders[-1]}) done")
    finally:
        for w in workers:
            w.close()
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "threads": args.threads,
        "repeats": args.repeats,
        "seconds_per_timing": args.seconds,
        "quick": args.quick,
        "batch": batch_size(args.quick),
        "data": source,
        "sylvester_repo": str(args.sylvester_repo) if args.sylvester_repo else None,
        "sylvester_commit": _commit(args.sylvester_repo),
        "versions": {w.run: w.ready["versions"] for w in workers},
        "imports": {
            w.run: {k: w.ready[k] for k in ("tensorflow_imported", "torch_imported")}
            for w in workers
        },
        "failed_runs": failed,
        "posteriors": {},
    }
    for p in args.posteriors:
        cells = {}
        for w in workers:
            entry = dict(w.ready["posteriors"][p])
            if (w.run, p) in rates:
                rs = rates[(w.run, p)]
                entry.update(
                    median=statistics.median(rs),
                    all=rs,
                    orders=orders,
                    last_loss=losses[(w.run, p)],
                    unit="steps/s",
                )
            cells[w.run] = entry
        report["posteriors"][p] = {"settings": settings(p, args.quick), "runs": cells}
    return report


def _cell(entry):
    if entry is None:
        return "-"
    if "error" in entry:
        return "fails"
    rs = entry["all"]
    return f"{entry['median']:.1f} ({min(rs):.1f}-{max(rs):.1f})"


def markdown(report) -> str:
    _ratio = compare._ratio

    s = settings("planar", report["quick"])
    repo = report["sylvester_repo"]
    lines = [
        f"VAE training steps/s (batch {report['batch']}, 784 binary pixels, latent "
        f"{s['latent_dim']}, MLPs {'-'.join(map(str, s['hidden_units']))}; median (range) of "
        f"{report['repeats']} interleaved rounds of ~{report['seconds_per_timing']:g} s, "
        f"{report['threads']} thread{'s' if report['threads'] != 1 else ''}, one process per "
        f"run; {report['date']}). Data: "
        f"{report['data']}.",
        "",
        "| posterior | tfflows traced | tfflows XLA | torch, matched | torch, paper's VAE "
        "| tfflows best / matched (range; by order) | tfflows best / paper "
        "| parameters: tfflows / matched / paper |",
        "|---|---|---|---|---|---|---|---|",
    ]
    errors = {}
    for p, row in report["posteriors"].items():
        runs = row["runs"]
        tf_rows = [
            runs[r] for r in ("tfflows/traced", "tfflows/xla") if "median" in runs.get(r, {})
        ]
        best = max(tf_rows, key=lambda e: e["median"]) if tf_rows else None
        ratios = []
        for peer in ("torch/matched", "torch/paper"):
            other = runs.get(peer, {})
            ratios.append(_ratio(best, other) if best and "median" in other else "-")
        params = [
            f"{runs[r]['parameters']:,}" if "parameters" in runs.get(r, {}) else "-"
            for r in ("tfflows/traced", "torch/matched", "torch/paper")
        ]
        cells = [_cell(runs.get(r)) for r in (f"{lib}/{var}" for lib, var in RUNS)]
        lines.append(f"| {p} | {' | '.join(cells)} | {' | '.join(ratios)} | {' / '.join(params)} |")
        for r, entry in runs.items():
            if "error" in entry:
                errors[f"{r} {p}"] = entry["error"]
    lines.append("")
    matched = next(
        (
            row["runs"]["torch/matched"].get("sources")
            for row in report["posteriors"].values()
            if row["runs"].get("torch/matched", {}).get("sources")
        ),
        None,
    )
    if repo:
        commit = report["sylvester_commit"] or "not a git checkout"
        lines.append(
            f"Peer: github.com/riannevdberg/sylvester-flows from `{repo}` ({commit}). "
            "torch, matched = tfflows' architecture in PyTorch with the authors' flow layers "
            "(Planar, Sylvester, TriangularSylvester, the Householder product, MaskedLinear); "
            "the orthogonal Q is tfflows' QR, written here. torch, paper's VAE = the authors' "
            "VAE classes, heads and loss with tfflows' MLPs in place of their gated "
            "convolutions. See the docstring of bench/vae_training.py."
        )
    elif matched is not None:
        lines.append(
            "Peer: plain PyTorch written in bench/vae_training.py (no --sylvester-repo): "
            "tfflows' architecture and math, none of the authors' code."
        )
    for run_name, text in report["failed_runs"].items():
        lines.append(f"- {run_name} did not start: {text.splitlines()[0]}")
    for key, text in errors.items():
        lines.append(f"- {key}: {text}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posteriors", nargs="+", default=list(POSTERIORS), choices=POSTERIORS)
    parser.add_argument("--sylvester-repo", help="a checkout of riannevdberg/sylvester-flows")
    parser.add_argument("--repeats", type=int, help="rounds (default 5; 2 with --quick)")
    parser.add_argument("--seconds", type=float, help="per timing (default 1; 0.2 with --quick)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="tiny models: a smoke run")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # library/variant (internal)
    parser.add_argument("--data", help=argparse.SUPPRESS)  # .npy (internal)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.seconds is None:
        args.seconds = 0.2 if args.quick else 1.0
    if args.worker:
        serve(args)
        return {}
    report = run(args)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vae_training.json").write_text(json.dumps(report, indent=1) + "\n")
    table = markdown(report)
    (out / "vae_training.md").write_text(table)
    print(table)
    return report


if __name__ == "__main__":
    main()
