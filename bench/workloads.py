"""The side-by-side workloads of issue 7: one architecture, one batch, one data set each,
shared by every library's runner.

- glow32: Glow on 32x32x3 8-bit images; 3 levels x 8 steps; coupling network
  conv3x3(128)-ReLU-conv1x1(128)-ReLU-zero conv3x3; LU 1x1 convolution; ActNorm;
  scale sigmoid(h + 2); squeeze before each level, split after each level but the last;
  batch 64. Images are dequantized with uniform noise inside every training step.
- realnvp2d: Real NVP, 8 affine couplings with MLP 2x128 ReLU conditioners on 2-D two
  moons, batch 1024.
- maf8: MAF, 5 MADE layers of 2x256 ReLU, order reversed between layers, 8-D data,
  batch 512. iaf8: the same stack inverted (sampling is one pass, density sequential).
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    shape: tuple
    batch: int
    discrete: bool  # 8-bit images (dequantized in the training step)
    # glow32 only, varied by bench/scaling.py: levels of 8 steps, coupling channels.
    levels: int = 3
    hidden: int = 128

    def flops(self, measure):
        """FLOPs (2 per multiply-add) of the networks' dense and convolution layers per unit
        of `measure`: one example for log_prob and sample, one batch for train (forward,
        then the gradients with respect to inputs and weights: 3x the forward's).
        Elementwise work is left out, so this is a lower bound on the work done."""
        if self.name == "glow32":
            pass_ = _glow32_forward_flops(self.levels, self.hidden)
        elif self.name == "realnvp2d":
            pass_ = 8 * _mlp_flops([1, 128, 128, 2])
        else:
            pass_ = 5 * _mlp_flops([8, 256, 256, 16])
        # The autoregressive direction takes one network pass per dimension: MAF samples,
        # IAF scores (and so trains) that way.
        sequential = {"maf8": ("sample",), "iaf8": ("log_prob", "train")}.get(self.name, ())
        if measure in sequential:
            pass_ *= self.shape[0]
        return 3 * self.batch * pass_ if measure == "train" else pass_

    def data(self, batches=8, seed=0):
        """`batches` global batches of training data as one numpy array."""
        rng = np.random.default_rng(seed)
        n = batches * self.batch
        if self.discrete:
            return rng.integers(0, 256, (n, *self.shape), dtype=np.uint8)
        if self.name == "realnvp2d":
            from tfflows.data.toy_data import two_moons

            return two_moons(n, seed=seed).astype(np.float32)
        mix = rng.normal(size=(self.shape[0], self.shape[0])) / np.sqrt(self.shape[0])
        z = rng.normal(size=(n, self.shape[0]))
        return (np.tanh(z) + z @ mix).astype(np.float32)


def _mlp_flops(units):
    return sum(2 * a * b for a, b in zip(units[:-1], units[1:], strict=True))


def _conv_flops(size, k, c_in, c_out):
    return 2 * size * size * k * k * c_in * c_out


def _glow32_forward_flops(levels=3, hidden=128):
    """One 32x32x3 example through glow32: per level, 8 steps of a 1x1 convolution and a
    coupling network (conv3x3 c/2->h, conv1x1 h->h, conv3x3 h->c; h = 128), then the split
    prior (conv3x3 c/2->c) on all levels but the last."""
    total = 0
    for level, (size, c) in enumerate([(16, 12), (8, 24), (4, 48)][:levels]):
        step = _conv_flops(size, 1, c, c)
        step += _conv_flops(size, 3, c // 2, hidden) + _conv_flops(size, 1, hidden, hidden)
        step += _conv_flops(size, 3, hidden, c)
        total += 8 * step + (_conv_flops(size, 3, c // 2, c) if level < levels - 1 else 0)
    return total


WORKLOADS = {
    "glow32": Workload("glow32", (32, 32, 3), 64, True),
    "realnvp2d": Workload("realnvp2d", (2,), 1024, False),
    "maf8": Workload("maf8", (8,), 512, False),
    "iaf8": Workload("iaf8", (8,), 512, False),
}

# The split prior is one zero conv3x3 and there is no learned top prior, as in TFP's tfb.Glow
# and Glow's code, so the parameter counts agree.
GLOW32 = dict(
    levels=3, steps_per_level=8, hidden_channels=128, split_hidden_channels=0, learn_top=False
)
REALNVP2D = dict(num_couplings=8, hidden=[128, 128])
MADE8 = dict(num_layers=5, hidden_units=[256, 256])
