"""Reusable figures of the book: architecture diagrams of convolution stacks, filter grids, training curves.

Everything here draws with matplotlib patches only (no image files) and returns the :class:`~matplotlib.figure.Figure`
it drew into. Without an ``ax`` argument a new :class:`~matplotlib.figure.Figure` is built directly (not through
``pyplot``, the convention of :mod:`sr_lib.viz`): nothing is shown twice and nothing leaks between notebook cells; a
figure returned as a cell's last expression is displayed once.

* :func:`draw_conv_stack` — a feed-forward stack of convolutions drawn as feature-map slabs joined by the kernel
  window each layer slides over its input; :func:`draw_srcnn` is the SRCNN instance (the three-layer overview of
  Dong et al., ECCV 2014 / TPAMI 2016, drawn from an :class:`~sr_lib.models.srcnn.SRCNNConfig`).
* :func:`draw_vdsr`, :func:`draw_rcan` (residual in residual: long and short skips, the channel-attention gate;
  chapter 5), :func:`draw_cross_scale_attention` (a query patch matched in the down-scaled image, the larger patch
  pasted back; chapter 6), :func:`draw_msrb` (the two crossing 3x3 / 5x5 paths of a multi-scale residual block;
  chapter 7) — the key ideas of the chapters, drawn from the package's configurations.
* :func:`draw_srgan` (generator, content and adversarial losses; chapter 8), :func:`draw_dan` (the unrolled
  Restorer/Estimator alternation; chapter 9); :func:`plot_perception_distortion` (PSNR against NIQE, chapter 8),
  :func:`plot_series` (lines with seed error bars) and :func:`plot_kernel_steps` (true vs estimated blur kernels
  after each unrolled step; chapter 9).
* :func:`filter_grid` — the kernels of one convolution (e.g. SRCNN's 64 first-layer 9x9 filters) as a tiled image.
* :func:`plot_psnr_curve` — validation PSNR of a training run against wall time or iterations, with reference lines.
* :func:`error_maps` — absolute-error images of several results against one reference, on one colour scale.
* :func:`merge_luma` — a displayable colour image from a Y-channel result and the chroma of another image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from .errors import ConfigError

#: Colours of the feature-map kinds (image planes vs hidden feature maps).
IMAGE_COLOR = "#9ecae1"
FEATURE_COLOR = "#fdd49e"
KERNEL_COLOR = "#d6604d"


@dataclass(frozen=True)
class FeatureMap:
    """One tensor of the stack: its channel count and the text written under it."""

    channels: int
    label: str
    color: str = FEATURE_COLOR


@dataclass(frozen=True)
class ConvLayer:
    """One convolution between two feature maps: kernel side, name, and the activation that follows it."""

    kernel: int
    name: str
    activation: str | None = "ReLU"


#: Resolution of the figures built here (the book keeps notebook images small).
DPI = 80


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=figsize, dpi=DPI)
        return fig, fig.add_subplot()
    fig: Any = ax.figure
    while not isinstance(fig, Figure):  # an axes of a SubFigure: return the root figure
        fig = fig.figure
    return fig, ax


def _slab_cards(channels: int, max_cards: int) -> int:
    """How many stacked 'cards' depict ``channels`` maps (logarithmic, so 1 and 64 both stay readable)."""
    return max(1, min(max_cards, 1 + round(math.log2(channels)))) if channels > 1 else 1


def _draw_slab(ax: Axes, x: float, y: float, side: float, cards: int, step: float, color: str) -> tuple[float, float]:
    """Draw ``cards`` offset squares (back to front); returns the lower-left corner of the front card."""
    for i in reversed(range(cards)):
        ax.add_patch(Rectangle((x + i * step, y + i * step), side, side, facecolor=color, edgecolor="0.25",
                               linewidth=0.8, zorder=2 + (cards - i) * 0.01))
    return x, y


def draw_conv_stack(
    maps: Sequence[FeatureMap],
    layers: Sequence[ConvLayer],
    ax: Axes | None = None,
    title: str | None = None,
    max_cards: int = 7,
    side: float = 2.0,
    gap: float = 2.6,
) -> Figure:
    """Draw a feed-forward convolution stack: ``len(maps) == len(layers) + 1`` feature maps as slabs of stacked
    squares (more squares = more channels, log scale), with each layer's ``k x k`` window drawn on its input map
    and projected onto the one output position it produces.

    Spatial size is not drawn to scale (every map is the same square): the diagrams are for 'same'-padded stacks,
    where every map has the input's height and width. Returns the figure drawn into.
    """
    if len(maps) != len(layers) + 1:
        raise ConfigError(f"draw_conv_stack needs one more feature map than layers, got {len(maps)} and {len(layers)}")
    if not layers:
        raise ConfigError("draw_conv_stack needs at least one layer")
    for m in maps:
        if m.channels < 1:
            raise ConfigError(f"feature map '{m.label}' has {m.channels} channels")
    for layer in layers:
        if layer.kernel < 1:
            raise ConfigError(f"layer '{layer.name}' has kernel size {layer.kernel}")

    fig, ax = _new_axes(ax, (2.9 * len(maps), 3.6))
    step = 0.09 * side
    max_kernel = max(layer.kernel for layer in layers)
    fronts: list[tuple[float, float, int]] = []
    for i, m in enumerate(maps):
        x = i * (side + gap)
        cards = _slab_cards(m.channels, max_cards)
        fx, fy = _draw_slab(ax, x, 0.0, side, cards, step, m.color)
        fronts.append((fx, fy, cards))
        depth = (cards - 1) * step
        ax.text(x + (side + depth) / 2, -0.25, m.label, ha="center", va="top", fontsize=9)

    for i, layer in enumerate(layers):
        fx, fy, cards = fronts[i]
        nx, ny, _ = fronts[i + 1]
        # the kernel window on the front card of the input map, its size relative to the largest kernel
        k = 0.2 * side + 0.35 * side * (layer.kernel / max_kernel)
        top = (cards - 1) * step
        kx, ky = fx + 0.5 * side - k / 2, fy + 0.5 * side - k / 2
        ax.add_patch(Rectangle((kx, ky), k, k, facecolor=KERNEL_COLOR, alpha=0.35, edgecolor=KERNEL_COLOR,
                               linewidth=1.2, zorder=5))
        # project the window's right-hand corners onto one output position of the next map
        tx, ty = nx + 0.45 * side, ny + 0.5 * side
        for cy in (ky, ky + k):
            ax.plot([kx + k, tx], [cy, ty], color=KERNEL_COLOR, linewidth=0.9, linestyle="--", zorder=6)
        ax.add_patch(Rectangle((tx - 0.04, ty - 0.04), 0.08, 0.08, color=KERNEL_COLOR, zorder=7))
        # the operation's name above the gap between the two maps
        mid = (fx + side + top + nx) / 2
        text = f"{layer.name}\n{layer.kernel}\u00d7{layer.kernel} conv"
        if layer.activation:
            text += f" + {layer.activation}"
        ax.text(mid, side + (max_cards - 1) * step + 0.35, text, ha="center", va="bottom", fontsize=9)
        arrow = FancyArrowPatch((fx + side + top + 0.1, -0.9), (nx - 0.1, -0.9), arrowstyle="-|>",
                                mutation_scale=12, color="0.35", linewidth=1.0)
        ax.add_patch(arrow)

    total_w = (len(maps) - 1) * (side + gap) + side + (max_cards - 1) * step
    ax.set_xlim(-0.3, total_w + 0.3)
    ax.set_ylim(-1.45, side + (max_cards - 1) * step + 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def draw_srcnn(config: Any = None, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The SRCNN architecture (patch extraction -> non-linear mapping -> reconstruction) for ``config``.

    ``config`` is a :class:`~sr_lib.models.srcnn.SRCNNConfig` (default: the 9-5-5 model) or any object with
    ``f1, f2, f3, n1, n2`` attributes.
    """
    if config is None:
        from .models.srcnn import SRCNNConfig

        config = SRCNNConfig()
    try:
        f1, f2, f3, n1, n2 = (int(getattr(config, a)) for a in ("f1", "f2", "f3", "n1", "n2"))
    except AttributeError as exc:
        raise ConfigError(f"draw_srcnn needs a config with f1, f2, f3, n1, n2 ({exc})") from None
    maps = [
        FeatureMap(1, "input Y\n(bicubic-upscaled LR)\nH\u00d7W\u00d71", IMAGE_COLOR),
        FeatureMap(n1, f"F\u2081(Y): n\u2081 = {n1} maps\nH\u00d7W\u00d7{n1}"),
        FeatureMap(n2, f"F\u2082(Y): n\u2082 = {n2} maps\nH\u00d7W\u00d7{n2}"),
        FeatureMap(1, "output F(Y)\n(HR Y estimate)\nH\u00d7W\u00d71", IMAGE_COLOR),
    ]
    layers = [
        ConvLayer(f1, "patch extraction\nand representation"),
        ConvLayer(f2, "non-linear\nmapping"),
        ConvLayer(f3, "reconstruction", activation=None),
    ]
    if title is None:
        title = f"SRCNN {f1}-{f2}-{f3} (n\u2081 = {n1}, n\u2082 = {n2}); every layer 'same'-padded"
    return draw_conv_stack(maps, layers, ax=ax, title=title)


