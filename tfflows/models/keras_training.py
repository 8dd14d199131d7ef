"""The Keras side of a flow model: `fit`, `evaluate`, `compile` and their steps.

`fit(x)` trains by maximum likelihood with no labels (labels are the condition of a
conditional model): the loss is `model.nll`, the same per-example negative log-likelihood
that `tfflows.train` minimises. The data is checked before any step, and `nll` and
`bits_per_dim` are the logged metrics (`loss` = `nll`, which Keras callbacks watch).
"""

import keras
import numpy as np
import tensorflow as tf

from tfflows.data.validation import check_labels, check_tensor
from tfflows.models import arguments, fit_warm_start


class KerasTraining:
    """Mixin of `FlowModel`: Keras' training API over `nll`."""

    def call(self, inputs, training=False):
        """`model(x)` / `predict(x)`: log_prob per example; a conditional model takes
        `(x, condition)`."""
        x, c = inputs if isinstance(inputs, list | tuple) else (inputs, None)
        return self.log_prob(x, c)

    def compile(self, optimizer=None, jit_compile="auto", warm_start: bool = True, **kwargs):
        """Adam(1e-3) unless told otherwise.

        `jit_compile="auto"` (the default) measures whether XLA is faster, as `tfflows.train`
        does: outside a distribution strategy, `fit` starts warm (`fit_warm_start.py`: eager
        steps while the compiled step is built in a thread, then the faster of the XLA and
        plain versions). `warm_start=False` compiles the whole step with XLA before the first
        step instead (Keras' own path), as does `jit_compile=True`; under a distribution
        strategy "auto" means XLA off."""
        if optimizer is None:
            optimizer = keras.optimizers.Adam(1e-3)
        earlier = getattr(self, "train_function", None)
        if isinstance(earlier, fit_warm_start.WarmTrainFunction):
            earlier.abandon()  # its thread would trace the new optimizer
        self._warm_start = warm_start
        self._fit_measures_xla = (
            jit_compile == "auto" and warm_start and not tf.distribute.has_strategy()
        )
        self._jit_auto = jit_compile == "auto"
        if jit_compile == "auto":
            jit_compile = not tf.distribute.has_strategy() and not kwargs.get("run_eagerly")
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)

    @property
    def xla_choice(self) -> dict | None:
        """After a warm-started `fit` has chosen: {"xla": bool, "why": str, "eager_steps": n}
        (None before, or when `fit` did not measure)."""
        return getattr(self.train_function, "choice", None)

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        if getattr(self, "_fit_measures_xla", False) and fit_warm_start.applies(self):
            self.train_function = fit_warm_start.WarmTrainFunction(self)
            return self.train_function
        return super().make_train_function(force)

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "jit_compile": "auto" if getattr(self, "_jit_auto", False) else self.jit_compile,
            "warm_start": getattr(self, "_warm_start", True),
        }

    def compile_from_config(self, config):
        optimizer = keras.saving.deserialize_keras_object(config["optimizer"])
        self.compile(
            optimizer=optimizer,
            jit_compile=config.get("jit_compile", "auto"),
            warm_start=config.get("warm_start", True),
        )
        if self.built:
            # Create the optimizer's slots so that a saved optimizer state can be restored.
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return [self.nll_tracker, self.bpd_tracker]

    def _unpack(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        return x, (y if self.condition_shape is not None else None)

    def _step_seed(self):
        step = tf.cast(self.optimizer.iterations, tf.int32)
        replica = tf.distribute.get_replica_context()
        rid = 0 if replica is None else replica.replica_id_in_sync_group
        return tf.stack([step, tf.cast(rid, tf.int32) + 1])

    def train_step(self, data):
        _, outputs, grads = self._fit_gradients(data)
        return self._fit_update(outputs, grads)

    # The step in two halves, so that `fit`'s warm start can compile and time the first
    # (it has no side effects) while the second (the update) runs as traced.
    def _fit_gradients(self, data):
        """(mean loss, what `_fit_logs` needs, gradients of `_trained_variables`)."""
        x, c = self._unpack(data)
        with tf.GradientTape() as tape:
            nll = self.nll(x, c, seed=self._step_seed())
            loss = tf.reduce_mean(nll)
            # Gradients are summed over replicas; scale so they average instead.
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        return loss, nll, tape.gradient(scaled, self._trained_variables())

    def _fit_update(self, outputs, grads):
        """The optimizer's update, `_after_update`, and the logs of the step."""
        self.optimizer.apply(grads, self._trained_variables())
        self._after_update()
        return self._fit_logs(outputs)

    def _fit_logs(self, nll):
        return self._update_metrics(nll)

    def _trained_variables(self):
        """What the optimizer updates."""
        return self.trainable_variables

    def _after_update(self):
        """Run after each update (e.g. a step counter); nothing by default."""

    def test_step(self, data):
        x, c = self._unpack(data)
        return self._update_metrics(self.nll(x, c))

    def _update_metrics(self, nll):
        self.nll_tracker.update_state(nll)
        self.bpd_tracker.update_state(self.bits_from_nll(nll))
        logs = {m.name: m.result() for m in self.metrics}
        # Keras callbacks (TerminateOnNaN, EarlyStopping, ReduceLROnPlateau) watch "loss".
        logs["loss"] = logs["nll"]
        if _multi_worker(tf.distribute.get_strategy()):
            # Keras' fit reduces the logs over the workers along axis 0, which scalars lack
            # (tensorflow/tensorflow#72388).
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def fit(self, x=None, y=None, batch_size=None, epochs=1, **kwargs):
        """Maximum-likelihood training with no labels (labels = condition if conditional).

        Compiles with the defaults if `compile` was not called, and runs the data-dependent
        initialisation on the first batch if the model has not been initialised. The data
        is checked first (arrays whole; a `tf.data.Dataset` batch by batch, in its input
        pipeline, where a check can raise even when the training step runs under XLA).
        `nll` and `loss` in the logs are the data's negative log-likelihood in nats per
        example (see `nll_from_log_prob`), `bits_per_dim` the same in bits per dimension.
        """
        if not self.compiled:
            self.compile()
        x, y = self._checked_fit_data(x, y)
        if self.needs_initialization():
            bx, by = self._first_batch(x, y, batch_size or 32)
            self.initialize(bx, by if self.condition_shape is not None else None)
        if _multi_worker(self.distribute_strategy):
            x, y = _int32_pixels(x), _int32_pixels(y)
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, **kwargs)

    def evaluate(self, x=None, y=None, **kwargs):
        """Keras' evaluate with the checks and defaults of `fit`; `nll` as in `fit`."""
        if not self.compiled:
            self.compile()
        x, y = self._checked_fit_data(x, y)
        return super().evaluate(x, y, **kwargs)

    def _checked_fit_data(self, x, y):
        """Training or evaluation data after the input checks (see `fit`)."""
        if isinstance(x, tf.data.Dataset):
            return x.map(self._checked_items), y
        if isinstance(x, np.ndarray | tf.Tensor | list):
            x = self.check_data(np.asarray(x), name="training data")
            if y is not None and self.condition_shape is not None:
                self.checked_condition(y, len(x))
        return x, y

    def _checked_items(self, *items):
        """A dataset element (x, or (x, y, ...)) with graph checks on x and the labels."""
        x = self._checked_batch(items[0])
        rest = list(items[1:])
        if rest and self.condition_shape is not None and rest[0] is not None:
            if self.num_classes is not None and rest[0].dtype.is_integer:
                rest[0] = check_labels(rest[0], self.num_classes, arguments.batch_size(x))[0]
            else:
                rest[0] = check_tensor(rest[0], self.condition_shape, name="condition")[0]
        return (x, *rest) if rest else x

    def _first_batch(self, x, y, batch_size):
        if isinstance(x, tf.data.Dataset):
            item = next(iter(x.take(1)))
            if isinstance(item, tuple):
                return item[0], (item[1] if len(item) > 1 else None)
            return item, None
        if isinstance(x, np.ndarray | tf.Tensor | list):
            return x[:batch_size], (None if y is None else y[:batch_size])
        raise ValueError(
            "fit takes arrays or a tf.data.Dataset; other inputs need an explicit "
            "model.initialize(first_batch) first"
        )


def _multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _int32_pixels(data):
    """uint8 pixels as int32: under MultiWorkerMirroredStrategy Keras' fit all-reduces the
    first batch, and collectives take no 8-bit integers."""
    if data is None:
        return None
    if isinstance(data, tf.data.Dataset):

        def widen(*items):
            out = tuple(
                tf.cast(t, tf.int32) if t.dtype in (tf.uint8, tf.int8) else t for t in items
            )
            return out if len(out) > 1 else out[0]

        return data.map(widen)
    if isinstance(data, np.ndarray) and data.dtype in (np.uint8, np.int8):
        return data.astype(np.int32)
    return data
