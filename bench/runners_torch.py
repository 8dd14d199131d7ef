"""normflows, nflows and zuko (PyTorch, CPU, eager) on the workloads of `workloads.py`,
built from each library's own pieces in the shape its documentation shows.

None of them is a dependency of tfflows: `pip install .[bench]` brings them.
"""

import os

import numpy as np
import torch
from torch import nn

from bench.runner import Runner

# bench/worker.py sets OMP_NUM_THREADS to the thread count every library gets.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))


class Unsupported(Exception):
    """The library has no pieces for this workload."""


def _cycle(x, batch):
    batches = [
        torch.from_numpy(np.ascontiguousarray(x[i : i + batch])) for i in range(0, len(x), batch)
    ]
    state = {"i": 0}

    def next_batch():
        state["i"] += 1
        return batches[state["i"] % len(batches)]

    return next_batch


def _prepare(workload, xb):
    if not workload.discrete:
        return xb
    # uint8 NHWC -> dequantized, centred NCHW float32 (x / 256 - 0.5, as Glow's code).
    x = xb.permute(0, 3, 1, 2).float()
    return (x + torch.rand_like(x)) / 256.0 - 0.5


def _mlp(i, o, hidden=(128, 128)):
    layers, width = [], i
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    last = nn.Linear(width, o)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return _Net(*layers, last)


class _Net(nn.Sequential):
    """An MLP that ignores the context argument nflows passes to its conditioners."""

    def forward(self, x, context=None):
        return super().forward(x)


def _runner(library, workload, x, model, log_prob, sample):
    next_batch = _cycle(x, workload.batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        log_prob(_prepare(workload, next_batch()))  # ActNorm initialises on a first batch

    def train():
        optimizer.zero_grad(set_to_none=True)
        loss = -log_prob(_prepare(workload, next_batch())).mean()
        loss.backward()
        optimizer.step()
        loss.item()

    def score():
        with torch.no_grad():
            log_prob(_prepare(workload, next_batch())).sum().item()

    def draw():
        with torch.no_grad():
            sample(workload.batch).sum().item()

    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return Runner(library, "eager", params, {"train": train, "log_prob": score, "sample": draw})


# --- normflows -------------------------------------------------------------------------


def _normflows_glow(workload):
    import normflows as nf

    levels, steps = workload.levels, 8
    c, h, w = workload.shape[2], workload.shape[0], workload.shape[1]
    q0, merges, flows = [], [], []
    for i in range(levels):
        flows_ = [
            nf.flows.GlowBlock(
                c * 2 ** (levels + 1 - i), workload.hidden, split_mode="channel", scale=True
            )
            for _ in range(steps)
        ]
        flows_ += [nf.flows.Squeeze()]
        flows.append(flows_)
        if i > 0:
            merges.append(nf.flows.Merge())
            shape = (c * 2 ** (levels - i), h // 2 ** (levels - i), w // 2 ** (levels - i))
        else:
            shape = (c * 2 ** (levels + 1), h // 2**levels, w // 2**levels)
        q0.append(nf.distributions.GlowBase(shape))
    model = nf.MultiscaleFlow(q0, flows, merges, class_cond=False)
    return model, lambda xb: model.log_prob(xb, None), lambda n: model.sample(n)[0]


def _normflows_vector(workload):
    import normflows as nf

    d = workload.shape[0]
    flows = []
    if workload.name == "realnvp2d":
        for _ in range(8):
            flows += [
                nf.flows.AffineCouplingBlock(nf.nets.MLP([d // 2, 128, 128, d], init_zeros=True)),
                nf.flows.Permute(d, mode="swap"),
            ]
    else:
        for _ in range(5):
            made = nf.flows.MaskedAffineAutoregressive(
                d, 256, num_blocks=1, use_residual_blocks=False
            )
            # normflows' forward is the sampling direction and its MADE flow runs one
            # pass forward: used as is it is an IAF; Reverse makes it a MAF.
            flows += [nf.flows.Reverse(made) if workload.name == "maf8" else made]
            flows += [nf.flows.Permute(d, mode="swap")]
    model = nf.NormalizingFlow(nf.distributions.DiagGaussian(d, trainable=False), flows[:-1])
    return model, model.log_prob, lambda n: model.sample(n)[0]


def normflows_runner(workload, x):
    build = _normflows_glow if workload.name == "glow32" else _normflows_vector
    model, log_prob, sample = build(workload)
    return _runner("normflows", workload, x, model, log_prob, sample)


# --- nflows ----------------------------------------------------------------------------


def nflows_runner(workload, x):
    from nflows import distributions, flows, transforms

    if workload.name == "glow32":
        raise Unsupported("nflows has no Glow step or multi-scale Glow model")
    d = workload.shape[0]
    steps = []
    if workload.name == "realnvp2d":
        for i in range(8):
            mask = torch.arange(d) % 2 == i % 2
            steps.append(transforms.AffineCouplingTransform(mask.int(), lambda i_, o: _mlp(i_, o)))
    else:
        for i in range(5):
            if i > 0:
                steps.append(transforms.ReversePermutation(d))
            made = transforms.MaskedAffineAutoregressiveTransform(
                features=d, hidden_features=256, num_blocks=1, use_residual_blocks=False
            )
            steps.append(made if workload.name == "maf8" else transforms.InverseTransform(made))
    model = flows.Flow(transforms.CompositeTransform(steps), distributions.StandardNormal([d]))
    return _runner("nflows", workload, x, model, model.log_prob, model.sample)


# --- zuko ------------------------------------------------------------------------------


def zuko_runner(workload, x):
    import zuko

    if workload.name == "glow32":
        raise Unsupported("zuko has no convolutional (image) flows")
    d = workload.shape[0]
    if workload.name == "realnvp2d":
        flow = zuko.flows.RealNVP(d, transforms=8, hidden_features=(128, 128))
    else:
        flow = zuko.flows.MAF(d, transforms=5, hidden_features=(256, 256))
        if workload.name == "iaf8":
            flow = zuko.flows.Flow([t.inv for t in flow.transform.transforms], flow.base)

    return _runner(
        "zuko",
        workload,
        x,
        flow,
        lambda xb: flow().log_prob(xb),
        lambda n: flow().sample((n,)),
    )


TORCH_RUNNERS = {"normflows": normflows_runner, "nflows": nflows_runner, "zuko": zuko_runner}
