"""Shared test helpers: R reference fixtures are loaded by name from tests/reference/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REFERENCE_DIR = Path(__file__).parent / "reference"
# jsonlite's na="string" writes R's non-finite numbers as these strings.
_NON_FINITE = {"NA": float("nan"), "NaN": float("nan"), "Inf": float("inf"), "-Inf": float("-inf")}


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, str):
        return _NON_FINITE.get(value, value)
    return value


def load_reference(name: str) -> Any:
    """The fixture ``tests/reference/<name>.json`` with R's "NA"/"Inf" strings as floats."""
    return _decode(json.loads((REFERENCE_DIR / f"{name}.json").read_text()))


@pytest.fixture(scope="session")
def reference() -> Callable[[str], Any]:
    """``reference("survival_lung")`` loads an R fixture by name."""
    return load_reference
