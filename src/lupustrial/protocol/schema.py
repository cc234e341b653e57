"""The protocol as code: a trial's design in one validated structure.

A protocol says *what the trial does* (who is enrolled, what each arm receives and when,
how patients are randomised, when they are seen, what is measured and how it is analysed).
What the drugs *do* lives in :mod:`lupustrial.model` (its drug registry, against which each
regimen's drug and route are checked here). Keeping the two apart lets a user write a variant
design (another start day, a subcutaneous regimen) in YAML alone.

Time conventions, used everywhere in lupustrial:
- background therapy days count from the first rituximab infusion (day 0);
- arm dosing days and visit weeks count from randomisation (day 0 = first dose of study drug).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from lupustrial.model.drugs import find

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a protocol must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Dosing(_Strict):
    """One drug's regimen: listed days, optionally repeated at an interval until a day.

    The drug and its route are checked against the model's drug registry here, so a protocol
    naming a drug or route the model lacks is refused at its line.
    """

    drug: str = Field(description="drug name as the model's registry knows it (lupustrial.model.drugs), "
                                  "e.g. rituximab, belimumab")
    dose: PositiveFloat
    unit: Literal["mg", "mg/kg"]
    route: Literal["iv", "sc"]
    days: list[NonNegativeFloat] = Field(min_length=1, description="days of the first doses")
    every_days: PositiveFloat | None = Field(
        default=None, description="after the last listed day, repeat at this interval"
    )
    until_day: NonNegativeFloat | None = Field(
        default=None, description="last day a repeated dose may be given (inclusive)"
    )
    infusion_hours: PositiveFloat | list[PositiveFloat] | None = Field(
        default=None, description="duration of an IV infusion, or one per listed day (repeats take the last); "
                                  "required for route iv"
    )

    @field_validator("drug")
    @classmethod
    def _known_drug(cls, drug: str) -> str:
        find(drug)
        return drug

    @field_validator("route")
    @classmethod
    def _drug_has_route(cls, route: str, info: ValidationInfo) -> str:
        drug = info.data.get("drug")  # absent when the drug itself was refused
        if drug is not None and route not in find(drug).routes:
            raise ValueError(f"{drug} has no {route} route (it has {', '.join(find(drug).routes)})")
        return route

    @field_validator("infusion_hours")
    @classmethod
    def _one_per_day(cls, hours: float | list[float] | None, info: ValidationInfo) -> float | list[float] | None:
        days = info.data.get("days")
        if isinstance(hours, list) and days is not None and len(hours) != len(days):
            raise ValueError(f"infusion_hours lists {len(hours)} durations for {len(days)} days")
        return hours

    @field_validator("days")
    @classmethod
    def _increasing(cls, days: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(days, days[1:])):
            raise ValueError("days must be strictly increasing")
        return days

    @model_validator(mode="after")
    def _consistent(self) -> Dosing:
        if self.route == "iv" and self.infusion_hours is None:
            raise ValueError("an iv regimen needs infusion_hours")
        if self.route == "sc" and self.infusion_hours is not None:
            raise ValueError("infusion_hours applies to iv only")
        if (self.every_days is None) != (self.until_day is None):
            raise ValueError("every_days and until_day go together")
        if self.until_day is not None and self.until_day < self.days[-1]:
            raise ValueError("until_day is before the last listed day")
        return self

    def dose_days(self) -> np.ndarray:
        """All dosing days of the regimen, relative to its own day 0."""
        days = list(self.days)
        if self.every_days is not None and self.until_day is not None:
            n_more = int(np.floor((self.until_day - days[-1]) / self.every_days + 1e-9))
            days += [days[-1] + self.every_days * (k + 1) for k in range(n_more)]
        return np.asarray(days, dtype=float)

    def dose_hours(self) -> np.ndarray | None:
        """Infusion hours of each dose of :meth:`dose_days` (repeats take the last listed); None for SC."""
        if self.infusion_hours is None:
            return None
        listed = np.atleast_1d(np.asarray(self.infusion_hours, dtype=float))
        n = len(self.dose_days())
        return np.concatenate([np.broadcast_to(listed, (len(self.days),)), np.full(n - len(self.days), listed[-1])])


class Arm(_Strict):
    name: str = Field(min_length=1, description="label used as TRT01P/TRT01A in ADaM")
    description: str = ""
    dosing: list[Dosing] = Field(
        default_factory=list, description="study drug; empty for placebo (no active drug)"
    )


class Randomisation(_Strict):
    ratio: dict[str, Annotated[int, Field(gt=0)]] = Field(description="arm name -> integer weight")
    method: Literal["permuted_blocks", "minimisation"] = "permuted_blocks"
    block_sizes: list[Annotated[int, Field(gt=0)]] = Field(default_factory=lambda: [2, 4])
    stratify_by: list[str] = Field(
        default_factory=list, description="covariate factors (see population.factors)"
    )
    minimisation_p: Annotated[float, Field(gt=0.5, le=1)] = 0.8
    window_weeks: tuple[NonNegativeFloat, NonNegativeFloat] = Field(
        description="randomisation falls this many weeks after the first rituximab infusion"
    )

    @model_validator(mode="after")
    def _blocks_fit_ratio(self) -> Randomisation:
        total = sum(self.ratio.values())
        bad = [b for b in self.block_sizes if b % total]
        if self.method == "permuted_blocks" and bad:
            raise ValueError(f"block sizes {bad} are not multiples of the ratio sum {total}")
        lo, hi = self.window_weeks
        if hi < lo:
            raise ValueError("window_weeks must be [earliest, latest]")
        return self


class Lab(_Strict):
    """How a laboratory value is measured: assay error and quantification limits."""

    unit: str
    cv: NonNegativeFloat = Field(description="proportional assay error (coefficient of variation)")
    lloq: NonNegativeFloat | None = Field(default=None, description="lower limit of quantification")
    uloq: PositiveFloat | None = Field(default=None, description="upper limit of quantification")
    below_lloq: Literal["half_lloq", "lloq"] = Field(
        default="half_lloq", description="value reported below the LLOQ"
    )

    @model_validator(mode="after")
    def _limits(self) -> Lab:
        if self.lloq is not None and self.uloq is not None and self.uloq <= self.lloq:
            raise ValueError("uloq must exceed lloq")
        return self


class Endpoint(_Strict):
    name: str
    param: str = Field(description="ADaM PARAMCD, e.g. DSDNA or TTSEVFL")
    analysis: Literal["ancova_log", "cox"]
    week: NonNegativeFloat | None = Field(default=None, description="visit week (ancova_log)")
    factors: list[str] = Field(default_factory=list, description="adjustment factors")
    ties: Literal["efron", "breslow"] = "efron"

    @model_validator(mode="after")
    def _week_for_ancova(self) -> Endpoint:
        if self.analysis == "ancova_log" and self.week is None:
            raise ValueError("an ancova_log endpoint needs week")
        return self


class Endpoints(_Strict):
    primary: Endpoint
    secondary: list[Endpoint] = Field(default_factory=list)


class Enrolment(_Strict):
    rate_per_month: PositiveFloat = Field(description="mean recruitment rate (Poisson)")


class Dropout(_Strict):
    rate_per_year: NonNegativeFloat = Field(description="hazard of withdrawal (exponential)")


class Factor(_Strict):
    """A categorical factor cut from a patient covariate, e.g. high vs low anti-dsDNA."""

    covariate: str = Field(description="population covariate, e.g. baseline_anti_dsdna_iu_ml")
    cutpoints: list[float] = Field(min_length=1, description="level k is cutpoints[k-1] <= x < cutpoints[k]")
    levels: list[str]

    @model_validator(mode="after")
    def _shape(self) -> Factor:
        if len(self.levels) != len(self.cutpoints) + 1:
            raise ValueError("levels must number one more than cutpoints")
        if any(b <= a for a, b in zip(self.cutpoints, self.cutpoints[1:])):
            raise ValueError("cutpoints must be strictly increasing")
        return self

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Level label of each value."""
        return np.asarray(self.levels, dtype=object)[np.searchsorted(self.cutpoints, values, side="right")]


