"""How a conditioner network takes its optional condition (a vector or a feature map), and
the zero initializer of every network's last layer. Public because the flow layers
(`tfflows.layers`) check their conditions with the same rules."""

from collections.abc import Iterable, Sequence

import keras

__all__ = ["check_condition_shape", "require_condition", "zeros"]


def check_condition_shape(
    condition_shape: Sequence[int] | None, allowed_ranks: Iterable[int], net_name: str
) -> tuple[int, ...] | None:
    """Validates the static shape (without batch) of a network's condition input."""
    if condition_shape is None:
        return None
    shape = tuple(int(d) for d in condition_shape)
    if len(shape) not in allowed_ranks:
        raise ValueError(
            f"{net_name} takes a condition of rank {' or '.join(map(str, allowed_ranks))} "
            f"(without the batch axis), got condition_shape={shape}"
        )
    return shape


def require_condition(layer: keras.layers.Layer, condition: object) -> None:
    """Raises a clear error when a condition is missing, or given to an unconditional net."""
    expected = layer.condition_shape is not None
    if expected and condition is None:
        raise ValueError(
            f"{layer.name} was built with condition_shape={layer.condition_shape} "
            "and needs a `condition` input"
        )
    if not expected and condition is not None:
        raise ValueError(
            f"{layer.name} was built without a condition (condition_shape=None) but received one"
        )


def zeros() -> keras.initializers.Initializer:
    """The initializer of every network's last layer: each flow step starts at the identity."""
    return keras.initializers.Zeros()
