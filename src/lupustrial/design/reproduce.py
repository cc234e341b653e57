"""Run a published trial many times on virtual patients and set its figures beside the simulation.

Each virtual trial is simulated as its protocol says and analysed with the batched engines
(:mod:`lupustrial.analysis.batch`, each equal to its single-trial twin): every published figure
names the statistic it is compared with (:mod:`lupustrial.design.figures`). For each figure the
result gives the median and the central 95% interval across the virtual trials and whether the
published value lies inside; for the trial's main effects, also whether the median is close to
the published value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.analysis.survival import kaplan_meier
from lupustrial.design.figures import Figure, published, statistic
from lupustrial.model.parameters import ModelParameters, calibrated, parameter_provenance
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population
from lupustrial.protocol import load_protocol, protocol_dosing
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate import map_chunks
from lupustrial.simulate.trial import SEVERE_FLARE, TrialArrays, simulate_arrays

CONF_LEVEL = 0.95  # of the per-trial geometric-mean intervals the report draws
#: A main effect's simulated median must be within this share of the published value, or within
#: half the published 95% CI on the log scale where that is wider.
MAIN_TOLERANCE = 0.2


@dataclass(frozen=True)
class TrialSummaries:
    """Small per-trial aggregates the report plots, kept instead of the trials' data.

    ``lab_means``: trial, param, arm, visit (AVISITN), n, geometric mean and its 95% CI of observed
    values. ``km``: one row per (trial, arm), one column per day 0..follow-up, S(day) of the
    severe-flare Kaplan–Meier curve. ``consort``: trial, arm, randomised, withdrawn, completed,
    analysed (a value at the last visit).
    """

    lab_means: pd.DataFrame
    km: pd.DataFrame
    consort: pd.DataFrame

    @staticmethod
    def concat(parts: list[TrialSummaries]) -> TrialSummaries:
        return TrialSummaries(*(pd.concat([getattr(p, f) for p in parts]) for f in ("lab_means", "km", "consort")))


def _lab_means(protocol: Protocol, arrays: TrialArrays, trials: range) -> pd.DataFrame:
    """Geometric mean of each lab by trial, arm and visit with its t interval, all at once."""
    from scipy.stats import t as student_t

    frames = []
    for param, values in arrays.lab_value.items():
        for k, arm in enumerate(protocol.arms):
            keep = (arrays.arm == k)[:, :, None] & np.isfinite(values) & (values > 0)
            logs = np.log(np.where(keep, values, 1.0))
            n = keep.sum(axis=1).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(keep, logs, 0.0).sum(axis=1) / n
                sd = np.sqrt(np.where(keep, (logs - mean[:, None, :]) ** 2, 0.0).sum(axis=1) / (n - 1))
                half = student_t.ppf(0.5 + CONF_LEVEL / 2, n - 1) * sd / np.sqrt(n)
            t_idx, v_idx = np.nonzero(n > 0)
            frames.append(pd.DataFrame({
                "trial": np.asarray(trials)[t_idx] + 1, "param": param, "arm": arm.name,
                "visit": arrays.lab_weeks[v_idx], "n": n[t_idx, v_idx].astype(int),
                "gm": np.exp(mean[t_idx, v_idx]), "lower": np.exp(mean - half)[t_idx, v_idx],
                "upper": np.exp(mean + half)[t_idx, v_idx]}))
    return pd.concat(frames, ignore_index=True)


def _km(protocol: Protocol, arrays: TrialArrays, trials: range) -> pd.DataFrame:
    """S(day) of each trial's and arm's Kaplan–Meier curve of time to first severe flare."""
    days = np.arange(protocol.follow_up_weeks * 7 + 1.0)
    time, event = arrays.tte_time[SEVERE_FLARE[0]], arrays.tte_event[SEVERE_FLARE[0]]
    rows, index = [], []
    for i, t in enumerate(trials):
        for k, arm in enumerate(protocol.arms):
            keep = arrays.arm[i] == k
            rows.append(kaplan_meier(time[i][keep], event[i][keep]).at(days).surv)
            index.append((t + 1, arm.name))
    return pd.DataFrame(np.array(rows), index=pd.MultiIndex.from_tuples(index, names=["trial", "arm"]), columns=days)


def _consort(protocol: Protocol, arrays: TrialArrays, trials: range) -> pd.DataFrame:
    last = {param: np.isfinite(values[:, :, -1]) for param, values in arrays.lab_value.items()}
    analysed = np.logical_or.reduce(list(last.values())) if last else ~arrays.withdrawn
    rows = []
    for k, arm in enumerate(protocol.arms):
        mine = arrays.arm == k
        rows.append(pd.DataFrame({"trial": np.asarray(trials) + 1, "arm": arm.name, "randomised": mine.sum(axis=1),
                                  "withdrawn": (mine & arrays.withdrawn).sum(axis=1),
                                  "analysed": (mine & analysed).sum(axis=1)}))
    out = pd.concat(rows, ignore_index=True).sort_values(["trial", "arm"], kind="stable", ignore_index=True)
    out.insert(4, "completed", out["randomised"] - out["withdrawn"])
    return out


def _analyse_chunk(protocol: Protocol, figures: list[Figure], trials: range, seed: int,
                   params: ModelParameters) -> tuple[pd.DataFrame, TrialSummaries]:
    """Simulate trials ``trials``: one row of statistics per trial and the report's aggregates."""
    arrays = simulate_arrays(protocol, trials, seed, params)
    values = {f.figure: statistic(f, arrays, protocol) for f in figures}
    per_trial = pd.DataFrame({"trial": np.asarray(trials) + 1, **values})
    return per_trial, TrialSummaries(_lab_means(protocol, arrays, trials), _km(protocol, arrays, trials),
                                     _consort(protocol, arrays, trials))


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
    Rows are (arm, output, day from the start of background therapy).
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
    """One published figure beside its distribution over the virtual trials.

    ``close`` is set for a main effect: its simulated median is within 20% of the published value,
    or within half the published 95% CI on the log scale where that is wider (None otherwise).
    """

    figure: str
    statistic: str
    published: float
    median: float
    lower: float
    upper: float
    inside: bool
    close: bool | None = None


