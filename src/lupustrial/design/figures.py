"""Published figures of a trial and the statistic of a (virtual) trial each is compared with.

A figure is declared once, in the trial's ``<name>_published.yaml``: what was published, its
uncertainty as published (a 95% CI, a count, an SD, an IQR) and the statistic that measures the
same thing in a trial's data. ``reproduce`` computes that statistic for every virtual trial;
``calibrate`` computes it for a large virtual cohort (every arm given to the same patients) and
turns the published uncertainty into a standard error. Statistics read the simulator's
:class:`~lupustrial.simulate.trial.TrialArrays` (trials × patients) and return one value per
trial, all trials at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from importlib import resources
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, model_validator

from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch, logrank_batch
from lupustrial.analysis.plan import Endpoint
from lupustrial.errors import LupustrialError
from lupustrial.protocol import load_protocol
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.records import RESPONDERS
from lupustrial.simulate.trial import SEVERE_FLARE, TrialArrays

DAYS_PER_MONTH = 365.25 / 12

Statistic = Literal["gm", "percent_reduction", "events", "proportion_with_event", "hazard_ratio", "logrank_p",
                    "proportion_below", "median_return_months", "mean_ratio", "proportion_responding"]


class Figure(BaseModel):
    """One published figure: its value, its published uncertainty and the statistic it is compared with.

    Per-arm statistics name ``arm``; comparisons name ``treatment`` and ``reference``. The
    uncertainty fields present decide how calibration weighs the figure: ``lower``/``upper`` a
    95% CI (log scale), ``n`` the patients behind a proportion or count, ``sd`` and ``n`` a mean,
    ``q1``/``q3`` and ``n`` a median. ``main`` marks the trial's main effect. A figure of one of
    the protocol's plan endpoints names it (``endpoint``): its parameter, week, adjustment factors
    and ties are then the plan's, declared once there. A published fact
    that is a direction, not a number ("memory B cells did not fall"), is a ``bound``: the
    published value is our reading of it as a lower or upper limit, with a tolerance ``se``.
    An event statistic without ``arm`` counts every patient of the trial.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    figure: str
    statistic: Statistic
    published: float
    endpoint: str | None = None
    param: str = SEVERE_FLARE[0]
    week: float | None = None
    arm: str | None = None
    treatment: str | None = None
    reference: str | None = None
    threshold: float | None = None
    lower: float | None = None
    upper: float | None = None
    n: int | None = None
    sd: float | None = None
    q1: float | None = None
    q3: float | None = None
    main: bool = False
    bound: Literal["lower", "upper"] | None = None
    se: float | None = None
    source: str = ""

    @model_validator(mode="after")
    def _complete(self) -> Figure:
        per_arm = self.statistic in ("gm", "events", "proportion_with_event", "proportion_below",
                                     "median_return_months", "mean_ratio", "proportion_responding")
        if per_arm and self.arm is None and self.statistic not in ("events", "proportion_with_event"):
            raise ValueError(f"statistic {self.statistic} needs arm")
        if not per_arm and (self.treatment is None or self.reference is None):
            raise ValueError(f"statistic {self.statistic} needs treatment and reference")
        if self.statistic in ("gm", "percent_reduction", "mean_ratio", "proportion_responding") and self.week is None \
                and self.endpoint is None:
            raise ValueError(f"statistic {self.statistic} needs week")
        if self.statistic in ("proportion_below", "median_return_months") and self.threshold is None:
            raise ValueError(f"statistic {self.statistic} needs threshold")
        if (self.lower is None) != (self.upper is None):
            raise ValueError("lower and upper go together")
        if (self.bound is None) != (self.se is None):
            raise ValueError("a bound needs its tolerance se, and se is only for a bound")
        return self

    @property
    def per_arm(self) -> bool:
        return self.treatment is None

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms the figure names (none: the whole trial)."""
        if self.per_arm:
            return () if self.arm is None else (self.arm,)
        return (self.treatment, self.reference)  # type: ignore[return-value]


class Published(BaseModel):
    """A trial's published figures and the protocol that describes the trial."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: str
    source: str
    figures: list[Figure]


def published(name: str = "beat-lupus") -> Published:
    """The bundled published results of trial ``name``, each figure of a plan endpoint completed from it."""
    path = resources.files("lupustrial.design") / "published" / f"{name.replace('-', '_')}.yaml"
    if not path.is_file():
        raise LupustrialError(f"no published figures for {name!r} (expected {path})")
    pub = Published.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    endpoints = {e.name: e for e in load_protocol(pub.protocol).endpoints}
    figures = []
    for i, f in enumerate(pub.figures):
        if f.endpoint is not None:
            if f.endpoint not in endpoints:
                raise LupustrialError(f"{path.name}, key figures[{i}].endpoint: no endpoint {f.endpoint!r} in "
                                      f"protocol {pub.protocol} (it has {', '.join(endpoints)})")
            e = endpoints[f.endpoint]
            f = Figure.model_validate({**f.model_dump(exclude_unset=True), "param": e.param, "week": e.week})
        figures.append(f)
    return pub.model_copy(update={"figures": figures})


