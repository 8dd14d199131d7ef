"""Timing a step with and without XLA, and what to say when XLA cannot compile it: shared by
`xla="auto"` in the trainer (`tfflows/training/xla_choice.py`) and Keras `fit`'s warm start."""

import time

import tensorflow as tf

# What compiling a step with XLA raises when XLA cannot compile it (an op without an XLA
# kernel, a shape it cannot infer); other errors (out of memory, bad data) are not XLA's.
COMPILE_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, NotImplementedError)


def failure_note(error: Exception) -> str:
    """Why XLA is off after `error` compiling the step: its type and first line."""
    lines = str(error).strip().splitlines() or [""]
    return f"XLA failed to compile the step ({type(error).__name__}: {lines[0][:200]})"


def measure(step_functions: dict, args, rounds: int = 3):
    """(XLA faster?, note): `step_functions[True]` / `[False]` compiled and timed on `args`,
    alternating, the median of `rounds` each."""
    times = {True: [], False: []}
    for flag in (True, False):
        step_functions[flag](*args)  # trace and compile
    for _ in range(rounds):
        for flag in (True, False):
            t0 = time.perf_counter()
            float(step_functions[flag](*args)[0])
            times[flag].append(time.perf_counter() - t0)
    on, off = sorted(times[True])[rounds // 2], sorted(times[False])[rounds // 2]
    return on <= off, f"measured {on:.3g} s with, {off:.3g} s without"
