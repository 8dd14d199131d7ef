"""The decoder's likelihoods p(x|z) of a VAE, summed over the pixels, in nats."""

import math

import tensorflow as tf

LIKELIHOODS = ("bernoulli", "gaussian", "discretized_logistic")

# Pixels k / 255, k = 0..255: each bin is 1/255 wide, centred on its value.
_HALF_BIN = 0.5 / 255.0


def log_likelihood(kind: str, x: tf.Tensor, out: tf.Tensor, log_scale: tf.Tensor) -> tf.Tensor:
    """log p(x|z) [...] for x and the decoder's output `out` [..., D] (flattened pixels).

    bernoulli:            sum_d x_d log s(o_d) + (1 - x_d) log(1 - s(o_d)), s = sigmoid
    gaussian:             sum_d log N(x_d; o_d, exp(log_scale_d)^2)
    discretized_logistic: sum_d log P(bin of x_d) under Logistic(o_d, exp(log_scale_d)),
                          256 bins of width 1/255 in [0, 1], the two end bins open to
                          -inf and +inf (Salimans et al. 2017, arXiv:1701.05517; the IAF
                          paper's CIFAR model, Kingma et al. 2016, arXiv:1606.04934)
    """
    if kind == "bernoulli":
        return -tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=out), -1)
    if kind == "gaussian":
        z = (x - out) * tf.exp(-log_scale)
        return tf.reduce_sum(-0.5 * z**2 - log_scale - 0.5 * math.log(2 * math.pi), -1)
    if kind == "discretized_logistic":
        inv_s = tf.exp(-log_scale)
        plus = inv_s * (x - out + _HALF_BIN)
        minus = inv_s * (x - out - _HALF_BIN)
        log_cdf_plus = plus - tf.math.softplus(plus)  # log sigmoid(plus): the bin of 0
        log_sf_minus = -tf.math.softplus(minus)  # log (1 - sigmoid(minus)): the bin of 1
        # sigmoid(p) - sigmoid(m) = e^p (1 - e^-(p - m)) / ((1 + e^p)(1 + e^m)), in logs:
        middle = (
            plus
            + tf.math.log(-tf.math.expm1(-(plus - minus)))
            - tf.math.softplus(plus)
            - tf.math.softplus(minus)
        )
        edge_low = x < _HALF_BIN
        edge_high = x > 1.0 - _HALF_BIN
        log_p = tf.where(edge_low, log_cdf_plus, tf.where(edge_high, log_sf_minus, middle))
        return tf.reduce_sum(log_p, -1)
    raise ValueError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {kind!r}")


def mean(kind: str, out: tf.Tensor) -> tf.Tensor:
    """The pixels' probabilities (Bernoulli) or means (Gaussian, logistic)."""
    return tf.sigmoid(out) if kind == "bernoulli" else out
