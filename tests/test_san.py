"""SAN specifics: the Newton-Schulz square root, covariance pooling, the quadrant non-local module, SOCA's
large-image crop and the officially unused parameters (golden outputs are in tests/test_golden.py)."""

from __future__ import annotations

import fnmatch
import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from sr_lib.errors import DataError
from sr_lib.models import get_model_entry
from sr_lib.models.san import (
    SAN,
    SOCA,
    UNUSED_PARAMETERS,
    Nonlocal_CA,
    SANConfig,
    covariance_pool,
    soca_statistics_window,
    sqrtm_newton_schulz,
)


def _spd(eigenvalues: list[float], seed: int = 0) -> torch.Tensor:
    """A (1, n, n) float64 SPD matrix with the given eigenvalues and a random orthonormal basis."""
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(len(eigenvalues), len(eigenvalues), generator=g, dtype=torch.float64))
    return (q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ q.T).unsqueeze(0)


def _scalar_newton_schulz(lam: float, iterations: int = 5) -> float:
    """The same iteration on one eigenvalue of the trace-normalised matrix (it acts on each eigenvalue alone)."""
    t = (3 - lam) / 2
    y, z = lam * t, t
    for _ in range(iterations - 2):
        t = (3 - z * y) / 2
        y, z = y * t, t * z
    return y * (3 - z * y) / 2


def test_newton_schulz_is_the_scalar_iteration_on_each_eigenvalue() -> None:
    # Exact characterisation (independent of convergence): S = U diag(sqrt(tr) p(lambda_i / tr)) U^T.
    eig = [4.0, 2.5, 1.0, 0.3, 0.05]
    a = _spd(eig)
    trace = sum(eig)
    s = sqrtm_newton_schulz(a, 5)
    evals, evecs = torch.linalg.eigh(a[0])
    spectrum = [math.sqrt(trace) * _scalar_newton_schulz(float(v) / trace) for v in evals]
    expected = evecs @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ evecs.T
    torch.testing.assert_close(s[0], expected, rtol=0, atol=1e-12)


def test_newton_schulz_square_root_of_a_well_conditioned_matrix() -> None:
    # Five iterations converge when every eigenvalue of A = Sigma / tr(Sigma) is >= ~0.3: S @ S = Sigma to ~1e-7.
    eig = [1.0, 0.9, 0.8]  # normalised: 0.37, 0.33, 0.30
    a = _spd(eig, seed=1)
    s = sqrtm_newton_schulz(a, 5)[0]
    torch.testing.assert_close(s @ s, a[0], rtol=0, atol=1e-6 * max(eig))
    reference = torch.from_numpy(np.real(scipy.linalg.sqrtm(a[0].numpy())))
    torch.testing.assert_close(s, reference, rtol=0, atol=1e-6)
    # more iterations converge to the true square root
    torch.testing.assert_close(sqrtm_newton_schulz(a, 12)[0], reference, rtol=0, atol=1e-12)


def test_five_iterations_underestimate_small_normalised_eigenvalues() -> None:
    # Documented behaviour of the official iterN = 5: with C = 64 channels a typical eigenvalue of the
    # trace-normalised matrix is ~1/64, whose "square root" comes out ~23% too small (0.0957 instead of 0.125).
    assert _scalar_newton_schulz(0.25) == pytest.approx(0.5, rel=2e-6)
    assert _scalar_newton_schulz(1 / 64) == pytest.approx(0.09572, rel=1e-3)
    s = sqrtm_newton_schulz(torch.eye(64, dtype=torch.float64).unsqueeze(0), 5)[0]  # A = I/64
    torch.testing.assert_close(s, 8 * 0.09572 * torch.eye(64, dtype=torch.float64), rtol=1e-3, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_newton_schulz_keeps_the_input_dtype(dtype: torch.dtype) -> None:
    # The official Sqrtm allocates with the default dtype and fails for float64 unless the default is float64.
    assert torch.get_default_dtype() == torch.float32
    a = _spd([1.0, 0.9, 0.8]).to(dtype)
    s = sqrtm_newton_schulz(a.expand(2, 3, 3), 5)
    assert s.dtype == dtype and s.shape == (2, 3, 3)


def test_covariance_pool_equals_the_official_centring_matrix_formula() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 3, 4, generator=g, dtype=torch.float64)
    m = 12
    i_hat = (-1.0 / m / m) * torch.ones(m, m, dtype=torch.float64) + (1.0 / m) * torch.eye(m, dtype=torch.float64)
    flat = x.reshape(2, 5, m)
    expected = flat @ i_hat @ flat.transpose(1, 2)
    torch.testing.assert_close(covariance_pool(x), expected, rtol=0, atol=1e-13)


