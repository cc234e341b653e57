"""Responder analysis against R (fixtures from tests/reference/responder_reference.R).

Tolerances: relative 1e-6 on odds ratios, coefficients, SEs, statistics and p-values (with an
absolute floor of 1e-12 for p-values near 0); absolute 1e-9 on risk differences and their
bounds, which are proportions on [-1, 1] and may be near 0.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import assert_close as close
from conftest import assert_coefficient_table
from conftest import load_reference
from lupustrial.analysis.responder import ResponderResult, responder
from lupustrial.errors import AnalysisError

REL = 1e-6
CASES = ["basic", "covariates", "unbalanced", "three_arm", "small"]
EDGE = ["zero", "all"]


def fit(case: str, **kwargs: Any) -> tuple[ResponderResult, dict[str, Any]]:
    ref = load_reference(f"responder_{case}")
    d = ref["data"]
    covariates = {c: d[c] for c in ref["covariate_names"]} or None
    res = responder(d["response"], d["arm"], treatment=ref["treatment"],
                    reference=ref["reference"], covariates=covariates,
                    strata=d.get("strata"), **kwargs)
    return res, ref


@pytest.mark.parametrize("case", CASES)
def test_logistic_regression_matches_glm(case: str) -> None:
    res, ref = fit(case)
    assert_coefficient_table(res.coefficients, ref["coef"], "z")
    close(res.deviance, ref["deviance"])
    assert (res.iterations, res.converged) == (ref["iterations"], ref["converged"])
    assert not res.separated and res.message is None and not ref["glm_warnings"]


@pytest.mark.parametrize("case", CASES)
def test_odds_ratio_wald_and_profile_intervals_match_confint(case: str) -> None:
    res, ref = fit(case)
    j = [c.term for c in res.coefficients].index(f"arm{ref['treatment']}")
    assert res.log_odds_ratio == res.coefficients[j].estimate
    assert res.p_value == res.coefficients[j].p_value
    close(res.odds_ratio, np.exp(ref["coef"]["estimate"][j]))
    close([res.odds_ratio_lower, res.odds_ratio_upper], np.exp(ref["wald"]))
    close([res.profile_lower, res.profile_upper], np.exp(ref["profile"]))


@pytest.mark.parametrize("case", CASES + EDGE)
def test_risk_difference_miettinen_nurminen(case: str) -> None:
    res, ref = fit(case)
    rd = ref["risk_difference"]
    close([res.risk_difference, res.risk_difference_lower, res.risk_difference_upper],
          [rd["estimate"], rd["lower"], rd["upper"]], rtol=0, atol=1e-9)
    counts = {a["arm"]: (a["n"], a["responders"]) for a in ref["arms"]}
    assert [(a.arm, a.n, a.responders) for a in res.arms] == [(k, *v) for k, v in counts.items()]
    assert all(a.proportion == a.responders / a.n for a in res.arms)


@pytest.mark.parametrize("correct", [True, False])
@pytest.mark.parametrize("case", [c for c in CASES + EDGE if c != "small"])
def test_cmh_matches_mantelhaen_test(case: str, correct: bool) -> None:
    res, ref = fit(case, correct=correct)
    r = ref["cmh_correct" if correct else "cmh_uncorrected"]
    assert res.cmh is not None
    got = [res.cmh.odds_ratio, res.cmh.lower, res.cmh.upper, res.cmh.statistic, res.cmh.p_value]
    want = [r[k] for k in ("odds_ratio", "lower", "upper", "statistic", "p_value")]
    np.testing.assert_allclose(got, want, rtol=REL, atol=1e-12)  # inf and nan must agree too
    assert res.cmh.continuity_correction == r["method"].endswith("with continuity correction")


def test_no_strata_no_cmh() -> None:
    res, _ = fit("small")
    assert res.cmh is None


@pytest.mark.parametrize("case", EDGE)
def test_an_arm_with_no_or_all_responders_is_flagged(case: str) -> None:
    res, ref = fit(case)
    j = ref["coef"]["term"].index("armbelimumab")
    # R stops at a huge coefficient with an enormous SE and says nothing:
    assert abs(ref["coef"]["estimate"][j]) > 15 and ref["coef"]["se"][j] > 1e3
    assert not ref["glm_warnings"] and np.isnan(ref["profile"][1])
    assert "armbelimumab" in res.separated and res.odds_ratio == np.inf
    assert res.message is not None and "risk difference and CMH remain valid" in res.message
    assert np.isnan([res.odds_ratio_lower, res.odds_ratio_upper, res.profile_lower,
                     res.profile_upper, res.p_value]).all()


def test_terms_that_stay_finite_under_separation_match_r() -> None:
    """All belimumab patients respond: only the arm diverges; intercept and SLEDAI are R's."""
    res, ref = fit("all")
    assert res.separated == ("armbelimumab",)
    keep = [0, 2]
    close([res.coefficients[i].estimate for i in keep], [ref["coef"]["estimate"][i] for i in keep])
    close([res.coefficients[i].se for i in keep], [ref["coef"]["se"][i] for i in keep])
    zero, _ = fit("zero")  # no placebo responder: the intercept (placebo log-odds) is -inf too
    assert zero.separated == ("(Intercept)", "armbelimumab")
    assert zero.coefficients[0].estimate == -np.inf


