"""Exporting models as SavedModels that TF Serving loads (see `saved_model.py`; video models
get the signatures of `video_signatures.py`)."""

from tfflows.export.saved_model import (
    MAX_BATCH,
    MAX_SAMPLES,
    SIGNATURES,
    export_saved_model,
    serving_module,
    signature_names,
)
from tfflows.export.video_signatures import MAX_FRAMES, VIDEO_SIGNATURES, video_serving_module

__all__ = [
    "MAX_BATCH",
    "MAX_FRAMES",
    "MAX_SAMPLES",
    "SIGNATURES",
    "VIDEO_SIGNATURES",
    "export_saved_model",
    "serving_module",
    "signature_names",
    "video_serving_module",
]
