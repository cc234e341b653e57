"""The analysis methods a plan can name, registered once: what each reads, fits and shows.

A method is a function from (the endpoint's plan entry, the data of one comparison) to a result
object with ``to_dict()``, plus a function that says what the console, the HTML report and
the JSON show of it (:class:`Summary`: per-arm rows and effect estimates). ``analyze`` runs
whatever the plan names; nothing downstream knows one method from another.

To add a method: write its array function (e.g. in ``analysis/counts.py``), an adapter
``fit(endpoint, data) -> result`` and ``summarise(result) -> Summary`` here, and one
:class:`Method` entry in :data:`METHODS` naming the kind of data it reads
(:data:`lupustrial.analysis.endpoint_data.READERS`) and the plan keys it needs or uses.

A method with a test may have a batched twin, which ``design`` runs on many simulated trials
at once: write the batched array function (``analysis/batch.py``), an adapter
``batch(endpoint, data) -> BatchTest`` on the method's batch of data
(:class:`~lupustrial.analysis.batch.VisitBatch`, ``TimeToEventBatch``, ``ResponderBatch``,
``CountBatch``) here, name it in the method's entry
(``batch=Batched(...)``), and add the pair to the test that holds every twin equal to its
single fit (``tests/test_batched_twins.py``). ``design`` then powers every plan endpoint the
method analyses, with no other change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from lupustrial.analysis.ae import DAYS_PER_YEAR
from lupustrial.analysis.ancova import AncovaRawResult, AncovaResult, ArmMean, ancova, ancova_gmr, geometric_means
from lupustrial.analysis.batch import (
    BatchTest,
    CountBatch,
    ResponderBatch,
    TimeToEventBatch,
    VisitBatch,
    ancova_batch,
    ancova_gmr_batch,
    cox_batch,
    logrank_batch,
)
from lupustrial.analysis.batch_glm import GlmBatchResult, logistic_batch, rate_ratio_batch
from lupustrial.analysis.counts import CountResult, negative_binomial, poisson
from lupustrial.analysis.cox import CoxResult, cox
from lupustrial.analysis.endpoint_data import (
    CountData,
    DataKind,
    EndpointData,
    RepeatedData,
    ResponderData,
    TimeToEventData,
    VisitData,
)
from lupustrial.analysis.mmrm import MmrmResult, mmrm
from lupustrial.analysis.responder import ResponderResult, responder
from lupustrial.analysis.survival import KaplanMeier, LogRank, kaplan_meier, logrank
from lupustrial.errors import AnalysisError

if TYPE_CHECKING:
    from lupustrial.analysis.plan import Endpoint

NAN = float("nan")


@dataclass(frozen=True)
class Value:
    """One arm's entry in a results row: an estimate with its CI, or ``count`` out of ``total``."""

    estimate: float = NAN
    lower: float = NAN
    upper: float = NAN
    count: int | None = None
    total: int | None = None


@dataclass(frozen=True)
class Row:
    """A per-arm line of an endpoint's table, e.g. "adjusted geometric mean" -> {arm: Value}."""

    label: str
    values: dict[str, Value]


@dataclass(frozen=True)
class Effect:
    """A comparison of treatment with reference: estimate, CI and p-value.

    ``null`` is the value of no effect (1 for a ratio, 0 for a difference), None for a test
    without an estimate (log-rank); ``log_scale`` draws it on a log axis; ``note`` says why an
    estimate is missing (e.g. a monotone likelihood).
    """

    label: str
    estimate: float
    lower: float
    upper: float
    p_value: float
    null: float | None = 1.0
    log_scale: bool = True
    note: str | None = None


@dataclass(frozen=True)
class Summary:
    """What every report shows of one comparison; the first effect is the endpoint's main one."""

    rows: tuple[Row, ...]
    effects: tuple[Effect, ...] = ()


@dataclass(frozen=True)
class Batched:
    """A method's batched twin: ``fit(endpoint, data) -> BatchTest`` for many trials at once,
    equal trial by trial to the single fit's ``test`` and ``estimate`` (what reports call them).

    ``lacks`` are plan keys the single method uses that the twin cannot (e.g. Cox ``strata``): an
    endpoint setting one is not powered, rather than fitted without it. ``higher_is_better``: the
    treatment's benefit is a positive estimate (more responders), not a negative one.
    """

    fit: Callable[[Endpoint, Any], BatchTest]
    test: str
    estimate: str
    lacks: tuple[str, ...] = ()
    higher_is_better: bool = False


