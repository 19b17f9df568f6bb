"""Provenance of a measured number: which code, data, device and time produced it."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

import torch

from . import __version__
from .imageio import sha256_file


#: What produces a number: the package, the chapters, the benchmarks, the tests and the build files. Changes to
#: anything else (``results/`` above all, which ``make results`` writes while it runs) do not make a commit dirty.
CODE_PATHS: tuple[str, ...] = ("sr_lib", "book", "benchmarks", "tests", "pyproject.toml", "Makefile", "_config.yml",
                               "_toc.yml", ".ci")


def git_commit(path: str | Path | None = None) -> str:
    """The full ``HEAD`` commit of the checkout containing ``path`` (this package by default), plus ``-dirty`` when
    the code that produces numbers differs from it.

    Dirty means: a tracked file under :data:`CODE_PATHS` is modified, staged, deleted or renamed, or an untracked
    file that git does not ignore lies there. Results files, notes and ignored build output never count, so a run
    that writes ``results/*.json`` at a clean commit records the same clean commit in every file.
    """
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10)
        if top.returncode != 0:
            return "unknown (not a git checkout)"
        root, head = top.stdout.splitlines()
        changes = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *CODE_PATHS],
                                 cwd=root, capture_output=True, text=True, timeout=10)
        if changes.returncode != 0:
            return "unknown (git status failed)"
        return head + ("-dirty" if changes.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git unavailable)"


def weights_key(path: str | Path) -> str | None:
    """Where a weights file lies below its weights folder (``srcnn/9-5-5_ImageNet/x2.mat``), so that a re-run finds
    it under another ``$SR_WEIGHTS_DIR``; None for a file outside every folder.

    The folders are those :func:`sr_lib.hub.search_dirs` searches; failing those, the path of a registered
    :mod:`sr_lib.hub` file that ``path`` ends with (an absolute path recorded on another machine).
    """
    from .hub import list_weights, search_dirs

    path = Path(path)
    for candidate in dict.fromkeys((Path(os.path.abspath(path)), path.resolve())):
        for _, folder in search_dirs():
            for base in dict.fromkeys((Path(os.path.abspath(folder)), folder.resolve())):
                if candidate.is_relative_to(base):
                    return candidate.relative_to(base).as_posix()
    posix = path.as_posix()
    registered = sorted({e.path for e in list_weights()}, key=len, reverse=True)
    return next((p for p in registered if posix == p or posix.endswith("/" + p)), None)


def device_description(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere): float32 kernels of another CPU
    model may round differently, so :func:`sr_lib.results.rerun_eval` compares exactly only on the same model."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device | str) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "git_commit": git_commit(),
        "sr_lib_version": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "device": device_description(device),
        "timestamp_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def file_hashes(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """sha256 of each file, keyed by its path relative to ``root`` when possible."""
    out = {}
    for p in paths:
        key = str(p.relative_to(root)) if root and p.is_relative_to(root) else str(p)
        out[key] = sha256_file(p)
    return out
