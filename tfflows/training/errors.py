"""The errors a run stops with: divergence, unusable checkpoints, a busy output folder."""


class NonFiniteLossError(RuntimeError):
    """The loss or a gradient became NaN or infinite. The message names the step and the
    first layer whose output or log-det was non-finite on that batch; the weights of the
    step before, and the last checkpoint, are untouched."""

    def __init__(self, step, where, checkpoint=None):
        self.step, self.where, self.checkpoint = step, where, checkpoint
        kept = (
            f"; the last good checkpoint is {checkpoint}"
            if checkpoint
            else "; no checkpoint had been written yet"
        )
        super().__init__(f"non-finite loss at step {step}: {where}{kept}")


class CheckpointError(RuntimeError):
    """The output folder holds checkpoints but none of them can be restored. Nothing was
    overwritten; the message names the folder, each checkpoint's problem, and the ways out
    (`--no-resume` / `resume=False` to start over deliberately, or another `--out`)."""


class RunLockedError(RuntimeError):
    """Another training run (whose pid the message names) holds the output folder."""
