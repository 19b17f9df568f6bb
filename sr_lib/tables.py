"""The one table renderer of the package: HTML in notebooks, aligned text, or GitHub Markdown (no pandas).

Cells are formatted by :func:`format_cell`: floats with ``floatfmt`` (or a per-column format), ``None`` and NaN as an
em dash, booleans as yes/no. The output is a pure function of the cells, so ``# NBVAL_CHECK_OUTPUT`` cells can
compare it. :func:`sr_lib.viz.table`, :func:`sr_lib.complexity.format_table` and the chapter kit render through it.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from .errors import ConfigError

MISSING = "—"


def format_cell(value: Any, floatfmt: str = ".2f") -> str:
    """One cell as text: ``None``/NaN -> :data:`MISSING`, booleans -> yes/no, floats with ``floatfmt``."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return MISSING if math.isnan(value) else format(float(value), floatfmt)
    return str(value)


def signed(value: float | None, digits: int) -> str | None:
    """A difference as text with its sign (``+0.012``, ``-0.300``; never ``-0.000``), or None for no value."""
    return None if value is None else f"{round(value, digits) + 0.0:+.{digits}f}"


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)))


@dataclass
class Table:
    """Rows of cells with a header; HTML in notebooks, aligned fixed-width text as ``text/plain``, or Markdown.

    Floats are formatted with ``floatfmt`` (or a per-column format from ``formats``); numeric columns are
    right-aligned in text and HTML.
    """

    headers: list[str]
    rows: list[list[Any]]
    floatfmt: str = ".2f"
    formats: dict[str, str] = field(default_factory=dict)
    caption: str | None = None

    def __post_init__(self) -> None:
        for r in self.rows:
            if len(r) != len(self.headers):
                raise ConfigError(f"table: row {r!r} has {len(r)} cells, the header has {len(self.headers)}")

    def cells(self) -> list[list[str]]:
        fmts = [self.formats.get(h, self.floatfmt) for h in self.headers]
        return [[format_cell(v, f) for v, f in zip(row, fmts)] for row in self.rows]

    def _numeric(self) -> list[bool]:
        return [all(_is_number(r[i]) for r in self.rows) and bool(self.rows) for i in range(len(self.headers))]

    def text(self) -> str:
        """Fixed-width text: the caption, the header, a rule, the rows."""
        cells = self.cells()
        widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(self.headers)]
        numeric = self._numeric()

        def line(items: Sequence[str]) -> str:
            parts = [s.rjust(w) if num else s.ljust(w) for s, w, num in zip(items, widths, numeric)]
            return "  ".join(parts).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in cells]
        return "\n".join(out)

    def markdown(self) -> str:
        """A GitHub-flavoured Markdown table (the caption is not part of it)."""
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "|".join("---" for _ in self.headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.cells()]
        return "\n".join(lines)

    def html(self) -> str:
        cells = self.cells()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(
                f'<td style="text-align:{"right" if num else "left"}">{html.escape(c)}</td>'
                for c, num in zip(r, self._numeric())
            ) + "</tr>"
            for r in cells
        )
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return self.html()


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, *, floatfmt: str = ".2f",
          formats: Mapping[str, str] | None = None, caption: str | None = None) -> Table:
    """A :class:`Table` from a list of dicts (columns: ``columns`` or the keys of the first row, in order)."""
    if not rows and not columns:
        raise ConfigError("table: no rows and no columns")
    cols = list(columns) if columns is not None else list(rows[0])
    return Table(cols, [[r.get(c) for c in cols] for r in rows], floatfmt, dict(formats or {}), caption)


def markdown_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ".2f", columns: Sequence[str] | None = None,
                   formats: Mapping[str, str] | None = None) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` (dicts sharing keys); no rows and no columns: ``""``."""
    if not rows and not columns:
        return ""
    return table(rows, columns, floatfmt=floatfmt, formats=formats).markdown()
