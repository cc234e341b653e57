"""SLEDAI-2K: descriptor weights, laboratory thresholds at their boundaries, missing items."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lupustrial.indices.sledai import (
    BY_CODE,
    DESCRIPTORS,
    MAX_SCORE,
    IncompleteAssessment,
    LabThresholds,
    lab_descriptor,
    sledai2k,
)

# Gladman, Ibañez & Urowitz 2002, Table 1 (SLEDAI-2K): descriptor -> weight.
PUBLISHED_WEIGHTS = {
    "SEIZURE": 8, "PSYCHOS": 8, "OBS": 8, "VISUAL": 8, "CRANIAL": 8, "HEADACHE": 8, "CVA": 8, "VASCUL": 8,
    "ARTHRIT": 4, "MYOSIT": 4, "CASTS": 4, "HEMATUR": 4, "PROTEIN": 4, "PYURIA": 4,
    "RASH": 2, "ALOPEC": 2, "MUCOSAL": 2, "PLEUR": 2, "PERICARD": 2, "LOWCOMP": 2, "DNA": 2,
    "FEVER": 1, "THROMBO": 1, "LEUKOP": 1,
}  # fmt: skip


def none_present() -> dict[str, bool | None]:
    return {d.code: False for d in DESCRIPTORS}


def test_table_matches_publication() -> None:
    assert {d.code: d.weight for d in DESCRIPTORS} == PUBLISHED_WEIGHTS
    assert MAX_SCORE == 105
    assert sledai2k({c: True for c in BY_CODE}).total == 105


@pytest.mark.parametrize("code", list(PUBLISHED_WEIGHTS))
def test_each_descriptor_scores_its_weight(code: str) -> None:
    items = none_present() | {code: True}
    score = sledai2k(items)
    assert score.total == PUBLISHED_WEIGHTS[code]
    assert score.present == (code,)
    assert score.complete


def test_clinical_sledai_ignores_serology() -> None:
    items = none_present() | {"LOWCOMP": True, "DNA": True, "ARTHRIT": True}
    assert sledai2k(items).total == 8
    clinical = sledai2k(items, clinical=True)
    assert clinical.total == 4 and clinical.present == ("ARTHRIT",)
    # Serological items need not be recorded for the clinical score.
    del items["LOWCOMP"], items["DNA"]
    assert sledai2k(items, clinical=True).complete


def test_missing_item_is_an_error_not_a_zero() -> None:
    items = none_present()
    del items["CASTS"]
    items["FEVER"] = None
    with pytest.raises(IncompleteAssessment, match="CASTS, FEVER") as err:
        sledai2k(items)
    assert err.value.missing == ("CASTS", "FEVER")


def test_partial_score_is_flagged() -> None:
    items = none_present() | {"ARTHRIT": True}
    del items["CASTS"]
    score = sledai2k(items, partial=True)
    assert score.total == 4 and score.missing == ("CASTS",) and not score.complete


def test_unknown_descriptor_is_rejected() -> None:
    with pytest.raises(ValueError, match="NOSUCH"):
        sledai2k(none_present() | {"NOSUCH": True})


@pytest.mark.parametrize(
    ("paramcd", "at", "inside", "outside"),
    [
        ("PLAT", 100.0, 99.9, 100.1),  # < 100 ×10^9/L
        ("WBC", 3.0, 2.9, 3.1),  # < 3 ×10^9/L
        ("UPROT", 0.5, 0.51, 0.49),  # > 0.5 g/24 h
        ("URBC", 5.0, 6.0, 4.0),  # > 5 /hpf
        ("UWBC", 5.0, 6.0, 4.0),  # > 5 /hpf
    ],
)
def test_lab_thresholds_are_strict(paramcd: str, at: float, inside: float, outside: float) -> None:
    assert lab_descriptor(paramcd, at) is False  # exactly at the threshold: not present
    assert lab_descriptor(paramcd, inside) is True
    assert lab_descriptor(paramcd, outside) is False


def test_sediment_threshold_is_a_parameter() -> None:
    inclusive = LabThresholds(urine_rbc_above=4, urine_wbc_above=4)  # protocols scoring ">= 5"
    assert lab_descriptor("URBC", 5, thresholds=inclusive) and lab_descriptor("UWBC", 5, thresholds=inclusive)


@pytest.mark.parametrize("paramcd", ["C3", "C4", "CH50"])
def test_complement_below_lower_limit(paramcd: str) -> None:
    assert lab_descriptor(paramcd, 0.89, lower_limit=0.9)
    assert not lab_descriptor(paramcd, 0.9, lower_limit=0.9)
    with pytest.raises(ValueError, match="lower limit"):
        lab_descriptor(paramcd, 0.5)


def test_dna_binding_above_upper_limit() -> None:
    assert lab_descriptor("DSDNA", 31, upper_limit=30)
    assert not lab_descriptor("DSDNA", 30, upper_limit=30)
    with pytest.raises(ValueError, match="upper limit"):
        lab_descriptor("DSDNA", 31)


def test_unknown_lab_is_rejected() -> None:
    with pytest.raises(ValueError, match="HB"):
        lab_descriptor("HB", 10)


@given(st.dictionaries(st.sampled_from(list(BY_CODE)), st.booleans(), min_size=len(BY_CODE)))
def test_total_is_sum_of_present_weights(items: dict[str, bool]) -> None:
    score = sledai2k(items)
    assert 0 <= score.total <= 105
    assert score.total == sum(PUBLISHED_WEIGHTS[c] for c, v in items.items() if v)
    assert sledai2k(items, clinical=True).total == score.total - 2 * items["LOWCOMP"] - 2 * items["DNA"]
