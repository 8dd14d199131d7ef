"""The side-by-side benchmark's runners build the same architecture in every library.

Only the TensorFlow runners (tfflows, TFP) run in CI; the PyTorch peers are checked when
the `bench` extra is installed. Timing is never asserted here: bench/compare.py measures.
"""

import importlib.util

import numpy as np
import pytest

from bench.compare import build
from bench.workloads import WORKLOADS

TORCH = importlib.util.find_spec("torch") is not None


def small(workload):
    return workload.data(batches=2)


@pytest.mark.parametrize("name", ["realnvp2d", "maf8", "iaf8"])
def test_vector_workloads_have_equal_parameter_counts_and_run(name):
    workload = WORKLOADS[name]
    x = small(workload)
    libraries = [("tfflows", "traced"), ("tfp", "traced")]
    if TORCH:
        libraries += [("normflows", "eager"), ("nflows", "eager"), ("zuko", "eager")]
    counts = {}
    for library, variant in libraries:
        runner = build(library, variant, workload, x)
        counts[library] = runner.params
        for fn in runner.measures.values():
            fn()
    # 2 x 128 MLPs in 8 couplings of 1 -> 2 values; 5 MADEs of 8 -> 256 -> 256 -> 16.
    expected = {"realnvp2d": 8 * (128 + 128 + 128 * 128 + 128 + 128 * 2 + 2)}
    expected["maf8"] = expected["iaf8"] = 5 * (8 * 256 + 256 + 256 * 256 + 256 + 256 * 16 + 16)
    assert set(counts.values()) == {expected[name]}, counts


def test_tfp_runner_trains_its_variables():
    # TFP's RealNVP hides networks made in closures from tf.Module; the runner tracks them,
    # so Adam must move every weight.
    workload = WORKLOADS["realnvp2d"]
    runner = build("tfp", "traced", workload, small(workload))
    assert runner.params > 0
    runner.measures["train"]()


def test_glow32_matches_tfp_up_to_the_stored_lu_triangles():
    workload = WORKLOADS["glow32"]
    x = small(workload)
    ours = build("tfflows", "traced", workload, x)
    tfp = build("tfp", "traced", workload, x)
    # tfflows stores L and U as full masked c x c matrices (c^2 + c more stored numbers per
    # step than TFP's packed lower_upper, none of them free); channels 12, 24, 48 per level.
    stored_extra = sum(8 * (c * c + c) for c in (12, 24, 48))
    assert ours.params - stored_extra == pytest.approx(tfp.params, abs=0.001 * tfp.params)
    assert np.isfinite(ours.measures["log_prob"]()).all()


def graph_flops(fn, spec):
    """FLOPs of the MatMul and Conv2D ops in the traced graph of `fn` (static shapes)."""
    import tensorflow as tf

    graph = tf.function(fn, autograph=False).get_concrete_function(spec).graph
    total = 0
    for op in graph.get_operations():
        assert "PartitionedCall" not in op.type, "nested functions are not counted"
        if op.type == "MatMul":
            a = op.inputs[0].shape
            k = a[0] if op.get_attr("transpose_a") else a[1]
            m, n = op.outputs[0].shape
            total += 2 * m * n * k
        elif op.type == "Conv2D":
            kh, kw, c_in, _ = op.inputs[1].shape
            total += 2 * int(np.prod(op.outputs[0].shape)) * kh * kw * c_in
    return total


@pytest.mark.parametrize("name", ["glow32", "realnvp2d", "maf8"])
def test_flop_counts_match_the_models_graphs(name):
    """`Workload.flops` (the table's GFLOP/s) against the MatMul and Conv2D ops of tfflows'
    log_prob graph, per example: the difference of two batch sizes removes the work that
    does not grow with the batch (the LU products of the 1x1 convolutions' weights)."""
    import tensorflow as tf

    from bench.runners_tf import _family
    from tfflows.models import build_model

    workload = WORKLOADS[name]
    family, overrides = _family(workload)
    model = build_model(family, workload.shape, **overrides)
    dtype = tf.uint8 if workload.discrete else tf.float32
    counts = [
        graph_flops(model.log_prob, tf.TensorSpec([b, *workload.shape], dtype)) for b in (2, 5)
    ]
    assert (counts[1] - counts[0]) / 3 == workload.flops("log_prob")
    assert workload.flops("train") == 3 * workload.batch * workload.flops("log_prob")


