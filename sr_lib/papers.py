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
                  degradation: str = "BI", primary_only: bool = True) -> list[dict[str, Any]]:
    """Rows matching the filters, with ``psnr``/``ssim`` as floats (None where the paper gives none)."""
    out = []
    for row in _rows():
        if model is not None and row["model"].lower() != model.lower():
            continue
        if scale is not None and row["scale"] != str(scale):
            continue
        if dataset is not None and row["dataset"].lower() != dataset.lower():
            continue
        if degradation and row["degradation"] != degradation:
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
