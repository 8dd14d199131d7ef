"""The training loop: a built flow model, a data set and a `tf.distribute` strategy.

`Trainer(model, data, ...)` owns a run: its data feed (`feed.py`), optimizer and weight
average (`averaging.py`), the compiled step (`steps.py`: the loss is `model.nll`, the same
as `fit`'s), checkpoints (`checkpoints.py`), the output folder's lock and files, and the
epoch reports (test and validation scores, `selection.py`; sample grids, `reporting.py`).
`run()` trains to the configured end, a time budget, early stopping, or a signal.

The model is built by the caller (`tfflows.models.Glow(...)`, `Glow.for_data(x)`, a zoo
preset); the command line resolves family names and presets. Under a strategy the model is
rebuilt inside the strategy's scope, with its weights copied.
"""

import contextlib
import dataclasses
import json
import math
import pathlib
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from tfflows.models.registry import build_model, model_config
from tfflows.training import checkpoints, reporting, steps, xla_choice
from tfflows.training.averaging import WeightAverage
from tfflows.training.config import TrainConfig
from tfflows.training.errors import NonFiniteLossError
from tfflows.training.evaluation import evaluate_model
from tfflows.training.feed import DataFeed, as_splits
from tfflows.training.files import remove_debris, temporary_name, write_text_atomic
from tfflows.training.interrupts import StopRequest
from tfflows.training.lock import RunLock
from tfflows.training.protocol import Trainable
from tfflows.training.selection import Selection
from tfflows.training.strategies import is_chief, is_single_worker, make_strategy, worker_index
from tfflows.training.warm_start import Background


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    summary: dict
    optimizer: keras.optimizers.Optimizer
    average: WeightAverage | None = None


def _learning_rate(config, total_steps):
    peak = float(config.learning_rate)
    if config.schedule == "constant" and not config.warmup_steps:
        return peak
    warmup = int(config.warmup_steps)
    # CosineDecay ramps linearly from `initial_learning_rate` to `warmup_target` over
    # `warmup_steps`, then decays to alpha * warmup_target; alpha = 1 keeps it constant.
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else peak,
        decay_steps=max(1, total_steps - warmup),
        alpha=1.0 if config.schedule == "constant" else 0.0,
        warmup_target=peak if warmup else None,
        warmup_steps=warmup,
    )


def _in_scope(model, strategy, network_dtype):
    """(model, strategy) to train with. `model` itself when it can train as it is: its
    variables made in `strategy`'s scope, or one device (then under TF's default strategy,
    where variables made anywhere serve), its networks already computing in
    `network_dtype`. Otherwise the same architecture rebuilt inside the strategy's scope
    with the weights copied (the run copies the trained weights back at its end)."""
    same_dtype = network_dtype is None or model.network_dtype == network_dtype
    made_here = all(strategy.extended.variable_created_in_scope(v.value) for v in model.variables)
    if same_dtype and made_here:
        return model, strategy
    if same_dtype and isinstance(strategy, tf.distribute.OneDeviceStrategy):
        return model, tf.distribute.get_strategy()
    spec = model_config(model)
    if network_dtype is not None:
        spec = {**spec, "config": {**spec["config"], "network_dtype": network_dtype}}
    with strategy.scope():
        rebuilt = build_model(spec)
        rebuilt.set_weights(model.get_weights())
    return rebuilt, strategy


