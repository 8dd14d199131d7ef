"""Trains the same small Glow for 20 steps on one device and under MirroredStrategy over
two logical CPUs, from the same initial weights and data order; prints the largest weight
difference as JSON. Run in its own process: logical devices must be set before TF starts."""

import json
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tfflows import models  # noqa: E402

STEPS, BATCH = 20, 16
# Floats in the continuous space: the per-replica dequantization seeds would otherwise make
# the two runs see different noise.
X = np.random.default_rng(0).uniform(-0.5, 0.5, (STEPS * BATCH, 8, 8, 3)).astype(np.float32)


def make_optimizer():
    # Adam's default epsilon (1e-7) turns float round-off in coordinates whose gradient is
    # ~0 (behind zero-initialised layers) into lr-sized steps, which differ between any two
    # summation orders (1.9e-3 apart after 20 steps); epsilon 1e-3 compares the real math.
    if sys.argv[1:] == ["adam"]:
        return keras.optimizers.Adam(1e-3, epsilon=1e-3)
    return keras.optimizers.SGD(1e-3)


def train(strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = models.Glow((8, 8, 3), levels=2, steps_per_level=2, hidden_channels=8)
        model.compile(optimizer=make_optimizer(), jit_compile=False)
    model.initialize(X[:BATCH])  # ActNorm, before the snapshot: the change below is training's
    before = [w.numpy().copy() for w in model.weights]
    model.fit(tf.data.Dataset.from_tensor_slices(X).batch(BATCH), epochs=1, verbose=0)
    change = max(
        float(np.abs(w.numpy() - b).max()) for w, b in zip(model.weights, before, strict=True)
    )
    return model, change


single, change = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored, _ = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
diff = max(
    float(np.abs(a.numpy() - b.numpy()).max())
    for a, b in zip(single.weights, mirrored.weights, strict=True)
)
print(
    json.dumps(
        {
            "replicas": int(mirrored.distribute_strategy.num_replicas_in_sync),
            "steps": [
                int(single.optimizer.iterations.numpy()),
                int(mirrored.optimizer.iterations.numpy()),
            ],
            "max_weight_diff": diff,
            "max_weight_change_in_training": change,
        }
    )
)