@dataclass(frozen=True)
class Method:
    """One registered method (see the module docstring).

    ``requires``/``uses`` are the optional plan keys (:class:`~lupustrial.analysis.plan.Endpoint`)
    the method must have / may have; ``positive`` says values are analysed on the log scale, so
    the data layer refuses a value <= 0; ``title`` describes the method in reports.
    ``descriptive``: it compares nothing (no test); ``batch``: its batched twin, if any.
    """

    name: str
    reads: DataKind
    fit: Callable[[Endpoint, Any], Any]
    summarise: Callable[[Any], Summary]
    title: str
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    positive: bool = False
    descriptive: bool = False
    batch: Batched | None = None


def _mean(m: ArmMean) -> Value:
    return Value(m.geometric_mean, m.lower, m.upper)


def _n_row(means: tuple[ArmMean, ...], label: str = "n analysed") -> Row:
    return Row(label, {m.arm: Value(count=m.n) for m in means})


def _conf(conf_level: float) -> str:
    return f"{round(conf_level * 100)}% CI"


def _categorical(data: EndpointData) -> dict[str, np.ndarray]:
    """The plan's factors as labels: a numeric ADSL column (SITEID 701) is a factor too, not a
    continuous covariate, in the models that take either (logistic, counts, MMRM)."""
    return {name: np.asarray(values, dtype=object) for name, values in data.factors.items()}


# --- visit values on the log scale: ANCOVA and geometric means ---------------------------------

@dataclass(frozen=True)
class LogAncova:
    """The log-value ANCOVA with the analysed subjects' baseline geometric means beside it."""

    ancova: AncovaResult
    baseline_geometric_means: tuple[ArmMean, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.ancova.to_dict(), "baseline_geometric_means": [asdict(m) for m in self.baseline_geometric_means]}


def _with_baseline(data: VisitData) -> np.ndarray:
    """Records that have a baseline: an ANCOVA adjusted for it cannot use the others."""
    return np.isfinite(data.baseline)


def fit_ancova_log(endpoint: Endpoint, data: VisitData) -> LogAncova:
    keep = _with_baseline(data)
    if not keep.any():
        raise AnalysisError(f"no {endpoint.param} record at AVISITN {endpoint.week:g} has a baseline (BASE)")
    arms = (data.treatment, data.reference)
    fit = ancova_gmr(data.value[keep], data.baseline[keep], data.arm[keep], treatment=data.treatment,
                     reference=data.reference, factors={f: v[keep] for f, v in data.factors.items()} or None,
                     conf_level=data.conf_level)
    return LogAncova(fit, geometric_means(data.baseline[keep], data.arm[keep], arms, data.conf_level))


def summarise_ancova_log(result: LogAncova) -> Summary:
    a = result.ancova
    conf = _conf(a.conf_level)
    return Summary(
        rows=(_n_row(a.adjusted),
              Row(f"baseline geometric mean ({conf})", {m.arm: _mean(m) for m in result.baseline_geometric_means}),
              Row(f"adjusted geometric mean ({conf})", {m.arm: _mean(m) for m in a.adjusted})),
        effects=(Effect("ratio of adjusted geometric means", a.ratio, a.ratio_lower, a.ratio_upper, a.p_value),
                 Effect("greater reduction from baseline (%)", a.percent_reduction, a.percent_reduction_lower,
                        a.percent_reduction_upper, a.p_value, null=0.0, log_scale=False)))


def batch_ancova_log(endpoint: Endpoint, data: VisitBatch) -> BatchTest:
    analysed = data.mask & np.isfinite(data.value) & np.isfinite(data.baseline)
    fit = ancova_gmr_batch(data.value, data.baseline, data.treated, factors=data.factors, mask=analysed)
    return BatchTest(fit.p_value, fit.log_ratio, sigma=fit.sigma)


@dataclass(frozen=True)
class GeometricMeans:
    """Per-arm geometric means with t intervals (a descriptive summary, no comparison)."""

    conf_level: float
    means: tuple[ArmMean, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"conf_level": self.conf_level, "geometric_means": [asdict(m) for m in self.means]}


def fit_geometric_mean(endpoint: Endpoint, data: VisitData) -> GeometricMeans:
    arms = (data.treatment, data.reference)
    return GeometricMeans(data.conf_level, geometric_means(data.value, data.arm, arms, data.conf_level))


