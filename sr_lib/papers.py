"""The papers' reported numbers (``resources/paper_results.csv``), each row with its source.

Columns: model, variant, scale, degradation, dataset, psnr, ssim, params_M, source, protocol, primary, notes.
``primary == 1`` marks the row a table should quote; other rows are cross-checks (the same number as quoted by a
later paper).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from typing import Any


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict[str, str], ...]:
    text = resources.files("sr_lib").joinpath("resources/paper_results.csv").read_text()
    return tuple(csv.DictReader(text.splitlines()))


def paper_results(model: str | None = None, scale: int | None = None, dataset: str | None = None,
                  degradation: str | None = "BI", primary_only: bool = True,
                  variant: str | None = None) -> list[dict[str, Any]]:
    """Rows matching the filters, with ``psnr``/``ssim`` as floats (None where the paper gives none).

    degradation: ``"BI"``, or the part before the colon of the blind-SR settings (``"setting1"``); None: any.
    variant: the start of the ``variant`` column (e.g. ``"DANv2"``); None: any.
    """
    out = []
    for row in _rows():
        if model is not None and row["model"].lower() != model.lower():
            continue
        if scale is not None and row["scale"] != str(scale):
            continue
        if dataset is not None and row["dataset"].lower() != dataset.lower():
            continue
        if degradation and row["degradation"].split(":")[0] != degradation:
            continue
        if variant is not None and not row["variant"].startswith(variant):
            continue
        if primary_only and row["primary"] != "1":
            continue
        out.append({**row, "scale": int(row["scale"]),
                    "psnr": float(row["psnr"]) if row["psnr"] else None,
                    "ssim": float(row["ssim"]) if row["ssim"] else None})
    return out


def paper_psnr(model: str, scale: int, dataset: str) -> float | None:
    """The primary PSNR the paper reports for ``model`` (CSV name, e.g. "SRCNN", "Bicubic"), or None."""
    rows = [r for r in paper_results(model, scale, dataset) if r["psnr"] is not None]
    return rows[0]["psnr"] if rows else None


def paper_results_for(model: str, scale: int | None = None, dataset: str | None = None,
                      degradation: str | None = None) -> list[dict[str, Any]]:
    """The papers' rows of registry preset ``model`` (its entry's ``paper_name`` and ``paper_variant``; the primary
    rows unless the variant names them); empty when the papers' tables have no row for it."""
    from .models import get_model_entry

    entry = get_model_entry(model)
    if entry.paper_name is None:
        return []
    return paper_results(entry.paper_name, scale, dataset, degradation, primary_only=entry.paper_variant is None,
                         variant=entry.paper_variant)
