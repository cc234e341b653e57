"""Cox regression against R coxph (fixtures from survival_reference.R) and Firth against scipy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from conftest import load_reference
from lupustrial.analysis.cox import cox, monotone_directions, risk_sets
from lupustrial.errors import AnalysisError

RTOL = 1e-6

# (fixture, key, covariate columns, strata column)
CASES = [
    ("survival_lung", "cox_sex", ["sex"], None),
    ("survival_lung", "cox_multi", ["sex", "age", "ph.ecog"], None),
    ("survival_lung", "cox_sex_strata_ecog", ["sex", "age"], "ph.ecog"),
    ("survival_veteran", "cox_trt_strata", ["trt"], "celltype"),
    ("survival_veteran", "cox_trt_karno_strata", ["trt", "karno"], "celltype"),
    ("survival_ties", "cox_arm", ["arm"], None),
    ("survival_ties", "cox_arm_age", ["arm", "age"], None),
    ("survival_ties", "cox_arm_strata", ["arm"], "site"),
    ("survival_small", "cox_arm", ["arm"], None),
]
MONOTONE_CASES = [("survival_zero", "cox_arm", ["arm"], None), ("survival_zero", "cox_arm_age", ["arm", "age"], None)]


def fit_case(fixture: str, columns: list[str], strata: str | None, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    ref = load_reference(fixture)
    d = ref["data"]
    x = np.column_stack([d[c] for c in columns])
    res = cox(d["time"], d["status"], x, strata=None if strata is None else d[strata], names=columns, **kwargs)
    return res, ref


def close(actual: Any, expected: Any, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(
        np.atleast_1d(np.asarray(actual, dtype=float)),
        np.atleast_1d(np.asarray(expected, dtype=float)),
        rtol=rtol,
        atol=1e-12,
    )


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize(("fixture", "key", "columns", "strata"), CASES)
def test_cox_matches_r(fixture: str, key: str, columns: list[str], strata: str | None, ties: str) -> None:
    res, ref = fit_case(fixture, columns, strata, ties=ties)
    r = ref[key][ties]
    for field in ("coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "z", "p_value", "var"):
        close(getattr(res, field), r[field])
    close([res.loglik, res.loglik_null], [r["loglik"], r["loglik_null"]])
    for test in ("lr_test", "wald_test", "score_test"):
        t = getattr(res, test)
        close([t.statistic, t.df, t.p_value], r[test])
    assert (res.n, res.n_events, res.iterations, res.converged) == (r["n"], r["n_events"], r["iterations"], True)
    assert res.names == tuple(columns)
    assert not res.monotone and res.message is None and not r["warnings"]


@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize(("fixture", "key", "columns", "strata"), MONOTONE_CASES)
def test_zero_events_in_one_arm_is_flagged_monotone(
    fixture: str, key: str, columns: list[str], strata: str | None, ties: str
) -> None:
    res, ref = fit_case(fixture, columns, strata, ties=ties)
    r = ref[key][ties]
    assert "coefficient may be infinite" in str(r["warnings"])  # R saw it too
    assert res.monotone and res.monotone_names == ("arm",)
    assert res.message == "likelihood is monotone in arm: the maximum-likelihood estimate is infinite; use firth=True"
    assert res.coef[0] == -np.inf and res.hazard_ratio[0] == 0.0
    assert np.isnan([res.se[0], res.z[0], res.p_value[0], res.ci_lower[0], res.ci_upper[0]]).all()
    assert np.isnan(res.wald_test.statistic)
    # the LR and score tests are finite and equal R's; so is the loglik R converged to
    close([res.loglik, res.loglik_null], [r["loglik"], r["loglik_null"]])
    for test in ("lr_test", "score_test"):
        t = getattr(res, test)
        close([t.statistic, t.df, t.p_value], r[test])
    # a covariate that stays finite is reported as R reports it
    close(res.coef[1:], np.atleast_1d(r["coef"])[1:])
    close(res.se[1:], np.atleast_1d(r["se"])[1:])


def test_monotone_in_both_directions_flips_sign() -> None:
    d = load_reference("survival_zero")["data"]
    res = cox(d["time"], d["status"], 1 - np.asarray(d["arm"]), names="placebo")
    assert res.coef[0] == np.inf and res.hazard_ratio[0] == np.inf
    assert res.monotone_names == ("placebo",)


def test_running_out_of_iterations_reports_r_last_point() -> None:
    res, ref = fit_case("survival_lung", ["sex", "age", "ph.ecog"], None, iter_max=2)
    r = ref["cox_multi_iter2"]
    assert "Ran out of iterations" in str(r["warnings"])
    assert not res.converged and res.iterations == 2  # R counts one more: its loop variable
    close(res.coef, r["coef"])
    close([res.loglik, res.lr_test.statistic], [r["loglik"], r["lr_test"][0]])
    # R's var on this path is not I(β)⁻¹ (coxfit6 inverts the information without factorising
    # it again after running out of iterations); the inverse information is reported here.
    d = ref["data"]
    x = np.column_stack([d[c] for c in ("sex", "age", "ph.ecog")]).astype(float)
    time, event = np.asarray(d["time"], float), np.asarray(d["status"], float)
    loglik, info = naive_loglik_info(res.coef, time, event, x, "efron", np.zeros(time.size))
    close([loglik], [res.loglik])
    close(res.var, np.linalg.inv(info))


def test_beat_lupus_like_three_vs_ten_is_not_monotone() -> None:
    res, ref = fit_case("survival_small", ["arm"], None)
    assert not res.monotone and np.isfinite(res.coef).all()
    close(res.coef, ref["cox_arm"]["efron"]["coef"])


# --- Firth, checked against a direct numerical maximisation of an independent implementation ---


def naive_loglik_info(
    beta: np.ndarray, time: np.ndarray, event: np.ndarray, x: np.ndarray, ties: str, strata: np.ndarray
) -> tuple[float, np.ndarray]:
    """l(β) and I(β), written plainly per event time (independent of the library)."""
    eta = x @ beta
    w = np.exp(eta)
    loglik, info = 0.0, np.zeros((x.shape[1], x.shape[1]))
    for s, t in sorted({(s, t) for s, t, e in zip(strata, time, event, strict=True) if e == 1}):
        risk = (time >= t) & (strata == s)
        dead = risk & (time == t) & (event == 1)
        d = int(dead.sum())
        loglik += eta[dead].sum()
        fracs = np.arange(d) / d if ties == "efron" else np.zeros(1)
        weight = 1.0 if ties == "efron" else float(d)
        for f in fracs:
            c = w * (risk - f * dead)
            s0 = c.sum()
            mean = c @ x / s0
            loglik -= weight * np.log(s0)
            info += weight * ((x * c[:, None]).T @ x / s0 - np.outer(mean, mean))
    return loglik, info


def naive_penalised(*args: Any) -> float:
    """Firth's l(β) + ½ log|I(β)| from :func:`naive_loglik_info`."""
    loglik, info = naive_loglik_info(*args)
    return loglik + 0.5 * np.linalg.slogdet(info)[1]


