"""The student edition (``make student``): solutions out, exercises kept and numbered, outputs cleared."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sr_lib.classroom import student_notebook, toc_notebooks
from sr_lib.cli import main
from sr_lib.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": text, "execution_count": 3,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}]}


@pytest.mark.parametrize("path", toc_notebooks(ROOT), ids=lambda p: p.name)
def test_every_chapter_loses_its_solutions_and_keeps_numbered_exercises(path: Path) -> None:
    original = json.loads(path.read_text())
    text = "\n".join("".join(c["source"]) for c in original["cells"] if c["cell_type"] == "markdown")
    ed = student_notebook(original, path.name)
    assert ed.exercises == len(re.findall(r"^:{3,}\{exercise\}", text, re.M))
    assert ed.solutions == len(re.findall(r"^:{3,}\{solution(?:-start)?\}", text, re.M)) >= ed.exercises
    cells = ed.notebook["cells"]
    student_text = "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in cells)
    assert not re.search(r"\{(solution|solution-start|solution-end|exercise)\}", student_text)
    numbers = re.findall(r"^\*\*Exercise (\d+)\.(\d+): ", student_text, re.M)
    assert [int(k) for _, k in numbers] == list(range(1, ed.exercises + 1))
    assert {int(c) for c, _ in numbers} <= {int(path.name[:2])} if path.name[:2].isdigit() else not numbers
    codes = sum(c["cell_type"] == "code" for c in original["cells"])
    assert sum(c["cell_type"] == "code" for c in cells) == codes - ed.removed_code_cells
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells if c["cell_type"] == "code")


def test_both_solution_forms_and_text_around_them() -> None:
    nb = {"cells": [
        _md("Intro\n\n:::{exercise} One\n:label: ex-one\n\nDo it.\n:::\n\n::::{solution-start} ex-one\n:class: dropdown\n"
            "::::\n\nHidden words."),
        _code("answer = 42"),
        _md("More hidden.\n\n::::{solution-end}\n::::\n\n:::{exercise} Two\n:label: ex-two\nAgain.\n:::\n\n"
            ":::{solution} ex-two\n:class: dropdown\nShort answer.\n:::\n\nAfter."),
        _code("print('kept')"),
    ]}
    ed = student_notebook(nb, "03_demo.ipynb")
    sources = [c["source"] for c in ed.notebook["cells"]]
    assert sources == ["Intro\n\n**Exercise 3.1: One**\n\nDo it.", "**Exercise 3.2: Two**\nAgain.\n\n\nAfter.",
                       "print('kept')"]
    assert (ed.exercises, ed.solutions, ed.removed_code_cells) == (2, 2, 1)
    assert ed.notebook["cells"][-1]["outputs"] == [] and nb["cells"][-1]["outputs"]  # the input is not modified
    with pytest.raises(ConfigError, match="no solution-end"):
        student_notebook({"cells": [_md("::::{solution-start} ex-x\n::::\n")]}, "x.ipynb")


def test_cli_writes_the_edition_and_answers_bad_input_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["student", "--out", str(tmp_path), str(ROOT / "book" / "02_srcnn.ipynb")]) == 0
    assert json.loads((tmp_path / "02_srcnn.ipynb").read_text())["cells"]
    assert "02_srcnn.ipynb: 5 exercises" in capsys.readouterr().out
    assert main(["student", "--out", str(tmp_path), str(tmp_path / "missing.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read notebook" in err
    assert main(["student", "--out", str(tmp_path), "--root", str(tmp_path)]) == 2
    assert "no _toc.yml" in capsys.readouterr().err
