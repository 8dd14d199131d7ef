"""Every setting of a training run, saved beside its checkpoints."""

import dataclasses
import json

from tfflows.training.files import write_text_atomic


@dataclasses.dataclass
class TrainConfig:
    """Settings of `tfflows.train`.

    Attributes:
      out_dir: checkpoints, TensorBoard logs, sample grids, summary.json.
      steps / epochs: how long to train (steps wins; neither means 1 epoch).
      max_minutes: stop (checkpoint, evaluate) once this much training time has passed,
        counted across resumed runs; the run can be continued later with more.
      batch_size: the global batch, split evenly over the replicas.
      learning_rate, warmup_steps: Adam's rate, reached linearly over `warmup_steps`.
      epsilon: Adam's epsilon.
      schedule: "constant" or "cosine" (decays to 0 at the last step).
      clip_norm: clip the global gradient norm (computed after the replicas' sum).
      ema: Polyak averaging of the weights with this momentum (e.g. 0.999); evaluation,
        samples and the exported weights use the average.
      mixed_precision: None or "bfloat16": the networks compute in it; the flow's
        transforms and log-dets stay float32.
      strategy: "auto", "one_device", "mirrored", "multiworker" or "tpu".
      xla: compile each replica's loss and gradient with XLA: True, False, or "auto"
        (measure both on the first batch and keep the faster; a resumed run keeps the
        choice, but two separate runs may choose differently: pin True or False for
        bitwise-identical runs; see `Trainer.resolve_xla`). A fresh "auto" run on one
        device runs its first steps eagerly while the step compiles (`warm_start.py`).
      warm_start: that eager start (False: wait for the compiled step, which makes an
        "auto" run's steps, and so its resume, independent of the machine's load).
      checkpoint_every: steps between checkpoints (plus one at every epoch end).
      keep_checkpoints: how many to keep.
      resume: continue from the newest readable checkpoint in `out_dir` (a damaged newer
        one is skipped with a warning; if none is readable the run stops with
        `CheckpointError`). False starts over at step 0 and replaces the checkpoints.
      seed: data order, dequantization noise and sample grids.
      log_every: steps between progress-bar and TensorBoard updates.
      eval_batch_size, test_examples: evaluation batches, and a cap on the test examples
        used (None: all).
      samples, temperature: the sample grid written at every epoch end (image models; video
        models: up to 3 predicted futures of each of 4 held-out videos, a PNG and a GIF).
      augment: None, or "flip": each training image mirrored left-right with probability
        1/2 (seeded by the step, so a resume sees the same batches).
      validation_every: carve a validation split from the training data, every k-th
        example; at each epoch end it is scored, the best weights are written to
        `best.weights.h5` with `best.json` (see `tfflows.training.selection`).
      patience: stop after this many epochs without a better validation score.
      progress: show a progress bar.
    """

    out_dir: str = "runs/flow"
    steps: int | None = None
    epochs: int | None = None
    max_minutes: float | None = None
    batch_size: int = 64
    learning_rate: float = 1e-3
    epsilon: float = 1e-7
    warmup_steps: int = 0
    schedule: str = "constant"
    clip_norm: float | None = None
    ema: float | None = None
    mixed_precision: str | None = None
    strategy: str = "auto"
    xla: bool | str = "auto"
    warm_start: bool = True
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    resume: bool = True
    seed: int = 0
    log_every: int = 20
    eval_batch_size: int = 500
    test_examples: int | None = None
    samples: int = 64
    temperature: float = 0.7
    progress: bool = True
    augment: str | None = None
    validation_every: int | None = None
    patience: int | None = None

    def __post_init__(self):
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f'schedule must be "constant" or "cosine", got {self.schedule!r}')
        if self.mixed_precision == "float16":
            # float16 needs dynamic loss scaling to keep small gradients from flushing to
            # zero, which cannot be validated without a GPU here; bfloat16 has float32's range.
            raise ValueError(
                'mixed_precision "float16" is not supported (it needs loss scaling); use '
                '"bfloat16" (TPUs, and GPUs from NVIDIA Ampere on)'
            )
        if self.mixed_precision not in (None, "bfloat16"):
            raise ValueError(
                f'mixed_precision must be None or "bfloat16", got {self.mixed_precision!r}'
            )
        if self.ema is not None and not 0.0 < self.ema < 1.0:
            raise ValueError(f"ema must be in (0, 1), got {self.ema}")
        if self.clip_norm is not None and self.clip_norm <= 0:
            raise ValueError(f"clip_norm must be positive, got {self.clip_norm}")
        xla = {"on": True, "off": False}.get(self.xla, self.xla)
        if xla not in (True, False, "auto"):
            raise ValueError(f'xla must be True, False, "auto", "on" or "off", got {self.xla!r}')
        self.xla = xla
        if self.augment not in (None, "flip", "binarize"):
            raise ValueError(f'augment must be None, "flip" or "binarize", got {self.augment!r}')
        if self.validation_every is not None and self.validation_every < 2:
            raise ValueError(f"validation_every must be >= 2, got {self.validation_every}")
        if self.patience is not None and self.validation_every is None:
            raise ValueError("patience needs a validation split (validation_every)")
        for name in ("batch_size", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def total_steps(self, steps_per_epoch):
        if self.steps is not None:
            return int(self.steps)
        return int(self.epochs or 1) * steps_per_epoch

    def save(self, path):
        write_text_atomic(path, json.dumps(dataclasses.asdict(self), indent=2))
