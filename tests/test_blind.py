"""Chapter 9's blind-SR measurements (sr_lib.blind): Gaussian8 pairs equal to the CLI's files, the oracle really
feeding the true kernel code, the Restorer given other codes, PSNR per unrolled step, kernel trajectories and their
errors, one-line errors. Tiny DANs with random
weights on a tiny synthetic set, so every test runs in seconds on a CPU."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from sr_lib.blind import (
    MODES,
    decode_kernel_code,
    evaluate_gaussian8,
    gaussian8_pairs,
    kernel_code_errors,
    kernel_code_sensitivity,
    kernel_trajectory,
    psnr_by_iteration,
    sigma_key,
    super_resolve_mode,
    true_kernel_code,
    with_unit_sum,
)
from sr_lib.cli import main as cli_main
from sr_lib.degrade.bicubic import downscale, modcrop
from sr_lib.degrade.kernels import gaussian8_kernels, gaussian8_sigmas
from sr_lib.errors import ConfigError, DataError, SRLibError
from sr_lib.evaluate import super_resolve
from sr_lib.imageio import read_image, sha256_file, write_image
from sr_lib.metrics import evaluate_pair, quantize
from sr_lib.models import create_model, get_model_entry
from sr_lib.models.dan import DANv1, DANv2, load_pca_matrix

TINY = {"dan-v1": {"nf": 16, "nb": 1, "loop": 2}, "dan-v2": {"nf": 16, "nb": 1, "ng": 1, "loop": 2}}


def _orthonormal(rows: int = 441, cols: int = 10, seed: int = 0) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)))
    return q


def _tiny_dan(name: str = "dan-v1", seed: int = 0, **options: int) -> DANv1 | DANv2:
    torch.manual_seed(seed)
    model = create_model(name, 2, options={**TINY[name], **options}).eval()
    model.set_pca_matrix(_orthonormal(model.ksize**2, 10, seed))
    return model


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors gain nothing from threads; on a shared, busy CPU, two threads made each forward 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A data root with 'Set5' = one RGB image (41 x 37, not a multiple of 2) and one grey image, plus a bicubic LR
    file that the Gaussian8 pairs must neither use nor hash."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    smooth = np.kron(rng.integers(0, 256, (11, 10, 3)), np.ones((4, 4, 1)))[:41, :37]
    rgb = np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)
    grey = rng.integers(0, 256, (30, 34)).astype(np.uint8)
    write_image(root / "Set5" / "HR" / "a.png", rgb)
    write_image(root / "Set5" / "HR" / "g.png", grey)
    write_image(root / "Set5" / "LR_bicubic" / "X2" / "a.png", downscale(rgb, 2))
    return root


class _TrueKernelEstimator(nn.Module):
    """An Estimator that always answers the true kernel (v2) or its PCA code (v1)."""

    def __init__(self, answer: torch.Tensor) -> None:
        super().__init__()
        self.answer = answer

    def forward(self, sr: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        return self.answer.expand(lr.shape[0], -1)


def _with_true_estimator(model: DANv1 | DANv2, kernel: np.ndarray) -> DANv1 | DANv2:
    cheat = copy.deepcopy(model)
    answer = (true_kernel_code(model, kernel) if isinstance(model, DANv1)
              else torch.from_numpy(kernel).float().reshape(1, -1))
    cheat.Estimator = _TrueKernelEstimator(answer)
    return cheat


# ------------------------------------------------------------------------------------------------ Gaussian8 pairs


def test_gaussian8_pairs_equal_what_the_cli_writes(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli"
    assert cli_main(["downscale", str(tiny_set / "Set5" / "HR"), str(out), "--scale", "2", "--kernel", "gaussian8"]) == 0
    pairs = gaussian8_pairs("Set5", 2, tiny_set)
    sigmas = gaussian8_sigmas(2)
    assert [(p.name, p.sigma) for p in pairs] == [(n, s) for n in ("a", "g") for s in sigmas]
    for pair in pairs:
        written = read_image(out / f"sig{pair.sigma:.2f}" / f"{pair.name}.png")
        assert written.dtype == pair.lr.dtype and np.array_equal(written, pair.lr), (pair.name, pair.sigma)
        hr = read_image(tiny_set / "Set5" / "HR" / f"{pair.name}.png")
        assert np.array_equal(pair.hr, modcrop(hr, 2))
        assert pair.lr.shape[:2] == (hr.shape[0] // 2, hr.shape[1] // 2)
        assert pair.hr_files == (tiny_set / "Set5" / "HR" / f"{pair.name}.png",)  # not LR_bicubic/X2/a.png
        assert np.array_equal(pair.kernel, dict(gaussian8_kernels(2))[pair.sigma])
    # the comparison has teeth: the eight blurs differ from each other and from the set's bicubic LR
    lrs_a = [p.lr for p in pairs if p.name == "a"]
    assert all(not np.array_equal(x, y) for x, y in zip(lrs_a, lrs_a[1:]))
    assert not np.array_equal(lrs_a[0], read_image(tiny_set / "Set5" / "LR_bicubic" / "X2" / "a.png"))


# ------------------------------------------------------------------------------------------------------- oracle


@pytest.mark.parametrize("name", ["dan-v1", "dan-v2"])
def test_oracle_feeds_the_true_kernel_code_to_the_restorer(tiny_set: Path, name: str) -> None:
    model = _tiny_dan(name)
    pair, other = gaussian8_pairs("Set5", 2, tiny_set)[:8:7]  # same image, sigma 0.80 and 1.60
    oracle = super_resolve_mode(model, name, pair.lr, 2, "oracle", pair.kernel)

    x = (torch.from_numpy(pair.lr.transpose(2, 0, 1).astype(np.float64))[None] * (1.0 / 255.0)).float()
    with torch.no_grad():
        code = model.encode_kernel(torch.from_numpy(pair.kernel).float()[None])
        direct = model.Restorer(x, code)[0].double().numpy().transpose(1, 2, 0) * 255.0
    assert np.array_equal(oracle, quantize(direct))

    blind = super_resolve_mode(model, name, pair.lr, 2, "blind")
    assert np.array_equal(blind, super_resolve(get_model_entry(name), model, pair.lr, 2))  # the registry forward
    assert not np.array_equal(blind, oracle)  # a random Estimator does not find the true kernel
    assert not np.array_equal(oracle, super_resolve_mode(model, name, pair.lr, 2, "oracle", other.kernel))
    # a DAN whose Estimator answers the truth gives, from step 2 on, exactly the oracle image
    cheat = _with_true_estimator(model, pair.kernel)
    assert np.array_equal(super_resolve_mode(cheat, name, pair.lr, 2, "blind"), oracle)


# --------------------------------------------------------------------------------------------------- evaluation


def test_evaluate_gaussian8_means_scores_and_provenance(tiny_set: Path) -> None:
    model = _tiny_dan("dan-v1")
    pairs = gaussian8_pairs("Set5", 2, tiny_set)
    res = {mode: evaluate_gaussian8("dan-v1", 2, ["Set5"], mode, data_dir=tiny_set, device="cpu", model=model)
           for mode in ("blind", "oracle")}
    blind = res["blind"]["datasets"]["Set5"]
    assert blind["images"] == 2 and blind["pairs"] == 16
    assert set(blind["per_image"]) == {"a", "g"}
    assert list(blind["per_sigma"]) == [sigma_key(s) for s in gaussian8_sigmas(2)] == list(blind["per_image"]["a"])
    # scores recomputed independently, pair by pair
    for pair in pairs[::5]:
        for mode in ("blind", "oracle"):
            sr = super_resolve_mode(model, "dan-v1", pair.lr, 2, mode,  # type: ignore[arg-type]
                                    pair.kernel if mode == "oracle" else None)
            score = evaluate_pair(sr, pair.hr, 2)
            got = res[mode]["datasets"]["Set5"]["per_image"][pair.name][sigma_key(pair.sigma)]
            assert got == {"psnr": score.psnr, "ssim": score.ssim}
    for key, mean in blind["per_sigma"].items():
        assert mean["psnr"] == pytest.approx(np.mean([blind["per_image"][n][key]["psnr"] for n in ("a", "g")]))
        assert mean["ssim"] == pytest.approx(np.mean([blind["per_image"][n][key]["ssim"] for n in ("a", "g")]))
    everything = [v["psnr"] for by_sigma in blind["per_image"].values() for v in by_sigma.values()]
    assert blind["psnr"] == pytest.approx(np.mean(everything))
    assert res["oracle"]["datasets"]["Set5"]["per_image"] != blind["per_image"]
    prov = res["blind"]["provenance"]
    hr_dir = tiny_set / "Set5" / "HR"
    assert prov["data_sha256"] == {str(hr_dir / f): sha256_file(hr_dir / f) for f in ("a.png", "g.png")}
    assert prov["config"]["mode"] == "blind" and prov["config"]["degradation"]["resize"] == "matlab"
    assert prov["config"]["protocol"]["name"] == "standard" and prov["git_commit"]
    assert res["blind"]["sigmas"] == gaussian8_sigmas(2)


def test_plain_mode_runs_a_non_blind_network_the_usual_way(tiny_set: Path) -> None:
    torch.manual_seed(0)
    model = create_model("edsr-baseline", 2, tiny=True).eval()
    res = evaluate_gaussian8("edsr-baseline", 2, ["Set5"], "plain", data_dir=tiny_set, device="cpu", model=model)
    entry = get_model_entry("edsr-baseline")
    for pair in gaussian8_pairs("Set5", 2, tiny_set)[::3]:
        score = evaluate_pair(super_resolve(entry, model, pair.lr, 2), pair.hr, 2)
        got = res["datasets"]["Set5"]["per_image"][pair.name][sigma_key(pair.sigma)]
        assert got == {"psnr": score.psnr, "ssim": score.ssim}


class _CodeBlindRestorer(nn.Module):
    """A Restorer that receives a code but always runs with the Dirac start's code: it ignores what it is given."""

    def __init__(self, restorer: nn.Module, fixed: torch.Tensor) -> None:
        super().__init__()
        self.restorer, self.fixed = restorer, fixed

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.restorer(x, self.fixed.expand(x.shape[0], -1))


