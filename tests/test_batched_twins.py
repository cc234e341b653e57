"""Every registered method's batched twin equals its single fit, trial by trial, to 1e-8: the
registry's own pair (``Method.fit`` and ``Method.batch.fit``) on the same data, padding and
trials the single fit refuses included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.analysis.ae import DAYS_PER_YEAR
from lupustrial.analysis.batch import CountBatch, ResponderBatch, TimeToEventBatch, VisitBatch
from lupustrial.analysis.endpoint_data import CountData, ResponderData, TimeToEventData, VisitData
from lupustrial.analysis.methods import METHODS
from lupustrial.analysis.plan import Endpoint
from lupustrial.errors import AnalysisError

RTOL = 1e-8
#: Absolute tolerances: a dispersion 1 / theta near 0 (theta's estimate running off to infinity on
#: Poisson-like counts) is rounding's, not the twin's; it only needs to be near 0 in both.
ATOL = {"dispersion": 1e-8}


def _logrank_estimate(result: Any) -> float:
    """Peto's (O − E)/V of the treatment group ("T", after "R" in sorted order)."""
    lr = result.logrank
    with np.errstate(invalid="ignore", divide="ignore"):  # no information: nan, as the twin
        return float((lr.observed[1] - lr.expected[1]) / lr.variance[1, 1])


#: What the single fit gives for each field of the twin's BatchTest.
SINGLE: dict[str, dict[str, Callable[[Any], float]]] = {
    "ancova_log": {"p_value": lambda r: r.ancova.p_value, "estimate": lambda r: r.ancova.log_ratio,
                   "sigma": lambda r: r.ancova.sigma},
    "ancova": {"p_value": lambda r: r.p_value, "estimate": lambda r: r.difference, "sigma": lambda r: r.sigma},
    "cox": {"p_value": lambda r: r.cox.lr_test.p_value, "estimate": lambda r: r.cox.coef[0],
            "events": lambda r: r.cox.n_events, "monotone": lambda r: r.cox.monotone},
    "logrank": {"p_value": lambda r: r.logrank.p_value, "estimate": _logrank_estimate,
                "events": lambda r: sum(a.events for a in r.arms.values())},
    "responder": {"p_value": lambda r: r.p_value, "estimate": lambda r: r.log_odds_ratio,
                  "control_rate": lambda r: _arm(r, "R").proportion,
                  "treatment_rate": lambda r: _arm(r, "T").proportion},
    "negative_binomial": {**(rates := {
        "p_value": lambda r: r.p_value, "estimate": lambda r: r.log_rate_ratio,
        "control_rate": lambda r: _arm(r, "R").crude_rate, "treatment_rate": lambda r: _arm(r, "T").crude_rate,
        "exposure": lambda r: sum(a.exposure_years for a in r.arms) / sum(a.n for a in r.arms)}),
        "dispersion": lambda r: np.divide(1.0, r.theta)},
    "poisson": rates,
}


def _arm(result: Any, arm: str) -> Any:
    return next(a for a in result.arms if a.arm == arm)


def test_every_twin_is_tested() -> None:
    assert {name for name, m in METHODS.items() if m.batch is not None} == set(SINGLE)


def _endpoint(name: str, factors: bool) -> Endpoint:
    method = METHODS[name]
    week = 52.0 if "week" in method.requires + method.uses else None
    return Endpoint(name="e", param="X", analysis=name, week=week, factors=["site"] if factors else [])


