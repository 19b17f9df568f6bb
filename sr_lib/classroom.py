"""The student edition of the chapters (``make student``): every notebook of the book without its solutions.

The chapters' exercises follow the chapter standard: ``:::{exercise} Title`` with a ``:label:``, and a solution either
gated (``::::{solution-start} label`` ... ``::::{solution-end}``, code cells in between) or in one directive
(``:::{solution} label`` ... ``:::``). The student edition

* removes every solution: the Markdown lines from the opening to the closing fence and the code cells in between;
* keeps every exercise, numbered as the book numbers them (``Exercise 8.2``: chapter 8, second exercise) and written
  as plain Markdown, so that the numbers show in Jupyter and Colab, which do not render MyST directives;
* clears every output, so that students run the cells themselves.

Notebooks are read and written as JSON (nbformat 4); each file is written atomically.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .imageio import atomic_write_bytes

# A sphinx-exercise directive's opening or closing colon fence (read by make student and the instructor page).
EXERCISE_FENCE = re.compile(r"^(:{3,})\s*\{(exercise|solution|solution-start|solution-end)\}\s*(.*)$")
_OPTION = re.compile(r"^:[\w-]+:")  # a directive option line (":label: ...", ":class: dropdown")


@dataclass(frozen=True)
class Edition:
    """What :func:`student_notebook` did to one notebook."""

    notebook: dict[str, Any]
    exercises: int
    solutions: int
    removed_code_cells: int


def _chapter_number(name: str) -> str | None:
    match = re.match(r"(\d+)_", name)
    return str(int(match.group(1))) if match else None


def student_notebook(notebook: dict[str, Any], name: str) -> Edition:
    """The student edition of ``notebook`` (nbformat 4 as a dict; ``name``: its file name, e.g. ``08_srgan.ipynb``,
    whose leading number numbers the exercises). Raises :class:`ConfigError` on an unclosed solution."""
    chapter = _chapter_number(name)
    out = copy.deepcopy(notebook)
    cells: list[dict[str, Any]] = []
    gated = False  # inside solution-start ... solution-end (spans cells)
    exercises = solutions = removed = 0
    for cell in out.get("cells", []):
        if cell.get("cell_type") == "code":
            if gated:
                removed += 1
                continue
            cell["outputs"], cell["execution_count"] = [], None
            cells.append(cell)
            continue
        if cell.get("cell_type") != "markdown":
            cells.append(cell)
            continue
        kept: list[str] = []
        lines = "".join(cell.get("source", "")).split("\n")
        i = 0
        while i < len(lines):
            line = lines[i]
            fence = EXERCISE_FENCE.match(line.strip())
            kind = fence.group(2) if fence else None
            if gated:
                if kind == "solution-end":
                    gated = False
                    i += 1
                    while i < len(lines) and (_OPTION.match(lines[i].strip()) or re.fullmatch(r":{3,}", lines[i].strip())):
                        i += 1  # the directive's options and closing fence
                    continue
                i += 1
                continue
            if kind == "solution-start":
                gated, solutions = True, solutions + 1
                i += 1
                continue
            if kind == "solution":  # one directive: skip to its closing fence
                closing = fence.group(1)  # type: ignore[union-attr]
                solutions += 1
                i += 1
                while i < len(lines) and lines[i].strip() != closing:
                    i += 1
                i += 1
                continue
            if kind == "exercise":
                exercises += 1
                number = f"{chapter}.{exercises}" if chapter else str(exercises)
                kept.append(f"**Exercise {number}: {fence.group(3).strip()}**")  # type: ignore[union-attr]
                i += 1
                while i < len(lines) and _OPTION.match(lines[i].strip()):
                    i += 1  # :label: and other options
                closing = fence.group(1)  # type: ignore[union-attr]
                while i < len(lines) and lines[i].strip() != closing:
                    kept.append(lines[i])
                    i += 1
                i += 1  # the exercise's closing fence
                continue
            kept.append(line)
            i += 1
        text = "\n".join(kept).strip("\n")
        if text.strip():
            cell["source"] = text
            cells.append(cell)
    if gated:
        raise ConfigError(f"{name}: a solution-start has no solution-end")
    out["cells"] = cells
    return Edition(out, exercises, solutions, removed)


def write_student_edition(notebooks: list[Path], out_dir: Path) -> list[tuple[Path, Edition]]:
    """Write the student edition of each notebook into ``out_dir`` (same file names); returns what each holds."""
    if not notebooks:
        raise ConfigError("no notebook given")
    written = []
    for path in notebooks:
        try:
            notebook = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read notebook {path}: {exc}") from None
        edition = student_notebook(notebook, Path(path).name)
        target = Path(out_dir) / Path(path).name
        atomic_write_bytes(target, (json.dumps(edition.notebook, indent=1, ensure_ascii=False) + "\n").encode())
        written.append((target, edition))
    return written


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks ``_toc.yml`` under ``root`` lists (its root page first), in its order."""
    toc = Path(root) / "_toc.yml"
    if not toc.is_file():
        raise ConfigError(f"no _toc.yml in {root}")
    files = re.findall(r"^(?:root|\s*- file):\s*(\S+)", toc.read_text(encoding="utf-8"), re.MULTILINE)
    return [Path(root) / f"{f}.ipynb" for f in files if (Path(root) / f"{f}.ipynb").is_file()]
