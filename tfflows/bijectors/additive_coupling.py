"""NICE's additive coupling layer."""

import tensorflow as tf

from tfflows.bijectors._base import ConstantLogDet, FlowBijector
from tfflows.bijectors.coupling_masks import CouplingBijector


class AdditiveCoupling(ConstantLogDet, CouplingBijector, FlowBijector):
    """Volume-preserving additive coupling (NICE).

    With the event split into a conditioning part x1 and a transformed part x2:

        inverse (data -> latent):  z1 = x1,  z2 = x2 + m(x1)
        forward (latent -> data):  x1 = z1,  x2 = z2 - m(z1)
        log|det J| = 0

    Args:
      conditioner: callable mapping the conditioning part (or `mask * x` for the
        alternating/checkerboard masks) to the shift `m`, shaped like the transformed part.
        A Keras 3 layer, read at call time, so its weights are trained by `fit`.
      mask: "channel"/"half" (split the last axis), "alternating" (vectors) or
        "checkerboard" (HWC images).
      parity: 0 or 1, which part conditions; alternate it between layers.
      event_ndims: 1 for vectors, 3 for images.

    Example:
      >>> net = tfflows.nets.MLP(hidden_units=[64, 64], output_units=2)
      >>> bij = AdditiveCoupling(net, mask="half", parity=0)
      >>> z = bij.inverse(tf.random.normal([8, 4]))

    Reference: Dinh, Krueger, Bengio, "NICE: Non-linear Independent Components Estimation",
    arXiv:1410.8516, Section 3.2.
    """

    def __init__(
        self,
        conditioner,
        mask="half",
        parity=0,
        event_ndims=1,
        validate_args=False,
        name="additive_coupling",
    ):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._coupling_init(conditioner, mask, parity, event_ndims)
            super().__init__(
                forward_min_event_ndims=event_ndims,
                is_constant_jacobian=True,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _transform_params(self, h):
        return h, None
