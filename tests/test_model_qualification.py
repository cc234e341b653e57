"""Qualification: virtual patients reproduce the published facts within their stated bands."""

from __future__ import annotations

from pathlib import Path

import pytest

from lupustrial.model.parameters import ModelParameters
from lupustrial.model.qualification import Qualification, markdown_table, plot_qualification, qualify


@pytest.fixture(scope="module")
def result() -> Qualification:
    """The calibrated set, as docs/qualification.md shows it (500 patients, seed 2021)."""
    return qualify(n=500, seed=2021)


def test_every_published_fact_is_within_its_band(result: Qualification) -> None:
    failed = [f"{c.name}: {c.value:.3g} not in [{c.low:g}, {c.high:g}]" for c in result.checks if not c.passed]
    assert not failed
    assert len(result.checks) == 8


def test_belimumab_trough_lies_below_its_peak(result: Qualification) -> None:
    assert 0 < result.trough_ug_ml < result.checks[0].value


def test_belimumab_after_rituximab_lowers_anti_dsdna_and_b_cells_at_week_52(result: Qualification) -> None:
    import numpy as np

    c = result.curves
    assert np.median(c["anti_dsdna_rel_belimumab"][:, 364]) < np.median(c["anti_dsdna_rel"][:, 364])
    assert np.median(c["cd19_rel_belimumab"][:, 364]) < np.median(c["cd19_rel"][:, 364])


def test_plots_are_written(result: Qualification, tmp_path) -> None:
    paths = plot_qualification(result, tmp_path / "img")
    assert len(paths) == 5 and all(p.stat().st_size > 5000 for p in paths)


def test_docs_table_equals_the_code(result: Qualification) -> None:
    doc = (Path(__file__).parents[1] / "docs" / "qualification.md").read_text()
    prior = qualify(n=500, seed=2021, params=ModelParameters(), workers=2)
    assert markdown_table({"calibrated": result, "prior": prior}) in doc
