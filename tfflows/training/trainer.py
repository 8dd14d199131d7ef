"""The training loop: a flow model, a data set and a `tf.distribute` strategy.

One step, on every replica r of R (in sync):

    x_r = rows [r b, (r + 1) b) of the global batch          (b = B / R)
    y_r = dequantize(x_r) with the noise those rows get in the whole batch
    loss_r = -sum(log p(y_r)) / B,  g_r = d loss_r / d theta    (XLA-compiled)
    sum_r loss_r = the global mean NLL, sum_r g_r its gradient  (Adam sums the g_r)

The loss comes back to the host before the update is applied, so a non-finite loss stops
the run with the weights of the step before (see `NonFiniteLossError`).
"""

import contextlib
import dataclasses
import json
import math
import pathlib
import shutil
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfflows.data.sources import Splits, load_source
from tfflows.models.registry import FAMILIES, build_model, model_config
from tfflows.nets.precision import network_dtype
from tfflows.training import checkpoints, reporting
from tfflows.training.batches import BatchOrder, flip_horizontally
from tfflows.training.config import TrainConfig
from tfflows.training.errors import NonFiniteLossError
from tfflows.training.files import remove_debris, temporary_name, write_text_atomic
from tfflows.training.interrupts import StopRequest
from tfflows.training.lock import RunLock
from tfflows.training.selection import Selection, carve_validation
from tfflows.training.strategies import is_chief, is_single_worker, make_strategy, worker_index


@dataclasses.dataclass
class TrainResult:
    model: keras.Model
    summary: dict
    optimizer: keras.optimizers.Optimizer


def _as_splits(data, test_data):
    if isinstance(data, Splits):
        splits = data
    elif isinstance(data, str | pathlib.Path):
        splits = load_source(data)
    elif isinstance(data, tuple):
        splits = Splits(np.asarray(data[0]), train_y=np.asarray(data[1]))
    else:
        splits = Splits(np.asarray(data))
    if test_data is not None:
        test = test_data if isinstance(test_data, tuple) else (test_data, None)
        splits.test_x = np.asarray(test[0])
        splits.test_y = None if test[1] is None else np.asarray(test[1])
    return splits


def _fit_shape(x, shape, name):
    """Flattens images for vector models (and the reverse) when the sizes agree."""
    if x is None or tuple(x.shape[1:]) == tuple(shape):
        return x
    if int(np.prod(x.shape[1:])) == int(np.prod(shape)):
        return x.reshape(len(x), *shape)
    raise ValueError(f"{name} examples have shape {x.shape[1:]}, the model takes {shape}")


def _build(model, splits, overrides):
    overrides = dict(overrides or {})
    if isinstance(model, str) and model.lower() not in FAMILIES and not model.endswith(".json"):
        from tfflows import zoo

        if model in zoo.list():
            # A zoo preset: its architecture and its trained weights (fine-tuning).
            if overrides:
                raise ValueError(f"preset {model!r} has a fixed architecture; drop {overrides}")
            return zoo.load(model, progress=False)
    if isinstance(model, str) and not model.endswith(".json"):
        # One rule for every family: integer data means 8-bit pixels (float image data gets
        # the families' own "auto", which is 8 bits for image shapes too).
        if np.issubdtype(splits.train_x.dtype, np.integer):
            overrides.setdefault("num_bits", 8)
    return build_model(model, input_shape=splits.train_x.shape[1:], **overrides)


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


