"""Import every model file in this package once, so that each registers its presets and official port.

Model files are discovered (every module not starting with ``_`` and not one of the infrastructure modules),
so adding a model means adding its file and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

_INFRASTRUCTURE = {"registry", "official", "blocks"}

for _info in pkgutil.iter_modules(importlib.import_module(__package__).__path__):
    if not _info.name.startswith("_") and _info.name not in _INFRASTRUCTURE:
        importlib.import_module(f"{__package__}.{_info.name}")