def test_kernel_code_sensitivity_diagonal_is_the_oracle_and_flat_without_the_code(tiny_set: Path) -> None:
    model = _tiny_dan("dan-v1")
    sigmas = gaussian8_sigmas(2)
    given = [sigmas[0], sigmas[-1]]
    pairs = [p for p in gaussian8_pairs("Set5", 2, tiny_set) if p.sigma in given]  # 2 images x 2 widths
    res = kernel_code_sensitivity(model, pairs, given, device="cpu")
    keys = [sigma_key(s) for s in given]
    assert res["given_sigmas"] == given and res["images"] == 2 and res["pairs"] == 4
    assert list(res["psnr"]) == keys and all(list(row) == keys for row in res["psnr"].values())
    assert list(res["blind"]) == keys
    assert json.loads(json.dumps(res)) == res
    scores = {mode: evaluate_gaussian8("dan-v1", 2, ["Set5"], mode, data_dir=tiny_set, device="cpu",
                                       model=model)["datasets"]["Set5"]["per_sigma"] for mode in ("oracle", "blind")}
    for key in keys:  # the given kernel is the true one: exactly the oracle's score; blind as evaluated
        assert res["psnr"][key][key] == scores["oracle"][key]["psnr"]
        assert res["blind"][key] == scores["blind"][key]["psnr"]
    assert res["psnr"][keys[0]][keys[0]] != res["psnr"][keys[0]][keys[1]]  # a random Restorer reads its code
    deaf = copy.deepcopy(model)
    deaf.Restorer = _CodeBlindRestorer(model.Restorer, model.init_ker_map)
    flat = kernel_code_sensitivity(deaf, pairs[:1], [sigmas[0], 1.2, 3.0], device="cpu")
    assert len(set(flat["psnr"][keys[0]].values())) == 1


