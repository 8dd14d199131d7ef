"""Parallel WaveNet's student and probability density distillation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfflows
from tfflows.distill import DensityDistillation, gaussian_kl, power_loss
from tfflows.models import ParallelWaveNet, WaveNet


def _randomized(models, seed=0, scale=0.2):
    rng = np.random.default_rng(seed)
    for model in models:
        for v in model.trainable_variables:
            v.assign(v.numpy() + scale * rng.standard_normal(v.shape).astype(v.dtype))


def _pair(num_classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    small = dict(residual_channels=6, gate_channels=5, skip_channels=7)
    teacher = WaveNet(**small, layers_per_cycle=3, cycles=1, num_classes=num_classes)
    student = ParallelWaveNet(num_flows=2, layers_per_flow=3, num_classes=num_classes, **small)
    _randomized([teacher, student], seed)
    return student, teacher


def test_closed_form_gaussians_are_what_the_flows_compute():
    student, _ = _pair()
    z = student.draw_noise(3, 12, seed=0)
    c = tf.one_hot([0, 2, 1], 3)
    x, mu, log_scale = student.transform(z, c)
    np.testing.assert_allclose(x, z * tf.exp(log_scale) + mu, atol=1e-6)
    np.testing.assert_allclose(student.bijector(c).forward(z), x, atol=1e-6)
    # mu_t and s_t depend on z_<t only: changing z_t moves x_t by s_t * dz and nothing before.
    bumped = z.numpy().copy()
    bumped[:, 5] += 1.0
    x2, mu2, log_scale2 = (v.numpy() for v in student.transform(tf.constant(bumped), c))
    np.testing.assert_allclose(mu2[:, :6], mu.numpy()[:, :6], atol=1e-6)
    np.testing.assert_allclose(log_scale2[:, :6], log_scale.numpy()[:, :6], atol=1e-6)
    np.testing.assert_allclose(
        x2[:, 5] - x.numpy()[:, 5], np.exp(log_scale.numpy()[:, 5]), rtol=1e-4
    )


def test_sample_and_log_prob_is_base_minus_the_autodiff_log_det():
    student, _ = _pair()
    x, log_q = student.sample_and_log_prob(2, 10, seed=3, condition=[1, 2])
    z = student.draw_noise(2, 10, seed=3)
    c = tf.one_hot([1, 2], 3)
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = student.bijector(c).forward(z)
    np.testing.assert_allclose(y, x, atol=1e-6)
    jacobian = tape.batch_jacobian(y, z).numpy().astype(np.float64)
    log_det = np.linalg.slogdet(jacobian)[1]
    base = np.sum(-0.5 * np.log(2 * np.pi) - 0.5 * z.numpy().astype(np.float64) ** 2, axis=1)
    np.testing.assert_allclose(log_q, base - log_det, rtol=1e-5, atol=1e-4)
    # The slow inverse scores the same samples the same way.
    np.testing.assert_allclose(student.log_prob(x, [1, 2]), log_q, rtol=1e-4, atol=1e-3)


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    """KL(q || p) over whole clips = E_q[log q(x) - log p(x)]: the sum of per-step closed
    forms must agree with the plain Monte-Carlo average within its standard error."""
    student, teacher = _pair(num_classes=None, seed=2)
    n, length = 4000, 8
    noise = student.draw_noise(n, length, seed=11)
    x, mu_q, log_scale_q = student.transform(noise)
    base = tf.reduce_sum(-0.5 * np.log(2 * np.pi) - 0.5 * tf.square(noise), axis=1)
    log_q = base - tf.reduce_sum(log_scale_q, axis=1)
    mu_p, log_scale_p = teacher.gaussians(x)
    z_p = (x - mu_p) * tf.exp(-log_scale_p)
    log_p = tf.reduce_sum(-0.5 * np.log(2 * np.pi) - 0.5 * tf.square(z_p) - log_scale_p, axis=1)
    monte_carlo = (log_q - log_p).numpy()
    closed = tf.reduce_sum(gaussian_kl(mu_q, log_scale_q, mu_p, log_scale_p), axis=1).numpy()
    error = np.sqrt(monte_carlo.var() / n + closed.var() / n)
    assert abs(monte_carlo.mean() - closed.mean()) < 3 * error, (monte_carlo.mean(), closed.mean())
    assert closed.var() < monte_carlo.var()  # the point of the closed form
    assert closed.mean() > 0.1  # the pair differs: the check is not 0 == 0


def test_gaussian_kl_is_the_textbook_formula_and_zero_for_equal_gaussians():
    mu_q, ls_q, mu_p, ls_p = 0.3, np.log(0.5), -0.2, np.log(1.5)
    expected = np.log(1.5 / 0.5) + (0.5**2 + 0.5**2) / (2 * 1.5**2) - 0.5
    np.testing.assert_allclose(gaussian_kl(mu_q, ls_q, mu_p, ls_p), expected, rtol=1e-6)
    np.testing.assert_allclose(gaussian_kl(1.0, -9.0, 1.0, -9.0), 0.0, atol=1e-7)


def test_power_loss_sees_loudness_and_not_alignment():
    rng = np.random.default_rng(0)
    t = np.arange(2048)
    tone = np.sin(0.2 * t).astype(np.float32)[None]
    shifted = np.sin(0.2 * t + 1.3).astype(np.float32)[None]
    assert float(power_loss(tone, shifted)[0]) < 1e-3 * float(power_loss(tone, 0.2 * tone)[0])
    noise = rng.standard_normal((1, 2048)).astype(np.float32)
    assert float(power_loss(0.1 * noise, noise)[0]) > float(power_loss(0.9 * noise, noise)[0])


def test_distillation_trains_only_the_student_and_lowers_its_loss(tmp_path):
    student, teacher = _pair()
    distill = DensityDistillation(student, teacher, power_loss_weight=0.1)
    teacher_before = [v.numpy().copy() for v in teacher.weights]
    # It distils from a frozen copy with the same weights; the user's teacher stays trainable.
    assert teacher.trainable and len(teacher.trainable_variables) == len(teacher.weights)
    for v, old in zip(distill.teacher.weights, teacher_before, strict=True):
        np.testing.assert_array_equal(v.numpy(), old)
    rng = np.random.default_rng(0)
    x = (0.3 * np.tanh(rng.standard_normal((8, 300)))).astype(np.float32)
    y = rng.integers(0, 3, 8)
    fixed = tf.constant([5, 6])
    before = float(tf.reduce_mean(distill.loss_terms(x, y, seed=fixed)["loss"]))
    distill.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = distill.fit(x, y, epochs=15, batch_size=8, verbose=0).history
    after = float(tf.reduce_mean(distill.loss_terms(x, y, seed=fixed)["loss"]))
    assert after < 0.7 * before, (before, after)
    assert set(history) >= {"loss", "kl", "penalty", "power"}
    for v, old in zip(distill.teacher.weights, teacher_before, strict=True):
        np.testing.assert_array_equal(v.numpy(), old)
    assert {id(v) for v in distill.trainable_variables} == {
        id(v) for v in student.trainable_variables
    }
    # Saved and loaded, it still trains the student only, and keeps its optimizer's state.
    distill.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras")
    assert len(loaded.trainable_variables) == len(student.trainable_variables)
    assert len(loaded.optimizer.variables) == len(distill.optimizer.variables)
    np.testing.assert_allclose(
        loaded.loss_terms(x, y, seed=fixed)["loss"],
        distill.loss_terms(x, y, seed=fixed)["loss"],
        rtol=1e-5,
    )


def test_distillation_saves_and_runs_under_the_trainer(tmp_path):
    student, teacher = _pair()
    distill = DensityDistillation(student, teacher)
    rng = np.random.default_rng(1)
    x = (0.3 * np.tanh(rng.standard_normal((12, 256)))).astype(np.float32)
    y = rng.integers(0, 3, 12).astype(np.uint8)
    splits = tfflows.data.Splits(x[:8], x[8:], y[:8], y[8:], "noise")
    config = tfflows.training.TrainConfig(
        steps=2, batch_size=4, out_dir=str(tmp_path / "run"), progress=False, xla=False
    )
    summary = tfflows.train(distill, splits, config=config).summary
    test = summary["test"]
    assert summary["steps"] == 2 and np.isfinite(test["nll"])
    # The evaluation reports the loss's parts, which add up to it.
    parts = test["kl"] + 4.0 * test["penalty"] + 1.0 * test["power"]
    np.testing.assert_allclose(test["nll"], parts, rtol=1e-5)
    assert test["kl"] > 0 and test["power"] > 0
    rebuilt = tfflows.models.build_model(str(tmp_path / "run" / "model.json"))
    rebuilt.load_weights(str(tmp_path / "run" / "model.weights.h5"))
    np.testing.assert_allclose(
        rebuilt.student.sample(2, 50, seed=1, condition=[0, 1]),
        student.sample(2, 50, seed=1, condition=[0, 1]),
        atol=1e-6,
    )
    path = tmp_path / "student.keras"
    student.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config() == student.get_config()
    np.testing.assert_allclose(
        loaded.sample(1, 40, seed=2, condition=1),
        student.sample(1, 40, seed=2, condition=1),
        atol=1e-6,
    )


def test_bad_pairs_and_inputs_are_refused():
    student, teacher = _pair()
    with pytest.raises(ValueError, match="num_classes"):
        DensityDistillation(student, _pair(num_classes=None)[1])
    with pytest.raises(ValueError, match="ParallelWaveNet student and a WaveNet teacher"):
        DensityDistillation(teacher, student)
    with pytest.raises(ValueError, match="power_loss_weight"):
        DensityDistillation(student, teacher, power_loss_weight=-1)
    distill = DensityDistillation(student, teacher)
    with pytest.raises(ValueError, match="shorter than the power loss's frame"):
        distill.fit(np.zeros((4, 100), np.float32), np.zeros(4, int), verbose=0)
    with pytest.raises(ValueError, match="outside \\[-1, 1\\]"):
        distill.fit(np.full((4, 300), 2.0, np.float32), np.zeros(4, int), verbose=0)
    with pytest.raises(ValueError, match="initial_scale"):
        ParallelWaveNet(initial_scale=0)
    with pytest.raises(ValueError, match="length must be >= 1"):
        student.sample(1, 0, condition=0)


def test_cli_samples_a_student_into_one_wav(tmp_path):
    from tfflows.cli import main
    from tfflows.data import load_wav

    student, _ = _pair()
    student.save(tmp_path / "student.keras")
    out = tmp_path / "clips.wav"
    assert (
        main(
            [
                "sample",
                str(tmp_path / "student.keras"),
                "--n",
                "2",
                "--length",
                "100",
                "--temperature",
                "0.5",
                "--seed",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    audio, rate = load_wav(out)
    gap = student.sample_rate // 4
    assert rate == student.sample_rate and audio.shape == (2 * (100 + gap),)
    want = np.clip(student.sample(2, 100, seed=3, condition=[0, 1], temperature=0.5), -1, 1)
    got = audio.reshape(2, 100 + gap)
    np.testing.assert_allclose(got[:, :100], want, atol=1 / 16000)
    assert np.all(got[:, 100:] == 0)
    png = str(tmp_path / "x.png")
    assert main(["sample", str(tmp_path / "student.keras"), "--out", png]) == 1  # user error
    wav = str(tmp_path / "y.wav")
    assert main(["sample", str(tmp_path / "student.keras"), "--n", "0", "--out", wav]) == 1
    # eval refuses a student (no fast likelihood); export of a distillation is its student's
    data = "fsdd:path=nowhere.npz"
    assert main(["eval", str(tmp_path / "student.keras"), "--data", data]) == 1
    DensityDistillation(student, _pair()[1]).save(tmp_path / "distill.keras")
    assert main(["export", str(tmp_path / "distill.keras"), "--out", str(tmp_path / "m")]) == 0
    assert sorted(p.name for p in (tmp_path / "m" / "distill" / "1").iterdir()) == [
        "assets",
        "fingerprint.pb",
        "saved_model.pb",
        "variables",
    ]


def test_float_labels_whole_or_refused_and_no_wrapping_lengths():
    student, teacher = _pair()
    x = (0.3 * np.tanh(np.random.default_rng(2).standard_normal((2, 40)))).astype(np.float32)
    np.testing.assert_allclose(
        teacher.log_prob(x, np.array([2.0, 0.0])), teacher.log_prob(x, [2, 0]), rtol=1e-6
    )
    with pytest.raises(ValueError, match="whole numbers"):
        teacher.log_prob(x, np.array([2.5, 0.0]))
    assert student.sample(0, 10, condition=[]).shape == (0, 10)
    for bad in (2**32 + 5, 2**31):
        with pytest.raises(ValueError, match="at most 2\\*\\*31 - 1"):
            student.sample(1, bad, condition=1)
        with pytest.raises(ValueError, match="at most 2\\*\\*31 - 1"):
            teacher.sample(bad, 10, condition=1)
    with pytest.raises(ValueError, match="outside \\[-1, 1\\]"):
        student.log_prob(np.full((1, 8), 300.0, np.float32), [1])


def test_log_spectral_distance_in_db():
    from tfflows.distill import log_spectral_distance

    spectrum = np.array([[1.0, 2.0, 4.0]])
    assert float(log_spectral_distance(spectrum, spectrum, floor=0.0)[0]) == 0.0
    # Ten times louder in every bin is 20 dB; twice as loud in one of four bins is
    # 20 log10(2) / 2 = 3.01 dB as an RMS.
    np.testing.assert_allclose(log_spectral_distance(10 * spectrum, spectrum, 0.0), [20.0])
    two = np.array([2.0, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(
        log_spectral_distance(two, np.ones(4), 0.0), 20 * np.log10(2) / 2, rtol=1e-6
    )


def test_distillation_fits_batches_of_any_size_by_default():
    """Keras `fit` on clips that do not fill the last batch (10 clips, batch 4; the example's
    FSDD run has 2,700 clips in batches of 8). Under XLA the batch axis is dynamic, and XLA
    cannot carry a dynamic axis through the power loss's RFFT ("Asked to propagate a dynamic
    dimension ... not implemented"), so the distillation compiles without XLA by default."""
    student, teacher = _pair()
    distill = DensityDistillation(student, teacher)
    rng = np.random.default_rng(1)
    x = (0.3 * np.tanh(rng.standard_normal((10, 1024)))).astype(np.float32)
    y = rng.integers(0, 3, 10)
    distill.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert distill.jit_compile is False
    history = distill.fit(x, y, epochs=1, batch_size=4, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["power"][0] > 0
