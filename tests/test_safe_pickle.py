"""The restricted unpickler executes nothing from a file: it refuses every global that is not a tensor-rebuild
function, a storage type, an ordered dict or an allow-listed class (which becomes an inert stand-in)."""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn

from sr_lib.errors import WeightsError
from sr_lib.safe_pickle import (
    LEGACY_MAGIC_NUMBER,
    LEGACY_PROTOCOL_VERSION,
    InertObject,
    inert_module_state_dict,
    load_legacy_torch_file,
    restricted_loads,
    sha256_of,
)

TRAP_CALLS: list[str] = []


class Trap:
    """A class whose construction would be visible; unpickling it through the allow-list must not construct it."""

    def __init__(self, *args: object) -> None:
        TRAP_CALLS.append("init")

    def __setstate__(self, state: object) -> None:
        TRAP_CALLS.append("setstate")

    def __reduce__(self):  # type: ignore[override]
        return (Trap, ("payload",), {"x": 1})


class ShellPayload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[override]
        return (os.system, (f"touch {self.marker}",))


class EvalPayload:
    def __reduce__(self):  # type: ignore[override]
        return (eval, ("__import__('os').getcwd()",))


def _legacy_file(body: bytes, keys: list[str] | None = None, raw: bytes = b"") -> bytes:
    """A legacy torch file around an arbitrary object pickle (what torch.save wrote before the zip format)."""
    header = b"".join(
        pickle.dumps(x, protocol=2)
        for x in (LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, {"protocol_version": 1001, "little_endian": True,
                                                                 "type_sizes": {"int": 4, "short": 2, "long": 4}})
    )
    return header + body + pickle.dumps(keys or [], protocol=2) + raw


def _legacy_torch_save(obj: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


# --- malicious input ------------------------------------------------------------------------------------------


def test_os_system_payload_is_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    data = pickle.dumps({"model": ShellPayload(marker)}, protocol=2)
    with pytest.raises(WeightsError, match=r"refusing to unpickle global '(posix|os|nt)\.system'"):
        restricted_loads(data)
    assert not marker.exists()


def test_malicious_legacy_torch_file_is_refused_and_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(pickle.dumps({"epoch": 1, "model": ShellPayload(marker)}, protocol=2)))
    with pytest.raises(WeightsError, match="system") as info:
        load_legacy_torch_file(path, allowed_classes=["vdsr.Net"], expected_sha256=None)
    assert "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [EvalPayload(), getattr, print], ids=["eval", "getattr", "print"])
def test_builtins_are_refused(payload: object) -> None:
    with pytest.raises(WeightsError, match=r"refusing to unpickle global '(builtins|__builtin__)\."):
        restricted_loads(pickle.dumps(payload, protocol=2))


def test_torch_globals_outside_the_allow_list_are_refused() -> None:
    # torch.load itself, or a real module class, could be abused; only the inert stand-ins are available
    for obj in (torch.load, nn.Conv2d):
        with pytest.raises(WeightsError, match="refusing to unpickle global 'torch"):
            restricted_loads(pickle.dumps(obj, protocol=2))


def test_allow_listed_class_becomes_an_inert_object_without_running_its_code() -> None:
    TRAP_CALLS.clear()
    data = pickle.dumps([Trap()], protocol=2)
    TRAP_CALLS.clear()  # pickling constructed nothing, but be explicit
    obj = restricted_loads(data, allowed_classes=[f"{__name__}.Trap"])[0]
    assert isinstance(obj, InertObject) and not isinstance(obj, Trap)
    assert type(obj).qualname == f"{__name__}.Trap"
    assert obj.args == ("payload",) and obj.x == 1
    assert TRAP_CALLS == []


def test_storage_types_are_not_callable() -> None:
    class CallStorage:
        def __reduce__(self):  # type: ignore[override]
            return (torch.FloatStorage, (10**12,))

    with pytest.raises(WeightsError):
        restricted_loads(pickle.dumps(CallStorage(), protocol=2))


# --- the legacy format ----------------------------------------------------------------------------------------


def test_legacy_state_dict_round_trips_exactly(tmp_path: Path) -> None:
    base = torch.randn(5, 7)
    sd = OrderedDict(
        w=torch.randn(3, 4, dtype=torch.float64),
        view=base[1:4, 2:].t(),  # a strided view with an offset into a shared storage
        full=base,
        idx=torch.arange(6),
        half=torch.randn(2, 2).half(),
    )
    path = tmp_path / "sd.pth"
    path.write_bytes(_legacy_torch_save(sd))
    loaded = load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
    assert list(loaded) == list(sd)
    for key, value in sd.items():
        assert loaded[key].dtype == value.dtype
        assert torch.equal(loaded[key], value), key


def test_legacy_pickled_module_gives_its_state_dict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU())
    module[1].running_mean.normal_()
    path = tmp_path / "module.pth"
    path.write_bytes(_legacy_torch_save({"model": module}))
    names = [f"torch.nn.modules.{n}" for n in ("container.Sequential", "conv.Conv2d", "batchnorm.BatchNorm2d",
                                                "activation.ReLU")]
    obj = load_legacy_torch_file(path, allowed_classes=names, expected_sha256=None)
    state = inert_module_state_dict(obj["model"])
    expected = module.state_dict()
    assert list(state) == list(expected)
    for key in expected:
        assert torch.equal(state[key], expected[key]), key


