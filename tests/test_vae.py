"""The VAE with flow posteriors (tfflows.models.VAE), on tiny models: its ELBO against an
independent computation with an autodiff log-det, importance sampling against a closed-form
log p(x), flow posteriors against the diagonal one on a non-Gaussian posterior, the
conditional VAE, bad input, saving, and training under tfflows.train with a resume."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfflows
from tfflows.models import VAE, build_model, model_config
from tfflows.models.vae_posterior import POSTERIORS

X = (np.random.default_rng(0).random((5, 6)) > 0.5).astype(np.float32)


def tiny(posterior="diagonal", **kwargs):
    """A tiny VAE over 6 binary pixels with every weight random (the zero-initialised
    output layers would make p(x|z) constant and hide mistakes)."""
    keras.utils.set_random_seed(0)
    settings = dict(
        num_flows=2, hidden_units=(8,), iaf_units=(8,), context_units=4, num_householder=2
    )
    model = VAE((6,), 3, posterior=posterior, **{**settings, **kwargs})
    rng = np.random.default_rng(1)
    for v in model.trainable_variables:
        v.assign(rng.normal(0.0, 0.5, v.shape).astype(np.float32))
    return model


def log_normal(z):
    return np.sum(-0.5 * z**2 - 0.5 * math.log(2 * math.pi), axis=-1)


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_elbo_equals_an_independent_computation_with_the_autodiff_log_det(posterior):
    model = tiny(posterior)
    seed = tf.constant([3, 4], tf.int64)
    # The draw the model makes: eps from the same stateless seed, z0 = mu + sigma eps.
    eps = tf.random.stateless_normal([len(X), 3], seed, alg="philox")
    mu, log_sigma, raw, context = model.encoder(tf.constant(X))
    z0 = mu + tf.exp(log_sigma) * eps
    params = model.flow.parameters(raw)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z = model.flow(z0, params, context)[0]  # the model's log-det is not used
    jac = tape.batch_jacobian(z, z0).numpy().astype(np.float64)
    log_det = np.linalg.slogdet(jac)[1]
    log_q = log_normal(eps.numpy()) - np.sum(log_sigma.numpy(), -1) - log_det
    p = model.decode(z).numpy().astype(np.float64)
    log_px = np.sum(X * np.log(p) + (1 - X) * np.log1p(-p), -1)
    expected = log_px + log_normal(z.numpy().astype(np.float64)) - log_q
    np.testing.assert_allclose(model.elbo(X, seed=seed).numpy(), expected, rtol=1e-4, atol=1e-4)
    if posterior != "diagonal":  # the flow is not the identity, so the test tests it
        assert np.max(np.abs(log_det)) > 1e-3
    z_enc, log_q_enc = model.encode(X, seed=seed)
    np.testing.assert_allclose(z_enc.numpy(), z.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_q_enc.numpy(), log_q, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("posterior", ["diagonal", "planar", "sylvester_orthogonal"])
def test_importance_sampled_likelihood_is_above_the_elbo_on_average(posterior):
    model = tiny(posterior)
    elbo = np.mean([model.elbo(X, seed=s).numpy() for s in range(20)], axis=0)
    ll = model.log_likelihood(X, num_samples=500, seed=1, max_rows=600).numpy()
    assert ll.shape == (len(X),) and np.all(ll < 0)
    assert ll.mean() > elbo.mean() + 0.05


def linear_gaussian():
    """p(z) = N(0, I2), p(x|z) = N(z W + b, s^2 I3) with s = 0.5, set by hand:
    log p(x) = log N(x; b, W^T W + s^2 I). The linear encoder gives q the exact posterior's
    mean, (x - b) W^T S / s^2 with S = (I + W W^T / s^2)^-1, and a round scale 1.5 times the
    posterior's widest, so the importance weights are bounded."""
    keras.utils.set_random_seed(0)
    model = VAE((3,), 2, likelihood="gaussian", hidden_units=(), decoder_units=())
    w = np.array([[1.0, -0.5, 0.3], [0.2, 0.8, -1.0]])
    b = np.array([0.1, -0.2, 0.3])
    model.decoder.out.kernel.assign(w.astype(np.float32))
    model.decoder.out.bias.assign(b.astype(np.float32))
    model.pixel_log_scale.assign(np.full(3, math.log(0.5), np.float32))
    post_cov = np.linalg.inv(np.eye(2) + w @ w.T / 0.25)
    gain = w.T @ post_cov / 0.25
    width = 1.5 * math.sqrt(np.linalg.eigvalsh(post_cov).max())
    kernel = np.concatenate([gain, np.zeros((3, 2))], axis=1)
    bias = np.concatenate([-b @ gain, np.full(2, math.log(width))])
    model.encoder.gaussian.kernel.assign(kernel.astype(np.float32))
    model.encoder.gaussian.bias.assign(bias.astype(np.float32))
    return model, b, w.T @ w + 0.25 * np.eye(3)


