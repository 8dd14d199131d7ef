"""VideoFlow's prior networks: earlier frames' latents -> a Gaussian over this frame's latent.

Each network takes one scale of a sequence of latents, z [B, T, h, w, c], and optionally
this frame's higher-scale latent, `higher` [B, T, h, w, c'], and returns the shift and the
raw log-scale of a Gaussian over z, each [B, T, h, w, c]. The output at frame t sees z at
frames < t and `higher` at frames <= t only: the network reads z shifted one frame later
(zeros before the first frame), and every temporal operation is causal. The last layer
starts at zero, so an untrained prior is N(0, 1) (or N(z_{t-1}, 1) with `latent_skip`).

- `IndependentPrior`: no temporal conditioning (shift 0, log-scale 0): the baseline, under
  which a video model scores each frame exactly as its image flow does.
- `PointwisePrior`: 1x1 convolutions of (z_{t-1}, higher_t) at each position.
- `Conv3DPrior` (VideoFlow's default): a residual stack of 3-D convolutions, causal in time
  (`time_kernel` frames), 3x3 in space.
- `ConvLSTMPrior`: a convolutional LSTM over the frames.

Reference: Kumar et al., "VideoFlow", arXiv:1903.01434, Section 4.2 and Appendix; the
latent encoders of tensor2tensor's `glow_ops` (pointwise, conv3d_net, conv_lstm).
"""

import keras
import tensorflow as tf
from keras import ops

from tfflows.nets.conditions import zeros


class TemporalPrior(keras.layers.Layer):
    """Base of the temporal priors: input assembly, output split, `latent_skip`.

    Args:
      channels: c, the channels of the scale it models.
      higher_channels: c' of the higher-scale latent it is conditioned on (0: none, the
        top scale).
      hidden_channels: width of the hidden layers.
      depth: number of hidden layers (residual blocks for `Conv3DPrior`).
      latent_skip: the shift is z_{t-1} + the network's output (tensor2tensor's
        `latent_skip`), so an untrained prior predicts "nothing moves".
      network_dtype: dtype policy of the convolutions only (e.g. "mixed_bfloat16"); inputs
        and outputs keep the layer's dtype (float32).
    """

    def __init__(
        self,
        channels: int,
        higher_channels: int = 0,
        hidden_channels: int = 64,
        depth: int = 2,
        latent_skip: bool = False,
        network_dtype: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.network_dtype = network_dtype
        self.channels = int(channels)
        self.higher_channels = int(higher_channels)
        self.hidden_channels = int(hidden_channels)
        self.depth = int(depth)
        self.latent_skip = bool(latent_skip)
        for name in ("channels", "hidden_channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.higher_channels < 0 or self.depth < 0:
            raise ValueError(
                f"higher_channels and depth must be >= 0, got {higher_channels}, {depth}"
            )

    @property
    def network_policy(self):
        return self.network_dtype or self.dtype_policy

    @property
    def input_channels(self) -> int:
        return self.channels + self.higher_channels

    def _inputs(self, z, higher):
        """(z_{t-1} with zeros at t = 0, [z_{t-1}, higher_t] along channels)."""
        previous = ops.pad(z, [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]])[:, :-1]
        if self.higher_channels:
            if higher is None:
                raise ValueError(f"{self.name} needs the higher-scale latent (higher_channels > 0)")
            return previous, ops.concatenate([previous, ops.cast(higher, z.dtype)], axis=-1)
        return previous, previous

    def call(self, z, higher=None) -> tuple:
        previous, inputs = self._inputs(z, higher)
        out = ops.cast(self.network(inputs), z.dtype)
        shift, log_scale = out[..., : self.channels], out[..., self.channels :]
        if self.latent_skip:
            shift = shift + previous
        return shift, log_scale

    def network(self, inputs):
        """[B, T, h, w, input_channels] -> [B, T, h, w, 2 * channels], causal in time."""
        raise NotImplementedError

    def _output_conv(self):
        return keras.layers.Conv3D(
            2 * self.channels,
            1,
            kernel_initializer=zeros(),
            bias_initializer=zeros(),
            dtype=self.network_policy,
            name="conv_out",
        )

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "higher_channels": self.higher_channels,
            "hidden_channels": self.hidden_channels,
            "depth": self.depth,
            "latent_skip": self.latent_skip,
            "network_dtype": self.network_dtype,
        }


@keras.saving.register_keras_serializable(package="tfflows")
class IndependentPrior(TemporalPrior):
    """No temporal conditioning: shift 0 and log-scale 0 at every frame (no weights)."""

    def build(self, input_shape):
        self.built = True

    def call(self, z, higher=None):
        return ops.zeros_like(z), ops.zeros_like(z)