def summarise_geometric_mean(result: GeometricMeans) -> Summary:
    label = f"geometric mean ({_conf(result.conf_level)})"
    return Summary(rows=(_n_row(result.means), Row(label, {m.arm: _mean(m) for m in result.means})))


# --- visit values on their own scale: ANCOVA --------------------------------------------------

def fit_ancova(endpoint: Endpoint, data: VisitData) -> AncovaRawResult:
    keep = _with_baseline(data)
    if not keep.any():
        raise AnalysisError(f"no {endpoint.param} record at AVISITN {endpoint.week:g} has a baseline (BASE)")
    return ancova(data.value[keep], data.baseline[keep], data.arm[keep], treatment=data.treatment,
                  reference=data.reference, factors={f: v[keep] for f, v in data.factors.items()} or None,
                  conf_level=data.conf_level)


def summarise_ancova(result: AncovaRawResult) -> Summary:
    return Summary(
        rows=(Row("n analysed", {m.arm: Value(count=m.n) for m in result.adjusted}),
              Row(f"adjusted mean ({_conf(result.conf_level)})",
                  {m.arm: Value(m.mean, m.lower, m.upper) for m in result.adjusted})),
        effects=(Effect("difference in adjusted means", result.difference, result.difference_lower,
                        result.difference_upper, result.p_value, null=0.0, log_scale=False),))


def batch_ancova(endpoint: Endpoint, data: VisitBatch) -> BatchTest:
    analysed = data.mask & np.isfinite(data.value) & np.isfinite(data.baseline)
    fit = ancova_batch(data.value, data.baseline, data.treated, factors=data.factors, mask=analysed)
    return BatchTest(fit.p_value, fit.difference, sigma=fit.sigma)


# --- time to event: Kaplan-Meier, log-rank, Cox ------------------------------------------------

@dataclass(frozen=True)
class ArmSurvival:
    """Per-arm summary of a time-to-event endpoint.

    ``surv_at_horizon`` and its CI are the Kaplan-Meier estimate at the endpoint's week, NaN
    when there is no week or it lies beyond the arm's last observed time (a value carried
    forward past the follow-up would describe no one).
    """

    n: int
    events: int
    median_days: float
    median_lower: float
    median_upper: float
    surv_at_horizon: float
    surv_lower: float
    surv_upper: float
    last_time_days: float


@dataclass(frozen=True)
class TimeToEvent:
    """Kaplan-Meier per arm and, as the method asks, the log-rank test and Cox fits."""

    horizon_days: float | None
    arms: dict[str, ArmSurvival]
    km: dict[str, KaplanMeier]
    logrank: LogRank | None = None
    cox: CoxResult | None = None
    cox_firth: CoxResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon_days": self.horizon_days,
            "arms": {arm: asdict(s) for arm, s in self.arms.items()},
            "km": {arm: fit.to_dict() for arm, fit in self.km.items()},
            **{k: None if getattr(self, k) is None else getattr(self, k).to_dict()
               for k in ("logrank", "cox", "cox_firth")},
        }


def _arm_survival(fit: KaplanMeier, horizon: float | None, n: int, events: int) -> ArmSurvival:
    med = fit.median()
    inside = horizon is not None and horizon <= fit.time[-1]
    at = fit.at([horizon]) if inside else None
    return ArmSurvival(n=n, events=events, median_days=med.estimate, median_lower=med.lower, median_upper=med.upper,
                       surv_at_horizon=float(at.surv[0]) if at else NAN, surv_lower=float(at.lower[0]) if at else NAN,
                       surv_upper=float(at.upper[0]) if at else NAN, last_time_days=float(fit.time[-1]))


def _kaplan_meier(data: TimeToEventData) -> tuple[dict[str, KaplanMeier], dict[str, ArmSurvival]]:
    km, arms = {}, {}
    for a in (data.treatment, data.reference):
        mine = data.arm == a
        if not mine.any():
            raise AnalysisError(f"arm {a!r} has no subject with a record")
        km[a] = kaplan_meier(data.time[mine], data.event[mine], conf_level=data.conf_level)
        arms[a] = _arm_survival(km[a], data.horizon_days, int(mine.sum()), int(data.event[mine].sum()))
    return km, arms


