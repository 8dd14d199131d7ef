"""Data: loading, pipelines, the discrete-data transforms of flows, and synthetic targets.

- `sources`: data sets in memory (`load_source` -> train/test `Splits`, `load_npz`).
- `pipelines`: streaming `tf.data` pipelines (numpy arrays, image folders, tfds).
- `quantization`, `validation`: dequantization, n-bit reduction, input checks.
- `video`: synthetic videos [N, T, H, W, C]: VideoFlow's stochastic shapes
  (`stochastic_shapes`), Moving MNIST (`moving_mnist`), and `video_source` specs -> `Splits`.
- `audio`: the Free Spoken Digit Dataset as fixed-length float32 clips (`fsdd`), WAV files
  (`save_wav`, `load_wav`).
- `binarization`: binarised grey levels for Bernoulli VAEs (`binarize`, `binarized_mnist`).
- `toy_data`: 2-D toy data sets (two moons, rings); `energies`: the 2-D targets U1..U4 of
  variational inference (Rezende & Mohamed 2015) and their log Z.

Loaders yield data as data sets store it (uint8 images, optional integer labels);
`FlowModel` dequantizes inside, with seeded noise, so every loader feeds every model.
"""

from tfflows.data.audio import fsdd, load_wav, save_wav
from tfflows.data.binarization import binarize, binarized_mnist
from tfflows.data.pipelines import from_image_folder, from_numpy, from_tfds
from tfflows.data.quantization import dequantize, reduce_bits, to_uint8
from tfflows.data.sources import Splits, load_npz, load_source, split_every
from tfflows.data.toy_data import rings, two_moons
from tfflows.data.validation import check_array
from tfflows.data.video import moving_mnist, stochastic_shapes, video_source

__all__ = [
    "Splits",
    "binarize",
    "binarized_mnist",
    "check_array",
    "dequantize",
    "from_image_folder",
    "fsdd",
    "load_wav",
    "save_wav",
    "from_numpy",
    "from_tfds",
    "load_npz",
    "load_source",
    "moving_mnist",
    "reduce_bits",
    "rings",
    "split_every",
    "stochastic_shapes",
    "to_uint8",
    "two_moons",
    "video_source",
]
