"""The reproduction scoreboard (sr_lib.scoreboard, book/scoreboard.ipynb): one row per paper cell a chapter
discusses, every number on the page with a source, statuses decided from the data, and the declared table in step
with the chapters' own calls of paper_results / paper_psnr / paper_vs_ours."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from sr_lib import scoreboard as sb
from sr_lib.errors import ConfigError
from sr_lib.models import get_model_entry, list_models
from sr_lib.papers import paper_results
from sr_lib.results import ResultsError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
NOTEBOOK = ROOT / "book" / "scoreboard.ipynb"
CALLS = {"paper_results", "paper_psnr", "paper_vs_ours", "paper_results_for"}


@pytest.fixture(scope="module")
def rows() -> list[sb.Row]:
    return sb.scoreboard_rows(RESULTS)


def _cell_key(model: str, variant: str, scale: int, degradation: str, dataset: str, source: str) -> tuple:
    return model, variant, scale, degradation, dataset, source


def _row_keys(rows: list[sb.Row]) -> set[tuple]:
    return {_cell_key(r.model, r.variant, r.scale, r.degradation, r.dataset, r.source) for r in rows}


# -------------------------------------------------------------------------------------------- rows and statuses


def test_one_row_per_discussed_paper_cell(rows):
    expected = []
    for e in sb.DISCUSSED:
        for s in e.scales:
            for d in e.datasets:
                (p,) = paper_results(e.model, s, d, e.degradation, primary_only=e.variant is None, variant=e.variant)
                expected.append(_cell_key(p["model"], p["variant"], s, p["degradation"], p["dataset"], p["source"]))
    assert len(rows) == len(set(expected)) == len(_row_keys(rows)) and _row_keys(rows) == set(expected)
    assert all(r.status in sb.STATUSES for r in rows), "a row is 'weights found, not evaluated yet'"
    for r in rows:
        assert r.chapters and r.source and r.paper_psnr is not None
        assert (r.ours_psnr is None) == (not r.files) == (not r.commits)
        assert all((ROOT / f).is_file() for f in r.files) and all(re.fullmatch(r"[0-9a-f]{40}", c) for c in r.commits)


def test_statuses_follow_from_the_data(rows):
    by = {(r.label, r.scale, r.dataset): r for r in rows}
    for s in (2, 3, 4):
        for d in ("Set5", "Set14", "B100"):
            for label in ("Bicubic", "SRCNN"):
                assert by[label, s, d].status in sb.REPRODUCED and by[label, s, d].files == (
                    f"results/{label.lower()}_x{s}_matlab-y.json",)
        claim = by["VDSR, twtygqyy", s, "Set5"]  # the reimplementation's README claim, its weights, its protocol
        assert claim.status == sb.REPRODUCED[0] and abs(claim.diff) <= 0.01
        paper = by["VDSR", s, "Set5"]  # the same file against the paper: not a reproduction
        assert paper.status == sb.GAP_EXPLAINED and "{doc}`03_vdsr`" in paper.why
        assert by["VDSR", s, "B100"].status == sb.NEEDS_GPU and "`vdsr`" in by["VDSR", s, "B100"].why
    edsr = by["EDSR", 2, "Set5"]
    assert edsr.status == sb.GAP_EXPLAINED and edsr.seeds == 3 and "`edsr-x2` study arm" in edsr.why
    assert edsr.chapters == ("04_edsr", "06_csnln") and edsr.files[0].startswith("results/studies/edsr-x2/s")
    assert by["DAN, DANv1", 2, "Set5"].files[0].endswith("gaussian8_blind_x2.json")
    if not sb._official_weights("edsr", 3, None)[0] == "found":
        assert by["EDSR", 3, "Set5"].status == sb.NEEDS_WEIGHTS and "edsr_x3" in by["EDSR", 3, "Set5"].why
    assert by["IKC", 2, "Set5"].status == by["SRGAN", 4, "Set5"].status == sb.NEEDS_GPU
    board = sb.Scoreboard(rows)
    assert sum(board.counts().values()) == len(rows) and list(board.counts()) == list(sb.STATUSES)


def test_decide_status_rules():
    official = sb.Ours("official", "matlab-y", file="x.json")
    measured = lambda psnr: sb.Measured(psnr, None, None, ("results/x.json",), ("c" * 40,))  # noqa: E731
    assert sb.decide_status(official, measured(30.009), "matlab-y", 30.0, "found")[0] == sb.REPRODUCED[0]
    assert sb.decide_status(official, measured(29.96), "matlab-y", 30.0, "found")[0] == sb.REPRODUCED[1]
    with pytest.raises(ConfigError, match="declares no reason"):
        sb.decide_status(official, measured(30.2), "matlab-y", 30.0, "found")
    with pytest.raises(ConfigError, match="declares no reason"):  # another protocol never reproduces
        sb.decide_status(official, measured(30.0), "standard", 30.0, "found")
    explained = sb.Ours("official", "float", file="x.json", reason="why ({doc}`03_vdsr`, \"The official numbers\")")
    assert sb.decide_status(explained, measured(30.0), "matlab-y", 30.0, "none") == (sb.GAP_EXPLAINED, explained.reason)
    assert sb.decide_status(None, None, "standard", 30.0, "missing", "`a.pt`")[0] == sb.NEEDS_WEIGHTS
    assert sb.decide_status(None, None, "standard", 30.0, "none")[0] == sb.NEEDS_GPU
    assert sb.decide_status(None, None, "standard", 30.0, "found", "`a.pt`")[0] == sb.NOT_EVALUATED
    with pytest.raises(ConfigError, match="needs a reason"):
        sb.Ours("study", "standard", arm="edsr-x2")


def test_weights_found_but_not_evaluated_is_flagged(tmp_path, weights_dir):
    """Official weights in a weights folder with no results file declared: the sixth value, never a silent gap."""
    entry = sb.Discussed("02_srcnn", "Reproducing the paper's table", "SRCNN", (2,), ("Set5",), "srcnn")
    (row,) = sb.scoreboard_rows(RESULTS, weights_dir, discussed=[entry])
    assert row.status == sb.NOT_EVALUATED and "9-5-5_ImageNet/x2.mat" in row.why


# ------------------------------------------------------------------------------------------ results files


SRCNN = next(e for e in sb.DISCUSSED if e.model == "SRCNN")


def _copy_srcnn_files(dest: Path) -> None:
    dest.mkdir()
    for s in SRCNN.scales:
        shutil.copy(RESULTS / f"srcnn_x{s}_matlab-y.json", dest)


def _edit(path: Path, change) -> None:
    res = json.loads(path.read_text())
    change(res)
    path.write_text(json.dumps(res))


def test_a_missing_or_malformed_results_file_is_one_clear_error(tmp_path):
    with pytest.raises(ResultsError, match="bicubic_x2_matlab-y.json: no such results file"):
        sb.scoreboard_rows(tmp_path)
    results = tmp_path / "results"
    _copy_srcnn_files(results)
    assert len(sb.scoreboard_rows(results, discussed=[SRCNN])) == 9
    _edit(results / "srcnn_x3_matlab-y.json", lambda r: r["datasets"].pop("Set14"))
    with pytest.raises(ResultsError, match=r"results/srcnn_x3_matlab-y.json: no 'Set14' in this results file"):
        sb.scoreboard_rows(results, discussed=[SRCNN])
    (results / "srcnn_x3_matlab-y.json").write_text("{not json")
    with pytest.raises(ResultsError, match="not valid JSON"):
        sb.scoreboard_rows(results, discussed=[SRCNN])


@pytest.mark.parametrize("change, message", [
    (lambda r: r["provenance"]["config"]["protocol"].update(name="standard"), "records protocol 'standard'"),
    (lambda r: r["provenance"]["config"].update(weights_sha256="0" * 64), "not the official weights of srcnn x2"),
    (lambda r: r["provenance"].pop("git_commit"), "no provenance commit"),
])
def test_a_file_that_is_not_what_the_table_declares_is_refused(tmp_path, change, message):
    results = tmp_path / "results"
    _copy_srcnn_files(results)
    _edit(results / "srcnn_x2_matlab-y.json", change)
    with pytest.raises((ConfigError, ResultsError), match=message):
        sb.scoreboard_rows(results, discussed=[SRCNN])


# --------------------------------------------------------------------------------------- every number sourced


def test_the_rendered_page_has_no_unsourced_number(rows):
    page = sb.scoreboard_markdown(rows, sb.repository(ROOT))
    assert sb.unsourced_numbers(page, rows) == []
    assert page.count("**{doc}`") == len({r.chapters[0] for r in rows})


def test_unsourced_numbers_catches_an_injected_number(rows):
    page = sb.scoreboard_markdown(rows)
    srcnn = next(i for i, r in enumerate(rows) if r.label == "SRCNN" and r.scale == 2 and r.dataset == "Set5")
    ours = f"{rows[srcnn].ours_psnr:.3f}"
    line = next(x for x in page.splitlines() if x.startswith("| SRCNN | x2 | Set5 |"))
    assert f"| {ours} |" in line
    injected = page.replace(line, line.replace(f"| {ours} |", "| 36.759 |"))
    assert sb.unsourced_numbers(injected, rows) == ["SRCNN x2 Set5: 36.759 has no source"]
    # a number sourced by another row is still refused in this one
    other = f"{rows[srcnn + 1].ours_psnr:.3f}"
    assert sb.unsourced_numbers(page.replace(line, line.replace(f"| {ours} |", f"| {other} |")), rows) == [
        f"SRCNN x2 Set5: {other} has no source"]
    assert sb.unsourced_numbers(page + "\n\nBest gain: 99.99 dB.", rows) == [
        f"line {len(page.splitlines()) + 2}: 99.99 has no source"]
    dropped = sb.unsourced_numbers(page.replace(line + "\n", ""), rows)
    assert dropped and dropped[0] == f"{len(rows) - 1} table rows on the page for {len(rows)} scoreboard rows"
    # identifiers are not values: code spans, link targets, footnote markers
    assert sb.unsourced_numbers("`abc123` [`x`](https://h/0.5) [3]", []) == []


def test_links_and_reasons(rows):
    url, branch = sb.repository(ROOT)
    config = (ROOT / "_config.yml").read_text()
    assert re.search(rf"^\s+url:\s*{re.escape(url)}\s*$", config, re.MULTILINE) and branch == "main"
    page = sb.scoreboard_markdown(rows, (url, branch))
    assert f"[`results/srcnn_x2_matlab-y.json`]({url}/blob/main/results/srcnn_x2_matlab-y.json) @ `" in page
    assert f"[`results/studies/edsr-x2/`]({url}/tree/main/results/studies/edsr-x2), 3 seeds @ `" in page
    assert "](" not in sb.scoreboard_markdown(rows, None)  # outside a checkout: paths, no links
    assert sb.repository(ROOT / "book") is None


# ------------------------------------------------------------------------------------ the table vs the chapters


def _code_cells(chapter: str) -> list[str]:
    cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
    return ["\n".join(line for line in "".join(c["source"]).splitlines() if not line.startswith(("%", "!")))
            for c in cells if c["cell_type"] == "code"]


def _headings(chapter: str) -> set[str]:
    cells = json.loads((ROOT / "book" / f"{chapter}.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return {m.strip() for m in re.findall(r"^#+\s+(.*)$", text, re.MULTILINE)}


def _call_name(node: ast.Call) -> str | None:
    return getattr(node.func, "id", None) or getattr(node.func, "attr", None)


def _calling_constants(chapter: str) -> set[str]:
    """The string constants of every code cell of ``chapter`` that calls paper_results / paper_psnr / paper_vs_ours,
    except those passed straight to another function (``get_recipe("edsr", "paper")`` names no paper cell)."""
    found = set()
    for source in _code_cells(chapter):
        nodes = list(ast.walk(ast.parse(source)))
        calls = [n for n in nodes if isinstance(n, ast.Call)]
        if not {_call_name(n) for n in calls} & CALLS:
            continue
        elsewhere = {id(a) for n in calls if _call_name(n) not in CALLS
                     for a in (*n.args, *(k.value for k in n.keywords))}
        found |= {n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and id(n) not in elsewhere}
    return found


PSNR_ROWS = [r for r in paper_results(degradation=None, primary_only=False) if r["psnr"] is not None]
MODELS = {r["model"].lower(): r["model"] for r in PSNR_ROWS}
CHAPTERS = sorted({e.chapter for e in sb.DISCUSSED})


def test_every_chapter_is_in_the_table():
    numbered = sorted(p.stem for p in (ROOT / "book").glob("0*_*.ipynb"))
    assert CHAPTERS == numbered


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_table_names_the_models_and_variants_the_chapter_passes(chapter):
    """Every model name in a chapter's cells that call paper_results / paper_psnr / paper_vs_ours (as a literal or a
    registry name) is declared for that chapter, and every declared model is named there; every literal that starts
    a variant of the CSV is a declared variant."""
    constants = _calling_constants(chapter)
    named = {MODELS[c.lower()] for c in constants if c.lower() in MODELS}
    named |= {get_model_entry(c).paper_name for c in constants if c in list_models() and get_model_entry(c).paper_name}
    declared = {e.model for e in sb.DISCUSSED if e.chapter == chapter}
    assert named == declared, f"{chapter}: named in its calls {sorted(named)}, declared {sorted(declared)}"
    variants = {c for c in constants if len(c) >= 4 and c.lower() not in MODELS
                and any(r["variant"].startswith(c) and r["model"] in named for r in PSNR_ROWS)}
    assert variants <= {e.variant for e in sb.DISCUSSED if e.chapter == chapter}, (chapter, variants)


@pytest.mark.parametrize("chapter, models, scales, degradation", [
    ("03_vdsr", ("VDSR",), (2, 3, 4), "BI"),  # the README claims and the paper's rows of the chapter's tables
    ("07_msrn", ("MSRN", "MSRN+"), (2, 3, 4, 8), "BI"),  # paper_results(m, primary_only=False, variant=v)
    ("08_srgan", ("SRResNet", "SRGAN"), (4,), "BI"),  # paper_results(m, 4, primary_only=False)
    ("09_dan", ("IKC", "DAN"), (2, 3, 4), "setting1"),  # paper_results(m, primary_only=False, degradation=None)
])
def test_every_row_a_chapter_tabulates_is_on_the_scoreboard(rows, chapter, models, scales, degradation):
    keys = _row_keys([r for r in rows if chapter in r.chapters])
    sets = {d for e in sb.DISCUSSED if e.chapter == chapter for d in e.datasets}
    variants = {e.variant for e in sb.DISCUSSED if e.chapter == chapter and e.variant}
    wanted = [r for m in models for s in scales
              for r in paper_results(m, s, degradation=degradation, primary_only=False)
              if r["psnr"] is not None and r["dataset"] in sets
              and (r["primary"] == "1" or any(r["variant"].startswith(v) for v in variants))]
    missing = [w for w in wanted if _cell_key(w["model"], w["variant"], w["scale"], w["degradation"], w["dataset"],
                                              w["source"]) not in keys]
    assert wanted and not missing, missing[:3]


def test_chapter_one_statistics_cells_are_on_the_scoreboard(rows):
    """Chapter 1 takes the spread of every primary x4 Set5 PSNR: each of those cells has its row."""
    cells = [r for r in paper_results(scale=4, dataset="Set5") if r["psnr"] is not None]
    missing = [r["model"] for r in cells
               if _cell_key(r["model"], r["variant"], 4, r["degradation"], "Set5", r["source"]) not in _row_keys(rows)]
    assert cells and missing == []


def test_sections_reasons_and_registry_models_are_real():
    for e in sb.DISCUSSED:
        assert e.section in _headings(e.chapter), (e.chapter, e.section)
        if e.registry is not None:
            assert get_model_entry(e.registry).paper_name == e.model.rstrip("+"), (e.model, e.registry)
        if e.ours is not None and e.ours.reason:
            chapter, section = re.search(r"\{doc\}`([^`]+)`, \"([^\"]+)\"", e.ours.reason).groups()
            assert chapter == e.chapter and section in _headings(chapter), e.ours.reason
            assert sb._numbers(e.ours.reason) == [], f"a hand-typed number in a reason: {e.ours.reason}"


# ---------------------------------------------------------------------------------------------- the notebook


def _notebook_cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text())["cells"]


def test_the_notebook_follows_the_book_kit():
    """The checks tests/test_book_kit.py runs on every toc notebook, applied to this page."""
    import test_book_kit as kit
    from sr_lib import book

    cells = _notebook_cells()
    first = cells[0]
    assert first["cell_type"] == "code" and "remove-cell" in first["metadata"].get("tags", [])
    assert "".join(first["source"]) == book.colab_install_cell(kit._repository_url())
    assert not [i for i, c in enumerate(cells[1:], 1) if kit._repository_url() in "".join(c["source"])]
    lengths = [len(lines) for lines in kit._visible_code(cells)]
    assert lengths and sum(lengths) / len(lengths) <= 12 and max(lengths) <= 30
    assert kit._visible_code(cells)[0][0] == "from sr_lib import book"
    assert any("# NBVAL_CHECK_OUTPUT" in "".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "".join(cells[1]["source"]).startswith("# Reproduction scoreboard")


def test_the_notebook_prose_types_no_number():
    text = "\n".join("".join(c["source"]) for c in _notebook_cells() if c["cell_type"] == "markdown")
    assert set(sb._numbers(text)) <= {n for s in sb.STATUSES for n in sb._numbers(s)}


def test_the_committed_page_numbers_have_sources(rows):
    """Every number in the executed notebook's scoreboard output is sourced by the current rows (re-execute the
    notebook when the results files change)."""
    outputs = ["".join(o["data"]["text/markdown"]) for c in _notebook_cells() if c["cell_type"] == "code"
               for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    pages = [o for o in outputs if o.startswith("**{doc}`")]
    assert len(pages) == 1, "the executed notebook shows the scoreboard once"
    assert sb.unsourced_numbers(pages[0], rows) == []
