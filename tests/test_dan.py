"""DAN v1/v2 specifics: the official oddities (fixed Estimator, hard-coded 10 codes, DPCG doubling), the PCA
buffers, per-iteration outputs and stop-gradients. The generic golden/manifest/registry tests cover the rest."""

from __future__ import annotations

import pickle

import pytest
import torch

from conftest import require_dir
from sr_lib.errors import ConfigError, WeightsError
from sr_lib.models import create_model, get_model_entry
from sr_lib.models.dan import DANv1, DANv2, DPCG, load_pca_matrix
from sr_lib.models.official import get_port


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------------------------- DPCG doubling


def test_dpcg_group_residual_doubles_by_default() -> None:
    torch.manual_seed(0)
    group = DPCG(8, 8, 3, 1, nb=2)
    f1, f2 = _rand(1, 8, 6, 5), _rand(1, 8, 1, 1, seed=1)
    c1, c2 = f1, f2
    for block in group.body:
        c1, c2 = block(c1, c2)
    y1, y2 = group(f1, f2)
    torch.testing.assert_close(y1, 2 * c1, rtol=0, atol=0)
    torch.testing.assert_close(y2, 2 * c2, rtol=0, atol=0)
    group.fix_group_residual = True
    y1, y2 = group(f1, f2)
    torch.testing.assert_close(y1, c1 + f1, rtol=0, atol=0)
    torch.testing.assert_close(y2, c2 + f2, rtol=0, atol=0)


