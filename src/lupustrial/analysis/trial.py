"""A trial's statistical analysis plan run on its ADaM data: every endpoint, every comparison.

Each endpoint of the plan is analysed in its population (an ADSL flag) by the method it names,
once per comparison of a treatment arm with the reference arm; then the adverse-event tables
in the safety population. Subjects outside a population are counted, never an error. It reads
ADaM data only, so a real trial and a virtual one go through exactly the same code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.analysis.ae import AeSummary, ae_summary
from lupustrial.analysis.endpoint_data import ARM, READERS
from lupustrial.analysis.methods import Summary
from lupustrial.analysis.plan import AnalysisPlan, Arms, Endpoint, Safety
from lupustrial.data import TrialData, load_trial
from lupustrial.errors import AnalysisError


@dataclass(frozen=True)
class Population:
    """Who an analysis is about: the ADSL flag and, per arm compared, subjects in and out of it."""

    flag: str
    included: dict[str, int]
    excluded: dict[str, int]


@dataclass(frozen=True)
class Comparison:
    """One treatment arm against the reference: the method's result and what reports show of it."""

    treatment: str
    reference: str
    n: dict[str, int]
    result: Any
    summary: Summary

    def to_dict(self) -> dict[str, Any]:
        return {"treatment": self.treatment, "reference": self.reference, "n": self.n,
                "effects": [asdict(e) for e in self.summary.effects], "result": self.result.to_dict()}


@dataclass(frozen=True)
class EndpointResult:
    """One endpoint of the plan, analysed: its entry, its label (ADaM PARAM) and each comparison.

    ``not_estimable`` says, per comparison the method could not estimate from these data (e.g. a
    rate ratio with no event in one arm), why; the other endpoints are still analysed.
    """

    endpoint: Endpoint
    key: str
    label: str
    population: Population
    comparisons: tuple[Comparison, ...]
    not_estimable: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        e = self.endpoint
        return {"name": e.name, "param": e.param, "label": self.label, "analysis": e.analysis, "week": e.week,
                "dataset": e.source, "population": asdict(self.population),
                "comparisons": [c.to_dict() for c in self.comparisons], "not_estimable": list(self.not_estimable)}

    def comparison(self, treatment: str | None = None) -> Comparison:
        """The comparison of ``treatment`` (the only one if None)."""
        if treatment is None and len(self.comparisons) == 1:
            return self.comparisons[0]
        for c in self.comparisons:
            if c.treatment == treatment:
                return c
        raise KeyError(treatment)


@dataclass(frozen=True)
class SafetyResult:
    population: Population
    treatment_emergent: str | None
    comparisons: tuple[AeSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"population": asdict(self.population), "treatment_emergent": self.treatment_emergent,
                "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass(frozen=True)
class TrialAnalysis:
    """Everything ``lupustrial analyze`` reports for one trial (JSON schema: README)."""

    source: str
    arm_variable: str
    reference: str
    treatments: tuple[str, ...]
    subjects: dict[str, int]
    endpoints: tuple[EndpointResult, ...]
    adverse_events: SafetyResult | None
    conf_level: float

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "conf_level": self.conf_level, "arms": {"variable": self.arm_variable, "reference": self.reference,
                                                 "treatments": list(self.treatments), "subjects": self.subjects},
                "endpoints": [e.to_dict() for e in self.endpoints],
                "adverse_events": None if self.adverse_events is None else self.adverse_events.to_dict()}

    def first(self, analysis: str) -> EndpointResult:
        """The first endpoint the plan analyses with ``analysis``."""
        for e in self.endpoints:
            if e.endpoint.analysis == analysis:
                return e
        raise KeyError(analysis)


def resolve_arms(arms: tuple[str, ...], spec: Arms) -> tuple[str, tuple[str, ...]]:
    """(reference, treatments): the plan's, or the arm called placebo and every other arm."""
    reference = spec.reference
    if reference is None:
        placebo = [a for a in arms if a.strip().lower() == "placebo"]
        if len(placebo) != 1:
            raise AnalysisError(f"cannot tell the reference arm among {list(arms)}: name it (arms.reference, "
                                "--reference)")
        reference = placebo[0]
    treatments = tuple(spec.treatments) if spec.treatments is not None else tuple(a for a in arms if a != reference)
    for arm in (reference, *treatments):
        if arm not in arms:
            raise AnalysisError(f"arm {arm!r} is not in the trial's arms {list(arms)}")
    if reference in treatments or not treatments:
        raise AnalysisError(f"no arm to compare with the reference {reference!r}")
    return reference, treatments


