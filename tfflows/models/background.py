"""A build (tracing, compiling) run in a thread while training goes on: the warm starts of
the trainer (`tfflows/training/warm_start.py`) and of Keras `fit` (`fit_warm_start.py`)."""

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """`build()` run in a thread; `result()` waits for it and re-raises its error.

    The thread is not a daemon: the interpreter waits for it at exit, since a thread still
    tracing or compiling when TensorFlow shuts down aborts the process."""

    def __init__(self, build: Callable[[], Any]):
        self._value, self._error = None, None
        self._thread = threading.Thread(
            target=self._run, args=(build,), name="tfflows-compile", daemon=False
        )
        self._thread.start()

    def _run(self, build):
        try:
            self._value = build()
        except BaseException as e:  # noqa: BLE001  (handed to the training loop)
            self._error = e

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
