"""Calibration to BEAT-LUPUS: targets, the fit, the shipped parameter set and what it reproduces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.calibrate import (
    FITTED, Problem, calibrate, cohort_summaries, markdown_tables, simulated_values, targets,
)
from lupustrial.design.reproduce import published, reproduce
from lupustrial.model.parameters import (
    ModelParameters, calibrated, calibrated_draws, calibration_provenance, default_parameters,
)
from lupustrial.protocol import load_protocol

ROOT = Path(__file__).parents[1]
SHIPPED = ROOT / "src" / "lupustrial" / "model" / "calibrated" / "beat_lupus.json"
PROTOCOL = load_protocol("beat-lupus")


def test_targets_are_the_published_figures_on_their_scales() -> None:
    figs = {f.statistic: f for f in published().figures}
    ts = {t.name: t for t in targets(PROTOCOL)}
    for t in ts.values():
        assert t.residual(t.published) == 0.0 and t.se > 0
        assert t.residual(t.published * 1.01) > 0  # above the published value is a positive residual
        assert np.isfinite(t.residual(0.0)) and t.residual(0.0) < -5  # e.g. no flare in a small cohort
    # Counts become proportions of the randomised arm; GMs keep their published values.
    arm = PROTOCOL.population.n_patients / 2
    assert ts["flares_reference"].published == figs["flares_reference"].published / arm
    assert ts["gm_dsdna_treatment"].published == figs["gm_dsdna_treatment"].published
    # A published CI symmetric on the log scale gives the same SE from either half.
    f = figs["hazard_ratio"]
    assert ts["hazard_ratio"].se == pytest.approx(math.log(f.upper / f.lower) / (2 * 1.959964), rel=1e-6)
    # The residual SD the % reduction's CI implies is of the size the GM CIs imply (both ~1-2 on log scale).
    assert 0.5 < ts["resid_sd"].published < 2.0


def test_cohort_is_reproducible_and_arms_share_patients() -> None:
    params = default_parameters()
    a = cohort_summaries(params, PROTOCOL, n=40, seed=3)
    assert a == cohort_summaries(params, PROTOCOL, n=40, seed=3)
    assert a != cohort_summaries(params, PROTOCOL, n=40, seed=4)
    # Belimumab lowers anti-dsDNA, B cells and flares in the calibrated model.
    assert a.gm_dsdna["Belimumab"] < a.gm_dsdna["Placebo"] and a.gm_cd19["Belimumab"] < a.gm_cd19["Placebo"]
    assert a.p_flare["Belimumab"] < a.p_flare["Placebo"] and a.log_hr < 0


def test_fit_lowers_the_distance_and_draws_stay_in_the_priors() -> None:
    start = ModelParameters()
    names = ("flare_rate", "anti_dsdna_median", "omega.dsdna_drift")
    result = calibrate(names=names, n=60, seed=2, n_draws=20, max_evaluations=40)
    problem = Problem(start, names, targets(PROTOCOL), PROTOCOL, 60, 2)
    before = problem.residuals(problem.u0())
    assert result.provenance["distance"] < float(before @ before)
    assert len(result.draws) == 20 and result.provenance["fitted"] == list(names)
    for d in result.draws:
        for k, v in d.items():
            lo, hi = start.prior(k)
            assert lo < v < hi
    assert set(result.to_dict()) == {"values", "draws", "provenance"}


def test_shipped_calibration_is_the_default_and_is_documented() -> None:
    stored = json.loads(SHIPPED.read_text(encoding="utf-8"))
    prov = stored["provenance"]
    assert prov == calibration_provenance("beat-lupus") and prov["fitted"] == list(FITTED)
    assert {"date", "seed", "method", "distance", "targets"} <= set(prov)
    params = default_parameters()
    assert params is calibrated("beat-lupus")
    for name, value in stored["values"].items():
        assert params.setting(name) == value
        lo, hi = ModelParameters().prior(name)
        assert lo < value < hi
    draws = calibrated_draws()
    assert len(draws) == len(stored["draws"]) > 50
    assert len({d.setting("flare_rate") for d in draws}) == len(draws)  # real spread, not copies
    # The page shows exactly the shipped numbers.
    assert markdown_tables(stored) in (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")
    # Every target is fitted to within one published standard error.
    assert all(abs(t["residual"]) < 1.0 for t in prov["targets"])


def test_calibrated_cohort_matches_the_stored_fit() -> None:
    prov = calibration_provenance()
    sim = simulated_values(cohort_summaries(default_parameters(), PROTOCOL, prov["patients_per_arm"], prov["seed"]),
                           PROTOCOL)
    for t in prov["targets"]:
        assert sim[t["name"]] == pytest.approx(t["simulated"], rel=1e-6), t["name"]


def test_reproduce_puts_every_published_figure_inside_and_medians_close() -> None:
    """The issue's acceptance check, on 200 virtual trials instead of 1,000."""
    result = reproduce(n_trials=200, seed=2021, workers=2)
    for c in result.comparison:
        assert c.inside, c.figure
        if c.statistic in ("gm_dsdna_treatment", "gm_dsdna_reference", "hazard_ratio", "gm_cd19_treatment",
                           "gm_cd19_reference"):
            assert abs(c.median / c.published - 1.0) <= 0.15, (c.figure, c.median)
    assert result.provenance["parameter_set"].startswith("calibrated to beat-lupus")


def test_cli_calibrate_writes_a_loadable_set(tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    result = CliRunner().invoke(app, ["calibrate", "beat-lupus", "--patients", "20", "--draws", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    stored = json.loads(out.read_text())
    assert len(stored["draws"]) == 3 and "distance" in result.output
    moved = ModelParameters().apply(stored["values"])
    assert np.isclose(moved.setting("omega.dsdna_drift"), stored["values"]["omega.dsdna_drift"])
    bad = CliRunner().invoke(app, ["calibrate", "no-such-trial"])
    assert bad.exit_code == 2 and "no published trial" in bad.output