def _cox_design(data: TimeToEventData) -> tuple[np.ndarray, list[str]]:
    """Treatment indicator first, then treatment-contrast columns of each factor (R's order)."""
    columns, names = [(data.arm == data.treatment).astype(float)], [f"{data.treatment} vs {data.reference}"]
    for name, values in data.factors.items():
        labels = np.asarray([str(v) for v in values])
        for level in sorted(set(labels.tolist()))[1:]:
            columns.append((labels == level).astype(float))
            names.append(f"{name}{level}")
    return np.column_stack(columns), names


def fit_km(endpoint: Endpoint, data: TimeToEventData) -> TimeToEvent:
    km, arms = _kaplan_meier(data)
    return TimeToEvent(data.horizon_days, arms, km)


def fit_logrank(endpoint: Endpoint, data: TimeToEventData) -> TimeToEvent:
    km, arms = _kaplan_meier(data)
    return TimeToEvent(data.horizon_days, arms, km, logrank(data.time, data.event, data.arm, strata=data.strata))


def fit_cox(endpoint: Endpoint, data: TimeToEventData) -> TimeToEvent:
    km, arms = _kaplan_meier(data)
    x, names = _cox_design(data)
    common = {"ties": endpoint.ties, "strata": data.strata, "conf_level": data.conf_level, "names": names}
    return TimeToEvent(data.horizon_days, arms, km, logrank(data.time, data.event, data.arm, strata=data.strata),
                       cox(data.time, data.event, x, **common),
                       cox(data.time, data.event, x, firth=True, **common) if endpoint.firth else None)


def batch_cox(endpoint: Endpoint, data: TimeToEventBatch) -> BatchTest:
    """The ML fit's likelihood-ratio test (Firth's fit, reported beside it, is not the test):
    unlike Wald's, it stays valid when the likelihood is monotone, as small trials often meet."""
    fit = cox_batch(data.time, data.event, data.treated, mask=data.mask, ties=endpoint.ties)
    return BatchTest(fit.lr_p_value, fit.coef, events=fit.n_events, monotone=fit.monotone)


def batch_logrank(endpoint: Endpoint, data: TimeToEventBatch) -> BatchTest:
    """The log-rank test, with Peto's one-step log hazard ratio (O − E)/V of the treatment arm."""
    fit = logrank_batch(data.time, data.event, data.treated, mask=data.mask)
    return BatchTest(fit.p_value, (fit.observed - fit.expected) / fit.variance,
                     events=np.where(data.mask, data.event, 0.0).sum(axis=1))


def _hazard_ratio(fit: CoxResult, label: str) -> Effect:
    if fit.monotone and not fit.firth and fit.names[0] in fit.monotone_names:
        return Effect(label, NAN, NAN, NAN, NAN, note=fit.message)
    return Effect(label, float(fit.hazard_ratio[0]), float(fit.ci_lower[0]), float(fit.ci_upper[0]),
                  float(fit.p_value[0]))


def summarise_time_to_event(result: TimeToEvent) -> Summary:
    arms = result.arms
    rows = [Row("subjects with an event", {a: Value(count=s.events, total=s.n) for a, s in arms.items()}),
            Row("median time to event, days (95% CI)",
                {a: Value(s.median_days, s.median_lower, s.median_upper) for a, s in arms.items()})]
    if result.horizon_days is not None:
        rows.append(Row(f"event-free at day {result.horizon_days:g}, Kaplan-Meier (95% CI)",
                        {a: Value(s.surv_at_horizon, s.surv_lower, s.surv_upper) for a, s in arms.items()}))
    effects = []
    if result.cox is not None:
        effects.append(_hazard_ratio(result.cox, f"hazard ratio (Cox, {result.cox.ties} ties)"))
    if result.cox_firth is not None:
        effects.append(_hazard_ratio(result.cox_firth, "hazard ratio (Firth, profile CI)"))
    if result.logrank is not None:
        effects.append(Effect("log-rank test", NAN, NAN, NAN, result.logrank.p_value, null=None))
    return Summary(tuple(rows), tuple(effects))


# --- responders: logistic odds ratio, risk difference, CMH --------------------------------------

def fit_responder(endpoint: Endpoint, data: ResponderData) -> ResponderResult:
    return responder(data.response, data.arm, treatment=data.treatment, reference=data.reference,
                     covariates=_categorical(data) or None, strata=data.strata, conf_level=data.conf_level)


