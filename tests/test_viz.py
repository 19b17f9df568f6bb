"""Smoke tests of sr_lib.viz (the chapters' plotting, table and widget helpers), on the Agg backend."""

from __future__ import annotations

import base64

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.figure import Figure

from sr_lib import viz
from sr_lib.errors import ConfigError


@pytest.fixture
def images() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    return {"HR": hr, "float": hr.astype(np.float64) + 0.3, "grey": hr[..., 0], "LR x4": hr[::4, ::4]}


def test_compare_crops_layout(images):
    fig = viz.compare_crops(images, (8, 12, 16, 16), title="t", captions={"float": "1.00 dB"})
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * len(images)  # a full image and a crop per entry
    crops = fig.axes[1::2]
    assert crops[0].images[0].get_array().shape[:2] == (16, 16)
    assert crops[3].images[0].get_array().shape[:2] == (4, 4)  # the box scaled onto the x4 LR image
    assert crops[1].get_xlabel() == "1.00 dB"


def test_compare_crops_crops_only_wraps(images):
    fig = viz.compare_crops(images, (0, 0, 8, 8), show_full=False, max_columns=3)
    assert len(fig.axes) == len(images)
    assert fig.axes[0].get_gridspec().nrows == 2


def test_compare_crops_keeps_box_on_nearly_same_size(images):
    hr = images["HR"]
    fig = viz.compare_crops({"a": hr, "b": hr[:-1, :-1]}, (4, 4, 10, 10), show_full=False)
    assert [ax.images[0].get_array().shape[:2] for ax in fig.axes] == [(10, 10), (10, 10)]


@pytest.mark.parametrize("box", [(30, 0, 16, 16), (0, 0, 0, 5), (0, 0, 5), (0.5, 0, 4, 4)])
def test_compare_crops_rejects_bad_boxes(images, box):
    with pytest.raises(ConfigError):
        viz.compare_crops(images, box)


def test_compare_crops_rejects_bad_images():
    with pytest.raises(ConfigError):
        viz.compare_crops({}, (0, 0, 1, 1))
    with pytest.raises(ConfigError):
        viz.compare_crops({"x": np.zeros((4, 4, 4), np.uint8)}, (0, 0, 1, 1))


def test_boxes():
    assert viz.centre_box((48, 40, 3), 16) == (12, 16, 16, 16)
    assert viz.centre_box((10, 10), (30, 4)) == (0, 3, 10, 4)
    assert viz.scale_box((8, 12, 16, 16), (48, 40), (12, 10)) == (2, 3, 4, 4)


def test_image_strip(images):
    fig = viz.image_strip(images, title="set", captions={"HR": "40x48"})
    assert len(fig.axes) == len(images)
    assert fig.axes[0].get_xlabel() == "HR\n40x48"


def test_table_text_and_html():
    t = viz.table([{"name": "Set5", "psnr": 33.6456, "n": 5, "ok": True, "x": None},
                   {"name": "B100", "psnr": float("nan"), "n": 100, "ok": False, "x": 1.0}],
                  formats={"psnr": ".3f"}, caption="cap")
    text = repr(t)
    assert text.splitlines()[0] == "cap"
    assert "33.646" in text and "yes" in text and "—" in text
    assert text == repr(t)  # deterministic
    html = t._repr_html_()
    assert html.startswith("<table><caption>cap</caption>") and html.count("<tr>") == 3
    with pytest.raises(ConfigError):
        viz.Table(["a", "b"], [[1]])


def test_admonition():
    note = viz.admonition("Demo <data>", "warning", "Heads up")
    assert repr(note) == "HEADS UP: Demo <data>"
    assert 'class="admonition warning"' in note._repr_html_() and "&lt;data&gt;" in note._repr_html_()
    with pytest.raises(ConfigError):
        viz.admonition("x", "nonsense")


def test_interactive_comparison(images):
    pytest.importorskip("ipywidgets")
    hr = images["HR"]
    sr = {("a", 2, "m1"): hr, ("a", 2, "m2"): hr[..., ::-1].copy(), ("b", 3, "m1"): hr[..., 0]}
    w = viz.interactive_comparison(sr, ("image", "scale", "method"), reference={"a": hr, "b": hr},
                                   caption=lambda k: f"{k[2]}", crop=8)
    bundle = w._repr_mimebundle_()  # a live front end shows the widget, a static page the PNG of the first view
    assert "application/vnd.jupyter.widget-view+json" in bundle and "a / 2 / m1" in bundle["text/plain"]
    assert base64.b64decode(bundle["image/png"]) == bytes(w.widget.children[2].value)
    w = w.widget
    dropdowns = w.children[0].children
    view = w.children[2]
    assert [d.description for d in dropdowns] == ["image", "scale", "method"]
    assert [o[1] for o in dropdowns[1].options] == [2, 3]
    first = bytes(view.value)
    assert first.startswith(b"\x89PNG")
    dropdowns[2].value = "m2"
    assert bytes(view.value) != first
    dropdowns[1].value = 3  # ("a", 3, "m2") does not exist
    assert "no image" in w.children[1].value
    with pytest.raises(ConfigError):
        viz.interactive_comparison({("a",): hr}, ("image", "scale"))
