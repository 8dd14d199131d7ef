"""How a conditioner network takes its optional condition (a vector or a feature map)."""

import keras


def check_condition_shape(condition_shape, allowed_ranks, net_name):
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


def require_condition(layer, condition):
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


def zeros():
    """The initializer of every network's last layer: each flow step starts at the identity."""
    return keras.initializers.Zeros()