def plan_endpoint(f: Figure, protocol: Protocol) -> Endpoint | None:
    """The plan endpoint a figure names (None: a descriptive figure of its own)."""
    return next((e for e in protocol.endpoints if e.name == f.endpoint), None) if f.endpoint else None


def published_trials() -> tuple[str, ...]:
    """Names of every trial with bundled published figures."""
    folder = resources.files("lupustrial.design") / "published"
    return tuple(sorted(p.name.removesuffix(".yaml").replace("_", "-") for p in folder.iterdir()
                        if p.name.endswith(".yaml")))


def check_figures(pub: Published, protocol: Protocol) -> None:
    """Refuse figures naming arms, labs or visits the protocol lacks."""
    arms = {a.name for a in protocol.arms}
    for i, f in enumerate(pub.figures):
        key = f"figures[{i}]"
        for arm in f.arms:
            if arm not in arms:
                raise LupustrialError(f"{key}: arm {arm!r} is not an arm of protocol {protocol.name}")
        if f.week is not None and f.week not in protocol.visits_weeks:
            raise LupustrialError(f"{key}: week {f.week:g} is not a visit of protocol {protocol.name}")
        lab = f.statistic in ("gm", "percent_reduction", "proportion_below", "median_return_months", "mean_ratio")
        if lab and f.param not in protocol.labs:
            raise LupustrialError(f"{key}: lab {f.param} is not measured in protocol {protocol.name}")
        if f.statistic == "proportion_responding" and f.param not in RESPONDERS:
            raise LupustrialError(f"{key}: the simulator derives no responder {f.param} (it has {', '.join(RESPONDERS)})")


def arm_mask(arrays: TrialArrays, protocol: Protocol, arm: str | None) -> np.ndarray:
    """(trials, patients): the patients of ``arm`` (None: every patient)."""
    if arm is None:
        return np.ones(arrays.arm.shape, dtype=bool)
    return arrays.arm == [a.name for a in protocol.arms].index(arm)


def visit_values(arrays: TrialArrays, param: str, week: float) -> np.ndarray:
    return arrays.lab_value[param][:, :, int(np.flatnonzero(arrays.lab_weeks == week)[0])]


