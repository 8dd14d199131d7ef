"""Model selection on a validation split: the best weights so far, and early stopping.

The validation split is carved from the training examples (never the test split): every
`validation_every`-th one, by position in the training split. At every epoch end the trainer
scores it (with the EMA weights when there are any); a better score writes
`OUT/best.weights.h5` and `OUT/best.json` (step, epoch, validation and test numbers), and
`patience` epochs without a better score stop the run. `best.json` also carries the count of
epochs since the best, so a resumed run stops where the uninterrupted one would.
"""

import dataclasses
import json
import pathlib

import numpy as np

from tfflows.training.files import write_text_atomic


def carve_validation(x, y, every):
    """(train_x, train_y, val_x, val_y): every `every`-th example (positions every-1,
    2 every-1, ...) goes to validation."""
    if every is None:
        return x, y, None, None
    held = np.arange(len(x)) % every == every - 1
    y_train, y_val = (None, None) if y is None else (y[~held], y[held])
    return x[~held], y_train, x[held], y_val


@dataclasses.dataclass
class Selection:
    """The best validation score of a run, persisted in `OUT/best.json`."""

    path: pathlib.Path
    best: float | None = None
    step: int | None = None
    stale_epochs: int = 0
    record: dict | None = None
    reported: int = -1

    @classmethod
    def load(cls, out_dir) -> "Selection":
        path = pathlib.Path(out_dir) / "best.json"
        if not path.exists():
            return cls(path)
        record = json.loads(path.read_text())
        return cls(
            path,
            record["validation"]["bits_per_dim"],
            record["step"],
            record.get("stale_epochs", 0),
            record,
            record.get("reported", record["step"]),
        )

    def update(self, step: int, epoch: int, validation: dict, test: dict | None) -> bool:
        """Records an epoch's validation score; True when it is the best so far (the
        caller then writes the weights, before `commit`)."""
        score = validation["bits_per_dim"]
        if step <= self.reported:
            return False  # a resumed run repeating an epoch the record already counts
        self.reported = step
        if self.best is None or score < self.best:
            self.best, self.step, self.stale_epochs = score, step, 0
            self.record = {"step": step, "epoch": epoch, "validation": validation, "test": test}
            return True
        self.stale_epochs += 1
        return False

    def commit(self) -> None:
        if self.record is not None:
            record = {**self.record, "stale_epochs": self.stale_epochs, "reported": self.reported}
            write_text_atomic(self.path, json.dumps(record, indent=2))

    def exhausted(self, patience: int | None) -> bool:
        return patience is not None and self.stale_epochs >= patience
