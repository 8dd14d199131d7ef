"""Sampling speed of audio models: the Parallel WaveNet student against its WaveNet teacher.

    python -m bench.audio_sampling [--teacher RUN_OR_ZOO] [--student ...] [--repeats 5]

Measures, in one process and interleaved rounds (medians over `--repeats`), the time to
sample `--seconds-of-audio` (default 1 s = 8,000 samples) at batch 1 and 16 with:
- the student (`ParallelWaveNet.sample`: one parallel pass per flow), traced and under XLA;
- the teacher's cached sampler (`tfflows.nets.sample_cached`: one step per sample, every
  layer's past in a ring buffer), traced and under XLA;
- the teacher as the first WaveNet sampled: the network recomputed over its whole receptive
  field at every step. Its cost per step is constant, so it is timed on `--naive-steps`
  steps and scaled to the clip's length (said so in the table).
Ratios are student / teacher speed within the run; each row also gives the real-time factor
(seconds of audio per second of wall time) and the network FLOPs per generated sample.
Without --teacher/--student it builds the zoo architectures untrained (speed does not
depend on the weights).
"""

import argparse
import json
import pathlib
import statistics
import time

import numpy as np
import tensorflow as tf

from tfflows.bijectors._util import saturate
from tfflows.models import ParallelWaveNet, WaveNet
from tfflows.nets.cached_sampler import sample_cached

RESULTS = pathlib.Path(__file__).parent / "results"


def wavenet_flops_per_sample(net) -> int:
    """Multiply-adds x 2 of one output step of a `CausalWaveNet` (dense and conv layers)."""
    r, g, s, k = net.residual_channels, net.gate_channels, net.skip_channels, net.kernel_size
    per_layer = (
        k * r * 2 * g + g * (r + s) + (2 * g * net.condition_shape[0] if net.condition_shape else 0)
    )
    head = s * s + s * 2
    return 2 * (net.front_kernel * r + len(net.dilations) * per_layer + head)


def naive_sampler(net, noise, condition=None, history=None):
    """The first WaveNet's sampling: at every step the network runs over the last `receptive
    field` samples and its last output gives the next sample; returns the clip continued by
    noise.shape[1] samples after `history` ([B, >= receptive field], default zeros).

    Given the clip's true past, this is exactly `sample_cached`'s map (the test checks it),
    at O(receptive field) network steps per sample. (From zeros it is not: a parallel pass
    over a window of zeros computes hidden states where the model has zero padding. Its cost
    per step does not depend on the values, which is all the bench needs.)"""
    field = net.receptive_field
    batch, steps = noise.shape
    if history is None:
        history = tf.zeros([batch, field])

    def body(t, window, out):
        params = net(window, condition=condition)[:, -1]
        x = params[:, 0] + tf.exp(saturate(params[:, 1])) * noise[:, t]
        # The window ends with the slot of the next step's target (its value is not read).
        window = tf.concat([window[:, 1:-1], x[:, None], tf.zeros([batch, 1])], axis=1)
        return t + 1, window, out.write(t, x)

    window = tf.concat([history[:, -field:], tf.zeros([batch, 1])], axis=1)
    _, _, out = tf.while_loop(
        lambda t, *_: t < steps, body, (0, window, tf.TensorArray(tf.float32, steps))
    )
    return tf.transpose(out.stack())


def _load(kind, source):
    if source is None:
        return WaveNet(num_classes=10) if kind == "teacher" else ParallelWaveNet(num_classes=10)
    from tfflows.cli import zoo_or_run

    model = zoo_or_run(source)[0]
    return getattr(model, "student" if kind == "student" else "teacher", model)


