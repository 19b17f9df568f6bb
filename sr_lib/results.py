"""Results files: the one module that writes, reads and re-checks the JSON files behind the book's numbers.

A results file is a JSON object with a ``"provenance"`` entry (:func:`sr_lib.provenance.environment`: the full
commit, device, torch version and time, plus the sha256 of every data file read). An evaluation file
(``sr-lib eval --json``) also records the configuration that produced it (``provenance.config``), so
:func:`rerun_eval` can compute it again and list every per-image difference. Training (``kind: train``) and
benchmark (``kind: bench``) files are not re-run: they take long, and timings are not meant to repeat exactly.

    python -m sr_lib.results verify results/*.json      # re-run every evaluation file (make verify-results)
    python -m sr_lib.results clean-commit               # print HEAD, or fail when the code is modified
    python -m sr_lib.results check-commit results/*.json  # every file records the current clean commit
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Callable, Iterable, Sequence

import torch

from .errors import SRLibError
from .imageio import atomic_write_json, sha256_file
from .provenance import CODE_PATHS, environment, file_hashes, git_commit, weights_key


class ResultsError(SRLibError):
    """A results file is missing, corrupt, or lacks what a re-run needs."""


def write_results(path: str | Path, payload: dict[str, Any], *, device: torch.device | str,
                  data_files: Iterable[Path] = ()) -> dict[str, Any]:
    """Write ``payload`` to ``path`` as JSON, atomically, and return what was written.

    Unless the payload has its own ``"provenance"``, one is added: :func:`sr_lib.provenance.environment` of
    ``device`` and ``"data_sha256"`` of ``data_files``.
    """
    written = dict(payload)
    if "provenance" not in written:
        written["provenance"] = {**environment(device), "data_sha256": file_hashes(data_files)}
    atomic_write_json(path, written)
    return written


def read_results(path: str | Path) -> dict[str, Any]:
    """The JSON object stored at ``path``; one :class:`ResultsError` line when it is missing or not a results file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read results file ({exc})") from None
    try:
        results = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); regenerate it") from None
    if not isinstance(results, dict):
        raise ResultsError(f"{path}: a results file holds a JSON object, found {type(results).__name__}")
    return results


def results_kind(results: dict[str, Any]) -> str:
    """``"eval"``, ``"train"``, ``"bench"`` or ``"unknown"``: the explicit ``"kind"``, else read off the contents
    (``sr-lib eval --json`` files have per-set ``datasets`` and the recorded ``config``)."""
    if "kind" in results:
        return str(results["kind"])
    if "benchmark" in results:
        return "bench"
    if "history" in results:
        return "train"
    if isinstance(results.get("datasets"), dict) and "config" in results.get("provenance", {}):
        return "eval"
    return "unknown"


def provenance_line(results: dict[str, Any]) -> str:
    """One line saying what produced ``results``: the full commit (with ``-dirty``), device, torch, time, wall time."""
    prov = results.get("provenance")
    if not isinstance(prov, dict):
        raise ResultsError("results without provenance (no 'provenance' entry)")
    parts = [f"commit {prov.get('git_commit', 'unknown')}", str(prov.get("device", "device unknown")),
             f"torch {prov.get('torch', 'unknown')}", str(prov.get("timestamp_utc", "time unknown"))]
    wall = prov.get("wall_time_s", results.get("wall_time_s"))
    if wall is not None:
        parts.append(f"wall time {float(wall):.1f} s")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# protocol gaps over the committed files


@dataclass(frozen=True)
class ProtocolGap:
    """How much two protocols (:data:`sr_lib.evaluate.PROTOCOLS`) move one set's mean PSNR for the same model."""

    model: str
    scale: int
    dataset: str
    protocols: tuple[str, str]
    psnr_gap: float  # mean PSNR under protocols[0] minus under protocols[1], dB


