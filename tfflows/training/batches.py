"""Which examples each training step sees: a pure function of (seed, step).

Step s of a run reads the global batch `batch_indices(s)`: epoch e = s // steps_per_epoch is a
seeded permutation of the training set, cut into global batches (the remainder is dropped).
Because nothing else decides the order, a resumed run reads exactly the batches the
uninterrupted run would have, and every worker of a multi-worker run computes the same
global batch and takes its own rows of it.
"""

import numpy as np


class BatchOrder:
    def __init__(self, num_examples, global_batch, seed=0):
        if global_batch < 1:
            raise ValueError(f"batch size must be >= 1, got {global_batch}")
        if num_examples < global_batch:
            raise ValueError(
                f"the training set has {num_examples} examples, fewer than one global batch "
                f"of {global_batch}"
            )
        self.num_examples, self.global_batch, self.seed = num_examples, global_batch, seed
        self.steps_per_epoch = num_examples // global_batch
        self._epoch, self._perm = None, None

    def epoch_of(self, step):
        return step // self.steps_per_epoch

    def permutation(self, epoch):
        if epoch != self._epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch, self._perm = epoch, rng.permutation(self.num_examples)
        return self._perm

    def batch_indices(self, step):
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.global_batch
        return self.permutation(epoch)[start : start + self.global_batch]


def flip_horizontally(x, seed, step):
    """Each image of the batch (NHWC) mirrored left-right with probability 1/2, chosen by
    a generator seeded with (seed, step): the same batch gets the same flips in a resumed
    run. A flip is a symmetry of face and digit data sets' distribution, so it adds data
    without changing what is modelled (Glow and Real NVP train with it)."""
    if x.ndim != 4:
        raise ValueError(f"flips are for image batches [N, H, W, C], got shape {x.shape}")
    flips = np.random.default_rng([seed, step, 7]).random(len(x)) < 0.5
    out = x.copy()
    out[flips] = x[flips, :, ::-1]
    return out
