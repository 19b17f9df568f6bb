"""Chapter 7 (MSRN and CMSC): the key-idea figure and the block arithmetic the chapter states."""

from __future__ import annotations

import pytest

from sr_lib.errors import ConfigError
from sr_lib.models.blocks import ResBlock
from sr_lib.models.msrn import MSRB, PLAIN_BLOCKS_PER_MSRB


def test_draw_msrb_draws_both_paths_their_cross_the_confusion_and_the_skip() -> None:
    from sr_lib.figures import draw_msrb

    fig = draw_msrb(n_feats=32)
    ax = fig.axes[0]
    edges = {p.get_gid() for p in ax.patches if p.get_gid()}
    crossing = {"S1->S2", "S1->P2", "P1->S2", "P1->P2"}  # both second layers read [S1, P1]
    assert crossing <= edges and {"in->S1", "in->P1", "S2->conf", "P2->conf", "conf->add", "skip"} <= edges
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "conv 3\u00d73\n32\u219232" in texts and "conv 5\u00d75\n64\u219264" in texts
    assert "conv 1\u00d71\n128\u219232" in texts
    assert f"({sum(p.numel() for p in MSRB(32).parameters()):,} parameters)" in ax.get_title()
    assert draw_msrb(8, title="custom").axes[0].get_title() == "custom"


@pytest.mark.parametrize("bad", [0, -4, 2.5])
def test_draw_msrb_refuses_a_bad_width(bad) -> None:
    from sr_lib.figures import draw_msrb

    with pytest.raises(ConfigError, match="positive channel count"):
        draw_msrb(bad)


@pytest.mark.parametrize("c", [4, 16, 64])
def test_msrb_weights_and_the_plain_blocks_that_match_them(c: int) -> None:
    """The chapter's count: an MSRB holds 174 C^2 weights + 7 C biases, a plain residual block 18 C^2 + 2 C, and
    PLAIN_BLOCKS_PER_MSRB (10: 180 C^2) is the number of plain blocks whose weights come closest."""
    msrb = sum(p.numel() for p in MSRB(c).parameters())
    plain = sum(p.numel() for p in ResBlock(c, 3).parameters())
    assert msrb == 174 * c * c + 7 * c and plain == 18 * c * c + 2 * c
    assert PLAIN_BLOCKS_PER_MSRB == min(range(1, 20), key=lambda n: abs(n * 18 - 174))
