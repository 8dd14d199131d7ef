"""The `tfflows` command line without TensorFlow where none is needed, and its errors: one
line `tfflows COMMAND: message` on stderr and exit status 1; `--debug` for the traceback."""

import subprocess
import sys

import numpy as np
import pytest

from tfflows import cli

HEAVY = ("tensorflow", "keras", "tensorflow_probability", "numpy")


@pytest.mark.parametrize(
    "argv", [["--help"], ["train", "--help"], ["export", "--help"], ["predict", "--help"]]
)
def test_help_imports_no_tensorflow(argv):
    """Checked through sys.modules in a fresh interpreter (not a time limit)."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['tfflows', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('tfflows.cli', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert stop.code == 0, stop.code\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert "usage: tfflows" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-2000:]


def test_help_names_each_options_default():
    """Defaults are named where an option has one; flags and unset options say nothing."""
    commands = cli.build_parser()._subparsers._group_actions[0].choices
    predict = " ".join(commands["predict"].format_help().split())
    assert "--videos VIDEOS how many context videos (default: 4)" in predict
    assert "--temperature TEMPERATURE default: 0.7 --seed SEED default: 0 --out" in predict
    assert "default: None" not in predict and "default: False" not in predict
    train = " ".join(commands["train"].format_help().split())
    assert "--batch-size BATCH_SIZE global batch size (default: 64)" in train
    assert "--no-progress no bar --augment" in train


def test_the_package_loads_its_submodules_on_first_use():
    probe = (
        "import sys, tfflows\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from tfflows import models\n"
        "assert tfflows.models is models and tfflows.models.Glow.__name__ == 'Glow'\n"
        "assert tfflows.train is tfflows.training.train\n"
        "assert 'zoo' in dir(tfflows) and callable(tfflows.zoo.load)\n"
        "try:\n"
        "    tfflows.nothing\n"
        "except AttributeError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.strip() == "module 'tfflows' has no attribute 'nothing'"


@pytest.fixture
def npz(tmp_path):
    path = tmp_path / "tiny.npz"
    np.savez(path, x=np.zeros((40, 8, 8, 3), np.uint8))
    return path


def error_of(capsys, argv):
    """(exit status, stderr) of `tfflows ARGV` run in this process."""
    capsys.readouterr()
    status = cli.main(argv)
    return status, capsys.readouterr().err


USER_ERRORS = {
    "missing data": (
        ["train", "glow", "--data", "TMP/missing.npz"],
        "tfflows train: data source 'TMP/missing.npz' is not a file, a folder, tfds:NAME or "
        "generated videos (stochastic_shapes:..., moving_mnist:...)",
    ),
    "unknown model": (
        ["train", "flowy", "--data", "NPZ"],
        "tfflows train: unknown model family 'flowy'",
    ),
    "--set without =": (
        ["train", "glow", "--data", "NPZ", "--set", "levels"],
        "tfflows train: --set takes KEY=VALUE (e.g. --set levels=3), got 'levels'",
    ),
    "--set unknown key": (
        ["train", "glow", "--data", "NPZ", "--set", "wings=2"],
        "tfflows train: Glow has no argument 'wings' (--set wings=...); its arguments: "
        "condition_shape, coupling, hidden_channels, input_shape, learn_top, levels, ",
    ),
    "--set misspelt key": (
        ["train", "videoflow", "--data", "VIDEOS", "--set", "level=2"],
        "tfflows train: VideoFlow has no argument 'level' (--set level=...); did you mean "
        "levels?; its arguments: context_frames, flow, ",
    ),
    "no such run": (
        ["sample", "TMP/no_run"],
        "tfflows sample: TMP/no_run: not a zoo model, a training run folder or a .keras file",
    ),
    "a run's file": (
        ["sample", "TMP/model.json"],
        "tfflows sample: TMP/model.json: pass the training run folder, TMP",
    ),
    "unfinished run": (
        ["eval", "TMP", "--data", "NPZ"],
        "tfflows eval: TMP is not a finished training run",
    ),
    "unknown preset": (["demo", "--zoo", "nope"], "tfflows demo: unknown zoo model 'nope'"),
    "misspelt preset": (
        ["eval", "glow_celebA", "--data", "NPZ"],
        "tfflows eval: glow_celebA: not a zoo model, a training run folder or a .keras file; "
        "did you mean glow_celeba?",
    ),
    "misspelt family": (
        ["train", "glwo", "--data", "NPZ"],
        "tfflows train: unknown model family 'glwo'; known: ",
    ),
    "images for the video family": (
        ["train", "videoflow", "--data", "NPZ"],
        "tfflows train: VideoFlow models videos [N, T, H, W, C]; these examples have shape "
        "(8, 8, 3) (images: for videos of MNIST digits, --data moving_mnist:path=mnist.npz)",
    ),
    "videos for an image family": (
        ["train", "maf", "--data", "VIDEOS"],
        "tfflows train: MAF models images (H, W, C) or vectors; these examples have shape "
        "(3, 8, 8, 3), videos (T, H, W, C): use VideoFlow (tfflows train videoflow)",
    ),
}


@pytest.mark.parametrize("case", USER_ERRORS)
def test_a_user_error_is_one_line_without_a_traceback(case, tmp_path, npz, capsys):
    args, message = USER_ERRORS[case]

    videos = tmp_path / "videos.npz"
    np.savez(videos, x=np.zeros((20, 3, 8, 8, 3), np.uint8))
    (tmp_path / "model.json").write_text("{}")

    def fill(text):
        text = text.replace("TMP", str(tmp_path)).replace("NPZ", str(npz))
        return text.replace("VIDEOS", str(videos))

    argv = [fill(a) for a in args]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "out")]
    status, err = error_of(capsys, argv)
    assert status == 1
    assert err.startswith(fill(message)), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "maf_moons", "--data", "d.npz", "--batch-size", "0"],
        ["eval", "maf_moons", "--data", "d.npz", "--examples", "0"],
        ["predict", "videoflow_shapes", "--data", "d.npz", "--videos", "0"],
        ["train", "glow", "--data", "d.npz", "--batch-size", "-2"],
    ],
)
def test_counts_below_one_are_refused_before_anything_runs(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert f"argument {argv[-2]}: must be >= 1, got {argv[-1]}" in capsys.readouterr().err


def test_debug_shows_the_traceback_in_either_position(tmp_path, capsys):
    for argv in (["--debug", "sample", str(tmp_path)], ["sample", str(tmp_path), "--debug"]):
        with pytest.raises(FileNotFoundError, match="not a finished training run"):
            cli.main(argv)


def test_an_unexpected_error_is_one_line_that_points_to_debug(monkeypatch, capsys):
    def broken(args):
        raise KeyError("levels")

    monkeypatch.setattr(cli, "_zoo", broken)
    status, err = error_of(capsys, ["zoo", "list"])
    assert status == 1
    assert err == (
        "tfflows zoo: unexpected KeyError: 'levels' (run again with --debug for the traceback)\n"
    )


def test_ctrl_c_exits_130_in_one_line(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_zoo", interrupted)
    assert error_of(capsys, ["zoo", "list"]) == (130, "tfflows zoo: interrupted\n")
