"""What happens to virtual patients beyond the PK/PD model: adverse events and trial calendar.

These are properties of the drugs and the population, not of the design, so they live here and
not in the protocol. Every rate is an ASSUMPTION (no per-term rates are published for
BEAT-LUPUS); the one published fact used is that serious adverse events were not increased with
belimumab [A: Shipa et al. 2021], hence a default rate ratio of 1 for every term.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ASSUMPTION = "assumption"


class AdverseEventTerm(BaseModel):
    """One MedDRA preferred term as a Poisson process over exposure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    term: str
    body_system: str
    rate_per_year: Annotated[float, Field(ge=0)]
    p_serious: Annotated[float, Field(ge=0, le=1)]
    p_severe: Annotated[float, Field(ge=0, le=1)] = 0.1
    rate_ratio: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="arm name -> multiplier of rate_per_year (1 if absent)"
    )


_INF = "Infections and infestations"
DEFAULT_TERMS: tuple[AdverseEventTerm, ...] = (
    AdverseEventTerm(term="Upper respiratory tract infection", body_system=_INF, rate_per_year=0.8, p_serious=0.02),
    AdverseEventTerm(term="Urinary tract infection", body_system=_INF, rate_per_year=0.3, p_serious=0.05),
    AdverseEventTerm(term="Pneumonia", body_system=_INF, rate_per_year=0.05, p_serious=0.8, p_severe=0.5),
    AdverseEventTerm(term="Herpes zoster", body_system=_INF, rate_per_year=0.05, p_serious=0.1),
    AdverseEventTerm(term="Infusion related reaction",
                     body_system="General disorders and administration site conditions",
                     rate_per_year=0.2, p_serious=0.02),
    AdverseEventTerm(term="Headache", body_system="Nervous system disorders", rate_per_year=0.5, p_serious=0.0),
    AdverseEventTerm(term="Nausea", body_system="Gastrointestinal disorders", rate_per_year=0.3, p_serious=0.0),
)