def _population(adsl: pd.DataFrame, flag: str, variable: str, arms: Iterable[str], key: str) -> tuple[pd.DataFrame,
                                                                                                      Population]:
    """ADSL rows flagged Y in ``flag`` among the arms compared, with the arm in column ARM."""
    for column in (flag, variable):
        if column not in adsl.columns:
            raise AnalysisError(f"{key}: ADSL has no column {column}")
    arms = list(arms)
    arm = adsl[variable].to_numpy()
    compared = np.isin(arm, arms)
    inside = compared & (adsl[flag].to_numpy() == "Y")
    pop = Population(flag, {a: int((inside & (arm == a)).sum()) for a in arms},
                     {a: int((compared & ~inside & (arm == a)).sum()) for a in arms})
    return adsl[inside].assign(**{ARM: arm[inside]}), pop


def param_label(frame: pd.DataFrame, endpoint: Endpoint) -> str:
    """The parameter's ADaM label (PARAM), else the endpoint's name."""
    if "PARAM" in frame.columns and "PARAMCD" in frame.columns:
        labels = frame.loc[frame["PARAMCD"] == endpoint.param, "PARAM"].dropna()
        if not labels.empty:
            return str(labels.iloc[0])
    return endpoint.name


def analyse_endpoint(data: TrialData, plan: AnalysisPlan, key: str, endpoint: Endpoint, reference: str,
                     treatments: tuple[str, ...]) -> EndpointResult:
    """One endpoint: each treatment arm against the reference, in the endpoint's population."""
    frame = data.dataset(endpoint.source)
    subjects, pop = _population(data.adsl, endpoint.population, plan.arms.variable, (*treatments, reference),
                                f"{key}.population")
    missing = [c for c in (*endpoint.factors, *endpoint.strata) if c not in subjects.columns]
    if missing:
        raise AnalysisError(f"{key}: ADSL has no column {', '.join(missing)}")
    read = READERS[endpoint.method.reads].read
    comparisons, failed = [], []
    for treatment in treatments:
        where = f"{key} ({endpoint.name}), {treatment} vs {reference}"
        try:
            mine = subjects[subjects[ARM].isin((treatment, reference))]
            d = read(frame, mine, endpoint, (treatment, reference), plan.conf_level)
        except AnalysisError as exc:
            raise AnalysisError(f"{where}: {exc}") from None
        try:
            result = endpoint.method.fit(endpoint, d)
        except AnalysisError as exc:  # the data are right but say too little for this method
            failed.append(f"{treatment} vs {reference}: not estimable: {exc}")
            continue
        comparisons.append(Comparison(treatment, reference, d.n(), result, endpoint.method.summarise(result)))
    return EndpointResult(endpoint, key, param_label(frame, endpoint), pop, tuple(comparisons), tuple(failed))


def _safety(data: TrialData, spec: Safety, conf_level: float, reference: str,
            treatments: tuple[str, ...]) -> SafetyResult:
    subjects, pop = _population(data.adsl, spec.population, spec.variable, (*treatments, reference), "safety.population")
    tables = tuple(ae_summary(data.adae, subjects[subjects[ARM].isin((t, reference))], arm=ARM, treatment=t,
                              reference=reference, conf_level=conf_level,
                              treatment_emergent=spec.treatment_emergent) for t in treatments)
    return SafetyResult(pop, spec.treatment_emergent, tables)


def analyze_trial(data: TrialData, plan: AnalysisPlan) -> TrialAnalysis:
    """Run ``plan`` on one trial's ADaM data."""
    adsl = data.adsl
    if plan.arms.variable not in adsl.columns:
        raise AnalysisError(f"arms.variable: ADSL has no column {plan.arms.variable}")
    arms = tuple(str(a) for a in dict.fromkeys(adsl[plan.arms.variable].dropna()))
    reference, treatments = resolve_arms(arms, plan.arms)
    endpoints = tuple(analyse_endpoint(data, plan, key, e, reference, treatments) for key, e in plan.keyed())
    safety = None if plan.safety is None else _safety(data, plan.safety, plan.conf_level, reference, treatments)
    subjects = adsl[plan.arms.variable].value_counts()
    return TrialAnalysis(str(data.directory), plan.arms.variable, reference, treatments,
                         {a: int(subjects.get(a, 0)) for a in (*treatments, reference)}, endpoints, safety,
                         plan.conf_level)


def load_for_plan(directory: str | Path, plan: AnalysisPlan) -> TrialData:
    """Read the datasets ``plan`` needs from ``directory`` (ADAE only when it has safety tables)."""
    kinds: dict[str, str] = {}
    params: dict[str, list[str]] = {}
    log_params: dict[str, list[str]] = {}
    for endpoint in plan.endpoints:
        name = endpoint.source
        if name == "adsl":
            continue
        kinds[name] = READERS[endpoint.method.reads].schema
        params.setdefault(name, []).append(endpoint.param)
        if endpoint.method.positive:
            log_params.setdefault(name, []).append(endpoint.param)
    if plan.safety is not None:
        kinds["adae"] = "adae"
    return load_trial(directory, datasets=kinds, files=plan.datasets, params=params, log_params=log_params)
