"""Patch recurrence across scales (sr_lib.selfsim): scale-invariant structure recurs, white noise does not; the
blocked matrix search equals a brute-force search; bad input is one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr_lib import selfsim
from sr_lib.degrade import imresize
from sr_lib.errors import ConfigError, DataError
from sr_lib.imageio import write_image


def _edge_disc(size: int = 96, halvings: int = 3) -> np.ndarray:
    """A disc whose edge profile is (nearly) the fixed point of the x2 bicubic downscale: a sharp disc halved
    ``halvings`` times, so halving it once more changes its size but not what its edges look like."""
    big = size * 2**halvings
    y, x = np.mgrid[0:big, 0:big]
    image = np.where(np.hypot(y - big / 2, x - big / 2) < 0.35 * big, 200.0, 50.0)
    for _ in range(halvings):
        image = imresize(image, 0.5)
    return image


def _noise(size: int = 96) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (size, size))


def test_scale_invariant_edges_recur_across_scales() -> None:
    r = selfsim.cross_scale_recurrence(_edge_disc(), n_queries=600)
    assert r["queries"] == 600 and r["cross_scale_median"] < 0.05 and r["cross_scale_good"] > 0.85
    # along a curved edge only the downscale has the same edge at every sub-pixel offset: cross-scale wins
    assert r["cross_beats_in_scale"] > 0.75


def test_white_noise_does_not_recur() -> None:
    r = selfsim.cross_scale_recurrence(_noise(), n_queries=600)
    assert r["cross_scale_median"] > 0.3 and r["cross_scale_good"] < 0.02
    assert r["in_scale_median"] > 0.3 and r["in_scale_good"] < 0.02


def test_deterministic_by_seed() -> None:
    image = _noise(64)
    first = selfsim.cross_scale_recurrence(image, n_queries=200, seed=5)
    assert first == selfsim.cross_scale_recurrence(image, n_queries=200, seed=5)
    assert first != selfsim.cross_scale_recurrence(image, n_queries=200, seed=6)


def test_at_most_the_textured_patches_are_queried() -> None:
    image = np.full((40, 40), 100.0)
    image[:, 20:] = 180.0  # one vertical edge: only patches that straddle it are textured
    r = selfsim.cross_scale_recurrence(image, n_queries=10_000)
    assert r["queries"] == 4 * 36 and r["textured_fraction"] == pytest.approx(4 / 36)


def test_search_window_limits_where_matches_are_found() -> None:
    image = _noise(64)
    everywhere = selfsim.cross_scale_recurrence(image, n_queries=100)
    assert selfsim.cross_scale_recurrence(image, n_queries=100, search=200) == {**everywhere, "search": 200}
    near = selfsim.cross_scale_recurrence(image, n_queries=100, search=6)
    assert near["cross_scale_median_offset"] <= 6 < everywhere["cross_scale_median_offset"]
    assert near["cross_scale_median"] > everywhere["cross_scale_median"]


def test_blocked_search_equals_brute_force(monkeypatch) -> None:
    monkeypatch.setattr(selfsim, "_QUERY_BLOCK", 7)
    monkeypatch.setattr(selfsim, "_CANDIDATE_BLOCK", 13)
    gen = torch.Generator().manual_seed(0)
    queries, candidates = torch.randn(20, 9, generator=gen), torch.randn(90, 9, generator=gen)
    exclude = torch.randint(0, 90, (20, 4), generator=gen)
    qy, qx = torch.randint(0, 9, (20,), generator=gen).float(), torch.randint(0, 10, (20,), generator=gen).float()
    cy, cx = (torch.arange(90) // 10).float(), (torch.arange(90) % 10).float()  # row-major 9 x 10 grid
    dist, where = selfsim._best_matches(queries, candidates, exclude, (qy, qx, cy, cx, 3.0))
    full = ((queries[:, None, :] - candidates[None, :, :]) ** 2).sum(-1)
    for i in range(20):
        allowed = [j for j in range(90) if j not in exclude[i].tolist()
                   and abs(cy[j] - qy[i]) <= 3 and abs(cx[j] - qx[i]) <= 3]
        best = min(allowed, key=lambda j: float(full[i, j]))
        assert int(where[i]) == best and float(dist[i]) == pytest.approx(float(full[i, best]), rel=1e-4, abs=1e-4)


@pytest.mark.parametrize(
    "image,kwargs,error,fragment",
    [
        (np.zeros((40, 40, 3)), {}, DataError, "2-D"),
        (np.zeros((12, 40)), {}, DataError, "too small"),
        (np.random.default_rng(0).random((40, 40)), {}, DataError, "0..255"),
        (np.full((40, 40), 128.0), {}, DataError, "flat image"),
        (np.full((40, 40), np.nan), {}, DataError, "NaN"),
        (np.zeros((40, 40)), {"patch": 1}, ConfigError, "patch"),
        (np.zeros((40, 40)), {"scale": 1}, ConfigError, "scale"),
        (np.zeros((40, 40)), {"search": 4}, ConfigError, "search"),
        (np.zeros((40, 40)), {"n_queries": 0}, ConfigError, "n_queries"),
    ],
)
def test_bad_input_is_a_one_line_error(image, kwargs, error, fragment) -> None:
    with pytest.raises(error) as err:
        selfsim.cross_scale_recurrence(image, **kwargs)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_dataset_recurrence_rows_and_summary(tmp_path) -> None:
    rng = np.random.default_rng(2)
    write_image(tmp_path / "Set5" / "HR" / "a.png", rng.integers(0, 256, (40, 48, 3)).astype(np.uint8))
    write_image(tmp_path / "Set5" / "HR" / "b.png", rng.integers(0, 256, (44, 40)).astype(np.uint8))
    res = selfsim.dataset_recurrence("Set5", tmp_path, n_queries=50)
    assert res["dataset"] == "Set5" and [r["image"] for r in res["rows"]] == ["a", "b"]
    assert res["rows"][1]["height"] == 44 and res["summary"]["images"] == 2
    for key in selfsim.STAT_KEYS:
        assert res["summary"][key] == pytest.approx(np.mean([r[key] for r in res["rows"]]))
    write_image(tmp_path / "Set5" / "HR" / "c.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="Set5/c: .*too small"):
        selfsim.dataset_recurrence("Set5", tmp_path, n_queries=50)


def test_texture_test_is_exact_at_the_threshold_and_one_flip_moves_one_query() -> None:
    """A patch whose standard deviation is exactly ``min_std`` counts as textured (decided exactly, not by float32
    rounding that differs between CPUs); making one more patch textured changes at most one of the drawn queries."""
    patch = np.array([[0.0, 8.0] * 2 + [0.0]] * 5)  # 5x5 of 0/8 in columns: 15 zeros, 10 eights
    n, s, q = 25, patch.sum(), (patch * patch).sum()
    exact_std = np.sqrt(q / n - (s / n) ** 2)
    assert selfsim._textured(patch, 5, exact_std)[0] and not selfsim._textured(patch, 5, exact_std + 1e-9)[0]

    image = np.round(_noise(48))
    image[:, 30:] = 90.0  # flat on the right
    mask = selfsim._textured(image, 5, 4.0)
    flat = np.flatnonzero(~mask)
    base = selfsim.cross_scale_recurrence(image, n_queries=300, seed=3)
    image2 = image.copy()
    r, c = divmod(int(flat[0]), 48 - 5 + 1)
    image2[r + 2, c + 2] += 40.0  # texture one flat patch (and perhaps its neighbours)
    changed = int((selfsim._textured(image2, 5, 4.0) != mask).sum())
    order = np.random.default_rng(3).permutation(mask.size)
    before = set(order[mask[order]][:300])
    after = set(order[selfsim._textured(image2, 5, 4.0)[order]][:300])
    assert len(before ^ after) <= 2 * changed and base["queries"] == 300
