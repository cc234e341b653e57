"""Power of a trial design by simulation: virtual trials analysed by the plan's batched methods.

The protocol's plan (``endpoints``) says what is analysed and how, here as in ``analyze``: every
endpoint the design can power (:mod:`.endpoints`: its method has a batched twin and the simulator
produces its data) is tested in each virtual trial by its method's twin, e.g. the ANCOVA of log
anti-dsDNA at its visit adjusted for the endpoint's factors, or time to first severe flare by Cox
(LR test: unlike Wald's, it stays valid when the likelihood is monotone, as small trials often
meet). The other endpoints are listed as not powered, with why. An endpoint is *claimed* when its
two-sided test is significant *and* the estimate favours the treatment arm: lower for a titre, a
cell count, a hazard or a rate of flares, higher for the odds of a response (the twin's
``Batched.higher_is_better``). Power is reported for these rules:

- each powered endpoint alone, by its label (e.g. ``DSDNA``), at ``alpha``;
- ``all/bonferroni``: every powered endpoint, each at ``alpha / k``;
- ``all/hierarchical``: fixed sequence in plan order, each at ``alpha`` once every earlier one is
  claimed (the family-wise error stays at ``alpha``).
For the ``all/`` rules, ``power`` is the probability of claiming every endpoint and ``power_any``
of claiming at least one. A plan with one powered endpoint has only that endpoint's rule.

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

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.analysis.methods import METHODS
from lupustrial.design import analytic
from lupustrial.design.endpoints import DesignedEndpoint, plan_endpoints, simulated_data
from lupustrial.design.execute import Executor, run_chunks
from lupustrial.design.interim import (Timeline, check_interim, interim_design, interim_endpoint, look_statistics,
                                       null_protocol, simulated_width)
from lupustrial.design.operating import SequentialCurve, cross_check, sequential_curve
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.trial import TrialArrays, simulate_arrays

#: The rules over every powered endpoint together, by ``--multiplicity``.
FAMILY = {"bonferroni": "all/bonferroni", "hierarchical": "all/hierarchical"}
TARGETS = (0.8, 0.9)


def family_text(rule: str, endpoints: Sequence[DesignedEndpoint]) -> str:
    """What a :data:`FAMILY` rule claims, for legends."""
    k = sum(e.powered for e in endpoints)
    return {FAMILY["hierarchical"]: "every powered endpoint claimed, in plan order, each at alpha once every "
                                    "earlier one is",
            FAMILY["bonferroni"]: f"every powered endpoint claimed, each at alpha / {k}"}[rule]


def design_endpoints(protocol: Protocol) -> list[DesignedEndpoint]:
    """Every plan endpoint (:func:`.endpoints.plan_endpoints`); refused, naming the key, when
    none can be powered (there would be nothing to design)."""
    endpoints = plan_endpoints(protocol)
    if not any(e.powered for e in endpoints):
        raise ProtocolError("key endpoints: no endpoint can be powered ("
                            + "; ".join(f"{e.label}: {e.reason}" for e in endpoints) + ")")
    return endpoints


def design_rules(endpoints: Sequence[DesignedEndpoint]) -> tuple[str, ...]:
    """The claim rules of the powered ``endpoints``: each alone, and the :data:`FAMILY` rules
    when there are two or more."""
    powered = tuple(e.label for e in endpoints if e.powered)
    return powered + tuple(FAMILY.values()) if len(powered) > 1 else powered


def allocation_ratio(protocol: Protocol) -> float:
    """Treatment (first arm) : control (second arm) allocation, as a number (rpact's convention)."""
    weights = protocol.randomisation.ratio
    return weights[protocol.arms[0].name] / weights[protocol.arms[1].name]


def trial_statistics(protocol: Protocol, trials: range, *, seed: int, sizes: Sequence[int],
                     params: ModelParameters | Sequence[ModelParameters] | None = None) -> dict[str, np.ndarray]:
    """Test statistics of the first n patients of each trial, arrays of shape (sizes, trials),
    keyed ``"<label>.<field>"`` per powered endpoint: the fields of its twin's
    :class:`~lupustrial.analysis.batch.BatchTest` (``p_value``, ``estimate`` and, as the method
    has them, ``sigma``, ``events``, ``monotone``).

    ``protocol.population.n_patients`` must be at least ``max(sizes)``.
    """
    powered = [(d, e) for d, e in zip(design_endpoints(protocol), protocol.endpoints, strict=True) if d.powered]
    arrays = simulate_arrays(protocol, trials, seed, params)
    stats: dict[str, np.ndarray] = {}
    for designed, endpoint in powered:
        data = simulated_data(arrays, endpoint)
        for i, n in enumerate(sizes):
            for field, values in endpoint.method.batch.fit(endpoint, data.first(n)).arrays().items():
                stats.setdefault(f"{designed.label}.{field}", np.full((len(sizes), len(trials)), np.nan))[i] = values
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


def claims(stats: dict[str, np.ndarray], alpha: float, rule: str, family: Sequence[str],
           higher: Collection[str] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(all endpoints claimed, at least one claimed) per size and trial under ``rule``: one of
    the powered endpoints' labels ``family`` (in plan order), or a :data:`FAMILY` rule over them.
    The labels in ``higher`` favour the treatment with a positive estimate, the others a negative one."""

    def claimed(label: str, level: float) -> np.ndarray:  # NaN (not estimable) compares False
        sign = 1.0 if label in higher else -1.0
        return (stats[f"{label}.p_value"] < level) & (sign * stats[f"{label}.estimate"] > 0)

    if rule in family:
        one = claimed(rule, alpha)
        return one, one
    if rule == FAMILY["bonferroni"]:
        each = np.stack([claimed(label, alpha / len(family)) for label in family])
        return each.all(axis=0), each.any(axis=0)
    if rule == FAMILY["hierarchical"]:
        sequence = np.logical_and.accumulate(np.stack([claimed(label, alpha) for label in family]), axis=0)
        return sequence[-1], sequence[0]
    raise ValueError(f"unknown endpoint rule {rule!r} (one of {', '.join([*family, *FAMILY.values()])})")


def _mean(values: np.ndarray) -> float:
    """Mean of the finite values; NaN (without numpy's warning) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def simulated_effects(stats: dict[str, np.ndarray], n_max: int, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Effect sizes of each powered endpoint for the analytic cross-check, from the trials at the
    largest size: the mean finite ``estimate`` (log GMR, difference, log HR, log OR, log rate ratio:
    monotone fits, ±inf, are left out), the root-mean residual variance ``sd`` (ANCOVA), the
    pooled ``event_probability``, the proportion of patients with an event (time to event), and
    the mean of each of :data:`MEAN_EFFECTS` the twin gives (responders, counts)."""
    effects = {}
    for label in labels:
        last = {k.split(".", 1)[1]: v[-1] for k, v in stats.items() if k.startswith(f"{label}.")}
        fx = {"estimate": _mean(last["estimate"])}
        if "sigma" in last:
            fx["sd"] = float(np.sqrt(_mean(last["sigma"] ** 2)))
        if "events" in last:
            fx["event_probability"] = _mean(last["events"]) / n_max
        fx |= {k: _mean(last[k]) for k in MEAN_EFFECTS if k in last}
        effects[label] = fx
    return effects


#: The analytic formulas of each family: the simulated effects they need, the methods' names.
#: Counts also take the ``dispersion`` (1 / theta) where the twin gives it, else 0 (Poisson).
ANALYTIC_FAMILIES = {"means": (("estimate", "sd"), ("t", "normal")),
                     "survival": (("estimate", "event_probability"), ("schoenfeld", "freedman")),
                     "rates": (("treatment_rate", "control_rate"), ("normal_rates",)),
                     "counts": (("estimate", "control_rate", "exposure"), ("zhu_lakkis",))}
#: Which family checks each analysis (a method absent here has no analytic figure).
ANALYTIC = {"ancova_log": "means", "ancova": "means", "cox": "survival", "logrank": "survival",
            "responder": "rates", "negative_binomial": "counts", "poisson": "counts"}
#: Short labels of the methods in tables, explained by ANALYTIC_KEY.
ANALYTIC_LABELS = {"t": "t", "normal": "z", "schoenfeld": "S", "freedman": "F", "normal_rates": "z",
                   "zhu_lakkis": "ZL"}
ANALYTIC_KEY = ("t: t test, z: normal approximation (ANCOVA, responders); S: Schoenfeld, F: Freedman (Cox, "
                "log-rank), with the required events (ev.); ZL: Zhu and Lakkis (counts)")
#: A twin's fields whose mean over the trials is an effect size: each arm's proportion responding
#: or events per patient-year, mean follow-up (years), negative binomial dispersion.
MEAN_EFFECTS = ("control_rate", "treatment_rate", "exposure", "dispersion")


def has_effects(effects: dict[str, dict[str, float]], label: str, analysis: str) -> bool:
    """Whether the simulation gave the effect sizes the analytic figures of the endpoint need."""
    if analysis not in ANALYTIC or label not in effects:
        return False
    needed, _ = ANALYTIC_FAMILIES[ANALYTIC[analysis]]
    return bool(np.isfinite([effects[label][k] for k in needed]).all())


def _analytic(fx: dict[str, float], family: str, method: str, target: float, alpha: float,
              ratio: float) -> tuple[float, float]:
    """(total N, required events) from the formulas, not rounded; events NaN but for survival, both
    NaN when the simulated effects give none (e.g. no effect at all)."""
    common: dict[str, Any] = {"alpha": alpha, "power": target, "ratio": ratio}
    try:
        if family == "means":
            return analytic.means_sample_size(fx["estimate"], fx["sd"], t_test=method == "t", **common), float("nan")
        if family == "rates":
            return analytic.rates_sample_size(fx["treatment_rate"], fx["control_rate"], **common), float("nan")
        if family == "counts":
            rate_ratio = float(np.exp(fx["estimate"]))
            return analytic.counts_sample_size(fx["control_rate"], rate_ratio, exposure=fx["exposure"],
                                               dispersion=fx.get("dispersion", 0.0), **common), float("nan")
        hazard_ratio = float(np.exp(fx["estimate"]))
        common["method"] = method
        return (analytic.survival_sample_size(hazard_ratio, fx["event_probability"], **common),
                analytic.required_events(hazard_ratio, **common))
    except ValueError:
        return float("nan"), float("nan")


def analytic_table(effects: dict[str, dict[str, float]], alpha: float, ratio: float,
                   analyses: dict[str, str]) -> pd.DataFrame:
    """Analytic total N (and, for survival, required events) per endpoint (label -> its analysis
    in ``analyses``), method and target power; NaN where the simulation gave no effect."""
    rows = []
    for label, analysis in analyses.items():
        if analysis not in ANALYTIC:
            continue
        family = ANALYTIC[analysis]
        for m in ANALYTIC_FAMILIES[family][1]:
            for t in TARGETS:
                n_total, events = _analytic(effects[label], family, m, t, alpha, ratio) \
                    if has_effects(effects, label, analysis) else (float("nan"), float("nan"))
                rows.append({"endpoint": label, "method": m, "target": t, "n_total": n_total, "events": events})
    return pd.DataFrame(rows, columns=["endpoint", "method", "target", "n_total", "events"])


@dataclass(frozen=True)
class PowerCurve:
    """Simulated power per total sample size and endpoint rule, with the analytic cross-check.

    ``table``: n_total, endpoint (the rule), power, power_any, mc_se, monotone_fits; ``analytic``:
    endpoint, method, target, n_total, events (from ``effects``, the simulation's own effect
    sizes, per powered endpoint's label); ``endpoints``: every plan endpoint, powered or not.
    """

    table: pd.DataFrame
    analytic: pd.DataFrame
    effects: dict[str, dict[str, float]]
    endpoints: tuple[DesignedEndpoint, ...]
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
                "endpoints": [e.to_dict() for e in self.endpoints], "effects": self.effects,
                "power": self.table.to_dict(orient="records"), "smallest_n": smallest,
                "analytic": self.analytic.to_dict(orient="records"), **extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PowerCurve:
        effects = {label: {k: float("nan") if v is None else float(v) for k, v in fx.items()}
                   for label, fx in data["effects"].items()}
        analytic_ = pd.DataFrame(data["analytic"], columns=["endpoint", "method", "target", "n_total", "events"]
                                 ).astype({"n_total": float, "events": float})
        sequential = data.get("sequential")
        return cls(pd.DataFrame(data["power"]), analytic_, effects,
                   tuple(DesignedEndpoint.from_dict(e) for e in data["endpoints"]),
                   int(data["n_trials"]), int(data["seed"]), float(data["alpha"]), float(data["ratio"]),
                   int(data["parameter_sets"]), None if sequential is None else SequentialCurve.from_dict(sequential))

    @property
    def rules(self) -> list[str]:
        """The endpoint rules of the table, in its order."""
        return list(self.table["endpoint"].unique())

    def analysis(self, rule: str) -> str | None:
        """The analysis of the endpoint a rule tests alone (None for a :data:`FAMILY` rule)."""
        return next((e.analysis for e in self.endpoints if e.label == rule), None)

    def has_analytic(self, rule: str) -> bool:
        """Whether ``rule`` is one endpoint with an analytic formula and the effects it needs."""
        analysis = self.analysis(rule)
        return analysis is not None and has_effects(self.effects, rule, analysis)

    def analytic_power(self, rule: str, n_total: float) -> float:
        """Power of the first analytic method of the endpoint (t test; Schoenfeld; z; Zhu–Lakkis), for the plot."""
        fx, family = self.effects[rule], ANALYTIC[self.analysis(rule)]
        common = {"alpha": self.alpha, "ratio": self.ratio}
        if family == "means":
            return analytic.means_power(n_total, fx["estimate"], fx["sd"], **common)
        if family == "rates":
            return analytic.rates_power(n_total, fx["treatment_rate"], fx["control_rate"], **common)
        if family == "counts":
            return analytic.counts_power(n_total, fx["control_rate"], float(np.exp(fx["estimate"])),
                                         dispersion=fx.get("dispersion", 0.0), exposure=fx["exposure"], **common)
        return analytic.survival_power(n_total, float(np.exp(fx["estimate"])), fx["event_probability"], **common)

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
              endpoints: Sequence[DesignedEndpoint], parameter_sets: int = 1) -> PowerCurve:
    """Power table of every rule of the powered ``endpoints`` (:func:`design_rules`) and analytic
    figures, from the statistics of all trials (sizes, trials). ``monotone_fits`` counts the
    monotone Cox fits of the endpoints each rule tests."""
    family = [e.label for e in endpoints if e.powered]
    higher = {e.label for e in endpoints if e.powered and METHODS[e.analysis].batch.higher_is_better}
    n_trials = stats[f"{family[0]}.p_value"].shape[1]
    rows = []
    for rule in design_rules(endpoints):
        every, any_ = claims(stats, alpha, rule, family, higher)
        monotone = [stats[k] for k in (f"{label}.monotone" for label in family if rule in (label, *FAMILY.values()))
                    if k in stats]
        for i, n_total in enumerate(sizes):
            rows.append({"n_total": int(n_total), "endpoint": rule, "power": float(every[i].mean()),
                         "power_any": float(any_[i].mean()), "mc_se": mc_se(every[i], parameter_sets),
                         "monotone_fits": int(sum(np.nansum(m[i]) for m in monotone))})
    effects = simulated_effects(stats, max(sizes), family)
    analyses = {e.label: e.analysis for e in endpoints if e.powered}
    return PowerCurve(pd.DataFrame(rows), analytic_table(effects, alpha, ratio, analyses), effects, tuple(endpoints),
                      n_trials, seed, alpha, ratio, parameter_sets)


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
    endpoints = design_endpoints(protocol)
    check_interim(protocol, sizes[-1])
    run = partial(_statistics, sizes=sizes, n_trials=n_trials, seed=seed, params=params, chunk=chunk,
                  executor=executor, progress=progress)
    stats = run(protocol)
    sets = 1 if params is None or isinstance(params, ModelParameters) else len(params)
    curve = summarise(stats, sizes, seed=seed, alpha=alpha, ratio=allocation_ratio(protocol), endpoints=endpoints,
                      parameter_sets=sets)
    if protocol.interim is None:
        return curve
    null = run(null_protocol(protocol))
    return replace(curve, sequential=_sequential(protocol, stats, null, sizes, n_trials, seed))
