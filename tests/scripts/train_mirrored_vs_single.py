"""`tfflows.train` on one device and under MirroredStrategy over two logical CPUs, from the
same seed (argv[2]: "glow", or "videoflow" for 3-frame videos): prints JSON with the largest
weight difference after the run, the ActNorm initialisation of both (and of each replica's
copy), and the step counts. Run in its own process: logical devices must be set before
TensorFlow starts."""

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
from tfflows.training import Trainer  # noqa: E402

OUT, KIND = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "glow")
STEPS, BATCH = 10, 16
FRAMES = (3,) if KIND == "videoflow" else ()
X = np.random.default_rng(0).integers(0, 256, (8 * BATCH, *FRAMES, 8, 8, 3), dtype=np.uint8)
SIZES = dict(levels=2, steps_per_level=1, hidden_channels=8)
if KIND == "videoflow":
    SIZES.update(prior_channels=8)
SETTINGS = dict(
    steps=STEPS,
    batch_size=BATCH,
    # Adam's default epsilon (1e-7) turns float round-off in coordinates whose gradient is
    # ~0 (behind zero-initialised layers) into lr-sized steps, which differ between any two
    # summation orders; epsilon 1e-3 compares the real math.
    epsilon=1e-3,
    warmup_steps=3,
    clip_norm=2.0,  # active: the gradient norm starts near 30; proves clipping the sum
    ema=0.9,
    progress=False,
    checkpoint_every=5,
    test_examples=32,
    # Both runs compile with XLA: "auto" measures in each run, and on a busy machine the
    # two could choose differently (and XLA rounds differently).
    xla=True,
)


def run(strategy):
    keras.utils.set_random_seed(0)
    trainer = Trainer(
        models.for_data(KIND, X, **SIZES),
        X,
        test_data=X[:32],
        out_dir=f"{OUT}/{strategy}",
        strategy=strategy,
        **SETTINGS,
    )
    trainer.initialize()
    model = trainer.model
    actnorm = (model.frame_flow if KIND == "videoflow" else model).flow_layers[0]
    init = {
        "loc": actnorm.loc.numpy().tolist(),
        # each replica's own copy of the variable
        "replica_locs": [
            v.numpy().tolist() for v in getattr(actnorm.loc.value, "values", [actnorm.loc.value])
        ],
    }
    before = [w.numpy().copy() for w in trainer.model.trainable_weights]
    _, norm = trainer.train_step(0)
    result = trainer.run()
    weights = [w.numpy() for w in trainer.model.weights]
    change = max(
        float(np.abs(w.numpy() - b).max())
        for w, b in zip(trainer.model.trainable_weights, before, strict=True)
    )
    return trainer, init, weights, change, norm, result.summary


single, init1, w1, change, norm, s1 = run("one_device")
mirrored, init2, w2, _, _, s2 = run("mirrored")
print(
    json.dumps(
        {
            "replicas": [single.replicas, mirrored.replicas],
            "steps": [s1["steps"], s2["steps"]],
            "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2, strict=True)),
            "max_weight_change_in_training": change,
            "first_gradient_norm": norm,
            "actnorm_single": init1,
            "actnorm_mirrored": init2,
            "test_bits_per_dim": [s1["test"]["bits_per_dim"], s2["test"]["bits_per_dim"]],
        }
    )
)
