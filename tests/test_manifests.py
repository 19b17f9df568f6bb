"""Full paper configurations have exactly the official state-dict keys, shapes and parameter counts
(``$SR_GOLDEN_DIR/<model>/manifest_*.json``), so official checkpoints load with ``strict=True``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import golden_files
from sr_lib.models.blocks import MeanShift
from sr_lib.models.official import all_ports

# SRCNN's manifest describes MATLAB .mat variables, not a state dict: tests/test_srcnn.py covers it.
MANIFESTS = [p for p in golden_files("*/manifest_*.json") if p.parent.name != "srcnn"]


@pytest.mark.parametrize("path", MANIFESTS, ids=[f"{p.parent.name}/{p.stem}" for p in MANIFESTS])
def test_state_dict_matches_official_manifest(path: Path) -> None:
    manifest = json.loads(path.read_text())
    ports = all_ports()
    assert path.parent.name in ports, f"no OfficialPort for {path.parent.name}"
    port = ports[path.parent.name]
    model = port.build(manifest["constructor_args"])
    ours = port.to_official(model.state_dict())
    expected = {key: list(shape) for key, shape, *_ in manifest["state_dict"]}
    got = {key: list(t.shape) for key, t in ours.items()}
    assert sorted(got) == sorted(expected), (
        f"missing: {sorted(set(expected) - set(got))[:5]}, unexpected: {sorted(set(got) - set(expected))[:5]}"
    )
    assert got == expected, "state-dict shapes differ"
    # the converter must round-trip, so an official checkpoint loads with strict=True
    model.load_state_dict(port.from_official(ours), strict=True)

    n_total = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_meanshift = sum(p.numel() for m in model.modules() if isinstance(m, MeanShift) for p in m.parameters())
    assert n_total == manifest["n_params_total"]
    assert n_trainable == manifest["n_params_trainable"]
    assert n_meanshift == manifest["n_params_meanshift"]
    assert len(ours) == manifest["n_state_dict_entries"]
