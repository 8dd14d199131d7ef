"""Fixtures shared by the zoo's tests (test_zoo*.py, test_publish.py): import them by name."""

import os
import subprocess
import sys
import types
import urllib.request

import pytest


@pytest.fixture
def offline(monkeypatch):
    """Any network access (urlopen or any urllib opener) fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during an offline load: {args[:2]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache ($TFFLOWS_HOME) of the test's own."""
    monkeypatch.setenv("TFFLOWS_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


# A video preset made the way the real one is: a 2-step `tfflows train videoflow` run on
# generated stochastic shapes, published by `python -m tfflows.zoo.publish` into a zoo
# folder of its own, which $TFFLOWS_ZOO points the zoo loader at.
TINY_VIDEO = "videoflow_tiny"
VIDEO_DATA = "stochastic_shapes:num_videos=24,num_frames=3,size=16,seed=0,test_videos=6"
TINY_VIDEOFLOW = [
    *("--set", "levels=2", "--set", "steps_per_level=1"),
    *("--set", "hidden_channels=4", "--set", "prior_channels=4"),
]
_MADE = {}  # one tiny zoo of each kind per session, whichever test module asks first


def _make_video_zoo(folder):
    run, zoo_dir = folder / "run", folder / "zoo"
    zoo_dir.mkdir()
    train = [
        *(sys.executable, "-m", "tfflows.cli", "train", "videoflow", "--data", VIDEO_DATA),
        *("--out", str(run), "--steps", "2", "--batch-size", "8", "--xla", "off"),
        *("--no-progress", *TINY_VIDEOFLOW),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(train, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    from tfflows.zoo import publish

    publish.main(
        [
            *(str(run), "--name", TINY_VIDEO, "--description", "a tiny VideoFlow"),
            *("--data", VIDEO_DATA, "--license", "Apache-2.0", "--curve"),
            *("--train", " ".join(train[2:]), "--eval", f"tfflows eval {TINY_VIDEO}"),
            *("--zoo-dir", str(zoo_dir)),
        ]
    )
    return types.SimpleNamespace(run=run, zoo=zoo_dir, preset=zoo_dir / TINY_VIDEO)


def _made_once(key, maker, tmp_path_factory):
    if key not in _MADE:
        _MADE[key] = maker(tmp_path_factory.mktemp(key))
    return _MADE[key]


def _pointed_at(made, monkeypatch):
    monkeypatch.setenv("TFFLOWS_ZOO", str(made.zoo))
    return made


@pytest.fixture(scope="session")
def tiny_video_zoo(tmp_path_factory):
    """The tiny video preset's run and zoo folders (run, zoo, preset), made once."""
    return _made_once("video_zoo", _make_video_zoo, tmp_path_factory)


@pytest.fixture
def video_zoo(tiny_video_zoo, monkeypatch):
    """$TFFLOWS_ZOO names the tiny video preset's zoo folder: the loader finds it."""
    return _pointed_at(tiny_video_zoo, monkeypatch)


# Audio presets made the way the real ones are: a 2-step `tfflows train wavenet` run on a
# synthetic FSDD archive, and a 2-step distillation run of a student from it, published
# into a zoo folder of their own.
TINY_TEACHER, TINY_STUDENT = "wavenet_tiny", "parallel_wavenet_tiny"
TINY_WAVENET = [
    *("--set", "residual_channels=4", "--set", "gate_channels=4", "--set", "skip_channels=4"),
    *("--set", "layers_per_cycle=3", "--set", "cycles=1", "--set", "num_classes=10"),
]


def _make_audio_zoo(folder):
    import keras

    import tfflows
    from tests.test_audio_data import archive
    from tfflows.zoo import publish

    path, _ = archive(
        folder,
        [300 + 7 * i for i in range(40)],
        [i % 10 for i in range(40)],
        [i // 4 for i in range(40)],
        scale=300,
    )
    data = f"fsdd:path={path},length=512"
    teacher_run, student_run, zoo_dir = folder / "teacher", folder / "student", folder / "zoo"
    zoo_dir.mkdir()
    train = [
        *(sys.executable, "-m", "tfflows.cli", "train", "wavenet", "--data", data),
        *("--out", str(teacher_run), "--steps", "2", "--batch-size", "4", "--xla", "off"),
        *("--no-progress", *TINY_WAVENET),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(train, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    teacher = tfflows.models.build_model(teacher_run / "model.json")
    teacher.load_weights(teacher_run / "model.weights.h5")
    keras.utils.set_random_seed(0)
    student = tfflows.models.ParallelWaveNet(
        num_flows=2,
        layers_per_flow=2,
        residual_channels=4,
        gate_channels=4,
        skip_channels=4,
        num_classes=10,
    )
    tfflows.train(
        tfflows.distill.DensityDistillation(student, teacher),
        tfflows.data.load_source(data),
        out_dir=str(student_run),
        steps=2,
        batch_size=4,
        xla=False,
        progress=False,
    )
    for name, run in ((TINY_TEACHER, teacher_run), (TINY_STUDENT, student_run)):
        publish.main(
            [
                *(str(run), "--name", name, "--description", f"a tiny {name}"),
                *("--data", data, "--license", "Apache-2.0"),
                *("--train", "see tests/zoo_fixtures.py", "--eval", f"tfflows eval {name}"),
                *("--zoo-dir", str(zoo_dir), "--curve"),
            ]
        )
    return types.SimpleNamespace(
        zoo=zoo_dir, teacher=teacher, student=student, data=data, runs=(teacher_run, student_run)
    )


@pytest.fixture(scope="session")
def tiny_audio_zoo(tmp_path_factory):
    """The tiny audio presets' zoo folder and the models published into it, made once."""
    return _made_once("audio_zoo", _make_audio_zoo, tmp_path_factory)


@pytest.fixture
def audio_zoo(tiny_audio_zoo, monkeypatch):
    """$TFFLOWS_ZOO names the tiny audio presets' zoo folder."""
    return _pointed_at(tiny_audio_zoo, monkeypatch)


@pytest.fixture
def preset_name(request):
    """A preset name for tests parametrized (indirectly) over the zoo: the shipped presets,
    and TINY_VIDEO, TINY_TEACHER and TINY_STUDENT, which this fixture makes the loader find."""
    if request.param == TINY_VIDEO:
        request.getfixturevalue("video_zoo")
    if request.param in (TINY_TEACHER, TINY_STUDENT):
        request.getfixturevalue("audio_zoo")
    return request.param
