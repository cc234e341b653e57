"""Power of a trial design by simulation: virtual trials analysed with the batched methods.

Each virtual trial (model included) is tested on the endpoints the protocol has: the ANCOVA of
log anti-dsDNA at its visit, adjusted for the endpoint's factors
(:func:`~lupustrial.analysis.ancova_gmr_batch`), and time to first severe flare (Cox, LR test,
:func:`~lupustrial.analysis.cox_batch`; unlike Wald's, the LR test stays valid when the
likelihood is monotone, as small trials often meet). An endpoint is *claimed* when its two-sided
test is significant *and* the estimate favours the treatment arm. Power is reported for:

- ``ancova`` and ``cox``: that endpoint alone as the primary, at ``alpha``;
- ``both/bonferroni``: both endpoints, each at ``alpha / 2``;
- ``both/hierarchical``: fixed sequence, ANCOVA at ``alpha`` and, only if it is claimed, Cox at
  ``alpha`` (the family-wise error stays at ``alpha``).
For ``both`` rules, ``power`` is the probability of claiming both endpoints and ``power_any``
of claiming at least one.
A protocol with one kind of endpoint has only that endpoint's rule (:func:`design_rules`).

Common random numbers: each trial is simulated once, at the largest sample size, and the trial
of size n is its first n enrolled patients. Patients are independent draws and allocation is
sequential (permuted blocks or minimisation over the enrolment order), so the first n patients
are distributed exactly as a trial of n, except that the last permuted block may be incomplete
(imbalance of at most half a block, as a real trial stopped at n would have). The power curve is
then smooth in n, and the model runs once per trial instead of once per trial and size.

With several parameter sets (posterior draws of the phase-2 estimates), trial t uses set
t mod K and the power is averaged over them: that is the probability of success (assurance).
Its Monte Carlo standard error treats the sets as clusters of trials (the sets are themselves a
sample of the posterior), so it includes the error of using K draws, not only T trials.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch
from lupustrial.design import analytic
from lupustrial.design.execute import Executor, run_chunks
from lupustrial.design.interim import (Timeline, check_interim, interim_design, interim_endpoint, look_statistics,
                                       null_protocol, simulated_width)
from lupustrial.design.operating import SequentialCurve, cross_check, sequential_curve
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Endpoint, Protocol
from lupustrial.simulate.trial import TrialArrays, simulate_arrays

ENDPOINTS = ("ancova", "cox", "both/bonferroni", "both/hierarchical")
TARGETS = (0.8, 0.9)


def design_endpoints(protocol: Protocol) -> tuple[Endpoint | None, Endpoint | None]:
    """(ANCOVA endpoint, Cox endpoint): the first of each kind, primary first; None if absent.

    Refuses, naming the key, what the batched analyses would otherwise silently ignore: a Cox
    endpoint with adjustment factors (``cox_batch`` fits the treatment alone) and ANCOVA factors
    the population does not define.
    """
    plan = protocol.plan()
    anc = next(iter(plan.keyed("ancova_log")), None)
    cox = next(iter(plan.keyed("cox")), None)
    if cox is not None and cox[1].factors:
        raise ProtocolError(f"key {cox[0]}.factors: the design's Cox model (cox_batch) has the treatment as its "
                            "only covariate; remove the factors or the endpoint")
    if anc is not None:
        unknown = [f for f in anc[1].factors if f not in protocol.population.factors]
        if unknown:
            raise ProtocolError(f"key {anc[0]}.factors: {', '.join(unknown)} not in population.factors")
    return (None if anc is None else anc[1]), (None if cox is None else cox[1])


def design_rules(protocol: Protocol) -> tuple[str, ...]:
    """The :data:`ENDPOINTS` rules the protocol's endpoints allow (``both`` needs both kinds)."""
    anc, cox = design_endpoints(protocol)
    if anc is None:
        return ("cox",)
    return ENDPOINTS if cox is not None else ("ancova",)


