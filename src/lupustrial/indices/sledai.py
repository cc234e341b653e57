"""SLEDAI-2K: the 24 weighted descriptors, laboratory thresholds and the total score.

Weights and definitions follow Gladman, Ibañez & Urowitz, J Rheumatol 2002;29:288-91 (see
docs/indices.md). The score is computed from descriptor flags that are already decided; the
laboratory descriptors can be decided from raw values with :func:`lab_descriptor`, so that a
trial's laboratory data are scored the same way at every site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lupustrial.errors import LupustrialError


@dataclass(frozen=True)
class Descriptor:
    """One SLEDAI-2K descriptor; ``system`` groups it for LLDAS's "major organ" rule."""

    code: str
    label: str
    weight: int
    system: str
    serological: bool = False


DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor("SEIZURE", "seizure", 8, "cns"),
    Descriptor("PSYCHOS", "psychosis", 8, "cns"),
    Descriptor("OBS", "organic brain syndrome", 8, "cns"),
    Descriptor("VISUAL", "visual disturbance", 8, "cns"),
    Descriptor("CRANIAL", "cranial nerve disorder", 8, "cns"),
    Descriptor("HEADACHE", "lupus headache", 8, "cns"),
    Descriptor("CVA", "cerebrovascular accident", 8, "cns"),
    Descriptor("VASCUL", "vasculitis", 8, "vasculitis"),
    Descriptor("ARTHRIT", "arthritis", 4, "musculoskeletal"),
    Descriptor("MYOSIT", "myositis", 4, "musculoskeletal"),
    Descriptor("CASTS", "urinary casts", 4, "renal"),
    Descriptor("HEMATUR", "haematuria", 4, "renal"),
    Descriptor("PROTEIN", "proteinuria", 4, "renal"),
    Descriptor("PYURIA", "pyuria", 4, "renal"),
    Descriptor("RASH", "rash", 2, "mucocutaneous"),
    Descriptor("ALOPEC", "alopecia", 2, "mucocutaneous"),
    Descriptor("MUCOSAL", "mucosal ulcers", 2, "mucocutaneous"),
    Descriptor("PLEUR", "pleurisy", 2, "cardiopulmonary"),
    Descriptor("PERICARD", "pericarditis", 2, "cardiopulmonary"),
    Descriptor("LOWCOMP", "low complement", 2, "immunological", serological=True),
    Descriptor("DNA", "increased DNA binding", 2, "immunological", serological=True),
    Descriptor("FEVER", "fever", 1, "constitutional"),
    Descriptor("THROMBO", "thrombocytopenia", 1, "haematological"),
    Descriptor("LEUKOP", "leukopenia", 1, "haematological"),
)
BY_CODE: dict[str, Descriptor] = {d.code: d for d in DESCRIPTORS}
SEROLOGICAL = frozenset(d.code for d in DESCRIPTORS if d.serological)
MAX_SCORE = sum(d.weight for d in DESCRIPTORS)


class IncompleteAssessment(LupustrialError):
    """An index cannot be scored because items it needs were not recorded."""

    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        self.missing = missing
        super().__init__(message)


@dataclass(frozen=True)
class LabThresholds:
    """SLEDAI-2K laboratory cut-offs; each descriptor is present when the value is beyond it.

    Comparisons are strict, as the glossary words them ("< 100", "> 0.5", "> 5"). Urine cell
    counts are integers, so a protocol that scores "≥ 5 cells/hpf" sets ``urine_rbc_above=4``.
    """

    platelets_below: float = 100.0  # ×10^9/L
    wbc_below: float = 3.0  # ×10^9/L
    proteinuria_above: float = 0.5  # g/24 h
    urine_rbc_above: float = 5.0  # red cells per high-power field
    urine_wbc_above: float = 5.0  # white cells per high-power field