def test_importance_sampling_tends_to_the_exact_likelihood_of_a_linear_gaussian_model():
    model, b, cov = linear_gaussian()
    x = np.random.default_rng(2).multivariate_normal(b, cov, 4).astype(np.float32)
    d = x - b
    exact = -0.5 * (
        np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
        + np.linalg.slogdet(cov)[1]
        + 3 * math.log(2 * math.pi)
    )
    errors = {
        k: np.abs(model.log_likelihood(x, num_samples=k, seed=0, max_rows=8000).numpy() - exact)
        for k in (1, 10, 20000)
    }
    elbo = np.mean([model.elbo(x, seed=s).numpy() for s in range(200)], axis=0)
    assert np.all(elbo < exact - 0.1)
    assert np.max(errors[20000]) < 0.01
    assert np.mean(errors[1]) > np.mean(errors[10]) > np.mean(errors[20000])


# A posterior with exact log p(x) that no Gaussian fits: p(x|z) = N(x; z2 - |z1|, 0.2^2), x = 0
# puts it on a V-shaped ridge. The decoder is set by hand and frozen; log p(x) by quadrature.
RIDGE_NOISE = 0.2


def ridge_model(posterior):
    keras.utils.set_random_seed(1)
    model = VAE(
        (1,),
        2,
        posterior=posterior,
        num_flows=4,
        likelihood="gaussian",
        hidden_units=(8,),
        decoder_units=(4,),
        iaf_units=(16,),
        context_units=8,
        num_householder=2,
    )
    hidden = np.array([[1, -1, 0, 0], [0, 0, 1, -1]], np.float32)  # relu(+-z1), relu(+-z2)
    model.decoder.hidden[0].kernel.assign(hidden)
    model.decoder.hidden[0].bias.assign(np.zeros(4, np.float32))
    model.decoder.out.kernel.assign(np.array([[-1], [-1], [1], [-1]], np.float32))
    model.decoder.out.bias.assign(np.zeros(1, np.float32))
    model.pixel_log_scale.assign(np.full(1, math.log(RIDGE_NOISE), np.float32))
    model.decoder.trainable = False
    model.pixel_log_scale.trainable = False
    return model


def ridge_log_px(x=0.0):
    g = np.linspace(-6, 6, 601)
    z1, z2 = np.meshgrid(g, g)
    r = (x - (z2 - np.abs(z1))) / RIDGE_NOISE
    log_joint = (
        -0.5 * r**2 - math.log(RIDGE_NOISE) - 0.5 * (z1**2 + z2**2) - 1.5 * math.log(2 * math.pi)
    )
    top = log_joint.max()
    return top + math.log(np.exp(log_joint - top).sum()) + 2 * math.log(g[1] - g[0])


_GAPS = {}


def ridge_gap(posterior):
    """log p(0) - ELBO(0) after 300 Adam steps of the encoder (64 draws a step)."""
    if posterior not in _GAPS:
        model = ridge_model(posterior)
        optimizer = keras.optimizers.Adam(1e-2)
        x = np.zeros((64, 1), np.float32)
        variables = model.trainable_variables

        @tf.function
        def step(i):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.nll(x, seed=tf.stack([tf.constant(0, tf.int64), i])))
            optimizer.apply(tape.gradient(loss, variables), variables)

        for i in range(300):
            step(tf.constant(i, tf.int64))
        elbo = model.elbo(np.zeros((4000, 1), np.float32), seed=7).numpy().mean()
        _GAPS[posterior] = ridge_log_px() - elbo
    return _GAPS[posterior]


@pytest.mark.parametrize("posterior", POSTERIORS[1:])
def test_a_flow_posterior_closes_more_of_the_gap_than_the_diagonal_one(posterior):
    diagonal, flow = ridge_gap("diagonal"), ridge_gap(posterior)
    # The ELBO is a bound: both gaps are >= 0 up to the Monte-Carlo error of 4000 draws.
    assert diagonal > 1.0 and flow > -0.02
    assert flow < 0.75 * diagonal, (posterior, flow, diagonal)