def _trials(seed: int, n_trials: int, n: int, reads: str, factors: bool) -> tuple[Any, list[Any]]:
    """Random trials as the twin reads them (padded with NaN where the mask is False, a few values
    missing) and, per trial, the same data as the single fit reads them (real patients only)."""
    rng = np.random.default_rng(seed)
    treated = (rng.random((n_trials, n)) < 0.5).astype(float)
    mask = np.arange(n) < rng.integers(max(2, n // 2), n + 1, (n_trials, 1))
    site = rng.choice(["a", "b", "c"], (n_trials, n)).astype(object) if factors else None
    observed = None  # values whose nan leaves the patient out of the analysis
    if reads == "responder":
        rate = rng.uniform(0.0, 1.0, (n_trials, 2))  # near 0 or 1: an arm without (or only) responders
        response = (rng.random((n_trials, n)) < np.where(treated == 1, rate[:, :1], rate[:, 1:])).astype(float)
        response[(rng.random((n_trials, n)) < 0.1) | ~mask] = np.nan  # not evaluable: not analysed
        batch: Any = ResponderBatch(response, treated, mask, {"site": site} if factors else {})
        observed = response
    elif reads == "count":
        days = rng.integers(30, 600, (n_trials, n)).astype(float)
        theta = rng.choice([0.5, 3.0, np.inf], (n_trials, 1))  # inf: Poisson, theta's estimate runs off
        rate = rng.uniform(0.2, 3.0, (n_trials, 1)) * np.where(treated == 1, 0.6, 1.0) * days / DAYS_PER_YEAR
        count = rng.poisson(np.where(np.isinf(theta), rate, rng.gamma(np.minimum(theta, 1e9), rate / theta)))
        count = count.astype(float)
        count[~mask] = np.nan
        batch = CountBatch(count, days / DAYS_PER_YEAR, treated, mask, {"site": site} if factors else {})
    elif reads == "visit":
        baseline = np.exp(rng.normal(4, 1, (n_trials, n)))
        value = baseline ** 0.7 * np.exp(rng.normal(0.5 - 0.4 * treated, 0.6))
        value[rng.random((n_trials, n)) < 0.1] = np.nan  # no visit (withdrawn): not analysed
        value[~mask] = np.nan
        batch = VisitBatch(value, baseline, treated, mask, {"site": site} if factors else {})
        observed = value
    else:
        time = np.ceil(rng.exponential(20.0, (n_trials, n)))
        event = (rng.random((n_trials, n)) < rng.uniform(0.1, 0.8, (n_trials, 1))).astype(float)
        time[~mask] = np.nan
        batch = TimeToEventBatch(time, event, treated, mask)
    singles = []
    for i in range(n_trials):
        m = mask[i] if observed is None else mask[i] & np.isfinite(observed[i])
        common = {"treatment": "T", "reference": "R", "conf_level": 0.95, "usubjid": np.arange(m.sum()).astype(str),
                  "arm": np.where(treated[i][m] == 1, "T", "R"), "strata": None,
                  "factors": {"site": site[i][m]} if factors else {}}
        singles.append({
            "visit": lambda: VisitData(**common, value=value[i][m], baseline=baseline[i][m]),
            "responder": lambda: ResponderData(**common, response=response[i][m], not_evaluable=0),
            "count": lambda: CountData(**common, count=count[i][m], exposure_days=days[i][m]),
        }.get(reads, lambda: TimeToEventData(**common, time=time[i][m], event=event[i][m], horizon_days=None))())
    return batch, singles


def _check_twin(name: str, seed: int, n_trials: int, n: int, factors: bool) -> list[str]:
    """Assert the twin equals the single fit on random trials; say what each trial was: "refused"
    (by the single fit), "monotone" (an infinite estimate), "fitted"."""
    method = METHODS[name]
    factors &= "factors" in method.uses and "factors" not in method.batch.lacks
    endpoint = _endpoint(name, factors)
    batch, singles = _trials(seed, n_trials, n, method.reads, factors)
    twin = method.batch.fit(endpoint, batch).arrays()
    assert set(twin) == set(SINGLE[name])
    seen = []
    for i, data in enumerate(singles):
        try:
            single = method.fit(endpoint, data)
        except AnalysisError:  # refused by the single fit: not estimable, never claimed
            assert np.isnan(twin["p_value"][i]) and np.isnan(twin["estimate"][i])
            seen.append("refused")
            continue
        for field, read in SINGLE[name].items():
            np.testing.assert_allclose(twin[field][i], read(single), rtol=RTOL, atol=ATOL.get(field, 1e-14),
                                       err_msg=field)
        seen.append("monotone" if np.isinf(twin["estimate"][i]) else "fitted")
    return seen


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(sorted(SINGLE)), st.integers(0, 2**31), st.integers(1, 5), st.integers(4, 30),
       st.booleans())
def test_twin_equals_single_fit(name: str, seed: int, n_trials: int, n: int, factors: bool) -> None:
    _check_twin(name, seed, n_trials, n, factors)


@pytest.mark.parametrize(("name", "kinds"), [("responder", {"refused", "monotone", "fitted"}),
                                             ("negative_binomial", {"refused", "fitted"}),
                                             ("poisson", {"refused", "fitted"})])
def test_glm_twins_on_their_edge_cases(name: str, kinds: set[str]) -> None:
    """Small trials meet every edge: an arm with no (or only) responders (log OR ±inf, p NaN, as
    the single fit), a count cell without events (a coefficient drifting off as in R), theta
    running off to infinity on Poisson counts (refused: NaN; else 1 / theta near 0), an arm
    without events (refused)."""
    seen = [kind for seed in range(12) for factors in (False, True)
            for kind in _check_twin(name, seed, 5, (4, 8, 15, 30)[seed % 4], factors)]
    assert set(seen) == kinds
