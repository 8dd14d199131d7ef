"""The losses of probability density distillation: a closed-form Gaussian KL per step, the
log-scale penalty, and the power loss against real audio."""

import tensorflow as tf


def gaussian_kl(mu_q, log_scale_q, mu_p, log_scale_p) -> tf.Tensor:
    """KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) elementwise, s = exp(log_scale):

        log s_p - log s_q + (s_q^2 + (mu_q - mu_p)^2) / (2 s_p^2) - 1/2

    written with exponents of differences, so equal large or small scales cannot overflow.
    Reference: Ping et al., "ClariNet", arXiv:1807.07281, Section 4.1.
    """
    ratio = tf.exp(2.0 * (log_scale_q - log_scale_p))
    gap = tf.square((mu_q - mu_p) * tf.exp(-log_scale_p))
    return log_scale_p - log_scale_q + 0.5 * (ratio + gap - 1.0)


def log_scale_penalty(log_scale_q, log_scale_p) -> tf.Tensor:
    """(log s_p - log s_q)^2 elementwise: ClariNet's regulariser (weight 4 there), which
    keeps the student's scales near the teacher's early in training, where the KL alone
    has large gradients (ClariNet, Section 4.1)."""
    return tf.square(log_scale_p - log_scale_q)


def average_spectrum(x, frame_length: int = 256, frame_step: int = 64) -> tf.Tensor:
    """[N, frame_length // 2 + 1]: the STFT magnitude of clips [N, T] averaged over time,
    with a Hann window, divided by the window's norm (white noise of std sigma gives about
    sigma * sqrt(pi) / 2 in every bin)."""
    x = tf.convert_to_tensor(x, tf.float32) if not tf.is_tensor(x) else x
    window = tf.signal.hann_window(frame_length, dtype=x.dtype)
    spectrum = tf.signal.stft(
        x, frame_length, frame_step, window_fn=lambda n, dtype: window, pad_end=False
    )
    return tf.reduce_mean(tf.abs(spectrum), axis=-2) / tf.norm(window)


def power_loss(x, reference, frame_length: int = 256, frame_step: int = 64) -> tf.Tensor:
    """[N]: sum over frequencies of (phi(x) - phi(reference))^2, phi = `average_spectrum`.

    Parallel WaveNet's power loss (Section 3.2) compares spectra averaged over time, so a
    student sample and a real clip need not be aligned: here each sample is compared with
    a real clip of the same label. Without it a student trained on the KL alone whispers.
    Reference: van den Oord et al., arXiv:1711.10433, Section 3.2.
    """
    diff = average_spectrum(x, frame_length, frame_step) - average_spectrum(
        reference, frame_length, frame_step
    )
    return tf.reduce_sum(tf.square(diff), axis=-1)


def log_spectral_distance(spectrum, reference, floor: float = 1e-5) -> tf.Tensor:
    """[...]: RMS over frequencies (the last axis) of the difference of two amplitude spectra
    in dB, 20 log10 (with `floor` added to both); e.g. of `average_spectrum`s: how far a
    clip's average spectrum is from a reference one (0 when equal, lower is closer)."""
    spectrum, reference = (tf.convert_to_tensor(s, tf.float32) for s in (spectrum, reference))
    db = 20.0 * (tf.math.log(spectrum + floor) - tf.math.log(reference + floor)) / tf.math.log(10.0)
    return tf.sqrt(tf.reduce_mean(tf.square(db), axis=-1))
