"""The BEAT-LUPUS statistical analysis of one trial, from its ADaM datasets.

This is the trial's analysis plan as a function: the primary endpoint (ANCOVA of log anti-dsDNA
at week 52 adjusted for log baseline), time to first severe flare (Kaplan–Meier, log-rank, Cox
with Efron ties and, because a small trial has few events, Firth's penalised Cox), B cells at
week 52 and the adverse-event tables. It reads ADaM data only, so a real trial and a virtual
one go through exactly the same code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from lupustrial.analysis.ae import AeSummary, ae_summary
from lupustrial.analysis.ancova import AncovaResult, ArmMean, ancova_gmr, geometric_means
from lupustrial.analysis.cox import CoxResult, cox
from lupustrial.analysis.survival import KaplanMeier, LogRank, kaplan_meier, logrank
from lupustrial.data import TrialData
from lupustrial.errors import AnalysisError

DAYS_PER_WEEK = 7.0


class AnalysisSpec(BaseModel):
    """What to analyse: the parts of a statistical analysis plan that vary between trials."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    treatment: str | None = Field(default=None, description="active arm; inferred if one arm is placebo")
    reference: str | None = Field(default=None, description="control arm; 'Placebo' if present")
    primary_param: str = "DSDNA"
    primary_visit: float = Field(default=52, description="AVISITN of the primary visit (weeks)")
    factors: tuple[str, ...] = Field(default=(), description="ADSL columns to adjust for")
    tte_param: str = "TTSEVFL"
    tte_horizon_weeks: float = Field(default=52, description="time at which S(t) is reported")
    ties: Literal["efron", "breslow"] = "efron"
    bcell_param: str = "CD19"
    conf_level: float = Field(default=0.95, gt=0, lt=1)
    firth: bool = Field(default=True, description="also fit Firth's penalised Cox (profile CIs)")
    safety: bool = Field(default=True, description="adverse-event tables")


@dataclass(frozen=True)
class ArmSurvival:
    """Per-arm summary of a time-to-event endpoint."""

    n: int
    events: int
    median_days: float
    median_lower: float
    median_upper: float
    surv_at_horizon: float
    surv_lower: float
    surv_upper: float


@dataclass(frozen=True)
class TimeToEvent:
    param: str
    horizon_days: float
    arms: dict[str, ArmSurvival]
    km: dict[str, KaplanMeier]
    logrank: LogRank
    cox: CoxResult
    cox_firth: CoxResult | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "param": self.param,
            "horizon_days": self.horizon_days,
            "arms": {arm: asdict(s) for arm, s in self.arms.items()},
            "logrank": self.logrank.to_dict(),
            "cox": self.cox.to_dict(),
            "cox_firth": None if self.cox_firth is None else self.cox_firth.to_dict(),
        }