class DomainCourse(BaseModel):
    """One BILAG-2004 domain: its grades at baseline, its share of flares, and the SLEDAI-2K
    descriptors an A or a B of it shows (laboratory descriptors come from the simulated labs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baseline: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        description="probability of grade A, B, C and D at the baseline assessment (E: the rest)")
    flare_share: Annotated[float, Field(ge=0)] = Field(description="relative chance that a flare is in this domain")
    descriptors_a: tuple[str, ...] = ()
    descriptors_b: tuple[str, ...] = ()


def _domain(a: float, b: float, c: float, d: float, share: float, at_a: tuple[str, ...],
            at_b: tuple[str, ...]) -> DomainCourse:
    return DomainCourse(baseline={"A": a, "B": b, "C": c, "D": d}, flare_share=share, descriptors_a=at_a,
                        descriptors_b=at_b)


#: ASSUMPTION, every number: no per-domain figures are in the reference facts. Shares follow the
#: usual order of organ involvement in SLE cohorts (musculoskeletal and mucocutaneous most often,
#: then renal, haematological, cardiorespiratory; neuropsychiatric, gastrointestinal and
#: ophthalmic rarely), and give a mean baseline SLEDAI-2K near 10, as in BLISS (docs/model.md).
DEFAULT_DOMAINS: dict[str, DomainCourse] = {
    "constitutional": _domain(0.02, 0.13, 0.10, 0.25, 0.05, ("FEVER",), ("FEVER",)),
    "mucocutaneous": _domain(0.12, 0.45, 0.15, 0.15, 0.25, ("RASH", "MUCOSAL"), ("RASH",)),
    "neuropsychiatric": _domain(0.01, 0.02, 0.02, 0.05, 0.02, ("SEIZURE",), ("HEADACHE",)),
    "musculoskeletal": _domain(0.12, 0.50, 0.15, 0.10, 0.30, ("ARTHRIT",), ("ARTHRIT",)),
    "cardiorespiratory": _domain(0.03, 0.12, 0.05, 0.10, 0.08, ("PLEUR", "PERICARD"), ("PLEUR",)),
    "gastrointestinal": _domain(0.005, 0.01, 0.01, 0.02, 0.01, (), ()),
    "ophthalmic": _domain(0.005, 0.01, 0.01, 0.02, 0.01, ("VISUAL",), ()),
    "renal": _domain(0.08, 0.15, 0.10, 0.10, 0.15, ("HEMATUR",), ()),
    "haematological": _domain(0.04, 0.15, 0.10, 0.10, 0.13, ("THROMBO", "LEUKOP"), ("LEUKOP",)),
}


class ClinicalSettings(BaseModel):
    """ASSUMPTIONS of the clinical course beyond the model (docs/model.md, "Clinical course").

    The resolution rate and flare rates are the model's (calibrated per trial); these are how a
    patient's activity shows at a visit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    domains: dict[str, DomainCourse] = Field(default_factory=lambda: dict(DEFAULT_DOMAINS))
    pga_by_grade: dict[str, float] = Field(
        default_factory=lambda: {"A": 2.4, "B": 1.7, "C": 0.8, "D": 0.2, "E": 0.2},
        description="mean physician global assessment (0-3) by the patient's worst BILAG-2004 grade")
    pga_sd: Annotated[float, Field(ge=0)] = Field(default=0.15, description="assessor's variation of the PGA")
    c3_median: Annotated[float, Field(gt=0)] = Field(default=0.9, description="baseline C3, g/L (log-normal)")
    c3_sdlog: Annotated[float, Field(ge=0)] = 0.3
    c3_lln: Annotated[float, Field(gt=0)] = Field(default=0.9, description="C3 lower limit of normal, g/L")
    c4_median: Annotated[float, Field(gt=0)] = Field(default=0.14, description="baseline C4, g/L (log-normal)")
    c4_sdlog: Annotated[float, Field(ge=0)] = 0.4
    c4_lln: Annotated[float, Field(gt=0)] = Field(default=0.1, description="C4 lower limit of normal, g/L")
    complement_slope: Annotated[float, Field(ge=0)] = Field(
        default=0.15, description="complement ∝ (anti-dsDNA / its baseline)^-slope: consumption by immune "
        "complexes; direction Stohl 2012 (C3/C4 rise as anti-dsDNA falls on belimumab), size assumption")
    complement_cv: Annotated[float, Field(ge=0)] = Field(default=0.08, description="C3/C4 assay and day-to-day CV")
    dsdna_uln: Annotated[float, Field(gt=0)] = Field(
        default=30.0, description="anti-dsDNA upper limit of normal, IU/mL (SLEDAI-2K 'increased DNA binding')")
    uprot_by_renal_grade: dict[str, float] = Field(
        default_factory=lambda: {"A": 3.0, "B": 1.0, "C": 0.3, "D": 0.12, "E": 0.1},
        description="median urine protein (g/24 h, from the protein:creatinine ratio) by renal grade")
    uprot_sdlog: Annotated[float, Field(ge=0)] = 0.5


class SimulationSettings(BaseModel):
    """Assumptions of the simulator that are not part of the model or the protocol."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    adverse_events: tuple[AdverseEventTerm, ...] = DEFAULT_TERMS
    max_flares: Annotated[int, Field(ge=1)] = Field(
        default=8, description="most severe flares drawn per patient (more are vanishingly rare)"
    )
    moderate_to_severe: Annotated[float, Field(ge=0)] = Field(
        default=2.0,
        description="ASSUMPTION: hazard of moderate (new BILAG-2004 B) flares as a multiple of the "
        "model's severe-flare hazard; no per-arm moderate-flare figures are in the reference facts",
    )
    clinical: ClinicalSettings | None = Field(
        default_factory=ClinicalSettings,
        description="the clinical course (ADQS, ADRS, recurrent flares); None leaves it out, for speed")
    study_start: dt.date = Field(
        default=dt.date(2017, 2, 2), description="first enrolment; BEAT-LUPUS recruited from 2 Feb 2017 [A]"
    )