@keras.saving.register_keras_serializable(package="tfflows")
class PointwisePrior(TemporalPrior):
    """`depth` 1x1 convolutions with ReLU, then a zero-initialised 1x1 convolution, applied
    to (z_{t-1}, higher_t) at each position."""

    def build(self, input_shape):
        width = self.input_channels
        self.hidden = []
        for i in range(self.depth):
            conv = keras.layers.Conv3D(
                self.hidden_channels,
                1,
                activation="relu",
                dtype=self.network_policy,
                name=f"conv_{i}",
            )
            conv.build((None, None, None, None, width))
            self.hidden.append(conv)
            width = self.hidden_channels
        self.conv_out = self._output_conv()
        self.conv_out.build((None, None, None, None, width))

    def network(self, inputs):
        h = inputs
        for conv in self.hidden:
            h = conv(h)
        return self.conv_out(h)


@keras.saving.register_keras_serializable(package="tfflows")
class Conv3DPrior(TemporalPrior):
    """A causal 3-D convolution to `hidden_channels`, `depth` residual blocks
    h + conv(relu(h)), then a zero-initialised 1x1x1 convolution. Each convolution sees
    `time_kernel` frames (this one and earlier ones: zero-padded in front) and 3x3 positions.
    """

    def __init__(self, *args, time_kernel: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_kernel = int(time_kernel)
        if self.time_kernel < 1:
            raise ValueError(f"time_kernel must be >= 1, got {time_kernel}")

    def _conv(self, name, activation=None):
        return keras.layers.Conv3D(
            self.hidden_channels,
            (self.time_kernel, 3, 3),
            padding="same",
            activation=activation,
            dtype=self.network_policy,
            name=name,
        )

    def build(self, input_shape):
        self.conv_in = self._conv("conv_in")
        self.conv_in.build((None, None, None, None, self.input_channels))
        self.blocks = [self._conv(f"block_{i}") for i in range(self.depth)]
        for conv in self.blocks:
            conv.build((None, None, None, None, self.hidden_channels))
        self.conv_out = self._output_conv()
        self.conv_out.build((None, None, None, None, self.hidden_channels))

    def _causal(self, conv, h):
        # Zero frames in front and a "same" convolution, of whose outputs the ones from
        # offset (k-1)//2 on see each frame and the k-1 before it: the causal convolution.
        # (A Pad op in front of the convolution would be the direct way; TF's graph
        # optimizer fuses Pad into Conv3D even where the gradient reads the padded input,
        # and then fails, "remapper failed: ... exist for missing node ...Pad".)
        k = self.time_kernel
        if k == 1:
            return conv(h)
        shape = tf.shape(h)
        front = tf.zeros(tf.concat([shape[:1], [k - 1], shape[2:]], 0), h.dtype)
        padded = tf.concat([front, h], axis=1)
        frames = shape[1]
        start = (k - 1) // 2
        return conv(padded)[:, start : start + frames]

    def network(self, inputs):
        h = self._causal(self.conv_in, inputs)
        for conv in self.blocks:
            h = h + self._causal(conv, ops.relu(h))
        return self.conv_out(ops.relu(h))

    def get_config(self):
        return {**super().get_config(), "time_kernel": self.time_kernel}


@keras.saving.register_keras_serializable(package="tfflows")
class ConvLSTMPrior(TemporalPrior):
    """A convolutional LSTM (3x3, `hidden_channels`) over the frames, `depth` of them
    stacked (at least one), then a zero-initialised 1x1 convolution."""

    def build(self, input_shape):
        # Keras' ConvLSTM2D needs the positions' static height and width.
        height, width_px = input_shape[-3], input_shape[-2]
        width = self.input_channels
        self.lstms = []
        for i in range(max(self.depth, 1)):
            lstm = keras.layers.ConvLSTM2D(
                self.hidden_channels,
                3,
                padding="same",
                return_sequences=True,
                dtype=self.network_policy,
                name=f"conv_lstm_{i}",
            )
            lstm.build((None, None, height, width_px, width))
            self.lstms.append(lstm)
            width = self.hidden_channels
        self.conv_out = self._output_conv()
        self.conv_out.build((None, None, None, None, width))

    def network(self, inputs):
        h = inputs
        for lstm in self.lstms:
            h = lstm(h)
        return self.conv_out(h)


PRIORS = {
    "independent": IndependentPrior,
    "pointwise": PointwisePrior,
    "conv3d": Conv3DPrior,
    "conv_lstm": ConvLSTMPrior,
}


def temporal_prior(kind: str, **kwargs) -> TemporalPrior:
    """The prior network of a name in `PRIORS` ("conv3d", "conv_lstm", "pointwise",
    "independent")."""
    cls = PRIORS.get(kind)
    if cls is None:
        raise ValueError(f"unknown temporal prior {kind!r}; known: {', '.join(PRIORS)}")
    return cls(**kwargs)