@dataclass(frozen=True)
class TrialAnalysis:
    """Everything ``lupustrial analyze`` reports for one trial."""

    source: str
    treatment: str
    reference: str
    randomised: dict[str, int]
    primary: AncovaResult
    primary_param: str
    primary_visit: float
    baseline_geometric_means: dict[str, ArmMean]
    severe_flare: TimeToEvent
    bcells_param: str
    bcells: dict[str, ArmMean] | None
    adverse_events: AeSummary | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results; the schema is documented in the README."""
        return {
            "source": self.source,
            "treatment": self.treatment,
            "reference": self.reference,
            "randomised": self.randomised,
            "primary": {
                "param": self.primary_param,
                "visit": self.primary_visit,
                "baseline_geometric_means": {a: asdict(g) for a, g in self.baseline_geometric_means.items()},
                **self.primary.to_dict(),
            },
            "severe_flare": self.severe_flare.to_dict(),
            "b_cells": None
            if self.bcells is None
            else {
                "param": self.bcells_param,
                "visit": self.primary_visit,
                "geometric_means": {a: asdict(g) for a, g in self.bcells.items()},
            },
            "adverse_events": None if self.adverse_events is None else self.adverse_events.to_dict(),
        }


def _in_population(adsl: pd.DataFrame, flag: str) -> pd.DataFrame:
    """Subjects flagged Y in ``flag``; all subjects when the trial has no such column."""
    return adsl[adsl[flag] == "Y"] if flag in adsl.columns else adsl


def resolve_arms(arms: tuple[str, ...], spec: AnalysisSpec) -> tuple[str, str]:
    """(treatment, reference): from the spec, or inferred when one of two arms is placebo."""
    reference = spec.reference
    if reference is None:
        placebo = [a for a in arms if a.strip().lower() == "placebo"]
        if len(placebo) != 1:
            raise AnalysisError(f"cannot tell the reference arm among {list(arms)}: give --reference")
        reference = placebo[0]
    if reference not in arms:
        raise AnalysisError(f"arm {reference!r} is not in the trial's arms {list(arms)}")
    treatment = spec.treatment
    if treatment is None:
        others = [a for a in arms if a != reference]
        if len(others) != 1:
            raise AnalysisError(f"cannot tell the treatment arm among {list(arms)}: give --treatment")
        treatment = others[0]
    if treatment not in arms:
        raise AnalysisError(f"arm {treatment!r} is not in the trial's arms {list(arms)}")
    if treatment == reference:
        raise AnalysisError("treatment and reference are the same arm")
    return treatment, reference


def _visit_values(adlb: pd.DataFrame, param: str, visit: float) -> pd.DataFrame:
    rows = adlb[(adlb["PARAMCD"] == param) & (adlb["AVISITN"] == visit)]
    return rows.dropna(subset=["AVAL"])


def _geometric_means(values: pd.Series, arms: pd.Series, order: tuple[str, str], conf: float) -> dict[str, ArmMean]:
    means = geometric_means(values.to_numpy(dtype=float), arms.to_numpy(dtype=str), order, conf)
    return {m.arm: m for m in means}


def _time_to_event(adtte: pd.DataFrame, itt: pd.DataFrame, treatment: str, reference: str, spec: AnalysisSpec) -> TimeToEvent:
    tte = adtte[adtte["PARAMCD"] == spec.tte_param].merge(itt[["USUBJID", "TRT01P"]], on="USUBJID")
    tte = tte[tte["TRT01P"].isin([treatment, reference])]
    if tte.empty:
        raise AnalysisError(f"ADTTE has no {spec.tte_param} records for the randomised subjects")
    time = tte["AVAL"].to_numpy(dtype=float)
    event = 1 - tte["CNSR"].to_numpy(dtype=int)
    arm = tte["TRT01P"].to_numpy()
    horizon = spec.tte_horizon_weeks * DAYS_PER_WEEK
    km = {a: kaplan_meier(time[arm == a], event[arm == a], conf_level=spec.conf_level) for a in (treatment, reference)}
    arms = {}
    for a, fit in km.items():
        med = fit.median()
        at = fit.at([horizon])
        arms[a] = ArmSurvival(
            n=int((arm == a).sum()),
            events=int(event[arm == a].sum()),
            median_days=med.estimate,
            median_lower=med.lower,
            median_upper=med.upper,
            surv_at_horizon=float(at.surv[0]),
            surv_lower=float(at.lower[0]),
            surv_upper=float(at.upper[0]),
        )
    x = (arm == treatment).astype(float)
    name = [f"{treatment} vs {reference}"]
    return TimeToEvent(
        param=spec.tte_param,
        horizon_days=horizon,
        arms=arms,
        km=km,
        logrank=logrank(time, event, arm),
        cox=cox(time, event, x, ties=spec.ties, conf_level=spec.conf_level, names=name),
        cox_firth=cox(time, event, x, ties=spec.ties, firth=True, conf_level=spec.conf_level, names=name)
        if spec.firth else None,
    )


def analyze_trial(data: TrialData, spec: AnalysisSpec | None = None) -> TrialAnalysis:
    """Run the BEAT-LUPUS analysis plan on one trial's ADaM data."""
    spec = spec or AnalysisSpec()
    treatment, reference = resolve_arms(data.arms, spec)
    order = (treatment, reference)
    itt = _in_population(data.adsl, "ITTFL")
    itt = itt[itt["TRT01P"].isin(order)]
    randomised = {a: int((itt["TRT01P"] == a).sum()) for a in order}
    missing = [f for f in spec.factors if f not in itt.columns]
    if missing:
        raise AnalysisError(f"adjustment factor(s) {missing} are not ADSL columns")

    wk = _visit_values(data.adlb, spec.primary_param, spec.primary_visit)
    wk = wk.merge(itt[["USUBJID", "TRT01P", *spec.factors]], on="USUBJID")
    if wk.empty:
        raise AnalysisError(f"ADLB has no {spec.primary_param} values at AVISITN {spec.primary_visit:g}")
    primary = ancova_gmr(
        wk["AVAL"].to_numpy(dtype=float),
        wk["BASE"].to_numpy(dtype=float),
        wk["TRT01P"].to_numpy(),
        treatment=treatment,
        reference=reference,
        factors={f: wk[f].to_numpy() for f in spec.factors} or None,
        conf_level=spec.conf_level,
    )
    base = data.adlb[data.adlb["PARAMCD"] == spec.primary_param].drop_duplicates("USUBJID")
    base = base.merge(itt[["USUBJID", "TRT01P"]], on="USUBJID").dropna(subset=["BASE"])
    baseline_gm = _geometric_means(base["BASE"], base["TRT01P"], order, spec.conf_level)

    bc = _visit_values(data.adlb, spec.bcell_param, spec.primary_visit).merge(itt[["USUBJID", "TRT01P"]], on="USUBJID")
    bcells = None if bc.empty else _geometric_means(bc["AVAL"], bc["TRT01P"], order, spec.conf_level)

    safety = _in_population(data.adsl, "SAFFL")
    safety = safety[safety["TRT01A"].isin(order)]
    adverse = None
    if spec.safety and not safety.empty:
        adverse = ae_summary(data.adae, safety, arm="TRT01A", treatment=treatment, reference=reference)

    return TrialAnalysis(
        source=str(data.directory),
        treatment=treatment,
        reference=reference,
        randomised=randomised,
        primary=primary,
        primary_param=spec.primary_param,
        primary_visit=spec.primary_visit,
        baseline_geometric_means=baseline_gm,
        severe_flare=_time_to_event(data.adtte, itt, treatment, reference, spec),
        bcells_param=spec.bcell_param,
        bcells=bcells,
        adverse_events=adverse,
    )
