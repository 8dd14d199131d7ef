"""Where a glow32 step's time goes: the coupling networks' convolutions against the rest,
in TensorFlow (tfflows) and PyTorch (normflows' layer shapes), forward and forward+backward.

    python -m bench.profile_glow32 [--repeats 5] [--out bench/results]

The 24 coupling networks of glow32 (conv3x3(c/2 -> 128) - ReLU - conv1x1(128) - ReLU -
conv3x3(128 -> c), at 16x16x12, 8x8x24 and 4x4x48 for a batch of 64) are timed alone in
each framework and set against the whole model's log_prob and training step. If the
networks take most of the time in both, the step rate is bounded by the convolution
kernels (oneDNN in both frameworks), not by the flow's own code. A second table times each
convolution shape alone (forward, input gradient, filter gradient) in GFLOP/s next to a
plain matrix product, the rate those kernels could at best approach.
"""

import argparse
import json
import os
import pathlib
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHAPES = [(16, 12), (8, 24), (4, 48)]  # (spatial size, channels) of the three levels
BATCH, STEPS, HIDDEN = 64, 8, 128
ONE = [1, 1, 1, 1]  # unit strides and dilations


def _median_time(fn, repeats, calls=3):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times)


def tf_nets(repeats):
    import tensorflow as tf

    from tfflows.nets import ConvNet

    nets, inputs = [], []
    for size, c in SHAPES:
        for _ in range(STEPS):
            net = ConvNet(HIDDEN, c)
            net.build((None, size, size, c // 2))
            nets.append(net)
            inputs.append(tf.random.normal([BATCH, size, size, c // 2]))
    weights = [w for n in nets for w in n.trainable_weights]

    @tf.function
    def forward():
        return tf.add_n([tf.reduce_sum(n(x)) for n, x in zip(nets, inputs, strict=True)])

    @tf.function
    def backward():
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = tf.add_n(
                [tf.reduce_sum(tf.square(n(x))) for n, x in zip(nets, inputs, strict=True)]
            )
        return tape.gradient(y, weights + inputs)

    return (
        _median_time(lambda: forward().numpy(), repeats),
        _median_time(lambda: [g.numpy() for g in backward()], repeats),
    )


def tf_model(repeats):
    from bench.runners_tf import tfflows_runner
    from bench.workloads import WORKLOADS

    w = WORKLOADS["glow32"]
    x = w.data(4)
    r = tfflows_runner(w, "traced", x)
    lp = _median_time(r.measures["log_prob"], repeats)
    train = _median_time(r.measures["train"], repeats)
    return lp, train


def tf_conv_kernels(repeats):
    """Each convolution shape of glow32's networks alone, in TensorFlow (oneDNN): forward,
    gradient with respect to the input (dX) and to the filter (dW), in GFLOP/s; and dW as an
    explicit patch matrix times the output gradient ("im2col"), an alternative that was tried;
    and a 1024x1024 float32 matrix product for scale."""
    import tensorflow as tf

    def rate(fn, flops):
        return flops / _median_time(lambda: fn().numpy(), repeats, calls=10) / 1e9

    a, b = tf.random.normal([1024, 1024]), tf.random.normal([1024, 1024])
    rows = [{"kernel": "sgemm 1024", "gflop": 2 * 1024**3 / 1e9}]
    rows[0]["forward"] = rate(tf.function(lambda: tf.matmul(a, b)), 2 * 1024**3)
    for size, c in SHAPES:
        for k, c_in, c_out in [(3, c // 2, HIDDEN), (1, HIDDEN, HIDDEN), (3, HIDDEN, c)]:
            x = tf.random.normal([BATCH, size, size, c_in])
            w = tf.random.normal([k, k, c_in, c_out]) * 0.1
            dy = tf.random.normal([BATCH, size, size, c_out])
            flops = 2 * BATCH * size * size * k * k * c_in * c_out
            fns = {
                "forward": lambda x=x, w=w: tf.nn.conv2d(x, w, 1, "SAME"),
                "dX": lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=ONE, padding="SAME"
                ),
                "dW": lambda x=x, w=w, dy=dy: tf.raw_ops.Conv2DBackpropFilter(
                    input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=ONE, padding="SAME"
                ),
                "dW_im2col": lambda x=x, dy=dy, k=k, c_in=c_in, c_out=c_out: tf.matmul(
                    tf.reshape(
                        tf.image.extract_patches(x, [1, k, k, 1], ONE, ONE, "SAME"),
                        [-1, k * k * c_in],
                    ),
                    tf.reshape(dy, [-1, c_out]),
                    transpose_a=True,
                ),
            }
            row = {"kernel": f"{size}x{size} conv{k}x{k} {c_in}->{c_out}", "gflop": flops / 1e9}
            row.update({name: rate(tf.function(fn), flops) for name, fn in fns.items()})
            rows.append(row)
    return rows


def torch_nets(repeats):
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count())
    nets, inputs = [], []
    for size, c in SHAPES:
        for _ in range(STEPS):
            nets.append(
                nn.Sequential(
                    nn.Conv2d(c // 2, HIDDEN, 3, padding=1),
                    nn.ReLU(),
                    nn.Conv2d(HIDDEN, HIDDEN, 1),
                    nn.ReLU(),
                    nn.Conv2d(HIDDEN, c, 3, padding=1),
                )
            )
            inputs.append(torch.randn(BATCH, c // 2, size, size, requires_grad=True))

    def forward():
        with torch.no_grad():
            sum(n(x).sum() for n, x in zip(nets, inputs, strict=True)).item()

    def backward():
        for n in nets:
            n.zero_grad(set_to_none=True)
        y = sum(n(x).square().sum() for n, x in zip(nets, inputs, strict=True))
        y.backward()

    return _median_time(forward, repeats), _median_time(backward, repeats)


def torch_model(repeats):
    from bench.runners_torch import normflows_runner
    from bench.workloads import WORKLOADS

    w = WORKLOADS["glow32"]
    r = normflows_runner(w, w.data(4))
    return _median_time(r.measures["log_prob"], repeats), _median_time(r.measures["train"], repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    rows = {}
    rows["tensorflow"] = dict(
        zip(("nets_forward", "nets_backward"), tf_nets(args.repeats), strict=True)
    )
    rows["tensorflow"].update(
        zip(("model_log_prob", "model_train"), tf_model(args.repeats), strict=True)
    )
    try:
        rows["torch"] = dict(
            zip(("nets_forward", "nets_backward"), torch_nets(args.repeats), strict=True)
        )
        rows["torch"].update(
            zip(("model_log_prob", "model_train"), torch_model(args.repeats), strict=True)
        )
    except ImportError:
        pass
    lines = [
        "glow32, batch 64: seconds per call (median); share = the 24 coupling networks' part",
        "",
        "| framework | nets forward | model log_prob | share "
        "| nets fwd+bwd | model train step | share |",
        "|---|---|---|---|---|---|---|",
    ]
    for fw, r in rows.items():
        lines.append(
            f"| {fw} | {r['nets_forward']:.4f} | {r['model_log_prob']:.4f} | "
            f"{r['nets_forward'] / r['model_log_prob']:.0%} | {r['nets_backward']:.4f} | "
            f"{r['model_train']:.4f} | {r['nets_backward'] / r['model_train']:.0%} |"
        )
    kernels = tf_conv_kernels(args.repeats)
    lines += [
        "",
        "Each convolution of the networks alone in TensorFlow, batch 64: GFLOP/s",
        "",
        "| kernel | GFLOP per call | forward | dX | dW | dW as im2col + matmul |",
        "|---|---|---|---|---|---|",
    ]
    for k in kernels:
        cells = [f"{k[m]:.0f}" if m in k else "" for m in ("forward", "dX", "dW", "dW_im2col")]
        lines.append(f"| {k['kernel']} | {k['gflop']:.3f} | " + " | ".join(cells) + " |")
    rows["tf_conv_kernels"] = kernels
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile_glow32.json").write_text(json.dumps(rows, indent=2))
    (out / "profile_glow32.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