def test_audio_bench_samplers_draw_the_same_clips_and_count_flops():
    """The first-WaveNet sampler (receptive field recomputed per step) continues a clip as the
    cached one does, so the speed ratio compares the same computation; FLOPs are counted per
    layer as 2 x (taps x R x 2G + G x (R + S)), the front and the head."""
    import keras
    import tensorflow as tf

    from bench.audio_sampling import naive_sampler, wavenet_flops_per_sample
    from tfflows.models import WaveNet
    from tfflows.nets import sample_cached

    keras.utils.set_random_seed(0)
    model = WaveNet(
        residual_channels=4, gate_channels=3, skip_channels=5, layers_per_cycle=3, num_classes=2
    )
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:
        v.assign(v.numpy() + 0.3 * rng.standard_normal(v.shape).astype(np.float32))
    field = model.receptive_field
    noise = tf.constant(rng.standard_normal((2, field + 30)).astype(np.float32))
    c = tf.one_hot([0, 1], 2)
    clip = sample_cached(model.net, noise, c).numpy()
    continued = naive_sampler(model.net, noise[:, field:], c, history=clip[:, :field])
    np.testing.assert_allclose(continued, clip[:, field:], atol=2e-5)
    layers = 3 * 2  # 3 per cycle, 2 cycles
    per_layer = 2 * 4 * 6 + 3 * 9 + 6 * 2
    assert wavenet_flops_per_sample(model.net) == 2 * (2 * 4 + layers * per_layer + 25 + 10)


def test_isolated_worker_answers_and_keeps_to_its_framework(tmp_path):
    """bench.compare's isolated mode: a worker process builds its runner, warms it up and
    times on request; a TensorFlow worker never imports PyTorch (nor the other way round),
    so no library's thread pools are awake while another one is timed."""
    from bench.compare import Worker

    workload = WORKLOADS["realnvp2d"]
    data = tmp_path / "data.npy"
    np.save(data, small(workload))
    kinds = [("tfflows", "traced", "tensorflow_imported", "torch_imported")]
    if TORCH:
        kinds.append(("zuko", "eager", "torch_imported", "tensorflow_imported"))
    for library, variant, mine, other in kinds:
        w = Worker(library, variant, "realnvp2d", str(data), 1, 0.01, tmp_path)
        try:
            assert w.ready["ready"] and w.ready[mine] and not w.ready[other], w.ready
            assert w.ready["params"] == 8 * (128 + 128 + 128 * 128 + 128 + 128 * 2 + 2)
            assert set(w.measures) == {"train", "log_prob", "sample"}
            assert all(n >= 2 for n in w.ready["calls"].values())
            rate = w.time("log_prob")
            assert np.isfinite(rate) and rate > 0
        finally:
            w.close()
        assert w.proc.returncode == 0


def test_ratio_reports_each_order_of_the_rounds_and_before_after_pairs_rows():
    from bench.compare import _ratio, before_after

    ours = {"median": 12.0, "all": [10.0, 12.0, 14.0, 12.0], "orders": ["forward", "reverse"] * 2}
    peer = {"median": 10.0, "all": [10.0, 10.0, 10.0, 8.0]}
    # Rounds 1, 3 forward: 1.0, 1.4 (median 1.2); rounds 2, 4 reversed: 1.2, 1.5 (1.35).
    assert _ratio(ours, peer) == "1.20x (1.00-1.50); fwd 1.20x, rev 1.35x"
    assert _ratio({**ours, "orders": None}, peer) == "1.20x (1.00-1.50)"
    rows = [
        {"library": "tfflows", "variant": "xla", "measure": "train", **ours},
        {"library": "tfflows@before", "variant": "traced", "measure": "train", **peer},
    ]
    lines = before_after({"glow32": {"rows": rows}})
    assert lines[2].startswith("| glow32 | train steps/s | 10.00 (traced) | 12.00 (xla) | 1.20x")
    assert before_after({"glow32": {"rows": rows[:1]}}) == []


def test_fit_step_ab_variants_train_the_same_model_the_same_way():
    """Every variant of bench.fit_step_ab starts from the same weights and takes the same
    steps: Keras' whole step and the warm start's two halves give equal losses."""
    from bench import fit_step_ab

    workload = WORKLOADS["realnvp2d"]
    x = workload.data(batches=2)
    losses = {
        v: [float(step()) for _ in range(2)]
        for v, step in (
            (v, fit_step_ab._make(v, workload, x))
            for v in ("keras_plain", "concrete_plain", "concrete_xla", "function_xla")
        )
    }
    for v in ("concrete_plain", "concrete_xla", "function_xla"):
        np.testing.assert_allclose(losses[v], losses["keras_plain"], rtol=1e-4, err_msg=v)
    assert np.all(np.isfinite(losses["keras_plain"]))


def test_video_throughput_variants_compute_the_same_frames():
    """bench.video_throughput times traced and XLA versions of one computation: the same
    seeded predicted frames."""
    from bench import video_throughput
    from tfflows.data.video import stochastic_shapes

    videos = stochastic_shapes(8, num_frames=3, seed=0)
    calls, parameters = video_throughput.runners("independent", videos, 4, quick=True, train=False)
    assert parameters > 0 and set(calls) == {"predict_xla", "predict_traced"}
    traced, frames = calls["predict_traced"][0](), calls["predict_traced"][1]
    assert traced.shape == (4, 2, 32, 32, 3) and frames == 4 * 2
    np.testing.assert_allclose(calls["predict_xla"][0](), traced, atol=1e-4)
    assert np.abs(traced).max() > 0.01  # frames, not zeros