def protocol_gaps(paths: Iterable[str | Path]) -> list[ProtocolGap]:
    """Every protocol gap the evaluation files ``paths`` allow: for each model, scale and set evaluated under two
    protocols (with the same weights), the difference of the set's mean PSNR."""
    by_config: dict[tuple[str, int, str | None, bool], dict[str, dict[str, Any]]] = {}
    for path in paths:
        res = read_results(path)
        if results_kind(res) != "eval":
            continue
        cfg = res["provenance"]["config"]
        key = (res["model"], int(res["scale"]), cfg.get("weights_sha256"), bool(cfg.get("self_ensemble")))
        by_config.setdefault(key, {})[cfg["protocol"]["name"]] = res["datasets"]
    gaps = []
    for (model, scale, _, _), runs in sorted(by_config.items(), key=lambda kv: kv[0][:2]):
        for first, second in itertools.combinations(sorted(runs), 2):
            for ds in runs[first].keys() & runs[second].keys():
                gaps.append(ProtocolGap(model, scale, ds, (first, second),
                                        runs[first][ds]["psnr"] - runs[second][ds]["psnr"]))
    return gaps


# ---------------------------------------------------------------------------------------------------------------
# re-running an evaluation file


def _data_key(path: str, datasets: Iterable[str]) -> str | None:
    """``Set5/HR/baby.png`` for ``/any/root/Set5/HR/baby.png``: a data file's path from its set's folder down."""
    names = {d.lower() for d in datasets}
    parts = PurePath(path).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() in names:
            return "/".join(parts[i:])
    return None


def _data_hashes_by_key(hashes: dict[str, str], datasets: Iterable[str]) -> dict[str, str]:
    datasets = list(datasets)
    return {key: digest for p, digest in hashes.items() if (key := _data_key(p, datasets)) is not None}


def resolve_recorded_weights(config: dict[str, Any], weights_dir: str | Path | None = None) -> Path | None:
    """The local weights file an evaluation config names, hash-checked against its ``weights_sha256``.

    Looked for as ``<folder>/<weights_key>`` in the folders :func:`sr_lib.hub.search_dirs` lists (``weights_dir``,
    ``$SR_WEIGHTS_DIR``, the cache), then at the recorded path itself. None when the evaluation used no weights.
    """
    from .hub import search_dirs

    recorded = config.get("weights")
    if recorded is None:
        return None
    key = config.get("weights_key") or weights_key(recorded)
    candidates = [folder / key for _, folder in search_dirs(weights_dir)] if key else []
    candidates.append(Path(recorded))
    found = [c for c in dict.fromkeys(candidates) if c.is_file()]
    if not found:
        raise ResultsError(f"weights {key or recorded} not found (searched {', '.join(map(str, candidates))}); "
                           f"set SR_WEIGHTS_DIR or pass --weights-dir")
    expected = config.get("weights_sha256")
    if expected is None:
        raise ResultsError(f"the results file records no sha256 for its weights {recorded}; cannot check them")
    for candidate in found:
        if sha256_file(candidate) == expected:
            return candidate
    raise ResultsError(f"weights {key or recorded}: no file with the recorded sha256 {expected[:16]}... "
                       f"(checked {', '.join(map(str, found))})")


def _run_device(recorded: str | None, device: str | None) -> str:
    if device is not None:
        return device
    return "cuda" if str(recorded).startswith("cuda") else "cpu"


#: How far a re-run on *another* CPU model may move a number: float32 convolutions round differently on other
#: hardware (measured: SRCNN x2 Set5 per image up to 8.8e-5 dB PSNR and 2.9e-6 SSIM, Intel -> AMD EPYC), ten times
#: less than the smallest protocol gap the results guard (1e-3 dB, tests/test_results_rerun.py). Same model: exact.
ACROSS_CPUS: dict[str, float] = {"psnr": 1e-3, "ssim": 1e-5}
EXACT: dict[str, float] = {"psnr": 0.0, "ssim": 0.0}


def _differs(a: float, b: float, tolerance: float) -> bool:
    return a != b if tolerance == 0 else abs(b - a) > tolerance


