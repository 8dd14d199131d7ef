"""Picks the conditioner network for a step: an MLP for vectors, Glow's ConvNet for images."""

from keras import ops

from tfflows.nets.conv_net import ConvNet
from tfflows.nets.mlp import MLP


def make_conditioner(layer, event_ndims, hidden, output_channels, input_channels, name):
    """Builds (and returns) the network of `layer` for inputs with `input_channels`."""
    if event_ndims == 1:
        hidden_units = list(hidden) if isinstance(hidden, list | tuple) else [hidden, hidden]
        net = MLP(
            hidden_units,
            output_channels,
            condition_shape=layer.condition_shape,
            dtype=layer.network_policy,
            name=name,
        )
        net.build((None, input_channels))
    else:
        if isinstance(hidden, list | tuple):
            raise ValueError(f"image steps take one hidden width (an int), got {hidden!r}")
        net = ConvNet(
            hidden,
            output_channels,
            condition_shape=layer.condition_shape,
            dtype=layer.network_policy,
            name=name,
        )
        net.build((None, None, None, input_channels))
    return net


def bind(net, condition):
    """The conditioner as the one-argument callable a bijector expects. Its output has the
    input's dtype, whatever the network computes in (mixed precision)."""

    def conditioner(x):
        out = net(x, condition=condition)
        return out if out.dtype == x.dtype else ops.cast(out, x.dtype)

    return conditioner
