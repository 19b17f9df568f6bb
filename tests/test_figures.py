"""Smoke tests of the book's reusable figures (headless Agg backend, no files written)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from sr_lib.errors import ConfigError  # noqa: E402
from sr_lib.figures import (  # noqa: E402
    ConvLayer,
    FeatureMap,
    draw_conv_stack,
    draw_srcnn,
    error_maps,
    filter_grid,
    merge_luma,
    plot_psnr_curve,
)
from sr_lib.models.srcnn import SRCNN, SRCNNConfig  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


@pytest.mark.parametrize("f2", [1, 3, 5])
def test_draw_srcnn_labels_every_layer(f2: int) -> None:
    fig = draw_srcnn(SRCNNConfig(f2=f2))
    text = _texts(fig)
    for expected in ("9\u00d79 conv", f"{f2}\u00d7{f2} conv", "5\u00d75 conv", "n\u2081 = 64", "n\u2082 = 32",
                     "patch extraction", "non-linear", "reconstruction", f"9-{f2}-5"):
        assert expected in text
    fig.canvas.draw()


def test_draw_srcnn_into_given_axes_and_default_config() -> None:
    fig, (a, b) = plt.subplots(1, 2)
    assert draw_srcnn(ax=b) is fig
    assert not a.patches and b.patches


def test_draw_srcnn_rejects_wrong_config() -> None:
    with pytest.raises(ConfigError, match="f1, f2, f3, n1, n2"):
        draw_srcnn(object())


def test_draw_conv_stack_generic_and_checked() -> None:
    maps = [FeatureMap(3, "RGB in"), FeatureMap(64, "features"), FeatureMap(64, "features"), FeatureMap(3, "out")]
    layers = [ConvLayer(3, "head", None), ConvLayer(3, "body"), ConvLayer(3, "tail", None)]
    fig = draw_conv_stack(maps, layers, title="a stack")
    kernels = [p for p in fig.axes[0].patches if isinstance(p, Rectangle) and p.get_alpha() is not None]
    assert len(kernels) == len(layers)
    with pytest.raises(ConfigError, match="one more feature map"):
        draw_conv_stack(maps[:2], layers)
    with pytest.raises(ConfigError, match="kernel size"):
        draw_conv_stack(maps[:2], [ConvLayer(0, "bad")])


def test_filter_grid_from_model_and_array() -> None:
    model = SRCNN(SRCNNConfig())
    fig = filter_grid(model.conv1.weight, ncols=8, title="conv1")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (8 * 10 + 1, 8 * 10 + 1)
    assert filter_grid(np.zeros((5, 3, 3)), ncols=4).axes[0].images  # constant kernels do not divide by zero
    with pytest.raises(ConfigError, match="single-input-channel"):
        filter_grid(torch.zeros(4, 2, 3, 3))


def test_plot_psnr_curve() -> None:
    history = [{"iteration": 0, "seconds": 0.0, "val_psnr": 20.0}, {"iteration": 10, "seconds": 1.5, "val_psnr": 30.0}]
    fig = plot_psnr_curve(history, {"bicubic": 33.66, "official": 36.66})
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    assert list(ax.lines[0].get_xdata()) == [0.0, 1.5]
    assert plot_psnr_curve(history, x="iteration").axes[0].get_xlabel() == "iteration"
    clipped = plot_psnr_curve(history, {"bicubic": 33.66}, ymin=28.0).axes[0]
    assert clipped.get_ylim()[0] == 28.0 and clipped.get_ylim()[1] > 33.66
    assert any(list(line.get_ydata()) == [28.0] for line in clipped.lines)  # the 20 dB point, on the edge
    with pytest.raises(ConfigError):
        plot_psnr_curve([])
    with pytest.raises(ConfigError, match="val_psnr"):
        plot_psnr_curve([{"seconds": 1.0}])


def test_merge_luma_keeps_chroma_and_sets_luma() -> None:
    from sr_lib.color import rgb_to_ycbcr

    rng = np.random.default_rng(0)
    rgb = rng.integers(40, 200, size=(6, 7, 3)).astype(np.uint8)
    y = rgb_to_ycbcr(rgb)[..., 0] + 5.0
    out = merge_luma(y, rgb)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    back = rgb_to_ycbcr(out)
    assert np.abs(back[..., 0] - y).max() < 1.5  # up to the uint8 rounding of R, G, B
    assert np.abs(back[..., 1:] - rgb_to_ycbcr(rgb)[..., 1:]).max() < 1.5
    grey = merge_luma(np.full((4, 5), 100.4), np.zeros((4, 5), np.uint8))
    assert grey.dtype == np.uint8 and (grey == 100).all()
    with pytest.raises(ConfigError, match="do not match"):
        merge_luma(np.zeros((3, 3)), rgb)


def test_error_maps_shared_scale() -> None:
    ref = np.zeros((8, 10))
    fig = error_maps({"a": ref + 1, "b": ref + 3}, ref, title="errors", captions={"a": "1 dB"})
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 2 and all(im.get_clim() == (0.0, 3.0) for im in images)
    with pytest.raises(ConfigError, match="reference"):
        error_maps({"a": np.zeros((3, 3))}, ref)


def test_draw_vdsr_names_depth_and_receptive_field() -> None:
    from sr_lib.figures import draw_vdsr

    fig = draw_vdsr(depth=10, n_feats=32)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts) + fig.axes[0].get_title()
    assert "8 x residual_layer" in texts and "21\u00d721" in texts and "32 maps" in texts
    with pytest.raises(ConfigError, match="depth >= 3"):
        draw_vdsr(depth=2)


def test_plot_seed_curves_mean_and_range() -> None:
    from sr_lib.figures import plot_seed_curves

    hist = lambda *v: [{"iteration": 100 * i, "val_psnr": x} for i, x in enumerate(v)]  # noqa: E731
    fig = plot_seed_curves({"a": {0: hist(30.0, 32.0), 1: hist(31.0, 34.0)}, "b": {0: hist(29.0, 30.0)}},
                           {"bicubic": 31.5}, ymin=28.0)
    ax = fig.axes[0]
    mean_a = ax.lines[0]
    assert list(mean_a.get_ydata()) == [30.5, 33.0] and list(mean_a.get_xdata()) == [0, 100]
    assert "a (2 seeds)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ConfigError, match="at least one seed"):
        plot_seed_curves({"a": {}})
