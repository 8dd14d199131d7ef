"""The error a diverged run stops with."""


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
