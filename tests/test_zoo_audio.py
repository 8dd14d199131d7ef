"""Audio models through the zoo, on tiny models: a 2-step `tfflows train wavenet` run and a
2-step distillation of a student from it, published by `python -m tfflows.zoo.publish
--curve` into a zoo folder of their own (zoo_fixtures.tiny_audio_zoo), write the weights,
`samples.wav`, its spectrograms `samples.png` and the learning curve; `$TFFLOWS_ZOO` points
the loader at that folder, and `tfflows sample NAME --out clips.wav` samples a preset.

The per-preset tests of test_zoo.py run on these presets too."""

import numpy as np
from PIL import Image

from tests import zoo_fixtures
from tfflows import zoo
from tfflows.cli import main
from tfflows.data import load_wav
from tfflows.plotting import read_scalars

TEACHER, STUDENT = zoo_fixtures.TINY_TEACHER, zoo_fixtures.TINY_STUDENT
# the shared fixtures
offline, cache = zoo_fixtures.offline, zoo_fixtures.cache
tiny_audio_zoo, audio_zoo = zoo_fixtures.tiny_audio_zoo, zoo_fixtures.audio_zoo


def clips_of(wav, model, clip_length):
    """The clips of a samples.wav: a clip per label, each followed by 0.25 s of silence."""
    audio, rate = load_wav(wav)
    gap = model.sample_rate // 4
    assert rate == model.sample_rate
    assert audio.shape == (model.num_classes * (clip_length + gap),)
    clips = audio.reshape(model.num_classes, clip_length + gap)
    assert np.all(clips[:, clip_length:] == 0)
    return clips[:, :clip_length]


def test_publish_writes_the_samples_their_spectrograms_and_the_curves(audio_zoo, offline):
    for name in (TEACHER, STUDENT):
        folder = audio_zoo.zoo / name
        assert sorted(p.name for p in folder.iterdir()) == [
            "curve.png",
            "model.weights.h5",
            "preset.json",
            "samples.png",
            "samples.wav",
        ]
        with Image.open(folder / "samples.png") as picture:
            assert picture.width > 2 * picture.height  # one row of ten spectrograms
        with Image.open(folder / "curve.png") as picture:
            assert picture.width > 300
    # The student's samples are its seed-0 draws, a second of each digit, clipped to 16 bits.
    student = zoo.load(STUDENT)
    one_second = student.sample_rate
    got = clips_of(audio_zoo.zoo / STUDENT / "samples.wav", student, one_second)
    want = student.sample(10, one_second, seed=0, condition=np.arange(10))
    np.testing.assert_allclose(got, np.clip(want, -1, 1), atol=1 / 16000)
    # The teacher's are its own draws: as loud as the stored ones, not silence.
    teacher = zoo.load(TEACHER)
    got = clips_of(audio_zoo.zoo / TEACHER / "samples.wav", teacher, one_second)
    assert got.std(axis=1).min() > 0.01
    # The curves: the teacher's test NLL, the student's KL to its teacher, at least one point
    # each (the end of the run).
    teacher_run, student_run = audio_zoo.runs
    steps, nll = read_scalars(teacher_run, "test/nll")
    assert len(steps) >= 1 and np.isfinite(nll).all()
    steps, kl = read_scalars(student_run, "test/kl")
    assert len(steps) >= 1 and np.all(kl >= 0)


def test_tfflows_sample_writes_a_presets_clips_offline(audio_zoo, offline, tmp_path):
    out = tmp_path / "digits.wav"
    argv = ["sample", STUDENT, "--n", "3", "--length", "200", "--condition", "7"]
    assert main([*argv, "--seed", "5", "--out", str(out)]) == 0
    student = zoo.load(STUDENT)
    audio, rate = load_wav(out)
    gap = student.sample_rate // 4
    assert rate == student.sample_rate and audio.shape == (3 * (200 + gap),)
    want = student.sample(3, 200, seed=5, condition=[7, 7, 7], temperature=0.7)  # the default
    got = audio.reshape(3, 200 + gap)[:, :200]
    np.testing.assert_allclose(got, np.clip(want, -1, 1), atol=1 / 16000)