def _gm(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Geometric mean over the arm's patients measured at the visit (trials,)."""
    y = visit_values(a, f.param, f.week)
    keep = arm_mask(a, p, f.arm) & np.isfinite(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.where(keep, np.log(np.where(keep, y, 1.0)), 0.0).sum(axis=1) / keep.sum(axis=1))


def _comparison(f: Figure, a: TrialArrays, p: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """(patients in either arm, treated indicator) of a comparison."""
    treated = arm_mask(a, p, f.treatment)
    return treated | arm_mask(a, p, f.reference), treated.astype(float)


def _percent_reduction(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """ANCOVA of log value on arm and log baseline (and the plan endpoint's factors): (1 − adjusted ratio) × 100."""
    both, treated = _comparison(f, a, p)
    y = visit_values(a, f.param, f.week)
    endpoint = plan_endpoint(f, p)
    factors = {name: a.factors[name] for name in (endpoint.factors if endpoint else ())}
    fit = ancova_gmr_batch(np.where(np.isfinite(y), y, 1.0), a.lab_base[f.param], treated, factors=factors,
                           mask=both & np.isfinite(y))
    return (1.0 - fit.ratio) * 100.0


def _events(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Severe flares in the arm; smooth: their expected number, the cumulative hazard."""
    counts = a.severe_expected if smooth else a.severe_count
    return np.where(arm_mask(a, p, f.arm), counts, 0.0).sum(axis=1)


def _proportion_with_event(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Share of the arm with an event; smooth: mean probability 1 − exp(−cumulative hazard)."""
    arm = arm_mask(a, p, f.arm)
    value = -np.expm1(-a.severe_expected) if smooth and f.param == SEVERE_FLARE[0] else a.tte_event[f.param]
    return np.where(arm, value, 0.0).sum(axis=1) / arm.sum(axis=1)


def _hazard_ratio(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Cox hazard ratio, with the plan endpoint's ties (Efron without one)."""
    both, treated = _comparison(f, a, p)
    endpoint = plan_endpoint(f, p)
    fit = cox_batch(a.tte_time[f.param], a.tte_event[f.param].astype(float), treated, mask=both,
                    ties=endpoint.ties if endpoint else "efron")
    return np.exp(fit.coef)


def _logrank_p(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    both, treated = _comparison(f, a, p)
    return logrank_batch(a.tte_time[f.param], a.tte_event[f.param].astype(float), treated, mask=both).p_value


def _below(f: Figure, a: TrialArrays) -> np.ndarray:
    """(trials, patients, visits): below the threshold at a visit after baseline."""
    values = a.lab_value[f.param]
    return (values < f.threshold) & (a.lab_weeks > 0)[None, None, :]


def _proportion_below(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Share of the arm below the threshold at some visit (e.g. B-cell depletion)."""
    arm = arm_mask(a, p, f.arm)
    return np.where(arm, _below(f, a).any(axis=2), False).sum(axis=1) / arm.sum(axis=1)


def _return_months(f: Figure, a: TrialArrays, smooth: bool) -> tuple[np.ndarray, np.ndarray]:
    """(months to return, fell below) per patient (trials, patients).

    Return is the first visit back at or above the threshold after a visit below it (inf when a
    patient never returns in follow-up). ``smooth`` interpolates the crossing between that visit
    and the one before on the log scale, so the time moves continuously with the model's
    parameters instead of in steps of a visit.
    """
    values = a.lab_value[f.param]
    below = _below(f, a)
    fell = below.any(axis=2)
    back = (np.cumsum(below, axis=2) > 0) & ~below & np.isfinite(values)
    months = a.lab_weeks * 7.0 / DAYS_PER_MONTH
    found = back.any(axis=2)
    j = np.argmax(back, axis=2)
    when = months[j]
    if smooth:
        before = np.take_along_axis(values, np.maximum(j - 1, 0)[..., None], axis=2)[..., 0]
        after = np.take_along_axis(values, j[..., None], axis=2)[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.log(f.threshold / before) / np.log(after / before)
        when = months[np.maximum(j - 1, 0)] + np.clip(np.nan_to_num(share, nan=1.0), 0.0, 1.0) * (months[j] - months[
            np.maximum(j - 1, 0)])
    return np.where(found, when, np.inf), fell


def _median_return_months(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Median, over the arm's patients who fell below the threshold, of the months to return."""
    when, fell = _return_months(f, a, smooth)
    keep = arm_mask(a, p, f.arm) & fell
    return np.array([np.median(w[k]) if k.any() else np.nan for w, k in zip(when, keep)])


def _mean_ratio(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Mean over the arm of value at the visit / baseline value."""
    ratio = visit_values(a, f.param, f.week) / a.lab_base[f.param]
    keep = arm_mask(a, p, f.arm) & np.isfinite(ratio)
    return np.where(keep, ratio, 0.0).sum(axis=1) / keep.sum(axis=1)


def _proportion_responding(f: Figure, a: TrialArrays, p: Protocol, smooth: bool) -> np.ndarray:
    """Share of the arm's patients assessed at the week who respond (ADRS's AVAL at that visit)."""
    flags = a.response[f.param][:, :, int(np.flatnonzero(a.response_weeks == f.week)[0])]
    keep = arm_mask(a, p, f.arm) & np.isfinite(flags)
    return np.where(keep, flags, 0.0).sum(axis=1) / keep.sum(axis=1)


STATISTICS: dict[str, Callable[[Figure, TrialArrays, Protocol, bool], np.ndarray]] = {
    "gm": _gm, "percent_reduction": _percent_reduction, "events": _events,
    "proportion_with_event": _proportion_with_event, "hazard_ratio": _hazard_ratio, "logrank_p": _logrank_p,
    "proportion_below": _proportion_below, "median_return_months": _median_return_months, "mean_ratio": _mean_ratio,
    "proportion_responding": _proportion_responding,
}


def statistic(f: Figure, arrays: TrialArrays, protocol: Protocol, *, smooth: bool = False) -> np.ndarray:
    """The figure's statistic for every trial in ``arrays`` (trials,).

    ``smooth`` replaces drawn event indicators and counts by their expectations (the model's
    cumulative hazard), which calibration needs: a fixed cohort's drawn events move in steps as
    parameters change, their expectations smoothly.
    """
    return STATISTICS[f.statistic](f, arrays, protocol, smooth)


def log_ci_se(published: float, lower: float, upper: float, q: float = 1.959963984540054) -> float:
    """SE on the log scale from a 95% CI: the wider of its two half-widths over ``q``.

    For a CI symmetric on the log scale (anti-dsDNA, hazard ratios) this is the usual SE; where
    rounding or transcription made the halves differ (BEAT-LUPUS's B-cell CIs), the wider half
    neither lets a short half overweight a target nor depends on which half is wrong.
    """
    return max(math.log(upper / published), math.log(published / lower)) / q