def test_to_dict_is_json_ready() -> None:
    res, _ = fit("covariates")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["odds_ratio"] == res.odds_ratio
    assert d["cmh"]["strata"] == 3 and d["arms"][0]["arm"] == "placebo"
    assert d["coefficients"][1]["term"] == "armbelimumab"


def _inv(value: float) -> float:
    with np.errstate(divide="ignore"):
        return float(np.divide(1.0, value))


def _swap(res: ResponderResult) -> list[float]:
    return [_inv(res.odds_ratio), _inv(res.odds_ratio_upper), _inv(res.odds_ratio_lower),
            _inv(res.profile_upper), _inv(res.profile_lower), res.p_value,
            -res.risk_difference, -res.risk_difference_upper, -res.risk_difference_lower]


def _plain(res: ResponderResult) -> list[float]:
    return [res.odds_ratio, res.odds_ratio_lower, res.odds_ratio_upper, res.profile_lower,
            res.profile_upper, res.p_value, res.risk_difference, res.risk_difference_lower,
            res.risk_difference_upper]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n1=st.integers(4, 40), n2=st.integers(4, 40),
       p1=st.floats(0.05, 0.95), p2=st.floats(0.05, 0.95))
def test_recoding_the_response_or_swapping_arms_inverts_the_odds_ratio(
    seed: int, n1: int, n2: int, p1: float, p2: float
) -> None:
    """Counting non-responders instead (1 - y), or treatment as reference, turns the odds
    ratio into its reciprocal (intervals flipped) and the risk difference into its negative;
    the CMH p-value does not change."""
    rng = np.random.default_rng(seed)
    arm = np.array(["t"] * n1 + ["r"] * n2)
    y = np.concatenate([rng.random(n1) < p1, rng.random(n2) < p2]).astype(float)
    strata = rng.choice(["a", "b"], n1 + n2)
    strata[:2], strata[n1 : n1 + 2] = ["a", "b"], ["a", "b"]
    res = responder(y, arm, treatment="t", reference="r", strata=strata)
    recoded = responder(1 - y, arm, treatment="t", reference="r", strata=strata)
    swapped = responder(y, arm, treatment="r", reference="t", strata=strata)
    for other in (recoded, swapped):
        np.testing.assert_allclose(_plain(other), _swap(res), rtol=1e-6, atol=1e-9)
        assert other.cmh is not None and res.cmh is not None
        assert other.cmh.p_value == pytest.approx(res.cmh.p_value, rel=1e-9, nan_ok=True)
        assert other.cmh.odds_ratio == pytest.approx(_inv(res.cmh.odds_ratio), rel=1e-9, nan_ok=True)
    if not res.separated:
        assert res.odds_ratio_lower < res.odds_ratio < res.odds_ratio_upper
        assert res.profile_lower < res.odds_ratio < res.profile_upper
    assert res.risk_difference_lower <= res.risk_difference <= res.risk_difference_upper


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"response": [1, 0, 2, 1, 0, 1, 0, 0]}, r"response\[2\] is 2\.0: responses must be 0 or 1"),
        ({"response": [1, 0, np.nan, 1, 0, 1, 0, 0]}, r"response\[2\] is nan"),
        ({"arm": ["a"] * 7}, "arm has 7 values but response has 8"),
        ({"treatment": "c"}, r"treatment arm 'c' is not among the arms \['a', 'b'\]"),
        ({"strata": ["x"] * 8}, "strata has a single level 'x'"),
        ({"strata": ["x"] * 7 + ["y"]}, "stratum 'y' has fewer than 2 subjects"),
        ({"covariates": {"age": [30, 40, 50]}}, r"covariates\['age'\] has 3 values but response has 8"),
        ({"covariates": {"site": ["p"] * 8}}, "factor 'site' has a single level 'p'"),
        ({"conf_level": 1.5}, "conf_level must be between 0 and 1"),
    ],
)
def test_invalid_input_raises(change: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"response": [1, 0, 1, 1, 0, 1, 0, 0],
                              "arm": ["a", "a", "a", "a", "b", "b", "b", "b"],
                              "treatment": "b", "reference": "a"}
    kwargs.update(change)
    with pytest.raises(AnalysisError, match=message):
        responder(kwargs.pop("response"), kwargs.pop("arm"), **kwargs)