def test_the_conditional_vae_samples_depend_on_the_label_and_infer_labels():
    model = tiny(num_classes=3)
    a = model.sample(4, condition=[0] * 4, seed=5).numpy()
    b = model.sample(4, condition=[2] * 4, seed=5).numpy()
    assert a.shape == (4, 6) and np.all((a >= 0) & (a <= 1))
    np.testing.assert_array_equal(a, model.sample(4, condition=[0] * 4, seed=5).numpy())
    assert np.max(np.abs(a - b)) > 0.05
    # Labels set the pixels: class k lights pixels 3k..3k+2 (with 5% flips), so only a
    # model that learned the dependence can tell them apart.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = np.zeros((400, 6), np.float32)
    x[y == 0, :3] = 1
    x[y == 1, 3:] = 1
    x = np.abs(x - (rng.random(x.shape) < 0.05)).astype(np.float32)
    keras.utils.set_random_seed(0)
    cvae = VAE((6,), 2, num_classes=2, hidden_units=(16,))
    cvae.compile(keras.optimizers.Adam(1e-2))
    cvae.fit(x, y, batch_size=50, epochs=15, verbose=0)
    accuracy = np.mean(cvae.classify(x[:100], num_samples=8).numpy() == y[:100])
    assert accuracy > 0.9
    drawn = cvae.sample(200, condition=[1] * 200, seed=0).numpy()
    assert drawn[:, 3:].mean() > drawn[:, :3].mean() + 0.5


def test_bad_input_is_refused_with_a_clear_message():
    model = tiny()
    with pytest.raises(ValueError, match="binary data"):
        model.elbo(np.full((2, 6), 0.5, np.float32))
    with pytest.raises(ValueError, match="shape"):
        model.elbo(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="rank"):
        model.elbo(np.zeros(6, np.float32))
    with pytest.raises(ValueError, match="unconditional"):
        model.elbo(X, condition=[0] * 5)
    with pytest.raises(ValueError, match="decode takes z"):
        model.decode(np.zeros((2, 2), np.float32))
    cvae = tiny(num_classes=3)
    with pytest.raises(ValueError, match="labels|0..2|range"):
        cvae.elbo(X, condition=[0, 1, 2, 3, 0])
    with pytest.raises(ValueError, match="conditional"):
        cvae.elbo(X)
    with pytest.raises(ValueError, match="classify needs"):
        model.classify(X)
    logistic = VAE((6,), 2, likelihood="discretized_logistic", hidden_units=(4,))
    with pytest.raises(ValueError, match="k/255"):
        logistic.elbo(np.full((2, 6), 2.0, np.float32))
    gaussian = VAE((6,), 2, likelihood="gaussian", hidden_units=(4,))
    for pixels in (np.full((2, 6), 200, np.uint8), tf.constant(np.full((2, 6), 200, np.int32))):
        with pytest.raises(ValueError, match="Gaussian VAE models real values.*255"):
            gaussian.elbo(pixels)
        with pytest.raises(ValueError, match="Gaussian VAE models real values"):
            gaussian.fit(pixels, verbose=0)
    assert np.isfinite(gaussian.elbo(np.full((2, 6), 0.5, np.float32)).numpy()).all()
    z_and_log_q = model.encode(X, seed=0)
    with pytest.raises(ValueError, match=r"encode returns \(z, log_q\)"):
        model.decode(z_and_log_q)
    np.testing.assert_allclose(model.decode(z_and_log_q[0]), model.reconstruct(X, seed=0))
    two_latents = [[0.0, 0.5, -0.5], [0.1, 0.2, 0.3]]  # a list of 2 rows is a batch, not (z, log_q)
    np.testing.assert_allclose(model.decode(two_latents), model.decode(np.array(two_latents)))
    with pytest.raises(ValueError, match="posterior must be one of"):
        VAE((6,), 2, posterior="radial")
    with pytest.raises(ValueError, match="likelihood must be one of"):
        VAE((6,), 2, likelihood="poisson")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE((6,), 0)


def test_the_discretized_logistic_is_a_distribution_over_256_levels():
    from tfflows.models.vae_likelihoods import log_likelihood

    levels = tf.constant(np.arange(256, dtype=np.float32)[:, None] / 255.0)
    for mean, log_scale in ((0.3, -2.0), (0.99, -5.0), (0.0, 1.0)):
        out = tf.fill([256, 1], mean)
        log_p = log_likelihood("discretized_logistic", levels, out, tf.constant([log_scale]))
        assert abs(float(tf.reduce_logsumexp(log_p))) < 1e-4


