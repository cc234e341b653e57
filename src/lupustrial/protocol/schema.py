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

from lupustrial.analysis.endpoint_data import READERS
from lupustrial.analysis.plan import AnalysisPlan, Arms, Endpoint, Safety, unique_names
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
    calibration: str = Field(
        default="beat-lupus",
        description="the calibrated population whose trial parameters (flare rate) the patients take",
    )
    factors: dict[str, Factor] = Field(
        default_factory=dict, description="ADSL column name -> factor definition"
    )


class Rescue(_Strict):
    """What a flare of one severity brings: prednisone raised to at least ``dose_mg``, and whether
    the protocol counts that as treatment failure (SRI-4, BICLA)."""

    dose_mg: NonNegativeFloat
    treatment_failure: bool


class Steroids(_Strict):
    """The prednisone (equivalent) course the protocol asks for: baseline dose, taper, rescue.

    Every value here is the protocol's to declare; the defaults are ASSUMPTIONS typical of SLE
    trials (docs/model.md, "Clinical course"), not any trial's published rules.
    """

    baseline_median_mg: NonNegativeFloat = Field(default=10.0, description="median dose at baseline, mg/day")
    baseline_sdlog: NonNegativeFloat = Field(default=0.5, description="log-SD of the baseline dose")
    taper_to_mg: NonNegativeFloat = Field(default=5.0, description="dose the taper aims for, mg/day")
    taper_step_mg: PositiveFloat = Field(default=2.5, description="reduction at each taper step")
    taper_every_weeks: PositiveFloat = Field(default=4.0, description="weeks between taper steps, taken "
                                             "only while no BILAG-2004 A or B is active")
    severe: Rescue = Field(default=Rescue(dose_mg=30.0, treatment_failure=True), description="rescue at a "
                           "severe (new BILAG-2004 A) flare")
    moderate: Rescue = Field(default=Rescue(dose_mg=15.0, treatment_failure=False), description="rescue at "
                             "a moderate (new BILAG-2004 B) flare")


#: rpact's designs (``typeOfDesign``) and beta-spending functions (``typeBetaSpending``).
TypeOfDesign = Literal["OF", "P", "HP", "asOF", "asP", "asKD", "asHSD"]
TypeOfBetaSpending = Literal["none", "bsOF", "bsP", "bsKD", "bsHSD"]


class Look(_Strict):
    """One analysis of a group-sequential design, defined by when its data are cut."""

    by: Literal["events", "patients", "calendar"] = Field(
        description="events: first events of the endpoint; patients: patients who reached the endpoint's visit "
                    "(the end of follow-up for a time-to-event endpoint); calendar: time since enrolment opened")
    at: PositiveFloat = Field(
        description="events: fraction of max_events; patients: fraction of the patients; calendar: weeks")
    information: Annotated[float, Field(gt=0, le=1)] | None = Field(
        default=None, description="planned information rate of a calendar look (by events or patients: at)")

    @model_validator(mode="after")
    def _rate(self) -> Look:
        if self.by == "calendar" and self.information is None:
            raise ValueError("a calendar look needs information (its planned information rate)")
        if self.by != "calendar" and self.information is not None:
            raise ValueError(f"information is for calendar looks; a look by {self.by} has it in at")
        if self.by != "calendar" and self.at > 1:
            raise ValueError(f"at is a fraction (at most 1) for a look by {self.by}")
        return self

    @property
    def rate(self) -> float:
        """Planned information rate."""
        return self.information if self.information is not None else self.at


class Reestimation(_Strict):
    """Sample-size re-estimation in the promising zone at the last interim look (Mehta & Pocock,
    Stat Med 2011;30:3267), tested with the weighted statistic of Cui, Hung & Wang (Biometrics 1999)."""

    promising: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(gt=0, le=1)]] = Field(
        default=(0.3, 0.8), description="conditional power (current trend) range in which the trial grows")
    conditional_power: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.8, description="conditional power the increase aims at")
    max_factor: Annotated[float, Field(gt=1, le=4)] = Field(
        default=1.5, description="at most this times the planned maximum events (and patients)")

    @model_validator(mode="after")
    def _zone(self) -> Reestimation:
        if self.promising[1] <= self.promising[0]:
            raise ValueError("promising must be [lowest, highest) conditional power")
        return self


