"""Mixed precision for the networks only.

Inside `with network_dtype("mixed_bfloat16"):` every network a flow layer creates computes
in bfloat16 (weights stay float32), while the flow's own transforms, log-dets and losses
keep the layer's float32: a coupling's scale and shift come out of the network cast back to
float32 (see `tfflows.layers._conditioner.bind`). Log-dets summed over thousands of
dimensions in bfloat16 (8 bits of mantissa) would be off by whole nats.
"""

import contextlib

_policy = [None]


@contextlib.contextmanager
def network_dtype(policy):
    """Networks created inside compute in `policy` ("mixed_bfloat16", "mixed_float16",
    or None for the layer's own)."""
    previous = _policy[0]
    _policy[0] = policy
    try:
        yield
    finally:
        _policy[0] = previous


def network_policy(default):
    """The dtype policy for a network a layer is creating now."""
    return _policy[0] or default
