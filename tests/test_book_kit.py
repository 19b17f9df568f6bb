"""The chapter kit (sr_lib.book): setup and its fallbacks, the paper-vs-ours table, show_source, glue, and the one
Colab install cell every notebook carries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from sr_lib import book
from sr_lib.errors import ConfigError
from sr_lib.papers import paper_results
from sr_lib.results import ResultsError
from sr_lib.tables import MISSING

ROOT = Path(__file__).resolve().parent.parent


def _chapter(**overrides: object) -> book.Chapter:
    fields: dict = dict(name="t", mode="quick", device=torch.device("cpu"), threads=1, data_dir=None,
                        weights_dir=None, results_dir=None, sets={"Set5": True, "T91": False}, weights={})
    fields.update(overrides)
    return book.Chapter(**fields)


# ------------------------------------------------------------------------------------------------------ setup


def test_setup_without_data_falls_back_to_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    ch = book.setup("demo-test", sets=("Set5", "T91"), data_dir=tmp_path)
    line = capsys.readouterr().out.splitlines()[0]
    assert ch.test_set == "Demo" and ch.demo and ch.train_set("T91") == "Demo"
    assert ch.sets == {"Set5": False, "T91": False}
    assert "Set5, T91 missing" in line and "Demo set in use" in line and f"{ch.threads} threads" in line


def test_setup_finds_the_benchmark(data_dir, capsys):
    ch = book.setup("srcnn", sets=("Set5", "T91"), data_dir=data_dir, mode="full")
    assert ch.test_set == "Set5" and not ch.demo and ch.train_set() == "T91" and ch.mode == "full"
    assert capsys.readouterr().out.startswith("srcnn | full mode | data Set5, T91 found |")


def test_setup_mode_from_environment_and_bad_mode(monkeypatch, tmp_path):
    monkeypatch.setenv("SR_BOOK_MODE", "full")
    assert book.setup("x", data_dir=tmp_path, quiet=True).mode == "full"
    monkeypatch.setenv("SR_BOOK_MODE", "fast")
    with pytest.raises(ConfigError, match="mode must be one of quick, full"):
        book.setup("x", data_dir=tmp_path, quiet=True)

def test_a_page_without_data(capsys):
    ch = book.setup("zoo", sets=(), mode="quick")
    assert not ch.demo and capsys.readouterr().out.startswith("zoo | quick mode | results files")
    with pytest.raises(ConfigError, match="requested no data set"):
        ch.test_set


def test_has_rejects_a_set_not_requested():
    with pytest.raises(ConfigError, match="not requested"):
        _chapter().has("B100")


def test_setup_reports_missing_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SR_WEIGHTS_DIR", raising=False)
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    ch = book.setup("srcnn", data_dir=tmp_path, weights=("srcnn",), weights_dir=tmp_path)
    out = capsys.readouterr().out
    assert ch.weights and all(p is None for p in ch.weights.values())
    assert f"official weights 0/{len(ch.weights)} found" in out
    assert ch.weights_path("srcnn", 3, "imagenet") is None
    with pytest.raises(ConfigError, match="no weights entry"):
        ch.weights_path("srcnn", 3, "no-such-variant")
    with pytest.raises(ConfigError, match="no official weights are registered"):
        book.setup("x", data_dir=tmp_path, weights=("bicubic",), quiet=True)


def test_setup_finds_official_weights(weights_dir, tmp_path):
    ch = book.setup("srcnn", data_dir=tmp_path, weights=("srcnn",), weights_dir=weights_dir, quiet=True)
    path = ch.weights_path("srcnn", 3, "ImageNet")
    assert path is not None and path.is_file() and path.name == "x3.mat"


def test_results_inside_and_outside_a_checkout(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps({"provenance": {"git_commit": "abc"}}))
    ch = _chapter(results_dir=tmp_path)
    assert ch.results("ok.json")["provenance"]["git_commit"] == "abc"
    with pytest.raises(ResultsError, match="no such results file"):
        ch.results("missing.json")
    assert _chapter(results_dir=None).results("ok.json") is None


def test_setup_finds_this_repository_results_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "book")
    assert book.setup("x", data_dir=tmp_path, quiet=True).results_dir == ROOT / "results"


# ------------------------------------------------------------------------------------------------------ tables


def _fake_eval(deltas: dict[str, float], scale: int) -> dict:
    datasets = {}
    for ds, delta in deltas.items():
        paper = paper_results("SRCNN", scale, ds)[0]
        datasets[ds] = {"psnr": paper["psnr"] + delta, "ssim": paper["ssim"] - 0.001}
    return {"datasets": datasets}


def test_paper_vs_ours_rows_and_markdown():
    ours = {"matlab-y": {2: _fake_eval({"Set5": 0.004, "Set14": -0.02}, 2), 3: None},
            "standard": {2: _fake_eval({"Set5": -0.08, "Set14": 0.0}, 2), 3: None}}
    table = book.paper_vs_ours("SRCNN", ours, ["Set5", "Set14"], caption="SRCNN")
    assert [(r["scale"], r["set"]) for r in table.rows] == [("x2", "Set5"), ("x2", "Set14")]  # x3: no files
    assert table.rows[0]["matlab-y - paper"] == pytest.approx(0.004)
    assert table.max_abs_difference("standard") == pytest.approx(0.08)
    assert table.max_abs_difference("matlab-y", "ssim") == pytest.approx(0.001)
    text = repr(table)
    assert text == table._repr_markdown_()
    assert text.startswith("**SRCNN**") and "| scale | set | paper PSNR |" in text
    assert "| x2 | Set5 | 36.66 | 0.9542 | [1] | 36.664 | +0.004 | 0.9532 |" in text
    assert "[1] " + paper_results("SRCNN", 2, "Set5")[0]["source"] in text


def test_paper_vs_ours_missing_file_and_unknown_row():
    partial = book.paper_vs_ours("SRCNN", {"a": {2: _fake_eval({"Set5": 0.0}, 2)}, "b": {2: None}}, ["Set5"],
                                 caption="c")
    assert partial.rows[0]["b"] is None and f"| {MISSING} |" in repr(partial)
    with pytest.raises(ConfigError, match="no primary SRCNN x2 Urban9 row"):
        book.paper_vs_ours("SRCNN", {"a": {2: {"datasets": {}}}}, ["Urban9"], caption="c")
    with pytest.raises(ConfigError, match="no 'a - paper' values"):
        book.paper_vs_ours("SRCNN", {"a": {2: None}}, ["Set5"], caption="c").max_abs_difference("a")


# ------------------------------------------------------------------------------------------------ show_source


def test_show_source_of_functions_and_methods():
    from sr_lib.metrics import psnr
    from sr_lib.models.srcnn import SRCNN

    shown = book.show_source(psnr)
    assert repr(shown).startswith("def psnr(") and "```python\ndef psnr(" in shown._repr_markdown_()
    assert "`sr_lib.metrics.psnr`" in shown._repr_markdown_()
    method = book.show_source(SRCNN.reset_parameters)
    assert repr(method).startswith("def reset_parameters(")  # dedented out of its class


def test_show_source_refuses_code_outside_sr_lib():
    with pytest.raises(ConfigError, match="sr_lib code only"):
        book.show_source(json.dumps)


# ------------------------------------------------------------------------------------------------------- glue


def test_glue_passes_plain_numbers(monkeypatch):
    myst_nb = pytest.importorskip("myst_nb")
    calls = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: calls.append((name, value, display)))
    book.glue(gap=np.float64(0.25), count=np.int64(3), label="x")
    assert calls == [("gap", 0.25, False), ("count", 3, False), ("label", "x", False)]
    assert type(calls[0][1]) is float and type(calls[1][1]) is int
    with pytest.raises(ConfigError, match="non-finite"):
        book.glue(bad=float("nan"))


# ----------------------------------------------------------------------------------------- Colab install cell


def _repository_url() -> str:
    match = re.search(r"^repository:\s*\n(?:\s+#.*\n)*\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.MULTILINE)
    assert match, "_config.yml has no repository.url"
    return match.group(1)


def _toc_notebooks() -> list[Path]:
    from sr_lib.classroom import toc_notebooks

    return toc_notebooks(ROOT)


@pytest.mark.parametrize("notebook", _toc_notebooks(), ids=lambda p: p.name)
def test_every_notebook_installs_from_the_configured_repository(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    first = cells[0]
    assert first["cell_type"] == "code" and "remove-cell" in first["metadata"].get("tags", [])
    sets = book.setup_sets(json.loads(notebook.read_text()))
    assert "".join(first["source"]) == book.colab_install_cell(_repository_url(), sets), (
        f"{notebook.name}: the first cell must be book.colab_install_cell(<repository.url of _config.yml>, {sets})")
    url = _repository_url()
    elsewhere = [i for i, c in enumerate(cells[1:], 1) if url in "".join(c["source"])]
    assert not elsewhere, f"{notebook.name}: the repository URL is written again in cells {elsewhere}"


def test_the_repository_url_is_written_in_config_only():
    url = _repository_url()
    sources = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml", *sorted((ROOT / "sr_lib").rglob("*.py"))]
    assert [str(p.relative_to(ROOT)) for p in sources if p.is_file() and url in p.read_text()] == []


def test_install_cell_needs_https():
    with pytest.raises(ConfigError, match="must be https"):
        book.colab_install_cell("git@github.com:x/y")


# ------------------------------------------------------------------------------------- readable chapters


HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}


def _visible_code(cells: list[dict]) -> list[list[str]]:
    return ["".join(c["source"]).strip().splitlines() for c in cells
            if c["cell_type"] == "code" and not HIDDEN & set(c["metadata"].get("tags", []))]


@pytest.mark.parametrize("notebook", _toc_notebooks(), ids=lambda p: p.name)
def test_visible_code_cells_are_short(notebook):
    lengths = [len(lines) for lines in _visible_code(json.loads(notebook.read_text())["cells"])]
    assert lengths and sum(lengths) / len(lengths) <= 12 and max(lengths) <= 30, (
        f"{notebook.name}: visible code cells average {sum(lengths) / len(lengths):.1f} lines, longest {max(lengths)}"
        " (chapter standard: mean <= 12, max <= 30; move plumbing into sr_lib)")


@pytest.mark.parametrize("notebook", [p for p in _toc_notebooks() if re.match(r"\d\d_", p.name)], ids=lambda p: p.name)
def test_numbered_chapters_follow_the_standard(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    first = _visible_code(cells)[0]
    assert len(first) <= 5 and any("book.setup(" in line for line in first), "the first visible cell sets up the chapter"
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    exercises = re.findall(r"^[`:]{3,}\s*\{exercise\}.*\n:label:\s*(\S+)", text, re.MULTILINE)
    solved = set(re.findall(r"^[`:]{3,}\s*\{solution(?:-start)?\}\s*(\S+)", text, re.MULTILINE))
    assert len(exercises) >= 3 and set(exercises) <= solved, f"exercises {exercises}, solutions for {sorted(solved)}"
    assert "{dropdown}" not in text, "exercises use sphinx-exercise directives, not hand-made dropdowns"
    checked = sum("# NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert checked >= 3 and "{cite}" in text


def _glued_names(cells: list[dict]) -> set[str]:
    """Keyword names of every ``book.glue(...)`` call in the code cells."""
    import ast

    names = set()
    for c in cells:
        if c["cell_type"] != "code":
            continue
        tree = ast.parse("\n".join(line for line in "".join(c["source"]).splitlines() if not line.startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "glue":
                names |= {k.arg for k in node.keywords if k.arg}
    return names


@pytest.mark.parametrize("notebook", _toc_notebooks(), ids=lambda p: p.name)
def test_every_glued_number_in_the_prose_is_computed(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue(?::text)?\}`([A-Za-z_]\w*)", text))
    assert used <= _glued_names(cells), f"{notebook.name}: glued in prose but computed nowhere: {used - _glued_names(cells)}"


def test_study_kit_reads_the_committed_studies_and_says_when_files_are_missing(tmp_path, capsys) -> None:
    """``Chapter.study_table`` / ``claim`` / ``seed_curves`` on the repository's results files, on an empty folder
    and outside a checkout."""
    from pathlib import Path

    from sr_lib.book import Chapter, claim_text, plus_minus

    results = Path(__file__).resolve().parent.parent / "results"
    here = Chapter("t", "quick", torch.device("cpu"), 1, None, None, results)
    c = here.claim("edsr-x2", "edsr-x2-bn")
    assert c is not None and c.n == (3, 3) and claim_text(c)["seeds"] == "3"
    assert claim_text(c)["verdict"] == c.verdict and claim_text(c)["diff"].endswith(" dB")
    paired = here.claim("edsr-x2", "edsr-x2", self_ensemble=(True, False))
    assert paired is not None and paired.n == (3, 3)
    empty = Chapter("t", "quick", torch.device("cpu"), 1, None, None, tmp_path)
    empty.study_table("edsr-bn")
    assert "not measured yet" in capsys.readouterr().out and empty.claim("edsr-x2", "edsr-x2-bn") is None
    outside = Chapter("t", "quick", torch.device("cpu"), 1, None, None, None)
    outside.study_table(("edsr-x2",))
    outside.seed_curves(("edsr-x2",), "t")
    out = capsys.readouterr().out
    assert "not here" in out and "no training curves" in out and outside.claim("edsr-x2", "edsr-x2-bn") is None
    assert claim_text(None)["seeds"] == "0"
    assert plus_minus(36.054, 0.081) == "36.05 ± 0.08" and plus_minus(1.0, float("nan")) == "1.00 (1 seed)"
    assert plus_minus(float("nan"), float("nan")) == "n/a"


def test_league_table_marks_this_chapter_and_names_missing_entries(tmp_path, capsys) -> None:
    from pathlib import Path

    from sr_lib.book import Chapter
    from sr_lib.train import studies

    results = Path(__file__).resolve().parent.parent / "results"
    rows = Chapter("t", "quick", torch.device("cpu"), 1, None, None, results).league_table(("msrn", "cmsc"))
    assert {"msrn", "cmsc", "srcnn"} <= set(rows) and rows["msrn"]["Set5 PSNR (dB)"].count("±") == 1
    out = capsys.readouterr().out
    assert f"msrn {studies.league_recipe('msrn').iters}" in out and "no league results yet" not in out
    assert Chapter("t", "quick", torch.device("cpu"), 1, None, None, tmp_path).league_table(("msrn",)) == {}
    assert "no league results yet for msrn" in capsys.readouterr().out