class Interim(_Strict):
    """A group-sequential design of one endpoint: its looks and boundaries (rpact's arguments)."""

    endpoint: str | None = Field(default=None, description="PARAMCD tested at each look (default: the primary's)")
    looks: list[Look] = Field(min_length=2, description="every analysis in calendar order, the final included")
    max_events: Annotated[int, Field(gt=0)] | None = Field(
        default=None, validate_default=True, description="events at information rate 1 (looks by events)")
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = Field(0.025, description="one-sided (sided 1) or two-sided level")
    beta: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    sided: Literal[1, 2] = 1
    type_of_design: TypeOfDesign = "asOF"
    gamma_a: float | None = Field(default=None, validate_default=True, description="asKD's rho, asHSD's gamma")
    type_beta_spending: TypeOfBetaSpending = "none"
    gamma_b: float | None = Field(default=None, validate_default=True, description="bsKD's rho, bsHSD's gamma")
    futility_bounds: list[float] | None = Field(default=None, description="z-scale futility bounds, one per interim")
    binding_futility: bool = False
    sample_size_reestimation: Reestimation | None = None

    @field_validator("looks")
    @classmethod
    def _increasing(cls, looks: list[Look]) -> list[Look]:
        rates = [look.rate for look in looks]
        if any(b <= a for a, b in zip(rates, rates[1:])):
            raise ValueError(f"information rates must increase from look to look, got {rates}")
        if rates[-1] != 1:
            raise ValueError(f"the last look is the final analysis, at information rate 1, got {rates[-1]:g}")
        weeks = [look.at for look in looks if look.by == "calendar"]
        if any(b <= a for a, b in zip(weeks, weeks[1:])):
            raise ValueError(f"calendar looks must come later and later, got weeks {weeks}")
        return looks

    @field_validator("max_events")
    @classmethod
    def _max_events(cls, value: int | None, info: ValidationInfo) -> int | None:
        looks = info.data.get("looks") or []
        if value is None and any(look.by == "events" for look in looks):
            raise ValueError("looks by events need max_events (the events at information rate 1)")
        return value

    @field_validator("gamma_a", "gamma_b")
    @classmethod
    def _gamma(cls, value: float | None, info: ValidationInfo) -> float | None:
        kind = info.data.get("type_of_design" if info.field_name == "gamma_a" else "type_beta_spending") or ""
        if kind[2:] in ("KD", "HSD") and value is None:
            raise ValueError(f"{kind} needs {info.field_name}")
        if kind[2:] == "KD" and value is not None and value <= 0:
            raise ValueError(f"{kind} needs a positive {info.field_name}")
        return value

    @model_validator(mode="after")
    def _futility(self) -> Interim:
        if self.type_beta_spending != "none" and (self.sided != 1 or not self.type_of_design.startswith("as")):
            raise ValueError("type_beta_spending needs sided 1 and an alpha-spending type_of_design (as..)")
        if self.futility_bounds is not None:
            if self.type_beta_spending != "none" or self.sided != 1:
                raise ValueError("futility_bounds need sided 1 and no type_beta_spending")
            if len(self.futility_bounds) != len(self.looks) - 1:
                raise ValueError(f"futility_bounds needs {len(self.looks) - 1} values, one per interim look")
        if self.sample_size_reestimation is not None and self.looks[-1].by == "calendar":
            raise ValueError("sample_size_reestimation needs a final look by events or patients")
        return self


class Protocol(_Strict):
    name: str
    title: str = ""
    references: list[str] = Field(default_factory=list)
    population: Population
    background: list[Dosing] = Field(
        description="therapy every patient receives before randomisation (rituximab)"
    )
    arms: list[Arm] = Field(min_length=1, description="one arm: a cohort, nobody is randomised")
    randomisation: Randomisation
    visits_weeks: list[NonNegativeFloat] = Field(min_length=1)
    baseline: Literal["pre_rituximab", "randomisation"] = Field(
        description="which measurement is BASE in ADLB"
    )
    follow_up_weeks: PositiveFloat
    labs: dict[str, Lab]
    endpoints: list[Endpoint] = Field(min_length=1, description="the analysis plan, primary first "
                                      "(lupustrial.analysis.plan)")
    safety: Safety | None = Field(default=Safety(), description="adverse-event tables of the analysis plan")
    enrolment: Enrolment
    dropout: Dropout
    interim: Interim | None = Field(default=None, description="group-sequential looks (none: a fixed design)")
    steroids: Steroids = Field(default_factory=Steroids, description="prednisone: baseline, taper, rescue")

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
        for ep in self.endpoints:
            if READERS[ep.method.reads].schema == "adlb":  # a lab value at a visit
                if ep.param not in self.labs:
                    raise ValueError(f"endpoint {ep.name!r}: param {ep.param} is not in labs")
                if ep.week not in weeks:
                    raise ValueError(f"endpoint {ep.name!r}: week {ep.week:g} is not a visit")
        unique_names(self.endpoints)
        return self

    def plan(self) -> AnalysisPlan:
        """The protocol's statistical analysis plan: its endpoints and safety tables, the randomised
        arm (TRT01P) compared with the control arm, listed last (as ``design`` takes it)."""
        return AnalysisPlan(arms=Arms(reference=self.arms[-1].name), endpoints=self.endpoints, safety=self.safety)

    @field_validator("interim")
    @classmethod
    def _interim_endpoint(cls, interim: Interim | None, info: ValidationInfo) -> Interim | None:
        endpoints = info.data.get("endpoints")
        if interim is not None and interim.endpoint is not None and endpoints is not None:
            params = [ep.param for ep in endpoints]
            if interim.endpoint not in params:
                raise ValueError(f"endpoint {interim.endpoint} is not an endpoint's param ({', '.join(params)})")
        return interim

    def arm(self, name: str) -> Arm:
        """The arm called ``name``."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise KeyError(name)
