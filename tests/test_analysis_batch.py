"""Batched Cox and ANCOVA equal T single fits (which tests/test_cox.py and test_ancova.py hold to R)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.analysis.ancova import ancova_gmr
from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch
from lupustrial.analysis.cox import cox
from lupustrial.errors import AnalysisError

RTOL = 1e-8


def trials(seed: int, n_trials: int = 60, n: int = 24, continuous: bool = False) -> dict[str, np.ndarray]:
    """Random small trials with many tied times, unequal sizes (mask) and a few monotone ones."""
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 10, (n_trials, n)).astype(float)
    event = (rng.random((n_trials, n)) < 0.35).astype(float)
    x = rng.normal(size=(n_trials, n)) if continuous else (rng.random((n_trials, n)) < 0.5).astype(float)
    x[:4] = x[:4] > 0
    event[:4] *= x[:4]  # events only in one arm: monotone likelihood
    mask = np.ones((n_trials, n), dtype=bool)
    mask[::3, n - 5 :] = False
    time[~mask] = np.nan  # padding is ignored, whatever it holds
    return {"time": time, "event": event, "X": x, "mask": mask}


def single(data: dict[str, np.ndarray], i: int, **kwargs: Any) -> Any:
    m = data["mask"][i]
    return cox(data["time"][i][m], data["event"][i][m], data["X"][i][m], **kwargs)


def same(actual: float, expected: float) -> None:
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("firth", [False, True])
@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("continuous", [False, True])
def test_cox_batch_equals_single_fits(ties: str, firth: bool, continuous: bool) -> None:
    data = trials(7, continuous=continuous)
    res = cox_batch(**data, ties=ties, firth=firth)  # type: ignore[arg-type]
    assert res.monotone[:4].all()
    for i in range(data["time"].shape[0]):
        s = single(data, i, ties=ties, firth=firth)
        assert res.estimable[i] and res.monotone[i] == s.monotone
        assert (res.iterations[i], res.converged[i]) == (s.iterations, s.converged)
        assert (res.n[i], res.n_events[i]) == (s.n, s.n_events)
        same(res.coef[i], s.coef[0])
        same(res.se[i], s.se[0])
        same(res.z[i], s.z[0])
        same(res.p_value[i], s.p_value[0])
        same(res.loglik[i], s.loglik)
        same(res.loglik_null[i], s.loglik_null)
        same(res.lr_p_value[i], s.lr_test.p_value)
        same(res.score_p_value[i], s.score_test.p_value)


def test_monotone_trial_is_flagged_with_infinite_estimate() -> None:
    time = np.array([[1.0, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]])
    event = np.array([[1.0, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0]])
    x = np.array([[0.0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0]])  # trial 1: no events on x = 1
    res = cox_batch(time, event, x)
    assert res.monotone.tolist() == [True, True]
    assert res.coef.tolist() == [-np.inf, np.inf]
    assert np.isnan(res.se).all() and np.isfinite(res.lr_p_value).all()
    firth = cox_batch(time, event, x, firth=True)
    assert firth.monotone.all() and np.isfinite(firth.coef).all()
    assert np.sign(firth.coef).tolist() == [-1.0, 1.0]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 4), st.booleans(), st.booleans()), min_size=4, max_size=10),
)
def test_monotone_equals_single_criterion(rows: list[tuple[int, bool, bool]]) -> None:
    time, event, x = (np.array([[float(r[k]) for r in rows]]) for k in range(3))
    res = cox_batch(time, event, x)
    try:
        s = cox(time[0], event[0], x[0])
    except AnalysisError:
        assert not res.estimable[0] and np.isnan(res.coef[0])
        return
    assert res.estimable[0] and res.monotone[0] == s.monotone
    same(res.coef[0], s.coef[0])


def test_padding_is_ignored() -> None:
    data = trials(3, n_trials=10, n=20)
    wide = {k: np.hstack([v, np.full((10, 4), np.nan)]) for k, v in data.items()}
    wide["mask"] = np.hstack([data["mask"], np.zeros((10, 4), dtype=bool)])
    # equal up to summation order (numpy sums arrays of different widths in different blocks)
    np.testing.assert_allclose(cox_batch(**wide).coef, cox_batch(**data).coef, rtol=1e-13)


def test_unestimable_trials_are_nan_not_dropped() -> None:
    time = np.tile(np.arange(1.0, 7.0), (3, 1))
    event = np.array([[0.0] * 6, [1, 1, 0, 0, 1, 0], [1, 1, 0, 0, 1, 0]])
    x = np.array([[0.0, 1, 0, 1, 0, 1], [1.0] * 6, [0, 1, 0, 1, 0, 1]])
    res = cox_batch(time, event, x)
    assert res.estimable.tolist() == [False, False, True]
    assert np.isnan(res.coef[:2]).all() and np.isfinite(res.coef[2])
    for i in range(2):
        with pytest.raises(AnalysisError):
            cox(time[i], event[i], x[i])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("event", 2.0, "event must be 0 or 1: trial 2, patient 3"), ("time", -1.0, "time must be finite")],
)
def test_bad_input_names_trial_and_patient(field: str, value: float, message: str) -> None:
    data = {"time": np.ones((3, 6)), "event": np.ones((3, 6)), "X": np.tile([0.0, 1.0], (3, 3))}
    data[field][1, 2] = value
    with pytest.raises(AnalysisError, match=message):
        cox_batch(**data)


def test_ancova_batch_equals_single_fits() -> None:
    rng = np.random.default_rng(11)
    n_trials, n = 40, 20
    baseline = np.exp(rng.normal(4, 1, (n_trials, n)))
    treated = (np.arange(n) % 2 == 0) * np.ones((n_trials, 1))
    y = baseline ** 0.7 * np.exp(rng.normal(0.5 - 0.4 * treated, 0.6))
    mask = np.ones((n_trials, n), dtype=bool)
    mask[::4, 15:] = False
    res = ancova_gmr_batch(y, baseline, treated, mask=mask, conf_level=0.9)
    assert res.estimable.all()
    for i in range(n_trials):
        m = mask[i]
        s = ancova_gmr(y[i][m], baseline[i][m], np.where(treated[i][m] == 1, "B", "P"),
                       treatment="B", reference="P", conf_level=0.9)
        assert res.df_residual[i] == s.df_residual
        for field in ("ratio", "ratio_lower", "ratio_upper", "log_ratio", "se_log_ratio", "t", "p_value", "sigma"):
            same(getattr(res, field)[i], getattr(s, field))


def test_ancova_batch_flags_trials_single_fit_refuses() -> None:
    rng = np.random.default_rng(2)
    baseline = np.exp(rng.normal(4, 1, (3, 8)))
    y = np.exp(rng.normal(4, 1, (3, 8)))
    treated = np.tile([0.0, 1, 0, 1, 0, 1, 0, 1], (3, 1))
    treated[0] = [1, 0, 0, 0, 0, 0, 0, 0]  # one treated patient
    baseline[1] = np.where(treated[1] == 1, 50.0, 20.0)  # log baseline collinear with arm
    res = ancova_gmr_batch(y, baseline, treated)
    assert res.estimable.tolist() == [False, False, True]
    for i in range(2):
        with pytest.raises(AnalysisError):
            ancova_gmr(y[i], baseline[i], treated[i], treatment="1.0", reference="0.0")
    with pytest.raises(AnalysisError, match="y must be positive to take logs: trial 1, patient 1"):
        ancova_gmr_batch(-y, baseline, treated)


def test_ancova_batch_with_factors_equals_single_fits() -> None:
    """Two factors, one with a level some trials lack and one whose first level a trial lacks."""
    rng = np.random.default_rng(5)
    n_trials, n = 30, 24
    baseline = np.exp(rng.normal(4, 1, (n_trials, n)))
    treated = (rng.random((n_trials, n)) < 0.5).astype(float)
    dsdna = np.where(baseline > 60, "high", "low").astype(object)
    site = rng.choice(["a", "b", "c"], (n_trials, n)).astype(object)
    site[3] = np.where(site[3] == "a", "b", site[3])  # trial 4 has no reference level "a"
    site[5] = np.where(site[5] == "c", "b", site[5])  # trial 6 lacks "c"
    y = baseline ** 0.7 * np.exp(rng.normal(0.5 - 0.4 * treated + 0.3 * (dsdna == "high"), 0.6))
    mask = np.ones((n_trials, n), dtype=bool)
    mask[::4, 18:] = False
    site[~mask] = None  # padding is ignored, missing labels included
    res = ancova_gmr_batch(y, baseline, treated, factors={"dsdna": dsdna, "site": site}, mask=mask)
    assert res.estimable.all()
    for i in range(n_trials):
        m = mask[i]
        s = ancova_gmr(y[i][m], baseline[i][m], np.where(treated[i][m] == 1, "B", "P"), treatment="B",
                       reference="P", factors={"dsdna": dsdna[i][m], "site": site[i][m]})
        assert res.df_residual[i] == s.df_residual
        for field in ("log_ratio", "se_log_ratio", "p_value", "sigma", "ratio_lower"):
            same(getattr(res, field)[i], getattr(s, field))
    unadjusted = ancova_gmr_batch(y, baseline, treated, mask=mask)
    assert not np.allclose(unadjusted.log_ratio, res.log_ratio)  # the factors change the estimate


def test_ancova_batch_factor_with_one_level_or_missing_label() -> None:
    rng = np.random.default_rng(3)
    baseline, y = np.exp(rng.normal(4, 1, (2, 10))), np.exp(rng.normal(4, 1, (2, 10)))
    treated = np.tile([0.0, 1.0], (2, 5))
    level = np.array([["x"] * 10, ["x", "x", "y", "y"] * 2 + ["x", "y"]], dtype=object)
    res = ancova_gmr_batch(y, baseline, treated, factors={"f": level})
    assert res.estimable.tolist() == [False, True]  # the single fit refuses a one-level factor
    with pytest.raises(AnalysisError, match="factor 'f' has a single level"):
        ancova_gmr(y[0], baseline[0], treated[0], treatment="1.0", reference="0.0", factors={"f": level[0]})
    level[1, 2] = None
    with pytest.raises(AnalysisError, match=r"factors\['f'\] is missing: trial 2, patient 3"):
        ancova_gmr_batch(y, baseline, treated, factors={"f": level})