def compare_eval(recorded: dict[str, Any], fresh: dict[str, Any], datasets: Sequence[str],
                 tolerance: dict[str, float] = EXACT) -> list[str]:
    """Every difference between two evaluation results on ``datasets``: image lists, per-image PSNR/SSIM and set
    means (differences above ``tolerance``, per metric; exact by default), and the sha256 of the data files read."""
    diffs = []
    for ds in datasets:
        old, new = recorded["datasets"][ds], fresh["datasets"][ds]
        if old["per_image"].keys() != new["per_image"].keys():
            missing = sorted(old["per_image"].keys() - new["per_image"].keys())
            extra = sorted(new["per_image"].keys() - old["per_image"].keys())
            diffs.append(f"{ds}: images differ (recorded only: {missing or 'none'}; now only: {extra or 'none'})")
        for name in sorted(old["per_image"].keys() & new["per_image"].keys()):
            for metric in ("psnr", "ssim"):
                a, b = old["per_image"][name][metric], new["per_image"][name][metric]
                if _differs(a, b, tolerance[metric]):
                    diffs.append(f"{ds}/{name} {metric}: recorded {a!r}, now {b!r} ({b - a:+.3g})")
        for field in ("images", "psnr", "ssim"):
            if _differs(old[field], new[field], tolerance.get(field, 0.0)):
                diffs.append(f"{ds} mean {field}: recorded {old[field]!r}, now {new[field]!r}")
    old_hashes = _data_hashes_by_key(recorded["provenance"].get("data_sha256", {}), datasets)
    new_hashes = _data_hashes_by_key(fresh["provenance"].get("data_sha256", {}), datasets)
    for key in sorted(old_hashes.keys() | new_hashes.keys()):
        a, b = old_hashes.get(key), new_hashes.get(key)
        if a != b:
            diffs.append(f"data file {key}: sha256 recorded {str(a)[:16]}..., now {str(b)[:16]}...")
    return diffs


def rerun_eval(path: str | Path, *, datasets: Iterable[str] | None = None, data_dir: str | Path | None = None,
               weights_dir: str | Path | None = None, device: str | None = None,
               progress: Callable[[str], None] | None = None) -> list[str]:
    """Evaluate again what the evaluation file ``path`` records and return the differences (empty: identical).

    The configuration is ``provenance.config`` (model, scale, protocol, self-ensemble, tiling, weights); the
    weights are found by :func:`resolve_recorded_weights`, the data sets by the usual order (``data_dir``,
    ``$SR_DATA_DIR``, the cache). ``datasets`` restricts the re-run to some of the file's sets. ``device`` defaults
    to the kind of device the file was made on (``cpu`` or ``cuda``). PSNR and SSIM are compared with ``==`` when
    the file records this machine's CPU model (``provenance.cpu``), else within :data:`ACROSS_CPUS`.
    """
    from .evaluate import evaluate_model, get_protocol
    from .provenance import cpu_model

    path = Path(path)
    recorded = read_results(path)
    kind = results_kind(recorded)
    if kind != "eval":
        raise ResultsError(f"{path}: a {kind} results file, not an evaluation; only evaluations are re-run")
    prov = recorded["provenance"]
    config = prov["config"]
    names = list(recorded["datasets"])
    if datasets is not None:
        wanted = list(datasets)
        unknown = [d for d in wanted if d not in recorded["datasets"]]
        if unknown:
            raise ResultsError(f"{path}: no {', '.join(unknown)} in this file (it has {', '.join(names)})")
        names = wanted
    if not names:
        raise ResultsError(f"{path}: no data set to re-run")
    protocol = get_protocol(config["protocol"]["name"])
    diffs = [f"protocol {protocol.name}: recorded {field} {config['protocol'][field]!r}, "
             f"now {getattr(protocol, field)!r}"
             for field in ("lr_precision", "y_precision", "quantize_sr")
             if config["protocol"][field] != getattr(protocol, field)]
    weights = resolve_recorded_weights(config, weights_dir)
    fresh = evaluate_model(config["model"], int(config["scale"]), names, weights, data_dir, protocol.name,
                           _run_device(prov.get("device"), device), progress=progress,
                           self_ensemble=bool(config.get("self_ensemble", False)), tile=config.get("tile"),
                           tile_overlap=config.get("tile_overlap") or 16)
    same_cpu = prov.get("cpu") == cpu_model() and str(prov.get("device", "")).startswith("cpu")
    return diffs + compare_eval(recorded, fresh, names, EXACT if same_cpu else ACROSS_CPUS)


