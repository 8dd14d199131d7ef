"""Exports a tiny MAF into BASE_DIR/maf/ and SIGKILLs itself halfway through the write.

    python tests/scripts/export_killed.py BASE_DIR

The SavedModel writer is patched so that the process kills itself at the moment it would
write `saved_model.pb`: the variables are on disk by then, the graph is not, and the
process gets no chance to clean up (as with `kill -9` or the kernel's OOM killer).
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from tensorflow.python.lib.io import file_io  # noqa: E402

from tfflows import models  # noqa: E402
from tfflows.export import export_saved_model  # noqa: E402

write = file_io.atomic_write_string_to_file


def write_or_die(path, contents, *args, **kwargs):
    if str(path).endswith("saved_model.pb"):
        os.kill(os.getpid(), signal.SIGKILL)
    return write(path, contents, *args, **kwargs)


file_io.atomic_write_string_to_file = write_or_die

keras.utils.set_random_seed(0)
export_saved_model(models.MAF(2, num_layers=1, hidden_units=[4]), sys.argv[1], name="maf")
raise SystemExit("the export finished: the patched write was never called")
