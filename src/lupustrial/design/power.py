"""Power of a trial design by simulation: virtual trials analysed with the batched methods.

Each virtual trial (model included) is tested on the ANCOVA of log anti-dsDNA at its visit
(:func:`~lupustrial.analysis.ancova_gmr_batch`) and on time to first severe flare (Cox, LR test,
:func:`~lupustrial.analysis.cox_batch`; unlike Wald's, the LR test stays valid when the
likelihood is monotone, as small trials often meet). An endpoint is *claimed* when its two-sided
test is significant *and* the estimate favours the treatment arm. Power is reported for:

- ``ancova`` and ``cox``: that endpoint alone as the primary, at ``alpha``;
- ``both/bonferroni``: both endpoints, each at ``alpha / 2``;
- ``both/hierarchical``: fixed sequence, ANCOVA at ``alpha`` and, only if it is claimed, Cox at
  ``alpha`` (the family-wise error stays at ``alpha``).
For ``both`` rules, ``power`` is the probability of claiming both endpoints and ``power_any``
of claiming at least one.

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
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch
from lupustrial.design import analytic
from lupustrial.design.execute import Executor, run_chunks
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Endpoint, Protocol
from lupustrial.simulate.trial import simulate_arrays

ENDPOINTS = ("ancova", "cox", "both/bonferroni", "both/hierarchical")
TARGETS = (0.8, 0.9)


def design_endpoints(protocol: Protocol) -> tuple[Endpoint, Endpoint]:
    """(ANCOVA endpoint, Cox endpoint): the first of each kind, primary first."""
    endpoints = [protocol.endpoints.primary, *protocol.endpoints.secondary]
    try:
        return tuple(next(e for e in endpoints if e.analysis == kind) for kind in ("ancova_log", "cox"))  # type: ignore[return-value]
    except StopIteration:
        raise ProtocolError("key endpoints: a design needs an ancova_log and a cox endpoint") from None


def allocation_ratio(protocol: Protocol) -> float:
    """Treatment (first arm) : control (second arm) allocation, as a number (rpact's convention)."""
    weights = protocol.randomisation.ratio
    return weights[protocol.arms[0].name] / weights[protocol.arms[1].name]


def trial_statistics(protocol: Protocol, trials: range, *, seed: int, sizes: Sequence[int],
                     params: ModelParameters | Sequence[ModelParameters] | None = None) -> dict[str, np.ndarray]:
    """Test statistics of the first n patients of each trial, arrays of shape (sizes, trials).

    ``protocol.population.n_patients`` must be at least ``max(sizes)``.
    """
    anc_ep, cox_ep = design_endpoints(protocol)
    arrays = simulate_arrays(protocol, trials, seed, params)
    visit = int(np.flatnonzero(arrays.lab_weeks == anc_ep.week)[0])
    y = arrays.lab_value[anc_ep.param][:, :, visit]
    base = arrays.lab_base[anc_ep.param]
    treated = (arrays.arm == 0).astype(float)
    time, event = arrays.tte_time[cox_ep.param], arrays.tte_event[cox_ep.param].astype(float)
    stats = {k: np.full((len(sizes), len(trials)), np.nan)
             for k in ("anc_p", "anc_log_ratio", "anc_sigma", "cox_p", "cox_coef", "monotone", "events")}
    for i, n in enumerate(sizes):
        sl = np.s_[:, :n]
        anc = ancova_gmr_batch(y[sl], base[sl], treated[sl], mask=np.isfinite(y[sl]))
        fit = cox_batch(time[sl], event[sl], treated[sl], ties=cox_ep.ties)
        stats["anc_p"][i], stats["anc_log_ratio"][i], stats["anc_sigma"][i] = anc.p_value, anc.log_ratio, anc.sigma
        stats["cox_p"][i], stats["cox_coef"][i] = fit.lr_p_value, fit.coef
        stats["monotone"][i] = fit.monotone
        stats["events"][i] = event[sl].sum(axis=1)
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


def simulated_effects(stats: dict[str, np.ndarray], n_max: int) -> dict[str, float]:
    """Effect sizes for the analytic cross-check, estimated from the trials at the largest size.

    The mean log GMR and root-mean residual variance of the ANCOVAs; the mean log HR of the Cox
    fits whose likelihood was not monotone; the pooled proportion of patients with an event.
    """
    finite = np.isfinite(stats["cox_coef"][-1]) & (stats["monotone"][-1] == 0)
    return {
        "log_gmr": float(np.nanmean(stats["anc_log_ratio"][-1])),
        "resid_sd": float(np.sqrt(np.nanmean(stats["anc_sigma"][-1] ** 2))),
        "log_hr": float(stats["cox_coef"][-1][finite].mean()) if finite.any() else float("nan"),
        "event_probability": float(stats["events"][-1].mean() / n_max),
    }


def _analytic_n(effects: dict[str, float], endpoint: str, method: str, target: float, alpha: float,
                ratio: float) -> float:
    """Total N from the formulas (not rounded); NaN when the simulated effect gives none."""
    try:
        if endpoint == "ancova":
            return analytic.means_sample_size(effects["log_gmr"], effects["resid_sd"], alpha=alpha, power=target,
                                              ratio=ratio, t_test=method == "t")
        return analytic.survival_sample_size(float(np.exp(effects["log_hr"])), effects["event_probability"],
                                             alpha=alpha, power=target, ratio=ratio, method=method)  # type: ignore[arg-type]
    except ValueError:
        return float("nan")


ANALYTIC_METHODS = {"ancova": ("t", "normal"), "cox": ("schoenfeld", "freedman")}
#: Short labels of the methods in tables, explained by ANALYTIC_KEY.
ANALYTIC_LABELS = {"t": "t", "normal": "z", "schoenfeld": "S", "freedman": "F"}
ANALYTIC_KEY = "t: t test, z: normal approximation (ANCOVA); S: Schoenfeld, F: Freedman (Cox)"


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
    method, target, n_total (from ``effects``, the simulation's own effect sizes).
    """

    table: pd.DataFrame
    analytic: pd.DataFrame
    effects: dict[str, float]
    n_trials: int
    seed: int
    alpha: float
    ratio: float
    parameter_sets: int = 1  # > 1: power averaged over them, i.e. assurance

    def to_dict(self) -> dict[str, Any]:
        return {"n_trials": self.n_trials, "seed": self.seed, "alpha": self.alpha, "ratio": self.ratio,
                "parameter_sets": self.parameter_sets, "assurance": self.parameter_sets > 1,
                "effects": self.effects, "power": self.table.to_dict(orient="records"),
                "analytic": self.analytic.to_dict(orient="records")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PowerCurve:
        effects = {k: float("nan") if v is None else float(v) for k, v in data["effects"].items()}
        analytic_ = pd.DataFrame(data["analytic"]).astype({"n_total": float})
        return cls(pd.DataFrame(data["power"]), analytic_, effects,
                   int(data["n_trials"]), int(data["seed"]), float(data["alpha"]), float(data["ratio"]),
                   int(data["parameter_sets"]))

    def smallest_n(self, endpoint: str, target: float) -> int | None:
        """Smallest simulated total sample size whose estimated power reaches ``target``."""
        rows = self.table[(self.table["endpoint"] == endpoint) & (self.table["power"] >= target)]
        return None if rows.empty else int(rows["n_total"].min())

    def power_at(self, endpoint: str, n_total: int) -> float:
        """Estimated power (or assurance) of ``endpoint`` at a simulated total sample size."""
        rows = self.table[(self.table["endpoint"] == endpoint) & (self.table["n_total"] == n_total)]
        return float(rows["power"].iloc[0])

    def smallest_n_text(self, endpoint: str, target: float) -> str:
        """:meth:`smallest_n` as shown: "<= n" when the smallest size simulated already reaches it."""
        n = self.smallest_n(endpoint, target)
        sizes = self.table["n_total"]
        return f"> {sizes.max()}" if n is None else f"<= {n}" if n == sizes.min() else str(n)

    def analytic_n(self, endpoint: str, method: str, target: float) -> float:
        rows = self.analytic[(self.analytic["endpoint"] == endpoint) & (self.analytic["method"] == method)
                             & (self.analytic["target"] == target)]
        return float(rows["n_total"].iloc[0]) if len(rows) else float("nan")

    def analytic_text(self, endpoint: str, target: float) -> str:
        """The analytic N of each method, rounded up as a trial would be, e.g. "t 9, z 7"; "-" if none."""
        def shown(n: float) -> str:
            return f"{np.ceil(n):.0f}" if np.isfinite(n) else "n/a"

        return ", ".join(f"{ANALYTIC_LABELS[m]} {shown(self.analytic_n(endpoint, m, target))}"
                         for m in ANALYTIC_METHODS.get(endpoint, ())) or "-"


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
              parameter_sets: int = 1) -> PowerCurve:
    """Power table and analytic figures from the statistics of all trials (sizes, trials)."""
    n_trials = stats["anc_p"].shape[1]
    rows = []
    for endpoint in ENDPOINTS:
        every, any_ = claims(stats, alpha, endpoint)
        for i, n_total in enumerate(sizes):
            rows.append({"n_total": int(n_total), "endpoint": endpoint, "power": float(every[i].mean()),
                         "power_any": float(any_[i].mean()), "mc_se": mc_se(every[i], parameter_sets),
                         "monotone_fits": int(stats["monotone"][i].sum()) if "cox" in endpoint else 0})
    effects = simulated_effects(stats, max(sizes))
    analytic_rows = [{"endpoint": e, "method": m, "target": t, "n_total": _analytic_n(effects, e, m, t, alpha, ratio)}
                     for e, methods in ANALYTIC_METHODS.items() for m in methods for t in TARGETS]
    return PowerCurve(pd.DataFrame(rows), pd.DataFrame(analytic_rows), effects, n_trials, seed, alpha, ratio,
                      parameter_sets)


def with_sample_size(protocol: Protocol, n_total: int) -> Protocol:
    """The protocol with another total sample size (everything else unchanged)."""
    population = protocol.population.model_copy(update={"n_patients": n_total})
    return protocol.model_copy(update={"population": population})


def power_curve(protocol: Protocol, sizes: Sequence[int], *, n_trials: int = 1000, seed: int = 2021,
                alpha: float = 0.05, params: ModelParameters | Sequence[ModelParameters] | None = None,
                chunk: int = 20, executor: Executor | None = None,
                progress: Callable[[int], None] | None = None) -> PowerCurve:
    """Simulated power of every endpoint rule at each total sample size in ``sizes``.

    ``executor`` (a process pool or a ``dask.distributed.Client``) runs chunks of ``chunk``
    trials; results do not depend on it or on ``chunk``. With a sequence of parameter sets the
    power is the assurance (see the module's docstring).
    """
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    sizes = sorted(set(int(n) for n in sizes))
    if sizes[0] < 4:
        raise ValueError("sample sizes must be at least 4")
    design_endpoints(protocol)
    func = partial(trial_statistics, with_sample_size(protocol, sizes[-1]), seed=seed, sizes=sizes, params=params)
    parts = run_chunks(func, n_trials, chunk=chunk, executor=executor, progress=progress)
    stats = {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    sets = 1 if params is None or isinstance(params, ModelParameters) else len(params)
    return summarise(stats, sizes, seed=seed, alpha=alpha, ratio=allocation_ratio(protocol), parameter_sets=sets)
