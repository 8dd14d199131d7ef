"""The `make run` demo: the command line trains a flow and writes its picture."""

import pathlib
import subprocess

import numpy as np
from PIL import Image

from tfflows import cli
from tfflows.cli import demo
from tfflows.data import toy_data


def test_demo_cli_lowers_the_nll_and_writes_a_png(tmp_path):
    test = toy_data.two_moons(2000, seed=1)
    # The untrained flow is the identity: its NLL is the standard normal's.
    start = -float(np.mean(demo.build_flow().log_prob(test)))
    expected_start = np.mean(0.5 * np.sum(test**2, axis=1) + np.log(2 * np.pi))
    np.testing.assert_allclose(start, expected_start, rtol=1e-5)

    out = tmp_path / "moons.png"
    trained = demo.main(out=str(out), num_steps=300)
    assert trained < start - 0.5, f"300 steps moved the NLL from {start:.3f} to {trained:.3f}"
    with Image.open(out) as image:
        assert image.size == (1200, 400)


def test_cli_parses_the_demo_command():
    args = cli.build_parser().parse_args(["demo", "--out", "x.png", "--steps", "7"])
    assert (args.func, args.out, args.steps) == (cli._demo, "x.png", 7)


def test_make_run_loads_maf_moons_from_the_zoo_and_matches_its_card(tmp_path):
    from tfflows import zoo

    out = tmp_path / "moons.png"
    cli.main(["demo", "--zoo", "maf_moons", "--out", str(out)])
    assert out.stat().st_size > 10_000
    nll = demo.zoo_main("maf_moons", out=str(tmp_path / "again.png"))
    # the same 5,000 test points the preset's measured number was taken on
    assert abs(nll - zoo.info("maf_moons")["metrics"]["test_nll_nats"]) < 1e-3


def test_make_run_samples_glow_celeba_like_its_card_and_scores_faces(tmp_path, capsys):
    import pathlib

    from tests.conftest import SHARED_DATA
    from tfflows import zoo
    from tfflows.training import evaluate_model

    card_grid = pathlib.Path(zoo.info("glow_celeba")["card"]).parent / "samples_t0.7.png"
    faces = np.random.default_rng(0).integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    data = tmp_path / "faces.npz"
    np.savez(data, x=faces, celeba_id=np.arange(30))  # test split: ids 0, 10, 20
    out = tmp_path / "grid.png"
    cli.main(["demo", "--zoo", "glow_celeba", "--out", str(out), "--data", str(data)])
    printed = capsys.readouterr().out
    # The grid is the card's picture: same seed, temperature and layout. (A pixel may differ
    # by rounding on another CPU's kernels.)
    a = np.asarray(Image.open(out), np.int16)
    b = np.asarray(Image.open(card_grid), np.int16)
    assert a.shape == b.shape == (548, 548, 3)
    assert np.mean(a == b) > 0.99 and np.abs(a - b).max() <= 2
    expected = evaluate_model(zoo.load("glow_celeba"), faces[::10])["bits_per_dim"]
    assert f"{expected:.4f} bits/dim on 3 real test faces" in printed
    assert expected > 6.0  # uniform noise is far from a face

    real = SHARED_DATA / "celeba32.npz"
    if real.exists():
        result = demo.faces_main("glow_celeba", out=str(tmp_path / "g2.png"), data=str(real))
        # 256 real test faces score close to the card's 3.866 over all 2,546.
        assert 3.6 < result["bits_per_dim"] < 4.1


def test_demo_of_an_mnist_preset_scores_its_own_data_not_faces(tmp_path, capsys):
    from tfflows import zoo
    from tfflows.training import evaluate_model

    digits = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=digits, x_test=digits)
    demo.faces_main("glow_mnist", out=str(tmp_path / "none.png"))
    assert "score real images with: tfflows eval glow_mnist" in capsys.readouterr().out
    result = demo.faces_main("glow_mnist", out=str(tmp_path / "g.png"), data=str(data))
    expected = evaluate_model(zoo.load("glow_mnist"), digits[..., None])["bits_per_dim"]
    np.testing.assert_allclose(result["bits_per_dim"], expected, rtol=1e-6)
    assert "real test images" in capsys.readouterr().out


def test_the_demo_looks_for_faces_only_where_the_user_says(tmp_path, monkeypatch):
    """--data, $TFFLOWS_DATA and ./celeba32.npz; never a folder next to the checkout."""
    shared = tmp_path / "shared" / "data" / "celeba32.npz"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.delenv("TFFLOWS_DATA", raising=False)
    assert demo.find_faces() is None  # ../shared/data/celeba32.npz exists, but is not named
    monkeypatch.setenv("TFFLOWS_DATA", str(shared.parent))
    assert demo.find_faces() == shared
    monkeypatch.delenv("TFFLOWS_DATA")
    (here / "celeba32.npz").write_bytes(b"")
    assert demo.find_faces() == pathlib.Path("celeba32.npz")
    assert demo.find_faces(str(shared)) == shared


def test_make_run_passes_the_shared_faces_only_when_they_exist(tmp_path):
    """`make run` on a fresh machine (no ../shared) runs the demo without --data."""
    root = pathlib.Path(__file__).resolve().parents[1]
    faces = tmp_path / "celeba32.npz"

    def run_command(celeba):
        dry = subprocess.run(
            ["make", "-n", "-s", "run", f"VENV={tmp_path / 'venv'}", f"CELEBA={celeba}"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        return [line for line in dry.stdout.splitlines() if "tfflows.cli demo" in line]

    (absent,) = run_command(faces)
    assert absent.split()[-4:] == ["--zoo", "glow_celeba", "--out", "out/glow_celeba.png"]
    faces.write_bytes(b"")
    (present,) = run_command(faces)
    assert present.split()[-6:] == [
        "--zoo",
        "glow_celeba",
        "--out",
        "out/glow_celeba.png",
        "--data",
        str(faces),
    ]
