"""Read legacy (pre-zip) torch pickles without executing code from them.

Old checkpoints (torch < 1.6, e.g. twtygqyy/pytorch-vdsr's ``model_epoch_50.pth``) often pickle a whole
``nn.Module``. ``torch.load(weights_only=False)`` would import and run whatever globals the file names, so a
malicious file runs arbitrary code. Here a :class:`RestrictedUnpickler` resolves only

* the tensor-rebuild functions (``torch._utils._rebuild_tensor``, ``_rebuild_tensor_v2``, ``_rebuild_parameter``),
  re-implemented here on top of ``Tensor.as_strided`` with bounds checks,
* the legacy storage types (``torch.FloatStorage``, ...), as inert dtype markers that cannot be called,
* ``collections.OrderedDict``, ``set`` and ``frozenset``,
* an explicit allow-list of class names given by the caller, each mapped to an :class:`InertObject` subclass that
  runs no code and only records what the pickle hands it (constructor arguments and ``__setstate__`` state).

Any other global raises :class:`~sr_lib.errors.WeightsError` naming it, before anything is called.

The legacy file layout (what ``torch.save(..., _use_new_zipfile_serialization=False)`` writes) is five
consecutive pickles and raw bytes:

1. the magic number ``0x1950a86a20f9469cfc6c``;
2. the protocol version ``1001``;
3. ``sys_info`` (``{"protocol_version", "little_endian", "type_sizes"}``);
4. the object itself, whose storages are persistent ids
   ``("storage", storage_type, key, location, numel, view_metadata)`` and whose pickled module classes are
   ``("module", cls, source_file, source)``;
5. the list of storage keys, followed for each key by an int64 element count and that many raw elements.

Tensors are rebuilt as views of empty CPU storages while the object is unpickled, and the storages are filled
from the raw bytes afterwards (the location, e.g. ``cuda:0``, is ignored: everything lands on the CPU).
"""

from __future__ import annotations

import hashlib
import io
import math
import pickle
import struct
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Mapping

import torch

from .errors import WeightsError

Tensor = torch.Tensor

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001


# --------------------------------------------------------------------------------------------------------------
# Inert stand-ins
# --------------------------------------------------------------------------------------------------------------


class InertObject:
    """Stands in for an allow-listed class. It executes nothing: it only remembers its arguments and state.

    ``qualname`` is the dotted name the pickle referred to (e.g. ``"vdsr.Net"``). A pickled module's attributes
    (``_parameters``, ``_modules``, ...) end up in ``__dict__`` through :meth:`__setstate__`.
    """

    qualname: ClassVar[str] = "<inert>"
    args: tuple[Any, ...] = ()
    state: Any = None

    def __init__(self, *args: Any) -> None:  # pickle REDUCE: ``cls(*args)``
        self.args = args

    def __setstate__(self, state: Any) -> None:  # pickle BUILD
        if isinstance(state, dict):
            self.__dict__.update({k: v for k, v in state.items() if isinstance(k, str) and k not in _RESERVED})
        else:
            self.state = state

    def __repr__(self) -> str:
        return f"<inert {self.qualname}>"


_RESERVED = frozenset({"qualname", "args", "state"})


class _StorageType:
    """A legacy storage class (``torch.FloatStorage``) reduced to its dtype; calling it is refused."""

    def __init__(self, name: str, dtype: torch.dtype) -> None:
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        return f"<storage type {self.name}>"


class _Storage:
    """A flat CPU tensor standing in for one legacy storage until its bytes are read."""

    def __init__(self, key: str, dtype: torch.dtype, numel: int) -> None:
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.flat = torch.empty(numel, dtype=dtype)
        self.filled = False


_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class _UnpickledTensor(torch.Tensor):
    """A tensor rebuilt by the restricted unpickler, until it is handed out as a plain tensor.

    It refuses pickle's BUILD: ``Tensor.__setstate__`` would call ``set_``/set hooks with values from the file,
    and no file written by ``torch.save`` sets the state of a rebuilt tensor.
    """

    def __setstate__(self, state: Any) -> None:
        raise WeightsError("refusing to set the state of a rebuilt tensor (not something torch.save writes)")