FIRTH_CASES = [
    ("survival_zero", ["arm"], "efron", None),
    ("survival_zero", ["arm", "age"], "efron", None),
    ("survival_small", ["arm"], "efron", None),
    ("survival_ties", ["arm", "age"], "efron", None),
    ("survival_ties", ["arm"], "breslow", None),
    ("survival_ties", ["arm", "age"], "efron", "site"),
]


@pytest.mark.parametrize(("fixture", "columns", "ties", "strata"), FIRTH_CASES)
def test_firth_matches_direct_maximisation_and_profile_roots(
    fixture: str, columns: list[str], ties: str, strata: str | None
) -> None:
    d = load_reference(fixture)["data"]
    time, event = np.asarray(d["time"], float), np.asarray(d["status"], float)
    x = np.column_stack([d[c] for c in columns]).astype(float)
    groups = np.zeros(time.size) if strata is None else np.unique(d[strata], return_inverse=True)[1]
    res = cox(time, event, x, ties=ties, firth=True, names=columns, strata=None if strata is None else d[strata])

    def pl(b: np.ndarray) -> float:
        return naive_penalised(np.asarray(b, float), time, event, x, ties, groups)

    opt = optimize.minimize(lambda b: -pl(b), np.zeros(x.shape[1]), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000})
    close(res.coef, opt.x, rtol=1e-6)
    assert np.isfinite(res.coef).all() and res.converged
    null = pl(np.zeros(x.shape[1]))
    close([res.lr_test.statistic], [2 * (-opt.fun - null)], rtol=1e-7)
    close([res.loglik - res.loglik_null], [-opt.fun - null], rtol=1e-7)
    crit = stats.chi2.ppf(0.95, 1)

    def profile(j: int, b: float) -> float:
        if x.shape[1] == 1:
            return pl(np.array([b]))
        others = np.delete(opt.x, j)

        def neg(rest: np.ndarray) -> float:
            return -pl(np.insert(rest, j, b))

        return -optimize.minimize(neg, others, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-13}).fun

    for j in range(x.shape[1]):
        def gap(b: float, j: int = j) -> float:
            return 2 * (-opt.fun - profile(j, b)) - crit

        width = 10 * res.se[j]
        lo = optimize.brentq(gap, opt.x[j] - width, opt.x[j], xtol=1e-10)
        hi = optimize.brentq(gap, opt.x[j], opt.x[j] + width, xtol=1e-10)
        close([res.ci_lower[j], res.ci_upper[j]], np.exp([lo, hi]), rtol=1e-5)
        close([res.p_value[j]], [stats.chi2.sf(2 * (-opt.fun - profile(j, 0.0)), 1)], rtol=1e-5)