def test_missing_class_in_allow_list_is_named(tmp_path: Path) -> None:
    path = tmp_path / "module.pth"
    path.write_bytes(_legacy_torch_save(nn.Sequential(nn.Conv2d(1, 1, 1))))
    with pytest.raises(WeightsError, match="torch.nn.modules.container.Sequential"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)


def test_sha256_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "sd.pth"
    data = _legacy_torch_save({"a": torch.ones(3)})
    path.write_bytes(data)
    assert load_legacy_torch_file(path, allowed_classes=(), expected_sha256=sha256_of(data))["a"].sum() == 3
    with pytest.raises(WeightsError, match="sha256"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256="0" * 64)


@pytest.mark.parametrize("cut", [20, 200, -3])
def test_truncated_file_is_one_line_error(tmp_path: Path, cut: int) -> None:
    data = _legacy_torch_save({"a": torch.randn(50)})
    path = tmp_path / "cut.pth"
    path.write_bytes(data[:cut])
    with pytest.raises(WeightsError) as info:
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
    assert "\n" not in str(info.value)


def test_trailing_bytes_missing_file_and_zip_file_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(_legacy_torch_save({"a": torch.ones(2)}) + b"junk")
    with pytest.raises(WeightsError, match="trailing"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
    with pytest.raises(WeightsError, match="not found"):
        load_legacy_torch_file(tmp_path / "nope.pth", allowed_classes=(), expected_sha256=None)
    torch.save({"a": torch.ones(2)}, path)  # zip format
    with pytest.raises(WeightsError, match="zip-format"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
    path.write_bytes(b"not a torch file at all")
    with pytest.raises(WeightsError, match="not a legacy torch file"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)


def test_forged_storage_size_does_not_allocate(tmp_path: Path) -> None:
    """A header that declares a huge storage is refused before any allocation."""

    class Forged:
        def __reduce__(self):  # type: ignore[override]
            return (torch._utils._rebuild_tensor, (_PersistentStorage(), 0, (10**12,), (1,)))

    class _PersistentStorage:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, _PersistentStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", 10**12, None)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(Forged())
    path = tmp_path / "forged.pth"
    path.write_bytes(_legacy_file(buf.getvalue(), keys=["0"]))
    with pytest.raises(WeightsError, match="larger than the file"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)


def test_view_past_its_storage_is_refused(tmp_path: Path) -> None:
    class _PersistentStorage:
        pass

    class Forged:
        def __reduce__(self):  # type: ignore[override]
            return (torch._utils._rebuild_tensor, (_PersistentStorage(), 2, (4,), (1,)))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, _PersistentStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", 4, None)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(Forged())
    path = tmp_path / "forged.pth"
    raw = (4).to_bytes(8, "little") + torch.zeros(4).numpy().tobytes()
    path.write_bytes(_legacy_file(buf.getvalue(), keys=["0"], raw=raw))
    with pytest.raises(WeightsError, match="past its storage"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)


def test_setting_the_state_of_a_rebuilt_tensor_is_refused(tmp_path: Path) -> None:
    """``Tensor.__setstate__`` would call ``set_`` with values from the file; torch.save never asks for it."""

    class _PersistentStorage:
        pass

    class Forged:
        def __reduce__(self):  # type: ignore[override]
            args = (_PersistentStorage(), 0, (4,), (1,))
            return (torch._utils._rebuild_tensor, args, (_PersistentStorage(), 0, (4,), (1,)))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            if isinstance(obj, _PersistentStorage):
                return ("storage", torch.FloatStorage, "0", "cpu", 4, None)
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(Forged())
    path = tmp_path / "forged.pth"
    raw = (4).to_bytes(8, "little") + torch.zeros(4).numpy().tobytes()
    path.write_bytes(_legacy_file(buf.getvalue(), keys=["0"], raw=raw))
    with pytest.raises(WeightsError, match="refusing to set the state"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)


def test_loaded_tensors_are_plain_tensors(tmp_path: Path) -> None:
    path = tmp_path / "sd.pth"
    shared = torch.randn(3)
    path.write_bytes(_legacy_torch_save({"a": [shared, (shared, torch.ones(1))], "b": shared}))
    loaded = load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
    tensors = [loaded["a"][0], loaded["a"][1][0], loaded["a"][1][1], loaded["b"]]
    assert all(type(t) is torch.Tensor for t in tensors)
    assert torch.equal(loaded["b"], shared)


def test_expanded_views_are_refused_rather_than_materialised(tmp_path: Path) -> None:
    path = tmp_path / "expanded.pth"
    path.write_bytes(_legacy_torch_save({"a": torch.zeros(1).expand(10**6)}))
    with pytest.raises(WeightsError, match="more elements than its storage"):
        load_legacy_torch_file(path, allowed_classes=(), expected_sha256=None)
