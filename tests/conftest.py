import os
import pathlib
import threading

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST from ../shared/data (skipped where the folder is absent, e.g. a user's
    machine): (x_train, y_train, x_test, y_test), images [N, 28, 28, 1] uint8."""
    path = SHARED_DATA / "mnist.npz"
    if not path.exists():
        pytest.skip(f"real MNIST not found at {path} (../shared/data is only on CI/dev machines)")
    with np.load(path) as d:
        return (d["x_train"][..., None], d["y_train"], d["x_test"][..., None], d["y_test"])


@pytest.fixture(autouse=True)
def no_compile_thread_left():
    """A warm start's background build left running by a test (a short `fit` returns
    before it is done) finishes before the next test starts, so it never competes with it
    for the cores."""
    yield
    for thread in threading.enumerate():
        if thread.name == "tfflows-compile":
            thread.join()
