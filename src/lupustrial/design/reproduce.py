"""Run a published trial many times on virtual patients and set its figures beside the simulation.

Each virtual trial goes through the same path as a real one: simulated ADaM data, validated by
:mod:`lupustrial.data`, analysed by :func:`lupustrial.analysis.trial.analyze_trial`. For each
published figure the result gives the median and the central 95% interval across the virtual
trials and whether the published value lies inside.
"""

from __future__ import annotations

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
from lupustrial.data import select_trial, validate_trial
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol import load_protocol
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


def _analyse_chunk(protocol: Protocol, trials: range, seed: int, params: ModelParameters | None) -> pd.DataFrame:
    """Simulate trials ``trials`` and return one row of statistics per trial."""
    frames = simulate_chunk(protocol, trials, seed, params)
    data = validate_trial(frames, {k: Path(f"{k} (simulated)") for k in frames}, Path("simulated"))
    rows = []
    for t in trials:
        result = analyze_trial(select_trial(data, t + 1), SPEC)
        rows.append({"trial": t + 1, **{k: float(f(result)) for k, f in STATISTICS.items()}})
    return pd.DataFrame(rows)


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``comparison`` is one object per published figure."""
        return {
            "protocol": self.protocol,
            "source": self.source,
            "n_trials": self.n_trials,
            "seed": self.seed,
            "comparison": [asdict(c) for c in self.comparison],
        }


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
              chunk: int = 50, params: ModelParameters | None = None,
              progress: Callable[[int], None] | None = None) -> Reproduction:
    """Simulate and analyse ``n_trials`` virtual trials of a published trial and compare."""
    if n_trials < 2:
        raise ValueError("n_trials must be >= 2 to give an interval")
    pub = published(name)
    protocol = load_protocol(pub.protocol)
    func = partial(_analyse_chunk, protocol, seed=seed, params=params)
    parts = map_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress)
    per_trial = pd.concat(parts, ignore_index=True)
    return Reproduction(pub.protocol, pub.source, n_trials, seed, compare(per_trial, pub.figures), per_trial)