def allocation_ratio(protocol: Protocol) -> float:
    """Treatment (first arm) : control (second arm) allocation, as a number (rpact's convention)."""
    weights = protocol.randomisation.ratio
    return weights[protocol.arms[0].name] / weights[protocol.arms[1].name]


STATISTICS = ("anc_p", "anc_log_ratio", "anc_sigma", "cox_p", "cox_coef", "monotone", "events")


def trial_statistics(protocol: Protocol, trials: range, *, seed: int, sizes: Sequence[int],
                     params: ModelParameters | Sequence[ModelParameters] | None = None) -> dict[str, np.ndarray]:
    """Test statistics of the first n patients of each trial, arrays of shape (sizes, trials).

    ``protocol.population.n_patients`` must be at least ``max(sizes)``. An endpoint the
    protocol lacks leaves its statistics NaN (never claimed).
    """
    anc_ep, cox_ep = design_endpoints(protocol)
    arrays = simulate_arrays(protocol, trials, seed, params)
    treated = (arrays.arm == 0).astype(float)
    stats = {k: np.full((len(sizes), len(trials)), np.nan) for k in STATISTICS}
    if anc_ep is not None:
        visit = int(np.flatnonzero(arrays.lab_weeks == anc_ep.week)[0])
        y = arrays.lab_value[anc_ep.param][:, :, visit]
        base = arrays.lab_base[anc_ep.param]
        factors = {name: arrays.factors[name] for name in anc_ep.factors}
        for i, n in enumerate(sizes):
            sl = np.s_[:, :n]
            anc = ancova_gmr_batch(y[sl], base[sl], treated[sl], factors={k: v[sl] for k, v in factors.items()},
                                   mask=np.isfinite(y[sl]))
            stats["anc_p"][i], stats["anc_log_ratio"][i], stats["anc_sigma"][i] = anc.p_value, anc.log_ratio, anc.sigma
    if cox_ep is not None:
        time, event = arrays.tte_time[cox_ep.param], arrays.tte_event[cox_ep.param].astype(float)
        for i, n in enumerate(sizes):
            sl = np.s_[:, :n]
            fit = cox_batch(time[sl], event[sl], treated[sl], ties=cox_ep.ties)
            stats["cox_p"][i], stats["cox_coef"][i], stats["monotone"][i] = fit.lr_p_value, fit.coef, fit.monotone
            stats["events"][i] = event[sl].sum(axis=1)
    if protocol.interim is not None:
        stats |= _look_statistics(protocol, arrays, sizes)
    return stats


def _look_statistics(protocol: Protocol, arrays: TrialArrays, sizes: Sequence[int]) -> dict[str, np.ndarray]:
    """The interim looks' statistics (sizes, looks, trials) and, for a time-to-event endpoint, the
    control arm's events and exposure (days) at full follow-up (sizes, trials), for its hazard."""
    _, endpoint = interim_endpoint(protocol)
    timeline = Timeline.from_arrays(protocol, arrays, endpoint)
    stats = look_statistics(timeline, protocol.interim, list(sizes))
    if timeline.is_cox:
        control = timeline.treated == 0
        stats["control_events"] = np.stack([(timeline.event & control)[:, :n].sum(axis=1) for n in sizes]).astype(float)
        stats["control_exposure"] = np.stack([np.where(control, timeline.time, 0.0)[:, :n].sum(axis=1) for n in sizes])
    return stats


