"""What the audio models (WaveNet, ParallelWaveNet) share: clips [N, T] in [-1, 1] of any
length, optional class-label conditioning, and seeded noise."""

import numpy as np
import tensorflow as tf

from tfflows.data.validation import check_audio, check_tensor
from tfflows.models import arguments
from tfflows.models.conditioning import Conditioning


class AudioModel:
    """Mixin: the data side of a model of audio clips (float32 [N, T], any T)."""

    def _init_audio(self, num_classes, sample_rate):
        self.sample_rate = arguments.count(sample_rate, "sample_rate")
        self.conditioning = Conditioning(num_classes, None, owner=type(self).__name__)

    @property
    def data_shape(self) -> tuple:
        """(T,) with T = None: clips of any length."""
        return (None,)

    @property
    def condition_shape(self):
        return self.conditioning.shape

    @property
    def num_classes(self):
        return self.conditioning.num_classes

    @property
    def num_bits(self):
        return None

    @property
    def space(self):
        return None

    def checked_condition(self, condition, n=None):
        """(one-hot labels [N, K] for the networks, [N] validity mask or None)."""
        return self.conditioning.checked(condition, n, self.compute_dtype)

    def check_data(self, x, name: str = "x", allow_empty: bool = False) -> np.ndarray:
        """`x` as a numpy array: ValueError unless it is float clips [N, T] in [-1, 1]."""
        x = np.asarray(x)
        if not allow_empty and x.ndim == 2 and x.shape[0] == 0:
            raise ValueError(f"{name} is empty (shape {x.shape}): there is nothing to use")
        check_audio(x, name, self.min_length)
        return x

    min_length = 1
    # Clips per evaluation batch in `tfflows.train` (a batch of 500 long clips runs out of
    # memory on a 24 GB machine).
    max_eval_batch = 32

    def _checked_batch(self, x):
        return check_audio(x, "x", self.min_length)[0]

    def _audio(self, x, condition=None, name="x", audio=True):
        """(clips, networks' condition, n, [n] validity mask or None), checked; noise
        (`audio=False`) is not bounded to [-1, 1]. An empty batch becomes one zero clip
        (TF's CPU convolutions fail on empty batches); `arguments.masked` cuts results to n."""
        if audio:
            x, valid = check_audio(x, name, self.min_length)
        else:
            x = tf.convert_to_tensor(x, self.compute_dtype)
            if len(x.shape) != 2:
                raise ValueError(f"{name} must be [N, T], got shape {tuple(x.shape)}")
            x, valid = check_tensor(x, (None,), None, name)
        x = tf.cast(x, self.compute_dtype)
        n = tf.shape(x)[0] if x.shape[0] is None else x.shape[0]
        c, c_valid = self.checked_condition(condition, n)
        x, c, _ = arguments.nonempty(x, c)
        return x, c, n, arguments.both(valid, c_valid)

    def draw_noise(self, n, length, seed=None) -> tf.Tensor:
        """Standard-normal noise [n, length]; an int seed makes it the same in every mode
        (Philox)."""
        shape = tf.stack([tf.cast(n, tf.int32), tf.cast(length, tf.int32)])
        if seed is None:
            return tf.random.normal(shape, dtype=self.compute_dtype)
        if not tf.is_tensor(seed):
            seed = arguments.whole(seed, "seed", minimum=None)
        seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(2, tf.int64)])
        return tf.random.stateless_normal(shape, seed, dtype=self.compute_dtype, alg="philox")

    def _length(self, length):
        if tf.is_tensor(length) and not tf.executing_eagerly():
            check = tf.debugging.assert_greater_equal(
                length, self.min_length, message=f"length must be >= {self.min_length}"
            )
            with tf.control_dependencies([check]):
                return tf.identity(length)
        length = arguments.whole(
            int(length) if tf.is_tensor(length) else length, "length", self.min_length
        )
        return arguments.fits_int32(length, "length")

    def needs_initialization(self) -> bool:
        return False

    def initialize(self, x, condition=None, seed=None) -> None:
        """Audio models have no data-dependent initialisation."""
