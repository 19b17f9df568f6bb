"""The reproduction scoreboard: every published cell the book discusses, with ours next to it and a status.

One declarative table, :data:`DISCUSSED`, says which cells of :func:`sr_lib.papers.paper_results` each chapter
discusses (model, variant, scales, sets) and, where the book has one, which committed results file or study arm holds
our number for them. :func:`scoreboard_rows` turns it into one :class:`Row` per paper cell (a cell discussed by
several chapters is one row), reading nothing but ``paper_results`` and the results files; the status of each row is
decided in code, from those files and the weights registry (:mod:`sr_lib.hub`):

* ``reproduced (within 0.01 dB)`` / ``reproduced (within 0.05 dB)``: ours comes from the official weights (or, for
  bicubic, the method itself), the results file records the paper's protocol, and ``|ours - paper|`` is within the
  threshold (:data:`THRESHOLDS`);
* ``gap explained``: ours exists but is not a reproduction (a reimplementation's weights, a small study arm, another
  protocol) or differs by more: the row gives the declared one-line reason, which names the chapter section that
  explains it;
* ``needs weights not available offline``: no number of ours; the official weights are registered in
  :mod:`sr_lib.hub` but are not in a weights folder here (``$SR_WEIGHTS_DIR``, the cache);
* ``needs a GPU``: no number of ours and no official weights at all: only a paper-preset training run would give it.

(A sixth value, :data:`NOT_EVALUATED`, appears only where official weights were found locally but no results file of
them is declared; the test suite keeps the committed page free of it.)

:func:`scoreboard_markdown` renders the rows (through :func:`sr_lib.tables.markdown_table`), each with the paper's
source, the results file(s) and their commit; :func:`unsourced_numbers` lists every number of a rendered page that is
not one of the rows' sourced values, so a test can fail when one has no source.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from .errors import ConfigError, WeightsError
from .papers import paper_results
from .results import ResultsError, read_results
from .tables import markdown_table, signed

__all__ = [
    "DISCUSSED",
    "STATUSES",
    "Discussed",
    "Measured",
    "Ours",
    "Row",
    "Scoreboard",
    "decide_status",
    "repository",
    "scoreboard_markdown",
    "scoreboard_rows",
    "unsourced_numbers",
]

# ------------------------------------------------------------------------------------------------------ statuses

#: ``|ours - paper|`` (dB) within which an official, same-protocol number counts as reproduced.
THRESHOLDS: tuple[float, ...] = (0.01, 0.05)
REPRODUCED: tuple[str, ...] = tuple(f"reproduced (within {t:g} dB)" for t in THRESHOLDS)
GAP_EXPLAINED = "gap explained"
NEEDS_WEIGHTS = "needs weights not available offline"
NEEDS_GPU = "needs a GPU"
#: The statuses of the issue, in the order the summary lists them.
STATUSES: tuple[str, ...] = (*REPRODUCED, GAP_EXPLAINED, NEEDS_WEIGHTS, NEEDS_GPU)
#: Official weights found here, but no results file of them declared (never on the committed page).
NOT_EVALUATED = "weights found, not evaluated yet"
_EPS = 1e-9  # float slack at the thresholds

# ------------------------------------------------------------------------------------------- the declared table

OursKind = Literal["official", "reimplementation", "study"]
#: Official weights of a cell's registry model: registered and found here, registered only, or not registered.
WeightsState = Literal["found", "missing", "none"]


@dataclass(frozen=True)
class Ours:
    """Where our number for a paper cell comes from.

    ``kind``: ``"official"`` — the released weights whose numbers the cell reports (for bicubic: the method itself);
    the results file must record them (sha256 checked against :mod:`sr_lib.hub`) — the only kind that can
    *reproduce*; ``"reimplementation"`` — other released weights of the same architecture; ``"study"`` — a small
    study arm of the book (mean over its seeds).
    ``protocol``: the evaluation protocol (:data:`sr_lib.evaluate.PROTOCOLS`) every file must record.
    ``file``: a results file below ``results/`` (``{scale}`` is replaced); ``arm``: a study arm
    (:mod:`sr_lib.train.studies`), read from its ``eval_x<scale>.json`` files, or from its Gaussian8 files of mode
    ``gaussian8``. ``self_ensemble``: the file(s) must be (or not be) x8 self-ensemble evaluations.
    ``reason``: the one line shown when this is not a reproduction; it names the chapter section that explains the
    gap. Required for every kind but ``"official"`` (where it is needed only if the gap exceeds the thresholds).
    """

    kind: OursKind
    protocol: str
    file: str | None = None
    arm: str | None = None
    gaussian8: str | None = None
    self_ensemble: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        if (self.file is None) == (self.arm is None):
            raise ConfigError("scoreboard: an Ours source names either a results file or a study arm")
        if self.kind == "study" and self.arm is None:
            raise ConfigError("scoreboard: a study source names its arm")
        if self.kind != "official" and not self.reason:
            raise ConfigError(f"scoreboard: the {self.kind} source {self.file or self.arm} needs a reason")


@dataclass(frozen=True)
class Discussed:
    """Paper cells one chapter discusses: ``model`` (the ``paper_results`` name) at ``scales`` on ``datasets``.

    ``variant``: the start of the ``variant`` column for a non-primary row the chapter shows (None: the primary rows);
    ``registry``: the registry model (:func:`sr_lib.models.list_models`) whose official weights would give the
    number (its hub entries decide the status where ours is missing); None where ``sr_lib`` has no registry model
    of that name whose weights could be registered (IKC; SRGAN's generator is ``srresnet``, whose entry is
    SRResNet's);
    ``protocol``: the protocol the paper's number was measured with; ``section``: the chapter section showing them.
    """

    chapter: str
    section: str
    model: str
    scales: tuple[int, ...]
    datasets: tuple[str, ...]
    registry: str | None
    variant: str | None = None
    degradation: str = "BI"
    protocol: str = "standard"
    ours: Ours | None = None

    @property
    def label(self) -> str:
        return self.model if self.variant is None else f"{self.model}, {self.variant}"


_X234 = (2, 3, 4)
_SETS3 = ("Set5", "Set14", "B100")
_SETS4 = ("Set5", "Set14", "B100", "Urban100")
_SETS5 = (*_SETS4, "Manga109")
_OURS_AND_PAPER = "Our numbers and the paper's"


def _study(arm: str, network: str, chapter: str, section: str = _OURS_AND_PAPER, gaussian8: str | None = None) -> Ours:
    """A study arm as ours, with the reason every such row gives."""
    return Ours("study", "standard", arm=arm, gaussian8=gaussian8,
                reason=f"`{arm}` study arm: a small {network} trained for minutes on a CPU, not the paper's model "
                       f"({{doc}}`{chapter}`, \"{section}\")")


_VDSR_REIMPLEMENTATION = (
    "the `twtygqyy/pytorch-vdsr` weights (no biases, their own schedule) under their `float` protocol: a good VDSR, "
    "not the paper's model ({doc}`03_vdsr`, \"The official numbers\")")

#: Every paper cell a chapter discusses, in the book's order (found in the chapters' calls of ``paper_results``,
#: ``paper_psnr`` and ``book.paper_vs_ours``; tests/test_scoreboard.py keeps the two in step).
DISCUSSED: tuple[Discussed, ...] = (
    Discussed("01_sr_problem", "7. The bicubic baseline, reproduced", "Bicubic", _X234, _SETS3, "bicubic",
              protocol="matlab-y", ours=Ours("official", "matlab-y", file="bicubic_x{scale}_matlab-y.json")),
    Discussed("02_srcnn", "Reproducing the paper's table", "SRCNN", _X234, _SETS3, "srcnn", protocol="matlab-y",
              ours=Ours("official", "matlab-y", file="srcnn_x{scale}_matlab-y.json")),
    Discussed("03_vdsr", "The official numbers", "VDSR", _X234, ("Set5", "Set14"), "vdsr", protocol="matlab-y",
              ours=Ours("reimplementation", "float", file="vdsr-nobias_x{scale}_float.json",
                        reason=_VDSR_REIMPLEMENTATION)),
    Discussed("03_vdsr", "The official numbers", "VDSR", _X234, ("B100", "Urban100"), "vdsr", protocol="matlab-y"),
    Discussed("03_vdsr", "The official numbers", "VDSR", _X234, ("Set5",), "vdsr-nobias", variant="twtygqyy",
              protocol="float", ours=Ours("official", "float", file="vdsr-nobias_x{scale}_float.json")),
    Discussed("04_edsr", "The paper's numbers", "EDSR", _X234, _SETS4, "edsr"),
    Discussed("04_edsr", _OURS_AND_PAPER, "EDSR", (2,), ("Set5", "Set14"), "edsr",
              ours=_study("edsr-x2", "EDSR", "04_edsr")),
    Discussed("04_edsr", "The paper's numbers", "EDSR+", _X234, _SETS4, "edsr"),
    Discussed("04_edsr", "The paper's numbers", "MDSR", _X234, _SETS4, "mdsr"),
    Discussed("04_edsr", "The paper's numbers", "MDSR+", _X234, _SETS4, "mdsr"),
    Discussed("04_edsr", "The paper's numbers", "EDSR-baseline", _X234, ("DIV2K-val(0801-0900)",), "edsr-baseline"),
    Discussed("04_edsr", "The paper's numbers", "MDSR-baseline", _X234, ("DIV2K-val(0801-0900)",), "mdsr-baseline"),
    Discussed("05_rcan", "The papers' numbers", "RCAN", _X234, _SETS5, "rcan"),
    Discussed("05_rcan", "Our numbers and the papers'", "RCAN", (2,), ("Set5", "Set14"), "rcan",
              ours=_study("rcan-full", "RCAN", "05_rcan", "Our numbers and the papers'")),
    Discussed("05_rcan", "The papers' numbers", "RCAN+", _X234, _SETS5, "rcan"),
    Discussed("05_rcan", "The papers' numbers", "SAN", _X234, _SETS5, "san"),
    Discussed("05_rcan", "Our numbers and the papers'", "SAN", (2,), ("Set5", "Set14"), "san",
              ours=_study("san-second-order", "SAN", "05_rcan", "Our numbers and the papers'")),
    Discussed("06_csnln", "The official numbers", "CSNLN", _X234, _SETS5, "csnln"),
    Discussed("06_csnln", _OURS_AND_PAPER, "CSNLN", (2,), ("Set5", "Set14"), "csnln",
              ours=_study("csnln-cross-scale", "CSNLN", "06_csnln")),
    *(Discussed("06_csnln", "The premise and the paper's gains", m, _X234, _SETS5, m.lower())
      for m in ("EDSR", "RCAN", "SAN")),
    Discussed("07_msrn", "The official numbers", "MSRN", (2, 3, 4, 8), _SETS5, "msrn-y", variant="MSRN paper"),
    Discussed("07_msrn", _OURS_AND_PAPER, "MSRN", (2,), ("Set5", "Set14"), "msrn-y", variant="MSRN paper",
              ours=_study("msrn-msrb", "MSRN", "07_msrn")),
    Discussed("07_msrn", "The official numbers", "MSRN", (2, 3, 4, 8), _SETS5, "msrn", variant="MSRN retrained"),
    Discussed("07_msrn", "The official numbers", "MSRN+", (2, 3, 4, 8), _SETS5, "msrn"),
    Discussed("08_srgan", "The official numbers", "SRResNet", (4,), _SETS3, "srresnet"),
    Discussed("08_srgan", _OURS_AND_PAPER, "SRResNet", (4,), ("Set14",), "srresnet",
              ours=_study("srresnet-mse", "SRResNet", "08_srgan")),
    Discussed("08_srgan", "The official numbers", "SRResNet", (4,), _SETS3, "srresnet", variant="SRResNet paper"),
    Discussed("08_srgan", "The official numbers", "SRResNet", (4,), _SETS3, "srresnet-in", variant="twtygqyy"),
    Discussed("08_srgan", "The official numbers", "SRResNet", (4,), _SETS4, "srresnet",
              variant="SRResNet (MSE) as quoted"),
    Discussed("08_srgan", "The official numbers", "SRGAN", (4,), _SETS3, None),
    Discussed("08_srgan", _OURS_AND_PAPER, "SRGAN", (4,), ("Set14",), None,
              ours=_study("srgan-adv0.001", "SRGAN", "08_srgan")),
    Discussed("09_dan", "The official numbers", "IKC", _X234, _SETS5, None, degradation="setting1"),
    Discussed("09_dan", "The official numbers", "DAN", _X234, _SETS5, "dan-v1", variant="DANv1",
              degradation="setting1"),
    Discussed("09_dan", _OURS_AND_PAPER, "DAN", (2,), ("Set5", "Set14"), "dan-v1", variant="DANv1",
              degradation="setting1", ours=_study("dan-blind", "DAN", "09_dan", gaussian8="blind")),
    Discussed("09_dan", "The official numbers", "DAN", _X234, _SETS5, "dan-v2", variant="DANv2",
              degradation="setting1"),
)

# -------------------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Row:
    """One paper cell with ours next to it.

    ``paper_*``/``source``/``variant`` come from ``paper_results``; ``ours_*`` from ``files`` (relative to the
    repository root; several for a study arm: one per seed, ``ours_*`` their mean), each made at ``commits``
    (provenance); ``status`` and ``why`` from :func:`decide_status`; ``chapters``: every chapter discussing the cell,
    ``section``: where the first one shows it.
    """

    label: str
    model: str
    variant: str
    scale: int
    dataset: str
    degradation: str
    paper_psnr: float
    paper_ssim: float | None
    source: str
    chapters: tuple[str, ...]
    section: str
    status: str
    why: str
    ours_psnr: float | None = None
    ours_ssim: float | None = None
    seeds: int | None = None
    files: tuple[str, ...] = ()
    commits: tuple[str, ...] = ()

    @property
    def diff(self) -> float | None:
        """ours - paper (dB), or None without ours."""
        return None if self.ours_psnr is None else self.ours_psnr - self.paper_psnr


@dataclass(frozen=True)
class Measured:
    """Our number for one cell: set means (over seeds for a study arm), the files read and their commits."""

    psnr: float
    ssim: float | None
    seeds: int | None
    files: tuple[str, ...]
    commits: tuple[str, ...]


def decide_status(ours: Ours | None, measured: Measured | None, paper_protocol: str, paper_psnr: float,
                  weights: WeightsState, weights_note: str = "") -> tuple[str, str]:
    """``(status, why)`` of one cell (the rules of the module docstring).

    ``weights``: whether official weights of the cell's registry model are registered and found here (``"found"``),
    registered but not here (``"missing"``), or not registered (``"none"``); consulted only without ``measured``.
    """
    if ours is not None and measured is not None:
        diff = measured.psnr - paper_psnr
        if ours.kind == "official" and ours.protocol == paper_protocol:
            for threshold, status in zip(THRESHOLDS, REPRODUCED):
                if abs(diff) <= threshold + _EPS:
                    return status, f"official, the paper's protocol (`{ours.protocol}`)"
        if not ours.reason:
            raise ConfigError(f"scoreboard: ours ({ours.file or ours.arm}) differs from the paper by {diff:+.3f} dB "
                              "and the table declares no reason for it")
        return GAP_EXPLAINED, ours.reason
    if weights == "found":
        return NOT_EVALUATED, f"{weights_note} is here: evaluate it (`sr-lib eval`) and declare the results file"
    if weights == "missing":
        return NEEDS_WEIGHTS, f"{weights_note} is not in a weights folder here (`$SR_WEIGHTS_DIR`)"
    return NEEDS_GPU, weights_note or "no official weights: only a paper-preset training run gives this number"


def _official_weights(registry: str | None, scale: int, weights_dir: str | Path | None) -> tuple[WeightsState, str]:
    """Whether ``registry``'s official weights at ``scale`` are registered and found here, with a short note."""
    from . import hub
    from .models import get_model_entry

    if registry is None:
        return "none", "no official weights registered in `sr_lib.hub`: only a training run gives this number"
    get_model_entry(registry).check_scale(scale)
    entries = [e for e in hub.list_weights(registry, kind="model") if e.scale in (scale, None)]
    if not entries:
        return "none", f"no official weights of `{registry}`: only a paper-preset training run gives this number"
    for entry in entries:
        try:
            hub.resolve_entry(entry, weights_dir)
        except WeightsError:
            continue
        return "found", f"`{entry.path}`"
    entry = entries[0]
    how = "pinned download" if entry.url else "manual download"
    return "missing", f"`{entry.path}` ({how})"


def _relative(path: Path, results_dir: Path) -> str:
    return path.relative_to(results_dir.parent).as_posix()


def _commit(res: dict[str, Any], where: str) -> str:
    prov = res.get("provenance")
    if not isinstance(prov, dict) or not prov.get("git_commit"):
        raise ResultsError(f"{where}: no provenance commit (no 'provenance.git_commit' entry)")
    return str(prov["git_commit"])


def _check_config(res: dict[str, Any], where: str, ours: Ours, registry: str | None, scale: int) -> None:
    """The file records ``ours``' protocol and self-ensemble setting and, for an official source, the official
    weights (sha256 against the hub) or none for bicubic; one ConfigError/ResultsError line otherwise."""
    from . import hub

    config = res.get("provenance", {}).get("config")
    if not isinstance(config, dict) or not isinstance(config.get("protocol"), dict):
        raise ResultsError(f"{where}: no recorded evaluation config (provenance.config.protocol)")
    recorded = config["protocol"].get("name")
    if recorded != ours.protocol:
        raise ConfigError(f"scoreboard: {where} records protocol '{recorded}', the table declares '{ours.protocol}'")
    if bool(config.get("self_ensemble", False)) != ours.self_ensemble:
        raise ConfigError(f"scoreboard: {where} self_ensemble is {bool(config.get('self_ensemble'))}, the table "
                          f"declares {ours.self_ensemble}")
    if ours.kind != "official":
        return
    digest = config.get("weights_sha256")
    if registry == "bicubic":
        if config.get("weights") is not None:
            raise ConfigError(f"scoreboard: {where} records weights, bicubic has none")
        return
    entries = [e for e in hub.list_weights(registry, kind="model") if e.scale in (scale, None)]
    if not digest or not any(e.check_hash(str(digest)) for e in entries):
        raise ConfigError(f"scoreboard: {where} records weights sha256 {str(digest)[:16]}..., not the official "
                          f"weights of {registry} x{scale} registered in sr_lib.hub")


def _set_means(res: dict[str, Any], dataset: str, where: str) -> tuple[float, float | None]:
    sets = res.get("datasets")
    if not isinstance(sets, dict) or dataset not in sets:
        have = ", ".join(sets) if isinstance(sets, dict) else "no 'datasets' entry"
        raise ResultsError(f"{where}: no '{dataset}' in this results file (it has {have})")
    psnr, ssim = sets[dataset].get("psnr"), sets[dataset].get("ssim")
    if not isinstance(psnr, (int, float)) or not isinstance(ssim, (int, float, type(None))):
        raise ResultsError(f"{where}: {dataset} has no numeric 'psnr'/'ssim'")
    return float(psnr), None if ssim is None else float(ssim)


class _Reader:
    """Reads results files once each, and the study arms' table once (building it counts every league entry's
    training MACs, about a second)."""

    def __init__(self, results_dir: Path) -> None:
        self.results_dir = results_dir
        self._files: dict[Path, dict[str, Any]] = {}
        self._arms: dict[str, Any] | None = None

    def read(self, path: Path) -> dict[str, Any]:
        if path not in self._files:
            self._files[path] = read_results(path)
        return self._files[path]

    def arm_files(self, ours: Ours, scale: int) -> list[Path]:
        """The existing files of ``ours``' arm at ``scale``, one per seed (none before its runs are committed)."""
        from .train import studies

        if self._arms is None:
            self._arms = studies.arms()
        if ours.arm not in self._arms:
            raise ConfigError(f"scoreboard: unknown study arm '{ours.arm}'")
        arm = self._arms[str(ours.arm)]
        paths = [studies.gaussian8_path(self.results_dir, arm, seed, ours.gaussian8) if ours.gaussian8 is not None
                 else studies.eval_path(self.results_dir, arm, seed, scale, ours.self_ensemble)
                 for seed in studies.SEEDS]
        return [p for p in paths if p.is_file()]


def _measure(ours: Ours, registry: str | None, scale: int, dataset: str, reader: _Reader) -> Measured | None:
    """Our number for one cell from the declared file (which must exist) or arm (None before its runs exist)."""
    results_dir = reader.results_dir
    if ours.file is not None:
        path = results_dir / ours.file.format(scale=scale)
        res = reader.read(path)
        where = _relative(path, results_dir)
        _check_config(res, where, ours, registry, scale)
        psnr, ssim = _set_means(res, dataset, where)
        return Measured(psnr, ssim, None, (where,), (_commit(res, where),))
    found = [(p, reader.read(p)) for p in reader.arm_files(ours, scale)]
    found = [(p, f) for p, f in found if dataset in f.get("datasets", {})]
    if not found:
        return None
    psnrs: list[float] = []
    ssims: list[float | None] = []
    files: list[str] = []
    commits: list[str] = []
    for path, res in found:
        where = _relative(path, results_dir)
        _check_config(res, where, ours, registry, scale)
        psnr, ssim = _set_means(res, dataset, where)
        psnrs.append(psnr)
        ssims.append(ssim)
        files.append(where)
        commits.append(_commit(res, where))
    mean_ssim = None if any(s is None for s in ssims) else sum(s for s in ssims if s is not None) / len(ssims)
    return Measured(sum(psnrs) / len(psnrs), mean_ssim, len(found), tuple(files), tuple(dict.fromkeys(commits)))


def _paper_cell(entry: Discussed, scale: int, dataset: str) -> dict[str, Any]:
    found = paper_results(entry.model, scale, dataset, entry.degradation, primary_only=entry.variant is None,
                          variant=entry.variant)
    what = f"{entry.label} x{scale} {dataset} ({entry.degradation})"
    if len(found) != 1:
        raise ConfigError(f"scoreboard: paper_results has {len(found)} rows for {what}, the table needs exactly one")
    if found[0]["psnr"] is None:
        raise ConfigError(f"scoreboard: paper_results gives no PSNR for {what}")
    return found[0]


def scoreboard_rows(results_dir: str | Path, weights_dir: str | Path | None = None,
                    discussed: Sequence[Discussed] = DISCUSSED) -> list[Row]:
    """One :class:`Row` per paper cell of ``discussed``, in the book's order, from ``paper_results`` and the results
    files under ``results_dir`` (the repository's ``results/``) only.

    ``weights_dir``: searched before ``$SR_WEIGHTS_DIR`` and the cache for official weights (statuses of cells
    without ours). A declared results file that is missing or malformed is one :class:`ResultsError` line; a file
    recording another protocol, or not the official weights it is declared to hold, one :class:`ConfigError` line.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ResultsError(f"{results_dir}: no results folder")
    cells: dict[tuple[str, ...], tuple[dict[str, Any], list[Discussed]]] = {}
    for entry in discussed:
        for scale, dataset in itertools.product(entry.scales, entry.datasets):
            paper = _paper_cell(entry, scale, dataset)
            key = (paper["model"], paper["variant"], str(scale), paper["degradation"], paper["dataset"],
                   paper["source"])
            cells.setdefault(key, (paper, []))[1].append(entry)
    rows: list[Row] = []
    reader = _Reader(results_dir)
    for paper, entries in cells.values():
        first = entries[0]
        what = f"{first.label} x{paper['scale']} {paper['dataset']}"
        if len({(e.registry, e.protocol) for e in entries}) != 1:
            raise ConfigError(f"scoreboard: the table's entries for {what} disagree on the registry model or protocol")
        sources = list(dict.fromkeys(e.ours for e in entries if e.ours is not None))
        if len(sources) > 1:
            raise ConfigError(f"scoreboard: the table declares {len(sources)} sources of ours for {what}")
        ours = sources[0] if sources else None
        scale = paper["scale"]
        measured = _measure(ours, first.registry, scale, paper["dataset"], reader) if ours else None
        weights: WeightsState = "none"
        note = ""
        if measured is None:
            weights, note = _official_weights(first.registry, scale, weights_dir)
        status, why = decide_status(ours, measured, first.protocol, paper["psnr"], weights, note)
        rows.append(Row(
            label=first.label, model=paper["model"], variant=paper["variant"], scale=scale, dataset=paper["dataset"],
            degradation=paper["degradation"], paper_psnr=paper["psnr"], paper_ssim=paper["ssim"],
            source=paper["source"], chapters=tuple(dict.fromkeys(e.chapter for e in entries)), section=first.section,
            status=status, why=why,
            ours_psnr=measured.psnr if measured else None, ours_ssim=measured.ssim if measured else None,
            seeds=measured.seeds if measured else None, files=measured.files if measured else (),
            commits=measured.commits if measured else ()))
    return rows


# ------------------------------------------------------------------------------------------------- rendering

COLUMNS: tuple[str, ...] = ("model", "scale", "set", "paper PSNR", "paper SSIM", "ours PSNR", "ours SSIM",
                            "ours - paper", "status", "why", "ours from", "source", "section")
PSNR_DIGITS = 3  # ours, as in book.paper_vs_ours


def repository(root: str | Path) -> tuple[str, str] | None:
    """``(url, branch)`` of ``repository`` in ``root/_config.yml`` (the one place the address is written), or None
    where there is no such file (outside a checkout)."""
    path = Path(root) / "_config.yml"
    if not path.is_file():
        return None
    block = re.search(r"^repository:[ \t]*\n((?:[ \t]+.*\n?|[ \t]*\n)*)", path.read_text(), re.MULTILINE)
    if block is None:
        raise ConfigError(f"{path}: no 'repository' block")
    url = re.search(r"^[ \t]+url:[ \t]*(\S+)", block.group(1), re.MULTILINE)
    branch = re.search(r"^[ \t]+branch:[ \t]*(\S+)", block.group(1), re.MULTILINE)
    if url is None:
        raise ConfigError(f"{path}: no repository.url")
    return url.group(1).rstrip("/"), branch.group(1) if branch else "main"


def _published(value: float | None, digits: int) -> str | None:
    """A paper value as published: ``digits`` decimals, more where the source gives more."""
    if value is None:
        return None
    return f"{value:.{digits}f}" if abs(round(value, digits) - value) < _EPS else repr(value)


def _values(row: Row) -> dict[str, str | None]:
    """The sourced numbers of a row, as rendered."""
    return {"paper PSNR": _published(row.paper_psnr, 2), "paper SSIM": _published(row.paper_ssim, 4),
            "ours PSNR": None if row.ours_psnr is None else f"{row.ours_psnr:.{PSNR_DIGITS}f}",
            "ours SSIM": None if row.ours_ssim is None else f"{row.ours_ssim:.4f}",
            "ours - paper": signed(row.diff, PSNR_DIGITS)}


def _ours_from(row: Row, repo: tuple[str, str] | None) -> str | None:
    if not row.files:
        return None
    where = row.files[0] if len(row.files) == 1 else str(Path(row.files[0]).parent.parent.as_posix()) + "/"
    kind = "blob" if len(row.files) == 1 else "tree"
    text = f"[`{where}`]({repo[0]}/{kind}/{repo[1]}/{where.rstrip('/')})" if repo else f"`{where}`"
    seeds = f", {row.seeds} seeds" if row.seeds is not None else ""
    return f"{text}{seeds} @ " + ", ".join(f"`{c[:10]}`" for c in row.commits)


def _section(row: Row) -> str:
    also = "".join(f"; also {{doc}}`{c}`" for c in row.chapters[1:])
    return f"{row.section}{also}"


def _groups(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """Consecutive rows by their first chapter (the render order is the rows' order)."""
    return [(chapter, list(group)) for chapter, group in itertools.groupby(rows, key=lambda r: r.chapters[0])]


def scoreboard_markdown(rows: Sequence[Row], repo: tuple[str, str] | None = None) -> str:
    """The scoreboard as Markdown: per first chapter, its name (a ``{doc}`` link), a table
    (:func:`sr_lib.tables.markdown_table`) and the paper sources its ``source`` column refers to.

    ``repo``: ``(url, branch)`` (:func:`repository`) to link each results file; None: the paths only.
    """
    parts = []
    for chapter, group in _groups(rows):
        sources = list(dict.fromkeys(r.source for r in group))
        cells = []
        for r in group:
            cell = {"model": r.label, "scale": f"x{r.scale}", "set": r.dataset, **_values(r), "status": r.status,
                    "why": r.why, "ours from": _ours_from(r, repo), "source": f"[{sources.index(r.source) + 1}]",
                    "section": _section(r)}
            bad = [k for k, v in cell.items() if v is not None and ("|" in v or "\n" in v)]
            if bad:
                raise ConfigError(f"scoreboard: a '|' or line break in {', '.join(bad)} of {r.label} x{r.scale} "
                                  f"{r.dataset} would break the table")
            cells.append(cell)
        notes = "\n".join(f"[{i + 1}] {s}  " for i, s in enumerate(sources))
        parts.append(f"**{{doc}}`{chapter}`**\n\n{markdown_table(cells, columns=COLUMNS)}\n\n{notes}".rstrip())
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------- the source check

#: A number: optional sign, digits, optional decimals, not glued to a word, a dot or another digit.
_NUMBER = re.compile(r"(?<![\w.])[+-]?\d+(?:\.\d+)?(?![\w.])")
#: What is not a value: code spans (paths, commits, arm names, ``{doc}`` targets), link targets, footnote markers.
_IDENTIFIERS = re.compile(r"`[^`]*`|\]\([^)]*\)|\[\d+\]")
_RULE = re.compile(r"^\s*\|[-:| ]+\|\s*$")  # the line under a table's header


def _numbers(text: str) -> list[str]:
    return _NUMBER.findall(_IDENTIFIERS.sub(" ", text))


def _sourced(row: Row) -> set[str]:
    """Every number the row may show: its values as rendered, its seeds, and the numbers inside its labels from
    paper_results (model, variant, set, source), plus the status thresholds."""
    texts = [v for v in _values(row).values() if v is not None] + [row.label, row.variant, row.dataset, row.source]
    if row.seeds is not None:
        texts.append(str(row.seeds))
    return {n for t in (*texts, *STATUSES) for n in _numbers(t)}


def unsourced_numbers(markdown_text: str, rows: Sequence[Row]) -> list[str]:
    """Every number of ``markdown_text`` (a page rendered by :func:`scoreboard_markdown`) that has no source.

    The i-th table body line is held to ``rows[i]``: each number in it must be one of that row's sourced values
    (as rendered) or part of its labels; numbers outside the tables must be sourced by some row. Code spans, link
    targets and footnote markers are identifiers, not values. Returns one line per problem (empty: all sourced).
    """
    lines = markdown_text.splitlines()
    rule = [bool(_RULE.match(line)) for line in lines] + [False]
    body = [i for i, line in enumerate(lines) if line.lstrip().startswith("|") and not rule[i] and not rule[i + 1]]
    problems = []
    if len(body) != len(rows):
        problems.append(f"{len(body)} table rows on the page for {len(rows)} scoreboard rows")
    anywhere = set().union(*(_sourced(r) for r in rows)) if rows else {n for s in STATUSES for n in _numbers(s)}
    for k, i in enumerate(body):
        allowed = _sourced(rows[k]) if k < len(rows) else anywhere
        where = f"{rows[k].label} x{rows[k].scale} {rows[k].dataset}" if k < len(rows) else f"line {i + 1}"
        problems += [f"{where}: {n} has no source" for n in _numbers(lines[i]) if n not in allowed]
    in_body = set(body)
    for i, line in enumerate(lines):
        if i not in in_body:
            problems += [f"line {i + 1}: {n} has no source" for n in _numbers(line) if n not in anywhere]
    return problems


# ----------------------------------------------------------------------------------------------- the page object


@dataclass
class Scoreboard:
    """The rows and where the repository is; displayed as the Markdown of :func:`scoreboard_markdown` (also its
    ``text/plain``, so a ``# NBVAL_CHECK_OUTPUT`` cell compares it)."""

    rows: list[Row]
    repo: tuple[str, str] | None = None

    @classmethod
    def load(cls, results_dir: str | Path, weights_dir: str | Path | None = None) -> Scoreboard:
        """The scoreboard of the repository whose ``results/`` folder is ``results_dir``."""
        results_dir = Path(results_dir)
        return cls(scoreboard_rows(results_dir, weights_dir), repository(results_dir.parent))

    def counts(self) -> dict[str, int]:
        """Rows per status, in :data:`STATUSES` order (and :data:`NOT_EVALUATED` where any)."""
        found = [r.status for r in self.rows]
        return {s: found.count(s) for s in (*STATUSES, NOT_EVALUATED) if s in STATUSES or s in found}

    def markdown(self) -> str:
        return scoreboard_markdown(self.rows, self.repo)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return self.markdown()