def batch_responder(endpoint: Endpoint, data: ResponderBatch) -> BatchTest:
    """The logistic Wald test (the CMH, reported beside it across strata, is not the test)."""
    analysed = data.mask & np.isfinite(data.response)
    fit = logistic_batch(data.response, data.treated, factors=data.factors, mask=analysed)
    return BatchTest(fit.p_value, fit.log_ratio, control_rate=fit.control_rate, treatment_rate=fit.treatment_rate)


def summarise_responder(result: ResponderResult) -> Summary:
    if result.message is not None:
        effects = [Effect("odds ratio (logistic)", NAN, NAN, NAN, NAN, note=result.message)]
    else:
        effects = [Effect("odds ratio (logistic, Wald CI)", result.odds_ratio, result.odds_ratio_lower,
                          result.odds_ratio_upper, result.p_value),
                   Effect("odds ratio (logistic, profile-likelihood CI)", result.odds_ratio, result.profile_lower,
                          result.profile_upper, NAN)]
    effects.append(Effect("difference in proportions responding (Miettinen-Nurminen CI)", result.risk_difference,
                          result.risk_difference_lower, result.risk_difference_upper, NAN, null=0.0,
                          log_scale=False))
    if result.cmh is not None:
        c = result.cmh
        effects.append(Effect(f"odds ratio (Cochran-Mantel-Haenszel, {c.strata} strata)", c.odds_ratio, c.lower,
                              c.upper, c.p_value))
    arms = {a.arm: a for a in result.arms if a.arm in (result.treatment, result.reference)}
    return Summary(rows=(Row("responders", {a: Value(count=r.responders, total=r.n) for a, r in arms.items()}),
                         Row("responders (%)", {a: Value(100 * r.proportion) for a, r in arms.items()})),
                   effects=tuple(effects))


# --- event counts over follow-up: negative binomial and Poisson rates --------------------------

def _count_arrays(data: CountData) -> tuple[np.ndarray, dict[str, Any]]:
    """Follow-up in years and the arguments every count model takes; a subject without positive
    follow-up is named (the model would only give its row number)."""
    short = np.flatnonzero(~(data.exposure_days > 0))
    if short.size:
        i = int(short[0])
        raise AnalysisError(f"subject {data.usubjid[i]} has follow-up {data.exposure_days[i]:g} days: "
                            "a count needs a positive exposure")
    return data.exposure_days / DAYS_PER_YEAR, {
        "treatment": data.treatment, "reference": data.reference, "covariates": _categorical(data) or None,
        "conf_level": data.conf_level}


def fit_negative_binomial(endpoint: Endpoint, data: CountData) -> CountResult:
    years, common = _count_arrays(data)
    return negative_binomial(data.count, years, data.arm, **common)


def fit_poisson(endpoint: Endpoint, data: CountData) -> CountResult:
    years, common = _count_arrays(data)
    return poisson(data.count, years, data.arm, **common)


def _rate_test(fit: GlmBatchResult) -> BatchTest:
    with np.errstate(divide="ignore"):  # theta 0: infinite dispersion, as the single fit's
        dispersion = None if fit.theta is None else 1 / fit.theta
    return BatchTest(fit.p_value, fit.log_ratio, control_rate=fit.control_rate, treatment_rate=fit.treatment_rate,
                     exposure=fit.exposure, dispersion=dispersion)


def batch_negative_binomial(endpoint: Endpoint, data: CountBatch) -> BatchTest:
    return _rate_test(rate_ratio_batch(data.count, data.exposure_years, data.treated, model="negative_binomial",
                                       factors=data.factors, mask=data.mask))


def batch_poisson(endpoint: Endpoint, data: CountBatch) -> BatchTest:
    return _rate_test(rate_ratio_batch(data.count, data.exposure_years, data.treated, model="poisson",
                                       factors=data.factors, mask=data.mask))


def summarise_rates(result: CountResult) -> Summary:
    conf = _conf(result.conf_level)
    model = "negative binomial" if result.model == "negative_binomial" else "Poisson"
    arms = {a.arm: a for a in result.arms if a.arm in (result.treatment, result.reference)}
    return Summary(
        rows=(Row("n analysed", {a: Value(count=r.n) for a, r in arms.items()}),
              Row("events", {a: Value(count=r.events) for a, r in arms.items()}),
              Row("patient-years", {a: Value(r.exposure_years) for a, r in arms.items()}),
              Row(f"events per patient-year, {model} ({conf})",
                  {a: Value(r.rate, r.rate_lower, r.rate_upper) for a, r in arms.items()})),
        effects=(Effect(f"rate ratio ({model})", result.rate_ratio, result.rate_ratio_lower,
                        result.rate_ratio_upper, result.p_value),))


