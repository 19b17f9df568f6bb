"""Reusable figures of the book: architecture diagrams of convolution stacks, filter grids, training curves.

Everything here draws with matplotlib patches only (no image files) and returns the :class:`~matplotlib.figure.Figure`
it drew into. Without an ``ax`` argument a new :class:`~matplotlib.figure.Figure` is built directly (not through
``pyplot``, the convention of :mod:`sr_lib.viz`): nothing is shown twice and nothing leaks between notebook cells; a
figure returned as a cell's last expression is displayed once.

* :func:`draw_conv_stack` — a feed-forward stack of convolutions drawn as feature-map slabs joined by the kernel
  window each layer slides over its input; :func:`draw_srcnn` is the SRCNN instance (the three-layer overview of
  Dong et al., ECCV 2014 / TPAMI 2016, drawn from an :class:`~sr_lib.models.srcnn.SRCNNConfig`).
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
