"""Affine coupling layer of Real NVP and Glow."""

import tensorflow as tf

from tfflows.bijectors._base import FlowBijector
from tfflows.bijectors._util import bounded_log_scale, saturate
from tfflows.bijectors.coupling_masks import CouplingBijector

SCALES = ("exp", "sigmoid")


class AffineCoupling(CouplingBijector, FlowBijector):
    """Affine coupling: half of the event is scaled and shifted by a function of the other half.

    With the conditioner output h(x1) split into (t, r) along the last axis:

        inverse (data -> latent):  z1 = x1,  z2 = x2 * s + t
        forward (latent -> data):  x1 = z1,  x2 = (z2 - t) / s
        log|det dz/dx| = sum(log s)

    and the scale s is either

        "exp"     (Real NVP):  log s = B * tanh(r / B), bounded by B = `log_scale_bound`
        "sigmoid" (Glow):      s = sigmoid(r + 2), log s saturating below -6 (`saturate`)

    Trained models stay well inside the saturation (log s > -5 on every zoo model's test
    split), where it changes nothing; far from the data it keeps 1/s below e^7, where an
    unbounded 1/s overflowed float32 when sampling (glow_celeba at temperature 1.0).

    With a zero-initialised conditioner the "exp" form is the identity; the "sigmoid" form
    starts as a contraction of x2 by sigmoid(2) = 0.881, exactly as in Glow.

    Args:
      conditioner: callable from the conditioning part (channel mask) or `mask * x`
        (alternating/checkerboard masks) to `h` with twice the channels of the part it
        transforms (shift first, raw scale second). A Keras 3 layer read at call time.
      mask: "channel"/"half", "alternating" (vectors) or "checkerboard" (HWC images).
      parity: 0 or 1, which part conditions.
      scale: "exp" or "sigmoid".
      log_scale_bound: B for the "exp" form (None: `saturate`d beyond +-6).
      event_ndims: 1 for vectors, 3 for images.

    Example:
      >>> net = tfflows.nets.ConvNet(hidden_channels=64, output_channels=2 * 6)
      >>> bij = AffineCoupling(net, mask="channel", scale="sigmoid", event_ndims=3)
      >>> z = bij.inverse(tf.random.normal([8, 4, 4, 12]))

    References: Dinh, Sohl-Dickstein, Bengio, "Density estimation using Real NVP",
    arXiv:1605.08803, Section 3.3-3.4; Kingma, Dhariwal, "Glow", arXiv:1807.03039, Table 1.
    """

    def __init__(
        self,
        conditioner,
        mask="half",
        parity=0,
        scale="exp",
        log_scale_bound=2.0,
        event_ndims=1,
        validate_args=False,
        name="affine_coupling",
    ):
        parameters = dict(locals())
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        with tf.name_scope(name) as name:
            self._coupling_init(conditioner, mask, parity, event_ndims)
            self._scale = scale
            self._log_scale_bound = log_scale_bound
            super().__init__(
                forward_min_event_ndims=event_ndims,
                validate_args=validate_args,
                parameters=parameters,
                name=name,
            )

    def _transform_params(self, h):
        shift, raw = tf.split(h, 2, axis=-1)
        if self._scale == "sigmoid":
            # log s is at most 0, unbounded below: the sampling direction divides by s.
            log_scale = saturate(tf.math.log_sigmoid(raw + 2.0))
        else:
            log_scale = bounded_log_scale(raw, self._log_scale_bound)
        return shift, log_scale
