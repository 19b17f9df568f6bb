"""Parameters and multiply-accumulates (MACs) of every registered model, computed without running it for real.

The networks are built on PyTorch's ``meta`` device: tensors there have shapes and dtypes but no storage, so a
forward pass costs no memory and almost no time, whatever the image size. (The whole-image attention of CSNLN at
x4 on a 320x180 LR image would need tens of GB if materialised.) :class:`torch.utils.flop_counter.FlopCounterMode`
records the FLOPs of every convolution (transposed ones included), matrix product (``mm``, ``addmm``, ``bmm``,
``baddbmm``) and fused attention call during that pass; one multiply-accumulate is two FLOPs, so
``MACs = FLOPs / 2``. Biases, activations, normalisation, pooling, softmax, interpolation and element-wise
arithmetic are **not** counted (they are a small fraction for these networks; bicubic interpolation counts as 0).

Input convention: the networks that take the bicubic-upscaled image (``InputSpec.pre_upsample``: SRCNN, VDSR,
CMSC) are fed an HR-size input, the others an LR-size one, so the numbers compare the cost of producing the same
HR image.

Parameter counts: ``params`` is every registered parameter (``nn.Module.parameters()``, buffers excluded);
``params_used`` only those that influence the output: every parameter is made trainable, and the autograd graph of
the meta forward pass is walked from the outputs back to the parameters it reaches (exactly those a backward pass
would give a gradient). They differ for MDSR (the model holds the x2, x3 and x4 branches, one runs) and SAN (the
official network registers parameters it never uses).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .errors import ConfigError

Tensor = torch.Tensor
Forward = Callable[[nn.Module, Tensor], Any]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (buffers excluded); with ``trainable_only`` only those with ``requires_grad``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _on_meta(model: nn.Module) -> nn.Module:
    """``model`` itself if it already lives on the meta device, else a meta copy (the original is not touched)."""
    if all(t.device.type == "meta" for t in list(model.parameters()) + list(model.buffers())):
        return model
    return copy.deepcopy(model).to("meta")


def _default_forward(model: nn.Module, x: Tensor) -> Any:
    return model(x)


def count_macs(model: nn.Module, input_shape: Sequence[int], forward: Forward | None = None) -> int:
    """Multiply-accumulates of one ``forward(model, x)`` on an input of ``input_shape`` (NCHW), counted on ``meta``.

    ``forward`` defaults to ``model(x)``; pass e.g. ``entry.predict`` or a tiled protocol. A model that is not on
    the meta device is copied there first, so no full-size tensor is ever allocated.
    """
    net = _on_meta(model)
    x = torch.empty(tuple(int(s) for s in input_shape), device="meta")
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        (forward or _default_forward)(net, x)
    flops = counter.get_total_flops()
    assert flops % 2 == 0, "FlopCounterMode counts 2 FLOPs per multiply-accumulate"
    return flops // 2


def _tensors(obj: Any) -> Iterator[Tensor]:
    """Every tensor in a (nested) output: tensors, sequences, dicts and dataclasses (CMSC, DAN outputs)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _tensors(getattr(obj, f.name))


def count_macs_via(model: nn.Module, input_shape: Sequence[int],
                   protocol: Callable[[Callable[[Tensor], Tensor], Tensor], Any],
                   predict: Forward | None = None) -> tuple[int, int]:
    """MACs of an inference protocol that runs the network on sub-images (tiling, ``forward_chop``, ...).

    ``protocol(fn, x)`` gets ``fn``, the network on one sub-image (``predict(model, t)``, default ``model(t)``), and
    the full input ``x`` (meta). Each distinct sub-image shape is counted once and multiplied by the number of calls,
    so a protocol with hundreds of tiles costs a few forward passes to count; the protocol's own slicing and
    stitching are not counted. Returns ``(MACs, number of network calls)``.
    """
    net = _on_meta(model)
    macs: dict[tuple[int, ...], int] = {}
    outputs: dict[tuple[int, ...], Tensor] = {}
    calls: dict[tuple[int, ...], int] = {}

    def fn(t: Tensor) -> Tensor:
        key = tuple(t.shape)
        if key not in macs:
            counter = FlopCounterMode(display=False)
            with counter:
                outputs[key] = (predict or _default_forward)(net, torch.empty(key, device="meta"))
            macs[key] = counter.get_total_flops() // 2
        calls[key] = calls.get(key, 0) + 1
        return torch.empty_like(outputs[key])

    with torch.no_grad():
        protocol(fn, torch.empty(tuple(int(s) for s in input_shape), device="meta"))
    return sum(macs[k] * n for k, n in calls.items()), sum(calls.values())


