"""bench/vae_training.py times the VAE it claims to, and its PyTorch peer is that VAE too.

No timing is asserted. The PyTorch parts are skipped where torch is not installed (CI has
none); the authors' code (github.com/riannevdberg/sylvester-flows) is used where the
environment variable SYLVESTER_FLOWS names a checkout of it.
"""

import ast
import importlib.util
import math
import os
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from bench import vae_training as vt
from tfflows.models import VAE

TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not TORCH, reason="torch not installed (pip install -e .[bench])")
SYLVESTER = os.environ.get("SYLVESTER_FLOWS")
REPO = pathlib.Path(__file__).resolve().parents[1]


def trainable(model) -> int:
    return sum(math.prod(v.shape) for v in model.trainable_variables)


def recipe():
    path = REPO / "zoo" / "recipes" / "vae_mnist.py"
    spec = importlib.util.spec_from_file_location("vae_mnist_recipe", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(items) -> dict:
    out = {}
    for item in items:
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def test_settings_are_the_zoo_recipes():
    r = recipe()
    assert set(vt.POSTERIORS) == set(r.POSTERIORS)
    for posterior, items in r.POSTERIORS.items():
        s = vt.settings(posterior)
        for key, value in {**parse(r.COMMON), **parse(items)}.items():
            assert s[key] == value, (posterior, key)
    command = r.train_command("d.npz", "out", [], 1, 0)
    assert command[command.index("--batch-size") + 1] == str(vt.BATCH)
    assert float(command[command.index("--lr") + 1]) == 1e-3


@pytest.mark.parametrize("posterior", list(vt.POSTERIORS))
def test_raw_flow_parameters_are_laid_out_as_tfflows(posterior):
    s = vt.settings(posterior)
    model = VAE(vt.SHAPE, **s)
    steps = 0 if posterior == "diagonal" else s["num_flows"]
    per_step = sum(math.prod(shape) for shape in vt.raw_shapes(s).values())
    assert steps * per_step == model.flow.raw_size


def randomize(model, seed=1):
    """Random weights instead of the zero-initialised identity (the decoder's last layer
    starts at zero, which makes every batch and every draw score alike)."""
    rng = np.random.default_rng(seed)
    for v in model.trainable_variables:
        scale = 1.0 / math.sqrt(v.shape[0]) if len(v.shape) == 2 else 0.3
        v.assign(rng.normal(0.0, scale, v.shape).astype(np.float32))
    return rng


@pytest.mark.parametrize(
    "posterior,variant",
    # One runner serves every posterior: a flow-free, a planar and a Sylvester one suffice.
    [(p, "traced") for p in ("diagonal", "planar", "sylvester_householder")]
    + [("sylvester_householder", "xla")],
)
def test_tfflows_runner_steps_train_the_models_loss(posterior, variant):
    x = (np.random.default_rng(0).random((64, *vt.SHAPE)) < 0.5).astype(np.float32)
    runner = vt.tfflows_runner(posterior, variant, x, quick=True)
    model, train = runner.model, runner.measures["train"]
    assert runner.params == trainable(model)
    assert int(model.optimizer.iterations) == 1  # fit's warm-up step
    randomize(model)
    train(), train()  # batches 0 and 1 of the timed iterator
    for metric in model.metrics:
        metric.reset_state()

    # XLA's stateless philox draws other numbers than TensorFlow's kernel, so the expected
    # value comes from the same compiler; the seed is an argument, not a folded constant.
    @tf.function(jit_compile=variant == "xla")
    def mean_loss(xb, seed):
        return tf.reduce_mean(model.loss_terms(xb, seed=seed)["loss"])

    # The next step trains on batch 2 with fit's seed (iterations, replica + 1).
    batch = vt.batch_size(quick=True)
    xb = tf.constant(x[2 * batch : 3 * batch])
    expected = float(mean_loss(xb, tf.constant([3, 1])))
    other_draw = float(mean_loss(xb, tf.constant([3, 2])))
    other_batch = float(mean_loss(tf.constant(x[:batch]), tf.constant([3, 1])))
    loss = train()
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    # ... which another draw or another batch would miss (by 10x the tolerance at least).
    assert abs(loss - other_draw) > 1e-4 * loss and abs(loss - other_batch) > 1e-4 * loss
    losses = [train() for _ in range(3)]
    assert np.all(np.isfinite(losses))
    assert int(model.optimizer.iterations) == 7


def _set_masked(layer, kernel, bias, mask):
    import torch

    layer.weight.copy_(torch.from_numpy(kernel))
    layer.bias.copy_(torch.from_numpy(bias))
    pieces = vt.torch_models()
    if isinstance(layer, pieces.OwnMaskedLinear):
        np.testing.assert_array_equal(layer.mask.numpy(), mask)  # tfflows' degrees already
    else:
        # The authors' MaskedLinear has block masks; tfflows' are put in to compare values
        # (the same sizes and cost either way).
        layer.mask = torch.tensor(mask, dtype=torch.float32)


def copy_weights(model, torch_model):
    """tfflows' weights into the torch model of `vt.torch_models().MatchedVAE`."""
    import torch

    def dense(linear, layer):
        linear.weight.copy_(torch.from_numpy(layer.kernel.numpy().T))
        linear.bias.copy_(torch.from_numpy(layer.bias.numpy()))

    def linears(sequential):
        return [m for m in sequential if isinstance(m, torch.nn.Linear)]

    with torch.no_grad():
        for linear, layer in zip(linears(torch_model.body), model.encoder.hidden, strict=True):
            dense(linear, layer)
        dense(torch_model.gaussian, model.encoder.gaussian)
        if torch_model.flow_head is not None:
            dense(torch_model.flow_head, model.encoder.flow)
        if torch_model.context is not None:
            dense(torch_model.context[0], model.encoder.context)
        decoder = [*model.decoder.hidden, model.decoder.out]
        for linear, layer in zip(linears(torch_model.decoder), decoder, strict=True):
            dense(linear, layer)
        size = model.latent_dim
        mades = getattr(torch_model, "mades", [])
        for made, keras_made in zip(mades, model.flow.mades, strict=True):
            for layer, k in zip(made.hidden, keras_made.hidden, strict=True):
                _set_masked(layer, k.kernel.numpy(), k.bias.numpy(), k.mask)
            made.cond.weight.copy_(torch.from_numpy(keras_made.cond_proj.kernel.numpy().T))
            out = keras_made.out
            kernel, bias, mask = out.kernel.numpy(), out.bias.numpy(), out.mask
            _set_masked(made.shift, kernel[:, :size], bias[:size], mask[:, :size])
            _set_masked(made.log_scale, kernel[:, size:], bias[size:], mask[:, size:])


@needs_torch
@pytest.mark.parametrize("pieces_from", ["own", "authors"])
@pytest.mark.parametrize("posterior", list(vt.POSTERIORS))
def test_torch_matched_vae_computes_tfflows_terms(posterior, pieces_from):
    """With tfflows' weights and noise, the PyTorch VAE gives tfflows' -log p(x|z) and KL."""
    import torch

    if pieces_from == "authors" and not SYLVESTER:
        pytest.skip("SYLVESTER_FLOWS does not name a checkout of sylvester-flows")
    theirs = vt.import_sylvester(SYLVESTER) if pieces_from == "authors" else None
    s = vt.settings(posterior, quick=True)
    keras.utils.set_random_seed(0)
    model = VAE(vt.SHAPE, **s)
    rng = randomize(model)
    torch_model = vt.torch_models().MatchedVAE(s, theirs)
    assert vt.count_torch(torch_model) == trainable(model)
    copy_weights(model, torch_model)
    x = (rng.random((8, *vt.SHAPE)) < 0.5).astype(np.float32)
    seed = tf.constant([0, 7], tf.int64)
    terms = model.loss_terms(x, seed=seed)
    eps = tf.random.stateless_normal([8, s["latent_dim"]], seed, alg="philox")
    with torch.no_grad():
        ours = torch_model.loss_terms(
            torch.from_numpy(x.reshape(8, -1)), torch.from_numpy(eps.numpy())
        )
    for name in ("reconstruction", "kl"):
        np.testing.assert_allclose(
            ours[name].numpy(), terms[name].numpy(), rtol=1e-4, atol=1e-3, err_msg=name
        )


@needs_torch
@pytest.mark.parametrize("posterior", list(vt.POSTERIORS))
def test_parameter_counts_at_the_recipes_sizes(posterior):
    s = vt.settings(posterior)
    expected = trainable(VAE(vt.SHAPE, **s))
    pieces = vt.torch_models()
    assert vt.count_torch(pieces.MatchedVAE(s)) == expected
    if not SYLVESTER:
        return
    theirs = vt.import_sylvester(SYLVESTER)
    assert vt.count_torch(pieces.MatchedVAE(s, theirs)) == expected
    paper = vt.count_torch(pieces.paper_model(s, theirs)[0])
    if posterior in ("diagonal", "planar"):
        assert paper == expected
    elif posterior.startswith("sylvester"):
        # Their R1 and R2 share one M x M output (+ two diagonals of M); tfflows gives each
        # a full M x M, of which it uses the upper triangle (the docstring's difference).
        m, hidden = s["sylvester_columns"], s["hidden_units"][-1]
        assert expected - paper == s["num_flows"] * (m * m - 2 * m) * (hidden + 1)


@needs_torch
@pytest.mark.parametrize("variant", ["matched", "paper"])
@pytest.mark.parametrize("posterior", list(vt.POSTERIORS))
def test_torch_runners_train(posterior, variant):
    if variant == "paper" and not SYLVESTER:
        pytest.skip("SYLVESTER_FLOWS does not name a checkout of sylvester-flows")
    x = (np.random.default_rng(0).random((64, *vt.SHAPE)) < 0.5).astype(np.float32)
    runner = vt.torch_runner(posterior, variant, x, quick=True, sylvester_repo=SYLVESTER)
    train = runner.measures["train"]
    if variant == "paper" and posterior == "sylvester_orthogonal":
        # Their orthogonalisation reads `torch.max(norms).data[0]` (PyTorch < 0.4 only).
        with pytest.raises(IndexError):
            train()
        return
    losses = [train() for _ in range(3)]
    assert np.all(np.isfinite(losses)), losses


@pytest.mark.slow
def test_quick_run_writes_its_tables(tmp_path):
    report = vt.main(
        ["--quick", "--posteriors", "planar", "--repeats", "2", "--seconds", "0.05"]
        + ["--out", str(tmp_path)]
    )
    runs = report["posteriors"]["planar"]["runs"]
    counts = {name: r["parameters"] for name, r in runs.items()}
    s = vt.settings("planar", quick=True)
    assert counts["tfflows/traced"] == trainable(VAE(vt.SHAPE, **s))
    assert len(set(counts.values())) == 1, counts
    if TORCH:
        assert "torch/matched" in runs
    else:
        assert "torch/matched" in report["failed_runs"]
    for name, r in runs.items():
        assert len(r["all"]) == 2 and r["orders"] == ["forward", "reverse"]
        assert np.isfinite(r["last_loss"])
        # One framework per process.
        imports = report["imports"][name]
        assert not imports[
            "torch_imported" if name.startswith("tfflows") else "tensorflow_imported"
        ]
    assert (tmp_path / "vae_training.json").exists()
    assert "| planar |" in (tmp_path / "vae_training.md").read_text()
