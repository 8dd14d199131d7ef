"""Training loops: maximum likelihood under `tf.distribute` (strategies, checkpoints, resume,
progress and logs) and variational inference (reverse KL to an unnormalised target)."""

from tfflows.training.batches import BatchOrder
from tfflows.training.config import TrainConfig
from tfflows.training.errors import CheckpointError, NonFiniteLossError, RunLockedError
from tfflows.training.evaluation import evaluate_model
from tfflows.training.strategies import make_strategy
from tfflows.training.trainer import Trainer, TrainResult, train
from tfflows.training.variational import fit_vi, kl_divergence, reverse_kl_terms

__all__ = [
    "BatchOrder",
    "CheckpointError",
    "NonFiniteLossError",
    "RunLockedError",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "evaluate_model",
    "fit_vi",
    "kl_divergence",
    "make_strategy",
    "reverse_kl_terms",
    "train",
]
