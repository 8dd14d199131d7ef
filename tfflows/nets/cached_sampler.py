"""Fast WaveNet sampling: one sample per loop step, every layer's past in a ring buffer.

A `CausalWaveNet` scores a clip in one parallel pass, but sampling is sequential: x_t needs
x_<t. Recomputing the network over the receptive field at every step (the first WaveNet)
costs O(receptive field) per sample; Paine et al. ("Fast Wavenet Generation Algorithm",
arXiv:1611.09482) keep, for every dilated layer, the inputs it will need again. Here each
layer with kernel k and dilation d keeps its last (k - 1) d inputs in a ring buffer [slots,
B, C] carried through one `tf.while_loop`: step t reads the taps at t - d, ..., t - (k-1) d
from slots (t - j d) mod ((k-1) d), then writes its input at slot t mod ((k-1) d). Slots
start at zero, which is the causal convolution's zero padding, so the loop computes exactly
what the parallel network computes. The weights are read from the Keras layers once, as
tensors; the loop body is a few matmuls per layer and compiles under XLA.
"""

import math

import tensorflow as tf

from tfflows.bijectors._util import saturate
from tfflows.nets.causal_wavenet import CausalWaveNet


def _ring(channels, kernel, dilation, batch, dtype):
    return tf.zeros([max(1, (kernel - 1) * dilation), batch, channels], dtype)


def _conv_step(buf, current, t, kernel, dilation, weight, bias):
    """One output of a causal conv at step t from its buffered past and its input now;
    returns (output [B, out], updated buffer)."""
    if kernel == 1:
        return tf.matmul(current, weight) + bias, buf
    slots = (kernel - 1) * dilation
    lags = dilation * tf.range(kernel - 1, 0, -1)  # oldest tap first, as in the kernel
    past = tf.gather(buf, tf.math.floormod(t - lags, slots))  # [k-1, B, C]
    past = tf.unstack(past, num=kernel - 1, axis=0)
    y = tf.matmul(tf.concat([*past, current], axis=-1), weight) + bias
    buf = tf.tensor_scatter_nd_update(buf, [[tf.math.floormod(t, slots)]], current[None])
    return y, buf


def sample_cached(
    net: CausalWaveNet, noise: tf.Tensor, condition: tf.Tensor | None = None
) -> tf.Tensor:
    """Audio [B, T] from noise [B, T]: x_t = mu_t(x_<t) + exp(a_t(x_<t)) noise_t, t = 0..T-1.

    The same map as `tfflows.bijectors.MaskedAutoregressive(...).forward(noise)` over `net`
    (a = saturate(raw log-scale)), in O(T) network steps instead of T full passes. Call it
    inside `tf.function(jit_compile=True)` for speed: each step is ~10 small ops per layer,
    so op dispatch, not arithmetic, bounds it outside XLA.

    Args:
      net: a built `CausalWaveNet`.
      noise: [B, T] float32, standard normal for samples at temperature 1.
      condition: [B, K] when the network is conditional.
    """
    dtype = net.compute_dtype
    noise = tf.convert_to_tensor(noise, dtype)
    batch, steps = tf.shape(noise)[0], tf.shape(noise)[1]
    r, g, k = net.residual_channels, net.gate_channels, net.kernel_size
    front_w = tf.reshape(tf.cast(net.front.kernel, dtype), [net.front_kernel, r])
    front_b = tf.cast(net.front.bias, dtype)
    gate_w = [tf.reshape(tf.cast(x.kernel, dtype), [k * r, 2 * g]) for x in net.gates]
    gate_b = [tf.cast(x.bias, dtype) for x in net.gates]
    mix_w = [tf.cast(x.kernel, dtype) for x in net.mixes]
    mix_b = [tf.cast(x.bias, dtype) for x in net.mixes]
    if condition is not None:
        condition = tf.cast(condition, dtype)
        # A global condition adds the same term at every step: computed once.
        gate_b = [
            b + tf.matmul(condition, tf.cast(p.kernel, dtype))
            for b, p in zip(gate_b, net.cond_projs, strict=True)
        ]
    h1_w, h1_b = tf.cast(net.head_hidden.kernel, dtype), tf.cast(net.head_hidden.bias, dtype)
    h2_w, h2_b = tf.cast(net.head_out.kernel, dtype), tf.cast(net.head_out.bias, dtype)
    noise_tm = tf.transpose(noise)
    root_half = math.sqrt(0.5)

    def body(t, x_prev, front_buf, bufs, out):
        h, front_buf = _conv_step(
            front_buf, x_prev[:, None], t, net.front_kernel, 1, front_w, front_b
        )
        skip = tf.zeros([batch, net.skip_channels], dtype)
        new_bufs = []
        for i, d in enumerate(net.dilations):
            a, buf = _conv_step(bufs[i], h, t, k, d, gate_w[i], gate_b[i])
            new_bufs.append(buf)
            f, s = tf.split(a, 2, axis=-1)
            mixed = tf.matmul(tf.tanh(f) * tf.sigmoid(s), mix_w[i]) + mix_b[i]
            h = (h + mixed[:, :r]) * root_half
            skip = skip + mixed[:, r:]
        hidden = tf.nn.relu(tf.matmul(tf.nn.relu(skip), h1_w) + h1_b)
        params = tf.matmul(hidden, h2_w) + h2_b
        x = params[:, 0] + tf.exp(saturate(params[:, 1])) * noise_tm[t]
        # Static shapes that the gathers and scatters lose stay fixed across iterations.
        x = tf.ensure_shape(x, x_prev.shape)
        front_buf = tf.ensure_shape(front_buf, state[2].shape)
        new_bufs = [tf.ensure_shape(b, old.shape) for b, old in zip(new_bufs, bufs, strict=True)]
        return t + 1, x, front_buf, tuple(new_bufs), out.write(t, x)

    state = (
        tf.constant(0),
        tf.zeros([batch], dtype),
        _ring(1, net.front_kernel, 1, batch, dtype),
        tuple(_ring(r, k, d, batch, dtype) for d in net.dilations),
        tf.TensorArray(dtype, size=steps),
    )
    *_, out = tf.while_loop(lambda t, *_: t < steps, body, state)
    return tf.transpose(out.stack())