# Laboratory PARAMCD -> the descriptor it decides.
LAB_DESCRIPTOR: dict[str, str] = {
    "PLAT": "THROMBO",
    "WBC": "LEUKOP",
    "UPROT": "PROTEIN",
    "URBC": "HEMATUR",
    "UWBC": "PYURIA",
    "C3": "LOWCOMP",
    "C4": "LOWCOMP",
    "CH50": "LOWCOMP",
    "DSDNA": "DNA",
}
NEEDS_LOWER_LIMIT = frozenset({"C3", "C4", "CH50"})
NEEDS_UPPER_LIMIT = frozenset({"DSDNA"})


def lab_descriptor(
    paramcd: str,
    value: float,
    *,
    lower_limit: float | None = None,
    upper_limit: float | None = None,
    thresholds: LabThresholds = LabThresholds(),
) -> bool:
    """Whether one laboratory value makes its SLEDAI-2K descriptor present.

    Complement is low below the testing laboratory's lower limit of normal and anti-dsDNA is
    raised above its upper limit, so those tests need the limit that came with the result.
    """
    if paramcd in NEEDS_LOWER_LIMIT:
        if lower_limit is None:
            raise ValueError(f"{paramcd} needs the laboratory's lower limit of normal")
        return value < lower_limit
    if paramcd in NEEDS_UPPER_LIMIT:
        if upper_limit is None:
            raise ValueError(f"{paramcd} needs the laboratory's upper limit of normal")
        return value > upper_limit
    t = thresholds
    rule = {
        "PLAT": value < t.platelets_below,
        "WBC": value < t.wbc_below,
        "UPROT": value > t.proteinuria_above,
        "URBC": value > t.urine_rbc_above,
        "UWBC": value > t.urine_wbc_above,
    }
    if paramcd not in rule:
        raise ValueError(f"{paramcd!r} is not a SLEDAI-2K laboratory test ({sorted(LAB_DESCRIPTOR)})")
    return rule[paramcd]


@dataclass(frozen=True)
class SledaiScore:
    """A SLEDAI-2K (or clinical SLEDAI) score; partial when ``missing`` is not empty.

    A partial ``total`` counts only the recorded descriptors, so it is a lower bound and is
    never to be read as the score.
    """

    total: int
    present: tuple[str, ...]
    missing: tuple[str, ...]
    clinical: bool

    @property
    def complete(self) -> bool:
        return not self.missing

    def excluding(self, codes: frozenset[str]) -> SledaiScore:
        """The score without ``codes``, so that a rule ignoring them (clinical SLEDAI leaves out
        serology; MCR leaves out anti-dsDNA) is not made partial by their absence."""
        present = tuple(c for c in self.present if c not in codes)
        return SledaiScore(
            total=sum(BY_CODE[c].weight for c in present),
            present=present,
            missing=tuple(c for c in self.missing if c not in codes),
            clinical=self.clinical or SEROLOGICAL <= codes,
        )


def sledai2k(
    items: Mapping[str, bool | None],
    *,
    clinical: bool = False,
    partial: bool = False,
) -> SledaiScore:
    """Score SLEDAI-2K from descriptor flags keyed by code (see :data:`DESCRIPTORS`).

    ``clinical=True`` leaves out the two serological descriptors (low complement, DNA
    binding), as DORIS's clinical SLEDAI does. A descriptor absent from ``items`` or ``None``
    is missing: an :class:`IncompleteAssessment` unless ``partial=True``, never a zero.
    """
    unknown = sorted(set(items) - set(BY_CODE))
    if unknown:
        raise ValueError(f"unknown SLEDAI-2K descriptor(s) {unknown}")
    scored = [d for d in DESCRIPTORS if not (clinical and d.serological)]
    missing = tuple(d.code for d in scored if items.get(d.code) is None)
    if missing and not partial:
        raise IncompleteAssessment(f"SLEDAI-2K descriptor(s) not recorded: {', '.join(missing)}", missing)
    present = tuple(d.code for d in scored if items.get(d.code))
    return SledaiScore(
        total=sum(BY_CODE[c].weight for c in present), present=present, missing=missing, clinical=clinical
    )
