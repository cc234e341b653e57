"""BILAG-2004: numeric score and flares between consecutive visits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lupustrial.indices.bilag import (
    DOMAINS,
    Flare,
    bilag_flare,
    bilag_score,
    new_grades,
)
from lupustrial.indices.sledai import IncompleteAssessment

INACTIVE = dict.fromkeys(DOMAINS, "D")
grades_st = st.fixed_dictionaries({d: st.sampled_from("ABCDE") for d in DOMAINS})


def with_(**grades: str) -> dict[str, str]:
    return INACTIVE | grades


def test_numeric_score_yee_2010() -> None:
    # Yee et al. 2010: A = 12, B = 8, C = 1, D = E = 0.
    assert bilag_score(with_(renal="A")) == 12
    assert bilag_score(with_(renal="B")) == 8
    assert bilag_score(with_(renal="C")) == 1
    assert bilag_score(with_(renal="E")) == 0
    assert bilag_score(dict.fromkeys(DOMAINS, "A")) == 108
    assert bilag_score(with_(renal="A", musculoskeletal="B", mucocutaneous="C")) == 21


def test_missing_domain_is_an_error() -> None:
    grades = dict(INACTIVE)
    del grades["ophthalmic"]
    with pytest.raises(IncompleteAssessment, match="ophthalmic") as err:
        bilag_score(grades)
    assert err.value.missing == ("ophthalmic",)


def test_bad_grade_and_domain_are_rejected() -> None:
    with pytest.raises(ValueError, match="A-E"):
        bilag_score(with_(renal="F"))
    with pytest.raises(ValueError, match="hepatic"):
        bilag_score(INACTIVE | {"hepatic": "A"})


@pytest.mark.parametrize(
    ("before", "after", "severity"),
    [
        ("B", "A", Flare.SEVERE),
        ("C", "A", Flare.SEVERE),
        ("D", "A", Flare.SEVERE),
        ("E", "A", Flare.SEVERE),
        ("A", "A", Flare.NONE),  # persistent, not new
        ("C", "B", Flare.MODERATE),
        ("D", "B", Flare.MODERATE),
        ("E", "B", Flare.MODERATE),
        ("A", "B", Flare.NONE),  # improvement
        ("B", "B", Flare.NONE),
        ("D", "C", Flare.MILD),
        ("E", "C", Flare.MILD),
        ("B", "C", Flare.NONE),
        ("C", "C", Flare.NONE),
        ("C", "D", Flare.NONE),
    ],
)
def test_flare_transitions(before: str, after: str, severity: Flare) -> None:
    result = bilag_flare(with_(renal=before), with_(renal=after))
    assert result.severity is severity
    assert result.domains == ({} if severity is Flare.NONE else {"renal": severity})


def test_worst_domain_sets_the_visit_flare() -> None:
    result = bilag_flare(with_(renal="C"), with_(renal="B", haematological="A", ophthalmic="C"))
    assert result.severity is Flare.SEVERE
    assert result.domains == {"ophthalmic": Flare.MILD, "renal": Flare.MODERATE, "haematological": Flare.SEVERE}
    assert result.describe().startswith("severe BILAG-2004 flare:")
    assert bilag_flare(INACTIVE, INACTIVE).describe() == "no BILAG-2004 flare"


def test_flare_rules_are_a_parameter() -> None:
    strict = {"A": (Flare.SEVERE, "BCDE"), "B": (Flare.MODERATE, "DE")}  # Gordon 2003's B-after-D/E only
    assert bilag_flare(with_(renal="C"), with_(renal="B"), rules=strict).severity is Flare.NONE
    assert bilag_flare(with_(renal="D"), with_(renal="C"), rules=strict).severity is Flare.NONE


def test_new_grades() -> None:
    new_a, new_b = new_grades(with_(renal="A", musculoskeletal="B"), with_(renal="A", mucocutaneous="B", ophthalmic="A"))
    assert new_a == ["ophthalmic"] and new_b == ["mucocutaneous"]


@given(grades_st, grades_st)
def test_flare_is_never_an_improvement(before: dict[str, str], after: dict[str, str]) -> None:
    result = bilag_flare(before, after)
    for domain in result.domains:
        assert after[domain] < before[domain]  # "A" < "B": a flare moves up the scale
    assert bilag_flare(after, after).severity is Flare.NONE


def test_all_transitions_covered() -> None:
    severities = {(b, a): bilag_flare(with_(renal=b), with_(renal=a)).severity for b, a in itertools.product("ABCDE", repeat=2)}
    assert sum(s is Flare.SEVERE for s in severities.values()) == 4
    assert sum(s is Flare.MODERATE for s in severities.values()) == 3
    assert sum(s is Flare.MILD for s in severities.values()) == 2