def draw_vdsr(depth: int = 20, n_feats: int = 64, ax: Axes | None = None, title: str | None = None) -> Figure:
    """VDSR (Kim et al., Fig. 2): ``depth`` 3x3 convolutions on the bicubic-upscaled Y, predicting the residual
    ``r = y - x`` that the global skip adds back to the input (Sec. 3.2)."""
    if depth < 3:
        raise ConfigError(f"draw_vdsr draws depth >= 3, got {depth}")
    maps = [
        FeatureMap(1, "input x\n(bicubic-upscaled LR Y)\nH\u00d7W\u00d71", IMAGE_COLOR),
        FeatureMap(n_feats, f"{n_feats} maps\nH\u00d7W\u00d7{n_feats}"),
        FeatureMap(n_feats, f"{n_feats} maps\nH\u00d7W\u00d7{n_feats}"),
        FeatureMap(1, "residual r = f(x)\nH\u00d7W\u00d71\noutput x + r", IMAGE_COLOR),
    ]
    layers = [ConvLayer(3, "input"), ConvLayer(3, f"{depth - 2} x residual_layer"),
              ConvLayer(3, "output", activation=None)]
    fig = draw_conv_stack(maps, layers, ax=ax, title=title or f"VDSR: {depth} layers of 3\u00d73 convolutions, "
                          f"receptive field {2 * depth + 1}\u00d7{2 * depth + 1}; the input is added to the output")
    axis = fig.axes[0] if ax is None else ax
    x1 = axis.get_xlim()[1] - 2.3
    axis.add_patch(FancyArrowPatch((1.0, -1.45), (x1 + 1.0, -1.45), connectionstyle="bar,fraction=0.05",
                                   arrowstyle="-|>", mutation_scale=12, color=KERNEL_COLOR, linewidth=1.4))
    axis.text((1.0 + x1) / 2, -2.3, "global skip: the output is x + r (residual learning)", ha="center", va="top",
              fontsize=9, color=KERNEL_COLOR)
    axis.set_ylim(-2.8, axis.get_ylim()[1])
    return fig


def filter_grid(
    weights: Any,
    ncols: int = 8,
    ax: Axes | None = None,
    title: str | None = None,
    pad: int = 1,
    cmap: str = "gray",
) -> Figure:
    """Tile single-input-channel kernels ``(n, 1, k, k)`` or ``(n, k, k)`` into one image, each kernel
    normalised to its own [min, max] (their contrast, not their scale, is what can be compared)."""
    w = np.asarray(weights.detach().cpu() if hasattr(weights, "detach") else weights, dtype=np.float64)
    if w.ndim == 4:
        if w.shape[1] != 1:
            raise ConfigError(f"filter_grid shows single-input-channel kernels, got shape {w.shape}")
        w = w[:, 0]
    if w.ndim != 3 or w.shape[0] < 1:
        raise ConfigError(f"filter_grid expects (n, 1, k, k) or (n, k, k) kernels, got shape {w.shape}")
    if ncols < 1:
        raise ConfigError(f"ncols must be positive, got {ncols}")
    n, kh, kw = w.shape
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    canvas = np.full((nrows * (kh + pad) + pad, ncols * (kw + pad) + pad), np.nan)
    for i, k in enumerate(w):
        lo, hi = k.min(), k.max()
        k = (k - lo) / (hi - lo) if hi > lo else np.zeros_like(k)
        r, c = divmod(i, ncols)
        canvas[pad + r * (kh + pad): pad + r * (kh + pad) + kh, pad + c * (kw + pad): pad + c * (kw + pad) + kw] = k
    fig, ax = _new_axes(ax, (0.55 * ncols + 0.4, 0.55 * nrows + 0.6))
    ax.imshow(np.ma.masked_invalid(canvas), cmap=cmap, interpolation="nearest", vmin=0.0, vmax=1.0)
    ax.set_facecolor("white")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_psnr_curve(
    history: Sequence[Mapping[str, float]],
    references: Mapping[str, float] | None = None,
    x: str = "seconds",
    ax: Axes | None = None,
    label: str = "training",
    title: str | None = None,
    ymin: float | None = None,
) -> Figure:
    """Validation PSNR of a training run (rows with ``x`` and ``val_psnr``, as in ``TrainResult.history``)
    against ``x`` ("seconds" or "iteration"), with a horizontal line per reference (e.g. bicubic, official weights).

    ``ymin``: bottom of the PSNR axis (the untrained network's first point is often far below everything else);
    points under it are drawn as triangles on the bottom edge."""
    if not history:
        raise ConfigError("plot_psnr_curve needs a non-empty history")
    missing = [k for k in (x, "val_psnr") if k not in history[0]]
    if missing:
        raise ConfigError(f"history rows lack {', '.join(missing)}")
    xs = [float(h[x]) for h in history]
    ys = [float(h["val_psnr"]) for h in history]
    fig, ax = _new_axes(ax, (6.0, 3.6))
    ax.plot(xs, ys, marker="o", markersize=3.5, linewidth=1.5, label=label, zorder=3)
    styles = ["--", ":", "-.", (0, (5, 1, 1, 1))]
    for i, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle=styles[i % len(styles)], color=f"C{i + 1}", linewidth=1.2,
                   label=f"{name} ({value:.2f} dB)")
    if ymin is not None:
        below = [(a, b) for a, b in zip(xs, ys) if b < ymin]
        top = max(ys + list((references or {}).values()))
        ax.set_ylim(ymin, max(top + 0.1 * (top - ymin), ymin + 1.0))
        if below:
            ax.plot([a for a, _ in below], [ymin] * len(below), marker="v", linestyle="none", color="C0",
                    clip_on=False, zorder=4, label=f"under {ymin:.1f} dB (off scale)")
    return _finish_psnr_axes(fig, ax, "wall time (s)" if x == "seconds" else x, title)


