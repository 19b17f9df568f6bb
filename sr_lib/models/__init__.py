"""The models of the book: one file per paper, all registered in :mod:`sr_lib.models.registry`."""

from __future__ import annotations

from .registry import InputSpec, ModelEntry, create_model, get_model_entry, list_models, register_model

__all__ = ["InputSpec", "ModelEntry", "create_model", "get_model_entry", "list_models", "register_model"]
