"""Analytic sample sizes equal R rpact (tests/reference/design_rpact.R) and, for counts, Zhu and
Lakkis's formula written afresh in R (tests/reference/design_counts.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.design.analytic import (counts_power, counts_sample_size, event_probability, means_power,
                                        means_sample_size, rates_power, rates_sample_size, required_events,
                                        survival_power, survival_sample_size)
from lupustrial.design.power import analytic_table

REF = json.loads((Path(__file__).parent / "reference" / "design_rpact.json").read_text())
COUNTS = json.loads((Path(__file__).parent / "reference" / "design_counts.json").read_text())


@pytest.mark.parametrize("case", COUNTS["counts"], ids=lambda c: "-".join(f"{v:g}" for v in list(c.values())[:7]))
def test_counts_equal_zhu_lakkis(case: dict) -> None:
    common = {"dispersion": case["dispersion"], "exposure": case["exposure"], "alpha": case["alpha"],
              "ratio": case["ratio"]}
    n = counts_sample_size(case["rate_control"], case["rate_ratio"], power=case["power"], **common)
    assert n == pytest.approx(case["n_total"], rel=1e-6)
    assert counts_power(100, case["rate_control"], case["rate_ratio"], **common) == pytest.approx(
        case["power_at_100"], rel=1e-6)
    assert counts_power(n, case["rate_control"], case["rate_ratio"], **common) == pytest.approx(case["power"], abs=1e-9)


@pytest.mark.parametrize("case", COUNTS["rates"], ids=lambda c: f"{c['pi1']}-{c['pi2']}-r{c['ratio']}-a{c['alpha']}")
def test_rates_equal_rpact(case: dict) -> None:
    common = {"alpha": case["alpha"], "ratio": case["ratio"]}
    n = rates_sample_size(case["pi1"], case["pi2"], power=case["power"], **common)
    assert n == pytest.approx(case["n_total"], rel=1e-6)
    assert rates_power(n, case["pi1"], case["pi2"], **common) == pytest.approx(case["power"], abs=1e-9)


@pytest.mark.parametrize("case", REF["survival"], ids=lambda c: f"{c['method']}-hr{c['hazard_ratio']}-r{c['ratio']}")
def test_survival_equals_rpact(case: dict) -> None:
    common = {"alpha": case["alpha"], "power": case["power"], "ratio": case["ratio"], "method": case["method"]}
    events = required_events(case["hazard_ratio"], **common)
    assert events == pytest.approx(case["events"], rel=1e-6)
    p = event_probability(case["lambda2"], case["hazard_ratio"], accrual=case["accrual"],
                          follow_up=case["follow_up"], ratio=case["ratio"])
    n = survival_sample_size(case["hazard_ratio"], p, **common)
    assert n == pytest.approx(case["n_total"], rel=1e-6)
    common.pop("power")
    assert survival_power(n, case["hazard_ratio"], p, **common) == pytest.approx(case["power"], abs=1e-9)


@pytest.mark.parametrize("case", REF["means"], ids=lambda c: f"d{c['effect']}-sd{c['sd']}-r{c['ratio']}")
def test_means_equal_rpact(case: dict) -> None:
    common = {"alpha": case["alpha"], "power": case["power"], "ratio": case["ratio"]}
    assert means_sample_size(case["effect"], case["sd"], t_test=False, **common) == pytest.approx(
        case["n_normal"], rel=1e-6)
    n = means_sample_size(case["effect"], case["sd"], **common)
    assert n == pytest.approx(case["n_t"], rel=1e-6)
    assert n == pytest.approx(case["n_t_rpact"], abs=1e-3)  # rpact's own root tolerance is 1e-4 per arm
    assert means_power(n, case["effect"], case["sd"], alpha=case["alpha"], ratio=case["ratio"]) == pytest.approx(
        case["power"], abs=1e-9)


def test_fixed_follow_up_and_errors() -> None:
    p = event_probability(0.1, 0.5, accrual=0, follow_up=2, ratio=1)
    assert p == pytest.approx((2 - np.exp(-0.2) - np.exp(-0.1)) / 2)
    with pytest.raises(ValueError, match="hazard_ratio"):
        required_events(1.0)
    with pytest.raises(ValueError, match="event_probability"):
        survival_sample_size(0.5, 0.0)
    with pytest.raises(ValueError, match="effect"):
        means_sample_size(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(alpha=st.floats(0.001, 0.2), power=st.floats(0.5, 0.99), ratio=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
       hr=st.floats(0.2, 0.9), p_event=st.floats(0.05, 1.0), effect=st.floats(0.05, 2.0), sd=st.floats(0.2, 3.0))
def test_power_inverts_sample_size(alpha: float, power: float, ratio: float, hr: float, p_event: float, effect: float,
                                   sd: float) -> None:
    for method in ("schoenfeld", "freedman"):
        n = survival_sample_size(hr, p_event, alpha=alpha, power=power, ratio=ratio, method=method)
        assert survival_power(n, hr, p_event, alpha=alpha, ratio=ratio, method=method) == pytest.approx(power, abs=1e-9)
    n_z = means_sample_size(-effect, sd, alpha=alpha, power=power, ratio=ratio, t_test=False)
    assert means_power(n_z, -effect, sd, alpha=alpha, ratio=ratio, t_test=False) == pytest.approx(power, abs=1e-9)
    n_t = means_sample_size(-effect, sd, alpha=alpha, power=power, ratio=ratio)
    if n_t > 3:  # the t version starts from one residual degree of freedom
        assert means_power(n_t, -effect, sd, alpha=alpha, ratio=ratio) == pytest.approx(power, abs=1e-9)
        assert n_t > n_z  # estimating the SD costs subjects


@pytest.mark.parametrize("case", REF["survival"], ids=lambda c: f"{c['method']}-hr{c['hazard_ratio']}-r{c['ratio']}")
def test_design_output_events_equal_rpact(case: dict) -> None:
    """The events the design prints, JSON and HTML included, are rpact's eventsFixed."""
    p = event_probability(case["lambda2"], case["hazard_ratio"], accrual=case["accrual"],
                          follow_up=case["follow_up"], ratio=case["ratio"])
    effects = {"TTSEVFL": {"estimate": np.log(case["hazard_ratio"]), "event_probability": p}}
    table = analytic_table(effects, case["alpha"], case["ratio"], {"TTSEVFL": "cox"})
    row = table[(table["method"] == case["method"]) & (table["target"] == case["power"])].iloc[0]
    assert row["events"] == pytest.approx(case["events"], rel=1e-6)
    assert row["n_total"] == pytest.approx(case["n_total"], rel=1e-6)