def _finish_psnr_axes(fig: Figure, ax: Axes, xlabel: str, title: str | None) -> Figure:
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_seed_curves(
    runs: Mapping[str, Mapping[int, Sequence[Mapping[str, float]]]],
    references: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    ymin: float | None = None,
) -> Figure:
    """Validation PSNR against the iteration for several arms of a study: per arm the mean over its seeds (line) and
    the range of the seeds (band). ``runs``: label -> seed -> history (``sr_lib.train.studies.curves``)."""
    if not runs or not all(runs.values()):
        raise ConfigError("plot_seed_curves needs at least one seed per arm")
    fig, ax = _new_axes(ax, (6.0, 3.6))
    lowest = []
    for i, (label, seeds) in enumerate(runs.items()):
        its = sorted({int(h["iteration"]) for hist in seeds.values() for h in hist})
        by_it = {it: [h["val_psnr"] for hist in seeds.values() for h in hist if int(h["iteration"]) == it] for it in its}
        its = [it for it in its if by_it[it] and all(v is not None for v in by_it[it])]
        mean = [float(np.mean(by_it[it])) for it in its]
        ax.plot(its, mean, marker="o", markersize=3, color=f"C{i}", label=f"{label} ({len(seeds)} seeds)")
        ax.fill_between(its, [min(by_it[it]) for it in its], [max(by_it[it]) for it in its], color=f"C{i}",
                        alpha=0.2, linewidth=0)
        lowest += mean
    for j, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle="--", color="0.4" if j == 0 else f"C{len(runs) + j}", linewidth=1.0,
                   label=f"{name} ({value:.2f} dB)")
    if ymin is not None:
        top = max(lowest + list((references or {}).values()))
        ax.set_ylim(ymin, max(top + 0.1 * (top - ymin), ymin + 1.0))
    return _finish_psnr_axes(fig, ax, "iteration", title)


