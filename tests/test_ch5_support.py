"""Chapter 5 (RCAN and SAN): the key-idea figure, the Newton-Schulz benchmark and the facts the chapter states about
the square root and the cost of second-order attention."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from sr_lib.complexity import count_macs, count_parameters  # noqa: E402
from sr_lib.errors import ConfigError  # noqa: E402
from sr_lib.models.rcan import RCANConfig  # noqa: E402
from sr_lib.models.san import SAN, SANConfig, sqrtm_eigh, sqrtm_newton_schulz  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks" / "newton_schulz.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_newton_schulz", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _drawn(fig) -> tuple[str, dict[str, object]]:
    ax = fig.axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    parts = {a.get_gid(): a for a in [*ax.patches, *ax.lines] if a.get_gid()}
    return texts, parts


def test_draw_rcan_shows_the_paper_network_its_three_skips_and_the_gate() -> None:
    from sr_lib.figures import draw_rcan

    texts, parts = _drawn(draw_rcan())
    assert "RG 10" in texts and "RCAB 20" in texts and "\u22ef" in texts  # G = 10, B = 20: the middle is elided
    assert "64\u21924, ReLU" in texts and "4\u219264" in texts  # reduction 16
    assert "removed" not in texts
    for skip in ("long_skip", "short_skip", "local_skip"):
        assert parts[skip].get_linestyle() == "-"
    assert all(parts[k].get_linestyle() == "-" for k in ("pool", "down", "upc", "sig"))


def test_draw_rcan_greys_out_what_an_ablation_removes() -> None:
    from sr_lib.figures import draw_rcan

    config = RCANConfig(scale=2, n_resgroups=3, n_resblocks=2, n_feats=16, reduction=4, long_skip=False,
                        channel_attention=False)
    texts, parts = _drawn(draw_rcan(config, title="ablation"))
    assert parts["long_skip"].get_linestyle() == "--" and parts["short_skip"].get_linestyle() == "-"
    assert all(parts[k].get_linestyle() == "--" for k in ("pool", "down", "upc", "sig"))
    assert "channel attention: removed" in texts and "RG 3" in texts and "RCAB 2" in texts
    assert "\u22ef" not in texts and "RCAB 3" not in texts  # small networks are drawn block by block
    assert draw_rcan(replace(config, short_skip=False)).axes[0].texts  # every switch draws


class _Sizes:  # any object with the four sizes (RCANConfig itself refuses C // r < 1)
    def __init__(self, g: int, b: int, c: int, r: int) -> None:
        self.n_resgroups, self.n_resblocks, self.n_feats, self.reduction = g, b, c, r


def test_draw_rcan_refuses_a_bad_config() -> None:
    from sr_lib.figures import draw_rcan

    with pytest.raises(ConfigError, match="needs a config"):
        draw_rcan(object())
    with pytest.raises(ConfigError, match="C // r >= 1"):
        draw_rcan(_Sizes(2, 2, 8, 16))
    with pytest.raises(ConfigError, match="G, B >= 1"):
        draw_rcan(_Sizes(0, 2, 16, 4))


def test_newton_schulz_gradient_is_finite_where_eigenvalues_repeat() -> None:
    """The chapter's stability claim for the package's square root: a covariance with a repeated eigenvalue (the
    case where the backward of an eigendecomposition divides by zero) has a finite Newton-Schulz gradient."""
    cov = torch.diag(torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)).unsqueeze(0).requires_grad_()
    weight = torch.arange(9.0, dtype=torch.float64).view(1, 3, 3)
    (grad,) = torch.autograd.grad((sqrtm_newton_schulz(cov, 5) * weight).sum(), cov)
    assert torch.isfinite(grad).all() and grad.abs().max() > 0


@pytest.mark.parametrize("feats, groups", [(16, 2), (32, 3)])
def test_second_order_attention_costs_only_the_covariance_and_the_square_root(feats: int, groups: int) -> None:
    """Chapter 5's study compares SAN with SOCA and with RCAN's channel attention: same weights, and the extra
    multiply-accumulates per image are exactly G x (covariance C^2 M + Newton-Schulz (3k - 3) C^3), k = 5."""
    cfg = dict(scale=2, n_resgroups=groups, n_resblocks=2, n_feats=feats, reduction=4)
    second, first = SAN(SANConfig(**cfg)), SAN(SANConfig(**cfg, second_order=False))
    assert count_parameters(second) == count_parameters(first)
    h, w = 12, 10
    extra = count_macs(second, (1, 3, h, w)) - count_macs(first, (1, 3, h, w))
    assert extra == groups * (feats**2 * h * w + (3 * 5 - 3) * feats**3)


def test_benchmark_writes_ratios_against_eigh_and_counted_macs(tmp_path: Path, capsys) -> None:
    bench = _bench_module()
    cov = bench.covariances(6, 2, torch.float64, torch.device("cpu"))
    root = sqrtm_eigh(cov)
    torch.testing.assert_close(root @ root, cov, rtol=0, atol=1e-12)
    out = tmp_path / "bench.json"
    assert bench.main(["--channels", "4", "8", "--batch", "2", "--iterations", "3", "5", "--repeat", "1",
                       "--warmup", "0", "--json", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["kind"] == "bench" and data["reference"] == "eigh" and "git_commit" in data["provenance"]
    for result in data["results"]:
        c, methods = result["channels"], result["methods"]
        assert list(methods) == ["eigh", "ns-3", "ns-5"]
        assert methods["eigh"]["forward"]["ratio_vs_eigh"] == 1.0 and methods["eigh"]["macs"] is None
        for k in (3, 5):
            assert methods[f"ns-{k}"]["macs"] == (3 * k - 3) * 2 * c**3  # 3k - 3 batched C x C products
            assert methods[f"ns-{k}"]["finite_gradient"]
        assert methods["ns-5"]["relative_error_vs_eigh"] < methods["ns-3"]["relative_error_vs_eigh"]


def test_benchmark_refuses_bad_arguments_in_one_line() -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--iterations", "1"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and proc.stderr.strip().splitlines() == [
        "newton_schulz: error: --channels and --iterations must be >= 2 (Newton-Schulz needs at least 2 iterations)"]