def claims(stats: dict[str, np.ndarray], alpha: float, endpoint: str) -> tuple[np.ndarray, np.ndarray]:
    """(all endpoints claimed, at least one claimed) per size and trial, under an ``ENDPOINTS`` rule."""

    def anc(a: float) -> np.ndarray:
        return (stats["anc_p"] < a) & (stats["anc_log_ratio"] < 0)  # NaN (not estimable) compares False

    def cox(a: float) -> np.ndarray:
        return (stats["cox_p"] < a) & (stats["cox_coef"] < 0)

    if endpoint in ("ancova", "cox"):
        one = anc(alpha) if endpoint == "ancova" else cox(alpha)
        return one, one
    if endpoint == "both/bonferroni":
        a, c = anc(alpha / 2), cox(alpha / 2)
        return a & c, a | c
    if endpoint == "both/hierarchical":
        a = anc(alpha)
        return a & cox(alpha), a
    raise ValueError(f"unknown endpoint rule {endpoint!r} (one of {', '.join(ENDPOINTS)})")


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (without numpy's warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def simulated_effects(stats: dict[str, np.ndarray], n_max: int) -> dict[str, float]:
    """Effect sizes for the analytic cross-check, estimated from the trials at the largest size.

    The mean log GMR and root-mean residual variance of the ANCOVAs; the mean log HR of the Cox
    fits whose likelihood was not monotone; the pooled proportion of patients with an event.
    NaN for an endpoint the protocol lacks.
    """
    fitted = np.isfinite(stats["cox_coef"][-1]) & (stats["monotone"][-1] == 0)
    return {
        "log_gmr": _mean(stats["anc_log_ratio"][-1]),
        "resid_sd": float(np.sqrt(_mean(stats["anc_sigma"][-1] ** 2))),
        "log_hr": _mean(stats["cox_coef"][-1][fitted]),
        "event_probability": _mean(stats["events"][-1]) / n_max,
    }


ANALYTIC_METHODS = {"ancova": ("t", "normal"), "cox": ("schoenfeld", "freedman")}
#: The simulated effect sizes each endpoint's formulas need.
ANALYTIC_EFFECTS = {"ancova": ("log_gmr", "resid_sd"), "cox": ("log_hr", "event_probability")}
#: Short labels of the methods in tables, explained by ANALYTIC_KEY.
ANALYTIC_LABELS = {"t": "t", "normal": "z", "schoenfeld": "S", "freedman": "F"}
ANALYTIC_KEY = ("t: t test, z: normal approximation (ANCOVA); S: Schoenfeld, F: Freedman (Cox), "
                "with the required events (ev.)")


def has_effects(effects: dict[str, float], endpoint: str) -> bool:
    """Whether the simulation gave the effect sizes the analytic figures of ``endpoint`` need."""
    return endpoint in ANALYTIC_EFFECTS and bool(np.isfinite([effects[k] for k in ANALYTIC_EFFECTS[endpoint]]).all())


def _analytic(effects: dict[str, float], endpoint: str, method: str, target: float, alpha: float,
              ratio: float) -> tuple[float, float]:
    """(total N, required events) from the formulas, not rounded; events NaN for the ANCOVA, both
    NaN when the simulated effects give none (e.g. no effect at all)."""
    if not has_effects(effects, endpoint):
        return float("nan"), float("nan")
    try:
        if endpoint == "ancova":
            return analytic.means_sample_size(effects["log_gmr"], effects["resid_sd"], alpha=alpha, power=target,
                                              ratio=ratio, t_test=method == "t"), float("nan")
        hazard_ratio = float(np.exp(effects["log_hr"]))
        common: dict[str, Any] = {"alpha": alpha, "power": target, "ratio": ratio, "method": method}
        return (analytic.survival_sample_size(hazard_ratio, effects["event_probability"], **common),
                analytic.required_events(hazard_ratio, **common))
    except ValueError:
        return float("nan"), float("nan")


def analytic_table(effects: dict[str, float], alpha: float, ratio: float,
                   endpoints: Sequence[str] = tuple(ANALYTIC_METHODS)) -> pd.DataFrame:
    """Analytic total N (and, for Cox, required events) per endpoint, method and target power."""
    rows = []
    for e in endpoints:
        for m in ANALYTIC_METHODS.get(e, ()):
            for t in TARGETS:
                n_total, events = _analytic(effects, e, m, t, alpha, ratio)
                rows.append({"endpoint": e, "method": m, "target": t, "n_total": n_total, "events": events})
    return pd.DataFrame(rows, columns=["endpoint", "method", "target", "n_total", "events"])


def analytic_power(effects: dict[str, float], endpoint: str, n_total: float, alpha: float, ratio: float) -> float:
    """Power of the first method of ``ANALYTIC_METHODS`` (t test; Schoenfeld), for the plot."""
    if endpoint == "ancova":
        return analytic.means_power(n_total, effects["log_gmr"], effects["resid_sd"], alpha=alpha, ratio=ratio)
    return analytic.survival_power(n_total, float(np.exp(effects["log_hr"])), effects["event_probability"],
                                   alpha=alpha, ratio=ratio)


@dataclass(frozen=True)
class PowerCurve:
    """Simulated power per total sample size and endpoint rule, with the analytic cross-check.

    ``table``: n_total, endpoint, power, power_any, mc_se, monotone_fits; ``analytic``: endpoint,
    method, target, n_total, events (from ``effects``, the simulation's own effect sizes).
    """

    table: pd.DataFrame
    analytic: pd.DataFrame
    effects: dict[str, float]
    n_trials: int
    seed: int
    alpha: float
    ratio: float
    parameter_sets: int = 1  # > 1: power averaged over them, i.e. assurance
    sequential: SequentialCurve | None = None  # the protocol's interim looks, if it has them

    def to_dict(self) -> dict[str, Any]:
        smallest = [{"endpoint": e, "target": t, "n_total": self.smallest_n(e, t),
                     **dict(zip(("n_low", "n_high"), self.smallest_n_range(e, t)))}
                    for e in self.table["endpoint"].unique() for t in TARGETS]
        extra = {} if self.sequential is None else {"sequential": self.sequential.to_dict()}
        return {"n_trials": self.n_trials, "seed": self.seed, "alpha": self.alpha, "ratio": self.ratio,
                "parameter_sets": self.parameter_sets, "assurance": self.parameter_sets > 1,
                "effects": self.effects, "power": self.table.to_dict(orient="records"),
                "smallest_n": smallest, "analytic": self.analytic.to_dict(orient="records"), **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PowerCurve:
        effects = {k: float("nan") if v is None else float(v) for k, v in data["effects"].items()}
        analytic_ = pd.DataFrame(data["analytic"]).astype({"n_total": float, "events": float})
        sequential = data.get("sequential")
        return cls(pd.DataFrame(data["power"]), analytic_, effects,
                   int(data["n_trials"]), int(data["seed"]), float(data["alpha"]), float(data["ratio"]),
                   int(data["parameter_sets"]), None if sequential is None else SequentialCurve.from_dict(sequential))

    def _first_reaching(self, endpoint: str, target: float, margin: float) -> int | None:
        """Smallest simulated N whose power + ``margin`` MC s.e. reaches ``target``; None if none."""
        rows = self.table[self.table["endpoint"] == endpoint]
        sizes = rows["n_total"][rows["power"] + margin * rows["mc_se"] >= target]
        return None if sizes.empty else int(sizes.min())

    def smallest_n(self, endpoint: str, target: float) -> int | None:
        """Smallest simulated total sample size whose estimated power reaches ``target``."""
        return self._first_reaching(endpoint, target, 0.0)

    def smallest_n_range(self, endpoint: str, target: float) -> tuple[int | None, int | None]:
        """:meth:`smallest_n` were every power 2 MC s.e. higher, and lower: how far Monte Carlo
        error alone could move it along the grid."""
        return self._first_reaching(endpoint, target, 2.0), self._first_reaching(endpoint, target, -2.0)

    def power_at(self, endpoint: str, n_total: int) -> float:
        """Estimated power (or assurance) of ``endpoint`` at a simulated total sample size."""
        rows = self.table[(self.table["endpoint"] == endpoint) & (self.table["n_total"] == n_total)]
        return float(rows["power"].iloc[0])

    def _n_text(self, n: int | None) -> str:
        sizes = self.table["n_total"]
        return f"> {sizes.max()}" if n is None else f"<= {n}" if n == sizes.min() else str(n)

    def smallest_n_text(self, endpoint: str, target: float) -> str:
        """:meth:`smallest_n` as shown: "<= n" when the smallest size simulated already reaches it,
        then, when MC error could move it, its range, e.g. "60 (40 to 80)"."""
        low, high = self.smallest_n_range(endpoint, target)
        shown = self._n_text(self.smallest_n(endpoint, target))
        if low == high:
            return shown
        return f"{shown} ({low} to {high if high is not None else '>' + str(self.table['n_total'].max())})"

    def analytic_n(self, endpoint: str, method: str, target: float) -> float:
        """Analytic total N (not rounded) of ``method``; NaN if not computed."""
        rows = self.analytic[(self.analytic["endpoint"] == endpoint) & (self.analytic["method"] == method)
                             & (self.analytic["target"] == target)]
        return float(rows["n_total"].iloc[0]) if len(rows) else float("nan")

    def analytic_lines(self, endpoint: str, target: float) -> list[str]:
        """The analytic N of each method, rounded up as a trial would be, with the required events for
        Cox, e.g. ["S 110 (55 ev.)", "F 139 (70 ev.)"]; ["-"] if the endpoint has no formula."""
        rows = self.analytic[(self.analytic["endpoint"] == endpoint) & (self.analytic["target"] == target)]
        lines = []
        for row in rows.itertuples():
            n = f"{np.ceil(row.n_total):.0f}" if np.isfinite(row.n_total) else "n/a"
            events = f" ({np.ceil(row.events):.0f} ev.)" if np.isfinite(row.events) else ""
            lines.append(f"{ANALYTIC_LABELS[row.method]} {n}{events}")
        return lines or ["-"]


def mc_se(success: np.ndarray, parameter_sets: int = 1) -> float:
    """Monte Carlo standard error of the proportion of successes among trials 0, 1, ... (in order).

    One set: binomial. K sets (trial t used set t mod K): the sets are a sample of the posterior,
    so trials sharing a set are a cluster and the cluster (ratio-estimator) variance
    C/(C - 1) * sum_k (y_k - m_k p)^2 / T^2 over the C sets used applies; it adds the error of
    having only K draws when trials outnumber them, and is ~binomial when each set has one trial.
    """
    n = len(success)
    p = float(success.mean())
    if parameter_sets == 1:
        return float(np.sqrt(p * (1 - p) / n))
    which = np.arange(n) % parameter_sets
    used = min(n, parameter_sets)
    if used < 2:
        return float("nan")
    y = np.bincount(which, weights=success.astype(float), minlength=parameter_sets)[:used]
    m = np.bincount(which, minlength=parameter_sets)[:used]
    return float(np.sqrt(used / (used - 1) * np.sum((y - m * p) ** 2)) / n)


def summarise(stats: dict[str, np.ndarray], sizes: Sequence[int], *, seed: int, alpha: float, ratio: float,
              parameter_sets: int = 1, rules: Sequence[str] = ENDPOINTS) -> PowerCurve:
    """Power table of endpoint ``rules`` and analytic figures from the statistics of all trials
    (sizes, trials). ``monotone_fits`` counts the monotone Cox fits of every rule testing Cox."""
    n_trials = stats["anc_p"].shape[1]
    rows = []
    for endpoint in rules:
        every, any_ = claims(stats, alpha, endpoint)
        for i, n_total in enumerate(sizes):
            rows.append({"n_total": int(n_total), "endpoint": endpoint, "power": float(every[i].mean()),
                         "power_any": float(any_[i].mean()), "mc_se": mc_se(every[i], parameter_sets),
                         "monotone_fits": int(np.nansum(stats["monotone"][i])) if endpoint != "ancova" else 0})
    effects = simulated_effects(stats, max(sizes))
    return PowerCurve(pd.DataFrame(rows), analytic_table(effects, alpha, ratio, rules), effects, n_trials, seed,
                      alpha, ratio, parameter_sets)


def with_sample_size(protocol: Protocol, n_total: int) -> Protocol:
    """The protocol with another total sample size (everything else unchanged)."""
    population = protocol.population.model_copy(update={"n_patients": n_total})
    return protocol.model_copy(update={"population": population})


def _statistics(protocol: Protocol, sizes: list[int], n_trials: int, seed: int, params: Any, chunk: int,
                executor: Executor | None, progress: Callable[[int], None] | None) -> dict[str, np.ndarray]:
    """Statistics of every trial, concatenated over chunks (trials last)."""
    func = partial(trial_statistics, with_sample_size(protocol, simulated_width(protocol, sizes)), seed=seed,
                   sizes=sizes, params=params)
    parts = run_chunks(func, n_trials, chunk=chunk, executor=executor, progress=progress)
    return {k: np.concatenate([p[k] for p in parts], axis=-1) for k in parts[0]}


def _sequential(protocol: Protocol, stats: dict[str, np.ndarray], null: dict[str, np.ndarray], sizes: list[int],
                n_trials: int, seed: int) -> SequentialCurve:
    """Operating characteristics of the interim looks, with rpact's and an exponential simulation's
    figures at the simulation's own hazards beside them (:func:`.operating.cross_check`)."""
    design = interim_design(protocol.interim)
    _, endpoint = interim_endpoint(protocol)
    check = pd.DataFrame()
    if "control_events" in stats:
        final = stats["estimate"][-1, -1]
        hazard_ratio = float(np.exp(_mean(final[np.isfinite(final)])))
        lambda2 = float(stats["control_events"][-1].sum() / stats["control_exposure"][-1].sum())
        check = cross_check(protocol, design, sizes, allocation_ratio(protocol), hazard_ratio, lambda2, n_trials, seed)
    return sequential_curve(stats, null, sizes, design, endpoint.param,
                            "events" if endpoint.analysis == "cox" else "patients", check)


def power_curve(protocol: Protocol, sizes: Sequence[int], *, n_trials: int = 1000, seed: int = 2021,
                alpha: float = 0.05, params: ModelParameters | Sequence[ModelParameters] | None = None,
                chunk: int = 20, executor: Executor | None = None,
                progress: Callable[[int], None] | None = None) -> PowerCurve:
    """Simulated power of every endpoint rule at each total sample size in ``sizes``.

    ``executor`` (a process pool or a ``dask.distributed.Client``) runs chunks of ``chunk``
    trials; results do not depend on it or on ``chunk``. With a sequence of parameter sets the
    power is the assurance (see the module's docstring). A protocol with ``interim`` looks also
    gets their operating characteristics (``sequential``), which simulates every trial a second
    time under the null (the first arm without its study drug) for the type I error.
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    sizes = sorted(set(int(n) for n in sizes))
    if sizes[0] < 4:
        raise ValueError("sample sizes must be at least 4")
    rules = design_rules(protocol)
    check_interim(protocol, sizes[-1])
    run = partial(_statistics, sizes=sizes, n_trials=n_trials, seed=seed, params=params, chunk=chunk,
                  executor=executor, progress=progress)
    stats = run(protocol)
    sets = 1 if params is None or isinstance(params, ModelParameters) else len(params)
    curve = summarise(stats, sizes, seed=seed, alpha=alpha, ratio=allocation_ratio(protocol), parameter_sets=sets,
                      rules=rules)
    if protocol.interim is None:
        return curve
    null = run(null_protocol(protocol))
    return replace(curve, sequential=_sequential(protocol, stats, null, sizes, n_trials, seed))
