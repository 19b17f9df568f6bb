"""EDSR and MDSR — Lim, Son, Kim, Nah, Lee: "Enhanced Deep Residual Networks for Single Image Super-Resolution"
(CVPR Workshops 2017, NTIRE 2017 winner).

Official PyTorch code: sanghyun-son/EDSR-PyTorch (:data:`OFFICIAL_CODE`; then named
thstkdgus35/EDSR-PyTorch), ``src/model/edsr.py`` (class ``EDSR``), ``src/model/mdsr.py`` (class ``MDSR``) and
``src/model/common.py``. Module and attribute names below are the official ones, so the released checkpoints
(:data:`OFFICIAL_WEIGHTS`) load with ``load_state_dict(strict=True)``.

The paper in three ideas:

* **Residual block without batch norm** (Sec. 3.1, Fig. 2): SRResNet's block minus its two BN layers and the
  activation after the addition: ``x + conv(relu(conv(x)))``. BN normalises away the range flexibility of the
  features and costs as much memory as the convolutions, so removing it both helps and lets the model grow.
* **Residual scaling** (Sec. 3.2, Fig. 2 right): with 256 feature maps training becomes numerically unstable; the
  residual branch is multiplied by a constant 0.1 before the addition (Szegedy et al.'s trick). EDSR =
  32 blocks x 256 features, residual scaling 0.1 (43M parameters); EDSR-baseline = 16 x 64, no scaling (1.5M).
* **Single-scale network** (Sec. 3.2, Fig. 3): ``head`` conv -> ``body`` (blocks + one conv) -> global skip from
  the head output -> ``tail`` (sub-pixel upsampler + conv). Inputs are RGB in [0, 255] with the DIV2K mean
  subtracted (``sub_mean``) and added back (``add_mean``), both frozen 1x1 convolutions.
* **Multi-scale network MDSR** (Sec. 3.3, Fig. 5): one shared trunk for x2, x3 and x4 with scale-specific
  ``pre_process`` modules (two residual blocks with 5x5 kernels each) before it and scale-specific upsamplers
  after it; MDSR = 80 blocks x 64 features (8.0M parameters for all three scales), MDSR-baseline = 16 x 64.

EDSR+ / MDSR+ (Sec. 4.3) is the x8 geometric self-ensemble: :func:`sr_lib.inference.self_ensemble`.

Official oddities reproduced (see ``golden/README.md``):

* The constructor reads only ``args.scale[0]``; other entries of ``args.scale`` are ignored (EDSR).
* MDSR's global skip adds the ``pre_process`` output (not the ``head`` output as in EDSR), its final ``tail``
  convolution (C -> 3) is **shared** by all scales, and ``args.res_scale`` is ignored (always 1).
* MDSR picks the branch with ``set_scale(i)`` where ``i`` is the **index into** ``args.scale`` (the training loop
  passes ``idx_scale``), not the scale itself. Here :meth:`MDSR.set_scale` takes the **scale factor** (typed,
  validated); the official index is the attribute :attr:`MDSR.scale_idx`.
* ``self.url`` is looked up from ``'r{n_resblocks}f{n_feats}x{scale}'`` (EDSR, ``None`` when absent) or
  ``'r{n_resblocks}f{n_feats}'`` (MDSR, a ``KeyError`` for any other configuration; here ``None``).
* The official ``EDSR.load_state_dict`` override never reports missing keys and skips shape mismatches in
  ``tail``; here the plain strict ``nn.Module.load_state_dict`` is used.
* Outputs are not clamped; the evaluation code quantises them (``utility.quantize``).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..download import torch_hub_prefix
from ..errors import ConfigError
from ..hub import WeightsEntry
from .blocks import MeanShift, ResBlock, Upsampler, default_conv
from .official import OfficialPort, register_port
from .registry import InputSpec, ModelEntry, register_model

Tensor = torch.Tensor

OFFICIAL_CODE = "sanghyun-son/EDSR-PyTorch@9d3bb0ec620ea2ac1b5e5e7a32b0133fbba66fd2"

#: The released checkpoints (``url`` dicts of the official ``edsr.py`` and ``mdsr.py``), keyed as there:
#: ``r{n_resblocks}f{n_feats}x{scale}`` for EDSR, ``r{n_resblocks}f{n_feats}`` for MDSR (one file, all scales).
#: The 8 hex digits in each file name are the start of the file's sha256 (``torch.hub`` convention).
OFFICIAL_WEIGHTS: dict[str, str] = {
    "r16f64x2": "https://cv.snu.ac.kr/research/EDSR/models/edsr_baseline_x2-1bc95232.pt",
    "r16f64x3": "https://cv.snu.ac.kr/research/EDSR/models/edsr_baseline_x3-abf2a44e.pt",
    "r16f64x4": "https://cv.snu.ac.kr/research/EDSR/models/edsr_baseline_x4-6b446fab.pt",
    "r32f256x2": "https://cv.snu.ac.kr/research/EDSR/models/edsr_x2-0edfb8a3.pt",
    "r32f256x3": "https://cv.snu.ac.kr/research/EDSR/models/edsr_x3-ea3ef2c6.pt",
    "r32f256x4": "https://cv.snu.ac.kr/research/EDSR/models/edsr_x4-4f62e9ef.pt",
    "r16f64": "https://cv.snu.ac.kr/research/EDSR/models/mdsr_baseline-a00cab12.pt",
    "r80f64": "https://cv.snu.ac.kr/research/EDSR/models/mdsr-4a78bedf.pt",
}


#: The original host (cv.snu.ac.kr) no longer serves the files. Copies found since, by file name: the full sha256 of
#: the copy (from its Git LFS pointer at the pinned commit; it starts with the name's prefix, so it is the same file)
#: and direct URLs, tried in order. Personal repositories, not maintained mirrors: they may disappear. The three EDSR
#: files have no known copy; the Wayback Machine URL is tried for them (its content is checked by the prefix).
_LFS = "https://media.githubusercontent.com/media"
_RDN_OLD, _RDN = f"{_LFS}/aasthamlhtra/RDN_SISR/87c4c73de1c9a7e053b00497e9f83610af3ab21b", \
    f"{_LFS}/aasthamlhtra/RDN_SISR/996004b91eaa53be90c332ce71263b838ecda28e"
MIRRORS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "edsr_baseline_x2-1bc95232.pt": ("1bc9523228fdc3b0a5ddb0d7062001e22b31bbb398ae09cfdefb97e8ee06e171",
                                     (f"{_RDN_OLD}/experiment/model/EDSR_baseline_x2.pt",)),
    "edsr_baseline_x3-abf2a44e.pt": ("abf2a44e7a137228efa42a4264a23e12603168d43ac7596b1adef40c649b9240",
                                     (f"{_RDN}/experiment/model/EDSR_baseline_x3.pt",)),
    "edsr_baseline_x4-6b446fab.pt": ("6b446fab734f4de74448d2fd1f3f990f5bae726e49dc7eff2ae9cefe444a1723",
                                     (f"{_RDN}/experiment/model/EDSR_baseline_x4.pt",)),
    "mdsr_baseline-a00cab12.pt": ("a00cab12f80c2a7cf0a15c3b9fcae3cfe9273121e8942692303e5010d1dca5ef",
                                  (f"{_RDN}/experiment/model/MDSR_baseline.pt",)),
    "mdsr-4a78bedf.pt": ("4a78bedfdb8fb1ad81b4bce9e13a907c0355a2ab52adafe2da868f9bb9096311",
                         (f"{_LFS}/szweijin/Leaf_Disease_AI/2c41b54afbc1df94e5c41ea26cebcdd1646b9f14/"
                          "model/SR/model_pytorch/MDSR.pt",)),
    **{f: (None, (f"https://web.archive.org/web/2021id_/{OFFICIAL_WEIGHTS[k]}",))
       for k, f in (("r32f256x2", "edsr_x2-0edfb8a3.pt"), ("r32f256x3", "edsr_x3-ea3ef2c6.pt"),
                    ("r32f256x4", "edsr_x4-4f62e9ef.pt"))},
}


def _upsampler(scale: int, n_feats: int) -> Upsampler:
    try:
        return Upsampler(scale, n_feats)
    except ValueError:
        raise ConfigError(f"EDSR/MDSR upsample by 2^n or 3 only, not x{scale}") from None


class EDSR(nn.Module):
    """Single-scale EDSR (Fig. 3). ``forward``: RGB in [0, rgb_range] at LR size -> RGB at ``scale`` x size.

    scale: upscaling factor (2^n or 3). n_resblocks / n_feats / res_scale: 32 / 256 / 0.1 for EDSR,
    16 / 64 / 1.0 for EDSR-baseline. rgb_range: the value of white (255 for the released models).
    bn: batch norm in every residual block (the SRResNet block; EDSR Sec. 3.1 removes it, the ablation restores it).
    """

    def __init__(
        self,
        scale: int,
        n_resblocks: int = 16,
        n_feats: int = 64,
        res_scale: float = 1.0,
        rgb_range: float = 255.0,
        bn: bool = False,
    ) -> None:
        super().__init__()
        if n_resblocks < 0 or n_feats < 1:
            raise ConfigError(f"EDSR needs n_resblocks >= 0 and n_feats >= 1, got {n_resblocks}, {n_feats}")
        self.scale = scale
        #: Official checkpoint for this configuration (``None`` if there is none), as ``EDSR.url`` officially.
        self.url: str | None = OFFICIAL_WEIGHTS.get(f"r{n_resblocks}f{n_feats}x{scale}")

        self.sub_mean = MeanShift(rgb_range, sign=-1)  # frozen, as in EDSR-PyTorch
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.head = nn.Sequential(default_conv(3, n_feats, 3))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, 3, res_scale=res_scale, bn=bn) for _ in range(n_resblocks)],
            default_conv(n_feats, n_feats, 3),
        )
        self.tail = nn.Sequential(_upsampler(scale, n_feats), default_conv(n_feats, 3, 3))

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x))
        res = self.body(x) + x  # global skip from the head output
        return self.add_mean(self.tail(res))


class MDSR(nn.Module):
    """Multi-scale MDSR (Sec. 3.3, Fig. 5): one module holds the branches of all ``scales``; one runs at a time.

    ``forward``: RGB in [0, rgb_range] -> RGB upscaled by the selected scale (:meth:`set_scale`, default
    ``scales[0]``). State-dict keys: ``pre_process.{i}`` / ``upsample.{i}`` for ``scales[i]``, shared
    ``head`` / ``body`` / ``tail``.
    """

    def __init__(
        self,
        n_resblocks: int = 80,
        n_feats: int = 64,
        scales: Sequence[int] = (2, 3, 4),
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        self.scales: tuple[int, ...] = tuple(int(s) for s in scales)
        if not self.scales or n_resblocks < 0 or n_feats < 1:
            raise ConfigError(
                f"MDSR needs scales, n_resblocks >= 0 and n_feats >= 1; got {scales}, {n_resblocks}, {n_feats}"
            )
        #: Index into ``scales`` of the branch that runs (the official attribute; set it with :meth:`set_scale`).
        self.scale_idx: int = 0
        self.url: str | None = OFFICIAL_WEIGHTS.get(f"r{n_resblocks}f{n_feats}")

        # Registration order = official state-dict order.
        self.sub_mean = MeanShift(rgb_range, sign=-1)
        self.add_mean = MeanShift(rgb_range, sign=1)
        self.pre_process = nn.ModuleList(
            nn.Sequential(ResBlock(n_feats, 5), ResBlock(n_feats, 5)) for _ in self.scales  # 5x5 kernels
        )
        self.upsample = nn.ModuleList(_upsampler(s, n_feats) for s in self.scales)
        self.head = nn.Sequential(default_conv(3, n_feats, 3))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, 3) for _ in range(n_resblocks)],
            default_conv(n_feats, n_feats, 3),
        )
        self.tail = nn.Sequential(default_conv(n_feats, 3, 3))  # shared by every scale

    @property
    def scale(self) -> int:
        """The scale factor of the selected branch."""
        return self.scales[self.scale_idx]

    def set_scale(self, scale: int) -> None:
        """Select the branch for the scale factor ``scale`` (official: ``set_scale(index into args.scale)``)."""
        if scale not in self.scales:
            allowed = ", ".join(f"x{s}" for s in self.scales)
            raise ConfigError(f"this MDSR has no x{scale} branch; available: {allowed}")
        self.scale_idx = self.scales.index(scale)

    def forward(self, x: Tensor) -> Tensor:
        x = self.head(self.sub_mean(x))
        x = self.pre_process[self.scale_idx](x)
        res = self.body(x) + x  # global skip from the pre_process output
        x = self.upsample[self.scale_idx](res)
        return self.add_mean(self.tail(x))


#: Registry preset -> key of :data:`OFFICIAL_WEIGHTS` (``{}``: the scale; MDSR: one file for all scales).
_WEIGHTS_KEY = {"edsr": "r32f256x{}", "edsr-baseline": "r16f64x{}", "mdsr": "r80f64", "mdsr-baseline": "r16f64"}


def official_weights_url(name: str, scale: int) -> str:
    """URL of the released checkpoint for registry preset ``name`` at ``scale`` (MDSR: one file for all scales)."""
    if name not in _WEIGHTS_KEY:
        raise ConfigError(f"no official EDSR-PyTorch checkpoint for model '{name}'")
    if scale not in (2, 3, 4):
        raise ConfigError(f"no official checkpoint of '{name}' for x{scale}; available: x2, x3, x4")
    return OFFICIAL_WEIGHTS[_WEIGHTS_KEY[name].format(scale)]


# ----------------------------------------------------------------------------------------------------------------
# Registry presets


def _mdsr(n_resblocks: int, n_feats: int, scale: int, scales: Sequence[int] = (2, 3, 4)) -> MDSR:
    model = MDSR(n_resblocks=n_resblocks, n_feats=n_feats, scales=scales)
    model.set_scale(scale)
    return model


_PAPER = "Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017"
_RGB_255 = InputSpec(color="rgb", pre_upsample=False, pixel_max=255.0)


def _weights(name: str) -> tuple[WeightsEntry, ...]:
    """The releases of preset ``name`` (the ``url`` dicts); each file name carries its sha256 prefix (torch hub)."""
    owner = "src/model/mdsr.py" if name.startswith("mdsr") else "src/model/edsr.py"
    key = _WEIGHTS_KEY[name]
    scales: tuple[int | None, ...] = (2, 3, 4) if "{}" in key else (None,)
    out = []
    for scale in scales:
        url = OFFICIAL_WEIGHTS[key.format(scale)]
        file = url.rsplit("/", 1)[1]
        sha256, mirrors = MIRRORS[file]
        out.append(WeightsEntry(
            model=name, scale=scale, path=f"edsr/{file}", format="state-dict",
            source=f"{OFFICIAL_CODE}:{owner} (url dict)", url=url, sha256_prefix=torch_hub_prefix(file),
            sha256=sha256, mirrors=mirrors,
            notes="one file for x2, x3 and x4 (all branches)" if scale is None else "",
        ))
    return tuple(out)


register_model(
    ModelEntry(
        name="edsr",
        family="edsr",
        paper=_PAPER,
        build=lambda scale: EDSR(scale, n_resblocks=32, n_feats=256, res_scale=0.1),
        build_tiny=lambda scale: EDSR(scale, n_resblocks=3, n_feats=16, res_scale=0.1),
        make=lambda scale, **options: EDSR(scale, **{"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1, **options}),
        scales=(2, 3, 4),
        input=_RGB_255,
        tile_safe=True,
        description="EDSR: 32 residual blocks x 256 features, residual scaling 0.1 (43M parameters)",
        paper_name="EDSR",
        weights=_weights("edsr"),
        official_code=OFFICIAL_CODE,
    )
)
register_model(
    ModelEntry(
        name="edsr-baseline",
        family="edsr",
        paper=_PAPER,
        build=lambda scale: EDSR(scale, n_resblocks=16, n_feats=64, res_scale=1.0),
        build_tiny=lambda scale: EDSR(scale, n_resblocks=2, n_feats=16, res_scale=1.0),
        make=lambda scale, **options: EDSR(scale, **{"n_resblocks": 16, "n_feats": 64, "res_scale": 1.0, **options}),
        scales=(2, 3, 4),
        input=_RGB_255,
        tile_safe=True,
        description="EDSR-baseline: 16 residual blocks x 64 features, no residual scaling (1.5M parameters)",
        paper_name="EDSR-baseline",
        weights=_weights("edsr-baseline"),
        official_code=OFFICIAL_CODE,
    )
)
# MDSR: ``build(scale)`` is the full multi-scale model (loads the official checkpoint strictly) with the branch
# for ``scale`` selected; the other two branches get no gradient from that scale's output.


def _idle_branches(scale: int, scales: Sequence[int] = (2, 3, 4)) -> tuple[str, ...]:
    return tuple(f"{part}.{i}.*" for i, s in enumerate(scales) if s != scale for part in ("pre_process", "upsample"))


register_model(
    ModelEntry(
        name="mdsr",
        family="edsr",
        paper=_PAPER,
        build=lambda scale: _mdsr(80, 64, scale),
        build_tiny=lambda scale: _mdsr(2, 16, scale),
        make=lambda scale, n_resblocks=80, n_feats=64, scales=(2, 3, 4): _mdsr(n_resblocks, n_feats, scale, scales),
        scales=(2, 3, 4),
        input=_RGB_255,
        tile_safe=True,
        params_without_grad=_idle_branches,
        description="MDSR: one multi-scale model (x2/x3/x4 branches, 80 shared blocks x 64 features, 8.0M parameters)",
        paper_name="MDSR",
        weights=_weights("mdsr"),
        official_code=OFFICIAL_CODE,
    )
)
register_model(
    ModelEntry(
        name="mdsr-baseline",
        family="edsr",
        paper=_PAPER,
        build=lambda scale: _mdsr(16, 64, scale),
        build_tiny=lambda scale: _mdsr(2, 16, scale),
        make=lambda scale, n_resblocks=16, n_feats=64, scales=(2, 3, 4): _mdsr(n_resblocks, n_feats, scale, scales),
        scales=(2, 3, 4),
        input=_RGB_255,
        tile_safe=True,
        params_without_grad=_idle_branches,
        description="MDSR-baseline: multi-scale, 16 shared blocks x 64 features (3.2M parameters)",
        paper_name="MDSR-baseline",
        weights=_weights("mdsr-baseline"),
        official_code=OFFICIAL_CODE,
    )
)


# ----------------------------------------------------------------------------------------------------------------
# Ports of the official classes (golden tests and manifests)


def _check_colors(args: Mapping[str, Any]) -> None:
    if args.get("n_colors", 3) != 3:
        raise ConfigError(f"EDSR/MDSR's MeanShift is RGB-only: n_colors must be 3, got {args['n_colors']}")


def _edsr_from_official_args(args: Mapping[str, Any]) -> EDSR:
    _check_colors(args)
    return EDSR(
        scale=int(args["scale"][0]),  # the official constructor reads only scale[0]
        n_resblocks=int(args["n_resblocks"]),
        n_feats=int(args["n_feats"]),
        res_scale=float(args["res_scale"]),
        rgb_range=float(args["rgb_range"]),
    )


def _mdsr_from_official_args(args: Mapping[str, Any]) -> MDSR:
    _check_colors(args)  # args["res_scale"] is ignored, as officially
    return MDSR(
        n_resblocks=int(args["n_resblocks"]),
        n_feats=int(args["n_feats"]),
        scales=[int(s) for s in args["scale"]],
        rgb_range=float(args["rgb_range"]),
    )


def _run_mdsr(model: nn.Module, x: Tensor) -> dict[str, Any]:
    assert isinstance(model, MDSR)
    previous = model.scale
    outputs: dict[str, Tensor] = {}
    for s in model.scales:
        model.set_scale(s)
        outputs[f"x{s}"] = model(x)
    model.set_scale(previous)
    return {"output": outputs}


for _dir in ("edsr", "edsr_baseline"):
    register_port(
        OfficialPort(golden_dir=_dir, source=f"{OFFICIAL_CODE}:src/model/edsr.py:EDSR", build=_edsr_from_official_args)
    )
register_port(
    OfficialPort(
        golden_dir="mdsr", source=f"{OFFICIAL_CODE}:src/model/mdsr.py:MDSR", build=_mdsr_from_official_args, run=_run_mdsr
    )
)
