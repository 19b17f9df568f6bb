"""Every model fact lives in its registry entry, once: paper name and protocol, pinned official code, weights files,
checkpoint converter; the hub, the weights loader, the complexity tables and ``repro`` read them from there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import sr_lib
from sr_lib import hub, repro
from sr_lib.complexity import OFFICIAL_PARAM_COUNTS
from sr_lib.evaluate import PROTOCOLS
from sr_lib.models import create_model, get_model_entry, list_models
from sr_lib.models.official import all_ports
from sr_lib.papers import paper_results, paper_results_for
from sr_lib.weights import entry_of, load_weights, read_state_dict

ENTRIES = [get_model_entry(n) for n in list_models()]
SOURCES = sorted(Path(sr_lib.__file__).parent.rglob("*.py"))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_metadata_is_complete(entry) -> None:
    assert entry.reference_protocol in PROTOCOLS
    assert repro.reference_protocol(entry.name) == entry.reference_protocol
    if entry.official_code is None:  # only what follows no code at all
        assert entry.name in {"bicubic", "cmsc"}
    else:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", entry.official_code)
    for w in entry.weights:
        assert w.model == entry.name
        assert w.source.startswith(f"{entry.official_code}:"), "weights sources derive their pin from official_code"


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.paper_name], ids=lambda e: e.name)
def test_paper_names_resolve_in_paper_results(entry) -> None:
    assert paper_results(entry.paper_name, degradation=None, primary_only=False), entry.paper_name
    rows = paper_results_for(entry.name)
    assert rows, f"{entry.name}: no primary row for {entry.paper_name} / {entry.paper_variant}"
    if entry.paper_variant:  # a pinned variant selects one group of rows: one number per scale, set, setting
        keys = [(r["scale"], r["dataset"], r["degradation"]) for r in rows]
        assert len(keys) == len(set(keys))
    assert repro.paper_name(entry.name) == entry.paper_name


def test_presets_without_paper_rows_are_the_documented_ones() -> None:
    assert {e.name for e in ENTRIES if e.paper_name is None} == {"cmsc", "srcnn-935", "srcnn-915"}
    assert paper_results_for("cmsc") == [] and repro.paper_name("srcnn-915") == "SRCNN-915"  # no row found
    assert {r["variant"].split(" ")[0] for r in paper_results_for("dan-v2", 4, "Set5")} == {"DANv2"}


def test_official_ports_and_counts_take_their_pin_from_the_registry() -> None:
    codes = {e.official_code for e in ENTRIES if e.official_code}
    for name, port in all_ports().items():
        assert any(port.source.startswith(f"{code}:") for code in codes), name
    for count in OFFICIAL_PARAM_COUNTS:
        assert count.source == f"{get_model_entry(count.model).official_code}:{count.location}"


def test_every_commit_pin_is_written_once() -> None:
    seen: dict[str, list[str]] = {}
    for path in SOURCES:
        for commit in re.findall(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])", path.read_text()):
            seen.setdefault(commit, []).append(path.name)
    assert seen and {c: p for c, p in seen.items() if len(p) > 1} == {}


def test_hub_reads_the_weights_from_the_registry() -> None:
    in_entries = [w for e in ENTRIES for w in e.weights]
    assert [w for w in hub.list_weights() if w.model is not None] == in_entries
    assert hub.find_weights("srcnn", 3) is get_model_entry("srcnn").weights[1]
    assert {w.path for w in hub.list_weights() if w.model is None} == {
        "dan_aux/pca_matrix/IKC/pca_matrix.pth", "torchvision/vgg19-dcbb9e9d.pth", "niqe/niqe_pris_params.npz"}


# ---------------------------------------------------------------------------------------- checkpoint filters


def test_checkpoint_filters_convert_official_files_and_pass_our_state_dicts(weights_dir, tmp_path) -> None:
    srcnn = get_model_entry("srcnn")
    mat = read_state_dict(weights_dir / "srcnn" / "9-5-5_ImageNet" / "x3.mat", "srcnn")
    assert mat["conv2.weight"].shape == (32, 64, 5, 5)
    vdsr = read_state_dict(weights_dir / "vdsr" / "model_epoch_50.pth", "vdsr-nobias")
    assert list(vdsr) == list(create_model("vdsr-nobias", 2).state_dict())
    # a state dict of our own (e.g. a training run's) goes through the same filters unchanged, also wrapped
    for name in ("srcnn", "vdsr-nobias", "rcan"):
        torch.manual_seed(0)
        ours = create_model(name, 2, tiny=True)
        path = tmp_path / f"{name}.pt"
        torch.save({"model": ours.state_dict(), "iteration": 3}, path)
        fresh = create_model(name, 2, tiny=True)
        load_weights(fresh, path, name)
        assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), fresh.state_dict().values()))
    assert entry_of(create_model("srcnn-915", 3, tiny=True)) is srcnn  # the family's entry (same filter)
    assert entry_of(torch.nn.Conv2d(1, 1, 1)) is None
