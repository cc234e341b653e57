"""Shared test helpers: R reference fixtures are loaded by name from tests/reference/."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
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


def assert_close(actual: Any, expected: Any, rtol: float = 1e-6, atol: float = 0.0) -> None:
    """``actual`` equals R's ``expected`` elementwise within rtol (relative) + atol."""
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def assert_coefficient_table(rows: Any, table: dict[str, Any], statistic: str) -> None:
    """Coefficient rows (``term, estimate, se, <statistic>, p_value``) equal R's table (keys
    ``term, estimate, se, <statistic>, p``): relative 1e-6, p-values absolute 1e-12 too."""
    assert [r.term for r in rows] == table["term"]
    for key in ("estimate", "se", statistic):
        assert_close([getattr(r, key) for r in rows], table[key])
    assert_close([r.p_value for r in rows], table["p"], atol=1e-12)


@pytest.fixture(scope="session")
def reference() -> Callable[[str], Any]:
    """``reference("survival_lung")`` loads an R fixture by name."""
    return load_reference


CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Marks a test that opens a page in headless Chromium (skipped where it is not installed).
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs headless Chromium and its driver (Debian packages chromium, chromium-driver)")


@contextmanager
def chromium(page: Path) -> Iterator[Any]:
    """A headless Chromium (Selenium) that has opened ``page`` and fired its load event."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(page.as_uri())  # returns after the load event: every data: image decoded or failed
        yield driver
    finally:
        driver.quit()


def page_images(driver: Any) -> list[tuple[str, bool, int, float]]:
    """(figure id, complete, natural width, shown width) of every image of the open page."""
    script = ("return [...document.images].map((i) => [i.closest('figure').id, i.complete, i.naturalWidth,"
              " i.getBoundingClientRect().width])")
    return [tuple(i) for i in driver.execute_script(script)]