def merge_luma(y: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Colour image for display from a Y-channel result: ``y`` (H, W) as luma, the chroma (Cb, Cr) of ``rgb``
    (usually the bicubic upscale), as the official SRCNN demo shows its results. Returns ``uint8`` RGB, or the
    rounded ``y`` itself when ``rgb`` is grey. Values are in 0..255 units (MATLAB ``rgb2ycbcr`` / ``ycbcr2rgb``)."""
    from .color import rgb_to_ycbcr, ycbcr_to_rgb
    from .metrics import quantize

    y = np.asarray(y, dtype=np.float64)
    if rgb.ndim == 2 or (rgb.ndim == 3 and rgb.shape[2] == 1):
        return quantize(y)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != y.shape:
        raise ConfigError(f"merge_luma: luma {y.shape} and RGB image {rgb.shape} do not match")
    ycbcr = rgb_to_ycbcr(rgb)
    ycbcr[..., 0] = y
    return quantize(ycbcr_to_rgb(ycbcr))


def error_maps(
    images: Mapping[str, np.ndarray],
    reference: np.ndarray,
    vmax: float | None = None,
    title: str | None = None,
    captions: Mapping[str, str] | None = None,
    panel_inches: float = 2.6,
    cmap: str = "magma",
) -> Figure:
    """Absolute error ``|image - reference|`` of each single-channel image (0..255 units), side by side on one
    colour scale (``vmax``: its top, default the largest error shown) with a shared colour bar."""
    if not images:
        raise ConfigError("error_maps: no images given")
    ref = np.asarray(reference, dtype=np.float64)
    errs = {}
    for label, image in images.items():
        im = np.asarray(image, dtype=np.float64)
        if im.shape != ref.shape or im.ndim != 2:
            raise ConfigError(f"error_maps: '{label}' has shape {im.shape}, the (H, W) reference {ref.shape}")
        errs[label] = np.abs(im - ref)
    top = float(vmax) if vmax is not None else max(float(e.max()) for e in errs.values()) or 1.0
    ratio = ref.shape[0] / ref.shape[1]
    fig = Figure(figsize=(panel_inches * len(errs) + 0.8, panel_inches * ratio + (0.6 if title else 0.3) + 0.3),
                 dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(errs), squeeze=False)[0]
    shown = None
    for ax, (label, err) in zip(axes, errs.items()):
        shown = ax.imshow(err, cmap=cmap, vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if captions and label in captions:
            ax.set_xlabel(captions[label], fontsize=9)
    fig.colorbar(shown, ax=list(axes), shrink=0.85, label="|error| (grey levels)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def draw_msrb(n_feats: int = 64, ax: Axes | None = None, title: str | None = None) -> Figure:
    """MSRN's multi-scale residual block (Li et al., ECCV 2018, Fig. 3) with ``n_feats`` = C channels: a 3x3 and a
    5x5 path whose first outputs S1, P1 are *crossed* (both second-layer convolutions read ``[S1, P1]``), the 1x1
    "confusion" of ``[S2, P2]`` back to C maps, and the identity skip ``M_n = S' + M_{n-1}``.

    Every arrow carries a ``gid`` naming the edge it draws (``"S1->P2"``, ``"skip"``, ...); the title gives the
    block's parameter count, taken from :class:`sr_lib.models.msrn.MSRB` itself.
    """
    from matplotlib.patches import Circle, FancyBboxPatch
    from matplotlib.path import Path as MplPath

    from .models.msrn import MSRB

    if not isinstance(n_feats, int) or n_feats < 1:
        raise ConfigError(f"draw_msrb needs a positive channel count, got {n_feats!r}")
    c = n_feats
    fig, ax = _new_axes(ax, (10.5, 3.9))
    w, h = 1.9, 1.0  # box size
    boxes = {  # name: (centre x, centre y, text, colour)
        "in": (0.0, 0.0, f"$M_{{n-1}}$\n{c} maps", FEATURE_COLOR),
        "S1": (3.0, 1.3, f"$S_1$: conv 3\u00d73\n{c}\u2192{c}, ReLU", IMAGE_COLOR),
        "P1": (3.0, -1.3, f"$P_1$: conv 5\u00d75\n{c}\u2192{c}, ReLU", "#fdae6b"),
        "S2": (6.6, 1.3, f"$S_2$: conv 3\u00d73\n{2 * c}\u2192{2 * c}, ReLU", IMAGE_COLOR),
        "P2": (6.6, -1.3, f"$P_2$: conv 5\u00d75\n{2 * c}\u2192{2 * c}, ReLU", "#fdae6b"),
        "conf": (10.0, 0.0, f"$S'$: conv 1\u00d71\n{4 * c}\u2192{c}, confusion", "0.88"),
        "out": (14.3, 0.0, f"$M_n$\n{c} maps", FEATURE_COLOR),
    }
    width = {name: 2.4 if name == "conf" else w for name in boxes}
    for name, (x, y, text, color) in boxes.items():
        ax.add_patch(FancyBboxPatch((x - width[name] / 2, y - h / 2), width[name], h, boxstyle="round,pad=0.05",
                                    facecolor=color, edgecolor="0.25", linewidth=0.9, zorder=3))
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, zorder=4)
    add_x = 12.4
    ax.add_patch(Circle((add_x, 0.0), 0.3, facecolor="white", edgecolor="0.25", linewidth=1.0, zorder=3))
    ax.text(add_x, 0.0, "+", ha="center", va="center", fontsize=13, zorder=4)

    def edge(gid: str, points: Sequence[tuple[float, float]], color: str = "0.3", linewidth: float = 1.1) -> None:
        arrow = FancyArrowPatch(path=MplPath(points), arrowstyle="-|>", mutation_scale=11, color=color,
                                linewidth=linewidth, zorder=2)
        arrow.set_gid(gid)
        ax.add_patch(arrow)

    def right(name: str) -> tuple[float, float]:  # the middle of a box's right edge
        return boxes[name][0] + width[name] / 2 + 0.05, boxes[name][1]

    def left(name: str) -> tuple[float, float]:
        return boxes[name][0] - width[name] / 2 - 0.05, boxes[name][1]

    edge("in->S1", [right("in"), (1.4, 0.0), (1.4, 1.3), left("S1")])
    edge("in->P1", [right("in"), (1.4, 0.0), (1.4, -1.3), left("P1")])
    for a in ("S1", "P1"):  # the cross connection: each second layer reads [S1, P1]
        for b in ("S2", "P2"):
            edge(f"{a}->{b}", [right(a), left(b)], KERNEL_COLOR if a[0] != b[0] else "0.3")
    ax.text(4.8, 0.0, "concat\n$[S_1, P_1]$\n(" + f"{2 * c} maps)", ha="center", va="center", fontsize=8,
            color=KERNEL_COLOR, bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0}, zorder=4)
    edge("S2->conf", [right("S2"), (8.1, 1.3), (8.1, 0.2), left("conf")])
    edge("P2->conf", [right("P2"), (8.1, -1.3), (8.1, -0.2), left("conf")])
    ax.text(8.0, 0.0, f"concat $[S_2, P_2]$\n({4 * c} maps)", ha="right", va="center", fontsize=8, zorder=4)
    edge("conf->add", [right("conf"), (add_x - 0.33, 0.0)])
    edge("add->out", [(add_x + 0.33, 0.0), left("out")])
    top = 2.3
    edge("skip", [(0.0, h / 2 + 0.05), (0.0, top), (add_x, top), (add_x, 0.33)], KERNEL_COLOR, 1.4)
    ax.text(6.1, top + 0.12, "identity skip (local residual learning): $M_n = S' + M_{n-1}$", ha="center",
            va="bottom", fontsize=8.5, color=KERNEL_COLOR)
    ax.set_xlim(-1.2, 15.4)
    ax.set_ylim(-2.1, 3.0)
    ax.set_aspect("equal")
    ax.axis("off")
    weights = sum(p.numel() for p in MSRB(c).parameters())
    ax.set_title(title or f"MSRB, C = {c}: 3\u00d73 and 5\u00d75 paths crossed after their first layer "
                 f"({weights:,} parameters)", fontsize=10)
    return fig


def draw_rcan(config: Any = None, ax: Axes | None = None, title: str | None = None) -> Figure:
    """RCAN's residual in residual (Zhang et al., ECCV 2018, Fig. 2 and 4) for ``config``, in three rows: the network
    with its long skip (Eq. 7), one residual group with its short skip (Eq. 9), one RCAB with its channel-attention
    gate (Eq. 10-13). ``config``: a :class:`~sr_lib.models.rcan.RCANConfig` (default: the paper's) or any object
    with ``n_resgroups, n_resblocks, n_feats, reduction``; its ablation switches ``long_skip``, ``short_skip`` and
    ``channel_attention`` (default True) draw the removed parts dashed and grey."""
    from matplotlib.patches import Circle, FancyBboxPatch

    if config is None:
        from .models.rcan import RCANConfig

        config = RCANConfig()
    try:
        groups, blocks, feats, reduction = (int(getattr(config, a)) for a in
                                            ("n_resgroups", "n_resblocks", "n_feats", "reduction"))
    except AttributeError as exc:
        raise ConfigError(f"draw_rcan needs a config with n_resgroups, n_resblocks, n_feats, reduction ({exc})") \
            from None
    if min(groups, blocks, feats, reduction) < 1 or feats // reduction < 1:
        raise ConfigError(f"draw_rcan: need G, B >= 1 and C // r >= 1, got G={groups}, B={blocks}, C={feats}, "
                          f"r={reduction}")
    on = {k: bool(getattr(config, k, True)) for k in ("long_skip", "short_skip", "channel_attention")}
    fig, ax = _new_axes(ax, (12.0, 5.4))
    gate_color, off = "#c6dbef", "0.6"
    centres: dict[str, tuple[float, float]] = {}
    half: dict[str, float] = {}  # half width of each box or node, where arrows start and end

    def box(key: str, x: float, y: float, text: str, width: float = 1.3, color: str = FEATURE_COLOR,
            enabled: bool = True) -> None:
        ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.38), width, 0.76, boxstyle="round,pad=0.04",
                                    facecolor=color if enabled else "white", edgecolor="0.25" if enabled else off,
                                    linestyle="-" if enabled else "--", linewidth=0.9, zorder=2, gid=key))
        ax.text(x, y, text, ha="center", va="center", fontsize=8, color="black" if enabled else off, zorder=3)
        centres[key], half[key] = (x, y), width / 2 + 0.04

    def arrow(a: tuple[float, float], b: tuple[float, float], color: str = "0.3", style: str = "arc3",
              dashed: bool = False) -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, color=color, linewidth=1.1,
                                     connectionstyle=style, linestyle="--" if dashed else "-", zorder=1))

    def chain(keys: Sequence[str]) -> None:
        for k1, k2 in zip(keys, keys[1:]):
            (x1, y1), (x2, y2) = centres[k1], centres[k2]
            arrow((x1 + half[k1], y1), (x2 - half[k2], y2))

    def add_node(key: str, x: float, y: float, symbol: str = "+", enabled: bool = True) -> None:
        ax.add_patch(Circle((x, y), 0.22, facecolor="white", edgecolor="0.25" if enabled else off, linewidth=1.0,
                            linestyle="-" if enabled else "--", zorder=3))
        ax.text(x, y, symbol, ha="center", va="center", fontsize=10, color="black" if enabled else off, zorder=4)
        centres[key], half[key] = (x, y), 0.22

    def series(name: str, count: int, x0: float, y: float, width: float, step: float) -> list[str]:
        """``count`` boxes in four slots from ``x0``: 1, 2, ..., count (a "⋯" box for the middle when count > 4)."""
        labels = [f"{name} {i}" for i in range(1, count + 1)] if count <= 4 else [f"{name} 1", f"{name} 2", "⋯",
                                                                                   f"{name} {count}"]
        x = x0 + (4 - len(labels)) * step / 2
        for i, text in enumerate(labels):
            box(f"{name}{i}", x + step * i, y, text, 0.6 if text == "⋯" else width,
                "white" if text == "⋯" else FEATURE_COLOR)
        return [f"{name}{i}" for i in range(len(labels))]

    def zoom(key: str, to_y: float, right: float) -> None:  # dotted lines from a box to the row detailing it
        (x, y), w = centres[key], half[key]
        for a, b in ((x - w, 0.5), (x + w, right)):
            ax.plot([a, b], [y - 0.42, to_y + 0.55], color="0.7", linewidth=0.8, linestyle=":")

    def skip(name: str, start: tuple[float, float], node: str, height: float, label: str, enabled: bool) -> None:
        x0, y0 = start
        x1, y1 = centres[node]
        color = KERNEL_COLOR if enabled else off
        ax.plot([x0, x0, x1], [y0, y0 + height, y0 + height], color=color, linewidth=1.4,
                linestyle="-" if enabled else "--", zorder=1, gid=name)
        arrow((x1, y0 + height), (x1, y1 + 0.22), color=color, dashed=not enabled)
        ax.text((x0 + x1) / 2, y0 + height + 0.08, label if enabled else f"{label}: removed", ha="center",
                va="bottom", fontsize=8, color=color)

    # row 1: the network
    y = 5.2
    box("lr", 0.0, y, "LR image", 1.1, IMAGE_COLOR)
    box("head", 1.6, y, "head\nconv 3×3")
    rgs = series("RG", groups, 3.5, y, 1.2, 1.55)
    box("conv_lsc", 9.7, y, "conv 3×3")
    add_node("add_lsc", 11.0, y)
    box("up", 12.4, y, "upsample\n(sub-pixel)")
    box("tail", 13.9, y, "conv 3×3")
    box("sr", 15.3, y, "SR image", 1.1, IMAGE_COLOR)
    chain(["lr", "head", *rgs, "conv_lsc", "add_lsc", "up", "tail", "sr"])
    skip("long_skip", (2.45, y), "add_lsc", 0.85, r"long skip: $F_{DF} = F_0 + W_{LSC} F_G$ (Eq. 7)", on["long_skip"])
    ax.text(2.45, y - 0.55, "$F_0$", ha="center", va="top", fontsize=8)
    ax.text(6.6, y - 0.7, f"{groups} residual groups (RG)", ha="center", va="top", fontsize=8)

    # row 2: one residual group
    y2 = 2.9
    zoom(rgs[0], y2, 12.7)
    box("g_in", 1.3, y2, "$F_{g-1}$", 1.0, "white")
    rcabs = series("RCAB", blocks, 3.3, y2, 1.25, 1.6)
    box("g_conv", 9.6, y2, "conv 3×3")
    add_node("add_ssc", 10.9, y2)
    box("g_out", 12.1, y2, "$F_g$", 0.8, "white")
    chain(["g_in", *rcabs, "g_conv", "add_ssc", "g_out"])
    skip("short_skip", (2.1, y2), "add_ssc", 0.75, r"short skip: $F_g = F_{g-1} + W_g F_{g,B}$ (Eq. 9)",
         on["short_skip"])

    # row 3: one RCAB and its channel-attention gate
    y3 = 0.6
    zoom(rcabs[0], y3, 15.3)
    ca = on["channel_attention"]
    box("r_in", 0.9, y3, "$F_{g,b-1}$", 1.1, "white")
    box("c1", 2.45, y3, "conv 3×3\n+ ReLU", 1.2)
    box("c2", 3.9, y3, "conv 3×3", 1.1)
    squeezed = feats // reduction
    stats = [("pool", "mean over\nH×W → $z$", 1.3), ("down", f"1×1 conv\n{feats}→{squeezed}, ReLU", 1.55),
             ("upc", f"1×1 conv\n{squeezed}→{feats}", 1.3), ("sig", "sigmoid\n→ $s$", 1.0)]
    x = 5.8
    for k, t, w in stats:
        box(k, x, y3 - 1.25, t, w, gate_color, ca)
        x += w + 0.45
    add_node("mul", 11.6, y3, "×", ca)
    add_node("add_rcab", 13.2, y3)
    box("r_out", 14.6, y3, "$F_{g,b}$", 1.0, "white")
    chain(["r_in", "c1", "c2"])
    arrow((4.45, y3), (11.38, y3))
    ax.text(8.3, y3 + 0.1, f"$X$ (H×W×{feats})", ha="center", va="bottom", fontsize=8)
    gate = "0.3" if ca else off
    style = "-" if ca else "--"
    ax.plot([5.0, 5.0], [y3, y3 - 1.25], color=gate, linewidth=1.1, linestyle=style, zorder=1)
    arrow((5.0, y3 - 1.25), (centres["pool"][0] - half["pool"], y3 - 1.25), gate, dashed=not ca)
    for k1, k2 in (("pool", "down"), ("down", "upc"), ("upc", "sig")):
        arrow((centres[k1][0] + half[k1], y3 - 1.25), (centres[k2][0] - half[k2], y3 - 1.25), gate, dashed=not ca)
    ax.plot([centres["sig"][0] + half["sig"], 11.6], [y3 - 1.25] * 2, color=gate, linewidth=1.1, linestyle=style,
            zorder=1)
    arrow((11.6, y3 - 1.25), (11.6, y3 - 0.22), gate, dashed=not ca)
    ax.text(8.3, y3 - 1.85, r"channel attention (Eq. 10-12): $\hat{x}_c = s_c \cdot x_c$" if ca else
            "channel attention: removed (a plain residual block)", ha="center", va="top", fontsize=8,
            color="#08519c" if ca else off)
    chain(["mul", "add_rcab", "r_out"])
    skip("local_skip", (1.45, y3), "add_rcab", 0.65, "local skip (Eq. 13)", True)

    ax.set_xlim(-0.7, 16.0)
    ax.set_ylim(-1.4, 6.6)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"RCAN: {groups} residual groups × {blocks} RCABs, {feats} features, channel reduction "
                 f"{reduction}", fontsize=10)
    return fig


def draw_cross_scale_attention(
    image: np.ndarray,
    query: tuple[int, int] | None = None,
    scale: int = 2,
    patch: int = 5,
    top_k: int = 3,
    softmax_scale: float = 40.0,
    hr: np.ndarray | None = None,
    title: str | None = None,
) -> Figure:
    """CSNLN's cross-scale non-local attention (Mei et al., CVPR 2020, Sec. 3.2, Eq. 3-4, Fig. 3) on the pixels of
    one image: the ``patch x patch`` query at ``query`` (top-left row, column) of the image X is matched against
    every patch of ``Y = X`` down-scaled by ``scale`` (bilinear, as :class:`~sr_lib.models.csnln.CrossScaleAttention`
    does to its features), and each match stands for its ``scale``-times larger *parent* in X, the region Y's patch
    was made from; the softmax-weighted sum of the parents is the query's up-scaled estimate.

    The patches and parents are cut by :func:`sr_lib.models.csnln.extract_image_patches`, as in the network. In place
    of the learned embeddings, patches are compared by normalised cross-correlation (means removed, then
    ``softmax(softmax_scale * cosine)``; the network's temperature is 10 on learned features and unnormalised queries,
    on unit-length pixel patches 10 would spread the weights over thousands of keys), the parents are pasted with
    their means replaced by the query's, and keys whose parent contains the query's centre are left out so that the
    figure shows matches *elsewhere* in the image. ``query``: default the most textured patch. ``image``: (H, W) or RGB (H, W, 3) in 0..255 units (its luma is
    used). ``hr``: the HR image of which ``image`` is the ``1/scale`` downscale; when given, its region under the
    query is shown next to the paste, as the answer the paste tries to give. The ``top_k`` best matches (no two of which overlap) get one colour each in every panel; their
    rectangles carry ``gid`` ``"query"``, ``"match-<i>"`` (in Y) and ``"parent-<i>"`` (in X).
    """
    import torch
    import torch.nn.functional as F

    from .color import luma
    from .models.csnln import extract_image_patches

    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise ConfigError(f"draw_cross_scale_attention needs an integer scale >= 2, got {scale!r}")
    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 1 or patch % 2 == 0 or top_k < 1:
        raise ConfigError(f"draw_cross_scale_attention needs an odd patch size and top_k >= 1, got {patch!r}, {top_k!r}")
    img = np.asarray(image)
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ConfigError(f"draw_cross_scale_attention needs an (H, W) or (H, W, 3) image, got shape {img.shape}")
    grey = (luma(img, "float") if img.ndim == 3 else img.astype(np.float64)) / 255.0
    height, width = (grey.shape[0] // scale) * scale, (grey.shape[1] // scale) * scale
    if query is None:  # the most textured patch (largest standard deviation), first in row-major order on ties
        windows = np.lib.stride_tricks.sliding_window_view(grey[:height, :width], (patch, patch))
        row, col = (int(v) for v in np.unravel_index(np.argmax(windows.std(axis=(2, 3))), windows.shape[:2]))
    else:
        row, col = query
    if not (0 <= row <= height - patch and 0 <= col <= width - patch):
        raise ConfigError(f"query {query} with patch {patch} lies outside the {height}x{width} image")
    x = torch.from_numpy(np.ascontiguousarray(grey[:height, :width])).float()[None, None]
    y = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear")
    small_w = width // scale

    def unit(v: torch.Tensor) -> torch.Tensor:  # mean removed, unit length (rows)
        v = v - v.mean(dim=-1, keepdim=True)
        return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-8)

    keys = unit(extract_image_patches(y, patch, 1)[0].flatten(1))  # (L, p*p), L = (H/s)(W/s)
    parents = extract_image_patches(x, scale * patch, scale)[0, :, 0]  # (L, sp, sp), the same L
    q = unit(x[0, 0, row:row + patch, col:col + patch].reshape(1, -1))[0]
    key_pad, parent_pad = (patch - 1) // 2, (scale * patch - scale) // 2  # 'same' padding before the top-left key
    g, h = torch.arange(keys.shape[0]) // small_w, torch.arange(keys.shape[0]) % small_w
    top, left = scale * g - parent_pad, scale * h - parent_pad  # each parent's top-left corner in X
    centre_r, centre_c = row + patch // 2, col + patch // 2
    own = (top <= centre_r) & (centre_r < top + scale * patch) & (left <= centre_c) & (centre_c < left + scale * patch)
    scores = (keys @ q).masked_fill(own, -math.inf)
    weights = torch.softmax(softmax_scale * scores, dim=0)
    order, taken = [], torch.zeros_like(own)
    for k in torch.argsort(scores, descending=True).tolist():  # greedy: the best keys that do not overlap
        if len(order) == top_k or scores[k] == -math.inf:
            break
        if not taken[k]:
            order.append(k)
            taken |= ((g - g[k]).abs() < patch) & ((h - h[k]).abs() < patch)
    centred = parents - parents.mean(dim=(1, 2), keepdim=True)  # brightness offsets do not count, as in matching
    paste = (weights[:, None, None] * centred).sum(dim=0) + x[0, 0, row:row + patch, col:col + patch].mean()

    fig = Figure(figsize=(10.0, 6.4), dpi=DPI, layout="constrained")
    upper, lower = fig.subfigures(2, 1, height_ratios=[2.1, 1.0])
    ax_x, ax_y, ax_p = upper.subplots(1, 3, width_ratios=[scale, 1.0, scale])
    colors = [f"C{i}" for i in range(len(order))]

    def box(ax: Axes, r: float, c: float, size: int, color: str, gid: str) -> None:
        rect = Rectangle((c - 0.5, r - 0.5), size, size, fill=False, edgecolor=color, linewidth=1.6, zorder=5)
        rect.set_gid(gid)
        ax.add_patch(rect)

    ax_x.imshow(x[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    box(ax_x, row, col, patch, KERNEL_COLOR, "query")
    ax_x.set_title(f"X (the input, {height}\u00d7{width}): query {patch}\u00d7{patch}", fontsize=9)
    ax_y.imshow(y[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    heat = weights.view(height // scale, small_w).numpy()
    ax_y.imshow(np.ma.masked_less(heat, 0.05 * heat.max()), cmap="autumn_r", alpha=0.8)  # keys of >= 5% of the top
    ax_y.set_title(f"Y = X\u2193{scale}: matching weights,\n{len(order)} best {patch}\u00d7{patch} matches", fontsize=9)
    ax_p.imshow(x[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    box(ax_p, row, col, patch, KERNEL_COLOR, "query-again")
    ax_p.set_title(f"X: their parents, {scale * patch}\u00d7{scale * patch} ({scale}\u00d7 larger)", fontsize=9)
    for i, (k, color) in enumerate(zip(order, colors)):
        box(ax_y, int(g[k]) - key_pad, int(h[k]) - key_pad, patch, color, f"match-{i}")
        box(ax_p, int(top[k]), int(left[k]), scale * patch, color, f"parent-{i}")
    for ax in (ax_x, ax_y, ax_p):
        ax.set_xticks([])
        ax.set_yticks([])

    tiles = [("query", x[0, 0, row:row + patch, col:col + patch], KERNEL_COLOR)]
    for i, (k, color) in enumerate(zip(order, colors)):
        parent = parents[k]
        tiles.append((f"parent {i + 1}\nweight {float(weights[k]):.2f}", parent, color))
    tiles.append(("weighted paste\n(CS-NL output)", paste, "0.25"))
    if hr is not None:
        truth = np.asarray(hr)
        truth = (luma(truth, "float") if truth.ndim == 3 else truth.astype(np.float64)) / 255.0
        if truth.shape[0] < scale * height or truth.shape[1] < scale * width:
            raise ConfigError(f"hr {truth.shape[:2]} is not {scale}x the image {grey.shape[:2]}")
        r0, c0 = scale * row, scale * col
        tiles.append(("HR truth under\nthe query", torch.from_numpy(truth[r0:r0 + scale * patch, c0:c0 + scale * patch]),
                      "0.25"))
    axes = lower.subplots(1, len(tiles))
    low, high = min(float(t.min()) for _, t, _ in tiles), max(float(t.max()) for _, t, _ in tiles)
    for ax, (label, tile, color) in zip(axes, tiles):  # one grey scale for all tiles, stretched to their range
        ax.imshow(tile.numpy(), cmap="gray", vmin=low, vmax=max(high, low + 1e-3), interpolation="nearest")
        ax.set_title(label, fontsize=8, color=color)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(2.0)
    fig.suptitle(title or f"Cross-scale attention on pixels, x{scale}: a query in X, its matches in X\u2193{scale}, "
                 f"and their {scale}\u00d7 larger parents pasted back", fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# Chapters 8 (SRGAN, the perception-distortion plane) and 9 (DAN, blind SR)


def _flow_box(ax: Axes, x: float, y: float, text: str, color: str, w: float = 1.6, h: float = 0.7) -> None:
    ax.add_patch(Rectangle((x - w / 2, y - h / 2), w, h, facecolor=color, edgecolor="0.25", linewidth=0.9, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=8, zorder=3)


def _flow_arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], style: str = "-") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=1.0, linestyle=style,
                                 color="0.2", zorder=1))


def _flow_axes(fig: Figure, ax: Axes, xlim: tuple[float, float], ylim: tuple[float, float], title: str | None) -> Figure:
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def draw_srgan(adv_weight: float = 1e-3, content: str = "VGG54 feature loss", ax: Axes | None = None,
               title: str | None = None) -> Figure:
    """SRGAN's training in one figure (chapter 8; Ledig et al., CVPR 2017, Sec. 2.2 Eq. 3 and Fig. 4): the generator
    G (SRResNet) maps the LR image to an SR image; the content loss compares SR with HR (``content``: the paper's
    VGG54 feature loss, or the pixel MSE of the book's offline runs); the discriminator D scores SR against real HR
    images and its verdict is the adversarial loss, weighted ``adv_weight`` in the generator's loss."""
    fig, ax = _new_axes(ax, (7.2, 2.9))
    _flow_box(ax, 0.8, 2.0, "LR image", IMAGE_COLOR, 1.2)
    _flow_box(ax, 3.0, 2.0, "G: SRResNet\n(residual blocks,\nsub-pixel x4)", FEATURE_COLOR, 1.9, 1.0)
    _flow_box(ax, 5.2, 2.0, "SR image", IMAGE_COLOR, 1.2)
    _flow_box(ax, 5.2, 0.5, "HR image", IMAGE_COLOR, 1.2)
    _flow_box(ax, 7.8, 3.0, f"content loss\n{content}", "#c7e9c0", 2.2, 0.8)
    _flow_box(ax, 7.8, 1.1, "D: real or fake?\n(conv. classifier)", "#fcbba1", 2.2, 0.8)
    _flow_box(ax, 10.6, 2.0, f"generator loss =\ncontent + {adv_weight:g} x adversarial", "#dadaeb", 2.6, 0.9)
    for a, b in (((1.4, 2.0), (2.05, 2.0)), ((3.95, 2.0), (4.6, 2.0)), ((5.8, 2.2), (6.7, 2.9)),
                 ((5.8, 1.8), (6.7, 1.2)), ((5.8, 0.6), (6.7, 1.0)), ((8.9, 3.0), (9.3, 2.3)), ((8.9, 1.1), (9.3, 1.7))):
        _flow_arrow(ax, a, b)
    _flow_arrow(ax, (5.8, 0.4), (6.7, 2.7), "--")
    ax.text(6.2, 0.05, "D is trained in turn to tell HR from SR", fontsize=7, ha="left", color="0.3")
    return _flow_axes(fig, ax, (0, 12), (-0.2, 3.6), title)


def draw_dan(loop: int = 4, ax: Axes | None = None, title: str | None = None) -> Figure:
    """DAN's unrolled alternation in one figure (chapter 9; Luo et al., NeurIPS 2020, Sec. 3, Fig. 2): from the
    Dirac kernel's code, the Restorer R gives an SR image from the LR image and the current kernel code, the
    Estimator E a new kernel code from the LR and SR images; ``loop`` steps, every R and every E sharing weights."""
    if not isinstance(loop, int) or loop < 1:
        raise ConfigError(f"draw_dan: loop must be a positive integer, got {loop!r}")
    fig, ax = _new_axes(ax, (1.9 * loop + 1.6, 2.8))
    _flow_box(ax, 0.8, 1.0, "k0: Dirac\n(PCA code)", "#c7e9c0", 1.3)
    ax.text(0.8, 2.5, "LR image y", ha="center", fontsize=8)
    for i in range(loop):
        x = 2.4 + 2.4 * i
        _flow_box(ax, x, 1.0, "R", FEATURE_COLOR, 0.8)
        _flow_box(ax, x + 1.2, 1.0, "E", "#fcbba1", 0.8)
        ax.text(x + 0.6, 0.15, f"SR{i + 1}", ha="center", fontsize=8)
        ax.text(x + 1.8, 1.35, f"k{i + 1}", ha="center", fontsize=8)
        _flow_arrow(ax, (x - 1.0 if i else 1.45, 1.0), (x - 0.4, 1.0))
        _flow_arrow(ax, (x + 0.4, 1.0), (x + 0.8, 1.0))
        _flow_arrow(ax, (x, 2.3), (x, 1.35), ":")
        _flow_arrow(ax, (x + 1.2, 2.3), (x + 1.2, 1.35), ":")
    ax.plot([0.8, 2.4 + 2.4 * (loop - 1) + 1.2], [2.3, 2.3], color="0.5", linewidth=0.8, linestyle=":")
    ax.text(1.2 + 1.2 * loop + 0.6, -0.45, f"{loop} unrolled steps; all R share weights, all E share weights; "
            "the loss supervises every SR and kernel", ha="center", fontsize=7, color="0.3")
    return _flow_axes(fig, ax, (0, 2.4 * loop + 1.6), (-0.7, 2.8), title)


@dataclass(frozen=True)
class PlanePoint:
    """One method on the perception-distortion plane: PSNR and NIQE (means over seeds, with their standard
    deviations, NaN for one seed); points of the same ``group`` are joined in order (e.g. an interpolation)."""

    label: str
    psnr: float
    niqe: float
    psnr_std: float = math.nan
    niqe_std: float = math.nan
    group: str | None = None


def plot_perception_distortion(points: Mapping[str, Sequence[PlanePoint]], title: str | None = None,
                               panel_inches: float = 4.0) -> Figure:
    """The perception-distortion plane (chapter 8; Blau and Michaeli, CVPR 2018, Fig. 1): one panel per data set
    (``points``: set -> points), PSNR on x (distortion: right is better), NIQE on y (perception: lower is better,
    so the axis is not inverted and the best corner is bottom right), error bars = the standard deviation over
    seeds where there are several. Points sharing a ``group`` are joined by a line in the order given."""
    if not points or not all(points.values()):
        raise ConfigError("plot_perception_distortion needs at least one point per data set")
    fig = Figure(figsize=(panel_inches * len(points) + 0.4, panel_inches * 0.8 + 0.6), dpi=DPI, layout="constrained")
    axes = fig.subplots(1, len(points), squeeze=False)[0]
    for ax, (dataset, pts) in zip(axes, points.items()):
        groups: dict[str, list[PlanePoint]] = {}
        for p in pts:
            if p.group:
                groups.setdefault(p.group, []).append(p)
        for g, members in groups.items():
            ax.plot([p.psnr for p in members], [p.niqe for p in members], color="0.6", linewidth=1.0, zorder=1)
        for i, p in enumerate(pts):
            xerr = None if math.isnan(p.psnr_std) else p.psnr_std
            yerr = None if math.isnan(p.niqe_std) else p.niqe_std
            ax.errorbar(p.psnr, p.niqe, xerr=xerr, yerr=yerr, marker="os^Dv<>p*h"[i % 10], color=f"C{i % 10}",
                        markersize=6, capsize=2, linestyle="none", label=p.label, zorder=3)
        ax.set_xlabel("PSNR (dB)  → less distortion")
        ax.set_ylabel("NIQE  ↓ more natural")
        ax.set_title(dataset, fontsize=10)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_series(series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]], xlabel: str,
                ylabel: str = "PSNR (dB)", title: str | None = None, marks: Mapping[str, float] | None = None,
                ax: Axes | None = None) -> Figure:
    """Lines with error bars, one per label: ``series`` label -> (x, mean, std) (std NaN: no bar). ``marks``: labelled
    vertical lines (e.g. the number of unrolled steps a DAN was trained with). Chapter 9 draws Gaussian8 PSNR per
    kernel width and PSNR per unrolled step with it."""
    if not series:
        raise ConfigError("plot_series needs at least one series")
    fig, ax = _new_axes(ax, (6.0, 3.6))
    for i, (label, (xs, mean, std)) in enumerate(series.items()):
        if not (len(xs) == len(mean) == len(std)):
            raise ConfigError(f"plot_series: '{label}' has {len(xs)} x, {len(mean)} means and {len(std)} stds")
        err = None if all(math.isnan(s) for s in std) else [0.0 if math.isnan(s) else s for s in std]
        ax.errorbar(xs, mean, yerr=err, marker="o", markersize=3.5, capsize=2, color=f"C{i}", label=label)
    for j, (name, x) in enumerate((marks or {}).items()):
        ax.axvline(x, color="0.4", linestyle="--", linewidth=1.0)
        ax.text(x, ax.get_ylim()[0], f" {name}", fontsize=7, color="0.3", va="bottom", rotation=90)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_kernel_steps(kernels: Mapping[str, tuple[np.ndarray, np.ndarray]], crop: int = 15,
                      title: str | None = None) -> Figure:
    """True and estimated blur kernels (chapter 9): one row per case (``kernels``: row label -> (true (k, k),
    estimated (steps, k, k))), the true kernel first, then the estimate after each unrolled step, all on one
    colour scale per row, centre ``crop`` x ``crop`` taps shown. Each estimate's title gives its L1 distance to
    the true kernel (sum of absolute tap differences over the whole kernel)."""
    if not kernels:
        raise ConfigError("plot_kernel_steps needs at least one kernel")
    steps = {np.asarray(est).shape[0] for _, est in kernels.values()}
    if len(steps) != 1:
        raise ConfigError(f"plot_kernel_steps: rows have different numbers of steps {sorted(steps)}")
    n = steps.pop()
    fig = Figure(figsize=(1.15 * (n + 1) + 0.6, 1.25 * len(kernels) + 0.5), dpi=DPI, layout="constrained")
    axes = fig.subplots(len(kernels), n + 1, squeeze=False)
    for row, (label, (true, est)) in zip(axes, kernels.items()):
        true, est = np.asarray(true, dtype=np.float64), np.asarray(est, dtype=np.float64)
        if true.ndim != 2 or est.shape[1:] != true.shape:
            raise ConfigError(f"plot_kernel_steps: '{label}' true {true.shape} vs estimated {est.shape}")
        k = true.shape[0]
        c = max(0, (k - min(crop, k)) // 2)
        top = max(float(true.max()), float(est.max()))
        for j, (ax, image) in enumerate(zip(row, [true, *est])):
            ax.imshow(image[c:k - c, c:k - c], cmap="viridis", vmin=0.0, vmax=top, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            name = "true" if j == 0 else f"step {j}\nL1 {np.abs(image - true).sum():.2f}"
            ax.set_title(name, fontsize=7)
        row[0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
