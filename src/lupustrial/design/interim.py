"""Interim looks in the simulator: every virtual trial's data cut at the calendar day a look's
condition is met, and analysed there with the plan's batched method.

Calendar (days from the opening of enrolment): a patient is randomised on ``entry`` = first
rituximab infusion + the randomisation delay; an event falls on entry + its day (ADTTE's AVAL);
the patient is observed until entry + follow-up, or withdrawal. A look is met when (``Look.by``)

- ``events``: ceil(at × max_events) first events of the endpoint have happened;
- ``patients``: ceil(at × n) patients have reached the endpoint's visit (the end of follow-up
  for a time-to-event endpoint); withdrawn patients never reach it;
- ``calendar``: ``at`` weeks have passed.

A look whose condition is never met happens when the last patient's observation ends, and is
then the trial's final analysis (tested at the last critical value); looks never go back in time.

At a cut on day D the trial holds the patients randomised before D, each observed until D: the
Cox endpoint is censored at D and tested by the Cox score test at β = 0 (``cox_batch``; the
log-rank test, Breslow ties; R's ``coxph`` score test with Efron's), the statistic whose
increments group-sequential theory and rpact's simulation assume, and which stays defined when
the likelihood is monotone; the ANCOVA uses the patients whose visit fell on or before D
(``ancova_gmr_batch``, t test). The look's z statistic is the two-sided p-value on the normal
scale, positive when the estimate (log HR, log GMR) favours the first arm.

Sample-size re-estimation (``interim.sample_size_reestimation``): at the last interim look a trial
in the promising zone of conditional power grows its final information, up to ``max_factor``,
to reach the target conditional power; enrolment grows in proportion (later patients of the
same simulated trial, their calendar shifted to start at the interim if enrolment had
closed), and the final test is Cui–Hung–Wang's weighted statistic, which keeps the type I error.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from scipy import special, stats

from lupustrial.analysis.batch import TimeToEventBatch, ancova_gmr_batch, cox_batch
from lupustrial.design.endpoints import simulated_data
from lupustrial.design.sequential import GroupSequentialDesign, group_sequential_design
from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Endpoint, Interim, Protocol
from lupustrial.simulate.trial import DAYS_PER_MONTH, TrialArrays

#: The analyses a look can make: the Cox score test and the ANCOVA of log values (see above).
LOOK_ANALYSES = ("cox", "ancova_log")
#: Statistics of each look, arrays (sizes, looks, trials).
LOOK_STATISTICS = ("z", "estimate", "information", "randomised", "day")
#: Statistics of a trial's sample-size re-estimation, arrays (sizes, trials).
SSR_STATISTICS = ("ssr_factor", "ssr_patients")


@dataclass(frozen=True)
class Timeline:
    """Calendar and endpoint data of every patient, arrays (trials, patients) in enrolment order.

    Days count from the opening of enrolment. Cox endpoints fill ``time`` and ``event`` (days
    from randomisation, ADTTE's AVAL and 1 − CNSR); ANCOVA endpoints ``y`` (nan: no visit),
    ``base``, ``factors`` and ``visit`` (days from randomisation to the endpoint's visit).
    ``follow_up`` is the protocol's observation after randomisation, days.
    """

    enrol: np.ndarray
    entry: np.ndarray
    end: np.ndarray
    withdrawn: np.ndarray
    treated: np.ndarray
    follow_up: float
    time: np.ndarray | None = None
    event: np.ndarray | None = None
    y: np.ndarray | None = None
    base: np.ndarray | None = None
    factors: dict[str, np.ndarray] | None = None
    visit: float = np.nan
    ties: str = "efron"

    @property
    def is_cox(self) -> bool:
        return self.time is not None

    @classmethod
    def from_arrays(cls, protocol: Protocol, arrays: TrialArrays, endpoint: Endpoint) -> Timeline:
        """The timeline of simulated trials for ``endpoint`` (one of :data:`LOOK_ANALYSES`)."""
        entry = arrays.enrol_day + arrays.rand_day
        data = simulated_data(arrays, endpoint)
        common = {"enrol": arrays.enrol_day, "entry": entry, "end": entry + arrays.end_day,
                  "withdrawn": arrays.withdrawn, "treated": data.treated, "follow_up": protocol.follow_up_weeks * 7}
        if isinstance(data, TimeToEventBatch):
            return cls(**common, time=data.time, event=data.event.astype(bool), ties=endpoint.ties)
        return cls(**common, y=data.value, base=data.baseline, factors=data.factors, visit=endpoint.week * 7)

    def patients(self, index: np.ndarray) -> Timeline:
        """The patients ``index`` (trials, m) of each trial (take along the patient axis)."""
        take = lambda a: None if a is None else np.take_along_axis(a, index, axis=1)  # noqa: E731
        factors = None if self.factors is None else {k: take(v) for k, v in self.factors.items()}
        return replace(self, enrol=take(self.enrol), entry=take(self.entry), end=take(self.end),
                       withdrawn=take(self.withdrawn), treated=take(self.treated), time=take(self.time),
                       event=take(self.event), y=take(self.y), base=take(self.base), factors=factors)

    def first(self, n: int) -> Timeline:
        """The first ``n`` patients of every trial (common random numbers: a trial of size n)."""
        return self.patients(np.broadcast_to(np.arange(n), (self.entry.shape[0], n)))

    def shifted(self, days: np.ndarray, from_patient: int) -> Timeline:
        """Patients ``from_patient`` on enrol ``days`` (trials,) later (enrolment reopened)."""
        shift = np.where(np.arange(self.entry.shape[1]) >= from_patient, days[:, None], 0.0)
        return replace(self, enrol=self.enrol + shift, entry=self.entry + shift, end=self.end + shift)

    def truncated(self, n: np.ndarray) -> Timeline:
        """Each trial's first ``n`` (trials,) patients; the others are never randomised."""
        out = np.arange(self.entry.shape[1]) >= n[:, None]
        return replace(self, entry=np.where(out, np.inf, self.entry), end=np.where(out, -np.inf, self.end),
                       withdrawn=self.withdrawn | out, event=None if self.event is None else self.event & ~out,
                       y=None if self.y is None else np.where(out, np.nan, self.y))

    def event_days(self) -> np.ndarray:
        """Calendar day of each patient's event (inf: none)."""
        return np.where(self.event, self.entry + self.time, np.inf)

    def reach_days(self) -> np.ndarray:
        """Calendar day each patient reaches the endpoint's visit (inf: never, withdrawn)."""
        if self.is_cox:
            return np.where(self.withdrawn, np.inf, self.entry + self.follow_up)
        return np.where(np.isfinite(self.y), self.entry + self.visit, np.inf)


def _kth(days: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """The k-th smallest day (1-based; per trial if ``k`` is an array) of each trial, inf if fewer."""
    ordered = np.sort(days, axis=1)
    k = np.broadcast_to(np.asarray(k), (days.shape[0],))
    inside = (k >= 1) & (k <= days.shape[1])
    picked = np.take_along_axis(ordered, np.clip(k - 1, 0, days.shape[1] - 1)[:, None], axis=1)[:, 0]
    return np.where(inside, picked, np.inf)


def look_days(timeline: Timeline, interim: Interim, max_events: np.ndarray | None = None,
              patients: np.ndarray | None = None) -> np.ndarray:
    """(looks, trials) calendar day of each look of a trial of the timeline's patients.

    ``max_events`` and ``patients`` (trials,) override ``interim.max_events`` and the number of
    patients (a re-estimated trial's).
    """
    last = timeline.end.max(axis=1)  # the last patient's observation ends
    events = interim.max_events if max_events is None else max_events
    n = timeline.entry.shape[1] if patients is None else patients
    days = []
    for look in interim.looks:
        if look.by == "events":
            day = _kth(timeline.event_days(), np.ceil(look.at * np.asarray(events) - 1e-9).astype(int))
        elif look.by == "patients":
            day = _kth(timeline.reach_days(), np.ceil(look.at * np.asarray(n) - 1e-9).astype(int))
        else:
            day = np.full(len(last), look.at * 7)
        days.append(np.minimum(day, last))
    return np.maximum.accumulate(np.array(days), axis=0)


def _z(p_value: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """The two-sided p-value on the normal scale, positive when the estimate favours the first arm
    (a negative log HR or log GMR); nan when not estimable."""
    return -np.sign(estimate) * special.ndtri(1 - p_value / 2)


def analyse(timeline: Timeline, day: np.ndarray) -> dict[str, np.ndarray]:
    """The endpoint's analysis of every trial cut on ``day`` (trials,): z, estimate (log HR or log
    GMR), information (events or patients analysed) and patients randomised by then."""
    follow = day[:, None] - timeline.entry
    randomised = (follow >= 0).sum(axis=1)
    if timeline.is_cox:
        mask = follow > 0
        time = np.where(mask, np.minimum(timeline.time, follow), 1.0)
        event = mask & timeline.event & (timeline.time <= follow)
        fit = cox_batch(time, event.astype(float), timeline.treated, mask=mask, ties=timeline.ties)
        return {"z": _z(fit.score_p_value, fit.coef), "estimate": fit.coef, "information": event.sum(axis=1),
                "randomised": randomised}
    mask = (follow >= timeline.visit) & np.isfinite(timeline.y)
    fit = ancova_gmr_batch(np.where(mask, timeline.y, 1.0), timeline.base, timeline.treated,
                           factors=timeline.factors or {}, mask=mask)
    return {"z": _z(fit.p_value, fit.log_ratio), "estimate": fit.log_ratio, "information": mask.sum(axis=1),
            "randomised": randomised}


@lru_cache(maxsize=16)
def _design(interim_json: str) -> GroupSequentialDesign:
    interim = Interim.model_validate_json(interim_json)
    return group_sequential_design([look.rate for look in interim.looks], interim.alpha, interim.beta, interim.sided,
                                   interim.type_of_design, gamma_a=interim.gamma_a,
                                   futility_bounds=interim.futility_bounds,
                                   binding_futility=interim.binding_futility,
                                   type_beta_spending=interim.type_beta_spending, gamma_b=interim.gamma_b)


def interim_design(interim: Interim) -> GroupSequentialDesign:
    """The boundaries of the protocol's looks (computed once per process and design); an infeasible
    design is refused naming the ``interim`` key."""
    try:
        return _design(interim.model_dump_json())
    except ValueError as exc:
        raise ProtocolError(f"key interim: {exc}") from None


def conditional_power(z: np.ndarray, rate: float, critical: float) -> np.ndarray:
    """Conditional power under the current trend at an interim with statistic ``z`` at information
    rate ``rate``: the probability that the final test (at ``critical``) rejects, the drift (at
    information rate 1) estimated as z/√rate, later interims ignored."""
    drift = z / np.sqrt(rate)
    return stats.norm.sf((critical - np.sqrt(rate) * z) / np.sqrt(1 - rate) - drift * np.sqrt(1 - rate))


def calendar_months(days: np.ndarray) -> np.ndarray:
    """Calendar days as months (the unit of enrolment rates and of rpact's times)."""
    return days / DAYS_PER_MONTH


def look_statistics(timeline: Timeline, interim: Interim, sizes: list[int]) -> dict[str, np.ndarray]:
    """Every look of the first n patients of each trial, for each n in ``sizes``: arrays
    (sizes, looks, trials) of :data:`LOOK_STATISTICS`, and with re-estimation (sizes, trials) of
    :data:`SSR_STATISTICS` (the factor on the final information and the patients enrolled)."""
    k_max, n_trials = len(interim.looks), timeline.entry.shape[0]
    out = {k: np.full((len(sizes), k_max, n_trials), np.nan) for k in LOOK_STATISTICS}
    ssr = {k: np.full((len(sizes), n_trials), np.nan) for k in SSR_STATISTICS}
    for i, n in enumerate(sizes):
        trial = timeline.first(n)
        days = look_days(trial, interim)
        for k in range(k_max):
            for key, value in {**analyse(trial, days[k]), "day": days[k]}.items():
                out[key][i, k] = value
        if interim.sample_size_reestimation is not None:
            final, ssr["ssr_factor"][i], ssr["ssr_patients"][i] = _reestimated(
                timeline, interim, n, {key: out[key][i, -2] for key in LOOK_STATISTICS})
            for key, value in final.items():
                out[key][i, -1] = value
    return out | (ssr if interim.sample_size_reestimation is not None else {})


def _reestimated(timeline: Timeline, interim: Interim, n: int,
                 last_interim: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The final look of trials of size n that may grow at their last interim look: (its
    statistics, the factor on the final information, the patients enrolled).

    In the promising zone of conditional power (current trend) the final information grows to
    reach the target conditional power of the CHW test, at most ``max_factor`` times; the final
    z is Cui–Hung–Wang's √t z_interim + √(1 − t) z_increment with t the planned rate, the
    increment's z from the information (events or patients) gained since the interim.
    """
    rule = interim.sample_size_reestimation
    design = interim_design(interim)
    t, critical = design.information_rates[-2], design.critical_values[-1]
    z = last_interim["z"]
    cp = conditional_power(z, t, critical)
    drift = z / np.sqrt(t)
    # CHW: reject if √t z + √(1 − t) z_increment >= c, z_increment ~ N(drift √(I − t), 1): the
    # conditional power reaches the target at I = t + ((c − √t z)/√(1 − t) + z_target)² / drift².
    shortfall = np.maximum((critical - np.sqrt(t) * z) / np.sqrt(1 - t) + stats.norm.ppf(rule.conditional_power), 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        wanted = np.where(drift > 0, t + (shortfall / drift) ** 2, np.inf)
    promising = (cp >= rule.promising[0]) & (cp < rule.promising[1])
    factor = np.where(promising, np.clip(wanted, 1.0, rule.max_factor), 1.0)
    width = min(timeline.entry.shape[1], int(np.ceil(n * rule.max_factor)))
    patients = np.minimum(np.ceil(factor * n - 1e-9), width).astype(int)
    grown = timeline.first(width)
    reopen = np.maximum(last_interim["day"] - grown.enrol[:, n - 1], 0.0)  # enrolment had closed: reopen now
    grown = grown.shifted(reopen, n).truncated(patients)
    events = None if interim.max_events is None else factor * interim.max_events
    day = np.maximum(look_days(grown, interim, events, patients)[-1], last_interim["day"])
    final = analyse(grown, day)
    gained = final["information"] - last_interim["information"]
    with np.errstate(divide="ignore", invalid="ignore"):
        increment = (np.sqrt(final["information"]) * final["z"] - np.sqrt(last_interim["information"]) * z) \
            / np.sqrt(gained)
    final["z"] = np.where(gained > 0, np.sqrt(t) * z + np.sqrt(1 - t) * increment, z)
    return final | {"day": day}, factor, patients.astype(float)


def interim_endpoint(protocol: Protocol) -> tuple[str, Endpoint]:
    """(YAML key, endpoint) tested at the looks: ``interim.endpoint``'s, else the primary."""
    keyed = protocol.plan().keyed()
    wanted = protocol.interim.endpoint if protocol.interim is not None else None
    return next((k, e) for k, e in keyed if wanted is None or e.param == wanted)


def trial_end_weeks(protocol: Protocol, n: int) -> float:
    """Expected calendar week at which the last of ``n`` patients ends follow-up: enrolment at the
    protocol's rate, the latest randomisation, then follow-up."""
    enrolment = n / protocol.enrolment.rate_per_month * DAYS_PER_MONTH / 7
    return enrolment + protocol.randomisation.window_weeks[1] + protocol.follow_up_weeks


def check_interim(protocol: Protocol, n_max: int) -> None:
    """Refuse, naming the key, looks the simulator cannot make: by events of an endpoint without
    events, or a calendar look after the expected end of a trial of ``n_max`` patients."""
    interim = protocol.interim
    if interim is None:
        return
    key, endpoint = interim_endpoint(protocol)
    if endpoint.analysis not in LOOK_ANALYSES:
        raise ProtocolError(f"key interim.endpoint: the looks analyse {' or '.join(LOOK_ANALYSES)} endpoints; "
                            f"{endpoint.param} is analysed by {endpoint.analysis} ({key})")
    if endpoint.analysis == "cox" and endpoint.factors:
        raise ProtocolError(f"key {key}.factors: the design's Cox model (cox_batch) has the treatment as its only "
                            "covariate; remove the factors or test another endpoint at the looks")
    end = trial_end_weeks(protocol, n_max)
    for k, look in enumerate(interim.looks):
        if look.by == "events" and endpoint.analysis != "cox":
            raise ProtocolError(f"key interim.looks[{k}].by: {endpoint.param} ({endpoint.analysis}) has no events; "
                                "look by patients or calendar")
        if look.by == "calendar" and look.at > end:
            raise ProtocolError(f"key interim.looks[{k}].at: week {look.at:g} is after the end of follow-up "
                                f"(week {end:.0f} expected with {n_max} patients)")
    interim_design(interim)


def null_protocol(protocol: Protocol) -> Protocol:
    """The protocol under the null: the first arm without its study drug (as the second)."""
    arms = [protocol.arms[0].model_copy(update={"dosing": []}), *protocol.arms[1:]]
    return protocol.model_copy(update={"arms": arms})


def simulated_width(protocol: Protocol, sizes: list[int]) -> int:
    """Patients to simulate per trial: the largest size, times the re-estimation's ``max_factor``
    (a trial that grows enrols the next patients of the same simulated trial)."""
    rule = protocol.interim.sample_size_reestimation if protocol.interim is not None else None
    return max(sizes) if rule is None else int(np.ceil(max(sizes) * rule.max_factor))


#: Spawn key of the exponential cross-check's streams: (trial, this, size), apart from the
#: simulator's (trial, purpose) keys (lupustrial.simulate.streams.Purpose).
EXPONENTIAL_STREAM = 1_000_016


def exponential_timeline(trials: range, n: int, *, seed: int, accrual: float, lambda2: float, hazard_ratio: float,
                         ratio: float = 1.0, dropout_hazard: float = 0.0, follow_up: float = np.inf,
                         delay: float = 0.0) -> Timeline:
    """Trials of ``n`` patients with exponential event times, as rpact's ``getPowerSurvival`` assumes:
    randomisation uniform over [delay, delay + accrual] (days), ``round(n·ratio/(1 + ratio))`` on the
    first arm (hazard ``hazard_ratio``·``lambda2`` per day), exponential dropout, observation capped
    at ``follow_up`` days. Trial t's draws depend on (seed, t, n) only."""
    entry, time, event, end, treated = (np.zeros((len(trials), n)) for _ in range(5))
    n_treated = round(n * ratio / (1 + ratio))
    for i, t in enumerate(trials):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(t, EXPONENTIAL_STREAM, n)))
        entry[i] = delay + np.sort(rng.uniform(0.0, accrual, n))
        treated[i] = rng.permutation(np.arange(n) < n_treated)
        onset = rng.exponential(1.0, n) / (lambda2 * np.where(treated[i] == 1, hazard_ratio, 1.0))
        observed = np.minimum(rng.exponential(1.0, n) / dropout_hazard if dropout_hazard > 0 else np.inf, follow_up)
        event[i], time[i], end[i] = onset <= observed, np.minimum(onset, observed), entry[i] + observed
    return Timeline(enrol=entry - delay, entry=entry, end=end, withdrawn=end - entry < follow_up, treated=treated,
                    follow_up=follow_up, time=time, event=event.astype(bool))
