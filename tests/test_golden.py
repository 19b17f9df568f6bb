"""Our models reproduce the *official* implementations (``$SR_GOLDEN_DIR/<model>/golden_*.pt``).

Every golden file found is one test: build our module from the stored official ``constructor_args``, load the
official state dict with ``strict=True`` (through the port's key converter), run in float64 and compare every
stored output (``output`` and the model-specific extras) with rtol 1e-5, atol 1e-6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import golden_files, require_dir
from sr_lib.models.official import all_ports, get_port

GOLDEN = golden_files("*/golden_*.pt")
META_KEYS = {"state_dict", "input", "config"}


def _compare(name: str, ours: Any, ref: Any) -> float:
    """Recursively compare tensors / lists / dicts; return the max abs error."""
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"{name}: expected a tensor"
        assert ours.shape == ref.shape, f"{name}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
        torch.testing.assert_close(ours.double(), ref, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")
        return float((ours.double() - ref).abs().max()) if ref.numel() else 0.0
    if isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref), f"{name}: {len(ours)} items != {len(ref)}"
        return max((_compare(f"{name}[{i}]", o, r) for i, (o, r) in enumerate(zip(ours, ref))), default=0.0)
    if isinstance(ref, dict):
        assert set(ours) == set(ref), f"{name}: keys {sorted(ours)} != {sorted(ref)}"
        return max((_compare(f"{name}.{k}", ours[k], ref[k]) for k in ref), default=0.0)
    raise TypeError(f"{name}: cannot compare {type(ref)}")


def test_golden_files_are_present() -> None:
    base = require_dir("SR_GOLDEN_DIR")
    assert GOLDEN, f"no golden_*.pt under {base}"


def test_every_golden_directory_has_a_port() -> None:
    base = require_dir("SR_GOLDEN_DIR")
    dirs = {p.parent.name for p in base.glob("*/golden_*.pt")}
    missing = dirs - set(all_ports())
    assert not missing, f"golden directories without an OfficialPort: {sorted(missing)}"


@pytest.mark.parametrize("path", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
def test_reproduces_official_output(path: Path) -> None:
    golden = torch.load(path, weights_only=True)
    port = get_port(path.parent.name)
    model = port.build(golden["config"]["constructor_args"])
    model.load_state_dict(port.from_official(golden["state_dict"]), strict=True)
    model = model.double().eval()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.no_grad():
            outputs = port.run(model, golden["input"])
    finally:
        torch.set_default_dtype(previous)
    expected = {k: v for k, v in golden.items() if k not in META_KEYS}
    assert set(outputs) == set(expected), f"outputs {sorted(outputs)} != golden keys {sorted(expected)}"
    max_err = max(_compare(k, outputs[k], expected[k]) for k in expected)
    print(f"{path.parent.name}/{path.name}: max abs error {max_err:.3g}")
