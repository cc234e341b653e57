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
    study_start: dt.date = Field(
        default=dt.date(2017, 2, 2), description="first enrolment; BEAT-LUPUS recruited from 2 Feb 2017 [A]"
    )
