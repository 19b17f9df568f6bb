"""Plotting, table and widget helpers shared by the book's chapters.

Stable API (chapters import these; keep the signatures backward compatible):

* :func:`compare_crops` — full images with a rectangle, and the zoomed crops under them (a static figure).
* :func:`interactive_comparison` — an ``ipywidgets`` viewer: one dropdown per key component (e.g. image, scale,
  method), the selected image next to an optional reference, both with a zoomed crop.
* :func:`image_strip` — a row of thumbnails with captions.
* :class:`Table` / :func:`table` — a small table that renders as HTML in notebooks and as fixed-width text in
  ``text/plain`` (deterministic, so ``# NBVAL_CHECK_OUTPUT`` cells can compare it).
* :func:`admonition` — a Markdown admonition (note/warning box) for the rendered book.

Conventions:

* images are numpy arrays ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB), ``uint8`` or float in 0..255 units (float
  values are clipped to [0, 255] for display only);
* a *box* is ``(x, y, width, height)`` in pixels of the first image given (x = column, y = row of its top-left
  corner), like :class:`matplotlib.patches.Rectangle`. An image of another size (e.g. the LR image next to HR
  ones) gets the box scaled by the ratio of the sizes, so the same region is shown; images within 5 % of the
  first one's size (HR images modcropped for different scales) keep the box as it is.
* figures are built with :class:`matplotlib.figure.Figure` (not ``pyplot``): nothing is shown twice, nothing
  leaks between cells; in a notebook a figure returned as the cell's last expression is displayed once.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .errors import ConfigError
from .tables import Table, table

__all__ = [
    "Box",
    "Table",
    "admonition",
    "centre_box",
    "compare_crops",
    "image_strip",
    "interactive_comparison",
    "scale_box",
    "table",
]

Box = tuple[int, int, int, int]  # (x, y, width, height)

_EDGE = "#ffcc00"  # rectangle colour, visible on light and dark images


# ----------------------------------------------------------------------------------------------------------------
# boxes and display conversion


def _check_image(name: str, image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        shape = getattr(image, "shape", type(image).__name__)
        raise ConfigError(f"viz: image '{name}' must be an (H, W) or (H, W, 3) numpy array, got {shape}")
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


def _display(image: np.ndarray) -> np.ndarray:
    """uint8 copy for imshow (float images in 0..255 are rounded and clipped)."""
    if image.dtype == np.uint8:
        return image
    return np.clip(np.rint(np.asarray(image, dtype=np.float64)), 0, 255).astype(np.uint8)


def _imshow(ax: Any, image: np.ndarray) -> None:
    img = _display(image)
    if img.ndim == 2:
        ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(img, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def centre_box(shape: Sequence[int], size: int | tuple[int, int]) -> Box:
    """A box of ``size`` (``int`` = square, or ``(width, height)``) centred in an image of ``shape`` (H, W, ...)."""
    w, h = (size, size) if isinstance(size, int) else size
    H, W = int(shape[0]), int(shape[1])
    w, h = min(w, W), min(h, H)
    return ((W - w) // 2, (H - h) // 2, w, h)


def scale_box(box: Box, from_shape: Sequence[int], to_shape: Sequence[int]) -> Box:
    """``box`` given on an image of ``from_shape`` mapped to an image of ``to_shape`` (e.g. HR -> LR)."""
    fy = to_shape[0] / from_shape[0]
    fx = to_shape[1] / from_shape[1]
    x, y, w, h = box
    x0, y0 = int(math.floor(x * fx)), int(math.floor(y * fy))
    x1 = max(x0 + 1, int(math.ceil((x + w) * fx)))
    y1 = max(y0 + 1, int(math.ceil((y + h) * fy)))
    return (x0, y0, min(x1, int(to_shape[1])) - x0, min(y1, int(to_shape[0])) - y0)


def _check_box(box: Any, shape: Sequence[int]) -> Box:
    ok = isinstance(box, (tuple, list)) and len(box) == 4 and all(isinstance(v, (int, np.integer)) for v in box)
    if not ok:
        raise ConfigError(f"viz: box must be four ints (x, y, width, height), got {box!r}")
    x, y, w, h = (int(v) for v in box)
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]:
        raise ConfigError(f"viz: box {box!r} is not inside an image of {shape[1]}x{shape[0]} (width x height)")
    return (x, y, w, h)


def _box_for(box: Box, first_shape: Sequence[int], shape: Sequence[int]) -> Box:
    """The box on an image of ``shape``: unchanged when it fits and the sizes differ by under 5 % (e.g. HR images
    modcropped for different scales), else scaled by the size ratio (e.g. an LR image next to HR ones)."""
    x, y, w, h = box
    close = all(abs(shape[i] / first_shape[i] - 1) < 0.05 for i in (0, 1))
    if close and x + w <= shape[1] and y + h <= shape[0]:
        return box
    return scale_box(box, first_shape, shape)


def _crop(image: np.ndarray, box: Box) -> np.ndarray:
    x, y, w, h = box
    return image[y : y + h, x : x + w]


# ----------------------------------------------------------------------------------------------------------------
# static figures


def compare_crops(
    images: Mapping[str, np.ndarray],
    box: Box,
    title: str | None = None,
    *,
    captions: Mapping[str, str] | None = None,
    show_full: bool = True,
    panel_inches: float = 2.2,
    max_columns: int = 6,
    dpi: int = 80,
) -> Figure:
    """Compare several images on one region: full images with the box drawn (top row), zoomed crops below.

    ``images``: label -> image (in display order); ``box`` = ``(x, y, width, height)`` in pixels of the first
    image, scaled for images of another size (see the module docstring). ``captions``: optional text under each crop (e.g. ``"30.21 dB"``).
    ``show_full=False`` draws only the crops. More than ``max_columns`` images wrap onto further rows.
    Returns the :class:`~matplotlib.figure.Figure` (not shown; a notebook displays it when it is the cell's value).
    """
    if not images:
        raise ConfigError("viz.compare_crops: no images given")
    if max_columns < 1:
        raise ConfigError(f"viz.compare_crops: max_columns must be >= 1, got {max_columns}")
    checked = {k: _check_image(k, v) for k, v in images.items()}
    first = next(iter(checked.values()))
    box = _check_box(box, first.shape)
    labels = list(checked)
    ncols = min(len(labels), max_columns)
    blocks = math.ceil(len(labels) / ncols)
    rows_per_block = 2 if show_full else 1
    # the full-image row keeps the first image's aspect ratio; crops keep the box's
    full_ratio = first.shape[0] / first.shape[1]
    crop_ratio = box[3] / box[2]
    heights = ([full_ratio, crop_ratio] if show_full else [crop_ratio]) * blocks
    fig = Figure(figsize=(panel_inches * ncols, panel_inches * sum(heights) + (0.5 if title else 0.15) + 0.35 * blocks),
                 dpi=dpi, layout="constrained")
    grid = fig.add_gridspec(rows_per_block * blocks, ncols, height_ratios=heights)
    for i, label in enumerate(labels):
        image = checked[label]
        b = _box_for(box, first.shape, image.shape)
        block, col = divmod(i, ncols)
        row = block * rows_per_block
        if show_full:
            ax = fig.add_subplot(grid[row, col])
            _imshow(ax, image)
            ax.add_patch(Rectangle((b[0] - 0.5, b[1] - 0.5), b[2], b[3], fill=False, edgecolor=_EDGE, linewidth=1.5))
            ax.set_title(label, fontsize=9)
            row += 1
        ax = fig.add_subplot(grid[row, col])
        _imshow(ax, _crop(image, b))
        for spine in ax.spines.values():
            spine.set_edgecolor(_EDGE)
            spine.set_linewidth(1.5)
        if not show_full:
            ax.set_title(label, fontsize=9)
        if captions and label in captions:
            ax.set_xlabel(captions[label], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def image_strip(
    images: Mapping[str, np.ndarray],
    title: str | None = None,
    *,
    height_inches: float = 1.6,
    captions: Mapping[str, str] | None = None,
    dpi: int = 80,
) -> Figure:
    """Thumbnails side by side, each as wide as its aspect ratio needs; label (and optional caption) under each."""
    if not images:
        raise ConfigError("viz.image_strip: no images given")
    checked = {k: _check_image(k, v) for k, v in images.items()}
    ratios = [im.shape[1] / im.shape[0] for im in checked.values()]
    fig = Figure(figsize=(height_inches * sum(ratios) + 0.1 * len(ratios), height_inches + (0.8 if title else 0.5)),
                 dpi=dpi, layout="constrained")
    axes = fig.subplots(1, len(checked), width_ratios=ratios, squeeze=False)[0]
    for ax, (label, image) in zip(axes, checked.items()):
        _imshow(ax, image)
        text = label if not (captions and label in captions) else f"{label}\n{captions[label]}"
        ax.set_xlabel(text, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------------------------------
# interactive widget


def _figure_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def interactive_comparison(
    images_by_key: Mapping[tuple[Hashable, ...], np.ndarray],
    key_names: Sequence[str],
    *,
    reference: Mapping[Hashable, np.ndarray] | None = None,
    reference_label: str = "reference",
    box: Box | Callable[[tuple[Hashable, ...]], Box] | None = None,
    crop: int = 64,
    caption: Callable[[tuple[Hashable, ...]], str] | None = None,
    panel_inches: float = 2.6,
    dpi: int = 60,
) -> Any:
    """An ``ipywidgets`` viewer: one dropdown per component of the keys of ``images_by_key``.

    ``images_by_key``: ``(k1, k2, ...) -> image``, e.g. ``("baby", 4, "bicubic (MATLAB)") -> SR image``; every key
    has ``len(key_names)`` components, and ``key_names`` labels the dropdowns (e.g. ``("image", "scale",
    "method")``). Options keep the order in which values first appear in the keys.
    ``reference``: optional ``k1 -> image`` shown next to the selection (e.g. the HR image of each test image).
    ``box``: the zoom region on the selected image — a fixed box, a function of the key, or ``None`` for a centred
    ``crop`` x ``crop`` square. ``caption(key)``: optional text under the selection (e.g. its PSNR).
    A combination absent from ``images_by_key`` shows a one-line message instead of a figure.
    Returns a :class:`WidgetWithFallback` (display it, or make it a cell's last expression; ``.widget`` is the
    ``ipywidgets`` box). The figure is rendered to a PNG in an ``ipywidgets.Image``: it needs a live kernel to change;
    static pages (the built book, which loads no widget JavaScript) show the PNG of the first selection.
    """
    import ipywidgets as widgets  # optional dependency (the book extra)

    if not images_by_key:
        raise ConfigError("viz.interactive_comparison: no images given")
    n = len(key_names)
    for key in images_by_key:
        if not isinstance(key, tuple) or len(key) != n:
            raise ConfigError(f"viz.interactive_comparison: key {key!r} does not have {n} components {tuple(key_names)}")
    options: list[list[Hashable]] = [[] for _ in range(n)]
    for key in images_by_key:
        for i, part in enumerate(key):
            if part not in options[i]:
                options[i].append(part)
    dropdowns = [
        widgets.Dropdown(options=[(str(o), o) for o in opts], value=opts[0], description=str(name))
        for name, opts in zip(key_names, options)
    ]
    view = widgets.Image(format="png")
    message = widgets.HTML()

    def render(*_: Any) -> None:
        key = tuple(d.value for d in dropdowns)
        image = images_by_key.get(key)
        if image is None:
            message.value = f"<i>no image for {html.escape(repr(key))}</i>"
            view.layout.display = "none"
            return
        b = box(key) if callable(box) else box
        if b is None:
            b = centre_box(image.shape, crop)
        label = " / ".join(str(k) for k in key)
        panels: dict[str, np.ndarray] = {}
        if reference is not None and key[0] in reference:
            ref = reference[key[0]]
            panels[reference_label] = ref
            b = _box_for(b, image.shape, ref.shape)
        panels[label] = image
        captions = {label: caption(key)} if caption else None
        fig = compare_crops(panels, b, captions=captions, panel_inches=panel_inches, dpi=dpi)
        view.value = _figure_png(fig)
        view.layout.display = None
        message.value = ""

    for d in dropdowns:
        d.observe(render, names="value")
    render()
    first = " / ".join(str(d.value) for d in dropdowns)
    text = (f"interactive comparison ({', '.join(map(str, key_names))}), showing {first}; "
            "choosing another needs a live kernel")
    return WidgetWithFallback(widgets.VBox([widgets.HBox(dropdowns), message, view]), bytes(view.value or b""), text)


class WidgetWithFallback:
    """A widget with a static fallback in the same output: a live front end (Jupyter, Colab) shows the widget, a
    static page (the built book, nbviewer) shows ``png`` (the widget's first view) and a text line."""

    def __init__(self, widget: Any, png: bytes, text: str) -> None:
        self.widget, self.png, self.text = widget, png, text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = dict(self.widget._repr_mimebundle_())
        if self.png:
            bundle["image/png"] = base64.b64encode(self.png).decode("ascii")
        bundle["text/plain"] = self.text
        return bundle


# ----------------------------------------------------------------------------------------------------------------
# tables and notes


# Table / table: the package's one renderer, :mod:`sr_lib.tables` (imported above, part of this module's API).


class _Note:
    """An admonition box: HTML with the Sphinx admonition classes (styled by the book theme), readable text/plain."""

    def __init__(self, html_text: str, text: str) -> None:
        self._html, self._text = html_text, text

    def _repr_html_(self) -> str:
        return self._html

    def __repr__(self) -> str:
        return self._text


_KINDS = ("note", "warning", "important", "tip", "caution", "attention", "danger", "hint", "seealso")


def admonition(text: str, kind: str = "note", title: str | None = None) -> _Note:
    """A note/warning box to ``display()`` from a code cell (``text`` is plain text; it is HTML-escaped).

    Rendered as HTML with Sphinx's ``admonition <kind>`` classes, so the book theme draws it like a MyST
    admonition written in Markdown; its ``text/plain`` is ``"KIND: text"``.
    """
    if kind not in _KINDS:
        raise ConfigError(f"viz.admonition: unknown kind '{kind}' (one of {', '.join(_KINDS)})")
    head = title or kind.capitalize()
    body = (f'<div class="admonition {kind}"><p class="admonition-title">{html.escape(head)}</p>'
            f"<p>{html.escape(text)}</p></div>")
    return _Note(body, f"{head.upper()}: {text}")