# ------------------------------------------------------------------------------------------- inside the unrolling


def test_psnr_by_iteration_ends_at_the_blind_score_and_runs_further(tiny_set: Path) -> None:
    model = _tiny_dan("dan-v1")
    pairs = gaussian8_pairs("Set5", 2, tiny_set)[::7]  # a/0.80, a/1.60, g/1.49
    trained = psnr_by_iteration(model, pairs, device="cpu")
    assert trained["iterations"] == [1, 2] and trained["trained_loop"] == 2
    blind = evaluate_gaussian8("dan-v1", 2, ["Set5"], "blind", data_dir=tiny_set, device="cpu", model=model)
    for pair in pairs:
        steps = trained["per_pair"][f"{pair.name}/{sigma_key(pair.sigma)}"]
        assert len(steps) == 2
        assert steps[-1] == blind["datasets"]["Set5"]["per_image"][pair.name][sigma_key(pair.sigma)]["psnr"]
    assert trained["psnr"] == pytest.approx([np.mean([v[i] for v in trained["per_pair"].values()]) for i in (0, 1)])

    longer = psnr_by_iteration(model, pairs, loops=4, device="cpu")
    assert longer["iterations"] == [1, 2, 3, 4] and model.loop == 2  # the trained loop is restored
    assert [v[:2] for v in longer["per_pair"].values()] == list(trained["per_pair"].values())
    four = copy.deepcopy(model)
    four.loop = 4
    pair = pairs[0]
    score = evaluate_pair(super_resolve_mode(four, "dan-v1", pair.lr, 2, "blind"), pair.hr, 2, compute_ssim=False)
    assert longer["per_pair"][f"{pair.name}/{sigma_key(pair.sigma)}"][-1] == score.psnr


