"""Training under `tf.distribute`: strategies, checkpoints, resume, progress and logs."""

from tfflows.training.batches import BatchOrder
from tfflows.training.config import TrainConfig
from tfflows.training.errors import CheckpointError, NonFiniteLossError, RunLockedError
from tfflows.training.evaluation import evaluate_model
from tfflows.training.sources import Splits, load_source
from tfflows.training.strategies import make_strategy
from tfflows.training.trainer import Trainer, TrainResult, train

__all__ = [
    "BatchOrder",
    "CheckpointError",
    "NonFiniteLossError",
    "RunLockedError",
    "Splits",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "evaluate_model",
    "load_source",
    "make_strategy",
    "train",
]