def test_firth_zero_events_is_finite_and_flags_ml_monotonicity() -> None:
    res, _ = fit_case("survival_zero", ["arm"], None, firth=True)
    assert res.firth and res.monotone and np.isfinite([res.coef[0], res.ci_lower[0], res.ci_upper[0]]).all()
    assert res.ci_lower[0] < res.hazard_ratio[0] < res.ci_upper[0] < 1
    assert "Firth's penalised estimate is reported" in str(res.message)


# --- properties and input errors ---------------------------------------------------------------

trial = st.integers(min_value=8, max_value=30).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(1, 10), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.randoms(use_true_random=False),
    )
)


@settings(max_examples=40, deadline=None)
@given(trial, st.sampled_from(["efron", "breslow"]))
def test_relabelling_flips_sign_and_row_order_does_not_matter(data: Any, ties: str) -> None:
    time, event, arm, rnd = data
    time, event, arm = np.asarray(time), np.asarray(event), np.asarray(arm)
    if sum(event) == 0 or len(set(arm.tolist())) < 2:
        return
    try:
        base = cox(time, event, arm, ties=ties)
    except AnalysisError as err:  # arm constant in every risk set with an event: no information
        assert "cannot be estimated" in str(err)
        return
    flipped = cox(time, event, 1 - arm, ties=ties)
    np.testing.assert_allclose(flipped.coef, -base.coef, rtol=1e-6, atol=1e-8)
    assert flipped.monotone == base.monotone
    np.testing.assert_allclose(flipped.lr_test.statistic, base.lr_test.statistic, rtol=1e-6, atol=1e-8)
    perm = np.arange(time.size)
    rnd.shuffle(perm)
    shuffled = cox(time[perm], event[perm], arm[perm], ties=ties)
    np.testing.assert_allclose(shuffled.coef, base.coef, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": [1, 0, 1]}, r"X must have one row per subject \(4\)"),
        ({"X": [1, 0, np.nan, 1]}, "X has a missing or infinite value at row 3, column 1"),
        ({"X": [[1, 2], [0, 0], [1, 2], [0, 0]]}, "covariate.* cannot be estimated: collinear"),
        ({"names": ["a", "b"]}, "2 names given for 1 covariates"),
        ({"ties": "exact"}, "ties must be 'efron' or 'breslow'"),
        ({"strata": [1, 2]}, "strata has 2 values but time has 4"),
        ({"event": [0, 0, 0, 0]}, "no events"),
        ({"conf_level": 1.5}, "conf_level must be between 0 and 1"),
        ({"iter_max": 0}, "iter_max must be at least 1"),
    ],
)
def test_cox_input_errors(kwargs: dict[str, Any], message: str) -> None:
    args = {"time": [1, 2, 3, 4], "event": [1, 0, 1, 1], "X": [1, 0, 1, 0], **kwargs}
    with pytest.raises(AnalysisError, match=message):
        cox(args.pop("time"), args.pop("event"), args.pop("X"), **args)


def test_cox_to_dict_is_plain() -> None:
    res, _ = fit_case("survival_small", ["arm"], None)
    d = res.to_dict()
    assert d["names"] == ["arm"] and type(d["coef"][0]) is float and d["lr_test"]["df"] == 1
    assert d["hazard_ratio"][0] == float(res.hazard_ratio[0]) and d["monotone"] is False


def pairwise_directions(time: np.ndarray, event: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The O(n²) statement of monotonicity: x_event'd >= x_k'd for every k at risk."""
    a = np.array([x[i] - x[k] for i in np.flatnonzero(event) for k in np.flatnonzero(time >= time[i])])
    signs = []
    for j in range(x.shape[1]):
        can = []
        for sense in (1.0, -1.0):
            c = np.zeros(x.shape[1])
            c[j] = -sense
            res = optimize.linprog(c, A_ub=-a, b_ub=np.zeros(len(a)), bounds=[(-1, 1)] * x.shape[1], method="highs")
            can.append(-res.fun > 1e-7)
        signs.append(np.nan if all(can) else 1.0 if can[0] else -1.0 if can[1] else 0.0)
    return np.array(signs)


small_design = st.integers(min_value=4, max_value=12).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(1, 5), min_size=n, max_size=n),
        st.lists(st.integers(0, 1), min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1)), min_size=n, max_size=n),
    )
)


@settings(max_examples=80, deadline=None)
@given(small_design, st.sampled_from(["efron", "breslow"]))
def test_linear_size_monotone_check_equals_pairwise_definition(data: Any, ties: str) -> None:
    time, event, x = (np.asarray(v, dtype=float) for v in data)
    if event.sum() == 0:
        return
    fast = monotone_directions(risk_sets(time, event.astype(int), x, np.zeros(time.size, dtype=int), ties))
    np.testing.assert_array_equal(fast, pairwise_directions(time, event, x))
