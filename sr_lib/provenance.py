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


def git_commit(path: str | Path | None = None) -> str:
    """``git rev-parse HEAD`` of the checkout containing ``path`` (this package by default), plus '-dirty'."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git unavailable)"


def device_description(device: torch.device | str) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} threads"


def environment(device: torch.device | str) -> dict[str, Any]:
    return {
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
