"""Patch recurrence inside one image, across scales and at the same scale: the premise of CSNLN, measured
without training anything.

Glasner, Bagon & Irani ("Super-resolution from a single image", ICCV 2009, Sec. 2) observed that small patches of
a natural image recur inside the same image, at the same scale and across scales: a patch of the image ``I`` that
has a close match in the downscaled image ``I↓s`` also has an HR example, the match's "parent" in ``I``. CSNLN
(Mei et al., "Image Super-Resolution with Cross-Scale Non-Local Attention and Exhaustive Self-Exemplars Mining",
CVPR 2020, Sec. 1 and 3) builds this prior into a network: its cross-scale non-local attention (Sec. 3.1,
Eq. 3-4) matches every patch of the LR feature map against the patches of its own ``1/s`` downscale and copies
their ``s``-times larger parents; its in-scale non-local attention (Eq. 1) does the same at one scale (equation
numbers as in :mod:`sr_lib.models.csnln`).

:func:`cross_scale_recurrence` measures how much an image offers that prior: for random query patches of ``I`` it
finds the best match among all patches of ``I↓s`` (MATLAB-exact bicubic, :func:`sr_lib.degrade.imresize`, kept in
float) and the best match in ``I`` itself away from the query, and reports how much of the query's variance the
match leaves unexplained. :func:`dataset_recurrence` does it for every HR image of a benchmark set (Y channel).
This is a property of the pixels, not of CSNLN's learned features: the network matches embedded features with
normalised (cosine-like) scores on a bilinear downscale; here pixels are matched by L2 on the bicubic downscale.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .color import luma
from .degrade.bicubic import imresize
from .errors import ConfigError, DataError

_QUERY_BLOCK, _CANDIDATE_BLOCK = 512, 4096  # one 8 MB float32 distance block at a time

STAT_KEYS = ("cross_scale_median", "cross_scale_mean", "cross_scale_good", "in_scale_median", "in_scale_mean",
             "in_scale_good", "cross_beats_in_scale", "cross_scale_median_offset", "textured_fraction")


def _patches(image: torch.Tensor, patch: int) -> torch.Tensor:
    """All ``patch x patch`` patches of an (H, W) tensor as rows (N, patch**2), row-major by top-left corner,
    each with its mean removed."""
    rows = F.unfold(image[None, None], patch)[0].T
    return rows - rows.mean(dim=1, keepdim=True)


def _textured(image: np.ndarray, patch: int, min_std: float) -> np.ndarray:
    """Per top-left corner (row-major), whether the ``patch x patch`` patch has a standard deviation of at least
    ``min_std``, decided in float64 as ``n * sum(x^2) - sum(x)^2 >= (n * min_std)^2``: exact for integer grey levels
    (the Y of the protocol), so the same patches count as textured on every CPU (float32 rounding of patches with a
    standard deviation of exactly ``min_std`` differs between SIMD paths)."""
    n = patch * patch
    windows = np.lib.stride_tricks.sliding_window_view(image.astype(np.float64), (patch, patch))
    total, squares = windows.sum(axis=(2, 3)), (windows * windows).sum(axis=(2, 3))
    return (n * squares - total * total >= (n * min_std) ** 2).ravel()


def _best_matches(queries: torch.Tensor, candidates: torch.Tensor,
                  exclude: torch.Tensor | None = None,
                  window: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float] | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row: the smallest squared L2 distance to a candidate row, and that candidate's index.

    ``||q - c||^2 = ||q||^2 + ||c||^2 - 2 q.c``: one matrix product per block of queries x candidates, blocks small
    enough to stay in cache (about twice as fast as whole rows of candidates, and memory stays in megabytes).
    ``exclude`` (Q, K) lists candidate indices a query may not match (its own neighbourhood); ``window`` = (query y,
    query x, candidate y, candidate x, radius) keeps only candidates within ``radius`` (Chebyshev) of the query;
    candidate y must be non-decreasing with the index (row-major patches) so that blocks out of reach are skipped.
    """
    q_norm = (queries * queries).sum(dim=1)
    c_norm = (candidates * candidates).sum(dim=1)
    n_q, n_c = queries.shape[0], candidates.shape[0]
    best = torch.full((n_q,), math.inf)
    where = torch.zeros(n_q, dtype=torch.long)
    for qs in range(0, n_q, _QUERY_BLOCK):
        qsl = slice(qs, qs + _QUERY_BLOCK)
        q_block = queries[qsl]
        rows = torch.arange(q_block.shape[0])[:, None].expand(-1, exclude.shape[1]) if exclude is not None else None
        if window is not None:
            qy, qx, cy, cx, radius = window
            y_low, y_high = float(qy[qsl].min()) - radius, float(qy[qsl].max()) + radius
        block_best = torch.full((q_block.shape[0],), math.inf)
        block_where = torch.zeros(q_block.shape[0], dtype=torch.long)
        for cs in range(0, n_c, _CANDIDATE_BLOCK):
            ce = min(cs + _CANDIDATE_BLOCK, n_c)
            if window is not None and (float(cy[cs]) > y_high or float(cy[ce - 1]) < y_low):
                continue
            dist = torch.addmm(c_norm[None, cs:ce], q_block, candidates[cs:ce].T, beta=1.0, alpha=-2.0)
            if exclude is not None and rows is not None:
                local = exclude[qsl] - cs
                inside = (local >= 0) & (local < ce - cs)
                dist[rows[inside], local[inside]] = math.inf
            if window is not None:
                far = (cy[None, cs:ce] - qy[qsl, None]).abs() > radius
                far |= (cx[None, cs:ce] - qx[qsl, None]).abs() > radius
                dist.masked_fill_(far, math.inf)
            value, index = dist.min(dim=1)
            better = value < block_best
            block_best = torch.where(better, value, block_best)
            block_where = torch.where(better, index + cs, block_where)
        best[qsl] = block_best + q_norm[qsl]
        where[qsl] = block_where
    return best.clamp_min(0.0), where


