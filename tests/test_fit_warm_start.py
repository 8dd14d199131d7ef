"""Keras `fit` starting warm (tfflows/models/fit_warm_start.py): with the default
`jit_compile="auto"` the first steps run eagerly while the compiled step is built in a
thread, then the faster of XLA and the plain graph is kept.

The background build is held on an event where it matters, so which steps run eagerly is
fixed by the test, not by the machine's speed."""

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfflows import models
from tfflows.models import VAE, fit_warm_start
from tfflows.models.fit_warm_start import Traced, WarmTrainFunction

X = np.random.default_rng(0).standard_normal((48, 2)).astype(np.float32)


def realnvp():
    keras.utils.set_random_seed(0)
    return models.RealNVP((2,), num_couplings=2, hidden=[8])


@pytest.fixture
def held_build(monkeypatch):
    """Make the background build of the plain graph wait for the returned event."""
    release = threading.Event()
    build = WarmTrainFunction._build_plain

    def waiting(self):
        release.wait()
        return build(self)

    monkeypatch.setattr(WarmTrainFunction, "_build_plain", waiting)
    yield release
    release.set()  # a failed test must not leave the thread waiting


def fit(model, epochs=1):
    return model.fit(X, batch_size=16, epochs=epochs, verbose=0, shuffle=False).history["nll"]


def test_eager_steps_compute_what_keras_compiled_step_does_then_fit_goes_on_compiled(
    held_build,
):
    warm, cold = realnvp(), realnvp()
    cold.compile(jit_compile=False)  # Keras' own compiled step, no warm start
    warm_nll, cold_nll = fit(warm), fit(cold)
    function = warm.train_function
    assert isinstance(function, WarmTrainFunction)
    assert not isinstance(cold.train_function, WarmTrainFunction)
    # Held: all three steps ran eagerly, and they computed what the compiled steps did.
    assert function.eager_steps == 3 and function.plain is None and warm.xla_choice is None
    np.testing.assert_allclose(warm_nll, cold_nll, rtol=1e-5)
    for a, b in zip(warm.get_weights(), cold.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    held_build.set()
    function.finish()
    choice = warm.xla_choice
    assert choice["xla"] in (True, False) and choice["eager_steps"] == 3
    assert choice["why"].startswith("measured")
    assert (function.gradients is function.plain) == (not choice["xla"])
    more_warm, more_cold = fit(warm, epochs=2), fit(cold, epochs=2)
    assert function.eager_steps == 3  # compiled from here on
    assert warm.train_function is function
    np.testing.assert_allclose(more_warm, more_cold, rtol=1e-4)
    assert int(warm.optimizer.iterations) == int(cold.optimizer.iterations) == 9


def test_a_pinned_setting_a_strategy_or_run_eagerly_uses_keras_own_step():
    for settings in ({"jit_compile": True}, {"jit_compile": False}, {"warm_start": False}):
        model = realnvp()
        model.compile(**settings)
        fit(model)
        assert not isinstance(model.train_function, WarmTrainFunction), settings
        assert model.xla_choice is None
    model = realnvp()
    model.compile(run_eagerly=True)
    fit(model)
    assert not isinstance(model.train_function, WarmTrainFunction)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = realnvp()
        model.compile()
        assert not model._fit_measures_xla and model.jit_compile is False


def test_the_compile_config_keeps_auto():
    model = realnvp()
    model.compile()
    assert model.get_compile_config()["jit_compile"] == "auto"
    model.compile(jit_compile=False)
    assert model.get_compile_config()["jit_compile"] is False


def test_a_step_xla_cannot_compile_trains_without_it_with_a_warning(monkeypatch):
    call = Traced.__call__

    def no_xla(self, *args):
        if self.jit_compile:
            raise NotImplementedError("no XLA kernel for this op")
        return call(self, *args)

    monkeypatch.setattr(Traced, "__call__", no_xla)
    model = realnvp()
    fit(model)
    with pytest.warns(UserWarning, match="XLA failed to compile the step"):
        model.train_function.finish()
    assert model.xla_choice["xla"] is False
    assert "NotImplementedError: no XLA kernel" in model.xla_choice["why"]
    # Evaluation follows the choice: it does not compile with XLA either.
    assert model.jit_compile is False and model.test_function is None
    assert np.isfinite(model.evaluate(X, batch_size=16, verbose=0, return_dict=True)["nll"])
    before = model.get_weights()
    fit(model)
    assert int(model.optimizer.iterations) == 6
    assert all(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_a_vae_counts_its_updates_and_logs_its_terms_in_every_phase(held_build):
    keras.utils.set_random_seed(0)
    x = (np.random.default_rng(0).random((10, 6)) > 0.5).astype(np.float32)
    model = VAE((6,), 3, posterior="planar", num_flows=2, hidden_units=(8,), warmup_steps=100)
    history = model.fit(x, batch_size=5, epochs=2, verbose=0)
    assert model.train_function.eager_steps == 4 and float(model.update_count) == 4.0
    held_build.set()
    model.train_function.finish()
    history = model.fit(x, batch_size=5, epochs=2, verbose=0).history
    assert float(model.update_count) == 8.0  # the KL warm-up moved on in compiled steps too
    assert {"kl", "reconstruction", "nll"} <= set(history)
    terms = model.loss_terms(x, seed=tf.constant([0, 0]))
    assert np.all(np.isfinite(terms["loss"].numpy()))


def test_applies_is_false_when_keras_executes_several_steps_at_once():
    model = realnvp()
    model.compile(steps_per_execution=2)
    assert model._fit_measures_xla and not fit_warm_start.applies(model)
    fit(model)
    assert not isinstance(model.train_function, WarmTrainFunction)


def test_compiling_again_waits_for_the_old_build_so_it_never_traces_the_new_optimizer(
    held_build,
):
    model = realnvp()
    fit(model)
    old = model.train_function
    assert old.building is not None and not old.building.done()
    threading.Timer(0.0, held_build.set).start()  # released however slow the machine
    model.compile(optimizer=keras.optimizers.Adam(1e-4))
    assert old.building is None  # waited for and dropped
    assert not model.optimizer.built  # the old thread traced the old optimizer only
    assert model.train_function is None and model.get_compile_config()["warm_start"] is True
    fit(model)
    assert isinstance(model.train_function, WarmTrainFunction)
    assert int(model.optimizer.iterations) == 3
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 1e-4)


def test_a_python_list_batch_trains_as_keras_own_step_would():
    model = realnvp()
    model.compile()
    logs = model.train_on_batch(X[:16].tolist(), return_dict=True)
    assert np.isfinite(logs["nll"]) and int(model.optimizer.iterations) == 1
