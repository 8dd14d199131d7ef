"""Parallel WaveNet's probability density distillation on spoken digits, start to finish.

    python examples/distill_fsdd.py --data ../shared/data/fsdd.npz --out out/distill \\
        --teacher-minutes 20 --student-minutes 20

1. trains a WaveNet teacher (a Gaussian autoregressive flow over samples, conditioned on the
   digit) on FSDD for `--teacher-minutes` with `model.fit`;
2. distils a Parallel WaveNet student from it (`tfflows.distill.DensityDistillation`: the
   closed-form KL to the frozen teacher plus the power loss) for `--student-minutes`;
3. scores both on the held-out takes, times their sampling of one second of audio, and
   writes WAV files of a real, a teacher and a student "seven" and their spectrograms.

With `--teacher wavenet_fsdd` (a zoo name, a run folder or a .keras file) step 1 is skipped.
The sizes here are small so that a few minutes on a CPU show the chain working; the zoo's
`wavenet_fsdd` (20 layers x 64 channels, 68 minutes) and `parallel_wavenet_fsdd` (the
recipe's 4 x 8 x 24 student, 48 minutes) are larger and trained longer
(zoo/recipes/parallel_wavenet_fsdd.py).
"""

import argparse
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from tfflows import data, distill, models, plotting


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` at the end of the first batch after `seconds` of training, counted from
    the end of the first batch (which traces and compiles the step: a minute or more)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, None

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None:
            self.start = time.perf_counter()
        elif time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def seconds_to_sample(model, length, condition):
    model.sample(1, length, seed=0, condition=condition)  # tracing and XLA compilation
    start = time.perf_counter()
    np.asarray(model.sample(1, length, seed=1, condition=condition))
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the FSDD .npz (see ../shared/data)")
    parser.add_argument("--out", default="out/distill")
    parser.add_argument("--teacher", help="a trained WaveNet instead of training one")
    parser.add_argument("--teacher-minutes", type=float, default=20)
    parser.add_argument("--student-minutes", type=float, default=20)
    parser.add_argument("--length", type=int, default=2048, help="training clip length")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    splits = data.fsdd(args.data, length=args.length)
    keras.utils.set_random_seed(0)

    if args.teacher:
        from tfflows.cli import zoo_or_run

        teacher = zoo_or_run(args.teacher)[0]
    else:
        teacher = models.WaveNet(
            residual_channels=32,
            gate_channels=32,
            skip_channels=32,
            layers_per_cycle=9,
            cycles=1,
            num_classes=10,
        )
        teacher.fit(
            splits.train_x,
            splits.train_y,
            batch_size=8,
            epochs=1000,
            verbose=0,
            callbacks=[TimeBudget(60 * args.teacher_minutes)],
        )
        teacher.save(out / "teacher.keras")
        print(f"teacher: trained {int(teacher.optimizer.iterations.numpy())} steps")
    print(
        f"teacher: {teacher.count_params():,} parameters, receptive field "
        f"{teacher.receptive_field} samples"
    )

    student = models.ParallelWaveNet(
        num_flows=4,
        layers_per_flow=6,
        residual_channels=16,
        gate_channels=16,
        skip_channels=16,
        num_classes=teacher.num_classes,
    )
    distillation = distill.DensityDistillation(student, teacher, power_loss_weight=1.0)
    test_x, test_y = splits.test_x, splits.test_y

    def held_out_kl():  # on 64 test clips' lengths and digits, the same noise each time
        kl = distillation.kl(test_x[:64], test_y[:64], seed=tf.constant([0, 1]))
        return float(np.mean(kl))

    before = held_out_kl()
    distillation.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=10.0))
    distillation.fit(
        splits.train_x,
        splits.train_y,
        batch_size=8,
        epochs=1000,
        verbose=0,
        callbacks=[TimeBudget(60 * args.student_minutes)],
    )
    student.save(out / "student.keras")
    steps = int(distillation.optimizer.iterations.numpy())
    print(
        f"student: {student.count_params():,} parameters; held-out KL to the teacher "
        f"{before:.3f} -> {held_out_kl():.3f} nats per sample after {steps} steps"
    )
    nll = np.mean(
        [
            float(np.mean(teacher.nll(test_x[i : i + 32], test_y[i : i + 32])))
            for i in range(0, len(test_x), 32)
        ]
    )
    print(f"held-out: teacher NLL {nll:.3f} nats per sample")

    second = teacher.sample_rate
    slow, fast = seconds_to_sample(teacher, second, 7), seconds_to_sample(student, second, 7)
    print(
        f"one second of audio: teacher {slow:.2f} s (cached, XLA), student {fast:.3f} s: "
        f"{slow / fast:.0f}x faster, {1 / fast:.0f}x real time"
    )

    seven = int(np.argmax(test_y == 7))
    clips = {
        "real": test_x[seven],
        "teacher": np.asarray(teacher.sample(1, args.length, seed=2, condition=7))[0],
        "student": np.asarray(student.sample(1, args.length, seed=2, condition=7))[0],
    }
    for kind, clip in clips.items():
        data.save_wav(out / f"{kind}_7.wav", clip, teacher.sample_rate)
    plotting.save_spectrograms(
        {k: v[None] for k, v in clips.items()}, out / "sevens.png", teacher.sample_rate
    )
    print(f"wrote {out}/real_7.wav, teacher_7.wav, student_7.wav and sevens.png")


if __name__ == "__main__":
    main()