class Population(_Strict):
    n_patients: Annotated[int, Field(gt=1)]
    eligibility: list[str] = Field(default_factory=list, description="criteria, as text")
    age_years: tuple[NonNegativeFloat, NonNegativeFloat] = (18, 120)
    factors: dict[str, Factor] = Field(
        default_factory=dict, description="ADSL column name -> factor definition"
    )


class Protocol(_Strict):
    name: str
    title: str = ""
    references: list[str] = Field(default_factory=list)
    population: Population
    background: list[Dosing] = Field(
        description="therapy every patient receives before randomisation (rituximab)"
    )
    arms: list[Arm] = Field(min_length=2)
    randomisation: Randomisation
    visits_weeks: list[NonNegativeFloat] = Field(min_length=1)
    baseline: Literal["pre_rituximab", "randomisation"] = Field(
        description="which measurement is BASE in ADLB"
    )
    follow_up_weeks: PositiveFloat
    labs: dict[str, Lab]
    endpoints: Endpoints
    enrolment: Enrolment
    dropout: Dropout

    @model_validator(mode="after")
    def _cross_checks(self) -> Protocol:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names}")
        if set(self.randomisation.ratio) != set(names):
            raise ValueError(
                f"randomisation.ratio names {sorted(self.randomisation.ratio)} "
                f"differ from the arms {sorted(names)}"
            )
        unknown = set(self.randomisation.stratify_by) - set(self.population.factors)
        if unknown:
            raise ValueError(f"stratify_by names factors not in population.factors: {sorted(unknown)}")
        weeks = self.visits_weeks
        if any(b <= a for a, b in zip(weeks, weeks[1:])):
            raise ValueError("visits_weeks must be strictly increasing")
        if weeks[-1] > self.follow_up_weeks:
            raise ValueError("a visit falls after follow_up_weeks")
        for ep in [self.endpoints.primary, *self.endpoints.secondary]:
            if ep.analysis == "ancova_log":
                if ep.param not in self.labs:
                    raise ValueError(f"endpoint {ep.name!r}: param {ep.param} is not in labs")
                if ep.week not in weeks:
                    raise ValueError(f"endpoint {ep.name!r}: week {ep.week:g} is not a visit")
        return self

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)
