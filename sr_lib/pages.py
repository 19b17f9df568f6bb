"""The data and figures of three generated pages: the landing page, the equal-compute league, the instructor page.

* The map of the book (:func:`map_points`, :func:`plot_map`): one point per model of the papers' tables
  (:func:`sr_lib.papers.paper_results`, primary rows), its PSNR against the year of its paper (``references.bib``,
  through :data:`PAPER_KEYS`) and against its parameter count (the ``params_M`` column where the papers' tables give
  one, else counted from the registry's paper preset); :func:`gpu_needs`: the scoreboard cells only a GPU run gives.
* The league (:func:`league_curves`, :func:`plot_league`, :func:`league_table`): every family's validation PSNR
  against training compute, read from ``results/league/``.
* The instructor page (:func:`read_chapter_times`, :func:`timings_table`, :func:`timings_provenance`,
  :func:`exercises`, :func:`exercises_table`): chapter run times from ``results/chapter_times_<device>.json``
  (``make chapter-times``) and, per exercise, whether its solution trains a network.

Everything here only reads: ``paper_results``, ``references.bib``, results files and the notebooks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .classroom import EXERCISE_FENCE
from .errors import ConfigError
from .papers import paper_results
from .results import ResultsError, read_results
from .tables import Table, table

__all__ = [
    "DEVICES",
    "PAPER_KEYS",
    "Exercise",
    "MapPoint",
    "bib_years",
    "exercises",
    "exercises_table",
    "gpu_needs",
    "league_curves",
    "league_table",
    "map_points",
    "map_table",
    "plot_league",
    "plot_map",
    "read_chapter_times",
    "timings_provenance",
    "timings_table",
]

# --------------------------------------------------------------------------------------------- the map of the book

#: The paper of each model of ``paper_results`` (its ``model`` column) as a key of ``references.bib``, which holds
#: the year. Self-ensemble rows ("EDSR+") are the same paper's model and are not drawn; the blind models (IKC, DAN)
#: have no bicubic-degradation rows, hence no point.
PAPER_KEYS: dict[str, str] = {
    "SRCNN": "dong2016srcnn", "VDSR": "kim2016vdsr", "SRResNet": "ledig2017srgan", "SRGAN": "ledig2017srgan",
    "EDSR": "lim2017edsr", "MDSR": "lim2017edsr", "EDSR-baseline": "lim2017edsr", "MDSR-baseline": "lim2017edsr",
    "RCAN": "zhang2018rcan", "MSRN": "li2018msrn", "SAN": "dai2019san", "CSNLN": "mei2020csnln",
}


def bib_years(bib: str | Path) -> dict[str, int]:
    """``key -> year`` of every entry of the BibTeX file ``bib`` that has a year."""
    text = Path(bib).read_text(encoding="utf-8")
    years = {}
    for entry in re.split(r"^@", text, flags=re.MULTILINE)[1:]:
        key = re.match(r"\w+\s*\{\s*([^,\s]+)\s*,", entry)
        year = re.search(r"^\s*year\s*=\s*[{\"]?(\d{4})", entry, re.MULTILINE)
        if key and year:
            years[key.group(1)] = int(year.group(1))
    return years


@dataclass(frozen=True)
class MapPoint:
    """One model on the map: its paper's PSNR (``paper_results`` primary row), the year of ``key`` in the
    bibliography, and its parameters in millions with where they come from (``"paper"``: the ``params_M`` column;
    ``"counted"``: the registry's paper preset ``preset``; None: neither)."""

    model: str
    key: str
    year: int
    psnr: float
    source: str
    params_m: float | None
    params_from: str | None
    preset: str | None


def _preset(model: str, variant: str) -> str | None:
    """The registry preset whose paper row this is (its ``paper_name``, and ``paper_variant`` if it has one)."""
    from .models import get_model_entry, list_models

    names = [n for n in list_models() if (e := get_model_entry(n)).paper_name == model
             and (variant.startswith(e.paper_variant) if e.paper_variant else True)]
    return min(names, key=lambda n: (n != model.lower(), n)) if names else None


def _params(model: str, scale: int, preset: str | None) -> tuple[float | None, str | None]:
    rows = [r for r in paper_results(model, scale, dataset=None, primary_only=False) if r["params_M"]]
    rows.sort(key=lambda r: r["primary"] != "1")
    if rows:
        return float(rows[0]["params_M"]), "paper"
    if preset is None:
        return None, None
    from .complexity import build_on_meta, count_parameters

    return count_parameters(build_on_meta(preset, scale)) / 1e6, "counted"


def map_points(bib: str | Path, scale: int = 4, dataset: str = "Set5") -> tuple[list[MapPoint], float | None]:
    """One :class:`MapPoint` per model with a primary bicubic-degradation (BI) row at ``scale`` on ``dataset``
    (the first row where a model has several; self-ensembles and bicubic left out), oldest first; and the bicubic
    PSNR of the same cell (None if the tables have none). A model missing from :data:`PAPER_KEYS` or a key
    without a year in ``bib`` raises :class:`ConfigError`."""
    years = bib_years(bib)
    points, seen = [], set()
    for row in paper_results(scale=scale, dataset=dataset):
        model = row["model"]
        if model in seen or model == "Bicubic" or model.endswith("+") or row["psnr"] is None:
            continue
        seen.add(model)
        key = PAPER_KEYS.get(model)
        if key is None or key not in years:
            raise ConfigError(f"the map: no bibliography entry with a year for {model} (PAPER_KEYS, {bib})")
        preset = _preset(model, row["variant"])
        params, where = _params(model, scale, preset)
        points.append(MapPoint(model, key, years[key], row["psnr"], row["source"], params, where, preset))
    bicubic = [r["psnr"] for r in paper_results("Bicubic", scale, dataset) if r["psnr"] is not None]
    return sorted(points, key=lambda p: (p.year, p.psnr)), (bicubic[0] if bicubic else None)


def plot_map(points: Sequence[MapPoint], bicubic: float | None, title: str) -> Figure:
    """Two panels: PSNR against the year and against the parameters (log scale; filled: the paper's count,
    hollow: counted from the preset), each model labelled, with the bicubic level."""
    if not points:
        raise ConfigError("plot_map: no points")
    fig = Figure(figsize=(9.0, 3.8), dpi=110, layout="constrained")
    by_year, by_params = fig.subplots(1, 2, sharey=True)
    for ax, xs, pts in ((by_year, [p.year for p in points], points),
                        (by_params, [p.params_m for p in points if p.params_m], [p for p in points if p.params_m])):
        for i, (x, p) in enumerate(zip(xs, pts)):
            hollow = ax is by_params and p.params_from == "counted"
            ax.scatter([x], [p.psnr], color=f"C{points.index(p) % 10}", facecolors="none" if hollow else None, s=30,
                       zorder=3)
            ax.annotate(p.model, (x, p.psnr), textcoords="offset points", xytext=(4, 3 if i % 2 else -9), fontsize=7)
        if bicubic is not None:
            ax.axhline(bicubic, linestyle="--", color="0.4", linewidth=1.0, label=f"bicubic ({bicubic:.2f} dB)")
        ax.grid(alpha=0.3)
    by_year.xaxis.set_major_locator(MaxNLocator(integer=True))
    by_year.set_xlabel("year of the paper")
    by_year.set_ylabel("PSNR (dB)")
    by_year.legend(fontsize=8, loc="lower right")
    by_params.set_xscale("log")
    by_params.set_xlabel("parameters (millions; hollow: counted from the preset)")
    fig.suptitle(title, fontsize=10)
    return fig


def map_table(points: Sequence[MapPoint]) -> Table:
    """The map's points as a table: model, paper (bibliography key), year, PSNR, parameters and their origin."""
    return table([{"model": p.model, "paper": p.key, "year": p.year, "PSNR (dB)": p.psnr,
                   "parameters (M)": p.params_m, "parameters from": p.params_from and (
                       "paper_results" if p.params_from == "paper" else f"counted ({p.preset})")} for p in points],
                 formats={"parameters (M)": ".3g"})


def gpu_needs(rows: Iterable[Any]) -> Table:
    """The scoreboard rows (:class:`sr_lib.scoreboard.Row`) whose status is "needs a GPU", grouped by model: the
    chapter, the scales and how many paper cells."""
    from .scoreboard import NEEDS_GPU

    groups: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        if r.status == NEEDS_GPU:
            groups.setdefault((r.label, r.chapters[0]), []).append(r)
    cells = [{"model": label, "chapter": chapter, "scales": ", ".join(f"x{s}" for s in sorted({r.scale for r in g})),
              "paper cells": len(g)} for (label, chapter), g in groups.items()]
    return table(cells, columns=["model", "chapter", "scales", "paper cells"],
                 caption=f"{sum(c['paper cells'] for c in cells)} scoreboard cells need a GPU run")

# ---------------------------------------------------------------------------------------------------- the league


def league_curves(root: str | Path) -> dict[str, dict[int, list[tuple[float, float]]]]:
    """Per league family with results files, per seed: ``(TMACs, Set5 PSNR)`` at each validation, TMACs being the
    training multiply-accumulates so far (``iteration * macs_per_iteration / 1e12``, from the run's ``final``)."""
    from .train import studies

    out = {}
    for family in studies.LEAGUE_FAMILIES:
        runs = studies.load_arm(f"league-{family}", root).train
        if runs:
            out[family] = {seed: [(h["iteration"] * r["final"]["macs_per_iteration"] / 1e12, h["val_psnr"])
                                  for h in r["history"] if h["val_psnr"] is not None] for seed, r in runs.items()}
    return out


def _bicubic_level(root: str | Path) -> tuple[str, float] | None:
    from .train import studies

    for family in studies.LEAGUE_FAMILIES:
        for r in studies.load_arm(f"league-{family}", root).train.values():
            return r["final"]["val_set"], r["final"]["bicubic_psnr"]
    return None


def plot_league(root: str | Path, floor: float = 1.0) -> Figure:
    """Validation PSNR against training compute (TMACs), one line per family (mean over seeds at each validation,
    band: the seeds' range), with the bicubic level of the validation set; the y axis starts ``floor`` dB below
    bicubic (the first validations of some families lie far below)."""
    from .train import studies

    curves = league_curves(root)
    if not curves:
        raise ConfigError(f"plot_league: no league results under {root} (make league)")
    fig = Figure(figsize=(8.0, 4.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    top = []
    for i, (family, seeds) in enumerate(curves.items()):
        n = min(len(c) for c in seeds.values())  # validations every seed reached
        x = np.mean([[t for t, _ in c[:n]] for c in seeds.values()], axis=0)
        y = np.array([[p for _, p in c[:n]] for c in seeds.values()])
        ax.plot(x, y.mean(axis=0), marker="o", markersize=2.5, color=f"C{i % 10}",
                linestyle="-" if i < 10 else "--", label=f"{family} ({len(seeds)} seeds)")
        ax.fill_between(x, y.min(axis=0), y.max(axis=0), color=f"C{i % 10}", alpha=0.15, linewidth=0)
        top.append(float(y.max()))
    level = _bicubic_level(root)
    if level is not None:
        ax.axhline(level[1], linestyle=":", color="0.3", linewidth=1.0, label=f"bicubic ({level[1]:.2f} dB)")
        ax.set_ylim(level[1] - floor, max(top) + 0.1 * (max(top) - level[1] + floor))
    ax.set_xlabel("training compute (TMACs)")
    ax.set_ylabel(f"{level[0] if level else 'validation'} PSNR (dB)")
    ax.set_title(f"The league at x{studies.LEAGUE_SCALE}: {studies.LEAGUE_BUDGET_MACS / 1e12:.0f} TMACs per run",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def league_table(root: str | Path) -> Table:
    """The league (:func:`sr_lib.train.studies.league_rows`), best Set5 PSNR first: per family its parameters,
    compute per iteration, iterations, seeds and mean ± std PSNR per set."""
    from .book import league_psnr_cells
    from .train import studies

    rows = sorted(studies.league_rows(root), key=lambda r: -r["Set5 PSNR"])
    cells = []
    for rank, r in enumerate(rows, 1):
        cell = {"rank": rank, "family": r["family"], "parameters": r["parameters"], "GMACs / iteration": r["GMACs / iteration"],
                "iterations": r["iterations"], "seeds": r["seeds"]}
        cell.update(league_psnr_cells(r))
        cells.append(cell)
    return table(cells, formats={"GMACs / iteration": ".2f"},
                 caption=f"x{studies.LEAGUE_SCALE}, {studies.LEAGUE_BUDGET_MACS / 1e12:.0f} TMACs of training per "
                         "run; mean ± std over seeds")

# ------------------------------------------------------------------------------------------- the instructor page

#: The devices ``benchmarks/chapter_times.py`` writes a file for (``results/chapter_times_<device>.json``).
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: How the pages name each device, and the machine that measures it.
_DEVICE_NAMES = {"cpu": ("CPU", "a machine without a GPU"), "cuda": ("GPU", "a GPU machine")}
NOT_MEASURED = "not measured yet"


def read_chapter_times(results_dir: str | Path) -> dict[str, dict[str, Any] | None]:
    """``device -> results file`` (None where there is none) of every device of :data:`DEVICES`."""
    out: dict[str, dict[str, Any] | None] = {}
    for device in DEVICES:
        path = Path(results_dir) / f"chapter_times_{device}.json"
        out[device] = read_results(path) if path.is_file() else None
        if out[device] is not None and out[device].get("kind") != "chapter_times":
            raise ResultsError(f"{path}: not a chapter_times results file")
    return out


def timings_table(times: Mapping[str, dict[str, Any] | None], chapters: Sequence[str]) -> Table:
    """Minutes of each chapter's run per device (:data:`NOT_MEASURED` where the file or chapter is missing) and
    the minutes of the slowest cell on the first measured device, with its share of the chapter (the live training
    run, in every chapter that has one)."""
    measured = [d for d in DEVICES if times.get(d)]
    cells = []
    for name in chapters:
        cell: dict[str, Any] = {"chapter": name}
        for d in DEVICES:
            entry = (times.get(d) or {}).get("chapters", {}).get(name)
            cell[f"{_DEVICE_NAMES[d][0]} minutes"] = entry["seconds"] / 60 if entry else NOT_MEASURED
        entry = (times[measured[0]] or {})["chapters"].get(name, {}) if measured else {}
        slow = entry.get("slowest_cells")
        cell[f"slowest cell ({_DEVICE_NAMES[measured[0]][0]})" if measured else "slowest cell"] = (
            f"{slow[0]['seconds'] / 60:.1f} min ({slow[0]['seconds'] / entry['seconds']:.0%} of the chapter)"
            if slow else None)
        cells.append(cell)
    missing = [d for d in DEVICES if not times.get(d)]
    note = "; ".join(f"{_DEVICE_NAMES[d][0]}: {NOT_MEASURED} (run `make chapter-times` on {_DEVICE_NAMES[d][1]}: "
                     f"it writes results/chapter_times_{d}.json)" for d in missing)
    return table(cells, formats={f"{_DEVICE_NAMES[d][0]} minutes": ".1f" for d in DEVICES},
                 caption="Minutes per chapter, quick mode" + (f". {note}" if note else ""))


def timings_provenance(times: Mapping[str, dict[str, Any] | None]) -> Table:
    """Per device: where the timings come from (device description, threads, mode, commit, date) or
    :data:`NOT_MEASURED`."""
    cells = []
    for d in DEVICES:
        f = times.get(d)
        p = (f or {}).get("provenance", {})
        cells.append({"file": f"chapter_times_{d}.json", "device": p.get("device", NOT_MEASURED if f is None else None),
                      "torch threads": f.get("torch_threads") if f else None, "mode": f.get("mode") if f else None,
                      "commit": p.get("git_commit", "")[:10] or None,
                      "measured (UTC)": p.get("timestamp_utc")})
    return table(cells, caption="Where the timings come from")


#: Calls that train a network: sr_lib's training loop (``train(recipe, ...)``, not ``module.train()``), a study arm
#: (``studies.run_arm``, ``run_experiments``), or the command line (``sr-lib train``, ``make studies``/``league``).
TRAINING = re.compile(r"(?<![\w])(?:train|run_arm|run_experiments)\((?!\s*\))|\bsr-lib\s+train\b"
                      r"|\bmake\s+(?:studies|league|quick-runs)\b")
#: An exercise statement asking for a training run: "train the ...", "retrain it", "Train `recipe`", "train (one
#: seed)" (not "trains", "training").
ASKS_TRAINING = re.compile(r"\b(?:re)?train\s+(?:the|both|it|one|them)\b|\b(?:re)?train\s+[`(]", re.IGNORECASE)
_CODE_SPAN = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)


@dataclass(frozen=True)
class Exercise:
    """One exercise of a chapter: its number as the book shows it (``8.2``), label, title, and whether it trains a
    network, with what said so (``call``: a training call of its code, or the statement's request)."""

    number: str
    label: str
    title: str
    needs_training: bool
    call: str | None


def _code(text: str) -> str:
    """The code inside ``text`` (Markdown): fenced blocks and inline code spans."""
    return "\n".join(a or b for a, b in _CODE_SPAN.findall(text))


def exercises(notebook: str | Path) -> list[Exercise]:
    """The exercises of ``notebook`` in order (numbered as :mod:`sr_lib.classroom` numbers them). ``needs_training``:
    the code of the statement or the solution (code cells between ``solution-start`` and ``solution-end``, code
    blocks and spans of the Markdown) calls a training entry point (:data:`TRAINING`), or the statement asks for a
    run (:data:`ASKS_TRAINING`)."""
    path = Path(notebook)
    chapter = re.match(r"(\d+)_", path.name)
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None  # the exercise whose statement or solution is being read
    state = None  # "exercise", "solution", "gated" or None
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code":
            if state == "gated" and current is not None:
                current["code"].append(source)
            continue
        lines = source.split("\n")
        for i, line in enumerate(lines):
            fence = EXERCISE_FENCE.match(line.strip())
            kind = fence.group(2) if fence else None
            if kind == "exercise":
                label = next((m.group(1) for m in (re.match(r":label:\s*(\S+)", x.strip()) for x in lines[i + 1:])
                              if m), "")
                current = {"title": fence.group(3).strip(), "label": label, "code": [], "text": [],  # type: ignore
                           "statement": []}
                found.append(current)
                state = "exercise"
            elif kind in ("solution", "solution-start"):
                target = fence.group(3).strip()  # type: ignore[union-attr]
                current = next((e for e in found if e["label"] == target), None)
                state = "gated" if kind == "solution-start" else "solution"
            elif kind == "solution-end" or (state in ("exercise", "solution") and re.fullmatch(r":{3,}", line.strip())):
                state = None
            elif state is not None and current is not None:
                current["text"].append(line)
                if state == "exercise":
                    current["statement"].append(line)
        if current is not None:
            current["text"].append("")  # a cell boundary closes nothing, but separates code spans
    out = []
    for k, e in enumerate(found, 1):
        match = TRAINING.search("\n".join([*e["code"], _code("\n".join(e["text"]))])) or \
            ASKS_TRAINING.search(re.sub(r"`[^`]*`", "`", "\n".join(e["statement"])))
        out.append(Exercise(f"{int(chapter.group(1))}.{k}" if chapter else str(k), e["label"], e["title"],
                            match is not None, match.group(0) if match else None))
    return out


def exercises_table(notebooks: Sequence[str | Path]) -> Table:
    """Every exercise of ``notebooks``: chapter, number, title, whether it needs training and what said so."""
    cells = [{"chapter": Path(p).stem, "exercise": e.number, "title": e.title, "needs training": e.needs_training,
              "found": f"`{e.call.strip()}`" if e.call else None} for p in notebooks for e in exercises(p)]
    n = sum(c["needs training"] for c in cells)
    return table(cells, caption=f"{len(cells)} exercises, {n} of them train a network")
