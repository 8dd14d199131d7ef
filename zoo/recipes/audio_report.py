"""Measures a WaveNet teacher and its Parallel WaveNet student on held-out FSDD clips, and
writes what people would rather hear and see than read.

    python zoo/recipes/audio_report.py --teacher T --student S --data fsdd.npz --out DIR

T and S are run folders, .keras files or zoo names (S may be a distillation run: its
student is used). Writes DIR/report.json and, for the first five digits, DIR/real_<d>.wav,
teacher_<d>.wav, student_<d>.wav and DIR/spectrograms.png (rows: real, teacher, student).

Numbers (all on the test split, takes 0-4: 300 clips of 4,096 samples, peak-normalised):
- teacher_nll: the teacher's NLL in nats per sample over whole clips, and over speech only
  (each clip's samples before its zero padding);
- nll_of_own_samples / nll_of_student_samples: the teacher's NLL (nats per sample) of
  its own samples and of as many student samples (`--per-digit` for each digit of the test
  split, `--length` samples, temperature 1);
- kl: the student's KL to the teacher, mean over t of the closed form, on those draws;
- spectral_distance_db: RMS over frequency of the dB difference between a clip's
  time-averaged spectrum and the mean spectrum of the real test clips of its digit, for
  teacher samples, student samples and, as the floor, real test clips (each against the
  other clips of its digit).
"""

import argparse
import json
import pathlib
import sys

import numpy as np
import tensorflow as tf

from tfflows.data.audio import fsdd, save_wav
from tfflows.distill.losses import average_spectrum, gaussian_kl, log_spectral_distance
from tfflows.plotting import save_spectrograms

DIGITS_SHOWN = 5


def load(source, want_student):
    """A run folder's best weights if it kept them (a run in progress has no final ones),
    else `tfflows.cli`'s loading of a run, a .keras file or a zoo name."""
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    from parallel_wavenet_fsdd import load_teacher  # the recipe beside this one

    model = load_teacher(source)
    return getattr(model, "student" if want_student else "teacher", model)


def teacher_nll_terms(teacher, clips, labels, batch=16):
    """[N, T]: -log p(x_t | x_<t) of each sample (any real values)."""
    out = []
    for i in range(0, len(clips), batch):
        x = tf.constant(clips[i : i + batch])
        c = tf.one_hot(labels[i : i + batch], teacher.num_classes)
        mu, log_scale = teacher.gaussians(x, c)
        z = (x - mu) * tf.exp(-log_scale)
        out.append((0.5 * np.log(2 * np.pi) + log_scale + 0.5 * z * z).numpy())
    return np.concatenate(out)


def speech_mask(clips):
    """True before each clip's trailing run of exact zeros (the loader's padding)."""
    nonzero = clips != 0
    last = clips.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
    return np.arange(clips.shape[1])[None] < last[:, None]


def spectral_distances(clips, labels, reference, reference_labels, leave_one_out=False):
    """[N] dB distances of clips to the mean spectrum of the reference clips of their digit."""
    ref = average_spectrum(tf.constant(reference)).numpy()
    mine = average_spectrum(tf.constant(clips)).numpy()
    out = []
    for i, (spectrum, digit) in enumerate(zip(mine, labels, strict=True)):
        same = reference_labels == digit
        if leave_one_out:
            same &= np.arange(len(reference)) != i
        if not same.any():
            continue  # no other clip of this digit to compare with
        out.append(float(log_spectral_distance(spectrum, ref[same].mean(axis=0))))
    return np.array(out)


def summary(values):
    values = np.asarray(values, np.float64)
    return {
        "mean": round(float(values.mean()), 4),
        "standard_error": round(float(values.std() / np.sqrt(len(values))), 4),
        "n": len(values),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", required=True)
    parser.add_argument("--data", required=True, help="the FSDD .npz")
    parser.add_argument("--out", required=True)
    parser.add_argument("--length", type=int, default=4096)
    parser.add_argument("--per-digit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    teacher, student = load(args.teacher, False), load(args.student, True)
    splits = fsdd(args.data, length=args.length)
    x, y = splits.test_x, splits.test_y.astype(np.int64)
    terms = teacher_nll_terms(teacher, x, y)
    mask = speech_mask(x)
    # Every digit of the test split (all ten in FSDD), `per_digit` samples each.
    labels = np.repeat(np.unique(y), args.per_digit)
    onehot = tf.one_hot(labels, teacher.num_classes)
    teacher_samples = teacher.sample(len(labels), args.length, seed=args.seed, condition=labels)
    noise = student.draw_noise(len(labels), args.length, seed=args.seed + 1)
    student_samples, mu_q, log_scale_q = student.transform(noise, onehot)
    mu_p, log_scale_p = teacher.gaussians(student_samples, onehot)
    kl = tf.reduce_mean(gaussian_kl(mu_q, log_scale_q, mu_p, log_scale_p), axis=1).numpy()
    teacher_samples, student_samples = np.asarray(teacher_samples), np.asarray(student_samples)
    report = {
        "data": f"{args.data}: test split, {len(x)} clips of {args.length} samples",
        "teacher_nll_nats_per_sample": {
            "whole_clips": summary(terms.mean(axis=1)),
            "speech_only": summary((terms * mask).sum(axis=1) / mask.sum(axis=1)),
        },
        "nll_of_own_samples": summary(teacher_nll_terms(teacher, teacher_samples, labels).mean(1)),
        "nll_of_student_samples": summary(
            teacher_nll_terms(teacher, student_samples, labels).mean(1)
        ),
        "kl_student_to_teacher_nats_per_sample": summary(kl),
        "spectral_distance_db": {
            "real_test_clips": summary(spectral_distances(x, y, x, y, leave_one_out=True)),
            "teacher_samples": summary(spectral_distances(teacher_samples, labels, x, y)),
            "student_samples": summary(spectral_distances(student_samples, labels, x, y)),
        },
        "sample_std": {
            "real": round(float(x[mask].std()), 4),
            "teacher": round(float(teacher_samples.std()), 4),
            "student": round(float(student_samples.std()), 4),
        },
        "command": "python zoo/recipes/audio_report.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    rows = {"real": [], "teacher": [], "student": []}
    shown = np.unique(y)[:DIGITS_SHOWN]
    for digit in shown:
        first = int(np.argmax(labels == digit))
        clips = {
            "real": x[int(np.argmax(y == digit))],
            "teacher": teacher_samples[first],
            "student": student_samples[first],
        }
        for kind, clip in clips.items():
            save_wav(out / f"{kind}_{digit}.wav", clip, teacher.sample_rate)
            rows[kind].append(clip)
    save_spectrograms(
        rows,
        out / "spectrograms.png",
        teacher.sample_rate,
        titles=[f"digit {d}" for d in shown],
    )
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