class Trainer:
    """Holds a run's model, optimizer, strategy and checkpoints; `run()` trains.

    Use `tfflows.train(...)`; the class is public for tests and for custom loops.
    """

    def __init__(self, model, data, test_data=None, config=None, model_overrides=None, **kwargs):
        cfg = dataclasses.replace(config or TrainConfig(), **kwargs)
        self.strategy = make_strategy(cfg.strategy)
        if not isinstance(cfg.strategy, str):  # a Strategy object: record its class name
            cfg = dataclasses.replace(cfg, strategy=type(cfg.strategy).__name__)
        self.config = cfg
        self.chief = is_chief(self.strategy)
        self.out = pathlib.Path(cfg.out_dir)
        self.splits = _as_splits(data, test_data)
        policy = f"mixed_{cfg.mixed_precision}" if cfg.mixed_precision else None
        # The same seed gives the same initial weights (and so, with the data order and
        # noise that the seed also fixes, the same run).
        keras.utils.set_random_seed(cfg.seed)
        with self.strategy.scope(), network_dtype(policy):
            self.model = _build(model, self.splits, model_overrides)
        shape = self.model.data_shape
        self.train_x = _fit_shape(self.splits.train_x, shape, "training")
        self.test_x = _fit_shape(self.splits.test_x, shape, "test")
        # Bad data (NaN, pixels outside 0..255, wrong range) is named before any step runs.
        self.model.check_data(self.train_x, name="training data")
        if self.test_x is not None and len(self.test_x):
            self.model.check_data(self.test_x, name="test data")
        if self.model.condition_shape is not None and self.splits.train_y is None:
            raise ValueError("the model is conditional but the data has no labels (y)")
        if self.model.condition_shape is not None:
            # Labels outside 0..num_classes-1 (or one too few) are named before any step.
            self.model.checked_condition(self.splits.train_y, len(self.train_x))
            if self.splits.test_y is not None and self.test_x is not None:
                self.model.checked_condition(self.splits.test_y, len(self.test_x))
        self.train_y = self.splits.train_y if self.model.condition_shape is not None else None
        self.test_y = self.splits.test_y if self.model.condition_shape is not None else None
        self.train_x, self.train_y, self.val_x, self.val_y = carve_validation(
            self.train_x, self.train_y, cfg.validation_every
        )
        if cfg.augment == "flip" and len(shape) != 3:
            raise ValueError(f"augment='flip' is for images (H, W, C); the data has {shape}")

        self.replicas = int(self.strategy.num_replicas_in_sync)
        if cfg.batch_size % self.replicas:
            raise ValueError(
                f"batch size {cfg.batch_size} does not split evenly over {self.replicas} replicas"
            )
        self.order = BatchOrder(len(self.train_x), cfg.batch_size, cfg.seed)
        self.total_steps = cfg.total_steps(self.order.steps_per_epoch)
        with self.strategy.scope():
            self.optimizer = keras.optimizers.Adam(
                _learning_rate(cfg, self.total_steps),
                epsilon=cfg.epsilon,
                use_ema=cfg.ema is not None,
                ema_momentum=cfg.ema or 0.99,
            )
            self.optimizer.build(self.model.trainable_variables)
            if cfg.ema is not None:
                warm_up_ema(self.optimizer, cfg.ema)
            self.seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        # Keras 3 models are not tf.train checkpoint children: `model=model` saves nothing
        # of the model (only the optimizer's references to the trainable weights), so the
        # variables are listed by path, non-trainable ones (ActNorm's flag) included.
        paths = [v.path for v in self.model.variables]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{self.model.name} has variables with the same path")
        self.checkpoint = tf.train.Checkpoint(
            model_variables=dict(zip(paths, self.model.variables, strict=True)),
            optimizer=self.optimizer,
            seconds_trained=self.seconds,
        )
        self.chief_checkpoints = str(self.out / "checkpoints")
        self._manager = None
        # What `restore` found: newer checkpoints that failed to restore, and a problem
        # with the state file (see `checkpoints.restore_newest_readable`).
        self.skipped_checkpoints, self.state_problem = [], None
        self._grad_fns, self._apply_fn, self._xla, self.xla_note = {}, None, None, None

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

    def _global_batch(self, step):
        idx = self.order.batch_indices(step)
        x = self.train_x[idx]
        if self.config.augment == "flip":
            x = flip_horizontally(x, self.config.seed, step)
        return x, (None if self.train_y is None else self.train_y[idx])

    def _distribute(self, value):
        if value is None:
            return None
        per = len(value) // self.replicas

        def part(ctx):
            r = ctx.replica_id_in_sync_group
            return tf.convert_to_tensor(value[r * per : (r + 1) * per])

        return self.strategy.experimental_distribute_values_from_function(part)

    # ------------------------------------------------------------------ the step
    def _grad_function(self, xla):
        """The (cached) function computing one step's loss and per-replica gradients."""
        if xla not in self._grad_fns:
            self._grad_fns[xla] = self._build_grad_function(xla)
        return self._grad_fns[xla]

    def _build_grad_function(self, xla):
        model, cfg, strategy = self.model, self.config, self.strategy
        variables = model.trainable_variables
        global_batch, replicas = cfg.batch_size, self.replicas

        def loss_and_grads(x, c, seed, offset):
            with tf.GradientTape() as tape:
                y = model.to_continuous(x, seed=seed, offset=offset, global_batch=global_batch)
                lp = model.get_distribution(c).log_prob(y)
                loss = -tf.reduce_sum(lp) / global_batch
            grads = tape.gradient(loss, variables)
            bad = tf.add_n(
                [tf.reduce_sum(tf.cast(~tf.math.is_finite(g), tf.float32)) for g in grads]
            )
            return loss, grads, bad

        if xla:
            loss_and_grads = tf.function(loss_and_grads, jit_compile=True)

        def replica_step(x, c, seed):
            ctx = tf.distribute.get_replica_context()
            offset = ctx.replica_id_in_sync_group * tf.shape(x)[0]
            loss, grads, bad = loss_and_grads(x, c, seed, offset)
            norm = tf.constant(0.0)
            if cfg.clip_norm is not None:
                # Clip the norm of the *summed* gradient: reduce here, clip, and hand Adam
                # 1/R of it (Adam sums the replicas' gradients again).
                grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
                grads, norm = tf.clip_by_global_norm(grads, cfg.clip_norm)
                grads = [g / replicas for g in grads]
            loss, bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [loss, bad])
            return loss, bad, norm, grads

        @tf.function
        def grad_step(x, c, seed):
            loss, bad, norm, grads = strategy.run(replica_step, args=(x, c, seed))
            first = strategy.experimental_local_results
            return first(loss)[0], first(bad)[0], first(norm)[0], grads

        return grad_step

    def _build_apply_function(self):
        strategy, variables = self.strategy, self.model.trainable_variables

        def replica_apply(grads):
            # tf.identity places each gradient on this replica's device: function inputs
            # have none, and MultiWorkerMirroredStrategy's all-reduce needs one
            # ("destinations can not be empty").
            self.optimizer.apply([tf.identity(g) for g in grads], variables)

        @tf.function
        def apply_step(grads):
            strategy.run(replica_apply, args=(grads,))

        return apply_step

    def resolve_xla(self):
        """Whether each replica's loss and gradient are compiled with XLA.

        `xla="auto"` measures: both versions of the (side-effect free) gradient step run on
        the first batch after compiling, and the faster one is kept. XLA is not always
        faster on a CPU: with Glow's 128-channel convolutions it was 13% slower here, on
        small networks it wins. Several workers take XLA without measuring (they must agree).

        The choice (measured or given) is recorded in `out_dir/xla.json`, and a resumed run
        (a checkpoint was restored) with "auto" takes it from there, so that it computes
        exactly as the run it continues. Two *separate* runs with "auto" each measure, and
        may choose differently (timings on a busy machine are noisy; the tiny test model's
        two versions differed by a few milliseconds): XLA and non-XLA steps round floats
        differently, and after a few steps the weights differ. Pin `xla=True` or `False`
        (`--xla on|off`) when two separate runs must give bitwise-identical weights.
        """
        cfg = self.config
        record = self.out / "xla.json"
        recorded = self._recorded_xla(record) if self.step > 0 else None
        if isinstance(cfg.xla, bool):
            choice, note = cfg.xla, None
            if recorded is not None and recorded != cfg.xla:
                note = (
                    f"given, while the steps before this resume ran with XLA "
                    f"{'on' if recorded else 'off'}: the weights will differ in the last bits "
                    "from those of an uninterrupted run"
                )
        elif recorded is not None:
            return recorded
        elif isinstance(self.strategy, tf.distribute.TPUStrategy):
            choice, note = False, "TPU programs are compiled whole"
        elif not is_single_worker(self.strategy):
            choice, note = True, "several workers"
        else:
            x, c = self._global_batch(self.step)
            args = (self._distribute(x), self._distribute(c), tf.constant([cfg.seed, 0], tf.int64))
            times = {True: [], False: []}
            for flag in (True, False):
                self._grad_function(flag)(*args)  # trace and compile
            for _ in range(3):
                for flag in (True, False):
                    t0 = time.perf_counter()
                    float(self._grad_function(flag)(*args)[0])
                    times[flag].append(time.perf_counter() - t0)
            on, off = sorted(times[True])[1], sorted(times[False])[1]
            choice, note = on <= off, f"measured {on:.3g} s with, {off:.3g} s without"
        self.xla_note = note
        if self.chief:
            self.out.mkdir(parents=True, exist_ok=True)
            write_text_atomic(record, json.dumps({"xla": choice, "why": note or "given"}))
        return choice

    @staticmethod
    def _recorded_xla(record):
        try:
            return bool(json.loads(record.read_text())["xla"])
        except (OSError, ValueError, KeyError, TypeError):  # absent or damaged: measure
            return None

    def train_step(self, step):
        """One optimisation step on the global batch of `step`; returns the mean NLL."""
        if self._apply_fn is None:
            self._xla = self.resolve_xla()
            self._apply_fn = self._build_apply_function()
        x, c = self._global_batch(step)
        seed = tf.constant([self.config.seed, step], tf.int64)
        grad_fn = self._grad_function(self._xla)
        loss, bad, norm, grads = grad_fn(self._distribute(x), self._distribute(c), seed)
        loss, bad = float(loss), float(bad)
        if not math.isfinite(loss) or bad:
            self._stop_non_finite(step, x, c, loss, bad)
        self._apply_fn(grads)
        return loss, float(norm)

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
        x, c = self._global_batch(0)
        with self.strategy.scope():
            self.model.initialize(x, c, seed=(self.config.seed, 0))

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, limit=None):
        """Mean test bits/dim (and NLL in nats), fixed dequantization noise per batch."""
        if self.test_x is None or not len(self.test_x):
            return None
        x = self.test_x if limit is None else self.test_x[:limit]
        y = None if self.test_y is None else self.test_y[: len(x)]
        return evaluate_model(self.model, x, y, self.config.eval_batch_size)

    def _swap_ema(self):
        if self.config.ema is None:
            return
        averages = self.optimizer._model_variables_moving_average
        with self.strategy.scope():
            for v, a in zip(self.model.trainable_variables, averages, strict=True):
                current = tf.identity(v.value)
                v.assign(a.value)
                a.assign(current)

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
        self.stopped_by_patience = False
        if restored:
            log.message(f"resumed from {restored} at step {start}")
        elif not cfg.resume and checkpoints.checkpoints_on_disk(self.chief_checkpoints):
            log.message(f"resume=False: starting over; {out} already held checkpoints")
        self.initialize()
        log.message(
            f"{type(self.model).__name__}: {self.model.count_params():,} parameters, "
            f"{len(self.train_x):,} training examples"
            + (f" ({len(self.val_x):,} held out for validation)" if self.val_x is not None else "")
            + f", global batch {cfg.batch_size} over "
            f"{self.replicas} replica(s), {self.order.steps_per_epoch} steps per epoch, "
            f"{self.total_steps} steps"
        )
        bar = log.progress(self.total_steps, start)
        budget = None if cfg.max_minutes is None else 60.0 * cfg.max_minutes
        seconds0, wall0 = float(self.seconds.numpy()), time.perf_counter()
        step, stopped_early, timed_from, timed_steps = self._loop(
            log, bar, stop, start, budget, seconds0, wall0
        )
        bar.close()
        if stop.requested:
            log.message(
                f"{stop.signal_name} received: stopped at step {step} with a checkpoint; "
                "run the same command again to resume"
            )
        train_seconds = time.perf_counter() - (timed_from or time.perf_counter())
        return self._finish(
            log, start, step, stopped_early, stop, restored, timed_steps, train_seconds
        )

    def _loop(self, log, bar, stop, start, budget, seconds0, wall0):
        cfg = self.config
        timed_from, timed_steps, window = None, 0, []
        step, stopped_early = start, False
        if self.selection.exhausted(cfg.patience):
            log.message(f"stopped earlier: no better validation score for {cfg.patience} epochs")
            self.stopped_by_patience = True
            return step, stopped_early, timed_from, timed_steps
        while step < self.total_steps:
            t0 = time.perf_counter()
            loss, norm = self.train_step(step)
            if step == start and self.xla_note:
                log.message(f"XLA {'on' if self._xla else 'off'} ({self.xla_note})")
            step += 1
            elapsed = time.perf_counter() - wall0
            self.seconds.assign(seconds0 + elapsed)
            if step - start > 2:  # the first steps trace and compile
                timed_from = timed_from or t0
                timed_steps += 1
            window.append(loss)
            end_of_epoch = step % self.order.steps_per_epoch == 0
            out_of_time = budget is not None and seconds0 + elapsed >= budget
            out_of_time = out_of_time or stop.requested
            if step % cfg.log_every == 0 or step == self.total_steps:
                # The data's NLL in nats (as `evaluate` reports it), from the mean loss.
                nll = float(self.model.nll_from_log_prob(-float(np.mean(window))))
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
        test = self._epoch_report(log, step)
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
        return TrainResult(self.model, summary, self.optimizer)

    def _bits(self, nll):
        """bits/dim from the data's NLL in nats per example."""
        return nll / (self.model.event_size * math.log(2.0))

    def _epoch_report(self, log, step):
        """Test (and validation) bits/dim and a sample grid, with the EMA weights when there
        are any; a better validation score writes `best.weights.h5` and `best.json`."""
        if not self.chief:
            return None
        self._swap_ema()
        try:
            test = self.evaluate(self.config.test_examples)
            if test is not None:
                log.test_scalars(step, test)
            if self.val_x is not None:
                validation = evaluate_model(
                    self.model, self.val_x, self.val_y, self.config.eval_batch_size
                )
                log.test_scalars(step, validation, "validation")
                epoch = step / self.order.steps_per_epoch
                if self.selection.update(step, round(epoch, 3), validation, test):
                    self._save_weights_file(self.out / "best.weights.h5")
                    log.message(f"step {step}: best validation so far; wrote best.weights.h5")
                self.selection.commit()
            log.samples(step, self.model, self.config)
        finally:
            self._swap_ema()
        return test

    def _write_weights(self):
        """`model.weights.h5` (Keras format; the EMA weights when there are any)."""
        self._swap_ema()
        try:
            self._save_weights_file(self.out / "model.weights.h5")
        finally:
            self._swap_ema()

    def _save_weights_file(self, path):
        """The model's current weights to `path`, through a temporary file."""
        tmp = temporary_name(path)
        self.model.save_weights(tmp)
        tmp.replace(path)


