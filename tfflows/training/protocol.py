"""What the trainer needs of a model: any model with these methods trains under
`tfflows.train` (checkpoints, strategies, resume, reports), flows and the sequence and
variational models alike."""

from typing import Protocol, runtime_checkable


@runtime_checkable
class Trainable(Protocol):
    """A Keras model the trainer can train by minimising `nll`."""

    data_shape: tuple
    condition_shape: tuple | None

    def nll(self, x, condition=None, seed=None, offset=0, global_batch=None):
        """The per-example loss to minimise (the data's NLL in nats, or its bound): [N].
        `seed` (a stateless seed) fixes any noise; `offset`/`global_batch` say which rows of
        the global batch `x` is, so the noise does not depend on the number of replicas."""

    def bits_from_nll(self, nll):
        """The same loss per dimension in bits."""

    def check_data(self, x, name="x", allow_empty=False):
        """Raises ValueError naming what is wrong with the array `x`; returns it."""

    def checked_condition(self, condition, n=None):
        """(condition for the networks, validity mask): raises on bad labels."""

    def needs_initialization(self) -> bool:
        """Whether `initialize` (data-dependent initialisation) is still to run."""

    def initialize(self, x, condition=None, seed=None):
        """Data-dependent initialisation from a first batch."""

    def first_nonfinite(self, x, condition=None, seed=None) -> str | None:
        """Where a batch first becomes non-finite (a sentence), or None."""