def _nonlocal_with_random_weights(channels: int = 16) -> Nonlocal_CA:
    torch.manual_seed(0)
    module = Nonlocal_CA(in_feat=channels, inter_feat=channels // 8, reduction=8).double()
    with torch.no_grad():  # the official zero init of W would make the block an identity
        module.non_local.W.weight.normal_()
        module.non_local.W.bias.normal_()
    return module


@pytest.mark.parametrize("hw", [(7, 9), (9, 7), (8, 10), (5, 4)])
def test_quadrant_split_with_odd_sizes(hw: tuple[int, int]) -> None:
    h, w = hw
    module = _nonlocal_with_random_weights()
    x = torch.randn(2, 16, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h1, w1 = int(h / 2), int(w / 2)  # top / left quadrants get the floor
    expected = torch.zeros_like(x)
    for rows in (slice(None, h1), slice(h1, None)):
        for cols in (slice(None, w1), slice(w1, None)):
            expected[:, :, rows, cols] = module.non_local(x[:, :, rows, cols])
    out = module(x)
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    # sub-sampling bug: g and phi are max-pooled by 2 (floor) although SAN asks for no sub-sampling
    assert module.non_local.phi(x[:, :, :h1, :w1]).shape[-2:] == (h1 // 2, w1 // 2)
    assert module.non_local.g(x[:, :, h1:, w1:]).shape[-2:] == ((h - h1) // 2, (w - w1) // 2)
    # attention never crosses a quadrant border
    x2 = x.clone()
    x2[:, :, 0, 0] += 10.0
    diff = (module(x2) - out).abs().amax(dim=(0, 1))
    assert diff[:h1, :w1].max() > 0
    assert diff[h1:, :].max() == 0 and diff[:, w1:].max() == 0


def test_too_small_input_is_a_clear_error() -> None:
    module = Nonlocal_CA(in_feat=16, inter_feat=2)
    with pytest.raises(DataError, match="at least 4x4"):
        module(torch.zeros(1, 16, 3, 8))


def test_soca_statistics_window_branches() -> None:
    n = 1000
    assert soca_statistics_window(999, 999) == (slice(None), slice(None))
    assert soca_statistics_window(678, 1020) == (slice(None), slice(10, 1010))  # DIV2K-size x2 LR image
    assert soca_statistics_window(1357, 600) == (slice(178, 1178), slice(None))
    assert soca_statistics_window(1200, 1100) == (slice(100, 1100), slice(50, 1050))
    assert soca_statistics_window(n, n) == (slice(0, n), slice(0, n))
    # official quirk at a side of exactly 1000: negative start on the shorter side
    rows, cols = soca_statistics_window(1000, 600)
    assert rows.indices(1000) == (0, 1000, 1) and cols.indices(600) == (400, 600, 1)
    rows, cols = soca_statistics_window(500, 1000)
    assert rows.indices(500) == (250, 500, 1) and cols.indices(1000) == (0, 1000, 1)
    assert soca_statistics_window(1000, 300)[1].indices(300) == (0, 300, 1)


def test_soca_uses_only_the_window_for_its_statistics() -> None:
    torch.manual_seed(0)
    soca = SOCA(8, reduction=2, max_side=6).double()  # small threshold instead of 1000
    with torch.no_grad():
        soca.conv_du[0].bias.fill_(1.0)  # keep the ReLU active so that the gate depends on the statistics
    x = torch.rand(1, 8, 5, 11, dtype=torch.float64) + 0.5
    weights = soca(x) / x
    rows, cols = soca_statistics_window(5, 11, 6)
    assert (rows, cols) == (slice(None), slice(2, 8))
    x2 = x.clone()
    x2[..., :2] += 1.0  # outside the window
    x2[..., 8:] *= 3.0
    torch.testing.assert_close(soca(x2) / x2, weights, rtol=1e-12, atol=0)
    x2[..., 4] += 1.0  # inside the window
    assert ((soca(x2) / x2) - weights).abs().max() > 1e-6


@pytest.fixture(scope="module")
def paper_san_x4() -> SAN:
    """The paper configuration at x4 (built once; only its parameters are inspected, no forward pass)."""
    return SAN(SANConfig(scale=4))


def test_unused_parameters_are_exactly_the_documented_ones(paper_san_x4: SAN) -> None:
    model = paper_san_x4
    entry = get_model_entry("san")
    assert entry.params_without_grad == UNUSED_PARAMETERS
    unused = {
        n: p.numel() for n, p in model.named_parameters() if any(fnmatch.fnmatch(n, pat) for pat in UNUSED_PARAMETERS)
    }
    expected_names = (
        {"conv_last.weight", "conv_last.bias"}
        | {f"RG.{i}.gamma" for i in range(20)}
        | {f"non_local.soca.conv_du.{i}.{k}" for i in (0, 2) for k in ("weight", "bias")}
    )
    assert set(unused) == expected_names
    assert unused["conv_last.weight"] + unused["conv_last.bias"] == 36_928
    assert sum(unused.values()) == 38_044
    assert sum(p.numel() for p in model.parameters()) == 15_860_512


def test_unused_parameters_match_the_official_manifest(golden_dir: Path, paper_san_x4: SAN) -> None:
    manifest = json.loads((golden_dir / "san" / "manifest_x4_paper.json").read_text())
    model = paper_san_x4
    ours = sorted(n for n, _ in model.named_parameters() if any(fnmatch.fnmatch(n, p) for p in UNUSED_PARAMETERS))
    assert ours == sorted(manifest["params_without_gradient_in_forward"])
    assert manifest["n_params_without_gradient_in_forward"] == 38_044


def test_float64_model_runs_under_the_default_float32_dtype() -> None:
    torch.manual_seed(0)
    model = SAN(SANConfig(scale=2, n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4)).double().eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 8, 6, dtype=torch.float64) * 255)
    assert out.dtype == torch.float64 and out.shape == (1, 3, 16, 12)


def test_first_order_ablation_has_the_same_weights_and_a_different_statistic() -> None:
    """Chapter 5: ``second_order=False`` swaps SOCA for RCAN's channel attention with the same parameter names."""
    from sr_lib.models.blocks import CALayer
    from sr_lib.models.san import SAN, SANConfig

    torch.manual_seed(0)
    cfg = dict(scale=2, n_resgroups=2, n_resblocks=1, n_feats=16, reduction=4)
    second, first = SAN(SANConfig(**cfg)).eval(), SAN(SANConfig(**cfg, second_order=False)).eval()
    first.load_state_dict(second.state_dict())  # strict: the same names and shapes
    assert isinstance(first.RG[0].soca, CALayer) and not isinstance(second.RG[0].soca, CALayer)
    x = torch.rand(1, 3, 12, 12) * 255
    with torch.no_grad():
        assert not torch.allclose(first(x), second(x))
