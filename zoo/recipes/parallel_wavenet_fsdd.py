"""Distils the `parallel_wavenet_fsdd` student from a trained WaveNet teacher.

    python zoo/recipes/parallel_wavenet_fsdd.py --teacher runs/wavenet_fsdd \\
        --data /path/to/fsdd.npz --out runs/parallel_wavenet_fsdd [--steps 4000]

The teacher is a training run folder (its best weights if it kept them, else its final
ones), a `.keras` file or a zoo name (`wavenet_fsdd`). The student (`STUDENT` below) learns
by `tfflows.distill.DensityDistillation` under `tfflows.train`: checkpoints every
`--checkpoint-every` steps, so re-running the same command resumes. Data: FSDD clips of
4,096 samples, peak-normalised, test = takes 0-4 (`tfflows.data.fsdd`); the real clips enter
only through the power loss, each compared with a student sample of the same digit.
"""

import argparse
import pathlib

import keras

from tfflows import train
from tfflows.data.audio import fsdd
from tfflows.distill import DensityDistillation
from tfflows.models import ParallelWaveNet

# 4 flows x 8 layers (kernel 3, dilations 1..128: 2,041 samples of noise before t in all),
# 24 channels: chosen for speed on a 2-core CPU (bench.audio_sampling).
STUDENT = dict(
    num_flows=4,
    layers_per_flow=8,
    residual_channels=24,
    gate_channels=24,
    skip_channels=24,
    kernel_size=3,
    initial_scale=0.1,
)


def load_teacher(source: str):
    """A model from a run folder (its best weights first), a .keras file or a zoo name."""
    from tfflows.cli import zoo_or_run

    path = pathlib.Path(source)
    if path.is_dir() and (path / "best.weights.h5").exists():
        from tfflows.models import build_model

        teacher = build_model(path / "model.json")
        teacher.load_weights(path / "best.weights.h5")
        return teacher
    return zoo_or_run(source)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="run folder, .keras file or zoo name")
    parser.add_argument("--data", required=True, help="the FSDD .npz")
    parser.add_argument("--out", default="runs/parallel_wavenet_fsdd")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--minutes", type=float, help="stop after this long (resumable)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--power-loss-weight", type=float, default=1.0)
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    teacher = load_teacher(args.teacher)
    keras.utils.set_random_seed(0)
    student = ParallelWaveNet(
        **STUDENT, num_classes=teacher.num_classes, sample_rate=teacher.sample_rate
    )
    model = DensityDistillation(student, teacher, power_loss_weight=args.power_loss_weight)
    splits = fsdd(args.data, length=args.length)
    return train(
        model,
        splits,
        out_dir=args.out,
        steps=args.steps,
        max_minutes=args.minutes,
        batch_size=args.batch_size,
        learning_rate=1e-3,
        warmup_steps=200,
        clip_norm=10.0,
        ema=0.999,
        xla=False,
        checkpoint_every=args.checkpoint_every,
        log_every=50,
        test_examples=300,
        progress=args.progress,
    )


if __name__ == "__main__":
    main()
