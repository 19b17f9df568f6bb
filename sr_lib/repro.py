"""Reproduction runs through papermill: the parametrised notebook ``book/reproduce.ipynb``.

``run_reproduction`` executes it for any family with a training recipe: it trains with the engine
(:mod:`sr_lib.train`), evaluates, and keeps the executed copy beside the run folder (``result.json``, ``last.pt``,
``log.csv``) in ``output_dir``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from .errors import ConfigError
from .imageio import atomic_path

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "reproduce.ipynb"


def paper_name(model: str) -> str:
    """The name under which the papers' table (``resources/paper_results.csv``) lists ``model`` (e.g. "srcnn" ->
    "SRCNN"), from its registry entry; a preset the table does not list gives its name upper-cased (no row)."""
    from .models import get_model_entry

    entry = get_model_entry(model)
    return entry.paper_name if entry.paper_name is not None else entry.name.upper()


def reference_protocol(model: str) -> str:
    """The evaluation protocol of ``model``'s published numbers (its registry entry's ``reference_protocol``)."""
    from .models import get_model_entry

    return get_model_entry(model).reference_protocol


def run_reproduction(
    model: str,
    scale: int,
    preset: str,
    output_dir: str | Path,
    iters: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
    weights_dir: str | Path | None = None,
    device: str = "auto",
) -> dict[str, Path]:
    """Execute the reproduction notebook for any family with a training recipe.

    The notebook trains ``model`` with the ``preset`` recipe through :func:`sr_lib.train.train` (``iters``
    shortens it, e.g. for a smoke run), evaluates the result under the paper's protocol and the standard one, and
    compares with the official weights when they are available. Returns the executed notebook and the run's
    ``result.json``; the notebook appears only once the whole run succeeded.
    """
    import papermill as pm

    from .train import get_recipe

    recipe = get_recipe(model, preset, scale, **({"iters": iters} if iters else {}), seed=seed)
    if not NOTEBOOK.is_file():
        raise ConfigError(f"reproduction notebook not found at {NOTEBOOK} (it ships with the repository)")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{model}_x{scale}_{preset}_s{seed}"
    executed, run_dir = out / f"{stem}.ipynb", out / stem
    params = {"model": model, "scale": scale, "preset": preset, "iters": recipe.iters, "seed": seed,
              "device": device, "data_dir": str(data_dir) if data_dir else None,
              "weights_dir": str(weights_dir) if weights_dir else None, "run_dir": str(run_dir.resolve())}
    try:
        with atomic_path(executed, suffix=".partial.ipynb") as tmp:
            pm.execute_notebook(str(NOTEBOOK), str(tmp), parameters=params, cwd=str(NOTEBOOK.parent),
                                progress_bar=False, kernel_name="python3")
    except pm.PapermillExecutionError as exc:
        raise ConfigError(f"reproduction failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}".splitlines()[0]) from None
    return {"notebook": executed, "results": run_dir / "result.json"}


def evaluate_run(run_dir: str | Path, model: nn.Module, datasets: Sequence[str], data_dir: str | Path | None = None,
                 device: str = "auto", weights_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a trained run under the paper's protocol and the standard one; add it to its ``result.json``.

    When the published weights of the model are available here (:func:`sr_lib.hub.resolve_weights`, no download),
    they are evaluated too (``"official"``). Returns the updated results (``"evaluation"``: protocol -> data set ->
    psnr, ssim, images).
    """
    from .errors import SRLibError
    from .evaluate import evaluate_model
    from .hub import resolve_weights
    from .results import read_results, write_results

    path = Path(run_dir) / "result.json"
    result = read_results(path)
    name, scale = result["model"], int(result["scale"])
    evaluation: dict[str, Any] = {}
    for protocol in dict.fromkeys([reference_protocol(name), "standard"]):
        res = evaluate_model(name, scale, list(datasets), None, data_dir, protocol, device, model=model)
        evaluation[protocol] = {ds: {k: r[k] for k in ("psnr", "ssim", "images")} for ds, r in res["datasets"].items()}
        result["provenance"]["data_sha256"].update(res["provenance"]["data_sha256"])
    result["evaluation"] = evaluation
    try:
        weights = resolve_weights(name, scale, weights_dir)
    except SRLibError:
        weights = None
    if weights is not None:
        res = evaluate_model(name, scale, list(datasets), weights, data_dir, reference_protocol(name), device)
        result["official"] = {"weights": Path(weights).name, "sha256": res["provenance"]["config"]["weights_sha256"],
                              "psnr": {ds: r["psnr"] for ds, r in res["datasets"].items()}}
    return write_results(path, result, device=device)


def prepare(model: str, scale: int, preset: str, iters: int | None = None, seed: int = 0,
            data_dir: str | Path | None = None) -> tuple[Any, list[str], str | None]:
    """The recipe, the evaluation sets and a notice for the reader (None when the real data are present).

    Without the training sets (T91 + BSD200) the run trains on the embedded Demo photos, and without Set5 it is
    evaluated on them: a demonstration of the pipeline, not comparable with the paper.
    """
    from .data import is_present
    from .train import get_recipe

    def present(name: str) -> bool:
        return is_present(name, data_dir)

    recipe = get_recipe(model, preset, scale, **({"iters": iters} if iters else {}), seed=seed)
    if recipe.val_every * 4 > recipe.iters:  # a shortened run still draws a curve: validate about four times
        recipe = replace(recipe, val_every=max(1, recipe.iters // 4))
    notice = None
    if not all(present(s) for s in recipe.train_sets):
        recipe = replace(recipe, train_sets=("Demo",))
        notice = f"training sets {', '.join(recipe.train_sets)} not found: trained on the embedded Demo photos"
    wanted = ["Set5"] if preset == "quick" else ["Set5", "Set14", "B100", "Urban100"]  # Urban100 when fetched
    datasets = [d for d in wanted if present(d)]
    if not datasets:
        datasets = ["Demo"]
        notice = (notice + "; " if notice else "") + "no benchmark set found: evaluated on the Demo photos"
    if datasets[0] != recipe.val_set:
        recipe = replace(recipe, val_set=datasets[0])
    return recipe.check(), datasets, notice


def comparison_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Ours (each protocol) next to the paper's PSNR for every evaluated set (``paper_results.csv``)."""
    from .papers import paper_psnr

    name, scale = result["model"], int(result["scale"])
    ref = reference_protocol(name)
    rows = []
    for ds, scores in result["evaluation"][ref].items():
        paper = paper_psnr(paper_name(name), scale, ds) if ds != "Demo" else None
        row: dict[str, Any] = {"data set": ds, "images": scores["images"]}
        for protocol, sets in result["evaluation"].items():
            row[f"PSNR ({protocol})"] = round(sets[ds]["psnr"], 2)
            row[f"SSIM ({protocol})"] = round(sets[ds]["ssim"], 4)
        if "official" in result:
            row["official weights"] = round(result["official"]["psnr"][ds], 2)
        row["paper PSNR"] = paper
        row["ours - paper"] = None if paper is None else round(scores["psnr"] - paper, 2)
        rows.append(row)
    return rows