def run(args) -> dict:
    teacher, student = _load("teacher", args.teacher), _load("student", args.student)
    length = int(args.seconds_of_audio * teacher.sample_rate)
    cases = {}
    for batch in args.batches:
        noise = tf.random.normal([batch, length], seed=1)
        c = tf.one_hot(tf.zeros([batch], tf.int32), 10)
        short = noise[:, : args.naive_steps]
        traced = tf.function(lambda e, c: sample_cached(teacher.net, e, c))
        xla = tf.function(lambda e, c: sample_cached(teacher.net, e, c), jit_compile=True)
        naive = tf.function(lambda e, c: naive_sampler(teacher.net, e, c), jit_compile=True)
        s_traced = tf.function(lambda e, c: student.transform(e, c)[0])
        s_xla = tf.function(lambda e, c: student.transform(e, c)[0], jit_compile=True)
        cases[batch] = {
            "student_traced": (lambda f=s_traced, e=noise, c=c: f(e, c), 1.0),
            "student_xla": (lambda f=s_xla, e=noise, c=c: f(e, c), 1.0),
            "teacher_cached_traced": (lambda f=traced, e=noise, c=c: f(e, c), 1.0),
            "teacher_cached_xla": (lambda f=xla, e=noise, c=c: f(e, c), 1.0),
            "teacher_naive_xla": (lambda f=naive, e=short, c=c: f(e, c), length / args.naive_steps),
        }
    for batch in cases:  # warm-up: tracing and XLA compilation
        for fn, _ in cases[batch].values():
            fn().numpy()
    times = {b: {k: [] for k in cases[b]} for b in cases}
    for _ in range(args.repeats):
        for batch in cases:
            for name, (fn, scale) in cases[batch].items():
                start = time.perf_counter()
                fn().numpy()
                times[batch][name].append((time.perf_counter() - start) * scale)
    teacher_flops = wavenet_flops_per_sample(teacher.net)
    student_flops = sum(wavenet_flops_per_sample(f.net) for f in student.flows)
    report = {
        "length": length,
        "sample_rate": teacher.sample_rate,
        "teacher_parameters": teacher.count_params(),
        "student_parameters": student.count_params(),
        "teacher_flops_per_sample": teacher_flops,
        "student_flops_per_sample": student_flops,
        "teacher_receptive_field": teacher.receptive_field,
        "naive_steps_timed": args.naive_steps,
        "batches": {},
    }
    for batch, rows in times.items():
        medians = {k: statistics.median(v) for k, v in rows.items()}
        student_best = min(medians["student_traced"], medians["student_xla"])
        cached_best = min(medians["teacher_cached_traced"], medians["teacher_cached_xla"])
        audio_seconds = batch * length / teacher.sample_rate
        report["batches"][str(batch)] = {
            "seconds": medians,
            "all_seconds": rows,
            "real_time_factor": {k: audio_seconds / v for k, v in medians.items()},
            "student_vs_cached_teacher": cached_best / student_best,
            "student_vs_naive_teacher": medians["teacher_naive_xla"] / student_best,
            "cached_vs_naive_teacher": medians["teacher_naive_xla"] / cached_best,
        }
    return report


def markdown(report) -> str:
    lines = [
        f"Sampling {report['length']} samples ({report['length'] / report['sample_rate']:g} s "
        "of audio) per clip; seconds are medians; RTF = seconds of audio per second.",
        "",
        "| batch | sampler | seconds | RTF |",
        "|---|---|---|---|",
    ]
    for batch, row in report["batches"].items():
        for name, seconds in row["seconds"].items():
            note = " (scaled)" if name == "teacher_naive_xla" else ""
            rtf = row["real_time_factor"][name]
            lines.append(f"| {batch} | {name}{note} | {seconds:.3f} | {rtf:.2f} |")
    lines.append("")
    for batch, row in report["batches"].items():
        lines.append(
            f"batch {batch}: student {row['student_vs_cached_teacher']:.1f}x faster than the "
            f"cached teacher, {row['student_vs_naive_teacher']:.0f}x than the naive one; "
            f"caching gives the teacher {row['cached_vs_naive_teacher']:.0f}x"
        )
    lines.append(
        f"FLOPs per sample: teacher {report['teacher_flops_per_sample']:,}, student "
        f"{report['student_flops_per_sample']:,}"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", help="a WaveNet: zoo name, run folder or .keras file")
    parser.add_argument("--student", help="a ParallelWaveNet: zoo name, run folder or .keras")
    parser.add_argument("--seconds-of-audio", type=float, default=1.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--naive-steps", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "audio_sampling.json"))
    args = parser.parse_args(argv)
    report = run(args)
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=1))
    table = markdown(report)
    pathlib.Path(args.out).with_suffix(".md").write_text(table + "\n")
    print(table)
    return report


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
