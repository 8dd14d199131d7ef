"""The base class of every tfflows bijector."""

import tensorflow as tf
import tensorflow_probability as tfp


class FlowBijector(tfp.bijectors.Bijector):
    """A `tfp.bijectors.Bijector` whose cache is private to the instance.

    TFP keys its forward/inverse cache by the bijector's parameters, so two instances built
    from the same variables (or from equal values) share cached results: a round trip
    through two "fresh" objects then returns the very input tensor and hides any
    invertibility bug, and in eager mode a result computed before a weight update is served
    after it. Identifying each instance by `id(self)` (TFP's own rule for bijectors without
    `parameters`) keeps the cache within one object, where it still records log-dets
    computed alongside the transform.
    """

    def _get_parameterization(self):
        return id(self)


class ConstantLogDet:
    """Mixin for bijectors whose log-det does not depend on the input.

    Subclasses set `self._event_ndims` and define `_constant_ildj(y)`, the scalar
    log|det dz/dx| of one event (it may use y's static shape, e.g. H * W); this mixin
    broadcasts it over the batch in both directions.
    """

    def _constant_ildj(self, y):
        return 0.0

    def _inverse_log_det_jacobian(self, y):
        value = tf.cast(self._constant_ildj(y), y.dtype)
        return tf.fill(tf.shape(y)[: len(y.shape) - self._event_ndims], value)

    def _forward_log_det_jacobian(self, x):
        # The constant is the same at x and at forward(x), so no forward pass is needed.
        return -self._inverse_log_det_jacobian(x)
