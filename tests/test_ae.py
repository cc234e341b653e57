"""Adverse-event tables against R fisher.test/poisson.test (tests/reference/ae_reference.R)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.analysis.ae import AeSummary, ae_summary
from lupustrial.errors import AnalysisError, DataError

REL = 1e-9
CASES = ["trial", "sparse"]


def _frames(ref: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(ref["adae"]), pd.DataFrame(ref["adsl"])


def _summary(ref: dict[str, Any], adsl: pd.DataFrame | None = None) -> AeSummary:
    adae, own_adsl = _frames(ref)
    return ae_summary(adae, own_adsl if adsl is None else adsl, treatment=ref["treatment"],
                      reference=ref["reference"])


def _close(actual: float, expected: float) -> bool:
    if math.isnan(expected) or math.isinf(expected):
        return actual == expected or (math.isnan(actual) and math.isnan(expected))
    return actual == pytest.approx(expected, rel=REL, abs=1e-300)


@pytest.mark.parametrize("case", CASES)
def test_rows_match_r(reference: Callable[[str], Any], case: str) -> None:
    ref = reference(f"ae_{case}")
    res = _summary(ref)
    assert [(r.level, r.body_system, r.term) for r in res.rows] == [
        (r["level"], r["body_system"], r["term"]) for r in ref["rows"]
    ]
    for row, exp in zip(res.rows, ref["rows"], strict=True):
        arms = (row.treatment, row.reference)
        assert [a.subjects for a in arms] == exp["subjects"]
        assert [a.events for a in arms] == exp["events"]
        assert [a.n for a in arms] == exp["n"]
        assert [a.patient_years for a in arms] == pytest.approx(exp["patient_years"], rel=REL)
        for key in ("fisher_p", "rate_ratio", "rate_ratio_lower", "rate_ratio_upper",
                    "rate_ratio_p"):
            assert _close(getattr(row, key), exp[key]), (row.term or row.body_system, key)


def test_zero_count_rows_cover_both_directions(reference: Callable[[str], Any]) -> None:
    """The fixtures exercise 0 vs x, x vs 0 and 0 vs 0 events (else the R check is weaker)."""
    rows = [r for c in CASES for r in _summary(reference(f"ae_{c}")).rows]
    assert any(r.rate_ratio == 0 and r.rate_ratio_upper < np.inf for r in rows)
    assert any(r.rate_ratio == np.inf and r.rate_ratio_lower > 0 for r in rows)
    assert any(np.isnan(r.rate_ratio) and r.fisher_p == 1 for r in rows)


def test_exposure_from_dates_equals_trtdurd(reference: Callable[[str], Any]) -> None:
    ref = reference("ae_trial")
    _, adsl = _frames(ref)
    from_dates = _summary(ref, adsl.drop(columns="TRTDURD"))
    assert from_dates == _summary(ref)


def test_rates_and_frame(reference: Callable[[str], Any]) -> None:
    res = _summary(reference("ae_trial"))
    frame = res.to_frame()
    assert len(frame) == len(res.rows)
    any_ae = frame.iloc[0]
    assert any_ae["term"] == "Any adverse event"
    assert any_ae["treatment_rate_per_100py"] == pytest.approx(
        100 * any_ae["treatment_events"] / any_ae["treatment_patient_years"])
    assert any_ae["reference_percent"] == pytest.approx(
        100 * any_ae["reference_subjects"] / any_ae["reference_n"])
    d = json.loads(json.dumps(res.to_dict()))
    assert d["rows"][0]["treatment"]["arm"] == "belimumab"


def _tiny() -> tuple[pd.DataFrame, pd.DataFrame]:
    adsl = pd.DataFrame({"USUBJID": ["s1", "s2", "s3", "s4"], "TRT01A": ["t", "t", "r", "r"],
                         "TRTDURD": [300, 200, 365, 100]})
    adae = pd.DataFrame({"USUBJID": ["s1", "s3", "s3"], "AEDECOD": ["Headache"] * 3,
                         "AEBODSYS": ["Nervous system disorders"] * 3, "AESER": ["N", "Y", "N"],
                         "AESEV": ["MILD", "SEVERE", "MILD"], "ASTDY": [3, 10, 40]})
    return adae, adsl


@pytest.mark.parametrize(
    ("table", "column", "value", "row", "message"),
    [
        ("adae", "AESER", ["N", "yes", "N"], 2, "AESER must be"),
        ("adae", "AESEV", ["MILD", "SEVERE", "LIFE THREATENING"], 3, "AESEV must be"),
        ("adae", "AEDECOD", ["Headache", None, "Headache"], 2, "missing value"),
        ("adsl", "TRTDURD", [300, 0, 365, 100], 2, "positive number of days"),
        ("adsl", "USUBJID", ["s1", "s2", "s1", "s4"], 3, "twice"),
    ],
)
def test_bad_data_names_row_and_column(
    table: str, column: str, value: list[Any], row: int, message: str
) -> None:
    adae, adsl = _tiny()
    (adae if table == "adae" else adsl)[column] = value
    with pytest.raises(DataError, match=message) as info:
        ae_summary(adae, adsl, treatment="t", reference="r")
    assert (info.value.row, info.value.column) == (row, column)


def test_records_outside_the_population_are_left_out_and_flags_honoured() -> None:
    adae, adsl = _tiny()
    adae["USUBJID"] = ["s1", "s9", "s3"]  # s9 is in no arm compared (e.g. SAFFL = N): not counted
    row = ae_summary(adae, adsl, treatment="t", reference="r").rows[0]
    assert (row.treatment.events, row.reference.events) == (1, 1)
    adae["TRTEMFL"] = ["Y", "Y", None]
    row = ae_summary(adae, adsl, treatment="t", reference="r", treatment_emergent="TRTEMFL").rows[0]
    assert (row.treatment.events, row.reference.events) == (1, 0)
    with pytest.raises(DataError, match="no column TRTEMFL"):
        ae_summary(adae.drop(columns="TRTEMFL"), adsl, treatment="t", reference="r", treatment_emergent="TRTEMFL")


def test_infection_body_system_is_matched_in_any_case() -> None:
    adae, adsl = _tiny()
    adae["AEBODSYS"] = ["INFECTIONS AND INFESTATIONS", "Infections and infestations", "Nervous system disorders"]
    infection = next(r for r in ae_summary(adae, adsl, treatment="t", reference="r").rows if r.term == "Any infection")
    assert (infection.treatment.events, infection.reference.events) == (1, 1)


def test_bad_dates_and_missing_columns() -> None:
    adae, adsl = _tiny()
    adsl = adsl.drop(columns="TRTDURD").assign(
        TRTSDT=["2020-01-01"] * 4, TRTEDT=["2020-06-01", "2019-12-01", "2020-02-01", "x"])
    with pytest.raises(DataError) as info:
        ae_summary(adae, adsl, treatment="t", reference="r")
    assert (info.value.row, info.value.column) == (4, "TRTEDT")
    with pytest.raises(DataError, match="no column AESEV"):
        ae_summary(adae.drop(columns="AESEV"), _tiny()[1], treatment="t", reference="r")
    with pytest.raises(AnalysisError, match="treatment arm 'x'"):
        ae_summary(adae, _tiny()[1], treatment="x", reference="r")


@settings(max_examples=40, deadline=None)
@given(
    arms=st.lists(st.sampled_from(["t", "r", "other"]), min_size=2, max_size=15),
    events=st.lists(st.tuples(st.integers(0, 14), st.sampled_from(["A", "B"]),
                              st.booleans()), max_size=30),
)
def test_counts_never_exceed_n(arms: list[str], events: list[tuple[int, str, bool]]) -> None:
    arms = ["t", "r", *arms]
    ids = [f"s{i}" for i in range(len(arms))]
    adsl = pd.DataFrame({"USUBJID": ids, "TRT01A": arms, "TRTDURD": 100})
    adae = pd.DataFrame({
        "USUBJID": [ids[i % len(ids)] for i, _, _ in events], "AEDECOD": [p for _, p, _ in events],
        "AEBODSYS": ["Infections and infestations" if p == "A" else "Other" for _, p, _ in events],
        "AESER": ["Y" if s else "N" for _, _, s in events], "AESEV": "MILD",
    }, columns=["USUBJID", "AEDECOD", "AEBODSYS", "AESER", "AESEV"])
    res = ae_summary(adae, adsl, treatment="t", reference="r")
    for row in res.rows:
        for a in (row.treatment, row.reference):
            assert 0 <= a.subjects <= a.n == arms.count(a.arm)
            assert a.subjects <= a.events
        assert 0 <= row.fisher_p <= 1
    total_events = res.rows[0].treatment.events + res.rows[0].reference.events
    assert total_events == sum(arms[i % len(ids)] in ("t", "r") for i, _, _ in events)
