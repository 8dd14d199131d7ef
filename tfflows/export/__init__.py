"""Exporting models as SavedModels that TF Serving loads (see `saved_model.py`)."""

from tfflows.export.saved_model import (
    MAX_BATCH,
    MAX_SAMPLES,
    SIGNATURES,
    export_saved_model,
    serving_module,
)

__all__ = ["MAX_BATCH", "MAX_SAMPLES", "SIGNATURES", "export_saved_model", "serving_module"]
