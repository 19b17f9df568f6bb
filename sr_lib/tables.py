"""Plain tables for notebooks and the terminal (no pandas dependency)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def _fmt(value: Any, floatfmt: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, floatfmt)
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ".2f", columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (dicts sharing keys); None prints as an en dash."""
    if not rows:
        return ""
    cols = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_fmt(r.get(c), floatfmt) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
