"""MMRM against R gls + emmeans (fixtures from tests/reference/mmrm_reference.R).

Tolerances: relative 1e-6 on estimates, SEs, covariance entries, degrees of freedom and interval
bounds; p-values relative 1e-6 with an absolute floor of 1e-12; the REML log-likelihood
absolute 1e-6. The fixtures' gls fits are polished to the REML optimum (see the R script), so
these compare two optima, not two optimisers' stopping points.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import differentiate

from conftest import assert_close as close
from conftest import assert_coefficient_table
from conftest import load_reference
from lupustrial.analysis.mmrm import DfMethod, MmrmResult, _model, _objective, mmrm
from lupustrial.errors import AnalysisError

REL = 1e-6
CASES = ["basic", "unbalanced", "no_baseline", "three_arm"]
DF_KEYS: dict[DfMethod, str] = {"satterthwaite": "satterthwaite", "df.error": "df_error"}


@functools.cache
def fit(case: str, df_method: DfMethod = "satterthwaite") -> tuple[MmrmResult, dict[str, Any]]:
    ref = load_reference(f"mmrm_{case}")
    d = ref["data"]
    covariates = {c: d[c] for c in ref["covariate_names"]} or None
    res = mmrm(d["y"], d["subject"], d["visit"], d["arm"], treatment=ref["treatment"],
               reference=ref["reference"], baseline=d.get("baseline"), covariates=covariates,
               df_method=df_method)
    return res, ref


@pytest.mark.parametrize("case", CASES)
def test_fit_matches_gls(case: str) -> None:
    res, ref = fit(case)
    assert (res.visits, res.arms) == (tuple(ref["visits"]), tuple(ref["arms"]))
    assert (res.n_subjects, res.n_observations) == (ref["n_subjects"], ref["n_observations"])
    assert res.reml_loglik == pytest.approx(ref["reml_loglik"], abs=1e-6)
    close(res.covariance, ref["covariance"])
    assert_coefficient_table(res.coefficients, ref["coef"], "t")


@pytest.mark.parametrize("df_method", list(DF_KEYS))
@pytest.mark.parametrize("case", CASES)
def test_adjusted_means_and_differences_match_emmeans(case: str, df_method: DfMethod) -> None:
    """df.error is emmeans(mode = "df.error") itself; satterthwaite is the exact Satterthwaite
    df computed in R with numDeriv (emmeans' default for gls is random, see below)."""
    res, ref = fit(case, df_method)
    key = DF_KEYS[df_method]
    emm = ref["emmeans"]
    assert [(m.visit, m.arm) for m in res.means] == list(zip(emm["visit"], emm["arm"], strict=True))
    close([m.mean for m in res.means], emm["mean"])
    close([m.se for m in res.means], emm["se"])
    for field in ("df", "lower", "upper"):
        close([getattr(m, field) for m in res.means], emm[key][field])
    dif = ref["differences"]
    assert [x.visit for x in res.differences] == dif["visit"]
    assert set(dif["contrast"]) == {f"{res.treatment} - {res.reference}"}
    close([x.difference for x in res.differences], dif["estimate"])
    close([x.se for x in res.differences], dif["se"])
    for field in ("df", "lower", "upper", "t"):
        close([getattr(x, field) for x in res.differences], dif[key][field])
    close([x.p_value for x in res.differences], dif[key]["p_value"], atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gls_default_optimiser_stops_short_of_the_optimum(case: str) -> None:
    """Why the fixtures polish R's fit: gls's default stop is up to 3e-4 (relative) away in Σ
    and a little lower in REML log-likelihood; this fit reaches the optimum."""
    res, ref = fit(case)
    default = ref["default_fit"]
    assert default["reml_loglik"] <= res.reml_loglik + 1e-9
    gap = np.max(np.abs(np.divide(default["covariance"], res.covariance) - 1))
    assert 1e-6 < gap < 1e-3


def test_emmeans_default_df_for_gls_is_random() -> None:
    """emmeans' appx-satterthwaite (its default here) refits to noise-perturbed data: two
    calls disagree, around the exact Satterthwaite df this module reports."""
    res, ref = fit("basic")
    calls = ref["appx_satterthwaite_df"]
    first, second = np.asarray(calls["first_call"]), np.asarray(calls["second_call"])
    assert np.max(np.abs(first - second)) > 0.01
    close([m.df for m in res.means], first, rtol=0.03)


def test_gradient_is_the_derivative_of_the_reml_loglik() -> None:
    ref = load_reference("mmrm_unbalanced")
    d = ref["data"]
    model = _model(d["y"], d["subject"], d["visit"], d["arm"], d["baseline"],
                               {"steroid": d["steroid"]}, "belimumab", "placebo")
    theta = np.random.default_rng(3).normal(0.3, 0.3, 6)

    def value(points: np.ndarray) -> np.ndarray:
        flat = points.reshape(6, -1)
        out = [_objective(flat[:, i], model.data)[0] for i in range(flat.shape[1])]
        return np.asarray(out).reshape(points.shape[1:])

    numeric = differentiate.jacobian(value, theta).df
    close(_objective(theta, model.data)[1], numeric, rtol=1e-7, atol=1e-9)


def test_missing_values_are_missing_visits_and_to_dict_is_json_ready() -> None:
    ref = load_reference("mmrm_basic")
    d = ref["data"]
    y = np.asarray(d["y"], dtype=float)
    assert np.isnan(y).sum() == len(y) - ref["n_observations"] > 0
    keep = ~np.isnan(y)
    pick = {k: np.asarray(v)[keep] for k, v in d.items()}
    dropped = mmrm(pick["y"], pick["subject"], pick["visit"], pick["arm"], treatment="belimumab",
                   reference="placebo", baseline=pick["baseline"])
    res, _ = fit("basic")
    assert dropped.reml_loglik == pytest.approx(res.reml_loglik, abs=1e-9)
    out = json.loads(json.dumps(res.to_dict()))
    assert out["visits"] == ["4", "12", "24", "52"] and len(out["covariance"]) == 4
    assert out["differences"][-1]["visit"] == "52" and out["df_method"] == "satterthwaite"


def _trial(seed: int, n: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    visits = np.array([1, 2, 3])
    subject = np.repeat([f"s{i}" for i in range(2 * n)], 3)
    arm = np.repeat(["t", "r"] * n, 3)
    baseline = np.repeat(rng.normal(10, 2, 2 * n), 3)
    shared = np.repeat(rng.normal(0, 1.5, 2 * n), 3)
    y = baseline * 0.5 + shared + rng.normal(0, 1, 6 * n) * np.tile([1.0, 1.3, 1.6], 2 * n)
    y[rng.random(6 * n) < 0.1] = np.nan
    return {"y": y, "subject": subject, "visit": np.tile(visits, 2 * n), "arm": arm,
            "baseline": baseline}


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-50, 50), scale=st.floats(0.1, 10))
def test_location_scale_and_row_order_invariance(seed: int, shift: float, scale: float) -> None:
    """Shifting y moves the means, not the differences; rescaling y scales differences by
    the factor and Σ by its square and leaves the df alone; row order does not matter."""
    d = _trial(seed)
    kw = {"treatment": "t", "reference": "r"}
    res = mmrm(d["y"], d["subject"], d["visit"], d["arm"], baseline=d["baseline"], **kw)
    moved = mmrm(d["y"] * scale + shift, d["subject"], d["visit"], d["arm"],
                 baseline=d["baseline"], **kw)
    close([x.difference for x in moved.differences],
          [x.difference * scale for x in res.differences], rtol=1e-6, atol=1e-8)
    close(moved.covariance, np.asarray(res.covariance) * scale**2, rtol=1e-6, atol=1e-10)
    close([x.df for x in moved.differences], [x.df for x in res.differences], rtol=1e-5)
    close([m.mean for m in moved.means], [m.mean * scale + shift for m in res.means],
          rtol=1e-6, atol=1e-8)
    order = np.random.default_rng(seed).permutation(d["y"].size)
    shuffled = mmrm(*(d[k][order] for k in ("y", "subject", "visit", "arm")),
                    baseline=d["baseline"][order], **kw)
    close([x.p_value for x in shuffled.differences], [x.p_value for x in res.differences],
          rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"visit": [1, 1, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]}, "subject 'a' has more than one row at visit '1'"),
        ({"arm": ["t", "t", "r"] + ["t"] * 3 + ["r"] * 6}, "subject 'a' is in more than one arm"),
        ({"visit": [1] * 12, "subject": list("abcdefghijkl")}, "at least 2 visits"),
        ({"y": [1.0, 2.0, np.inf] + [1.0] * 9}, r"y\[2\] is infinite"),
        ({"baseline": [1.0, np.nan] + [1.0] * 10}, r"baseline\[1\] is nan"),
        ({"subject": ["a"] * 5}, "subject has 5 values but y has 12"),
        ({"y": [1.0, 2.0, 3.0] * 2 + [np.nan, 2.0, 3.0] * 2}, "rank-deficient"),
        ({"df_method": "kenward-roger"}, "df_method must be 'satterthwaite' or 'df.error'"),
        ({"treatment": "x"}, r"treatment arm 'x' is not among the arms \['r', 't'\]"),
    ],
)
def test_invalid_input_raises(change: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {
        "y": [1.0, 2.0, 3.5, 1.2, 2.2, 3.1, 0.8, 2.5, 2.9, 1.1, 1.9, 3.3],
        "subject": list("aaabbbcccddd"), "visit": [1, 2, 3] * 4,
        "arm": ["t"] * 6 + ["r"] * 6, "baseline": [1.0, 1.0, 1.0, 2.0, 2.0, 2.0] * 2,
        "treatment": "t", "reference": "r",
    }
    kwargs.update(change)
    with pytest.raises(AnalysisError, match=message):
        mmrm(kwargs.pop("y"), kwargs.pop("subject"), kwargs.pop("visit"), kwargs.pop("arm"),
             **kwargs)


def test_visits_in_lockstep_have_no_reml_maximum() -> None:
    """Visit 2 = visit 1 + 1 for everyone: Σ is singular at the supremum, so there is no
    maximum with a positive-definite information (R's gls reports false convergence on such
    data); the fit refuses rather than report negative or infinite df."""
    rng = np.random.default_rng(0)
    first = rng.normal(0, 1, 20)
    y = np.column_stack([first, first + 1, rng.normal(0, 1, 20)]).ravel()
    with pytest.raises(AnalysisError, match="no maximum with a positive-definite information"):
        mmrm(y, np.repeat(np.arange(20), 3), np.tile([1, 2, 3], 20), np.repeat(["t", "r"] * 10, 3),
             treatment="t", reference="r")
