"""One worker of a two-worker `MultiWorkerMirroredStrategy` run on 127.0.0.1 (TF_CONFIG is
set by the caller). Trains a small Glow with `tfflows.train` and then with Keras' `fit`
(tensorflow/tensorflow#72388), and prints JSON: the step count, a fingerprint of every
weight after each, and ActNorm's initial loc."""

import hashlib
import json
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402

from tfflows import models  # noqa: E402
from tfflows.training import Trainer  # noqa: E402

OUT, BATCH = sys.argv[1], 16
X = np.random.default_rng(0).integers(0, 256, (8 * BATCH, 8, 8, 3), dtype=np.uint8)


def fingerprint(model):
    h = hashlib.sha256()
    for w in model.weights:
        h.update(np.ascontiguousarray(w.numpy()).tobytes())
    return h.hexdigest()


keras.utils.set_random_seed(0)
trainer = Trainer(
    models.for_data("glow", X, levels=2, steps_per_level=2, hidden_channels=8),
    X,
    test_data=X[:32],
    out_dir=OUT,
    strategy=strategy,
    steps=12,
    batch_size=BATCH,
    checkpoint_every=5,
    progress=False,
)
trainer.initialize()
loc = trainer.model.flow_layers[0].loc.numpy().tolist()
summary = trainer.run().summary

with strategy.scope():
    model = models.Glow((8, 8, 3), levels=2, steps_per_level=2, hidden_channels=8)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
history = model.fit(
    tf.data.Dataset.from_tensor_slices(X).batch(BATCH), epochs=1, steps_per_epoch=4, verbose=0
)
print(
    json.dumps(
        {
            "task": json.loads(os.environ["TF_CONFIG"])["task"]["index"],
            "replicas": int(strategy.num_replicas_in_sync),
            "steps": summary["steps"],
            "train_weights": fingerprint(trainer.model),
            "actnorm_loc": loc,
            "fit_steps": int(model.optimizer.iterations.numpy()),
            "fit_weights": fingerprint(model),
            "fit_loss": [float(np.ravel(v)[0]) for v in history.history["loss"]],
        }
    )
)
