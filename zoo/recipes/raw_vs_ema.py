"""Test bits/dim of a training run's latest checkpoint with its raw weights and with the
EMA weights (what the trainer ships), on the data's test split.

    python zoo/recipes/raw_vs_ema.py RUN_DIR --data DATA [--save-raw FILE.weights.h5]

`--save-raw` also writes the raw weights (Keras' .weights.h5), e.g. to publish them where
they score better than the average (videoflow_shapes).
"""

import argparse
import json
import pathlib

from tfflows import models
from tfflows.data import load_source
from tfflows.training import Trainer, evaluate_model
from tfflows.training.config import TrainConfig
from tfflows.training.feed import fit_shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--data", required=True)
    parser.add_argument("--save-raw", metavar="FILE", help="write the raw weights here")
    args = parser.parse_args()
    run = pathlib.Path(args.run_dir)
    config = json.loads((run / "train_config.json").read_text())
    splits = load_source(args.data)
    config.update(out_dir=str(run), progress=False)
    model = models.build_model(json.loads((run / "model.json").read_text()))
    trainer = Trainer(model, splits.train_x, config=TrainConfig(**config))
    latest = trainer.restore()
    x = fit_shape(splits.test_x, trainer.model.data_shape, "test")
    raw = evaluate_model(trainer.model, x)["bits_per_dim"]
    if args.save_raw:
        trainer.model.save_weights(args.save_raw)
    with trainer.averaged():
        ema = evaluate_model(trainer.model, x)["bits_per_dim"]
    print(json.dumps({"checkpoint": latest, "raw_bits_per_dim": raw, "ema_bits_per_dim": ema}))


if __name__ == "__main__":
    main()