def _close(f: Figure, median: float) -> bool | None:
    if not f.main:
        return None
    if f.lower is not None and f.upper is not None and f.lower > 0 and median > 0:
        half = 0.5 * max(math.log(f.upper / f.published), math.log(f.published / f.lower))
        if abs(math.log(median / f.published)) <= half:
            return True
    return bool(abs(median / f.published - 1.0) <= MAIN_TOLERANCE)


def compare(per_trial: pd.DataFrame, figures: list[Figure]) -> list[Comparison]:
    """Median and central 95% interval of each figure's statistic across trials, against the published value."""
    out = []
    for f in figures:
        values = per_trial[f.figure].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        lo, med, hi = (float(np.quantile(values, q)) for q in (0.025, 0.5, 0.975))
        if f.bound is not None:  # a direction: the trials' interval must reach its side of the bound
            inside = hi >= f.published if f.bound == "lower" else lo <= f.published
        else:
            inside = lo <= f.published <= hi
        out.append(Comparison(f.figure, f.statistic, f.published, med, lo, hi, bool(inside), _close(f, med)))
    return out


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
        """The comparison table, as ``docs/calibration.md`` quotes it (a slow test keeps them equal)."""
        lines = ["| figure | published | simulated median | 95% interval | inside | main effect close |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {c.figure} | {c.published:.3g} | {c.median:.3g} | {c.lower:.3g} to {c.upper:.3g} | "
                  f"{'yes' if c.inside else 'no'} | {'' if c.close is None else 'yes' if c.close else 'no'} |"
                  for c in self.comparison]
        inside = sum(c.inside for c in self.comparison)
        where = ("Every published figure lies" if inside == len(self.comparison)
                 else f"{inside} of {len(self.comparison)} published figures lie")
        return "\n".join(lines) + f"\n\n{where} inside the simulated 95% interval of {self.n_trials:,} virtual trials."


def reproduce(name: str = "beat-lupus", *, n_trials: int = 1000, seed: int = 2021, workers: int = 1,
              chunk: int = 50, params: ModelParameters | None = None, trajectory_patients: int = 2000,
              progress: Callable[[int], None] | None = None) -> Reproduction:
    """Simulate and analyse ``n_trials`` virtual trials of a published trial and compare."""
    if n_trials < 2:
        raise ValueError("n_trials must be >= 2 to give an interval")
    pub = published(name)
    protocol = load_protocol(pub.protocol)
    provenance = parameter_provenance(protocol.population.calibration, params)
    params = params or calibrated(protocol.population.calibration)
    func = partial(_analyse_chunk, protocol, pub.figures, seed=seed, params=params)
    parts = map_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress)
    per_trial = pd.concat([p for p, _ in parts], ignore_index=True)
    return Reproduction(pub.protocol, pub.source, n_trials, seed, compare(per_trial, pub.figures), per_trial,
                        TrialSummaries.concat([s for _, s in parts]),
                        arm_trajectories(protocol, trajectory_patients, seed, params), provenance)