# --- repeated visits: MMRM ---------------------------------------------------------------------

def fit_mmrm(endpoint: Endpoint, data: RepeatedData) -> MmrmResult:
    """Adjusted for baseline when the data have one: rows without it are left out, as in the
    ANCOVA; with no BASE at all, the model has no baseline term."""
    keep = np.isfinite(data.baseline)
    adjust = keep.any()
    if not adjust:
        keep = np.ones_like(keep)
    return mmrm(data.value[keep], data.usubjid[keep], data.visit[keep], data.arm[keep], treatment=data.treatment,
                reference=data.reference, baseline=data.baseline[keep] if adjust else None,
                covariates={f: v[keep] for f, v in _categorical(data).items()} or None, conf_level=data.conf_level)


def summarise_mmrm(result: MmrmResult) -> Summary:
    conf = _conf(result.conf_level)
    arms = (result.treatment, result.reference)
    means = {(m.visit, m.arm): m for m in result.means}
    last = result.visits[-1]
    rows = [Row(f"n at week {last}", {a: Value(count=means[(last, a)].n) for a in arms})]
    rows += [Row(f"adjusted mean at week {v} ({conf})",
                 {a: Value(means[(v, a)].mean, means[(v, a)].lower, means[(v, a)].upper) for a in arms})
             for v in result.visits]
    effects = [Effect(f"difference at week {d.visit}", d.difference, d.lower, d.upper, d.p_value, null=0.0,
                      log_scale=False) for d in (result.differences[-1], *result.differences[:-1])]
    return Summary(tuple(rows), tuple(effects))


#: The registration point: every method a plan may name (``analysis:``), by name.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("ancova_log", "visit", fit_ancova_log, summarise_ancova_log,
           "ANCOVA of log values adjusted for log baseline: adjusted geometric means and their ratio",
           requires=("week",), uses=("factors",), positive=True,
           batch=Batched(batch_ancova_log, "t test", "log GMR")),
    Method("geometric_mean", "visit", fit_geometric_mean, summarise_geometric_mean,
           "geometric mean per arm with t interval", requires=("week",), positive=True, descriptive=True),
    Method("cox", "time_to_event", fit_cox, summarise_time_to_event,
           "Kaplan-Meier per arm, log-rank test and Cox proportional hazards",
           uses=("week", "ties", "firth", "factors", "strata"),
           batch=Batched(batch_cox, "likelihood-ratio test", "log HR", lacks=("factors", "strata"))),
    Method("logrank", "time_to_event", fit_logrank, summarise_time_to_event,
           "Kaplan-Meier per arm and log-rank test", uses=("week", "strata"),
           batch=Batched(batch_logrank, "log-rank test", "log HR (Peto)", lacks=("strata",))),
    Method("km", "time_to_event", fit_km, summarise_time_to_event, "Kaplan-Meier per arm", uses=("week",),
           descriptive=True),
    Method("ancova", "visit", fit_ancova, summarise_ancova,
           "ANCOVA adjusted for baseline: adjusted means and their difference", requires=("week",), uses=("factors",),
           batch=Batched(batch_ancova, "t test", "difference")),
    Method("responder", "responder", fit_responder, summarise_responder,
           "responders: logistic odds ratio, risk difference and, across strata, Cochran-Mantel-Haenszel",
           requires=("week",), uses=("factors", "strata"),
           batch=Batched(batch_responder, "Wald test (logistic)", "log OR", higher_is_better=True)),
    Method("negative_binomial", "count", fit_negative_binomial, summarise_rates,
           "negative binomial regression: annualised event rates and their ratio", uses=("exposure", "factors"),
           batch=Batched(batch_negative_binomial, "Wald test (negative binomial)", "log rate ratio")),
    Method("poisson", "count", fit_poisson, summarise_rates,
           "Poisson regression: annualised event rates and their ratio", uses=("exposure", "factors"),
           batch=Batched(batch_poisson, "Wald test (Poisson)", "log rate ratio")),
    Method("mmrm", "repeated", fit_mmrm, summarise_mmrm,
           "mixed model for repeated measures (unstructured covariance, REML): adjusted means and differences "
           "per visit", requires=("week",), uses=("factors",)),
)}