def test_v2_doubling_flag_changes_the_output_and_default_matches_golden() -> None:
    path = require_dir("SR_GOLDEN_DIR", "dan_v2", "golden_tiny_x2.pt")
    golden = torch.load(path, weights_only=True)
    args = {k: v for k, v in golden["config"]["constructor_args"].items() if k != "pca_matrix_path"}
    outputs = {}
    for fix in (False, True):
        model = DANv2(None, **args, fix_group_residual=fix)
        model.load_state_dict(golden["state_dict"], strict=True)  # same keys: the flag adds no parameter
        model = model.double().eval()
        with torch.no_grad():
            outputs[fix] = model(golden["input"])
    torch.testing.assert_close(outputs[False].srs[-1], golden["output"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs[False].kernels[-1], golden["kernel"], rtol=1e-5, atol=1e-6)
    assert (outputs[True].srs[-1] - golden["output"]).abs().max() > 1e-3
    assert (outputs[True].kernels[-1] - golden["kernel"]).abs().max() > 1e-6


# --------------------------------------------------------------------------------------------------- oddities


def test_estimator_width_is_fixed_whatever_nf() -> None:
    for nf in (16, 64):
        model = DANv1(nf=nf, nb=1, upscale=4)
        assert sum(p.numel() for p in model.Estimator.parameters()) == 288_596
    small, large = DANv2(nf=16, nb=1, ng=1, upscale=3), DANv2(nf=64, nb=1, ng=1, upscale=3)
    assert sum(p.numel() for p in small.Estimator.parameters()) == sum(p.numel() for p in large.Estimator.parameters())
    assert sum(p.numel() for p in large.Estimator.parameters()) == 250_809  # manifest, setting 1 x3


def test_v1_config_errors() -> None:
    with pytest.raises(ConfigError, match="10"):
        DANv1(nf=16, nb=1, input_para=15)
    with pytest.raises(ConfigError, match="nf >= 16"):
        DANv1(nf=8, nb=1)
    with pytest.raises(ConfigError, match="shape"):
        DANv1(torch.zeros(121, 10), nf=16, nb=1, kernel_size=21)


@pytest.mark.parametrize(
    "cls,kwargs,expected",
    [
        (DANv1, dict(nb=40), {2: 4_181_799, 3: 4_366_439, 4: 4_329_511}),
        (DANv2, dict(nb=10, ng=5), {2: 4_540_028, 3: 4_733_116, 4: 4_707_708}),
    ],
)
def test_paper_parameter_counts(cls: type, kwargs: dict, expected: dict[int, int]) -> None:
    for scale, count in expected.items():
        model = cls(nf=64, upscale=scale, kernel_size=21, input_para=10, loop=4, **kwargs)
        assert sum(p.numel() for p in model.parameters()) == count


# --------------------------------------------------------------------------------------------------- PCA buffers


def test_buffers_and_placeholder() -> None:
    model = DANv2(nf=16, nb=1, ng=1, upscale=2)
    sd = model.state_dict()
    assert sd["encoder"].shape == (1, 441, 10) and sd["init_kernel"].shape == (1, 21, 21)
    assert sd["init_ker_map"].shape == (1, 10)
    assert sd["init_kernel"].sum() == 1 and sd["init_kernel"][0, 10, 10] == 1
    assert not model.pca_matrix_loaded and sd["encoder"].abs().sum() == 0
    matrix = _rand(441, 10, seed=3)
    model.set_pca_matrix(matrix)
    assert model.pca_matrix_loaded
    torch.testing.assert_close(model.encoder[0], matrix)
    torch.testing.assert_close(model.init_ker_map, matrix[220:221])  # code of the centred Dirac = centre row
    with pytest.raises(ConfigError):
        model.set_pca_matrix(torch.zeros(441, 15))


def test_load_pca_matrix_real_files_and_errors(tmp_path) -> None:
    base = require_dir("SR_WEIGHTS_DIR", "dan_aux", "pca_matrix")
    m1 = load_pca_matrix(base / "DANv1" / "pca_matrix.pth", kernel_size=21, code_length=10)
    assert m1.shape == (441, 10) and m1.dtype == torch.float32
    m2 = load_pca_matrix(base / "DANv2" / "pca_aniso_matrix_x4.pth", kernel_size=31, code_length=15)
    model = DANv2(m2, nf=16, nb=1, ng=1, upscale=4, kernel_size=31, input_para=15)  # setting 2 x4
    torch.testing.assert_close(model.init_ker_map, m2[480:481])
    model = DANv1(m1, nf=16, nb=1, upscale=2)
    torch.testing.assert_close(model.init_ker_map, m1[220:221])
    with pytest.raises(WeightsError, match="rows"):
        load_pca_matrix(base / "DANv1" / "pca_matrix.pth", kernel_size=11)
    with pytest.raises(WeightsError, match="not found"):
        load_pca_matrix(tmp_path / "missing.pth")
    torch.save({"a": 1}, tmp_path / "dict.pth")
    with pytest.raises(WeightsError, match="one float tensor"):
        load_pca_matrix(tmp_path / "dict.pth")
    (tmp_path / "evil.pth").write_bytes(pickle.dumps(ConfigError("x"), protocol=2))
    with pytest.raises(WeightsError):
        load_pca_matrix(tmp_path / "evil.pth")


def test_golden_state_dict_carries_the_real_pca_matrix() -> None:
    golden = torch.load(require_dir("SR_GOLDEN_DIR", "dan_v1", "golden_tiny_x4.pt"), weights_only=True)
    model = get_port("dan_v1").build(golden["config"]["constructor_args"])
    assert not model.pca_matrix_loaded
    model.load_state_dict(golden["state_dict"], strict=True)
    assert model.pca_matrix_loaded


# --------------------------------------------------------------------------------------------------- forward


def test_per_iteration_outputs_and_kernel_softmax() -> None:
    torch.manual_seed(0)
    model = DANv2(_rand(441, 10, seed=5), nf=16, nb=1, ng=1, upscale=2, loop=3).eval()
    x = _rand(2, 3, 10, 9)
    with torch.no_grad():
        out = model(x)
    assert len(out.srs) == len(out.ker_maps) == len(out.kernels) == 3
    assert out.srs[-1].shape == (2, 3, 20, 18) and out.kernels[-1].shape == (2, 441)
    for kernel, code in zip(out.kernels, out.ker_maps):
        torch.testing.assert_close(kernel.sum(1), torch.ones(2))
        assert (kernel >= 0).all()
        torch.testing.assert_close(code, kernel @ model.encoder[0])
    torch.manual_seed(0)
    v1 = DANv1(nf=16, nb=1, upscale=3, loop=2).eval()
    with torch.no_grad():
        out1 = v1(x)
    assert len(out1) == 2 and len(out1.srs) == 2 and out1.ker_maps[0].shape == (2, 10)
    assert out1.srs[0].shape == (2, 3, 30, 27)


@pytest.mark.parametrize("cls", [DANv1, DANv2])
def test_stop_gradients_between_restorer_and_estimator(cls: type) -> None:
    torch.manual_seed(0)
    model = cls(nf=16, nb=1, upscale=2, loop=2)
    out = model(_rand(1, 3, 8, 8))
    out.srs[-1].sum().backward()
    assert all(p.grad is None for p in model.Estimator.parameters())
    assert all(p.grad is not None for p in model.Restorer.parameters())
    model.zero_grad(set_to_none=True)
    out = model(_rand(1, 3, 8, 8))
    out.ker_maps[-1].sum().backward()
    assert all(p.grad is None for p in model.Restorer.parameters())
    assert all(p.grad is not None for p in model.Estimator.parameters())


def test_registry_presets() -> None:
    for name in ("dan-v1", "dan-v2"):
        entry = get_model_entry(name)
        assert entry.scales == (2, 3, 4) and not entry.tile_safe and entry.input.color == "rgb"
        assert entry.input.pixel_max == 1.0
        torch.manual_seed(0)
        model = create_model(name, 3, tiny=True).eval()
        x = _rand(1, 3, 12, 10)
        with torch.no_grad():
            torch.testing.assert_close(entry.predict(model, x), model(x).srs[-1])


# --------------------------------------------------------------------------------------------------- building


class _RecordingEnviron(dict):
    """An empty ``os.environ`` that records every key read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __getitem__(self, key):  # type: ignore[override]
        self.reads.append(key)
        return super().__getitem__(key)

    def get(self, key, default=None):  # type: ignore[override]
        self.reads.append(key)
        return super().get(key, default)

    def __contains__(self, key) -> bool:  # type: ignore[override]
        self.reads.append(key)
        return super().__contains__(key)


@pytest.mark.parametrize("name", ["dan-v1", "dan-v2"])
def test_presets_build_without_reading_the_environment_or_files(name: str, monkeypatch) -> None:
    import os

    get_model_entry(name)  # registry loaded before the environment is replaced
    environ = _RecordingEnviron()
    monkeypatch.setattr(os, "environ", environ)
    tiny = create_model(name, 2, tiny=True)
    variant = create_model(name, 3, options={"nf": 16, "nb": 1})
    assert environ.reads == []
    assert not tiny.pca_matrix_loaded and not variant.pca_matrix_loaded  # the zero placeholder, whatever the env says


def test_make_options_and_their_errors() -> None:
    v1 = create_model("dan-v1", 4, options={"nf": 16, "nb": 1, "loop": 2})
    assert isinstance(v1, DANv1) and v1.scale == 4 and v1.loop == 2 and len(v1.Restorer.body) == 1
    v2 = create_model("dan-v2", 2, options={"nf": 16, "nb": 1, "ng": 1})
    assert isinstance(v2, DANv2) and len(v2.Restorer.body) == 1 and v2.ksize == 21
    bad = (("dan-v1", {"nf": 16, "nbb": 1}), ("dan-v2", {"upscale": 3}), ("dan-v1", {"pca_matrix": None}))
    for name, options in bad:
        with pytest.raises(ConfigError) as info:
            create_model(name, 2, options=options)
        assert "\n" not in str(info.value)


def test_setting1_pca_matrix_comes_through_the_hub(tmp_path, monkeypatch) -> None:
    from sr_lib import hub
    from sr_lib.models.dan import load_setting1_pca

    weights = require_dir("SR_WEIGHTS_DIR")
    monkeypatch.delenv("SR_WEIGHTS_DIR")
    monkeypatch.setenv("SR_CACHE_DIR", str(tmp_path / "cache"))
    for name, version in (("dan-v1", "DANv1"), ("dan-v2", "DANv2")):
        entry = get_model_entry(name)
        model = create_model(name, 2, tiny=True)
        assert entry.load_aux_buffers is load_setting1_pca
        entry.load_aux_buffers(model, weights, False)
        expected = torch.load(weights / "dan_aux" / "pca_matrix" / version / "pca_matrix.pth", weights_only=True)
        torch.testing.assert_close(model.encoder[0], expected, rtol=0, atol=0)
        torch.testing.assert_close(model.init_ker_map, expected[220:221])  # code of the centred Dirac
        assert hub.find_aux("pca_matrix", name).verifiable
    with pytest.raises(WeightsError, match="not found"):  # offline, nothing in the cache: one line saying where
        load_setting1_pca(create_model("dan-v1", 2, tiny=True))
    corrupt = tmp_path / "w" / hub.find_aux("pca_matrix", "dan-v1").path
    corrupt.parent.mkdir(parents=True)
    data = bytearray((weights / hub.find_aux("pca_matrix", "dan-v1").path).read_bytes())
    data[-3] ^= 0x01
    corrupt.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match the published"):
        load_setting1_pca(create_model("dan-v1", 2, tiny=True), tmp_path / "w")


# --------------------------------------------------------------------------------------------------- training loss


def _training_batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    from sr_lib.degrade.kernels import random_isotropic_kernels

    g = torch.Generator().manual_seed(seed)
    kernels = random_isotropic_kernels(2, 21, 0.5, 3.0, g).float()
    return _rand(2, 3, 8, 8, seed=seed), _rand(2, 3, 16, 16, seed=seed + 1), kernels


@pytest.mark.parametrize("name", ["dan-v1", "dan-v2"])
def test_training_loss_is_sr_plus_kernel_l1_of_the_last_iteration(name: str) -> None:
    entry = get_model_entry(name)
    torch.manual_seed(0)
    model = entry.create(2, {"nf": 16, "nb": 1, "loop": 2})
    model.set_pca_matrix(_rand(441, 10, seed=7))
    x, hr, kernels = _training_batch()
    loss = entry.training_loss(model, x, hr, {"kernel": kernels})
    assert loss.dim() == 0 and torch.isfinite(loss)
    with torch.no_grad():
        out = model(x)
        sr_term = (out.srs[-1] - hr).abs().mean()
        if name == "dan-v1":  # the true kernel's PCA code, as the official PCAEncoder computes it
            kernel_term = (out.ker_maps[-1] - kernels.reshape(2, -1) @ model.encoder[0]).abs().mean()
        else:
            kernel_term = (out.kernels[-1] - kernels.reshape(2, -1)).abs().mean()
    torch.testing.assert_close(loss.detach(), sr_term + kernel_term)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.Estimator.parameters())
    assert all(p.grad is not None for p in model.Restorer.parameters())


@pytest.mark.parametrize("name", ["dan-v1", "dan-v2"])
def test_the_estimator_learns_only_from_the_kernel_term(name: str) -> None:
    """Through the stop-gradients, the SR term alone gives the Estimator no gradient: the kernel term is its teacher."""
    entry = get_model_entry(name)
    torch.manual_seed(0)
    model = entry.create(2, {"nf": 16, "nb": 1, "loop": 2})
    model.set_pca_matrix(_rand(441, 10, seed=7))
    x, hr, kernels = _training_batch()
    total = entry.training_loss(model, x, hr, {"kernel": kernels})
    sr_only = (model(x).srs[-1] - hr).abs().mean()
    sr_only.backward()
    assert all(p.grad is None for p in model.Estimator.parameters())
    model.zero_grad(set_to_none=True)
    total.backward()
    assert all(p.grad is not None for p in model.Estimator.parameters())


def test_training_loss_errors_are_one_line() -> None:
    entry = get_model_entry("dan-v1")
    x, hr, kernels = _training_batch()
    placeholder = entry.create(2, {"nf": 16, "nb": 1, "loop": 1})
    with pytest.raises(ConfigError, match="PCA matrix"):
        entry.training_loss(placeholder, x, hr, {"kernel": kernels})
    placeholder.set_pca_matrix(_rand(441, 10))
    from sr_lib.errors import DataError

    with pytest.raises(DataError, match="'kernel'"):
        entry.training_loss(placeholder, x, hr, {})
    with pytest.raises(DataError, match=r"\(2, 21, 21\)"):
        entry.training_loss(placeholder, x, hr, {"kernel": kernels[:, :11, :11]})