def _check_int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or not all(isinstance(v, int) and v >= 0 for v in value):
        raise WeightsError(f"corrupt tensor record: {what} is not a tuple of non-negative ints")
    return tuple(value)


def _rebuild_tensor(storage: Any, storage_offset: Any, size: Any, stride: Any) -> Tensor:
    """Safe version of ``torch._utils._rebuild_tensor``: a bounds-checked strided view of a legacy storage."""
    if not isinstance(storage, _Storage):
        raise WeightsError("corrupt tensor record: its storage is not a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise WeightsError("corrupt tensor record: bad storage offset")
    size, stride = _check_int_tuple(size, "size"), _check_int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise WeightsError("corrupt tensor record: size and stride differ in length")
    if 0 not in size:
        last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel:
            raise WeightsError(f"corrupt tensor record: view {size} reaches past its storage of {storage.numel}")
        if math.prod(size) > storage.numel:  # overlapping (e.g. expanded) views could be huge once copied
            raise WeightsError(f"unsupported tensor record: view {size} has more elements than its storage")
    # ``as_strided`` offsets count from the start of the underlying buffer; a storage view starts inside it
    view = storage.flat.as_strided(size, stride, storage.flat.storage_offset() + storage_offset)
    return view.as_subclass(_UnpickledTensor)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: Any, size: Any, stride: Any, requires_grad: Any = False, backward_hooks: Any = None,
    metadata: Any = None,
) -> Tensor:
    """Safe version of ``torch._utils._rebuild_tensor_v2`` (torch >= 0.4 legacy files); hooks are ignored."""
    return _rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data: Any, requires_grad: Any = True, backward_hooks: Any = None) -> Tensor:
    """Safe version of ``torch._utils._rebuild_parameter``: the parameter's tensor (hooks are ignored)."""
    if not isinstance(data, Tensor):
        raise WeightsError("corrupt parameter record: its data is not a tensor")
    return data