class Trainer:
    """Holds a run's model, data, optimizer, strategy and checkpoints; `run()` trains.

    Args:
      model: a built tfflows model (its weights are the starting point: fresh ones, or a
        zoo preset's for fine-tuning).
      data: a source (`path.npz`, an image folder, "tfds:NAME"), an array, or (x, y).
      test_data: an array or (x, y); default: the source's test split.
      config: a `TrainConfig`; `settings` override its fields (steps=..., strategy=...).
    """

    def __init__(self, model, data, test_data=None, config=None, **settings):
        cfg = dataclasses.replace(config or TrainConfig(), **settings)
        self.strategy = make_strategy(cfg.strategy)
        if not isinstance(cfg.strategy, str):  # a Strategy object: record its class name
            cfg = dataclasses.replace(cfg, strategy=type(cfg.strategy).__name__)
        self.config = cfg
        self.chief = is_chief(self.strategy)
        self.out = pathlib.Path(cfg.out_dir)
        if not isinstance(model, Trainable):
            raise ValueError(
                f"Trainer takes a built tfflows model, got {type(model).__name__}; build one "
                "first, e.g. tfflows.models.Glow.for_data(x, levels=2) (see "
                "tfflows.training.protocol.Trainable for what a model needs)"
            )
        policy = f"mixed_{cfg.mixed_precision}" if cfg.mixed_precision else None
        self.given_model = model
        self.model, self.strategy = _in_scope(model, self.strategy, policy)
        self.feed = DataFeed(
            self.model,
            as_splits(data, test_data),
            cfg.batch_size,
            cfg.seed,
            cfg.validation_every,
            cfg.augment,
        )
        self.replicas = int(self.strategy.num_replicas_in_sync)
        if cfg.batch_size % self.replicas:
            raise ValueError(
                f"batch size {cfg.batch_size} does not split evenly over {self.replicas} replicas"
            )
        self.total_steps = cfg.total_steps(self.feed.steps_per_epoch)
        with self.strategy.scope():
            self.optimizer = keras.optimizers.Adam(
                _learning_rate(cfg, self.total_steps), epsilon=cfg.epsilon
            )
            self.optimizer.build(self.model.trainable_variables)
            self.average = (
                None if cfg.ema is None else WeightAverage(self.model.trainable_variables, cfg.ema)
            )
            self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        # Keras 3 models are not tf.train checkpoint children: `model=model` saves nothing
        # of the model (only the optimizer's references to the trainable weights), so the
        # variables are listed by path, non-trainable ones (ActNorm's flag) included.
        paths = [v.path for v in self.model.variables]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{self.model.name} has variables with the same path")
        children = {}
        if self.average is not None:
            children["weight_average"] = tf.train.Checkpoint(**self.average.checkpoint_children())
        self.checkpoint = tf.train.Checkpoint(
            model_variables=dict(zip(paths, self.model.variables, strict=True)),
            optimizer=self.optimizer,
            seconds_trained=self.seconds,
            **children,
        )
        self.chief_checkpoints = str(self.out / "checkpoints")
        self._manager = None
        # What `restore` found: newer checkpoints that failed to restore, and a problem
        # with the state file (see `checkpoints.restore_newest_readable`).
        self.skipped_checkpoints, self.state_problem = [], None
        self._grad_fns, self._apply_fn, self._xla, self.xla_note = {}, None, None, None
        self._xla_failure = None
        # Warm start (see `warm_start.py`): the eager step functions while the compiled
        # ones are built in `self._building`; `eager_steps` counts the steps they ran.
        self._eager, self._building, self.eager_steps, self._warm_args = None, None, 0, None
        self._xla_logged = False
        self.selection = Selection(self.out / "best.json")
        self.stopped_by_patience = False

    # ------------------------------------------------------------------ state
    @property
    def step(self):
        return int(self.optimizer.iterations.numpy())

    @property
    def manager(self):
        """The `tf.train.CheckpointManager` (made on first use, after `restore` has put the
        state file right). Every worker saves (saving can involve collectives); only the
        chief's copy stays."""
        if self._manager is None:
            ckpt_dir = pathlib.Path(self.chief_checkpoints)
            if not self.chief:
                ckpt_dir = self.out / f".worker_{worker_index(self.strategy)}_checkpoints"
            elif checkpoints.read_state(ckpt_dir)[1] is not None:
                # Unreadable, and not needed: it was read from the files (`restore`) or the
                # run starts over (resume=False). TF's manager would fail on an empty one.
                (ckpt_dir / checkpoints.STATE_FILE).unlink()
            self._manager = tf.train.CheckpointManager(
                self.checkpoint, str(ckpt_dir), max_to_keep=self.config.keep_checkpoints
            )
        return self._manager

    def restore(self):
        """Restores the newest readable checkpoint of `out_dir`; returns its path, or None
        when there is none. Newer ones that fail to restore (damaged files) are skipped and
        listed in `skipped_checkpoints`; when there are checkpoints but none restores, raises
        `CheckpointError` (see `checkpoints.restore_newest_readable`)."""
        path, self.skipped_checkpoints, self.state_problem = checkpoints.restore_newest_readable(
            self.checkpoint, self.chief_checkpoints
        )
        if path and self.chief and (self.skipped_checkpoints or self.state_problem):
            checkpoints.rewrite_state(self.chief_checkpoints, path)
            self._manager = None
        return path

    def save(self):
        path = self.manager.save(checkpoint_number=self.step)
        if not self.chief:
            shutil.rmtree(self.manager.directory, ignore_errors=True)
            return None
        return path

    def _distributed_batch(self, step):
        x, c = self.feed.batch(step)
        return x, c, steps.distribute(self.strategy, x), steps.distribute(self.strategy, c)

    # ------------------------------------------------------------------ the step
    def _grad_function(self, xla):
        """The (cached) function computing one step's loss and per-replica gradients."""
        if xla not in self._grad_fns:
            cfg = self.config
            self._grad_fns[xla] = steps.gradient_function(
                self.model, self.strategy, cfg.batch_size, cfg.clip_norm, xla
            )
        return self._grad_fns[xla]

    def resolve_xla(self, resuming: bool | None = None):
        """Whether each replica's loss and gradient are compiled with XLA (see
        `tfflows.training.xla_choice.choose`); records the choice in `out_dir/xla.json`.
        `resuming` defaults to "past step 0" (a warm start decides later, as a fresh run)."""
        choice, self.xla_note = xla_choice.choose(
            self.config.xla,
            self.out / "xla.json",
            resuming=self.step > 0 if resuming is None else resuming,
            strategy=self.strategy,
            measure=self._measure_xla,
            write=self.chief,
        )
        return choice

    def _measure_xla(self):
        """(XLA faster?, a note): both versions of the gradient step timed on this batch;
        without XLA if XLA cannot compile the step (an op it lacks)."""
        if self._xla_failure is None:
            _, _, x, c = self._distributed_batch(self.step)
            args = (x, c, tf.constant([self.config.seed, 0], tf.int64))
            steps_fns = {flag: self._grad_function(flag) for flag in (True, False)}
            try:  # `measure` compiles the XLA version first
                return xla_choice.measure(steps_fns, args)
            except xla_choice.COMPILE_ERRORS as e:  # the plain graph may still work
                self._xla_failure = xla_choice.failure_note(e)
        self._grad_fns.pop(True, None)
        return False, self._xla_failure

    def train_step(self, step):
        """One optimisation step on the global batch of `step`; returns (mean NLL of the
        data in nats, gradient norm)."""
        if self._apply_fn is None and self._eager is None:
            if self.warm_start_applies():
                self._eager = (
                    steps.gradient_function(
                        self.model, self.strategy, self.config.batch_size, self.config.clip_norm
                    ).python_function,
                    steps.apply_function(
                        self.model, self.strategy, self.optimizer, self.average
                    ).python_function,
                )
            else:
                self._compiled_from_now()
        elif self._building is not None and self._building.done():
            self._advance_warm_start()
        x, c, dx, dc = self._distributed_batch(step)
        seed = tf.constant([self.config.seed, step], tf.int64)
        if self._eager is not None:
            grad_fn, apply_fn = self._eager
            self.eager_steps += 1
        else:
            grad_fn, apply_fn = self._grad_function(self._xla), self._apply_fn
        loss, bad, norm, grads = grad_fn(dx, dc, seed)
        loss, bad = float(loss), float(bad)
        if not math.isfinite(loss) or bad:
            self._stop_non_finite(step, x, c, loss, bad)
        apply_fn(grads)
        if self._eager is not None and self._building is None:
            # After the first update: the optimizer's slots exist, so building the compiled
            # update creates no variables.
            self._warm_args = (dx, dc, seed)
            self._building = Background(lambda: self._build_compiled(grads))
        return loss, float(norm)

    def warm_start_applies(self) -> bool:
        """Whether this run starts with eager steps (see `warm_start.py`): `xla="auto"` and
        `warm_start`, a fresh run (not a resume), one replica on one worker, no GPU."""
        return (
            self.config.xla == "auto"
            and self.config.warm_start
            and self.step == 0
            # On an accelerator the background call would hold a second step's activations
            # beside the main thread's: CPU only until that is measured on a GPU.
            and not tf.config.list_logical_devices("GPU")
            and self.strategy.num_replicas_in_sync == 1
            and is_single_worker(self.strategy)
            and not isinstance(self.strategy, tf.distribute.TPUStrategy)
        )

    def _compiled_from_now(self):
        self._xla = self.resolve_xla()
        self._apply_fn = steps.apply_function(
            self.model, self.strategy, self.optimizer, self.average
        )

    def _build_compiled(self, grads):
        """In the background thread: the gradient step without XLA traced, optimised and
        called once on the first batch (it has no side effects), and the update traced
        (not run)."""
        self._grad_function(False)(*self._warm_args)
        apply_fn = steps.apply_function(self.model, self.strategy, self.optimizer, self.average)
        apply_fn.get_concrete_function(grads)
        return apply_fn

    def _build_xla(self):
        """In the background thread: the gradient step compiled with XLA (by calling it once
        on the first batch); a failure is kept for `_measure_xla`, not raised."""
        try:
            self._grad_function(True)(*self._warm_args)
        except xla_choice.COMPILE_ERRORS as e:
            self._xla_failure = xla_choice.failure_note(e)

    def _advance_warm_start(self):
        """Eager steps -> compiled steps without XLA while the XLA version compiles in the
        background -> `xla="auto"`'s choice between the two (both are compiled by then, so
        timing them takes a few steps' time)."""
        built = self._building.result()
        self._building = None
        if self._eager is not None:
            self._eager, self._apply_fn, self._xla = None, built, False
            self._building = Background(self._build_xla)
            return
        # Warm starts only happen on fresh runs: an old xla.json in the folder is not theirs.
        self._xla = self.resolve_xla(resuming=False)
        self._warm_args = None  # the first batch, kept for the builds
        note = f"the first {self.eager_steps} steps ran eagerly while the step compiled"
        self.xla_note = f"{self.xla_note}; {note}" if self.xla_note else note

    def _leave_warm_start(self, log):
        """A stop (SIGINT/SIGTERM) during the build: the weights are written without waiting
        for it, nothing is chosen or recorded (a resumed run measures), and the interpreter
        waits for the thread at exit (`Background`)."""
        if self._building is not None:
            self._building = None
            if self.chief:  # an earlier run's record is not this run's choice
                (self.out / "xla.json").unlink(missing_ok=True)
            log.message(
                "stopped while the compiled step was still being built: no XLA choice "
                "recorded (the resumed run measures)"
            )

    def _abandon_warm_start(self):
        """On an error in the loop (or a second Ctrl-C): the build is dropped unwaited, and
        its own error unraised (the loop's is the one to report); the interpreter waits for
        the thread at exit."""
        self._building = None

    def finish_warm_start(self):
        """Waits for the compiled step functions still being built (if any) and makes
        `xla="auto"`'s choice, so the next step is the chosen compiled one."""
        while self._building is not None:
            self._advance_warm_start()

    def _stop_non_finite(self, step, x, c, loss, bad):
        seed = (self.config.seed, step)
        where = self.model.first_nonfinite(x, c, seed=seed)
        if where is None:
            where = (
                f"the loss is {loss} and {int(bad)} gradient entries are non-finite, though "
                "every step's output and log-det is finite on this batch"
            )
        latest = checkpoints.read_state(self.chief_checkpoints)[0]
        raise NonFiniteLossError(step, where, latest[0] if latest else None)

    # ------------------------------------------------------------------ initialisation
    def initialize(self):
        """ActNorm's data-dependent initialisation from the first global batch, computed
        once in cross-replica context, so every replica (and worker: the batch is the same
        everywhere) gets the same values."""
        if not self.model.needs_initialization():
            return
        x, c = self.feed.batch(0)
        with self.strategy.scope():
            self.model.initialize(x, c, seed=(self.config.seed, 0))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, limit=None):
        """Mean test bits/dim (and NLL in nats), fixed dequantization noise per batch."""
        test = self.feed.test(limit)
        if test is None:
            return None
        return evaluate_model(self.model, *test, self.eval_batch_size)

    @property
    def eval_batch_size(self) -> int:
        """`config.eval_batch_size`, capped by the model's `max_eval_batch` where it has one
        (audio models: 300 clips of 4,096 samples through a 20-layer WaveNet took 15 GB)."""
        return min(self.config.eval_batch_size, getattr(self.model, "max_eval_batch", 1 << 30))

    @contextlib.contextmanager
    def averaged(self):
        """Inside, the model holds the averaged weights (when the run averages them)."""
        if self.average is None:
            yield
            return
        with self.strategy.scope(), self.average.swapped():
            yield

    # ------------------------------------------------------------------ the run
    def run(self):
        """Trains to the configured end, the time budget, or the first SIGINT/SIGTERM
        (which finishes the current step, checkpoints and writes the weights).

        The chief holds `out_dir/train.lock` meanwhile: a second run on the same folder
        stops with `RunLockedError` (see `lock.py`)."""
        lock = RunLock(self.out) if self.chief else contextlib.nullcontext()
        with lock, StopRequest() as stop:
            return self._run(stop)

    def _run(self, stop):
        cfg, out = self.config, self.out
        removed = []
        if self.chief:
            out.mkdir(parents=True, exist_ok=True)
            removed = remove_debris(out)
        log = reporting.Log(out, self.chief, cfg.progress)
        if self.chief:
            if removed:
                log.message(f"removed what an interrupted run left in {out}: {', '.join(removed)}")
            cfg.save(out / "train_config.json")
            write_text_atomic(out / "model.json", json.dumps(model_config(self.model), indent=2))
        restored = self.restore() if cfg.resume else None
        self._report_restore(log, restored)
        start = self.step
        # A fresh run forgets an earlier run's best; a resumed one continues its record.
        self.selection = Selection.load(out) if restored else Selection(out / "best.json")
        if restored:
            log.message(f"resumed from {restored} at step {start}")
        elif not cfg.resume and checkpoints.checkpoints_on_disk(self.chief_checkpoints):
            log.message(f"resume=False: starting over; {out} already held checkpoints")
        self.initialize()
        log.message(
            f"{type(self.model).__name__}: {self.model.count_params():,} parameters, "
            f"{len(self.feed.train_x):,} training examples"
            + (
                f" ({len(self.feed.val_x):,} held out for validation)"
                if self.feed.val_x is not None
                else ""
            )
            + f", global batch {cfg.batch_size} over "
            f"{self.replicas} replica(s), {self.feed.steps_per_epoch} steps per epoch, "
            f"{self.total_steps} steps"
        )
        bar = log.progress(self.total_steps, start)
        budget = None if cfg.max_minutes is None else 60.0 * cfg.max_minutes
        seconds0, wall0 = float(self.seconds.numpy()), time.perf_counter()
        try:
            step, stopped_early, timed_from, timed_steps = self._loop(
                log, bar, stop, start, budget, seconds0, wall0
            )
        except BaseException:
            self._abandon_warm_start()
            raise
        train_seconds = time.perf_counter() - (timed_from or time.perf_counter())
        # A run that ended while its step was still compiling waits for it (not counted in
        # steps/s), so that the XLA choice is recorded; a stopped one does not.
        if stop.requested:
            self._leave_warm_start(log)
        else:
            self.finish_warm_start()
        if self.xla_note and not self._xla_logged:
            log.message(f"XLA {'on' if self._xla else 'off'} ({self.xla_note})")
        bar.close()
        if stop.requested:
            log.message(
                f"{stop.signal_name} received: stopped at step {step} with a checkpoint; "
                "run the same command again to resume"
            )
        return self._finish(
            log, start, step, stopped_early, stop, restored, timed_steps, train_seconds
        )

    def _loop(self, log, bar, stop, start, budget, seconds0, wall0):
        cfg = self.config
        timed_from, timed_steps, window = None, 0, []
        step, stopped_early, self._xla_logged = start, False, False
        if self.selection.exhausted(cfg.patience):
            log.message(f"stopped earlier: no better validation score for {cfg.patience} epochs")
            self.stopped_by_patience = True
            return step, stopped_early, timed_from, timed_steps
        while step < self.total_steps:
            t0 = time.perf_counter()
            loss, norm = self.train_step(step)
            if self.xla_note and not self._xla_logged:
                log.message(f"XLA {'on' if self._xla else 'off'} ({self.xla_note})")
                self._xla_logged = True
            step += 1
            elapsed = time.perf_counter() - wall0
            self.seconds.assign(seconds0 + elapsed)
            # Steps/s leaves out the first two steps (they trace and compile, or start a
            # warm start); eager steps of a warm start count: they are this run's pace.
            if step - start > 2:
                timed_from = timed_from or t0
                timed_steps += 1
            window.append(loss)
            end_of_epoch = step % self.feed.steps_per_epoch == 0
            out_of_time = budget is not None and seconds0 + elapsed >= budget
            out_of_time = out_of_time or stop.requested
            if step % cfg.log_every == 0 or step == self.total_steps:
                nll = float(np.mean(window))
                window = []
                lr = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
                bpd = self._bits(nll)
                log.train_scalars(step, nll, bpd, lr, norm if cfg.clip_norm else None)
                bar.update_to(step, nll=nll, bpd=bpd)
            if step % cfg.checkpoint_every == 0 or end_of_epoch or out_of_time:
                self.save()
            if end_of_epoch and step < self.total_steps and not out_of_time:
                self._epoch_report(log, step)
                if self.selection.exhausted(cfg.patience):
                    log.message(
                        f"no better validation score for {cfg.patience} epochs (best at step "
                        f"{self.selection.step}): stopping"
                    )
                    self.stopped_by_patience = True
                    break
            if out_of_time and step < self.total_steps:
                stopped_early = True
                if not stop.requested:
                    log.message(f"time budget of {cfg.max_minutes} min reached at step {step}")
                break
        return step, stopped_early, timed_from, timed_steps

    def _report_restore(self, log, restored):
        if self.state_problem:
            found = (
                "found the checkpoints from their files"
                if restored
                else ("and there are no checkpoint files: starting at step 0")
            )
            log.warning(f"{self.state_problem}; {found}")
        for prefix, why in self.skipped_checkpoints:
            name = pathlib.Path(prefix).name
            log.warning(f"checkpoint {name} cannot be restored ({why}); skipped it")
        if restored and self.skipped_checkpoints:
            log.warning(f"resumed from the newest readable checkpoint, {restored}")

    def _finish(self, log, start, step, stopped_early, stop, restored, timed_steps, train_seconds):
        cfg, out = self.config, self.out
        if step != start:
            self.save()
        # A signal asks to stop now (a preemption's grace period can be seconds): no test
        # evaluation; the resumed run evaluates at its end.
        test = None if stop.requested else self._epoch_report(log, step)
        summary = {
            "model": type(self.model).__name__,
            "parameters": int(self.model.count_params()),
            "replicas": self.replicas,
            "xla": self._xla,
            "global_batch": cfg.batch_size,
            "steps": step,
            "steps_this_run": step - start,
            "finished": step >= self.total_steps,
            "stopped_by_time_budget": stopped_early and not stop.requested,
            "stopped_by_signal": stop.signal_name,
            "stopped_by_patience": self.stopped_by_patience,
            "seconds_trained_total": round(float(self.seconds.numpy()), 1),
            "steps_per_second": round(timed_steps / train_seconds, 3) if timed_steps else None,
            "examples_per_second": round(timed_steps * cfg.batch_size / train_seconds, 1)
            if timed_steps
            else None,
            "test": test,
            "best": self.selection.record,
            "resumed_from": restored,
        }
        if self.chief:
            # The summary last: when it exists, so do the weights it describes.
            self._write_weights()
            write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
        log.summary(summary)
        log.close()
        if self.given_model is not self.model:
            # Trained in a copy made inside the strategy's scope: the caller's model gets the
            # trained weights too (`tfflows.train(model, ...)` trains `model`).
            self.given_model.set_weights(self.model.get_weights())
        return TrainResult(self.model, summary, self.optimizer, self.average)

    def _bits(self, nll):
        """bits/dim from the data's NLL in nats per example."""
        return float(self.model.bits_from_nll(nll))

    def _epoch_report(self, log, step):
        """Test (and validation) bits/dim and a sample grid, with the EMA weights when there
        are any; a better validation score writes `best.weights.h5` and `best.json`."""
        if not self.chief:
            return None
        with self.averaged():
            test = self.evaluate(self.config.test_examples)
            if test is not None:
                log.test_scalars(step, test)
            validation_data = self.feed.validation()
            if validation_data is not None:
                validation = evaluate_model(self.model, *validation_data, self.eval_batch_size)
                log.test_scalars(step, validation, "validation")
                epoch = step / self.feed.steps_per_epoch
                if self.selection.update(step, round(epoch, 3), validation, test):
                    self._save_weights_file(self.out / "best.weights.h5")
                    log.message(f"step {step}: best validation so far; wrote best.weights.h5")
                self.selection.commit()
            test_x = self.feed.test_x
            held_out = test_x if test_x is not None and len(test_x) else self.feed.val_x
            log.samples(step, self.model, self.config, videos=held_out)
        return test

    def _write_weights(self):
        """`model.weights.h5` (Keras format; the EMA weights when there are any)."""
        with self.averaged():
            self._save_weights_file(self.out / "model.weights.h5")

    def _save_weights_file(self, path):
        """The model's current weights to `path`, through a temporary file."""
        tmp = temporary_name(path)
        self.model.save_weights(tmp)
        tmp.replace(path)


def train(model, data, test_data=None, config=None, **settings) -> TrainResult:
    """Trains a built tfflows model; returns `TrainResult(model, summary, ...)`.

    Args:
      model: a built model, e.g. `tfflows.models.Glow((32, 32, 3), levels=3)`,
        `tfflows.models.Glow.for_data(x, levels=3)` or `tfflows.zoo.load(name)`
        (fine-tuning).
      data: a source (`path.npz`, an image folder, "tfds:NAME"), an array, or (x, y).
      test_data: array or (x, y); default: the source's test split.
      config: a `TrainConfig`; `settings` override its fields (steps=..., strategy=...).

    Example:
      >>> model = tfflows.models.Glow((32, 32, 3), levels=3, steps_per_level=8)
      >>> tfflows.train(model, "celeba32.npz", steps=1000, out_dir="runs/glow")
    """
    return Trainer(model, data, test_data, config, **settings).run()
