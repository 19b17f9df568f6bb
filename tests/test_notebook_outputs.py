"""The notebooks executed by the book build give the committed outputs where they are meant to be deterministic.

CI executes every chapter once, in ``make book`` (Jupyter Book writes the executed copies to
``_build/jupyter_execute/<path>.ipynb``). This test then compares, for every code cell marked
``# NBVAL_CHECK_OUTPUT``, the ``text/plain`` and ``stdout`` outputs of the executed copy with those committed in the
notebook (whitespace normalised), and fails on any error output of either copy.

Without a build (or with one older than the notebook) a notebook's test is skipped with the reason;
``SR_REQUIRE_BOOK_BUILD=1`` (set by ``.ci/run`` after the build) turns that into a failure.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build" / "jupyter_execute"
MARKER = "# NBVAL_CHECK_OUTPUT"
REQUIRE_BUILD = os.environ.get("SR_REQUIRE_BOOK_BUILD", "") not in ("", "0")


def toc_notebooks() -> list[Path]:
    """The notebooks listed in ``_toc.yml``, as paths relative to the repository root."""
    files = re.findall(r"file:\s*(\S+)", (ROOT / "_toc.yml").read_text())
    return [Path(f + ".ipynb") for f in files if (ROOT / f"{f}.ipynb").is_file()]


def normalise(text: str) -> str:
    return " ".join(text.split())


def checked_outputs(cell: dict[str, Any]) -> list[str]:
    """What a checked cell is compared on: all its stdout as one text (the build may merge a cell's streams into
    one output), then the text/plain of each result or display, in order; each with whitespace normalised. Other
    streams (warnings) and rich-only outputs (glued values, widget state) are not compared."""
    stdout, plain = [], []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream" and out.get("name") == "stdout":
            stdout.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
        elif "text/plain" in out.get("data", {}):
            text = out["data"]["text/plain"]
            plain.append(normalise("".join(text) if isinstance(text, list) else text))
    return [f"stdout: {normalise(''.join(stdout))}"] + plain


def errors(cells: list[dict[str, Any]]) -> list[str]:
    return [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(cells) if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o["output_type"] == "error"]


def _executed(notebook: Path) -> Path:
    built = BUILD / notebook
    source = ROOT / notebook
    reason = None
    if not built.is_file():
        reason = f"no executed copy at {built.relative_to(ROOT)}: run `make book` first"
    elif built.stat().st_mtime < source.stat().st_mtime:
        reason = f"{built.relative_to(ROOT)} is older than {notebook}: run `make book` again"
    if reason:
        if REQUIRE_BUILD:
            pytest.fail(reason + " (SR_REQUIRE_BOOK_BUILD=1)")
        pytest.skip(reason)
    return built


def test_the_toc_lists_notebooks():
    assert toc_notebooks(), "_toc.yml lists no notebook"


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=str)
def test_committed_notebook_has_no_error_output(notebook):
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    assert errors(cells) == []


@pytest.mark.parametrize("notebook", toc_notebooks(), ids=str)
def test_checked_cells_match_the_executed_copy(notebook):
    committed = json.loads((ROOT / notebook).read_text())["cells"]
    executed = json.loads(_executed(notebook).read_text())["cells"]
    assert errors(executed) == [], f"{notebook}: error outputs in the executed copy"
    code = lambda cells: [(i, c) for i, c in enumerate(cells) if c["cell_type"] == "code"]  # noqa: E731
    ours, built = code(committed), code(executed)
    assert ["".join(c["source"]) for _, c in ours] == ["".join(c["source"]) for _, c in built], (
        f"{notebook}: the executed copy has other code cells than the committed notebook; rebuild")
    mismatches = []
    for (i, a), (_, b) in zip(ours, built):
        if MARKER not in "".join(a["source"]):
            continue
        want, got = checked_outputs(a), checked_outputs(b)
        if want != got:
            first = next((k for k, (x, y) in enumerate(zip(want, got)) if x != y), min(len(want), len(got)))
            mismatches.append(f"cell {i}, output {first}:\n  committed: {want[first:first + 1]}\n"
                              f"  executed:  {got[first:first + 1]}")
    assert not mismatches, f"{notebook}: checked outputs differ\n" + "\n".join(mismatches)


def test_checked_outputs_normalise_whitespace_and_merge_streams():
    cell = {"outputs": [
        {"output_type": "stream", "name": "stdout", "text": ["a  b\n"]},
        {"output_type": "stream", "name": "stdout", "text": "c\n"},
        {"output_type": "stream", "name": "stderr", "text": "warning\n"},
        {"output_type": "display_data", "data": {"application/papermill.record/text/plain": "1.0"}},
        {"output_type": "execute_result", "data": {"text/plain": ["x   1\n", "y   2"], "text/html": "<b/>"}},
    ]}
    assert checked_outputs(cell) == ["stdout: a b c", "x 1 y 2"]
    assert checked_outputs({"outputs": [{"output_type": "stream", "name": "stdout", "text": "a\nb"}]}) == \
        checked_outputs({"outputs": [{"output_type": "stream", "name": "stdout", "text": ["a ", " b\n"]}]})