@pytest.mark.parametrize("analysis", ["negative_binomial", "poisson"])
def test_design_output_counts_equal_zhu_lakkis(analysis: str) -> None:
    """The N the design prints for a count endpoint is the reference's, from the simulated effects: the
    log rate ratio, control rate, mean exposure and (negative binomial) dispersion; Poisson: none."""
    cases = [c for c in COUNTS["counts"] if c["power"] in (0.8, 0.9) and (c["dispersion"] > 0) == (
        analysis == "negative_binomial")][:8]
    for case in cases:
        fx = {"estimate": np.log(case["rate_ratio"]), "control_rate": case["rate_control"],
              "treatment_rate": case["rate_control"] * case["rate_ratio"], "exposure": case["exposure"]}
        if analysis == "negative_binomial":
            fx["dispersion"] = case["dispersion"]
        table = analytic_table({"SEVFLN": fx}, case["alpha"], case["ratio"], {"SEVFLN": analysis})
        row = table[table["target"] == case["power"]].iloc[0]
        assert row["method"] == "zhu_lakkis" and np.isnan(row["events"])
        assert row["n_total"] == pytest.approx(case["n_total"], rel=1e-6)


def test_design_output_responders_equal_rpact() -> None:
    """A responder endpoint's N is rpact's getSampleSizeRates at the arms' simulated proportions."""
    for case in COUNTS["rates"]:
        fx = {"estimate": 0.5, "treatment_rate": case["pi1"], "control_rate": case["pi2"]}
        table = analytic_table({"SRI4": fx}, case["alpha"], case["ratio"], {"SRI4": "responder"})
        row = table[table["target"] == case["power"]].iloc[0]
        assert row["method"] == "normal_rates" and row["n_total"] == pytest.approx(case["n_total"], rel=1e-6)
    missing = analytic_table({"SRI4": {"estimate": 0.5, "treatment_rate": np.nan, "control_rate": 0.4}}, 0.05, 1.0,
                             {"SRI4": "responder"})
    assert missing["n_total"].isna().all()  # no finite proportion: no figure
