"""Runs SavedModel signatures through TF's C API (tests/c/run_signature.c), the loader TF
Serving uses, with no Python in the loop."""

import os
import pathlib
import subprocess

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

SOURCE = pathlib.Path(__file__).parent / "c" / "run_signature.c"


def compile_runner(out_dir):
    """Compiles the runner against the headers and libtensorflow_cc.so.2 in the TF wheel."""
    tf_dir = pathlib.Path(tf.__file__).parent
    binary = pathlib.Path(out_dir) / "run_signature"
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-o",
            str(binary),
            str(SOURCE),
            f"-I{tf_dir / 'include'}",
            f"-L{tf_dir}",
            "-l:libtensorflow_cc.so.2",
            "-l:libtensorflow_framework.so.2",
            f"-Wl,-rpath,{tf_dir}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return binary


def signature_defs(export_dir):
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(export_dir) / "saved_model.pb").read_bytes())
    return proto.meta_graphs[0].signature_def


def _op(tensor_name):
    name, _, index = tensor_name.partition(":")
    return name, int(index or 0)


def run_signature(runner, export_dir, signature, inputs, work_dir):
    """Feeds `inputs` (name -> numpy array) to `signature` through the C API; returns
    name -> numpy array. Raises RuntimeError with TF's message when the run fails."""
    sig = signature_defs(export_dir)[signature]
    work = pathlib.Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    lines = [f"inputs {len(inputs)}"]
    for key, value in inputs.items():
        value = np.asarray(value)  # not ascontiguousarray: it makes scalars 1-d
        dtype = tf.as_dtype(value.dtype).as_datatype_enum
        raw = work / f"in_{key}.bin"
        raw.write_bytes(value.tobytes())
        op, index = _op(sig.inputs[key].name)
        dims = " ".join(str(d) for d in value.shape)
        lines.append(f"{op} {index} {dtype} {value.ndim} {dims} {raw}".replace("  ", " "))
    names = sorted(sig.outputs)
    lines.append(f"outputs {len(names)}")
    for key in names:
        op, index = _op(sig.outputs[key].name)
        lines.append(f"{op} {index} {work / f'out_{key}.bin'}")
    plan = work / "plan.txt"
    plan.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [str(runner), str(export_dir), str(plan)], capture_output=True, text=True, env=env
    )
    if done.returncode != 0:
        noise = ("I0000", "W0000", "E0000", "WARNING: All log", "To enable")
        lines = [line for line in done.stderr.splitlines() if not line.startswith(noise)]
        raise RuntimeError("\n".join(lines) or f"exit status {done.returncode}")
    results = {}
    for key in names:
        blob = (work / f"out_{key}.bin").read_bytes()
        dtype, ndims = np.frombuffer(blob[:16], np.int64)
        shape = tuple(np.frombuffer(blob[16 : 16 + 8 * ndims], np.int64))
        data = np.frombuffer(blob[16 + 8 * ndims :], tf.as_dtype(int(dtype)).as_numpy_dtype)
        results[key] = data.reshape(shape)
    return results
