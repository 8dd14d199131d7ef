"""Training under tf.distribute: MirroredStrategy on 2 logical CPUs, and two
MultiWorkerMirroredStrategy workers on 127.0.0.1, each in processes of their own."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

SCRIPTS = pathlib.Path(__file__).parent / "scripts"


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_keras_fit_under_mirrored_strategy_matches_single_device(optimizer):
    """Keras' own fit: the loss is divided by the replica count so the summed gradients
    average; without it the weights differ by ~1e-2 after 20 steps."""
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "mirrored_vs_single.py"), optimizer],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result = last_json(out.stdout)
    assert result["replicas"] == 2 and result["steps"] == [20, 20]
    assert result["max_weight_change_in_training"] > 1e-3, result  # it did train
    assert result["max_weight_diff"] < 1e-5, result


@pytest.mark.parametrize("kind", ["glow", "videoflow"])
def test_train_under_mirrored_strategy_matches_single_device(tmp_path, kind):
    """tfflows.train with warm-up, active gradient clipping and EMA: 10 steps on 2 replicas
    end within 1e-5 of 10 steps on one device, and ActNorm's initialisation is the
    single-device one on both replicas (a VideoFlow's too: its frames' dequantization noise
    must not depend on the replica count)."""
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / "train_mirrored_vs_single.py"), str(tmp_path), kind],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    r = last_json(out.stdout)
    assert r["replicas"] == [1, 2] and r["steps"] == [10, 10]
    assert r["max_weight_change_in_training"] > 1e-3, r
    assert r["first_gradient_norm"] > 2.0, r  # so clip_norm=2 was active
    assert r["max_weight_diff"] < 1e-5, r
    single, mirrored = r["actnorm_single"], r["actnorm_mirrored"]
    assert len(mirrored["replica_locs"]) == 2
    assert mirrored["replica_locs"][0] == mirrored["replica_locs"][1] == single["loc"]
    assert max(abs(v) for v in single["loc"]) > 1e-3  # initialised from data, not zeros
    assert abs(r["test_bits_per_dim"][0] - r["test_bits_per_dim"][1]) < 1e-4


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_loopback_end_with_identical_weights(tmp_path):
    """MultiWorkerMirroredStrategy with 2 worker processes: tfflows.train and Keras' fit
    (tensorflow/tensorflow#72388) both run, and both workers end with the same weights."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    procs = []
    try:
        for index in range(2):
            task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
            env = dict(os.environ, TF_CONFIG=json.dumps(task), TF_CPP_MIN_LOG_LEVEL="2")
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(SCRIPTS / "multiworker_worker.py"), str(tmp_path)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:  # never leave a worker behind, whatever happened
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, stderr[-3000:]
    a, b = (last_json(stdout) for stdout, _ in outputs)
    assert {a["task"], b["task"]} == {0, 1}
    assert a["replicas"] == b["replicas"] == 2
    assert a["steps"] == b["steps"] == 12
    assert a["train_weights"] == b["train_weights"]
    assert a["actnorm_loc"] == b["actnorm_loc"]
    assert a["fit_steps"] == b["fit_steps"] == 4
    assert a["fit_weights"] == b["fit_weights"]
    assert all(v == v for v in a["fit_loss"])  # a number, not NaN
    assert (tmp_path / "checkpoints" / "checkpoint").exists()
    assert not list(tmp_path.glob(".worker_*"))  # the other worker's copies are removed