def count_used_parameters(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Parameter elements that influence any output of ``model(x)`` (those a backward pass would give a gradient).

    Runs ``model(x)`` on a meta copy with every parameter made trainable (so frozen ones such as EDSR's MeanShift
    count as used) and walks the autograd graph from the outputs to the parameters it reaches; no backward pass is
    run. The caller's module is not modified.
    """
    net = _on_meta(model)
    net = copy.deepcopy(net) if net is model else net
    for p in net.parameters():
        p.requires_grad_(True)
    with torch.enable_grad():
        out = net(torch.empty(tuple(int(s) for s in input_shape), device="meta"))
    return _reachable_elements(net, [out])


def _reachable_elements(net: nn.Module, outputs: Sequence[Any]) -> int:
    """Number of elements of ``net``'s parameters reachable in the autograd graph of ``outputs``."""
    reached: set[int] = set()
    stack = []
    for t in (t for o in outputs for t in _tensors(o)):
        if t.grad_fn is not None:
            stack.append(t.grad_fn)
        elif t.requires_grad:
            reached.add(id(t))  # a parameter returned as it is
    seen: set[Any] = set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        leaf = getattr(node, "variable", None)  # AccumulateGrad nodes hold the leaf tensor
        if leaf is not None:
            reached.add(id(leaf))
        stack.extend(nxt for nxt, _ in node.next_functions if nxt is not None)
    return sum(p.numel() for p in net.parameters() if id(p) in reached)


# ----------------------------------------------------------------------------------------------------------------
# Registry-wide table


def input_shape_for(name: str, scale: int, lr_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """NCHW input of model ``name`` for an LR image of ``lr_hw``: HR-size for pre-upsampling networks."""
    from .models import get_model_entry

    entry = get_model_entry(name)
    h, w = lr_hw
    if entry.input.pre_upsample:
        h, w = h * scale, w * scale
    return (1, entry.input.channels, h, w)


def build_on_meta(name: str, scale: int) -> nn.Module:
    """The paper preset of ``name`` at ``scale`` on the meta device (no memory for weights), in eval mode."""
    from .models import create_model

    with torch.device("meta"):
        model = create_model(name, scale)
    return model.to("meta").eval()  # buffers created off the meta device (if any) move too


def input_convention(name: str) -> str:
    """A short description of what the network takes, e.g. ``"Y, bicubic HR-size, [0,1]"``."""
    from .models import get_model_entry

    spec = get_model_entry(name).input
    color = "Y" if spec.color == "y" else "RGB"
    size = "bicubic HR-size" if spec.pre_upsample else "LR"
    return f"{color}, {size}, [0,{spec.pixel_max:g}]"


@dataclass(frozen=True)
class ComplexityRow:
    """One model of :func:`complexity_table`; numbers are None when the model has no preset for the scale."""

    model: str
    family: str
    scale: int
    supported: bool
    params: int | None
    params_used: int | None
    macs: int | None
    input_shape: tuple[int, int, int, int] | None
    input: str
    tile_safe: bool
    note: str = ""

    @property
    def gmacs(self) -> float | None:
        return None if self.macs is None else self.macs / 1e9


def model_complexity(name: str, scale: int = 4, lr_hw: tuple[int, int] = (180, 320)) -> ComplexityRow:
    """Parameters and MACs of the paper preset ``name`` at ``scale`` for an LR image of ``lr_hw`` (height, width)."""
    from .models import get_model_entry

    entry = get_model_entry(name)
    if len(lr_hw) != 2 or min(lr_hw) < 1:
        raise ConfigError(f"lr_hw must be (height, width) with positive sizes, got {lr_hw!r}")
    if scale not in entry.scales:
        return ComplexityRow(name, entry.family, scale, False, None, None, None, None, input_convention(name),
                             entry.tile_safe, f"no x{scale} preset (scales: {', '.join(f'x{s}' for s in entry.scales)})")
    shape = input_shape_for(name, scale, lr_hw)
    model = build_on_meta(name, scale)
    params = count_parameters(model)
    # One pass gives both numbers: MACs of `predict` (FlopCounterMode sees only the forward) and, from the raw
    # outputs of every model call (a forward hook), the parameters the autograd graph reaches.
    for p in model.parameters():
        p.requires_grad_(True)
    raw: list[Any] = []
    hook = model.register_forward_hook(lambda module, args, out: raw.append(out))
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.enable_grad():
            entry.predict(model, torch.empty(shape, device="meta"))
    finally:
        hook.remove()
    macs = counter.get_total_flops() // 2
    used = _reachable_elements(model, raw)
    notes = []
    if used != params:
        notes.append(f"{params - used:,} params unused at x{scale}")
    if entry.family == "bicubic":
        notes.append("interpolation only (not counted)")
    return ComplexityRow(name, entry.family, scale, True, params, used, macs, shape, input_convention(name),
                         entry.tile_safe, "; ".join(notes))


def complexity_table(scale: int = 4, lr_hw: tuple[int, int] = (180, 320),
                     models: Sequence[str] | None = None) -> list[ComplexityRow]:
    """:func:`model_complexity` of every registered model (sorted by name), or of ``models`` in the given order.

    Models without a preset at ``scale`` are kept as rows with ``supported=False`` and a note.
    """
    from .models import list_models

    return [model_complexity(name, scale, lr_hw) for name in (models or list_models())]


def format_table(rows: Sequence[ComplexityRow], markdown: bool = True) -> str:
    """The rows as a Markdown (or plain-text) table (:mod:`sr_lib.tables`): parameters in millions, MACs in G."""
    from .tables import Table

    header = ["model", "family", "params (M)", "used (M)", "GMACs", "input", "input shape", "tile-safe", "note"]
    body: list[list[Any]] = []
    for r in rows:
        if not r.supported:
            body.append([r.model, r.family, "-", "-", "-", r.input, "-", r.tile_safe, r.note])
            continue
        assert r.params is not None and r.params_used is not None and r.gmacs is not None and r.input_shape
        shape = "x".join(str(s) for s in r.input_shape[1:])
        body.append([r.model, r.family, f"{r.params / 1e6:.3f}", f"{r.params_used / 1e6:.3f}", f"{r.gmacs:,.1f}",
                     r.input, shape, r.tile_safe, r.note])
    out = Table(header, body)
    return out.markdown() if markdown else out.text()


# ----------------------------------------------------------------------------------------------------------------
# Official counts (for comparison)


@dataclass(frozen=True)
class OfficialCount:
    """The parameter count of the *official* network class for a paper configuration, and what the paper claims.

    params: ``sum(p.numel() for p in official_model.parameters())`` of the unmodified class at :attr:`source`,
        instantiated with the paper configuration (the project's reference manifests).
    params_used: where it differs, the parameters that take part in the forward pass at this scale.
    claim: the figure given by the paper or the official README.
    location: ``path:Class`` (or file) in the registry entry's ``official_code``.
    """

    model: str
    scale: int
    params: int
    params_used: int | None
    claim: str
    location: str

    @property
    def source(self) -> str:
        """``owner/name@commit:path:Class``, the commit from the model's registry entry."""
        from .models import get_model_entry

        return get_model_entry(self.model).official_source(self.location)


#: x4 counts of the official classes (all registry models with official code and an x4 preset).
OFFICIAL_PARAM_COUNTS: tuple[OfficialCount, ...] = (
    OfficialCount("srcnn", 4, 57_281, None, "57K (9-5-5)", "model/9-5-5(ImageNet)/x4.mat"),
    OfficialCount("vdsr-nobias", 4, 664_704, None, "VDSR paper (Caffe, with biases): 665,921", "vdsr.py:Net"),
    OfficialCount("edsr", 4, 43_089_947, None, "43M", "src/model/edsr.py:EDSR"),
    OfficialCount("edsr-baseline", 4, 1_517_595, None, "1.5M (1.37M is the x2 count)", "src/model/edsr.py:EDSR"),
    OfficialCount("mdsr", 4, 7_954_011, 6_654_235, "8M = all three branches", "src/model/mdsr.py:MDSR"),
    OfficialCount("mdsr-baseline", 4, 3_227_227, 1_927_451, "3.2M = all three branches", "src/model/mdsr.py:MDSR"),
    OfficialCount("rcan", 4, 15_592_379, None, "~15.6M", "RCAN_TrainCode/code/model/rcan.py:RCAN"),
    OfficialCount("san", 4, 15_860_512, 15_822_468, "~15.7M (38,044 registered but unused)",
                  "TrainCode/model/san.py:SAN"),
    OfficialCount("csnln", 4, 6_568_627, None, "~3M (the x2 count)", "src/model/csnln.py:CSNLN"),
    OfficialCount("msrn", 4, 6_078_043, None, "~6.3M", "MSRN/Train/model/msrn.py:MSRN"),
    OfficialCount("srresnet-in", 4, 1_546_752, None, "~1.5M", "srresnet.py:_NetG"),
    OfficialCount("dan-v1", 4, 4_329_511, None, "~4.3M", "codes/config/DANv1/models/modules/dan_arch.py:DAN"),
    OfficialCount("dan-v2", 4, 4_707_708, None, "-", "codes/config/DANv2/models/modules/dan_arch.py:DAN"),
)