@pytest.mark.parametrize("posterior", ["iaf", "sylvester_householder"])
def test_config_round_trip_and_keras_file_give_equal_elbos(posterior, tmp_path):
    model = tiny(posterior, num_classes=2)
    labels = [0, 1, 1, 0, 1]
    want = model.elbo(X, labels, seed=9).numpy()
    again = VAE.from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again.elbo(X, labels, seed=9).numpy(), want, rtol=1e-6)
    rebuilt = build_model(model_config(model))
    assert isinstance(rebuilt, VAE) and rebuilt.posterior == posterior
    path = str(tmp_path / "vae.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.elbo(X, labels, seed=9).numpy(), want, rtol=1e-6)
    assert isinstance(build_model("vae", input_shape=(6,), latent_dim=2), VAE)
    assert tfflows.models.for_data("vae", X, latent_dim=2).data_shape == (6,)


def train_vae(out_dir, steps):
    keras.utils.set_random_seed(0)
    model = VAE((6,), 2, posterior="planar", num_flows=2, hidden_units=(8,), warmup_steps=10)
    data = np.tile(X, (8, 1))
    settings = dict(batch_size=8, checkpoint_every=1, xla=False, progress=False, samples=0)
    return tfflows.train(model, data, X, out_dir=str(out_dir), steps=steps, **settings)


def test_a_three_step_run_resumes_with_its_kl_warm_up(tmp_path):
    first = train_vae(tmp_path / "run", 3)
    assert first.summary["steps"] == 3
    assert float(first.model.update_count.numpy()) == 3.0
    assert abs(float(first.model.beta()) - 0.3) < 1e-6
    test = first.summary["test"]
    assert {"reconstruction", "kl", "negative_elbo"} <= set(test)
    # Scored on -ELBO with the full KL, not on the warm-up's loss (beta = 0.3 here).
    assert test["nll"] == pytest.approx(test["negative_elbo"], rel=1e-6)
    assert test["negative_elbo"] == pytest.approx(test["reconstruction"] + test["kl"], rel=1e-5)
    assert test["kl"] > 0.1
    resumed = train_vae(tmp_path / "run", 5).model
    straight = train_vae(tmp_path / "straight", 5).model
    assert float(resumed.update_count.numpy()) == 5.0
    for a, b in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("posterior", POSTERIORS)
def test_the_loss_traces_to_the_eager_values_and_compiles_under_xla(posterior):
    model = tiny(posterior, num_classes=2)
    seed = tf.constant([1, 2], tf.int64)
    args = (tf.constant(X), tf.constant([0, 1, 1, 0, 1]))
    eager = model.loss_terms(*args, seed=seed)
    graph = tf.function(model.loss_terms)(*args, seed=seed)
    # XLA's stateless philox draws other numbers than the eager kernel here (measured on
    # TF 2.21 CPU), so the compiled loss is checked for shape and finiteness only.
    compiled = tf.function(model.loss_terms, jit_compile=True)(*args, seed=seed)
    for name in ("reconstruction", "kl", "loss"):
        np.testing.assert_allclose(graph[name].numpy(), eager[name].numpy(), rtol=1e-5, atol=1e-5)
        assert compiled[name].shape == (5,) and np.all(np.isfinite(compiled[name].numpy()))


def test_keras_evaluate_scores_the_full_negative_elbo_during_warm_up():
    model = tiny("diagonal", warmup_steps=100)
    model.compile(optimizer="adam")
    assert float(model.beta()) == 0.0
    logs = model.evaluate(X, batch_size=len(X), verbose=0, return_dict=True)
    terms = model.loss_terms(X, seed=tf.constant([0, 0]))
    np.testing.assert_allclose(
        logs["nll"], float(tf.reduce_mean(terms["negative_elbo"])), rtol=1e-5
    )


def test_an_input_shape_that_the_data_contradicts_is_refused_by_name():
    from tfflows import models

    data = np.tile(X, (2, 1))
    assert models.for_data("vae", data, input_shape=[6]).data_shape == (6,)
    with pytest.raises(ValueError, match="input_shape=.*examples have shape \\(6,\\)"):
        models.for_data("vae", data, input_shape=[28, 28, 1])


def test_cli_eval_refuses_grey_levels_instead_of_scoring_nan(tmp_path, capsys):
    from tfflows.cli import main

    run = tmp_path / "run"
    train_vae(run, 2)
    grey = np.random.default_rng(0).random((10, 6)).astype(np.float32)
    np.savez(tmp_path / "grey.npz", x_train=grey, x_test=grey)
    np.savez(tmp_path / "binary.npz", x_train=X, x_test=X)
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(tmp_path / "grey.npz")]) != 0
    assert "a Bernoulli VAE models binary data" in capsys.readouterr().err
    assert main(["eval", str(run), "--data", str(tmp_path / "binary.npz")]) == 0
    assert np.isfinite(json.loads(capsys.readouterr().out)["negative_elbo"])
