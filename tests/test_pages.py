"""The generated pages' data (sr_lib.pages): the map of the book, the league, the instructor page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sr_lib import pages
from sr_lib.errors import ConfigError
from sr_lib.papers import paper_results
from sr_lib.scoreboard import NEEDS_GPU
from sr_lib.train import studies

ROOT = Path(__file__).resolve().parent.parent
BIB = ROOT / "references.bib"
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))

# ------------------------------------------------------------------------------------------------------ the map


def test_bib_years_reads_keys_and_years(tmp_path):
    bib = tmp_path / "r.bib"
    bib.write_text("@article{a2001x,\n  title = {T},\n  year = {2001}\n}\n\n@misc{b, title={No year}}\n"
                   "@inproceedings{c2019y,\n  year = 2019,\n}\n")
    assert pages.bib_years(bib) == {"a2001x": 2001, "c2019y": 2019}
    assert pages.bib_years(BIB)["dong2016srcnn"] == 2016


def test_map_has_one_point_per_model_with_its_paper_year_and_psnr():
    points, bicubic = pages.map_points(BIB)
    years = pages.bib_years(BIB)
    models = [p.model for p in points]
    assert len(models) == len(set(models)) and {"SRCNN", "VDSR", "EDSR", "RCAN", "CSNLN"} <= set(models)
    assert not [m for m in models if m.endswith("+") or m == "Bicubic"]
    for p in points:
        assert p.year == years[pages.PAPER_KEYS[p.model]]
        assert p.psnr == paper_results(p.model, 4, "Set5")[0]["psnr"]  # the first primary row
    assert [p.year for p in points] == sorted(p.year for p in points)
    assert bicubic == paper_results("Bicubic", 4, "Set5")[0]["psnr"]


def test_map_parameters_come_from_paper_results_or_the_preset():
    by_model = {p.model: p for p in pages.map_points(BIB)[0]}
    edsr = [r for r in paper_results("EDSR", 4, None, primary_only=True) if r["params_M"]]
    assert by_model["EDSR"].params_from == "paper" and by_model["EDSR"].params_m == float(edsr[0]["params_M"])
    from sr_lib.complexity import build_on_meta, count_parameters

    rcan = by_model["RCAN"]
    assert rcan.params_from == "counted" and rcan.preset == "rcan"
    assert rcan.params_m == count_parameters(build_on_meta("rcan", 4)) / 1e6
    assert by_model["MSRN"].preset == "msrn-y"  # the paper's Y model, not the RGB retraining
    assert by_model["SRGAN"].params_m is None  # no registry preset, no count in the tables
    assert "SRGAN" in pages.map_table(list(by_model.values())).text()


def test_paper_keys_name_the_registry_papers():
    """Every bibliography key of :data:`PAPER_KEYS` exists, and its title is the one the registry entry names."""
    import re

    from sr_lib.models import get_model_entry, list_models

    text = BIB.read_text()
    titles = dict(re.findall(r"@\w+\{(\S+),\s*\n\s*title\s*=\s*\{(.+?)\},", text))
    for name in list_models():
        entry = get_model_entry(name)
        key = pages.PAPER_KEYS.get(entry.paper_name or "")
        if key is not None:
            assert titles[key].lower().replace("-", " ") in entry.paper.lower().replace("-", " "), (name, key)


def test_map_refuses_a_model_without_a_year(tmp_path):
    bib = tmp_path / "r.bib"
    bib.write_text("@article{dong2016srcnn,\n  year = {2016}\n}\n")
    with pytest.raises(ConfigError, match="no bibliography entry with a year"):
        pages.map_points(bib)


def test_gpu_needs_groups_the_scoreboard_rows():
    from types import SimpleNamespace as Row

    rows = [Row(status=NEEDS_GPU, label="IKC", chapters=("09_dan",), scale=s) for s in (4, 2, 2)]
    rows.append(Row(status="gap explained", label="EDSR", chapters=("04_edsr",), scale=2))
    t = pages.gpu_needs(rows)
    assert t.rows == [["IKC", "09_dan", "x2, x4", 3]] and t.caption.startswith("3 ")

# --------------------------------------------------------------------------------------------------- the league


def _league_run(root: Path, family: str, seed: int, macs: int, history: list[tuple[int, float]]) -> None:
    d = root / "league" / f"league-{family}" / f"s{seed}"
    d.mkdir(parents=True)
    final = {"iteration": history[-1][0], "val_set": "Set5", "val_psnr": history[-1][1], "bicubic_psnr": 33.5,
             "seconds": 60.0, "train_macs": history[-1][0] * macs, "macs_per_iteration": macs}
    (d / "result.json").write_text(json.dumps({
        "kind": "train", "history": [{"iteration": i, "val_psnr": p} for i, p in history], "final": final}))


def test_league_curves_put_psnr_against_training_compute(tmp_path):
    _league_run(tmp_path, "srcnn", 0, 2_000_000_000, [(0, 10.0), (500, 34.0), (1000, 35.0)])
    _league_run(tmp_path, "srcnn", 1, 2_000_000_000, [(0, 11.0), (500, 34.5), (1000, 35.5)])
    _league_run(tmp_path, "vdsr", 0, 3_000_000_000, [(0, 20.0), (400, 36.0)])
    curves = pages.league_curves(tmp_path)
    assert set(curves) == {"srcnn", "vdsr"} and set(curves["srcnn"]) == {0, 1}
    assert curves["srcnn"][1] == [(0.0, 11.0), (1.0, 34.5), (2.0, 35.5)]  # iteration * macs / 1e12
    assert curves["vdsr"][0] == [(0.0, 20.0), (1.2, 36.0)]
    fig = pages.plot_league(tmp_path)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "training compute (TMACs)"
    srcnn = next(line for line in ax.get_lines() if line.get_label().startswith("srcnn"))
    assert list(srcnn.get_xdata()) == [0.0, 1.0, 2.0] and list(srcnn.get_ydata()) == [10.5, 34.25, 35.25]
    assert any(line.get_label().startswith("bicubic (33.50") for line in ax.get_lines())


def test_league_on_an_empty_folder(tmp_path):
    assert pages.league_curves(tmp_path) == {}
    with pytest.raises(ConfigError, match="no league results"):
        pages.plot_league(tmp_path)


def test_league_table_of_the_committed_results_is_ranked():
    t = pages.league_table(ROOT / "results")
    psnr = [float(r[t.headers.index("Set5 PSNR (dB)")].split(" ± ")[0]) for r in t.rows]
    assert psnr == sorted(psnr, reverse=True) and len(t.rows) == len(studies.league_rows(ROOT / "results"))
    assert f"{studies.LEAGUE_BUDGET_MACS / 1e12:.0f} TMACs" in t.caption

# ----------------------------------------------------------------------------------------- the instructor page


def _times(device: str) -> dict:
    return {"kind": "chapter_times", "device": device, "mode": "quick", "torch_threads": 2,
            "chapters": {"01_sr_problem": {"seconds": 90.0, "cells_seconds": 80.0, "code_cells": 30,
                                           "slowest_cells": [{"seconds": 30.0, "first_line": "RUN = train(recipe)"}]}},
            "provenance": {"device": "cpu: x86_64, 2 cores", "git_commit": "0123456789abcdef",
                           "timestamp_utc": "2026-12-01T10:00:00+00:00"}}


def test_timings_read_a_file_and_say_the_gpu_is_not_measured(tmp_path):
    (tmp_path / "chapter_times_cpu.json").write_text(json.dumps(_times("cpu")))
    times = pages.read_chapter_times(tmp_path)
    assert times["cuda"] is None and times["cpu"]["mode"] == "quick"
    t = pages.timings_table(times, ["01_sr_problem", "02_srcnn"])
    assert t.headers == ["chapter", "CPU minutes", "GPU minutes", "slowest cell (CPU)"]
    assert t.rows[0][1:3] == [1.5, pages.NOT_MEASURED] and t.rows[1][1] == pages.NOT_MEASURED
    assert t.rows[0][3] == "0.5 min (33% of the chapter)" and t.rows[1][3] is None
    assert "GPU: not measured yet (run `make chapter-times` on a GPU machine" in t.caption and "CPU:" not in t.caption
    prov = pages.timings_provenance(times)
    assert prov.rows[0][1:] == ["cpu: x86_64, 2 cores", 2, "quick", "0123456789", "2026-12-01T10:00:00+00:00"]
    assert prov.rows[1][1] == pages.NOT_MEASURED


def test_timings_refuse_another_kind_of_file(tmp_path):
    (tmp_path / "chapter_times_cuda.json").write_text(json.dumps({"kind": "bench"}))
    with pytest.raises(Exception, match="not a chapter_times results file"):
        pages.read_chapter_times(tmp_path)


def _notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    path.write_text(json.dumps({"cells": [{"cell_type": t, "source": s, "metadata": {}, "outputs": []}
                                          for t, s in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_exercises_needing_training_are_found_in_a_small_notebook(tmp_path):
    nb = _notebook(tmp_path / "03_demo.ipynb", [
        ("markdown", "## Exercises\n\n:::{exercise} Count\n:label: ex-count\n\nCount the weights; the network "
                     "trains on patches.\n:::\n\n::::{solution-start} ex-count\n:class: dropdown\n::::\n"),
        ("code", "net.train()\nprint(count_parameters(net))"),
        ("markdown", "::::{solution-end}\n::::\n\n:::{exercise} Rerun\n:label: ex-rerun\n\nChange the recipe.\n:::\n\n"
                     "::::{solution-start} ex-rerun\n:class: dropdown\n::::\n\n```python\nrun = train(recipe, "
                     "data_dir=d)\n```\n\n::::{solution-end}\n::::\n\n:::{exercise} Ask\n:label: ex-ask\n\n"
                     "Retrain the live recipe and compare.\n:::\n\n:::{solution} ex-ask\n:class: dropdown\n\n"
                     "It improves.\n:::\n"),
    ])
    found = pages.exercises(nb)
    assert [(e.number, e.label, e.needs_training) for e in found] == [
        ("3.1", "ex-count", False), ("3.2", "ex-rerun", True), ("3.3", "ex-ask", True)]
    assert found[1].call == "train(" and found[2].call == "Retrain the"


def test_exercises_of_the_chapters_match_the_student_edition():
    from sr_lib.classroom import student_notebook

    rows = []
    for path in CHAPTERS:
        found = pages.exercises(path)
        assert len(found) == student_notebook(json.loads(path.read_text()), path.name).exercises
        assert all(e.label for e in found)
        rows += found
    trains = {e.label for e in rows if e.needs_training}
    assert "ex-vdsr-plain-lr" in trains and "ex-srcnn-counting" not in trains
    assert 0 < len(trains) < len(rows)
    t = pages.exercises_table(CHAPTERS)
    assert len(t.rows) == len(rows) and t.caption == f"{len(rows)} exercises, {len(trains)} of them train a network"


def test_chapter_times_names_a_cell_by_what_it_does():
    import importlib.util

    spec = importlib.util.spec_from_file_location("chapter_times", ROOT / "benchmarks" / "chapter_times.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module._what("import tempfile\nfrom x import y\n# train\n\nRUN = train(recipe)\nmore()") == "RUN = train(recipe)"
    assert module._what("import os") == "import os" and module._what("") == ""
