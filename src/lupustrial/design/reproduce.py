"""Run a published trial many times on virtual patients and set its figures beside the simulation.

Each virtual trial goes through the same path as a real one: simulated ADaM data, validated by
:mod:`lupustrial.data`, analysed by :func:`lupustrial.analysis.trial.analyze_trial`. For each
published figure the result gives the median and the central 95% interval across the virtual
trials and whether the published value lies inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict

from lupustrial.analysis.trial import AnalysisSpec, TrialAnalysis, analyze_trial
from lupustrial.data import TrialData, select_trial, validate_trial
from lupustrial.model.parameters import ModelParameters, calibrated, parameter_provenance
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population
from lupustrial.protocol import load_protocol, protocol_dosing
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate import map_chunks, simulate_chunk


class Figure(BaseModel):
    """One published figure and the per-trial statistic it is compared with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    figure: str
    statistic: str
    published: float
    lower: float | None = None
    upper: float | None = None


class Published(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    source: str
    figures: list[Figure]


def published(name: str = "beat-lupus") -> Published:
    """The bundled published results of trial ``name``."""
    path = resources.files("lupustrial.design") / f"{name.replace('-', '_')}_published.yaml"
    return Published.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _arm_value(means: dict[str, Any] | tuple[Any, ...] | None, arm: str) -> float:
    if means is None:
        return float("nan")
    items = means.values() if isinstance(means, dict) else means
    return next((float(m.geometric_mean) for m in items if m.arm == arm), float("nan"))


#: Per-trial statistics, computed from one trial's analysis.
STATISTICS: dict[str, Callable[[TrialAnalysis], float]] = {
    "gm_dsdna_treatment": lambda r: _arm_value(r.primary.unadjusted, r.treatment),
    "gm_dsdna_reference": lambda r: _arm_value(r.primary.unadjusted, r.reference),
    "pct_reduction": lambda r: r.primary.percent_reduction,
    "flares_treatment": lambda r: r.severe_flare.arms[r.treatment].events,
    "flares_reference": lambda r: r.severe_flare.arms[r.reference].events,
    "hazard_ratio": lambda r: float(r.severe_flare.cox.hazard_ratio[0]),
    "logrank_p": lambda r: r.severe_flare.logrank.p_value,
    "gm_cd19_treatment": lambda r: _arm_value(r.bcells, r.treatment),
    "gm_cd19_reference": lambda r: _arm_value(r.bcells, r.reference),
}
#: The per-trial analysis: the trial's plan without the parts no published figure needs.
SPEC = AnalysisSpec(firth=False, safety=False)


@dataclass(frozen=True)
class TrialSummaries:
    """Small per-trial aggregates the report plots, kept instead of the trials' ADaM data.

    ``lab_means``: trial, param, arm, visit (AVISITN), n, geometric mean and its 95% CI of observed values.
    ``km``: one row per (trial, arm), one column per day 0..follow-up, S(day) of the severe-flare
    Kaplan–Meier curve. ``consort``: trial, arm, randomised, withdrawn, completed, analysed (at
    the primary visit).
    """

    lab_means: pd.DataFrame
    km: pd.DataFrame
    consort: pd.DataFrame

    @staticmethod
    def concat(parts: list[TrialSummaries]) -> TrialSummaries:
        return TrialSummaries(*(pd.concat([getattr(p, f) for p in parts]) for f in ("lab_means", "km", "consort")))


def _lab_means(data: TrialData) -> pd.DataFrame:
    """Geometric mean of each lab by trial, arm and visit with its t interval (as the analysis
    computes a trial's geometric means): one groupby over the whole chunk."""
    from scipy.stats import t as student_t

    lb = data.adlb[data.adlb["AVAL"] > 0].merge(data.adsl[["USUBJID", "TRT01P"]], on="USUBJID")
    grouped = np.log(lb["AVAL"]).groupby([lb["TRIALID"], lb["PARAMCD"], lb["TRT01P"], lb["AVISITN"]])
    out = grouped.agg(["mean", "std", "size"]).reset_index()
    out.columns = ["trial", "param", "arm", "visit", "log_mean", "log_sd", "n"]
    n = out["n"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = student_t.ppf(0.5 + SPEC.conf_level / 2, n - 1) * out.pop("log_sd").to_numpy() / np.sqrt(n)
    log_mean = out.pop("log_mean").to_numpy()
    return out.assign(gm=np.exp(log_mean), lower=np.exp(log_mean - half), upper=np.exp(log_mean + half))


def _consort(data: TrialData, analysed: dict[tuple[int, str], int]) -> pd.DataFrame:
    sl = data.adsl
    out = sl.groupby(["TRIALID", "TRT01P"]).agg(
        randomised=("USUBJID", "size"), withdrawn=("EOSSTT", lambda s: int((s == "DISCONTINUED").sum())))
    out = out.reset_index().rename(columns={"TRIALID": "trial", "TRT01P": "arm"})
    out["completed"] = out["randomised"] - out["withdrawn"]
    out["analysed"] = [analysed.get((t, a), 0) for t, a in zip(out["trial"], out["arm"])]
    return out


def _analyse_chunk(protocol: Protocol, trials: range, seed: int,
                   params: ModelParameters | None) -> tuple[pd.DataFrame, TrialSummaries]:
    """Simulate trials ``trials``: one row of statistics per trial and the report's aggregates."""
    frames = simulate_chunk(protocol, trials, seed, params)
    data = validate_trial(frames, {k: Path(f"{k} (simulated)") for k in frames}, Path("simulated"))
    days = np.arange(protocol.follow_up_weeks * 7 + 1.0)
    rows, km_rows, km_index, analysed = [], [], [], {}
    for t in trials:
        result = analyze_trial(select_trial(data, t + 1), SPEC)
        rows.append({"trial": t + 1, **{k: float(f(result)) for k, f in STATISTICS.items()}})
        for arm, fit in result.severe_flare.km.items():
            km_index.append((t + 1, arm))
            km_rows.append(fit.at(days).surv)
        analysed.update({(t + 1, m.arm): m.n for m in result.primary.adjusted})
    km = pd.DataFrame(np.array(km_rows), index=pd.MultiIndex.from_tuples(km_index, names=["trial", "arm"]),
                      columns=days)
    return pd.DataFrame(rows), TrialSummaries(_lab_means(data), km, _consort(data, analysed))


#: Outputs whose median and 90% band per arm the report draws, from the model directly.
TRAJECTORY_OUTPUTS = ("rituximab_ug_ml", "belimumab_ug_ml", "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml")
#: Spawn key of the trajectory patients' stream: one element, so it never equals a trial's (trial, purpose).
_TRAJECTORY_KEY = (2**31 - 1,)


def arm_trajectories(protocol: Protocol, n_patients: int, seed: int, params: ModelParameters | None = None,
                     step_days: float = 7.0) -> pd.DataFrame:
    """5th, 50th and 95th percentiles of each model output per arm over time, from the model alone.

    Why not from the trials: labs are sampled at a few visits and drug levels not at all. The same
    ``n_patients`` virtual patients, randomised on the same uniform day of the protocol's window,
    are given every arm (common random numbers), so arms differ by treatment, not by sampling.
    Rows are (arm, output, day from the first rituximab infusion).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=_TRAJECTORY_KEY))
    population = virtual_population(n_patients, int(rng.integers(2**62)), params)
    lo, hi = (round(w * 7) for w in protocol.randomisation.window_weeks)
    rand_day = rng.integers(lo, hi + 1, n_patients).astype(float)
    follow = protocol.follow_up_weeks * 7
    grid = np.arange(0.0, hi + follow + step_days, step_days)
    frames = []
    for arm in (a.name for a in protocol.arms):
        dosing = protocol_dosing(protocol, population.covariates["weight_kg"], np.full(n_patients, arm, dtype=object),
                                 rand_day, rand_day + follow)
        outputs = simulate(population, dosing, grid).outputs()
        for name in TRAJECTORY_OUTPUTS:
            q = np.quantile(outputs[name], [0.05, 0.5, 0.95], axis=0)
            frames.append(pd.DataFrame({"arm": arm, "output": name, "day": grid, "q05": q[0], "q50": q[1], "q95": q[2]}))
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Comparison:
    figure: str
    statistic: str
    published: float
    median: float
    lower: float
    upper: float
    inside: bool


@dataclass(frozen=True)
class Reproduction:
    """Published figures beside the simulated distribution over virtual trials."""

    protocol: str
    source: str
    n_trials: int
    seed: int
    comparison: list[Comparison]
    per_trial: pd.DataFrame
    summaries: TrialSummaries
    trajectories: pd.DataFrame
    provenance: dict[str, Any]  # which parameter set ran, and how it was made

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``comparison`` is one object per published figure."""
        return {
            "protocol": self.protocol,
            "source": self.source,
            "n_trials": self.n_trials,
            "seed": self.seed,
            "parameters": self.provenance,
            "comparison": [asdict(c) for c in self.comparison],
        }

    def markdown(self) -> str:
        """The comparison table and what it shows, as ``docs/calibration.md`` quotes it.

        Generated, so the page's numbers are the code's: a slow test keeps the page equal to a
        1,000-trial run.
        """
        lines = ["| figure | published | simulated median | 95% interval | inside |", "|---|---|---|---|---|"]
        lines += [f"| {c.figure} | {c.published:.3g} | {c.median:.3g} | {c.lower:.3g} to {c.upper:.3g} | "
                  f"{'yes' if c.inside else 'no'} |" for c in self.comparison]
        inside = sum(c.inside for c in self.comparison)
        where = ("Every published figure lies" if inside == len(self.comparison)
                 else f"{inside} of {len(self.comparison)} published figures lie")
        off = {c.statistic: abs(c.median / c.published - 1.0) for c in self.comparison}
        gm = max(v for k, v in off.items() if k.startswith("gm_"))
        protocol = load_protocol(self.protocol)
        treatment, n_arm = protocol.arms[0].name.lower(), protocol.population.n_patients // len(protocol.arms)
        flares = next(c.published for c in self.comparison if c.statistic == "flares_treatment")
        no_flare = float((self.per_trial["flares_treatment"] == 0).mean())
        return "\n".join(lines) + (
            f"\n\n{where} inside the simulated 95% interval; the medians of the geometric means are within "
            f"{math.ceil(100 * gm)}% and of the hazard ratio within {math.ceil(100 * off['hazard_ratio'])}% of the "
            f"published values. In {no_flare:.1%} of the {self.n_trials:,} virtual trials no {treatment} patient has "
            f"a severe flare ({flares:g} of {n_arm} did in the trial); those trials' hazard ratio is 0.")


def compare(per_trial: pd.DataFrame, figures: list[Figure]) -> list[Comparison]:
    """Median and central 95% interval of each statistic across trials, against the published value."""
    out = []
    for f in figures:
        values = per_trial[f.statistic].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        lo, med, hi = (float(np.quantile(values, q)) for q in (0.025, 0.5, 0.975))
        out.append(Comparison(f.figure, f.statistic, f.published, med, lo, hi, bool(lo <= f.published <= hi)))
    return out


def reproduce(name: str = "beat-lupus", *, n_trials: int = 1000, seed: int = 2021, workers: int = 1,
              chunk: int = 50, params: ModelParameters | None = None, trajectory_patients: int = 2000,
              progress: Callable[[int], None] | None = None) -> Reproduction:
    """Simulate and analyse ``n_trials`` virtual trials of a published trial and compare."""
    if n_trials < 2:
        raise ValueError("n_trials must be >= 2 to give an interval")
    pub = published(name)
    protocol = load_protocol(pub.protocol)
    provenance = parameter_provenance(name, params)
    params = params or calibrated(name)
    func = partial(_analyse_chunk, protocol, seed=seed, params=params)
    parts = map_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress)
    per_trial = pd.concat([p for p, _ in parts], ignore_index=True)
    return Reproduction(pub.protocol, pub.source, n_trials, seed, compare(per_trial, pub.figures), per_trial,
                        TrialSummaries.concat([s for _, s in parts]),
                        arm_trajectories(protocol, trajectory_patients, seed, params), provenance)