# ---------------------------------------------------------------------------------------------------------------
# command line


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``verify`` (for ``python -m sr_lib.results verify`` and an ``sr-lib`` subcommand)."""
    parser.add_argument("files", nargs="+", type=Path, help="results files; training and benchmark files are skipped")
    parser.add_argument("--dataset", action="append", help="repeatable: re-run only these sets of each file")
    parser.add_argument("--data-dir", type=Path, help="searched before $SR_DATA_DIR and the cache")
    parser.add_argument("--weights-dir", type=Path, help="searched before $SR_WEIGHTS_DIR and the cache")
    parser.add_argument("--device", help="default: the kind of device each file was made on")


def cmd_verify(args: argparse.Namespace) -> int:
    """Re-run every evaluation file in ``args.files``; print each difference. 0 = all identical, 1 = a difference,
    2 = a file could not be re-run (the others still are)."""
    identical, differing, failed, skipped = 0, 0, 0, 0
    for path in args.files:
        try:
            kind = results_kind(read_results(path))
            if kind in ("train", "bench"):
                print(f"{path}: skipped ({kind} file, not re-run)")
                skipped += 1
                continue
            start = time.perf_counter()
            diffs = rerun_eval(path, datasets=args.dataset, data_dir=args.data_dir, weights_dir=args.weights_dir,
                               device=args.device)
        except SRLibError as exc:
            print(f"{path}: error: {str(exc).removeprefix(f'{path}: ')}")
            failed += 1
            continue
        if diffs:
            differing += 1
            print(f"{path}: {len(diffs)} difference(s)")
            for line in diffs:
                print(f"  {line}")
        else:
            identical += 1
            print(f"{path}: identical ({time.perf_counter() - start:.1f} s)")
    print(f"{identical} identical, {differing} different, {failed} not re-run (error), {skipped} skipped")
    return 2 if failed else 1 if differing else 0


def clean_commit() -> str:
    """The current commit, or one :class:`ResultsError` line when the code that produces numbers is modified."""
    commit = git_commit()
    if commit.startswith("unknown"):
        raise ResultsError(f"cannot tell which code runs: git commit {commit}")
    if commit.endswith("-dirty"):
        raise ResultsError(f"the code is modified (git status -- {' '.join(CODE_PATHS)}); commit it first, so that "
                           f"every results file records one clean commit")
    return commit


def check_commit(paths: Iterable[str | Path]) -> list[str]:
    """Files in ``paths`` whose provenance does not record the current clean commit, each with what it records."""
    commit = clean_commit()
    wrong = []
    for path in paths:
        recorded = read_results(path).get("provenance", {}).get("git_commit")
        if recorded != commit:
            wrong.append(f"{path}: records commit {recorded}, not {commit}")
    return wrong


def main(argv: Sequence[str] | None = None) -> int:
    from .cli import _Parser

    parser = _Parser(prog="python -m sr_lib.results", description="Re-check the committed results files.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_verify_arguments(sub.add_parser("verify", help="re-run evaluation files and print every difference"))
    sub.add_parser("clean-commit", help="print the HEAD commit; fail when the code is modified")
    check = sub.add_parser("check-commit", help="every file records the current clean commit")
    check.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            return cmd_verify(args)
        if args.command == "clean-commit":
            print(clean_commit())
            return 0
        wrong = check_commit(args.files)
        for line in wrong:
            print(line)
        print(f"{len(args.files) - len(wrong)} of {len(args.files)} files record the current commit")
        return 1 if wrong else 0
    except SRLibError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
