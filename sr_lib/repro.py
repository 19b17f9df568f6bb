"""Reproduction runs through papermill: the parametrised notebook ``book/reproduce.ipynb``.

``run_reproduction`` executes it with the given parameters, keeps the executed copy and the results JSON it writes
(model, config, commit, data hashes, device, wall time) side by side in ``output_dir``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ConfigError
from .imageio import atomic_path
from .models import get_model_entry

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "reproduce.ipynb"

#: The protocol under which each model's published numbers were computed (see sr_lib.evaluate); others: standard.
REFERENCE_PROTOCOL: dict[str, str] = {
    "bicubic": "matlab-y",  # the bicubic rows come from the SRCNN-era MATLAB scripts
    "srcnn": "matlab-y",
    "srcnn-935": "matlab-y",
    "srcnn-915": "matlab-y",
    "vdsr": "matlab-y",  # the authors' MATLAB test code
    "vdsr-nobias": "float",  # twtygqyy/pytorch-vdsr eval.py
}


#: Registry name -> model name in resources/paper_results.csv.
_PAPER_NAMES = {"bicubic": "Bicubic", "srcnn": "SRCNN", "vdsr": "VDSR", "vdsr-nobias": "VDSR", "edsr": "EDSR",
                "edsr-baseline": "EDSR-baseline", "mdsr": "MDSR", "mdsr-baseline": "MDSR-baseline", "rcan": "RCAN",
                "san": "SAN", "csnln": "CSNLN", "msrn": "MSRN", "msrn-y": "MSRN", "srresnet": "SRResNet"}


def paper_name(model: str) -> str:
    """The name under which the papers' table lists ``model`` (e.g. "srcnn" -> "SRCNN")."""
    return _PAPER_NAMES.get(model, model.upper())


def reference_protocol(model: str) -> str:
    return REFERENCE_PROTOCOL.get(model, "standard")


def run_reproduction(
    model: str,
    scale: int,
    preset: str,
    output_dir: str | Path,
    weights: str | Path | None = None,
    data_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Path]:
    """Execute the reproduction notebook; returns the paths of the executed notebook and the results JSON."""
    import papermill as pm

    get_model_entry(model).check_scale(scale)
    if preset not in ("quick", "paper"):
        raise ConfigError(f"unknown preset '{preset}' (quick or paper)")
    if not NOTEBOOK.is_file():
        raise ConfigError(f"reproduction notebook not found at {NOTEBOOK} (it ships with the repository)")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{model}_x{scale}_{preset}"
    executed, results = out / f"{stem}.ipynb", out / f"{stem}.json"
    params = {"model": model, "scale": scale, "preset": preset, "device": device,
              "data_dir": str(data_dir) if data_dir else None, "weights": str(weights) if weights else None,
              "weights_dir": str(weights_dir) if weights_dir else None, "output_path": str(results.resolve())}
    try:  # the executed notebook appears only once the whole run succeeded (the notebook writes the JSON atomically)
        with atomic_path(executed, suffix=".partial.ipynb") as tmp:
            pm.execute_notebook(str(NOTEBOOK), str(tmp), parameters=params, cwd=str(NOTEBOOK.parent),
                                progress_bar=False, kernel_name="python3")
    except pm.PapermillExecutionError as exc:
        raise ConfigError(f"reproduction failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}".splitlines()[0]) from None
    return {"notebook": executed, "results": results}
