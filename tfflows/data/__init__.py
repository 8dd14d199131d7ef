"""Input pipelines and the discrete-data transforms of flows.

Pipelines yield data as data sets store it (uint8 images, optional integer labels);
`FlowModel` dequantizes inside, with seeded noise, so every pipeline feeds every model.
"""

from tfflows.data.pipelines import from_image_folder, from_numpy, from_tfds, load_npz
from tfflows.data.quantization import dequantize, reduce_bits, to_uint8
from tfflows.data.validation import check_array

__all__ = [
    "check_array",
    "dequantize",
    "from_image_folder",
    "from_numpy",
    "from_tfds",
    "load_npz",
    "reduce_bits",
    "to_uint8",
]
