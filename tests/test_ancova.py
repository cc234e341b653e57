"""ANCOVA of log titres against R lm + emmeans fixtures (tests/reference/ancova_reference.R)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.analysis.ancova import (
    AncovaRawResult,
    AncovaResult,
    Weights,
    ancova,
    ancova_gmr,
    ancova_gmr_frame,
)
from lupustrial.errors import AnalysisError

REL = 1e-6
CASES = ["basic", "factors", "unequal", "three_arm"]
# Weights only matter with factors, so only those fixtures hold emmeans(weights="proportional").
WEIGHTED = [(c, "equal") for c in CASES] + [("factors", "proportional"),
                                             ("three_arm", "proportional")]


def _fit(ref: dict[str, Any], weights: Weights = "equal") -> AncovaResult:
    data = ref["data"]
    factors = {f: data[f] for f in ref["factor_names"]}
    return ancova_gmr(
        data["y"], data["baseline"], data["arm"], treatment=ref["treatment"],
        reference=ref["reference"], factors=factors or None, weights=weights,
    )


@pytest.mark.parametrize("case", CASES)
def test_coefficients_match_lm(reference: Callable[[str], Any], case: str) -> None:
    ref = reference(f"ancova_{case}")
    res = _fit(ref)
    coef = ref["coef"]
    assert [c.term for c in res.coefficients] == [
        t.replace("log_base", "log(baseline)") for t in coef["term"]
    ]
    for key, attr in (("estimate", "estimate"), ("se", "se"), ("t", "t"), ("p", "p_value")):
        np.testing.assert_allclose([getattr(c, attr) for c in res.coefficients], coef[key],
                                   rtol=REL)
    assert res.df_residual == ref["df_residual"]
    assert res.sigma == pytest.approx(ref["sigma"], rel=REL)


@pytest.mark.parametrize(("case", "weights"), WEIGHTED)
def test_emmeans_and_ratio(
    reference: Callable[[str], Any], case: str, weights: Weights
) -> None:
    ref = reference(f"ancova_{case}")
    res = _fit(ref, weights)
    emm = ref[f"emmeans_{weights}"]["emm"]
    assert [m.arm for m in res.adjusted] == emm["arm"]
    for key in ("geometric_mean", "lower", "upper"):
        np.testing.assert_allclose([getattr(m, key) for m in res.adjusted], emm[key], rtol=REL)
    np.testing.assert_allclose([m.se_log for m in res.adjusted], emm["se_log"], rtol=REL)

    con = ref[f"emmeans_{weights}"]["contrast"]
    label = f"{res.treatment} / {res.reference}"
    contrasts = con["contrast"] if isinstance(con["contrast"], list) else [con["contrast"]]
    i = contrasts.index(label)
    pick = {k: (v[i] if isinstance(v, list) else v) for k, v in con.items()}
    assert res.ratio == pytest.approx(pick["ratio"], rel=REL)
    assert res.ratio_lower == pytest.approx(pick["lower"], rel=REL)
    assert res.ratio_upper == pytest.approx(pick["upper"], rel=REL)
    assert res.t == pytest.approx(pick["t_ratio"], rel=REL)
    assert res.p_value == pytest.approx(pick["p_value"], rel=REL)
    assert res.percent_reduction == pytest.approx((1 - pick["ratio"]) * 100, rel=REL)
    assert res.percent_reduction_lower == pytest.approx((1 - pick["upper"]) * 100, rel=REL)
    assert res.percent_reduction_upper == pytest.approx((1 - pick["lower"]) * 100, rel=REL)


@pytest.mark.parametrize("case", CASES)
def test_pairs_gives_inverse_ratio(reference: Callable[[str], Any], case: str) -> None:
    """emmeans pairs() reports reference / treatment; swapping our arms must reproduce it."""
    ref = reference(f"ancova_{case}")
    data = ref["data"]
    swapped = ancova_gmr(
        data["y"], data["baseline"], data["arm"], treatment=ref["reference"],
        reference=ref["treatment"], factors={f: data[f] for f in ref["factor_names"]},
    )
    pairs = ref["emmeans_equal"]["pairs"]
    labels = pairs["contrast"] if isinstance(pairs["contrast"], list) else [pairs["contrast"]]
    i = labels.index(f"{ref['reference']} / {ref['treatment']}")
    ratio = pairs["ratio"][i] if isinstance(pairs["ratio"], list) else pairs["ratio"]
    p = pairs["p_value"][i] if isinstance(pairs["p_value"], list) else pairs["p_value"]
    assert swapped.ratio == pytest.approx(ratio, rel=REL)
    assert swapped.p_value == pytest.approx(p, rel=REL)


@pytest.mark.parametrize("case", CASES)
def test_unadjusted_geometric_means(reference: Callable[[str], Any], case: str) -> None:
    ref = reference(f"ancova_{case}")
    res = _fit(ref)
    for m in res.unadjusted:
        r = ref["unadjusted"][m.arm]
        assert m.n == r["n"]
        assert (m.geometric_mean, m.lower, m.upper) == pytest.approx(
            (r["geometric_mean"], r["lower"], r["upper"]), rel=REL)


def test_to_dict_is_json_ready(reference: Callable[[str], Any]) -> None:
    res = _fit(reference("ancova_factors"))
    d = json.loads(json.dumps(res.to_dict()))
    assert d["ratio"] == res.ratio
    assert d["adjusted"][1]["arm"] == "belimumab"
    assert d["coefficients"][0]["term"] == "(Intercept)"


def test_frame_matches_arrays(reference: Callable[[str], Any]) -> None:
    ref = reference("ancova_factors")
    d = ref["data"]
    frame = pd.DataFrame({"AVAL": d["y"], "BASE": d["baseline"], "TRT01A": d["arm"],
                          "centre": d["centre"], "steroid": d["steroid"]})
    res = ancova_gmr_frame(frame, treatment="belimumab", reference="placebo",
                           factors=("centre", "steroid"))
    assert res == _fit(ref)
    with pytest.raises(AnalysisError, match="REGION"):
        ancova_gmr_frame(frame, treatment="belimumab", reference="placebo", factors=("REGION",))


def _small() -> tuple[list[float], list[float], list[str]]:
    y = [10.0, 20.0, 15.0, 40.0, 30.0, 25.0]
    base = [12.0, 18.0, 30.0, 35.0, 20.0, 22.0]
    return y, base, ["a", "a", "a", "b", "b", "b"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y": [10.0, 0.0, 15.0, 40.0, 30.0, 25.0]}, r"y\[1\] is 0\.0"),
        ({"baseline": [12.0, 18.0, float("nan"), 35.0, 20.0, 22.0]}, r"baseline\[2\] is nan"),
        ({"baseline": [12.0, -1.0, 30.0, 35.0, 20.0, 22.0]}, r"baseline\[1\] is -1\.0"),
        ({"arm": ["a", "a", "a", "a", "a", "b"]}, r"arm 'b' has 1 subject"),
        ({"arm": ["a", "a", None, "b", "b", "b"]}, r"arm\[2\] is missing"),
        ({"treatment": "c"}, r"treatment arm 'c' is not among the arms \['a', 'b'\]"),
        ({"reference": "x"}, r"reference arm 'x'"),
        ({"factors": {"site": ["p", "p", "p", "q", "q", "q"]}}, "rank-deficient"),
        ({"y": [24.0, 36.0, 60.0, 105.0, 60.0, 66.0]}, "residual SD 0"),
        ({"factors": {"site": ["p"] * 6}}, "single level"),
        ({"factors": {"site": ["p", "q"]}}, r"factors\['site'\] has 2 values but y has 6"),
    ],
)
def test_invalid_input_raises(change: dict[str, Any], message: str) -> None:
    y, base, arm = _small()
    kwargs: dict[str, Any] = {"y": y, "baseline": base, "arm": arm, "treatment": "b",
                              "reference": "a", "factors": None}
    kwargs.update(change)
    with pytest.raises(AnalysisError, match=message):
        ancova_gmr(kwargs.pop("y"), kwargs.pop("baseline"), kwargs.pop("arm"), **kwargs)


def test_rank_deficiency_names_the_aliased_term() -> None:
    y, base, arm = _small()
    with pytest.raises(AnalysisError, match="rank-deficient") as info:
        ancova_gmr(y, base, arm, treatment="b", reference="a",
                   factors={"site": ["p", "p", "p", "q", "q", "q"]})
    assert "'siteq'" in str(info.value) or "'armb'" in str(info.value)
    assert "\n" not in str(info.value)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sdlog=st.floats(0.05, 3.0), scale=st.floats(1e-3, 1e3))
def test_swap_and_scale_invariants(seed: int, sdlog: float, scale: float) -> None:
    rng = np.random.default_rng(seed)
    base = rng.lognormal(5.0, sdlog, 12)
    y = base * rng.lognormal(0.0, sdlog, 12)
    arm = ["t", "r"] * 6
    site = ["x", "y", "z"] * 4
    res = ancova_gmr(y, base, arm, treatment="t", reference="r", factors={"site": site})
    swapped = ancova_gmr(y, base, arm, treatment="r", reference="t", factors={"site": site})
    assert swapped.ratio == pytest.approx(1 / res.ratio, rel=1e-9)
    assert swapped.ratio_lower == pytest.approx(1 / res.ratio_upper, rel=1e-9)
    assert swapped.p_value == pytest.approx(res.p_value, rel=1e-9, abs=1e-300)

    scaled = ancova_gmr(np.multiply(y, scale), np.multiply(base, scale), arm, treatment="t",
                        reference="r", factors={"site": site})
    assert scaled.ratio == pytest.approx(res.ratio, rel=1e-8)
    assert scaled.ratio_upper == pytest.approx(res.ratio_upper, rel=1e-8)
    gm = [m.geometric_mean for m in res.adjusted]
    assert [m.geometric_mean for m in scaled.adjusted] == pytest.approx(
        [g * scale for g in gm], rel=1e-8)
    assert res.ratio_lower <= res.ratio <= res.ratio_upper


# Raw scale: lm(y ~ arm + baseline + factors) + emmeans differences (ancova_raw_<case>.json).
RAW_CASES = ["basic", "factors", "three_arm"]


def _fit_raw(ref: dict[str, Any], weights: Weights = "equal") -> AncovaRawResult:
    data = ref["data"]
    factors = {f: data[f] for f in ref["factor_names"]}
    return ancova(data["y"], data["baseline"], data["arm"], treatment=ref["treatment"],
                  reference=ref["reference"], factors=factors or None, weights=weights)


@pytest.mark.parametrize("weights", ["equal", "proportional"])
@pytest.mark.parametrize("case", RAW_CASES)
def test_raw_scale_matches_lm_and_emmeans(
    reference: Callable[[str], Any], case: str, weights: Weights
) -> None:
    """Relative tolerance 1e-6 on every number (none is near zero in these data)."""
    ref = reference(f"ancova_raw_{case}")
    res = _fit_raw(ref, weights)
    coef = ref["coef"]
    assert [c.term for c in res.coefficients] == coef["term"]
    for key, attr in (("estimate", "estimate"), ("se", "se"), ("t", "t"), ("p", "p_value")):
        np.testing.assert_allclose([getattr(c, attr) for c in res.coefficients], coef[key],
                                   rtol=REL)
    assert (res.df_residual, res.sigma, res.baseline_mean) == (
        ref["df_residual"], pytest.approx(ref["sigma"], rel=REL),
        pytest.approx(ref["baseline_mean"], rel=REL))
    emm = ref[f"emmeans_{weights}"]["emm"]
    assert [m.arm for m in res.adjusted] == emm["arm"]
    for key in ("mean", "se", "lower", "upper"):
        np.testing.assert_allclose([getattr(m, key) for m in res.adjusted], emm[key], rtol=REL)
    con = ref[f"emmeans_{weights}"]["contrast"]
    assert con["contrast"] == f"{res.treatment} - {res.reference}"
    assert con["df"] == res.df_residual
    got = (res.difference, res.se_difference, res.difference_lower, res.difference_upper,
           res.t, res.p_value)
    want = tuple(con[k] for k in ("estimate", "se", "lower", "upper", "t_ratio", "p_value"))
    np.testing.assert_allclose(got, want, rtol=REL)


def test_raw_scale_shares_the_log_scale_fit(reference: Callable[[str], Any]) -> None:
    """ancova on log values is ancova_gmr: one least-squares core, two ways of reporting."""
    ref = reference("ancova_factors")
    d = ref["data"]
    factors = {f: d[f] for f in ref["factor_names"]}
    gmr = ancova_gmr(d["y"], d["baseline"], d["arm"], treatment="belimumab",
                     reference="placebo", factors=factors)
    raw = ancova(np.log(d["y"]), np.log(d["baseline"]), d["arm"], treatment="belimumab",
                 reference="placebo", factors=factors)
    assert raw.difference == gmr.log_ratio and raw.se_difference == gmr.se_log_ratio
    assert [m.mean for m in raw.adjusted] == [m.log_mean for m in gmr.adjusted]
    assert raw.to_dict()["adjusted"][0]["arm"] == "placebo"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y": [1.0, float("nan"), 2.0, 3.0, 4.0, 5.0]}, r"y\[1\] is nan: a finite number"),
        ({"baseline": [1.0, 2.0]}, "baseline has 2 values but y has 6"),
        ({"arm": ["a", "b", "b", "b", "b", "b"]}, r"arm 'a' has 1 subject"),
    ],
)
def test_raw_scale_invalid_input_raises(change: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"y": [-1.0, 0.0, 2.5, 3.0, 7.0, 5.0],
                              "baseline": [0.0, 1.0, 2.0, 4.0, 3.0, 2.0],
                              "arm": ["a", "a", "a", "b", "b", "b"]}
    kwargs.update(change)
    with pytest.raises(AnalysisError, match=message):
        ancova(kwargs["y"], kwargs["baseline"], kwargs["arm"], treatment="b", reference="a")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.floats(-1e3, 1e3), scale=st.floats(1e-3, 1e3))
def test_raw_scale_shift_and_scale_invariants(seed: int, shift: float, scale: float) -> None:
    """Adding a constant moves the means, not the difference; a unit change scales both."""
    rng = np.random.default_rng(seed)
    base = rng.normal(10, 3, 12)
    y = base + rng.normal(0, 2, 12)
    arm = ["t", "r"] * 6
    res = ancova(y, base, arm, treatment="t", reference="r")
    moved = ancova(y + shift, base + shift, arm, treatment="t", reference="r")
    assert moved.difference == pytest.approx(res.difference, rel=1e-6, abs=1e-8)
    assert moved.p_value == pytest.approx(res.p_value, rel=1e-6, abs=1e-12)
    scaled = ancova(y * scale, base * scale, arm, treatment="t", reference="r")
    assert scaled.difference == pytest.approx(res.difference * scale, rel=1e-8)
    assert scaled.difference_lower == pytest.approx(res.difference_lower * scale, rel=1e-8)
    swapped = ancova(y, base, arm, treatment="r", reference="t")
    assert swapped.difference == pytest.approx(-res.difference, rel=1e-9)