def test_decode_kernel_code_is_the_least_squares_inverse() -> None:
    kernel = torch.from_numpy(gaussian8_kernels(2)[3][1])[None]
    orth = _tiny_dan("dan-v1")
    code = orth.encode_kernel(kernel.float())
    m = orth.encoder[0].double()
    torch.testing.assert_close(decode_kernel_code(orth, code), (kernel.reshape(1, -1) @ m @ m.T).view(1, 21, 21),
                               rtol=0, atol=1e-6)  # orthonormal columns: the projection onto their span
    skewed = _tiny_dan("dan-v1")
    skewed.set_pca_matrix(_orthonormal() @ torch.diag(torch.linspace(0.5, 3.0, 10)))
    code = skewed.encode_kernel(kernel.float())
    decoded = decode_kernel_code(skewed, code)
    torch.testing.assert_close(skewed.encode_kernel(decoded.float()), code, rtol=1e-4, atol=1e-6)
    naive = (code.double() @ skewed.encoder[0].double().T).view(1, 21, 21)  # the transpose is no inverse here
    assert not torch.allclose(skewed.encode_kernel(naive.float()), code, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("name", ["dan-v1", "dan-v2"])
def test_kernel_trajectory_of_a_truthful_estimator_is_the_true_kernel(tiny_set: Path, weights_dir: Path,
                                                                       name: str) -> None:
    version = "DANv1" if name == "dan-v1" else "DANv2"
    matrix = load_pca_matrix(weights_dir / "dan_aux" / "pca_matrix" / version / "pca_matrix.pth", 21, 10)
    torch.testing.assert_close(matrix.T @ matrix, torch.eye(10), rtol=0, atol=1e-5)  # orthonormal, as documented
    model = _tiny_dan(name)
    model.set_pca_matrix(matrix)
    pairs = gaussian8_pairs("Set5", 2, tiny_set)[:8]
    pair = pairs[2]
    cheat = _with_true_estimator(model, pair.kernel)
    path = kernel_trajectory(cheat, pair.lr, loops=3, device="cpu")
    assert path.shape == (3, 21, 21) and cheat.loop == 2
    for estimate in path:
        if name == "dan-v2":  # the Estimator's output is the kernel itself
            np.testing.assert_allclose(estimate, pair.kernel, rtol=0, atol=1e-7)
        else:  # the code decoded: projected on the 10 principal components, which carry no mean
            np.testing.assert_allclose(estimate, pair.kernel, rtol=0, atol=5e-3)
            assert not np.allclose(estimate, pair.kernel, rtol=0, atol=1e-4)
        nearest = min(pairs, key=lambda p: float(np.abs(p.kernel - estimate).sum()))
        assert nearest.sigma == pair.sigma
    random_path = kernel_trajectory(model, pair.lr, device="cpu")
    assert random_path.shape == (2, 21, 21) and np.abs(random_path - pair.kernel).max() > 1e-2
    if name == "dan-v1":  # the published matrix: a decoded code sums to 0; the mean added back, a fixed remainder
        assert abs(path[-1].sum()) < 1e-6 and with_unit_sum(path).sum(axis=(1, 2)) == pytest.approx(1.0)
        np.testing.assert_allclose(with_unit_sum(pair.kernel), pair.kernel, rtol=0, atol=1e-15)
        err = kernel_code_errors(model, pair.kernel, path[-1])
        assert err["estimate vs true code"] < 1e-5
        assert err["estimate vs true"] == pytest.approx(err["true code vs true"])
        assert 0.1 < err["true code vs true"] < 0.25 and np.abs(path[-1] - pair.kernel).sum() > 0.99
        wrong = kernel_code_errors(model, pair.kernel, random_path[-1])
        assert wrong["estimate vs true code"] > 0.1 and wrong["true code vs true"] == err["true code vs true"]


# -------------------------------------------------------------------------------------------------------- errors


def _one_line(exc: pytest.ExceptionInfo[SRLibError]) -> None:
    assert str(exc.value) and "\n" not in str(exc.value)


def test_bad_inputs_give_one_line_errors(tiny_set: Path, tmp_path: Path) -> None:
    dan = _tiny_dan("dan-v1")
    edsr = create_model("edsr-baseline", 2, tiny=True)
    pair = gaussian8_pairs("Set5", 2, tiny_set)[0]
    assert MODES == ("blind", "oracle", "plain")
    cases: list[tuple[type[SRLibError], object]] = [
        (ConfigError, lambda: gaussian8_pairs("Set5", 5, tiny_set)),
        (ConfigError, lambda: gaussian8_pairs("Set5", 1, tiny_set)),
        (DataError, lambda: gaussian8_pairs("Set5", 2, tmp_path / "nowhere")),
        (DataError, lambda: gaussian8_pairs("Set6", 2, tiny_set)),
        (DataError, lambda: evaluate_gaussian8("dan-v1", 2, ["Set14"], "blind", data_dir=tiny_set, model=dan)),
        (ConfigError, lambda: evaluate_gaussian8("dan-v1", 2, ["Set5"], "sharp", data_dir=tiny_set, model=dan)),
        (ConfigError, lambda: evaluate_gaussian8("dan-v1", 2, [], "blind", data_dir=tiny_set, model=dan)),
        (ConfigError, lambda: evaluate_gaussian8("dan-v1", 5, ["Set5"], "blind", data_dir=tiny_set, model=dan)),
        (ConfigError, lambda: evaluate_gaussian8("dan-v1", 2, ["Set5"], "blind", data_dir=tiny_set)),  # no PCA
        (ConfigError, lambda: super_resolve_mode(edsr, "edsr-baseline", pair.lr, 2, "blind")),
        (ConfigError, lambda: super_resolve_mode(edsr, "edsr-baseline", pair.lr, 2, "oracle", pair.kernel)),
        (ConfigError, lambda: super_resolve_mode(dan, "dan-v1", pair.lr, 2, "plain")),
        (ConfigError, lambda: super_resolve_mode(dan, "dan-v2", pair.lr, 2, "blind")),
        (ConfigError, lambda: super_resolve_mode(dan, "dan-v1", pair.lr, 3, "blind")),
        (ConfigError, lambda: super_resolve_mode(dan, "dan-v1", pair.lr, 2, "oracle")),
        (ConfigError, lambda: super_resolve_mode(dan, "dan-v1", pair.lr, 2, "blind", pair.kernel)),
        (ConfigError, lambda: super_resolve_mode(_tiny_dan("dan-v1", kernel_size=11), "dan-v1", pair.lr, 2, "oracle",
                                                 pair.kernel)),
        (ConfigError, lambda: psnr_by_iteration(dan, [pair], loops=0)),
        (ConfigError, lambda: psnr_by_iteration(dan, [])),
        (ConfigError, lambda: kernel_trajectory(edsr, pair.lr)),
        (ConfigError, lambda: decode_kernel_code(dan, torch.zeros(1, 7))),
        (ConfigError, lambda: kernel_code_sensitivity(dan, [pair], [])),
        (ConfigError, lambda: kernel_code_sensitivity(dan, [pair], [0.8, 0.8])),
        (ConfigError, lambda: kernel_code_sensitivity(dan, [pair], [0.0])),
        (ConfigError, lambda: kernel_code_sensitivity(dan, [], [0.8])),
        (ConfigError, lambda: kernel_code_sensitivity(edsr, [pair], [0.8])),
        (ConfigError, lambda: kernel_code_sensitivity(create_model("dan-v1", 2, options=TINY["dan-v1"]), [pair],
                                                      [0.8])),  # no PCA matrix
        (ConfigError, lambda: kernel_code_errors(dan, pair.kernel, np.zeros((11, 11)))),
    ]
    for kind, call in cases:
        with pytest.raises(kind) as exc:
            call()  # type: ignore[operator]
        _one_line(exc)
    assert dan.loop == 2
