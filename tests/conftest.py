"""Shared fixtures: where the reference data live, and whether missing data is an error (CI) or a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REQUIRE_DATA = os.environ.get("SR_REQUIRE_DATA", "") not in ("", "0")


def _env_dir(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value) if value else None


def require_dir(var: str, *parts: str) -> Path:
    """Return ``$var/parts``; skip the test with a clear reason (or fail under ``SR_REQUIRE_DATA=1``) when absent."""
    base = _env_dir(var)
    path = base.joinpath(*parts) if base else None
    if path is None or not path.exists():
        reason = f"{var} is not set" if base is None else f"{path} does not exist"
        msg = f"reference data missing: {reason}"
        if REQUIRE_DATA:
            pytest.fail(msg + " (SR_REQUIRE_DATA=1)")
        pytest.skip(msg)
    return path


def golden_files(pattern: str) -> list[Path]:
    """Files under ``$SR_GOLDEN_DIR`` matching ``pattern`` (collected at import time for parametrisation)."""
    base = _env_dir("SR_GOLDEN_DIR")
    if base is None or not base.is_dir():
        return []
    return sorted(base.glob(pattern))


@pytest.fixture
def data_dir() -> Path:
    return require_dir("SR_DATA_DIR")


@pytest.fixture
def weights_dir() -> Path:
    return require_dir("SR_WEIGHTS_DIR")


@pytest.fixture
def golden_dir() -> Path:
    return require_dir("SR_GOLDEN_DIR")
