"""The chapter kit: the calls every chapter of the book makes, so that its cells show the method, not plumbing.

A chapter starts with::

    from sr_lib import book
    ch = book.setup("srcnn", sets=("Set5", "T91"), weights=("srcnn",))

which prints one status line (data sets found or the Demo fallback, official weights, results files, mode, device,
threads) and returns a :class:`Chapter` with what the cells need. The rest of the kit:

* :func:`read_results` / :func:`provenance_line` (from :mod:`sr_lib.results`): a committed results file and the
  one line saying which code (full commit, ``-dirty`` included), data and device produced it;
* :func:`paper_vs_ours`: the paper's table (:mod:`sr_lib.papers`) next to our results files, with the differences;
* :func:`show_source`: the syntax-highlighted source of an ``sr_lib`` object (the code a chapter teaches is the
  package's, never a copy in the notebook);
* :func:`glue`: numbers a cell computes, made available to the prose (myst-nb ``{glue:text}``);
* :func:`colab_install_cell`: the hidden first cell that installs ``sr_lib`` in Colab.
"""

from __future__ import annotations

import inspect
import math
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping, Sequence, cast

import torch

from .errors import ConfigError, WeightsError
from .results import ResultsError, provenance_line, read_results

if TYPE_CHECKING:
    from .train.studies import Comparison
from .tables import markdown_table, signed

__all__ = [
    "Chapter",
    "Markdown",
    "PaperComparison",
    "colab_install_cell",
    "setup_sets",
    "glue",
    "paper_vs_ours",
    "provenance_line",
    "read_results",
    "setup",
    "show_source",
]

Mode = Literal["quick", "full"]
MODES: tuple[Mode, ...] = ("quick", "full")
#: Matplotlib defaults of the book's figures (small images in the committed notebooks), set by :func:`setup`.
FIGURE_STYLE = {"figure.dpi": 80, "savefig.dpi": 80, "font.size": 9}
#: A key of :attr:`Chapter.weights`: (registry model name, scale or None for every scale, variant).
WeightsKey = tuple[str, int | None, str]


