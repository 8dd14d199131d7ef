"""Exporting models as SavedModels that TF Serving loads (see `saved_model.py`)."""

from tfflows.export.saved_model import SIGNATURES, export_saved_model, serving_module

__all__ = ["SIGNATURES", "export_saved_model", "serving_module"]
