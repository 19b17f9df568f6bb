"""Chapters 8 (SRGAN) and 9 (DAN): the figures they draw and the readers of their results files."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sr_lib.errors import ConfigError  # noqa: E402
from sr_lib.figures import (  # noqa: E402
    PlanePoint,
    draw_dan,
    draw_srgan,
    plot_kernel_steps,
    plot_perception_distortion,
    plot_series,
)
from sr_lib.train import studies  # noqa: E402


def _texts(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts + [ax.title])


def test_draw_srgan_names_both_losses_and_weight() -> None:
    text = _texts(draw_srgan(adv_weight=0.01, content="pixel MSE"))
    assert "pixel MSE" in text and "0.01 x adversarial" in text and "SRResNet" in text
    assert "VGG54" in _texts(draw_srgan())


def test_draw_dan_one_restorer_and_estimator_per_step() -> None:
    text = _texts(draw_dan(loop=3))
    assert [t for t in text.split("\n") if t == "R"] == ["R"] * 3 and text.count("SR3") == 1 and "k3" in text
    with pytest.raises(ConfigError):
        draw_dan(loop=0)


def test_perception_distortion_plane_draws_points_bars_and_paths() -> None:
    pts = [PlanePoint("bicubic", 26.0, 7.7), PlanePoint("MSE", 27.0, 6.5, 0.1, 0.2, group="i"),
           PlanePoint("GAN", 26.5, 5.0, 0.2, 0.3, group="i")]
    fig = plot_perception_distortion({"Set14": pts, "B100": pts[:2]})
    ax = fig.axes[0]
    assert ax.get_title() == "Set14" and "NIQE" in ax.get_ylabel() and "PSNR" in ax.get_xlabel()
    assert [line.get_xdata().tolist() for line in ax.lines if line.get_color() == "0.6"] == [[27.0, 26.5]]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["bicubic", "MSE", "GAN"]
    caps = [c for c in ax.containers]  # one errorbar container per point; bicubic has no bars
    assert caps[0].has_xerr is False and caps[1].has_xerr and caps[2].has_yerr
    with pytest.raises(ConfigError):
        plot_perception_distortion({"Set14": []})


def test_plot_series_errorbars_and_marks() -> None:
    fig = plot_series({"a": ([1, 2], [30.0, 31.0], [0.1, 0.2]), "b": ([1, 2], [29.0, 29.5], [math.nan, math.nan])},
                      "step", marks={"trained": 4})
    ax = fig.axes[0]
    assert ax.containers[0].has_yerr and not ax.containers[1].has_yerr
    assert any(t.get_text().strip() == "trained" for t in ax.texts)
    with pytest.raises(ConfigError):
        plot_series({"a": ([1], [1.0, 2.0], [0.0])}, "x")


def test_plot_kernel_steps_shows_true_and_each_step_with_l1() -> None:
    true = np.zeros((21, 21))
    true[10, 10] = 1.0
    est = np.stack([true, np.full((21, 21), 1 / 441)])
    fig = plot_kernel_steps({"sigma 0.80": (true, est)}, crop=11)
    assert len(fig.axes) == 3 and fig.axes[0].images[0].get_array().shape == (11, 11)
    assert fig.axes[1].get_title() == "step 1\nL1 0.00" and fig.axes[0].get_title() == "true"
    assert fig.axes[2].get_title().endswith(f"L1 {np.abs(est[1] - true).sum():.2f}")
    with pytest.raises(ConfigError):
        plot_kernel_steps({"a": (true, est), "b": (true, est[:1])})


def _eval(psnr: float, niqe: float) -> dict:
    return {"datasets": {"Set14": {"psnr": psnr, "niqe": niqe}, "B100": {"psnr": psnr - 1, "niqe": niqe + 1}}}


def _g8(offset: float) -> dict:
    return {"datasets": {"Set5": {"psnr": 30 + offset, "per_sigma": {"0.80": {"psnr": 31 + offset},
                                                                      "1.60": {"psnr": 29 + offset}}}}}


@pytest.fixture
def fake_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(name: str, root: object = "results") -> studies.ArmRuns:
        arm = studies.get_arm(name)
        if name == "srresnet-mse":
            return studies.ArmRuns(arm, {}, {(0, 4, False): _eval(26.0, 6.0), (1, 4, False): _eval(26.2, 6.4)})
        if name == "dan-blind":
            return studies.ArmRuns(arm, {}, {}, {(0, "blind"): _g8(0.0), (1, "blind"): _g8(1.0)},
                                   {0: {"psnr": [30.0, 31.0], "iterations": [1, 2], "trained_loop": 1,
                                        "dataset": "Set5", "image": "baby"},
                                    1: {"psnr": [30.5, 31.5], "iterations": [1, 2], "trained_loop": 1,
                                        "dataset": "Set5", "image": "baby"}})
        return studies.ArmRuns(arm, {}, {})
    monkeypatch.setattr(studies, "load_arm", load)


def test_perception_rows_mean_std_and_missing_arms(fake_runs: None) -> None:
    rows = studies.perception_rows(["srresnet-mse", "srgan-adv0.1"])
    assert [r["arm"] for r in rows] == ["srresnet-mse"] and rows[0]["seeds"] == 2
    assert rows[0]["Set14 PSNR"] == pytest.approx(26.1) and rows[0]["B100 NIQE"] == pytest.approx(7.2)
    assert rows[0]["Set14 NIQE std"] == pytest.approx(np.std([6.0, 6.4], ddof=1))


def test_gaussian8_and_unrolled_stats(fake_runs: None) -> None:
    g = studies.gaussian8_stats("dan-blind", "blind", "Set5")
    assert g is not None and g["seeds"] == 2 and g["sigmas"] == [0.8, 1.6]
    assert g["mean"] == pytest.approx([31.5, 29.5]) and g["psnr"][0] == pytest.approx(30.5)
    assert studies.gaussian8_stats("dan-blind", "oracle", "Set5") is None
    u = studies.unrolled_stats("dan-blind")
    assert u is not None and u["mean"] == pytest.approx([30.25, 31.25]) and u["trained_loop"] == 1
    assert studies.unrolled_stats("dan-no-blur") is None


def test_interpolation_path_runs_from_mse_to_the_paper_weight_gan() -> None:
    path = studies.interpolation_path()
    assert path[0] == "srresnet-mse" and path[-1] == "srgan-adv0.001"
    assert studies.SRGAN_INTERPOLATION_END in studies.SRGAN_ADV_WEIGHTS
    alphas = [studies.get_arm(a).interpolate[2] for a in path[1:-1]]  # type: ignore[index]
    assert alphas == sorted(alphas) and len(alphas) == len(studies.SRGAN_INTERPOLATION)


def test_seed_stats_checks_lengths() -> None:
    assert studies.seed_stats([[1.0, 2.0]])[1][0] != studies.seed_stats([[1.0, 2.0]])[1][0]  # NaN for one seed
    with pytest.raises(ConfigError):
        studies.seed_stats([[1.0], [1.0, 2.0]])


def test_trade_off_rows_pair_seeds_and_count_images(monkeypatch: pytest.MonkeyPatch) -> None:
    def ev(psnr: float, niqe: dict[str, float]) -> dict:
        per = {k: {"psnr": psnr, "niqe": v} for k, v in niqe.items()}
        return {"datasets": {"Set14": {"psnr": psnr, "niqe": float(np.mean(list(niqe.values()))), "per_image": per}}}

    files = {"srresnet-mse": {0: ev(26.0, {"a": 6.0, "b": 6.0, "c": 9.0}), 1: ev(26.4, {"a": 6.2, "b": 6.0, "c": 9.0}),
                              2: ev(25.0, {"a": 1.0, "b": 1.0, "c": 1.0})},
             "srgan-adv0.001": {0: ev(25.0, {"a": 5.0, "b": 6.5, "c": 20.0}), 1: ev(25.2, {"a": 5.2, "b": 6.5,
                                                                                            "c": 20.0})}}

    def load(name: str, root: object = "results") -> studies.ArmRuns:
        runs = files.get(name, {})
        return studies.ArmRuns(studies.get_arm(name), {}, {(s, 4, False): e for s, e in runs.items()})

    monkeypatch.setattr(studies, "load_arm", load)
    (row,) = studies.trade_off_rows(["srgan-adv0.001", "srgan-adv0.01"])  # no files for 1e-2: no row
    assert row["seeds"] == 2  # seed 2 of the reference has no GAN partner and is left out
    assert row["psnr"].diff == pytest.approx(1.1) and row["psnr"].se == pytest.approx(0.1) and row["psnr"].held
    assert row["niqe"].diff < 0 and not row["niqe"].held  # the set mean rises: one image is far worse
    assert (row["images"], row["images_lower"]) == (3, 1) and row["median_niqe_gain"] == pytest.approx(-0.5)