def warm_up_ema(optimizer, momentum):
    """Makes the Keras optimizer's weight average use momentum min(momentum, (1+t)/(10+t))
    at update t (0-based), the `num_updates` rule of tf.train.ExponentialMovingAverage.

    Keras' EMA uses the full momentum from the second step on, so the average keeps
    momentum^t of the initial (untrained) weights: 39% after 937 steps at 0.999, which made
    the EMA model of a 1-epoch MNIST run score 6.5 bits/dim. With the warm-up the early
    weights fade out at once; from t = 8,990 on (for 0.999) the rule is Keras' own.
    """
    from keras import ops

    def update(trainable_variables):
        t = ops.cast(optimizer.iterations, "float32")
        m = ops.minimum(momentum, (1.0 + t) / (10.0 + t))
        # Keras' first update copies the weights; so does this one.
        m = m * ops.cast(ops.not_equal(optimizer.iterations, 0), "float32")
        averages = optimizer._model_variables_moving_average
        for var, average in zip(trainable_variables, averages, strict=True):
            if average is not None:
                mv = ops.cast(m, var.dtype)
                average.assign(mv * average + (1.0 - mv) * var)

    # Keras 3.15's hook, called by `apply` after the weights are updated.
    optimizer._update_model_variables_moving_average = update


