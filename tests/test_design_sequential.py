"""Group-sequential boundaries, characteristics and sample sizes equal R rpact
(tests/reference/design_gsd.R) to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import load_reference
from lupustrial.design.sequential import (design_characteristics, group_sequential_design, power_survival,
                                          sample_size_means, sample_size_rates, sample_size_survival, spending,
                                          stage_probabilities)

REF = load_reference("design_gsd")["designs"]
TOL = 1e-6


def _id(case: dict) -> str:
    futility = case["type_beta_spending"] if case["type_beta_spending"] != "none" else (
        "fb" if isinstance(case["futility_bounds_given"], list) else "")
    binding = "-binding" if case["binding_futility"] else ""
    return f"{case['type_of_design']}-k{len(case['information_rates'])}-s{case['sided']}-{futility}{binding}"


def _design(case: dict):
    given = case["futility_bounds_given"]
    return group_sequential_design(
        case["information_rates"], case["alpha"], case["beta"], case["sided"], case["type_of_design"],
        gamma_a=None if np.isnan(case["gamma_a"]) else case["gamma_a"],
        futility_bounds=given if isinstance(given, list) else None, binding_futility=case["binding_futility"],
        type_beta_spending=case["type_beta_spending"], gamma_b=None if np.isnan(case["gamma_b"]) else case["gamma_b"])


def _no_futility_as_rpact(bounds: np.ndarray) -> np.ndarray:
    return np.where(np.isneginf(bounds), -6.0, bounds)  # rpact writes "no futility bound" as -6


@pytest.mark.parametrize("case", REF, ids=_id)
def test_boundaries_equal_rpact(case: dict) -> None:
    d = _design(case)
    np.testing.assert_allclose(d.critical_values, case["critical_values"], atol=TOL, rtol=0)
    np.testing.assert_allclose(d.stage_levels, case["stage_levels"], atol=TOL, rtol=0)
    np.testing.assert_allclose(d.alpha_spent, case["alpha_spent"], atol=TOL, rtol=0)
    np.testing.assert_allclose(_no_futility_as_rpact(d.futility_bounds), case["futility_bounds"], atol=TOL, rtol=0)
    np.testing.assert_allclose(d.beta_spent, case["beta_spent"], atol=TOL, rtol=0, equal_nan=True)
    np.testing.assert_allclose(d.power, case["power"], atol=TOL, rtol=0, equal_nan=True)


@pytest.mark.parametrize("case", REF, ids=_id)
def test_characteristics_and_sample_sizes_equal_rpact(case: dict) -> None:
    d = _design(case)
    ch, ref = design_characteristics(d), case["characteristics"]
    for key in ("n_fixed", "shift", "inflation_factor", "average_sample_number1", "average_sample_number01",
                "average_sample_number0"):
        assert getattr(ch, key) == pytest.approx(ref[key], rel=TOL), key
    for key in ("power", "rejection_probabilities", "futility_probabilities"):
        np.testing.assert_allclose(getattr(ch, key), ref[key], atol=TOL, rtol=0, err_msg=key)

    r = case["allocation_ratio"]
    s, ref = case["survival"], case["survival"]
    surv = sample_size_survival(d, s["hazard_ratio"], s["lambda2"], accrual_time=s["accrual_time"],
                                follow_up_time=s["follow_up_time"], allocation_ratio_planned=r,
                                dropout_hazard=s["dropout_hazard"])
    for key in ("events_fixed", "max_number_of_events", "max_number_of_subjects", "expected_events_h0",
                "expected_events_h01", "study_duration"):
        assert getattr(surv, key) == pytest.approx(ref[key], rel=TOL), key
    assert surv.expected_number_of_events == pytest.approx(ref["expected_events_h1"], rel=TOL)
    assert surv.expected_number_of_subjects == pytest.approx(ref["expected_number_of_subjects_h1"], rel=TOL)
    for key in ("events_per_stage", "analysis_time", "number_of_subjects"):
        np.testing.assert_allclose(getattr(surv, key), ref[key], rtol=TOL, err_msg=key)

    m = case["means"]
    z = sample_size_means(d, m["alternative"], m["st_dev"], allocation_ratio_planned=r, normal_approximation=True)
    assert z.max_number_of_subjects == pytest.approx(m["max_normal"], rel=TOL)
    np.testing.assert_allclose(z.number_of_subjects, m["number_of_subjects_normal"], rtol=TOL)
    for h in ("h0", "h01", "h1"):
        assert getattr(z, f"expected_number_of_subjects_{h}") == pytest.approx(m[f"expected_{h}_normal"], rel=TOL)
    t = sample_size_means(d, m["alternative"], m["st_dev"], allocation_ratio_planned=r)
    assert t.max_number_of_subjects == pytest.approx(m["max_t"], rel=TOL)
    assert t.max_number_of_subjects == pytest.approx(m["max_t_rpact"], abs=1e-3 * (1 + r))  # rpact's own root tolerance

    q = case["rates"]
    rates = sample_size_rates(d, q["pi1"], q["pi2"], allocation_ratio_planned=r)
    assert rates.max_number_of_subjects == pytest.approx(q["max"], rel=TOL)
    np.testing.assert_allclose(rates.number_of_subjects, q["number_of_subjects"], rtol=TOL)
    for h in ("h0", "h01", "h1"):
        assert getattr(rates, f"expected_number_of_subjects_{h}") == pytest.approx(q[f"expected_{h}"], rel=TOL)


@pytest.mark.parametrize("case", REF, ids=_id)
def test_power_survival_equals_rpact(case: dict) -> None:
    p = case["power_survival"]
    got = power_survival(_design(case), p["hazard_ratio"], p["lambda2"], max_number_of_events=p["max_number_of_events"],
                         max_number_of_subjects=p["max_number_of_subjects"], accrual_time=p["accrual_time"],
                         allocation_ratio_planned=case["allocation_ratio"], dropout_hazard=p["dropout_hazard"])
    assert got.overall_reject == pytest.approx(p["overall_reject"], abs=TOL)
    np.testing.assert_allclose(got.reject_per_stage, p["reject_per_stage"], atol=TOL, rtol=0)
    np.testing.assert_allclose(got.futility_per_stage, p["futility_per_stage"], atol=TOL, rtol=0)
    for key in ("expected_number_of_events", "expected_number_of_subjects", "study_duration"):
        assert getattr(got, key) == pytest.approx(p[key], rel=TOL), key
    np.testing.assert_allclose(got.analysis_time, p["analysis_time"], rtol=TOL)


def test_probabilities_equal_a_direct_integral() -> None:
    """Two looks: P(Z1 < a, Z2 >= b) by one-dimensional quadrature of the bivariate normal."""
    from scipy import integrate

    t, a, b, theta = np.array([0.4, 1.0]), 1.3, 1.9, 0.7
    rho = np.sqrt(t[0] / t[1])
    cond = lambda z1: stats.norm.sf((b - theta - rho * (z1 - theta * np.sqrt(t[0]))) / np.sqrt(1 - rho**2))  # noqa: E731
    direct = integrate.quad(lambda z1: stats.norm.pdf(z1 - theta * np.sqrt(t[0])) * cond(z1), -np.inf, a,
                            epsabs=1e-14)[0]
    below, above = stage_probabilities(np.array([-np.inf, -np.inf]), np.array([a, b]), t, theta)
    assert above[1] == pytest.approx(direct, abs=1e-12)
    assert above[0] == pytest.approx(stats.norm.sf(a - theta * np.sqrt(t[0])), abs=1e-15)
    assert below.sum() == 0


@settings(max_examples=25, deadline=None)
@given(k=st.integers(2, 5), alpha=st.floats(0.005, 0.1), kind=st.sampled_from(["asOF", "asP", "asKD", "asHSD"]),
       gamma=st.floats(0.5, 4), sided=st.sampled_from([1, 2]))
def test_spending_designs_spend_their_alpha(k: int, alpha: float, kind: str, gamma: float, sided: int) -> None:
    """Invariant: the alpha spent at each look is the spending function there, and the bounds fall
    as information grows for O'Brien–Fleming-like spending."""
    rates = np.linspace(1 / k, 1, k)
    d = group_sequential_design(rates, alpha, 0.2, sided, kind, gamma_a=gamma)
    np.testing.assert_allclose(d.alpha_spent, spending(kind, alpha, rates, sided, gamma), atol=1e-9)
    if kind == "asOF":
        assert np.all(np.diff(d.critical_values) < 0)


@pytest.mark.parametrize("bad, message", [
    ({"information_rates": [0.5, 0.4, 1]}, "information_rates"),
    ({"information_rates": [0.5, 0.9]}, "information_rates"),
    ({"alpha": 0.6}, "alpha"),
    ({"alpha": 0.0}, "alpha"),
    ({"type_of_design": "WT"}, "type_of_design"),
    ({"type_of_design": "asKD"}, "gamma_a"),
    ({"type_beta_spending": "bsOF"}, "type_beta_spending"),
    ({"sided": 2, "futility_bounds": [0.0]}, "futility_bounds"),
])
def test_bad_arguments_name_themselves(bad: dict, message: str) -> None:
    args = {"information_rates": [0.5, 1], "alpha": 0.025, "beta": 0.2, "sided": 1, "type_of_design": "OF"} | bad
    with pytest.raises(ValueError, match=message):
        group_sequential_design(**args)