#: Globals every restricted unpickler resolves (to the safe stand-ins above, never to the torch originals).
SAFE_GLOBALS: dict[str, Any] = {
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,  # nn.Module._non_persistent_buffers_set (protocol-2 pickles name it ``__builtin__``)
    "__builtin__.set": set,
    "builtins.frozenset": frozenset,
    "__builtin__.frozenset": frozenset,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    **{f"torch.{name}": _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


# --------------------------------------------------------------------------------------------------------------
# The restricted unpickler
# --------------------------------------------------------------------------------------------------------------


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only :data:`SAFE_GLOBALS` and ``allowed_classes``.

    allowed_classes: dotted names (``"vdsr.Net"``, ``"torch.nn.modules.conv.Conv2d"``) mapped to fresh
        :class:`InertObject` subclasses; nothing of the real class is imported.
    persistent_load: handler for persistent ids (the legacy torch format uses them for storages); without one,
        a persistent id is an error.
    """

    def __init__(
        self,
        file: io.BufferedIOBase | io.BytesIO,
        *,
        allowed_classes: Iterable[str] = (),
        persistent_load: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(file, encoding="utf-8")
        self._inert: dict[str, type[InertObject]] = {
            name: type(name.rsplit(".", 1)[-1], (InertObject,), {"qualname": name}) for name in allowed_classes
        }
        self._persistent_handler = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        qualname = f"{module}.{name}"
        if qualname in SAFE_GLOBALS:
            return SAFE_GLOBALS[qualname]
        if qualname in self._inert:
            return self._inert[qualname]
        raise WeightsError(f"refusing to unpickle global '{qualname}': not on the allow-list of this loader")

    def persistent_load(self, pid: Any) -> Any:
        if self._persistent_handler is None:
            raise WeightsError("unexpected persistent id in pickle")
        return self._persistent_handler(pid)


def restricted_loads(data: bytes, allowed_classes: Iterable[str] = ()) -> Any:
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; any failure is one :class:`WeightsError` line."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed_classes=allowed_classes).load()
    except WeightsError:
        raise
    except Exception as exc:
        raise WeightsError(f"not a readable pickle ({_describe(exc)})") from None


# --------------------------------------------------------------------------------------------------------------
# The legacy torch file format
# --------------------------------------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_legacy_torch_file(data: bytes) -> bool:
    """Whether ``data`` starts with the legacy torch magic-number pickle."""
    try:
        return restricted_loads(data) == LEGACY_MAGIC_NUMBER  # reads the first pickle only
    except WeightsError:
        return False


def _plain(obj: Any, memo: dict[int, Any]) -> Any:
    """Replace every :class:`_UnpickledTensor` in the unpickled structure by a plain tensor (same memory)."""
    if isinstance(obj, _UnpickledTensor):
        return obj.as_subclass(Tensor)
    if id(obj) in memo:  # shared or cyclic references
        return memo[id(obj)]
    memo[id(obj)] = obj
    if isinstance(obj, dict):
        for key, value in list(obj.items()):
            obj[key] = _plain(value, memo)
    elif isinstance(obj, list):
        obj[:] = [_plain(value, memo) for value in obj]
    elif isinstance(obj, tuple):
        memo[id(obj)] = tuple(_plain(value, memo) for value in obj)
    elif isinstance(obj, InertObject):
        _plain(obj.__dict__, memo)
    return memo[id(obj)]


def _parse_legacy(data: bytes, allowed_classes: Iterable[str]) -> Any:
    f = io.BytesIO(data)

    def load_plain() -> Any:  # header pickles: no globals at all
        return RestrictedUnpickler(f).load()

    if load_plain() != LEGACY_MAGIC_NUMBER:
        raise WeightsError("not a legacy torch file (bad magic number)")
    protocol = load_plain()
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise WeightsError(f"unsupported legacy torch protocol version {protocol!r}")
    sys_info = load_plain()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise WeightsError("legacy torch file written on a big-endian machine or without sys_info; not supported")

    storages: dict[str, _Storage] = {}
    budget = len(data)  # declared storages must fit in the file: no huge allocation from a forged header

    def persistent_load(pid: Any) -> Any:
        nonlocal budget
        if not isinstance(pid, tuple) or not pid:
            raise WeightsError("corrupt persistent id")
        kind = pid[0]
        if kind == "module" and len(pid) == 4:
            cls = pid[1]  # already resolved through find_class, so an inert stand-in
            if not (isinstance(cls, type) and issubclass(cls, InertObject)):
                raise WeightsError("corrupt module record")
            return cls
        if kind != "storage" or len(pid) != 6:
            raise WeightsError(f"unsupported persistent id {str(kind)[:40]!r}")
        storage_type, key, _location, numel, view_metadata = pid[1:]
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str) or not isinstance(numel, int):
            raise WeightsError("corrupt storage record")
        root = storages.get(key)
        if root is None:
            itemsize = torch.empty((), dtype=storage_type.dtype).element_size()
            budget -= numel * itemsize
            if numel < 0 or budget < 0:
                raise WeightsError("corrupt storage record: declared storages are larger than the file")
            root = storages[key] = _Storage(key, storage_type.dtype, numel)
        elif root.dtype != storage_type.dtype or root.numel != numel:
            raise WeightsError(f"corrupt storage record: storage {key} declared twice differently")
        if view_metadata is None:
            return root
        view_key, offset, view_numel = view_metadata
        ints = isinstance(offset, int) and isinstance(view_numel, int)
        if not ints or not 0 <= offset <= offset + view_numel <= numel:
            raise WeightsError("corrupt storage view record")
        view = _Storage(str(view_key), root.dtype, 0)
        view.numel, view.flat = view_numel, root.flat[offset : offset + view_numel]
        return view

    obj = RestrictedUnpickler(f, allowed_classes=allowed_classes, persistent_load=persistent_load).load()

    keys = load_plain()
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise WeightsError("corrupt storage key list")
    for key in keys:
        if key not in storages:
            raise WeightsError(f"storage {key} has data but no tensor")
        storage = storages[key]
        header = f.read(8)
        if len(header) != 8:
            raise WeightsError("file is truncated (storage header)")
        (numel,) = struct.unpack("<q", header)
        if numel != storage.numel:
            raise WeightsError(f"storage {key}: {numel} elements stored, {storage.numel} declared")
        nbytes = numel * storage.flat.element_size()
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise WeightsError("file is truncated (storage data)")
        if numel:
            storage.flat.copy_(torch.frombuffer(bytearray(raw), dtype=storage.dtype))
        storage.filled = True
    unfilled = [k for k, s in storages.items() if not s.filled]
    if unfilled:
        raise WeightsError(f"storage {unfilled[0]} has no data")
    if f.read(1):
        raise WeightsError("trailing bytes after the last storage")
    return _plain(obj, {})


def load_legacy_torch_file(
    path: str | Path,
    *,
    allowed_classes: Iterable[str],
    expected_sha256: str | None,
) -> Any:
    """Read a legacy (pre-zip) ``torch.save`` file without executing code from it.

    allowed_classes: the dotted class names the file may reference (mapped to :class:`InertObject` stand-ins).
    expected_sha256: the file's SHA-256 (hex); ``None`` skips the check (only for files you trust to be
        what they claim; the unpickling stays restricted either way).
    Every failure (missing, zip-format, truncated, refused global, hash mismatch) is one :class:`WeightsError` line.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04":
        raise WeightsError(f"{path}: a zip-format torch file, not a legacy pickle; use torch.load(weights_only=True)")
    if not is_legacy_torch_file(data):
        raise WeightsError(f"{path}: not a legacy torch file (no torch magic number)")
    if expected_sha256 is not None:
        digest = sha256_of(data)
        if digest != expected_sha256.lower():
            raise WeightsError(f"{path}: sha256 {digest[:16]}... does not match the expected {expected_sha256[:16]}...")
    try:
        return _parse_legacy(data, allowed_classes)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None
    except Exception as exc:  # pickle raises many types for corrupt input
        raise WeightsError(f"{path}: corrupt legacy torch file ({_describe(exc)})") from None


# --------------------------------------------------------------------------------------------------------------
# From inert module trees to state dicts
# --------------------------------------------------------------------------------------------------------------


def _tensor_of(value: Any, where: str) -> Tensor:
    if isinstance(value, Tensor):
        return value
    # torch 0.3 pickles a Parameter as ``Parameter(tensor)`` plus a (requires_grad, volatile, hooks) state
    if isinstance(value, InertObject) and type(value).qualname == "torch.nn.parameter.Parameter" and value.args:
        if isinstance(value.args[0], Tensor):
            return value.args[0]
    raise WeightsError(f"{where} is not a tensor")


def inert_module_state_dict(module: Any, prefix: str = "") -> dict[str, Tensor]:
    """The ``state_dict`` of a pickled ``nn.Module`` read as :class:`InertObject` stand-ins.

    Walks ``_parameters``, ``_buffers`` and ``_modules`` in their stored order, as ``nn.Module.state_dict`` does;
    the tensors are copied out of the shared storages.
    """
    if not isinstance(module, InertObject):
        raise WeightsError(f"{prefix.rstrip('.') or 'the model'} is not a pickled module")
    out: dict[str, Tensor] = {}
    non_persistent = module.__dict__.get("_non_persistent_buffers_set", set())
    for table in ("_parameters", "_buffers"):
        entries = module.__dict__.get(table, {})
        if not isinstance(entries, Mapping):
            raise WeightsError(f"{prefix}{table} of {type(module).qualname} is not a mapping")
        for name, value in entries.items():
            if value is not None and not (table == "_buffers" and name in non_persistent):
                out[f"{prefix}{name}"] = _tensor_of(value, f"{prefix}{name}").detach().clone()
    children = module.__dict__.get("_modules", {})
    if not isinstance(children, Mapping):
        raise WeightsError(f"{prefix}_modules of {type(module).qualname} is not a mapping")
    for name, child in children.items():
        if child is not None:
            out.update(inert_module_state_dict(child, f"{prefix}{name}."))
    return out
