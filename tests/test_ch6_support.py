"""Chapter 6 (CSNLN): the key-idea figure, and the two scripts whose results files the chapter reads
(``benchmarks/csnln_cost.py``, ``benchmarks/csnln_recurrence.py``)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sr_lib.errors import ConfigError

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ch6_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _boxes(fig) -> dict[str, tuple[float, float, float]]:
    """gid -> (row, column, side) of every rectangle the figure drew (pixel centres: +0.5 undoes the offset)."""
    return {p.get_gid(): (p.get_y() + 0.5, p.get_x() + 0.5, p.get_width()) for ax in fig.axes for p in ax.patches
            if p.get_gid()}


def _planted(seed: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """A flat 96x96 image with a 10x10 texture at (40, 40) and, at (10, 70), that texture down-scaled by 2 exactly as
    the network's bilinear interpolation does it: the query's perfect cross-scale match is the texture's patch."""
    rng = np.random.default_rng(seed)
    image = np.full((96, 96), 128.0)
    texture = rng.uniform(0, 255, (10, 10))
    image[40:50, 40:50] = texture
    small = F.interpolate(torch.from_numpy(texture)[None, None], scale_factor=0.5, mode="bilinear")[0, 0].numpy()
    image[10:15, 70:75] = small
    return image, (10, 70)


def test_cross_scale_figure_finds_the_planted_parent() -> None:
    from sr_lib.figures import draw_cross_scale_attention

    image, query = _planted()
    boxes = _boxes(draw_cross_scale_attention(image, query, scale=2, patch=5, top_k=2))
    assert boxes["query"] == (10, 70, 5)
    assert boxes["match-0"] == (20, 20, 5)  # the texture's downscale sits at (20, 20) of Y = X / 2
    assert boxes["parent-0"] == (40, 40, 10)  # ... and was made from the 10x10 texture: its parent in X
    assert {"match-1", "parent-1"} <= set(boxes)


def test_cross_scale_figure_default_query_is_the_most_textured_patch_and_hr_must_match() -> None:
    from sr_lib.figures import draw_cross_scale_attention

    image = np.full((64, 64), 100.0)
    image[30:33, 12:15] = [[0, 255, 0], [255, 0, 255], [0, 255, 0]]
    boxes = _boxes(draw_cross_scale_attention(image, patch=3, top_k=1))
    assert boxes["query"] == (30, 12, 3)
    fig = draw_cross_scale_attention(image, (30, 12), patch=3, hr=np.zeros((128, 128)), title="custom")
    assert fig._suptitle.get_text() == "custom"
    assert len(fig.axes) == 3 + 6  # X, Y, parents; then the tiles: query, 3 parents, paste, HR truth
    with pytest.raises(ConfigError, match="not 2x"):
        draw_cross_scale_attention(image, (30, 12), patch=3, hr=np.zeros((64, 64)))


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": 1}, "scale >= 2"), ({"patch": 4}, "odd patch"), ({"top_k": 0}, "top_k"),
    ({"query": (60, 0)}, "outside"), ({"query": (0, -1)}, "outside")])
def test_cross_scale_figure_refuses_bad_arguments(kwargs, message) -> None:
    from sr_lib.figures import draw_cross_scale_attention

    args = {"query": (0, 0), **kwargs}
    with pytest.raises(ConfigError, match=message):
        draw_cross_scale_attention(np.zeros((64, 64)), **args)
    with pytest.raises(ConfigError, match="image"):
        draw_cross_scale_attention(np.zeros((8, 8, 2)), (0, 0))


def test_cost_script_chop_tiles_are_the_calls_of_the_official_chop() -> None:
    from sr_lib.complexity import count_macs_via
    from sr_lib.models import create_model

    cost = _script("csnln_cost")
    tiles = cost.chop_tile_sizes((96, 96))
    assert len(tiles) == 16 and all(h * w < 3600 for h, w in tiles)  # split twice: every tile below min_size
    assert cost.chop_tile_sizes((24, 24)) == [(24, 24)] * 4  # the chop always splits, even when it gains nothing
    with torch.device("meta"):
        net = create_model("csnln", 2, options=cost.model_options()["quick"])
    assert count_macs_via(net, (1, 3, 96, 96), cost._protocol("chop"))[1] == len(tiles)
    assert cost.attention_matrix_bytes((96, 96)) == 4 * (96 * 96) ** 2
    assert "GMACs" in cost.skip_reason("paper", (64, 64), "whole", max_gmacs=70, max_attention_mib=1e9)
    assert "attention matrix" in cost.skip_reason("quick", (192, 192), "whole", max_gmacs=1e9, max_attention_mib=1100)
    assert cost.skip_reason("quick", (24, 24), "chop", max_gmacs=70, max_attention_mib=1100) is None


def test_cost_script_writes_rows_with_provenance(tmp_path: Path) -> None:
    from sr_lib.complexity import count_macs
    from sr_lib.models import create_model

    cost = _script("csnln_cost")
    out = tmp_path / "cost.json"
    assert cost.main(["--models", "quick", "--sizes", "16", "24", "--repeat", "1", "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["benchmark"] == "csnln_cost" and "git_commit" in written["provenance"]
    rows = {(r["protocol"], r["lr_size"][0]): r for r in written["results"]}
    assert "larger LR input" in rows["chop", 16]["skipped"]  # the chop refuses inputs smaller than its quadrants
    whole = rows["whole", 24]
    net = create_model("csnln", 2, options=cost.model_options()["quick"])
    assert whole["gmacs"] == count_macs(net, (1, 3, 24, 24)) / 1e9 and whole["network_calls"] == 1
    assert rows["chop", 24]["network_calls"] == 4 and whole["peak_rss_increase_mib"] >= 0
    assert len(whole["times_s"]) == 1 and "error" not in whole
    with pytest.raises(SystemExit):
        cost.main(["--sizes", "25"])


def test_recurrence_script_matches_the_library_on_each_lr_image(data_dir: Path, tmp_path: Path) -> None:
    from sr_lib.color import luma
    from sr_lib.data import load_benchmark
    from sr_lib.selfsim import cross_scale_recurrence

    rec = _script("csnln_recurrence")
    out = tmp_path / "rec.json"
    assert rec.main(["--sets", "Set5", "NoSuchSet", "--data-dir", str(data_dir), "--json", str(out)]) == 2
    assert not out.exists()  # an unknown set is one error line, and no partial file
    assert rec.main(["--sets", "Set5", "--data-dir", str(data_dir), "--json", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["config"]["scale"] == 2 and written["missing"] == []
    first = load_benchmark("Set5", 2, data_dir)[0]
    row = written["sets"]["Set5"]["rows"][0]
    assert row["image"] == first.name and row["height"] == first.lr.shape[0]  # the LR image, not the HR
    assert row == {"image": first.name, **cross_scale_recurrence(luma(first.lr), **written["config"])}
    assert written["sets"]["Set5"]["summary"]["images"] == 5 and len(written["provenance"]["data_sha256"]) == 10
