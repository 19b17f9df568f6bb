"""Each chapter's install cell, run as Colab runs it: a fresh virtualenv that already has torch, offline.

The venv gets the torch of this environment (same version) and nothing else; then every ``_toc.yml`` notebook's
first cell (:func:`sr_lib.book.colab_install_cell`) is executed in it with ``SR_LIB_SOURCE`` pointing at this checkout
(instead of the public repository), pip restricted to a local wheelhouse (``$SR_WHEELHOUSE``: ``.ci/run`` fills it
with wheels of every package of the CI environment) and every HTTP(S) request sent to a closed port. The first cell
installs ``sr_lib[book]``; each cell fetches its page's pinned data sets into an empty cache that holds only links to
the reference files (``$SR_DATA_DIR``), so the fetch checks every sha256 and downloads nothing. Then:

* torch is still the version the venv started with, from the same place (the install kept "Colab's" torch);
* every module the chapter imports (its code cells' ``import`` statements) imports in the venv;
* every data set the page's ``book.setup`` names is found by ``sr_lib.data`` in that cache, except pinned sets the
  reference data lacks (Urban100: only its manifest is there): their download is refused offline, and the cell must
  say so in one line and go on.

Without ``$SR_WHEELHOUSE`` or ``$SR_DATA_DIR`` the test skips; ``SR_REQUIRE_COLAB_TEST=1`` (``.ci/run``) makes that a
failure.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import torch

from sr_lib import book

ROOT = Path(__file__).resolve().parent.parent
REQUIRE = os.environ.get("SR_REQUIRE_COLAB_TEST", "") not in ("", "0")
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, every request fails at once


def _toc_notebooks() -> list[Path]:
    from sr_lib.classroom import toc_notebooks

    return toc_notebooks(ROOT)


def chapter_imports(notebook: dict) -> list[str]:
    """Every ``import`` / ``from ... import`` statement of the notebook's code cells (after its install cell), once."""
    found: list[str] = []
    for cell in notebook["cells"][1:]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:  # IPython magics: no chapter has any, but they would not be Python
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not (isinstance(node, ast.ImportFrom) and node.level):
                statement = ast.unparse(node)
                if statement not in found:
                    found.append(statement)
    return found


def test_chapter_imports_reads_statements() -> None:
    nb = {"cells": [{"cell_type": "code", "source": "install cell"},
                    {"cell_type": "code", "source": "import os\nfrom sr_lib import book\nx = 1"},
                    {"cell_type": "markdown", "source": "import nothing"},
                    {"cell_type": "code", "source": "def f():\n    import math\nfrom sr_lib import book"}]}
    assert chapter_imports(nb) == ["import os", "from sr_lib import book", "import math"]


def _run(cmd: list[str], env: dict[str, str], cwd: Path, what: str, timeout: int = 900) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_install_cells_in_a_fresh_venv_offline(tmp_path: Path) -> None:
    wheelhouse, data_dir = os.environ.get("SR_WHEELHOUSE"), os.environ.get("SR_DATA_DIR")
    if not (wheelhouse and Path(wheelhouse).is_dir() and data_dir and Path(data_dir).is_dir()):
        reason = "needs $SR_WHEELHOUSE (wheels of the environment, .ci/run makes it) and $SR_DATA_DIR"
        if REQUIRE:
            pytest.fail(f"{reason} (SR_REQUIRE_COLAB_TEST=1)")
        pytest.skip(reason)
    notebooks = _toc_notebooks()
    assert notebooks

    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    cache = tmp_path / "cache"
    (cache / "datasets").mkdir(parents=True)
    for folder in Path(data_dir).iterdir():  # the reference files, linked, never copied
        if folder.is_dir():
            (cache / "datasets" / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SR_", "PIP_", "PYTHON"))}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=wheelhouse, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_CONSTRAINT="", PIP_CONFIG_FILE=os.devnull, HTTP_PROXY=DEAD_PROXY, HTTPS_PROXY=DEAD_PROXY,
               http_proxy=DEAD_PROXY, https_proxy=DEAD_PROXY, NO_PROXY="", no_proxy="",
               SR_CACHE_DIR=str(cache), SR_LIB_SOURCE=ROOT.as_uri(), MPLBACKEND="Agg")

    torch_version = torch.__version__
    _run([python, "-m", "pip", "install", "-q", f"torch=={torch_version}"], env, tmp_path, "torch into the venv")
    where_torch = [python, "-c", "import torch; print(torch.__version__, torch.__file__)"]
    before = _run(where_torch, env, tmp_path, "import torch")
    assert before.split()[0] == torch_version
    _run([python, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('sr_lib') is not None)"],
         env, tmp_path, "sr_lib must not be in the fresh venv yet")

    for path in notebooks:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cell = "".join(notebook["cells"][0]["source"])
        script = tmp_path / f"{path.stem}_install.py"
        script.write_text(cell, encoding="utf-8")
        done = subprocess.run([python, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0 and "Traceback" not in done.stderr, f"{path.name}: install cell:\n{done.stderr}"
        sets = [s for s in book.setup_sets(notebook) if s != "Demo"]
        offline = [s for s in sets if not (Path(data_dir) / s / "HR").is_dir()]  # e.g. Urban100: pinned, not here
        for name in offline:  # its download was tried (and refused): one line, and the page goes on
            assert f"sr-lib: error: {name}: " in done.stderr, done.stderr
        imports = chapter_imports(notebook)
        check = "\n".join([*imports, "from sr_lib import data",
                           f"missing = [s for s in {[s for s in sets if s not in offline]!r} if not data.is_present(s)]",
                           "assert not missing, f'data sets not found after the install cell: {missing}'"])
        _run([python, "-c", check], env, path.parent, f"{path.name}: its imports and data sets in the fresh venv")

    assert _run(where_torch, env, tmp_path, "import torch") == before, "the install cells replaced torch"
    shown = _run([python, "-c", "import sr_lib, jupyter_book; print(sr_lib.__file__)"], env, tmp_path, "sr_lib")
    assert "venv" in shown, f"sr_lib was not installed into the venv: {shown}"