class Markdown:
    """Markdown shown as a cell's output: rendered by the book and by Jupyter (``text/markdown``), and the same
    text as ``text/plain``, so a ``# NBVAL_CHECK_OUTPUT`` cell can compare it."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


# ----------------------------------------------------------------------------------------------------------------
# setup


@dataclass(frozen=True)
class Chapter:
    """What a chapter's cells need, found once by :func:`setup`.

    ``data_dir``/``weights_dir`` are the explicit folders given to :func:`setup` (None: ``sr_lib`` searches
    ``$SR_DATA_DIR``/``$SR_WEIGHTS_DIR`` and the cache); ``sets`` maps each requested data set to whether it was
    found; ``weights`` maps each official weights file of the requested models to its hash-checked path or None.
    """

    name: str
    mode: Mode
    device: torch.device
    threads: int
    data_dir: Path | None
    weights_dir: Path | None
    results_dir: Path | None
    sets: Mapping[str, bool] = field(default_factory=dict)
    weights: Mapping[WeightsKey, Path | None] = field(default_factory=dict)

    def has(self, dataset: str) -> bool:
        """Whether ``dataset`` (one of the sets given to :func:`setup`) was found."""
        if dataset not in self.sets:
            raise ConfigError(f"book: '{dataset}' was not requested in setup(); requested: {', '.join(self.sets)}")
        return self.sets[dataset]

    @property
    def test_set(self) -> str:
        """The first requested set if it was found, else the embedded ``"Demo"`` set."""
        if not self.sets:
            raise ConfigError("book: this chapter requested no data set in setup()")
        first = next(iter(self.sets))
        return first if self.sets[first] else "Demo"

    @property
    def demo(self) -> bool:
        """Whether the live measurements run on the Demo set (numbers comparable with no paper)."""
        return bool(self.sets) and self.test_set == "Demo"

    def train_set(self, name: str = "T91") -> str:
        """``name`` if it was found, else ``"Demo"``."""
        return name if self.has(name) else "Demo"

    def weights_path(self, model: str, scale: int, variant: str = "") -> Path | None:
        """Path of the official weights of ``model`` at ``scale`` (``variant``: a case-insensitive part of the
        variant's name, e.g. ``"ImageNet"``), or None when they were not found."""
        for (m, s, v), path in self.weights.items():
            if m == model and s in (scale, None) and variant.lower() in v.lower():
                return path
        raise ConfigError(f"book: no weights entry {model} x{scale} '{variant}' among those requested in setup()")

    def results(self, name: str) -> dict[str, Any] | None:
        """The results file ``results/<name>`` (read with :func:`read_results`), or None outside a checkout of the
        repository (e.g. in Colab). Inside one, a missing or malformed file is an error, not a silent gap."""
        if self.results_dir is None:
            return None
        return read_results(self.results_dir / name)

    # ---------------------------------------------------------------- the multi-seed studies (sr_lib.train.studies)
    def study_table(self, arms: str | Sequence[str], datasets: Sequence[str] = ("Set5", "Set14"),
                    scale: int | None = None, self_ensemble: bool = False) -> None:
        """Display mean ± std per arm (``arms``: a study's name or arm names) and the provenance of the runs, or say
        in one line that the results files are not here (outside a checkout, or before ``make studies``)."""
        from IPython.display import display

        from .train import studies
        from .viz import table

        names = studies.get_study(arms).arms if isinstance(arms, str) else tuple(arms)
        caption = studies.get_study(arms).claim if isinstance(arms, str) else None
        if self.results_dir is None:
            return print("the results files are not here (clone the repository to see this study)")
        try:
            rows = studies.summary_rows(names, self.results_dir, datasets, scale, self_ensemble)
        except ResultsError:
            return print(f"not measured yet: no results files for {', '.join(names)} (make studies)")
        for r in rows:
            r.update({f"{d} PSNR (dB)": plus_minus(r.pop(f"{d} PSNR"), r.pop(f"{d} std")) for d in datasets})
        display(table(rows, formats={"train TMACs": ".2f"}, caption=caption))
        runs = [r for n in names for r in studies.load_arm(n, self.results_dir).train.values()]
        print(f"{len(runs)} runs:", *sorted({", ".join(provenance_line(r).split(", ")[:3]) for r in runs}))

    def claim(self, better: str, worse: str, dataset: str = "Set5", scale: int | None = None,
              self_ensemble: tuple[bool, bool] = (False, False)) -> Comparison | None:
        """Arm ``better`` (the paper's side) against ``worse`` over seeds (:func:`studies.compare`; paired when both
        are the same arm, e.g. with and without self-ensemble), or None without results files."""
        from .train import studies

        if self.results_dir is None:
            return None
        a, b = (studies.load_arm(n, self.results_dir).psnr(dataset, scale, p)
                for n, p in zip((better, worse), self_ensemble))
        return studies.compare(a, b, paired=better == worse) if a and b else None

    def league_table(self, ours: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The equal-compute league (:func:`studies.league_rows`) with this chapter's families ``ours`` marked: the
        budget and their iterations, the table (mean ± std over seeds), and which of them have no results yet.
        Returns the rows by family, PSNR cells as "mean ± std" text under "<set> PSNR (dB)"."""
        from IPython.display import display

        from .train import studies
        from .viz import table

        print(f"budget {studies.LEAGUE_BUDGET_MACS / 1e12:.0f} TMACs per run at x{studies.LEAGUE_SCALE}; iterations: "
              + ", ".join(f"{f} {studies.league_recipe(f).iters}" for f in ours))
        rows = studies.league_rows(self.results_dir) if self.results_dir else []
        by_family = {}
        for r in rows:
            cells = league_psnr_cells(r)
            for d in studies.LEAGUE_SETS:
                del r[f"{d} PSNR"], r[f"{d} std"]
            r.update(cells)
            by_family[r["family"]] = dict(r)
            r["family"] += "  ◀ this chapter" if r["family"] in ours else ""
        if rows:
            display(table(rows, formats={"GMACs / iteration": ".2f", "minutes / run": ".1f"}))
        missing = [f for f in ours if f not in by_family]
        if missing:
            print(f"no league results yet for {', '.join(missing)} (make league): the rows appear once the runs are "
                  "committed")
        return by_family

    def seed_curves(self, arms: Sequence[str], title: str) -> Any:
        """Validation PSNR during training, mean and range over seeds, one line per arm, with the bicubic level."""
        from .figures import plot_seed_curves
        from .train import studies

        runs = {studies.get_arm(n).label: studies.curves(n, self.results_dir) for n in arms} if self.results_dir \
            else {}
        if not runs or not all(runs.values()):
            return print("no training curves yet for", ", ".join(arms))
        final = next(iter(studies.load_arm(arms[-1], self.results_dir).train.values()))["final"]
        return plot_seed_curves(runs, {f"bicubic ({final['val_set']})": final["bicubic_psnr"]},
                                ymin=final["bicubic_psnr"] - 1, title=title)

    def status_line(self) -> str:
        """The one line :func:`setup` prints."""
        parts = [self.name, f"{self.mode} mode"]
        if self.sets:
            found = [n for n, ok in self.sets.items() if ok]
            missing = [n for n, ok in self.sets.items() if not ok]
            data = f"data {', '.join(found) or 'none'} found"
            if missing:
                data += f", {', '.join(missing)} missing"
            if self.demo:
                data += " (Demo set in use)"
            parts.append(data)
        if self.weights:
            have = sum(p is not None for p in self.weights.values())
            parts.append(f"official weights {have}/{len(self.weights)} found")
        parts.append(f"results files {'found' if self.results_dir else 'not found (not a checkout of the repository)'}")
        parts.append(f"device {self.device}, {self.threads} threads")
        return " | ".join(parts)


def _results_dir() -> Path | None:
    """The ``results/`` folder of the repository this runs in (searched upwards from the working directory, then
    next to the package for an editable install), or None (a plain ``pip install``, e.g. in Colab)."""
    here = Path.cwd().resolve()
    package_root = Path(__file__).resolve().parent.parent
    for folder in (here, *here.parents, package_root):
        if (folder / "results").is_dir() and (folder / "sr_lib").is_dir():
            return folder / "results"
    return None


def _find_sets(sets: Sequence[str], data_dir: Path | None) -> dict[str, bool]:
    from .data import is_present

    return {name: is_present(name, data_dir) for name in sets}


def _find_weights(models: Sequence[str], weights_dir: Path | None) -> dict[WeightsKey, Path | None]:
    from . import hub

    found: dict[WeightsKey, Path | None] = {}
    for model in models:
        entries = hub.list_weights(model, kind="model")
        if not entries:
            raise ConfigError(f"book: no official weights are registered for '{model}'")
        for entry in entries:
            try:
                path: Path | None = hub.resolve_entry(entry, weights_dir)
            except WeightsError:
                path = None
            found[(model, entry.scale, entry.variant)] = path
    return found


def setup(
    chapter: str,
    *,
    sets: Sequence[str] = ("Set5",),
    weights: Sequence[str] = (),
    data_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    device: str = "auto",
    mode: str | None = None,
    quiet: bool = False,
) -> Chapter:
    """Set a chapter up and print its status line.

    ``sets``: the data sets the chapter uses, the test set first (it falls back to the Demo set when absent; none
    for a page that measures nothing);
    ``weights``: registry names whose official weights the chapter uses (every registered file is looked up,
    hash-checked, never downloaded); ``mode``: ``"quick"`` (CI and a laptop: minutes) or ``"full"`` (recompute
    more live), default ``$SR_BOOK_MODE`` or quick. Shows a warning box when the Demo set replaces the test set
    or official weights are missing, and applies :data:`FIGURE_STYLE` to matplotlib.
    """
    from .evaluate import pick_device

    mode = mode or os.environ.get("SR_BOOK_MODE") or "quick"
    if mode not in MODES:
        raise ConfigError(f"book: mode must be one of {', '.join(MODES)}, got '{mode}' (SR_BOOK_MODE)")
    data = Path(data_dir) if data_dir else None
    wdir = Path(weights_dir) if weights_dir else None
    ch = Chapter(chapter, cast(Mode, mode), pick_device(device), torch.get_num_threads(), data, wdir, _results_dir(),
                 _find_sets(sets, data), _find_weights(weights, wdir))
    _figure_setup()
    if not quiet:
        _show_status(ch)
    return ch


def _figure_setup() -> None:
    """Figures shown inline in a notebook whatever ``$MPLBACKEND`` says (a non-interactive backend would drop every
    figure from the executed chapter), in :data:`FIGURE_STYLE`."""
    try:
        import matplotlib
    except ImportError:  # the package itself does not need matplotlib
        return
    try:
        from IPython import get_ipython
    except ImportError:
        shell = None
    else:
        shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
    matplotlib.rcParams.update(FIGURE_STYLE)


def _show_status(ch: Chapter) -> None:
    from .viz import admonition

    print(ch.status_line())
    notes = []
    if ch.demo:
        wanted = next(iter(ch.sets))
        notes.append(admonition(
            f"{wanted} was not found, so this run uses the embedded Demo set (photos shipped with scikit-image): "
            f"its numbers illustrate each method but are comparable with no paper. Set SR_DATA_DIR, or run "
            f"`sr-lib data fetch {wanted}`, to measure on the benchmark.", "warning", "Demo data"))
    missing = sorted({m for (m, _, _), p in ch.weights.items() if p is None})
    if missing:
        notes.append(admonition(
            f"Official weights not found for {', '.join(missing)}: the cells that need them say so and show the "
            f"paper's numbers only. Set SR_WEIGHTS_DIR, or download them (hash-checked) with "
            f"`sr-lib weights fetch MODEL --scale S`.", "warning", "Official weights missing"))
    if notes:
        from IPython.display import display

        display(*notes)


# ----------------------------------------------------------------------------------------------------------------
# tables, source, glue


def plus_minus(mean: float, std: float, digits: int = 2) -> str:
    """``"36.05 ± 0.08"``; ``"n/a"`` for no value, ``"(1 seed)"`` when there is no spread."""
    if mean != mean:
        return "n/a"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std == std else f"{mean:.{digits}f} (1 seed)"


def league_psnr_cells(row: Mapping[str, Any]) -> dict[str, str]:
    """A row of :func:`studies.league_rows` as its PSNR cells: ``"<set> PSNR (dB)"`` -> ``"mean ± std"`` per league set
    (the league table of the chapters and of the league page)."""
    from .train import studies

    return {f"{d} PSNR (dB)": plus_minus(row[f"{d} PSNR"], row[f"{d} std"]) for d in studies.LEAGUE_SETS}


def claim_text(c: Comparison | None) -> dict[str, str]:
    """A comparison as the words a chapter's prose glues: ``diff``, ``se``, ``verdict``, ``seeds``."""
    if c is None:
        return {"diff": "not measured", "se": "n/a", "verdict": "not measured here (no results files)", "seeds": "0"}
    return {"diff": f"{c.diff:+.2f} dB", "se": f"{c.se:.2f} dB" if c.se == c.se else "n/a", "verdict": c.verdict,
            "seeds": str(min(c.n))}


@dataclass
class PaperComparison:
    """The paper's numbers next to ours: ``rows`` holds the raw floats (for glue and checks), the cell output is a
    Markdown table (:func:`sr_lib.tables.markdown_table`) with the paper's source under it."""

    rows: list[dict[str, Any]]
    columns: list[str]
    caption: str
    sources: list[str]
    psnr_digits: int = 3

    def max_abs_difference(self, label: str, metric: Literal["psnr", "ssim"] = "psnr") -> float:
        """The largest ``|ours - paper|`` of column ``label`` (rows where both exist)."""
        key = f"{label} - paper" if metric == "psnr" else f"{label} SSIM - paper"
        values = [abs(r[key]) for r in self.rows if r.get(key) is not None]
        if not values:
            raise ConfigError(f"book: no '{key}' values in this comparison")
        return max(values)

    def _cells(self) -> list[dict[str, Any]]:
        d = self.psnr_digits
        out = []
        for row in self.rows:
            cells: dict[str, Any] = {}
            for col in self.columns:
                v = row.get(col)
                if v is None or isinstance(v, str):
                    cells[col] = v
                elif col.endswith("- paper"):
                    cells[col] = signed(v, 4 if "SSIM" in col else d)
                elif "SSIM" in col:
                    cells[col] = f"{v:.4f}"
                elif col == "paper PSNR":
                    cells[col] = f"{v:.2f}"
                else:
                    cells[col] = f"{v:.{d}f}"
            out.append(cells)
        return out

    def markdown(self) -> str:
        notes = "\n".join(f"[{i + 1}] {s}  " for i, s in enumerate(self.sources))
        return f"**{self.caption}**\n\n{markdown_table(self._cells(), columns=self.columns)}\n\n{notes}".rstrip()

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return self.markdown()


def paper_vs_ours(
    paper_model: str,
    ours: Mapping[str, Mapping[int, Mapping[str, Any] | None]],
    datasets: Sequence[str],
    *,
    caption: str,
    with_ssim: bool = True,
    psnr_digits: int = 3,
) -> PaperComparison:
    """The paper's PSNR/SSIM (``paper_results(paper_model, ...)``, primary rows) next to our results files.

    ``ours``: label (e.g. the protocol) -> scale -> a results dict with ``datasets[<set>]["psnr"/"ssim"]`` (an
    ``sr-lib eval`` results file), or None where the file is missing; rows whose files are all missing are left out.
    Each label gets its PSNR, its difference to the paper, and (``with_ssim``) its SSIM and SSIM difference.
    """
    from .papers import paper_results

    if not ours:
        raise ConfigError("book: paper_vs_ours needs at least one set of results")
    scales = sorted({s for per_scale in ours.values() for s in per_scale})
    columns = ["scale", "set", "paper PSNR"] + (["paper SSIM"] if with_ssim else []) + ["source"]
    for label in ours:
        columns += [f"{label}", f"{label} - paper"] + ([f"{label} SSIM"] if with_ssim else [])
    rows: list[dict[str, Any]] = []
    sources: list[str] = []
    for scale in scales:
        files = {label: per_scale.get(scale) for label, per_scale in ours.items()}
        if all(f is None for f in files.values()):
            continue
        for ds in datasets:
            found = paper_results(paper_model, scale, ds)
            if not found:
                raise ConfigError(f"book: paper_results has no primary {paper_model} x{scale} {ds} row")
            paper = found[0]
            if paper["source"] not in sources:
                sources.append(paper["source"])
            row: dict[str, Any] = {"scale": f"x{scale}", "set": ds, "paper PSNR": paper["psnr"],
                                   "paper SSIM": paper["ssim"], "source": f"[{sources.index(paper['source']) + 1}]"}
            for label, res in files.items():
                measured = res["datasets"][ds] if res is not None else None
                psnr = measured["psnr"] if measured else None
                ssim = measured["ssim"] if measured else None
                row[label] = psnr
                row[f"{label} - paper"] = psnr - paper["psnr"] if psnr is not None and paper["psnr"] else None
                row[f"{label} SSIM"] = ssim
                row[f"{label} SSIM - paper"] = ssim - paper["ssim"] if ssim is not None and paper["ssim"] else None
            rows.append(row)
    return PaperComparison(rows, columns, caption, sources, psnr_digits)


def show_source(obj: Any) -> Markdown:
    """The source of an ``sr_lib`` function, class or method as a highlighted Python block (``text/plain``: the
    source itself). Only the package's own code is shown, so a chapter never displays a copy."""
    module = inspect.getmodule(obj)
    if module is None or not module.__name__.startswith("sr_lib"):
        raise ConfigError(f"book: show_source shows sr_lib code only, got {getattr(obj, '__qualname__', obj)!r}")
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        raise ConfigError(f"book: no source for {getattr(obj, '__qualname__', obj)!r} ({exc})") from None
    where = f"{module.__name__}.{getattr(obj, '__qualname__', '')}".rstrip(".")
    return _SourceBlock(textwrap.dedent(source).rstrip(), where)


class _SourceBlock(Markdown):
    def __init__(self, source: str, where: str) -> None:
        super().__init__(f"`{where}`\n\n```python\n{source}\n```")
        self.source = source

    def __repr__(self) -> str:
        return self.source


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (their repr, ``np.float64(...)``, would reach the prose)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"book: cannot glue a non-finite number ({value})")
    return value


def glue(**values: Any) -> None:
    """Make each computed value available to the prose as ``{glue:text}`name:.2f``` (myst-nb), without showing it
    in the cell. A no-op where myst-nb is not installed (e.g. Colab, where the prose is not rendered from glue)."""
    try:
        from myst_nb import glue as _myst_glue
    except ImportError:
        return
    for name, value in values.items():
        _myst_glue(name, _plain(value), display=False)


# ----------------------------------------------------------------------------------------------------------------
# the Colab install cell


def colab_install_cell(repository_url: str, sets: Sequence[str] = ()) -> str:
    """Source of the hidden first cell of every notebook. In Colab (or wherever ``$SR_LIB_SOURCE`` is set, which then
    replaces the repository as the pip source, e.g. ``file:///path/to/checkout`` in tests/test_colab.py): install
    ``sr_lib`` with the book extra from ``repository_url`` (``repository.url`` of ``_config.yml``, the one place the
    address is written), keeping the runtime's own PyTorch (pip keeps an installed ``torch>=2.2``), and fetch the
    pinned ones of ``sets`` (the data sets the page's :func:`setup` call names, :func:`setup_sets`) into the cache
    with ``sr-lib data fetch`` (pinned URLs, each file sha256-checked; files already there are kept; a set that
    cannot be fetched prints one line and the page goes on, :func:`setup` then says which sets are missing).
    Elsewhere it does nothing. :func:`setup` then picks the GPU when there is one (``device="auto"``)."""
    from .data import get_info

    if not repository_url.startswith("https://"):
        raise ConfigError(f"book: the repository URL must be https, got '{repository_url}'")
    pinned = [get_info(name).name for name in sets if get_info(name).pinned]
    lines = [
        "import os, sys, subprocess, importlib.util",
        "# Colab: install sr_lib + the book extra (Colab's torch is kept) and fetch this page's data (pinned, sha256).",
        'if "google.colab" in sys.modules or "SR_LIB_SOURCE" in os.environ:',
        '    if importlib.util.find_spec("sr_lib") is None:',
        f'        source = os.environ.get("SR_LIB_SOURCE", "git+{repository_url}")',
        '        subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"sr_lib[book] @ {source}"], check=True)',
        "        importlib.invalidate_caches()",
    ]
    if pinned:
        names = ", ".join(f'"{n}"' for n in pinned)
        lines.append(f'    subprocess.run([sys.executable, "-m", "sr_lib.cli", "data", "fetch", {names}])  # failures: one line each')
    return "\n".join(lines)


def setup_sets(notebook: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``sets`` of a notebook's ``book.setup(...)`` call (the default when the call names none; none without a
    call): what its install cell fetches in Colab."""
    import ast

    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse("".join(cell.get("source", "")))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "setup" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "book":
                for kw in node.keywords:
                    if kw.arg == "sets":
                        return tuple(ast.literal_eval(kw.value))
                return tuple(inspect.signature(setup).parameters["sets"].default)
    return ()
