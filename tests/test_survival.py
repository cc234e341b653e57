"""Kaplan–Meier and log-rank against R survfit/survdiff (fixtures from survival_reference.R)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import load_reference
from lupustrial.analysis.survival import kaplan_meier, kaplan_meier_by, logrank
from lupustrial.errors import AnalysisError

TOL = 1e-8


def close(actual: Any, expected: Any) -> None:
    np.testing.assert_allclose(
        np.atleast_1d(np.asarray(actual, dtype=float)),
        np.atleast_1d(np.asarray(expected, dtype=float)),
        rtol=TOL,
        atol=TOL,
    )


def check_km(time: Any, status: Any, ref: dict[str, Any]) -> None:
    fit = kaplan_meier(time, status)
    for field in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "std_err_log", "lower", "upper"):
        close(getattr(fit, field), ref[field])
    med = fit.median()
    close([med.estimate, med.lower, med.upper], [ref["median"], ref["median_lower"], ref["median_upper"]])
    at = fit.at(np.atleast_1d(ref["at"]["times"]))
    for field in ("surv", "std_err", "lower", "upper", "n_risk"):
        close(getattr(at, field), ref["at"][field])


# (fixture, data key, time column, status column, group column, KM-by key)
KM_BY_CASES = [
    ("survival_lung", "sex", "km_by_sex"),
    ("survival_veteran", "trt", "km_by_trt"),
    ("survival_ties", "arm", "km_by_arm"),
    ("survival_small", "arm", "km_by_arm"),
    ("survival_zero", "arm", "km_by_arm"),
]


def test_km_lung_overall_matches_r() -> None:
    ref = load_reference("survival_lung")
    check_km(ref["data"]["time"], ref["data"]["status"], ref["km"])


@pytest.mark.parametrize(("fixture", "column", "key"), KM_BY_CASES)
def test_km_by_group_matches_r(fixture: str, column: str, key: str) -> None:
    ref = load_reference(fixture)
    d = ref["data"]
    fits = kaplan_meier_by(d["time"], d["status"], d[column])
    assert sorted(fits) == sorted(ref[key])
    g = np.asarray(d[column])
    for label, r in ref[key].items():
        check_km(np.asarray(d["time"])[g.astype(str) == label], np.asarray(d["status"])[g.astype(str) == label], r)
        close(fits[label].surv, r["surv"])


@pytest.mark.parametrize("case", ["flat_half", "ends_zero", "all_censored", "single"])
def test_km_edge_cases_match_r(case: str) -> None:
    ref = load_reference("survival_km_edge")[case]
    check_km(ref["data"]["time"], ref["data"]["status"], ref)


def test_km_conf_level_changes_only_the_interval() -> None:
    ref = load_reference("survival_lung")["data"]
    narrow = kaplan_meier(ref["time"], ref["status"], conf_level=0.8)
    wide = kaplan_meier(ref["time"], ref["status"])
    close(narrow.surv, wide.surv)
    assert np.all(narrow.lower[:-1] >= wide.lower[:-1]) and np.any(narrow.lower > wide.lower)


def test_km_to_dict_is_plain() -> None:
    fit = kaplan_meier([1, 2, 2, 5], [1, 0, 1, 1])
    d = fit.to_dict()
    assert d["n_risk"] == [4, 3, 1] and type(d["surv"][0]) is float
    med = fit.median()
    close(list(d["median"].values()), [med.estimate, med.lower, med.upper])
    assert list(d["median"]) == ["estimate", "lower", "upper"]


LOGRANK_CASES = [
    ("survival_lung", "logrank_sex", "sex", None),
    ("survival_lung", "logrank_ecog", "ph.ecog", None),
    ("survival_lung", "logrank_sex_strata_ecog", "sex", "ph.ecog"),
    ("survival_veteran", "logrank_trt", "trt", None),
    ("survival_veteran", "logrank_trt_strata", "trt", "celltype"),
    ("survival_ties", "logrank_arm", "arm", None),
    ("survival_ties", "logrank_arm_strata", "arm", "site"),
    ("survival_small", "logrank_arm", "arm", None),
    ("survival_zero", "logrank_arm", "arm", None),
]


@pytest.mark.parametrize(("fixture", "key", "group", "strata"), LOGRANK_CASES)
def test_logrank_matches_r(fixture: str, key: str, group: str, strata: str | None) -> None:
    ref = load_reference(fixture)
    d, r = ref["data"], ref[key]
    res = logrank(d["time"], d["status"], d[group], None if strata is None else d[strata])
    assert list(res.groups) == [str(x) for x in np.atleast_1d(r["groups"])]
    close(res.observed, r["observed"])
    close(res.expected, r["expected"])
    close(res.variance, r["var"])
    close([res.chisq, res.p_value], [r["chisq"], r["p_value"]])
    assert res.df == r["df"]
    assert res.to_dict()["df"] == r["df"]


@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([1, 2], [1], "time has 2 values but event has 1"),
        ([1, np.nan], [1, 0], "time has a missing value at position 2"),
        ([1, -2], [1, 0], "time must be finite and >= 0; position 2"),
        ([1, 2], [1, 2], "event must be 0 or 1; position 2"),
        ([], [], "no subjects"),
    ],
)
def test_invalid_input_is_analysis_error(time: list[float], event: list[float], message: str) -> None:
    with pytest.raises(AnalysisError, match=message.replace("(", r"\(")):
        kaplan_meier(time, event)


def test_logrank_input_errors() -> None:
    with pytest.raises(AnalysisError, match="group has 1 values"):
        logrank([1, 2], [1, 1], ["a"])
    with pytest.raises(AnalysisError, match="at least two groups"):
        logrank([1, 2], [1, 1], ["a", "a"])
    with pytest.raises(AnalysisError, match="group has a missing value at position 2"):
        logrank([1, 2], [1, 1], ["a", None])


survival_data = st.integers(min_value=2, max_value=30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 12), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(survival_data)
def test_km_is_a_nonincreasing_probability(data: tuple[list[int], list[int], list[int]]) -> None:
    time, event, _ = data
    fit = kaplan_meier(time, event)
    assert np.all((fit.surv >= 0) & (fit.surv <= 1))
    assert np.all(np.diff(fit.surv) <= 0)
    ok = ~np.isnan(fit.lower)
    assert np.all(fit.lower[ok] <= fit.surv[ok] + 1e-12) and np.all(fit.upper[ok] >= fit.surv[ok] - 1e-12)


@settings(max_examples=60, deadline=None)
@given(survival_data, st.randoms(use_true_random=False))
def test_logrank_invariant_to_labels_and_row_order(data: tuple[list[int], list[int], list[int]], rnd: Any) -> None:
    time, event, group = (np.asarray(x) for x in data)
    if len(set(group.tolist())) < 2:
        return
    base = logrank(time, event, group)
    perm = np.arange(time.size)
    rnd.shuffle(perm)
    relabelled = logrank(time[perm], event[perm], np.where(group[perm] == 1, "a", "b"))
    assert relabelled.chisq == pytest.approx(base.chisq, rel=1e-9, abs=1e-12, nan_ok=True)
    assert relabelled.observed.sum() == base.observed.sum()
    assert relabelled.observed[0] == base.observed[1]
    km = kaplan_meier(time[perm], event[perm])
    np.testing.assert_allclose(km.surv, kaplan_meier(time, event).surv)


def test_logrank_without_information_is_nan() -> None:
    res = logrank([3, 3], [1, 1], [0, 1])
    assert np.isnan(res.chisq) and np.isnan(res.p_value) and res.df == 1
