"""n-bit reduction, uniform dequantization, and the way back to uint8 images."""

import tensorflow as tf


def reduce_bits(x, num_bits=8):
    """Integer pixel values 0..255 -> 0..2^num_bits - 1 (Glow's n-bit data), as float32.

    x_n = floor(x / 2^(8 - num_bits))
    """
    if not 1 <= num_bits <= 8:
        raise ValueError(f"num_bits must be in 1..8, got {num_bits}")
    x = tf.cast(x, tf.float32)
    if num_bits < 8:
        x = tf.floor(x / 2.0 ** (8 - num_bits))
    return x


def dequantize(x, num_bits=8, seed=(0, 0), offset=0, global_batch=None):
    """Uniform dequantization: x_n + u, u ~ U[0, 1)^D, a continuous value in [0, 2^num_bits).

    Training on x_n + u maximises a lower bound on the discrete log-likelihood (Theis et al.,
    arXiv:1511.01844). `seed` is a stateless seed (two integers, or a [2] tensor), so the same
    seed gives the same noise, in eager mode, in `tf.function` and under XLA.

    `x` may be rows `offset .. offset + len(x)` of a global batch of `global_batch` rows
    (one replica's share): it then gets exactly the noise those rows get when the whole
    batch is dequantized at once, so training does not depend on the number of replicas.
    """
    x = reduce_bits(x, num_bits)
    shape = tf.shape(x)
    if global_batch is not None:
        shape = tf.concat([[global_batch], shape[1:]], axis=0)
    # Philox explicitly: "auto_select" picks another generator under XLA, and the same seed
    # must give the same noise eagerly, in tf.function, under XLA and in a SavedModel.
    noise = tf.random.stateless_uniform(shape, seed=seed, dtype=x.dtype, alg="philox")
    if global_batch is not None:
        noise = noise[offset : offset + tf.shape(x)[0]]
    return x + noise


def to_uint8(x, num_bits=8, low=-0.5):
    """Continuous model-space values (e.g. samples, in [low, low + 1)) -> uint8 images.

    Each value falls into one of 2^num_bits bins, clipped at the edges, and the bin index is
    scaled back to 0..255 (times 2^(8 - num_bits)) so n-bit images display normally.

    A non-finite value has no pixel: it raises ValueError (eagerly) or fails an assertion
    (in a graph) naming how many there are, instead of becoming a black pixel.
    """
    bins = 2.0**num_bits
    x = tf.cast(x, tf.float32)
    finite = tf.math.is_finite(x)
    if tf.executing_eagerly():
        bad = int(tf.size(x)) - int(tf.reduce_sum(tf.cast(finite, tf.int32)))
        if bad:
            raise ValueError(
                f"to_uint8: {bad} of {int(tf.size(x))} values are NaN or infinite; they have "
                "no pixel value (a sample that overflowed float32?)"
            )
    else:
        check = tf.debugging.Assert(
            tf.reduce_all(finite), ["to_uint8: values are NaN or infinite; they have no pixel"]
        )
        with tf.control_dependencies([check]):
            x = tf.identity(x)
    index = tf.clip_by_value(tf.floor((x - low) * bins), 0.0, bins - 1.0)
    return tf.cast(index * 2.0 ** (8 - num_bits), tf.uint8)
