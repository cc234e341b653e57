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
    # SE from the wider half of the CI on the log scale: for the near-symmetric HR CI about the
    # full-width SE; for belimumab's B cells, 0.012 (0.006 to 0.014), the lower half, not the full width.
    f = figs["hazard_ratio"]
    assert ts["hazard_ratio"].se == pytest.approx(math.log(f.published / f.lower) / 1.959964, rel=1e-6)
    assert ts["hazard_ratio"].se == pytest.approx(math.log(f.upper / f.lower) / (2 * 1.959964), rel=0.03)
    f = figs["gm_cd19_treatment"]
    assert ts["gm_cd19_treatment"].se == pytest.approx(math.log(f.published / f.lower) / 1.959964, rel=1e-6)
    assert ts["gm_cd19_treatment"].se > 1.5 * math.log(f.upper / f.lower) / (2 * 1.959964)
    # The B-cell SDs the two arms' CIs imply (t interval of the mean log count, 26 per arm) agree
    # within one SE(log SD); the residual SD the % reduction's CI implies is of the same order.
    sd_t, sd_r = ts["sd_cd19_treatment"], ts["sd_cd19_reference"]
    t25 = 2.059539
    assert sd_r.published == pytest.approx(math.log(0.081 / 0.037) / t25 * math.sqrt(26), rel=1e-5)
    assert abs(math.log(sd_r.published / sd_t.published)) < sd_t.se == pytest.approx(1 / math.sqrt(50))
    assert 0.5 < ts["resid_sd"].published < 2.0


def test_cohort_is_reproducible_and_arms_share_patients() -> None:
    params = default_parameters()
    a = cohort_summaries(params, PROTOCOL, n=40, seed=3)
    assert a == cohort_summaries(params, PROTOCOL, n=40, seed=3)
    assert a != cohort_summaries(params, PROTOCOL, n=40, seed=4)
    # Belimumab lowers anti-dsDNA, B cells and flares in the calibrated model.
    assert a.gm_dsdna["Belimumab"] < a.gm_dsdna["Placebo"] and a.gm_cd19["Belimumab"] < a.gm_cd19["Placebo"]
    assert a.p_flare["Belimumab"] < a.p_flare["Placebo"] and a.log_hr < 0
    # The spread of week-52 B cells follows the baseline log-SD that carries it; nothing else moves
    # (beyond the solver's tolerance: the model uses B cells relative to the patient's baseline).
    wide = cohort_summaries(params.apply({"cd19_sdlog": 1.5 * params["cd19_sdlog"]}), PROTOCOL, n=40, seed=3)
    assert all(wide.sd_cd19[arm] > 1.3 * a.sd_cd19[arm] for arm in a.sd_cd19)
    for field in ("gm_dsdna", "p_flare"):
        assert getattr(wide, field) == pytest.approx(getattr(a, field), rel=1e-6)
    assert (wide.resid_sd, wide.log_hr) == pytest.approx((a.resid_sd, a.log_hr), rel=1e-6)


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


#: Statistics whose simulated median must be within 15% of the published value (the issue's check).
CLOSE = ("gm_dsdna_treatment", "gm_dsdna_reference", "hazard_ratio", "gm_cd19_treatment", "gm_cd19_reference")


def _median_interval(values: np.ndarray) -> tuple[float, float]:
    """Distribution-free 95% interval of the median of the trials' distribution, from a sample of trials."""
    v = np.sort(values[~np.isnan(values)])
    half = 1.959964 * math.sqrt(v.size) / 2
    return float(v[max(math.floor(v.size / 2 - half), 0)]), float(v[min(math.ceil(v.size / 2 + half), v.size - 1)])


def test_reproduce_puts_every_published_figure_inside_and_medians_close() -> None:
    """The issue's acceptance check, on 200 virtual trials instead of 1,000.

    200 trials estimate the median with a Monte Carlo error of a few percent (the B-cell trial
    GMs spread ×/÷ 2), so the check is that the median could be within 15%: the median's 95%
    interval from these trials meets the ±15% band. The slow test checks the exact figure on 1,000.
    """
    result = reproduce(n_trials=200, seed=2021, workers=2)
    for c in result.comparison:
        assert c.inside, c.figure
        if c.statistic in CLOSE:
            lo, hi = _median_interval(result.per_trial[c.statistic].to_numpy(dtype=float))
            assert lo <= c.median <= hi and lo <= 1.15 * c.published and hi >= 0.85 * c.published, (c.figure, lo, hi)
    assert result.provenance["parameter_set"].startswith("calibrated to beat-lupus")


@pytest.mark.slow
def test_1000_trials_meet_the_issue_and_the_docs_quote_them() -> None:
    """Every figure inside, medians within 15% on 1,000 trials; the page's table and sentences are this run's."""
    result = reproduce(n_trials=1000, seed=2021, workers=2)
    for c in result.comparison:
        assert c.inside, c.figure
        assert c.statistic not in CLOSE or abs(c.median / c.published - 1.0) <= 0.15, (c.figure, c.median)
    assert result.markdown() in (ROOT / "docs" / "calibration.md").read_text(encoding="utf-8")


def test_reproduction_markdown_states_what_the_trials_show() -> None:
    result = reproduce(n_trials=8, seed=5, workers=1, trajectory_patients=10)
    text = result.markdown()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    assert [r.split(" | ")[0][2:] for r in rows] == [c.figure for c in result.comparison]
    no_flare = (result.per_trial["flares_treatment"] == 0).mean()
    assert f"In {no_flare:.1%} of the 8 virtual trials no belimumab patient" in text
    inside = sum(c.inside for c in result.comparison)
    assert ("Every published figure lies inside" in text) == (inside == len(result.comparison))


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


def test_cli_calibrate_refuses_a_bad_out_before_fitting(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, problem in ((afile / "cal.json", f"{afile} is a file, not a folder"),
                         (tmp_path, f"{tmp_path} is a folder, not a file")):
        result = CliRunner().invoke(app, ["calibrate", "--out", str(out)])
        assert result.exit_code == 2 and result.output.strip() == f"error: option --out: {problem}"
