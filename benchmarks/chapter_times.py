"""How long each chapter takes to run, end to end, in quick mode: the numbers of the instructor page.

Every chapter of ``_toc.yml`` (``book/NN_*.ipynb``; ``--chapters`` picks some) is executed as the book build executes
it — a fresh kernel, the notebook's folder as working directory, ``$SR_BOOK_MODE`` (default quick) — one after
another, on whatever device the chapters pick (:func:`sr_lib.evaluate.pick_device`: CUDA when present). Per chapter
the file records the wall time of the whole run, the summed time of its cells and its slowest cells (their first line
that is not an import or a comment, and seconds: where the live training runs are). The executed copies are thrown away. Results and provenance go
atomically to ``--json``:

    make chapter-times            # results/chapter_times_cpu.json, or _cuda.json on a GPU machine
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from sr_lib.classroom import toc_notebooks
from sr_lib.errors import SRLibError
from sr_lib.evaluate import pick_device
from sr_lib.results import write_results

ROOT = Path(__file__).resolve().parents[1]


def _cell_seconds(cell: dict[str, Any]) -> float | None:
    """Seconds from a code cell's execution start to its reply, from the timing nbclient records."""
    timing = cell.get("metadata", {}).get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def time_chapter(path: Path, timeout: int, slowest: int) -> dict[str, Any]:
    """Execute ``path`` once in a fresh kernel; its wall time, summed cell time and ``slowest`` cells."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    run = copy.deepcopy(notebook)
    start = time.perf_counter()
    NotebookClient(run, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - start
    cells = [(c, _cell_seconds(c)) for c in run.cells if c.cell_type == "code"]
    timed = sorted(((s, c) for c, s in cells if s is not None), key=lambda t: -t[0])
    return {"seconds": round(wall, 1), "cells_seconds": round(sum(s for s, _ in timed), 1),
            "code_cells": len(cells),
            "slowest_cells": [{"seconds": round(s, 1), "first_line": _what(c.source)} for s, c in timed[:slowest]]}


def _what(source: str) -> str:
    """The first line of a cell that is not blank, a comment or an import: what the cell does."""
    lines = [ln.strip() for ln in source.splitlines()]
    useful = [ln for ln in lines if ln and not ln.startswith(("#", "import ", "from "))]
    return (useful or lines or [""])[0][:100]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", nargs="*", help="notebook stems (default: every numbered chapter of _toc.yml)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds one cell may run (default 3600)")
    ap.add_argument("--slowest", type=int, default=3, help="slowest cells kept per chapter (default 3)")
    ap.add_argument("--json", required=True, help="results file to write")
    args = ap.parse_args(argv)
    try:
        notebooks = [p for p in toc_notebooks(ROOT) if p.stem[:2].isdigit()]
        if args.chapters:
            unknown = sorted(set(args.chapters) - {p.stem for p in notebooks})
            if unknown:
                raise SRLibError(f"not a chapter of _toc.yml: {', '.join(unknown)}")
            notebooks = [p for p in notebooks if p.stem in args.chapters]
        device = pick_device("auto")
        mode = os.environ.get("SR_BOOK_MODE") or "quick"
        chapters = {}
        for path in notebooks:
            print(f"{path.stem} ...", end=" ", flush=True)
            chapters[path.stem] = time_chapter(path, args.timeout, args.slowest)
            print(f"{chapters[path.stem]['seconds']:.0f} s", flush=True)
        write_results(args.json, {"kind": "chapter_times", "mode": mode, "device": str(device),
                                  "torch_threads": torch.get_num_threads(),
                                  "data_dir_set": bool(os.environ.get("SR_DATA_DIR")), "chapters": chapters},
                      device=device)
    except SRLibError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a chapter failed to execute: one line, no partial file
        print(f"error: {type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}",
              file=sys.stderr)
        return 1
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