def _check_args(image_y: Any, scale: int, patch: int, n_queries: int, search: int | None, min_std: float,
                good_match: float) -> np.ndarray:
    for label, value, low in (("scale", scale, 2), ("patch", patch, 3), ("n_queries", n_queries, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ConfigError(f"cross_scale_recurrence: {label} must be an integer >= {low}, got {value!r}")
    if search is not None and (isinstance(search, bool) or not isinstance(search, (int, np.integer))
                               or search < patch):  # smaller windows hold no patch that does not overlap the query
        raise ConfigError(f"cross_scale_recurrence: search must be None or an integer >= patch ({patch}), "
                          f"got {search!r}")
    if not (min_std >= 0 and good_match > 0):
        raise ConfigError(f"cross_scale_recurrence: need min_std >= 0 and good_match > 0, got {min_std}, {good_match}")
    if not isinstance(image_y, np.ndarray) or image_y.ndim != 2 or image_y.dtype.kind not in "uif":
        shape = getattr(image_y, "shape", type(image_y).__name__)
        raise DataError(f"cross_scale_recurrence: expected a 2-D numeric (H, W) luma array, got {shape}")
    image = image_y.astype(np.float64)
    if not np.isfinite(image).all():
        raise DataError("cross_scale_recurrence: the image has NaN or infinite values")
    if image_y.dtype.kind == "f" and image.max() <= 1.0 and image.std() > 0:
        raise DataError("cross_scale_recurrence: values look like [0, 1] units; pass luma in 0..255 units")
    side = max(patch * scale, 3 * patch - 1)  # the downscale holds a patch; every query has a non-overlapping one
    if min(image.shape) < side:
        raise DataError(f"cross_scale_recurrence: image {image.shape[1]}x{image.shape[0]} is too small for "
                        f"{patch}x{patch} patches at x{scale} (needs at least {side} pixels a side)")
    return image


def cross_scale_recurrence(
    image_y: np.ndarray,
    scale: int = 2,
    patch: int = 5,
    n_queries: int = 2000,
    seed: int = 0,
    search: int | None = None,
    min_std: float = 4.0,
    good_match: float = 0.1,
) -> dict[str, Any]:
    """How well random patches of ``image_y`` recur in its ``1/scale`` downscale and elsewhere at its own scale.

    ``image_y`` is one (H, W) channel in 0..255 units (the luma the protocol measures, :func:`sr_lib.color.luma`).
    Queries: ``n_queries`` ``patch x patch`` patches drawn without replacement (``numpy`` generator seeded with
    ``seed``) among those whose standard deviation is at least ``min_std`` grey levels; flat patches (sky, walls)
    match anything and would only measure quantisation. Every patch has its mean removed before matching (a
    brightness offset is not structure, and an example-based method adds the query's own mean back), but its
    contrast is kept (an example with the wrong contrast would give a wrong HR parent).

    For a query ``q`` and its best match ``m`` (squared L2 distance), the *normalised error* is
    ``||q - m||^2 / ||q||^2``: the fraction of the query's own variance the match leaves unexplained (0 = perfect,
    1 = no better than a flat patch). Candidates:

    - cross-scale: every patch of ``imresize(image_y, 1/scale)`` (Glasner et al. Sec. 2; CSNLN Eq. 3-4);
    - in-scale: every patch of ``image_y`` that does not overlap the query (top-left corners at least ``patch``
      apart in rows or columns), so that a patch and its one-pixel shifts do not count as recurrence (CSNLN Eq. 1).

    ``search`` (None: the whole image, as CSNLN's global attention) limits candidates to those whose centre lies
    within ``search`` pixels (Chebyshev, in the candidate image's pixels) of the query's centre mapped to that image.

    Returns the size, the settings and per-image statistics: ``cross_scale_median``/``_mean`` and
    ``in_scale_median``/``_mean`` (normalised errors), ``cross_scale_good``/``in_scale_good`` (fraction of queries
    with error below ``good_match``), ``cross_beats_in_scale`` (fraction whose cross-scale match is strictly better),
    ``cross_scale_median_offset`` (median Chebyshev distance, in downscaled pixels, from the query's mapped centre to
    its cross-scale match) and ``textured_fraction`` (share of all patches with std >= ``min_std``).
    """
    image = _check_args(image_y, scale, patch, n_queries, search, min_std, good_match)
    height, width = image.shape
    small = imresize(image, 1.0 / scale)
    big_t = torch.from_numpy(image).float()
    small_t = torch.from_numpy(np.ascontiguousarray(small)).float()

    all_patches = _patches(big_t, patch)  # the in-scale candidates; queries are rows of it
    grid_w = width - patch + 1
    textured = _textured(image, patch, min_std)
    if not textured.any():
        raise DataError(f"cross_scale_recurrence: no {patch}x{patch} patch has a standard deviation of at least "
                        f"{min_std} grey levels (a flat image): nothing to measure")
    # queries: the first n_queries textured corners of one random order of all corners, so that a patch whose
    # texture test flips changes at most one query (not the whole draw)
    order = np.random.default_rng(seed).permutation(textured.size)
    chosen = np.sort(order[textured[order]][:n_queries])
    index = torch.from_numpy(chosen)
    queries = all_patches[index]
    q_energy = (queries * queries).sum(dim=1)
    qy, qx = index // grid_w, index % grid_w

    # cross-scale: all patches of the downscale; query centres mapped onto its grid (pixel-centre convention)
    coarse = _patches(small_t, patch)
    coarse_w = small.shape[1] - patch + 1
    coarse_index = torch.arange(coarse.shape[0])
    cy, cx = coarse_index // coarse_w, coarse_index % coarse_w
    half = (patch - 1) / 2
    my = (qy.double() + half + 0.5) / scale - 0.5 - half  # mapped top-left corner, fractional
    mx = (qx.double() + half + 0.5) / scale - 0.5 - half
    window = None if search is None else (my.float(), mx.float(), cy.float(), cx.float(), float(search))
    cross_dist, cross_at = _best_matches(queries, coarse, window=window)

    # in-scale: all patches of the image but the (2 patch - 1)^2 corners whose patches overlap the query
    offsets = torch.arange(-(patch - 1), patch)
    ny = (qy[:, None, None] + offsets[None, :, None]).clamp(0, height - patch)
    nx = (qx[:, None, None] + offsets[None, None, :]).clamp(0, grid_w - 1)
    exclude = (ny * grid_w + nx).reshape(len(index), -1)  # clamped corners are overlapping ones too
    full_index = torch.arange(all_patches.shape[0])
    window = None if search is None else (qy.float(), qx.float(), (full_index // grid_w).float(),
                                          (full_index % grid_w).float(), float(search))
    in_dist, _ = _best_matches(queries, all_patches, exclude=exclude, window=window)

    cross = (cross_dist / q_energy).double().numpy()
    within = (in_dist / q_energy).double().numpy()
    offset = torch.maximum((cy[cross_at] - my).abs(), (cx[cross_at] - mx).abs()).numpy()
    return {
        "height": height, "width": width, "scale": scale, "patch": patch, "queries": len(index), "seed": seed,
        "search": search, "min_std": min_std, "good_match": good_match,
        "cross_scale_median": float(np.median(cross)),
        "cross_scale_mean": float(cross.mean()),
        "cross_scale_good": float((cross < good_match).mean()),
        "in_scale_median": float(np.median(within)),
        "in_scale_mean": float(within.mean()),
        "in_scale_good": float((within < good_match).mean()),
        "cross_beats_in_scale": float((cross < within).mean()),
        "cross_scale_median_offset": float(np.median(offset)),
        "textured_fraction": float(textured.mean()),
    }


def dataset_recurrence(
    name: str,
    data_dir: str | Path | None = None,
    scale: int = 2,
    patch: int = 5,
    n_queries: int = 2000,
    seed: int = 0,
    search: int | None = None,
    min_std: float = 4.0,
    good_match: float = 0.1,
) -> dict[str, Any]:
    """:func:`cross_scale_recurrence` on the Y channel (MATLAB ``rgb2ycbcr``, rounded; grey images as they are) of
    every HR image of set ``name`` (found as :func:`sr_lib.data.resolve_dataset` says; ``"Demo"``: the embedded
    photos). Returns ``{"dataset", "config", "rows": [{"image": stem, ...statistics}], "summary"}``; the summary is
    the mean over images of each statistic of :data:`STAT_KEYS`, plus the number of images.
    """
    from . import data
    from .imageio import read_image

    info = data.get_info(name)
    if info.name == "Demo":
        images = list(data.demo_images().items())
    else:
        images = [(p.stem, read_image(p)) for p in data.hr_files(data.resolve_dataset(info.name, data_dir))]
    rows = []
    for stem, image in images:
        try:
            stats = cross_scale_recurrence(luma(image), scale, patch, n_queries, seed, search, min_std, good_match)
        except DataError as exc:
            raise DataError(f"{info.name}/{stem}: {exc}") from None
        rows.append({"image": stem, **stats})
    summary: dict[str, Any] = {key: float(np.mean([r[key] for r in rows])) for key in STAT_KEYS}
    summary["images"] = len(rows)
    config = {"scale": scale, "patch": patch, "n_queries": n_queries, "seed": seed, "search": search,
              "min_std": min_std, "good_match": good_match, "channel": "Y (MATLAB rgb2ycbcr, rounded)"}
    return {"dataset": info.name, "config": config, "rows": rows, "summary": summary}
