"""BILAG-2004: domain grades, their numeric score and flares between consecutive visits.

The grades themselves come from the licensed BILAG-2004 glossary and are taken as input.
Numeric values follow Yee et al., Rheumatology 2010;49:1665-9; flare rules follow the BILAG
convention that a flare is a *new* grade (Gordon et al. 2003; Isenberg et al. 2011). Sources
and what is unconfirmed: docs/indices.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from lupustrial.indices.sledai import IncompleteAssessment

DOMAINS: tuple[str, ...] = (
    "constitutional",
    "mucocutaneous",
    "neuropsychiatric",
    "musculoskeletal",
    "cardiorespiratory",
    "gastrointestinal",
    "ophthalmic",
    "renal",
    "haematological",
)
GRADES = "ABCDE"
GRADE_SCORE: dict[str, int] = {"A": 12, "B": 8, "C": 1, "D": 0, "E": 0}
ACTIVE = frozenset("ABC")


class Flare(IntEnum):
    """Flare severity, ordered so that ``max`` gives a visit's worst flare."""

    NONE = 0
    MILD = 1
    MODERATE = 2
    SEVERE = 3


# New grade -> (severity, grades at the previous visit from which it is a flare).
FLARE_RULES: dict[str, tuple[Flare, str]] = {
    "A": (Flare.SEVERE, "BCDE"),
    "B": (Flare.MODERATE, "CDE"),
    "C": (Flare.MILD, "DE"),
}


def missing_domains(grades: Mapping[str, str | None]) -> tuple[str, ...]:
    """Domains not graded, in :data:`DOMAINS` order (a visit's BILAG may be partly recorded)."""
    return tuple(d for d in DOMAINS if grades.get(d) is None)


def check_grades(grades: Mapping[str, str]) -> dict[str, str]:
    """All nine domains graded A–E; a missing domain is an :class:`IncompleteAssessment`."""
    unknown = sorted(set(grades) - set(DOMAINS))
    if unknown:
        raise ValueError(f"unknown BILAG-2004 domain(s) {unknown}")
    bad = {d: g for d, g in grades.items() if g is not None and g not in GRADES}
    if bad:
        raise ValueError(f"BILAG-2004 grades must be one of A-E, got {bad}")
    missing = missing_domains(grades)
    if missing:
        raise IncompleteAssessment(f"BILAG-2004 domain(s) not graded: {', '.join(missing)}", missing)
    return {d: grades[d] for d in DOMAINS}


def bilag_score(grades: Mapping[str, str]) -> int:
    """Numeric BILAG-2004 total (A=12, B=8, C=1, D=E=0), 0 to 108."""
    return sum(GRADE_SCORE[g] for g in check_grades(grades).values())


@dataclass(frozen=True)
class FlareResult:
    """The worst flare at a visit and the domains that flared, each with its severity."""

    severity: Flare
    domains: dict[str, Flare]

    def describe(self) -> str:
        """E.g. 'severe BILAG-2004 flare: renal (severe), mucocutaneous (moderate)'."""
        if self.severity is Flare.NONE:
            return "no BILAG-2004 flare"
        parts = ", ".join(f"{d} ({s.name.lower()})" for d, s in self.domains.items())
        return f"{self.severity.name.lower()} BILAG-2004 flare: {parts}"


def bilag_flare(
    previous: Mapping[str, str],
    current: Mapping[str, str],
    rules: Mapping[str, tuple[Flare, str]] = FLARE_RULES,
) -> FlareResult:
    """Flare at ``current`` relative to the visit before it: a domain that newly reached A, B or C.

    A grade held over from the previous visit (A then A) is persistent activity, not a flare.
    """
    before, after = check_grades(previous), check_grades(current)
    flared = {}
    for domain in DOMAINS:
        rule = rules.get(after[domain])
        if rule is not None and before[domain] in rule[1]:
            flared[domain] = rule[0]
    return FlareResult(max(flared.values(), default=Flare.NONE), flared)


def new_grades(baseline: Mapping[str, str], current: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Domains with a new A (not A at baseline) and a new B (C, D or E at baseline).

    These are the "no new A, at most one new B" components shared by SRI and BICLA.
    """
    before, after = check_grades(baseline), check_grades(current)
    new_a = [d for d in DOMAINS if after[d] == "A" and before[d] != "A"]
    new_b = [d for d in DOMAINS if after[d] == "B" and before[d] in "CDE"]
    return new_a, new_b


def new_activity(previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Domains that worsened to A or B since ``previous`` (a severe or moderate flare's domains).

    LLDAS's "no new lupus disease activity" as Oon et al. 2019 operationalised it with BILAG.
    """
    flare = bilag_flare(previous, current)
    return [d for d, s in flare.domains.items() if s >= Flare.MODERATE]