# One compiled scoring function per model, so that evaluating every epoch does not trace
# and compile it again each time.
_SCORERS = weakref.WeakKeyDictionary()


def _scorer(model):
    if model not in _SCORERS:

        @tf.function(jit_compile=True, autograph=False)
        def score(xb, cb, seed):
            return model.log_prob(xb, cb, seed=seed)

        _SCORERS[model] = score
    return _SCORERS[model]


def evaluate_model(model, x, y=None, batch_size=500):
    """Mean bits/dim and NLL (the data's, in nats per example: see
    `FlowModel.nll_from_log_prob`) of `model` on `x`; batch i is dequantized with seed
    (0, i), so the number is reproducible."""
    score = _scorer(model)
    lps = []
    for i, start in enumerate(range(0, len(x), batch_size)):
        cb = None if y is None else tf.convert_to_tensor(y[start : start + batch_size])
        xb = tf.convert_to_tensor(x[start : start + batch_size])
        lps.append(score(xb, cb, tf.constant([0, i], tf.int64)).numpy())
    lp = np.concatenate(lps)
    return {
        "examples": int(len(lp)),
        "nll": float(np.mean(model.nll_from_log_prob(lp))),
        "bits_per_dim": float(np.mean(model.bits_from_log_prob(lp))),
    }


def train(model, data, test_data=None, config=None, model_overrides=None, **settings):
    """Trains a tfflows model; returns `TrainResult(model, summary)`.

    Args:
      model: a family name ("glow", "realnvp", "nice", "maf", "iaf", "planar"), a zoo
        preset name (its architecture and trained weights: fine-tuning), a model config
        (dict or JSON file), or a `FlowModel` (rebuilt inside the strategy's scope from its
        config; its weights are not copied).
      data: a source (`path.npz`, an image folder, "tfds:NAME"), an array, or (x, y).
      test_data: array or (x, y); default: the source's test split.
      config: a `TrainConfig`; `settings` override its fields (steps=..., strategy=...).
      model_overrides: constructor arguments for a family name (levels=2, ...).

    Example:
      >>> tfflows.train("glow", "celeba32.npz", steps=1000, out_dir="runs/glow",
      ...               model_overrides={"levels": 3, "steps_per_level": 8})
    """
    return Trainer(model, data, test_data, config, model_overrides, **settings).run()
