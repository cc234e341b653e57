"""Virtual trials run as the protocol says, written as the ADaM data a real trial hands over.

For each trial: draw patients, enrol them over calendar time, give rituximab, randomise 4–8
weeks later, dose by arm, integrate the model, measure labs at visits with assay error, draw
severe flares from the model's hazard, draw adverse events and withdrawal, and write ADSL,
ADLB, ADTTE and ADAE. Every random draw comes from a stream keyed by (seed, trial, purpose)
(:mod:`.streams`), so a trial is identical whatever the chunk of trials it is simulated with.

Conventions (also in the README): day 0 of the model is the first rituximab infusion;
ADaM study days and AVISITN weeks count from randomisation (first study-drug infusion); the
pre-rituximab baseline sample is AVISITN -1 ("Pre-rituximab baseline") when the protocol's
baseline is ``pre_rituximab``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from lupustrial.model.parameters import ModelParameters, default_parameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import Population, virtual_population
from lupustrial.protocol.dosing import protocol_dosing
from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Protocol
from lupustrial.randomise import assign, parse_arms, permuted_blocks_batch
from lupustrial.randomise.minimisation import minimise
from lupustrial.simulate.activity import Assessments, CourseDraws, clinical_course, flare_width
from lupustrial.simulate.events import event_times
from lupustrial.simulate.records import (
    RESPONDERS,
    UNSCHEDULED,
    Table,
    adflare,
    adqs,
    adrs,
    responses,
    stack,
    study_day,
    table,
    yes_no,
)
from lupustrial.simulate.labs import measure
from lupustrial.simulate.settings import ClinicalSettings, SimulationSettings
from lupustrial.simulate.streams import Purpose, stream

DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25
PRE_RITUXIMAB_VISIT = -1.0

#: ADLB parameter -> (model output, factor to the lab's unit, label).
LAB_OUTPUTS: dict[str, tuple[str, float, str]] = {
    "DSDNA": ("anti_dsdna_iu_ml", 1.0, "IgG anti-dsDNA antibody"),
    "CD19": ("cd19_cells_ul", 1e-3, "CD19+ B cells"),  # 1 cell/µL = 10^-3 × 10^9/L
    "BAFF": ("baff_ng_ml", 1.0, "Serum free BAFF (BLyS)"),
    "NAIVEB": ("naive_cells_ul", 1e-3, "Naive B cells (CD19+CD27-IgD+)"),
    "MEMB": ("memory_cells_ul", 1e-3, "Memory B cells (CD19+CD27+)"),
}
#: Record order within a dataset (USUBJID begins with the trial number); ADQS and ADRS are built
#: in their order ((USUBJID, AVISITN, PARAMCD) and (USUBJID, PARAMCD, AVISITN)).
SORT = {"adlb": ["USUBJID", "PARAMCD", "AVISITN"], "adtte": ["USUBJID", "PARAMCD"], "adae": ["USUBJID", "ASTDY"],
        "adflare": ["USUBJID", "PARAMCD", "EVENTNUM"]}
SEVERE_FLARE = ("TTSEVFL", "Time to first severe (BILAG-2004 A) flare (days)")
ANY_FLARE = ("TTMODFL", "Time to first moderate or severe (BILAG-2004 B or A) flare (days)")


@dataclass(frozen=True)
class _Trial:
    """One trial's draws before the model runs: who, when, which arm, when they withdraw."""

    index: int
    population: Population
    arm: np.ndarray  # arm names
    enrol_day: np.ndarray  # days from study start to first rituximab infusion
    rand_day: np.ndarray  # days from first rituximab infusion to randomisation
    end_day: np.ndarray  # days of observation after randomisation (follow-up or withdrawal)
    withdrawn: np.ndarray
    factors: dict[str, np.ndarray]


def check_protocol(protocol: Protocol) -> None:
    """Refuse, naming the key, a protocol asking for what the model or simulator cannot give."""
    for name in protocol.labs:
        if name not in LAB_OUTPUTS:
            raise ProtocolError(f"key labs.{name}: the model has no such measurement (it has {', '.join(LAB_OUTPUTS)})")
    for ep in protocol.endpoints:
        if ep.method.reads == "time_to_event" and ep.param not in (SEVERE_FLARE[0], ANY_FLARE[0]):
            raise ProtocolError(f"endpoint {ep.name!r}: the simulator derives {SEVERE_FLARE[0]} and "
                                f"{ANY_FLARE[0]}, not {ep.param}")
    covariates = set(virtual_population(1, 0).covariates)
    for name, factor in protocol.population.factors.items():
        if factor.covariate not in covariates:
            raise ProtocolError(
                f"key population.factors.{name}.covariate: unknown covariate {factor.covariate!r} "
                f"(one of {', '.join(sorted(covariates))})"
            )


def _randomise(protocol: Protocol, t: int, seed: int, factors: dict[str, np.ndarray], n: int) -> np.ndarray:
    if len(protocol.arms) == 1:  # a cohort: everyone gets the one arm, nothing is drawn
        return np.full(n, protocol.arms[0].name, dtype=object)
    rand = protocol.randomisation
    arms = parse_arms(rand.ratio)
    child = np.random.SeedSequence(seed, spawn_key=(t, int(Purpose.RANDOMISATION)))
    levels = {f: protocol.population.factors[f].levels for f in rand.stratify_by}
    subjects = pd.DataFrame({f: factors[f] for f in rand.stratify_by}, index=range(n))
    if rand.method == "minimisation" and levels:
        return minimise(subjects, arms, factors=levels, seed=child, p=rand.minimisation_p)["ARM"].to_numpy()
    if levels:
        return assign(subjects, arms, strata_levels=levels, block_sizes=rand.block_sizes, seed=child)["ARM"].to_numpy()
    codes = permuted_blocks_batch(arms, block_sizes=rand.block_sizes, n=n, seeds=[child])[0]
    return np.asarray(arms.names, dtype=object)[codes]


def _draw_trial(protocol: Protocol, t: int, seed: int, params: ModelParameters) -> _Trial:
    n = protocol.population.n_patients
    pop_seed = int(stream(seed, t, Purpose.POPULATION).integers(2**62))
    population = virtual_population(n, pop_seed, params)
    factors = {
        name: f.classify(population.covariates[f.covariate]) for name, f in protocol.population.factors.items()
    }
    rng = stream(seed, t, Purpose.ENROLMENT)
    enrol = np.round(np.cumsum(rng.exponential(DAYS_PER_MONTH / protocol.enrolment.rate_per_month, n)))
    lo, hi = (round(w * 7) for w in protocol.randomisation.window_weeks)
    rand_day = rng.integers(lo, hi + 1, n).astype(float)
    follow = protocol.follow_up_weeks * 7
    rate = protocol.dropout.rate_per_year
    drop = stream(seed, t, Purpose.DROPOUT).exponential(1.0, n) * (DAYS_PER_YEAR / rate if rate > 0 else np.inf)
    withdrawn = drop < follow
    end = np.where(withdrawn, np.maximum(np.floor(drop), 1.0), follow)
    arm = _randomise(protocol, t, seed, factors, n)
    return _Trial(t, population, arm, enrol, rand_day, end, withdrawn, factors)


def _concat(populations: list[Population]) -> Population:
    first = populations[0]
    return Population(
        params=first.params,
        covariates={k: np.concatenate([p.covariates[k] for p in populations]) for k in first.covariates},
        eta={k: np.concatenate([p.eta[k] for p in populations]) for k in first.eta},
        theta=np.concatenate([p.theta for p in populations], axis=1),
    )


def _visit_label(week: float) -> str:
    if np.isnan(week):
        return UNSCHEDULED
    if week == PRE_RITUXIMAB_VISIT:
        return "Pre-rituximab baseline"
    return "Baseline" if week == 0 else f"Week {week:g}"


def _visit_labels(weeks: np.ndarray) -> np.ndarray:
    """AVISIT of each AVISITN (nan: an unscheduled visit)."""
    return np.array([_visit_label(w) for w in weeks], dtype=object)


@dataclass(frozen=True)
class _Outcomes:
    """What one trial's patients show after randomisation, before any record is written.

    Both outputs (ADaM frames and design arrays) are built from this, so they cannot disagree.
    """

    severe: np.ndarray  # (n, max_flares) days after randomisation, nan when not observed
    severe_expected: np.ndarray  # (n,) cumulative severe-flare hazard over each patient's observed time
    moderate: np.ndarray
    lab_weeks: np.ndarray  # (V,) AVISITN, the pre-rituximab sample first when the baseline is that
    lab_days: np.ndarray  # (n, V) days from randomisation
    labs: dict[str, tuple[np.ndarray, np.ndarray]]  # PARAMCD -> (value, below LLOQ), (n, V) each
    course: Assessments | None  # every clinical assessment, scheduled and at flares (None: not simulated)

    @property
    def first_any(self) -> np.ndarray:
        return np.fmin(self.severe[:, 0], self.moderate[:, 0])

    def first(self, param: str) -> np.ndarray:
        """Day of the first event of an ADTTE parameter (nan when none was observed)."""
        return self.severe[:, 0] if param == SEVERE_FLARE[0] else self.first_any

    def observed(self, trial: _Trial) -> np.ndarray:
        """(n, V): the lab sample was taken (its day falls before the end of observation)."""
        return self.lab_days <= trial.end_day[:, None]

    @property
    def after_baseline(self) -> np.ndarray:
        """(V,) the scheduled visits after the baseline: those the responders are decided at."""
        return self.lab_weeks > self.lab_weeks[0]


def _outcomes(protocol: Protocol, trial: _Trial, out: dict[str, np.ndarray], grid: np.ndarray, seed: int,
              settings: SimulationSettings) -> _Outcomes:
    """Flares and measured labs of one trial from its draws and model outputs (patients × grid)."""
    n = len(trial.arm)
    t = trial.index
    rows = np.arange(n)
    rand_idx = trial.rand_day.astype(int)

    # Flares: events of the model's cumulative hazard counted from randomisation; moderate
    # flares follow the same hazard scaled by an assumed ratio (SimulationSettings).
    cumhaz = out["cumulative_flare_hazard"]
    rel = np.maximum(cumhaz - cumhaz[rows, rand_idx][:, None], 0.0)
    flare_rng = stream(seed, t, Purpose.FLARES)
    severe = _observed_events(grid, rel, flare_rng.exponential(1.0, (n, settings.max_flares)), trial)
    severe_expected = rel[rows, (trial.rand_day + trial.end_day).astype(int)]
    moderate = _observed_events(grid, rel * settings.moderate_to_severe,
                                flare_rng.exponential(1.0, (n, settings.max_flares)), trial)

    # Labs: the pre-rituximab baseline (if the protocol uses it) then each visit.
    weeks = np.asarray(protocol.visits_weeks, dtype=float)
    visit_day = weeks * 7  # days from randomisation
    pre = protocol.baseline == "pre_rituximab"
    lab_rng = stream(seed, t, Purpose.LABS)
    labs = {}
    for param, lab in protocol.labs.items():
        name, factor, _ = LAB_OUTPUTS[param]
        series = out[name] * factor
        at_visits = series[rows[:, None], rand_idx[:, None] + visit_day.astype(int)[None, :]]
        labs[param] = measure(np.column_stack([series[:, 0], at_visits]) if pre else at_visits, lab, lab_rng)
    all_weeks = np.concatenate([[PRE_RITUXIMAB_VISIT], weeks]) if pre else weeks
    all_days = np.column_stack([-trial.rand_day, np.broadcast_to(visit_day, (n, len(weeks)))]) if pre \
        else np.broadcast_to(visit_day, (n, len(weeks)))
    return _Outcomes(severe, severe_expected, moderate, all_weeks, all_days, labs, None)


def _with_courses(protocol: Protocol, batch: list[tuple[_Trial, _Outcomes]], out: dict[str, np.ndarray], seed: int,
                  settings: SimulationSettings) -> list[_Outcomes]:
    """The outcomes of a batch of trials with their clinical courses, computed at once on their
    patients stacked as the model integrated them (``out``, (patients, T)); each trial's from its
    own draws (:class:`CourseDraws`), so the same whichever trials it is batched with."""
    outcomes = [o for _, o in batch]
    if settings.clinical is None:
        return outcomes
    draws = []
    for d, o in batch:
        k = flare_width(o.severe, o.moderate)
        draws.append(CourseDraws.draw(stream(seed, d.index, Purpose.CLINICAL), len(d.arm), k, len(o.lab_weeks) + k))
    params = batch[0][0].population.params  # a batch shares one parameter set
    course, severe, moderate = clinical_course(
        out, np.concatenate([d.rand_day for d, _ in batch]),
        (np.concatenate([o.severe for o in outcomes]), np.concatenate([o.moderate for o in outcomes])),
        (np.concatenate([o.lab_days for o in outcomes]), outcomes[0].lab_weeks),
        (params["resolution_rate"], params["resolution_drive_power"]), protocol.steroids, settings.clinical,
        CourseDraws.concat(draws))
    done, lo = [], 0
    for d, o in batch:
        sl = slice(lo, lo + len(d.arm))
        lo = sl.stop
        done.append(replace(o, course=course.rows(sl), severe=severe[sl], moderate=moderate[sl]))
    return done


def _trial_frames(protocol: Protocol, trial: _Trial, outcomes: _Outcomes, seed: int,
                  settings: SimulationSettings) -> dict[str, Table]:
    """ADSL, ADLB, ADTTE and ADAE of one trial from its draws and outcomes (the clinical datasets
    are built for a chunk of trials at once: :func:`_clinical`)."""
    n = len(trial.arm)
    t = trial.index
    ids = np.array([f"{protocol.name.upper()}-{t + 1:05d}-{i + 1:03d}" for i in range(n)], dtype=object)
    start = pd.Timestamp(settings.study_start)
    rtx_date = start + pd.to_timedelta(trial.enrol_day, unit="D")
    rand_date = rtx_date + pd.to_timedelta(trial.rand_day, unit="D")
    cov = trial.population.covariates
    severe, moderate = outcomes.severe, outcomes.moderate

    adsl = table({
        "TRIALID": t + 1,
        "STUDYID": protocol.name.upper(),
        "USUBJID": ids,
        "TRT01P": trial.arm,
        "TRT01A": trial.arm,
        "RTXSDT": rtx_date,
        "RANDDT": rand_date,
        "TRTSDT": rand_date,
        "TRTEDT": rand_date + pd.to_timedelta(trial.end_day - 1, unit="D"),
        "TRTDURD": trial.end_day,
        "AGE": np.floor(cov["age_years"]),
        "SEX": cov["sex"],
        "WEIGHTBL": np.round(cov["weight_kg"], 1),
        **{name: values for name, values in trial.factors.items()},
        "ITTFL": "Y",
        "SAFFL": "Y",
        "EOSSTT": np.where(trial.withdrawn, "DISCONTINUED", "COMPLETED"),
        "SEVFLN": np.isfinite(severe).sum(axis=1),
        "MODFLN": np.isfinite(moderate).sum(axis=1),
    }, n)

    adtte = stack([_tte(param, outcomes.first(param[0]), ids, rand_date, trial, t)
                    for param in (SEVERE_FLARE, ANY_FLARE)])

    all_weeks, all_days = outcomes.lab_weeks, outcomes.lab_days
    pi, vi = np.nonzero(outcomes.observed(trial))
    labels = _visit_labels(all_weeks)
    frames = []
    for param, lab in protocol.labs.items():
        value, blq = outcomes.labs[param]
        frames.append(table({
            "TRIALID": t + 1,
            "USUBJID": ids[pi],
            "PARAMCD": param,
            "PARAM": LAB_OUTPUTS[param][2],
            "AVAL": value[pi, vi],
            "AVALU": lab.unit,
            "ADY": study_day(all_days[pi, vi]),
            "AVISIT": labels[vi],
            "AVISITN": all_weeks[vi],
            "BASE": value[pi, 0],
            "ABLFL": yes_no(vi == 0),
            "BLQFL": yes_no(blq[pi, vi]),
        }, pi.size))
    adlb = stack(frames)

    adae = _adverse_events(trial, ids, rand_date, stream(seed, t, Purpose.ADVERSE_EVENTS), settings)
    return {"adsl": adsl, "adlb": adlb, "adtte": adtte, "adae": adae}


def _observed_events(grid: np.ndarray, cumhaz: np.ndarray, gaps: np.ndarray, trial: _Trial) -> np.ndarray:
    """Event days after randomisation (patients × events), nan where not observed."""
    times = event_times(grid, cumhaz, gaps) - trial.rand_day[:, None]
    return np.where(times <= trial.end_day[:, None], times, np.nan)


def _event_or_end(first: np.ndarray, trial: _Trial) -> tuple[np.ndarray, np.ndarray]:
    """(AVAL, event): whole days to the first event (at least 1), or to the end of observation."""
    event = np.isfinite(first)
    return np.where(event, np.maximum(np.ceil(np.nan_to_num(first)), 1.0), trial.end_day), event


def _tte(param: tuple[str, str], first: np.ndarray, ids: np.ndarray, rand_date: pd.DatetimeIndex,
         trial: _Trial, t: int) -> Table:
    """ADTTE records: whole days to the first event, or to the end of observation (censored)."""
    aval, event = _event_or_end(first, trial)
    return table({
        "TRIALID": t + 1,
        "USUBJID": ids,
        "PARAMCD": param[0],
        "PARAM": param[1],
        "AVAL": aval,
        "CNSR": np.where(event, 0, 1),
        "STARTDT": rand_date,
        "ADT": rand_date + pd.to_timedelta(aval, unit="D"),
        "EVNTDESC": np.where(event, "FLARE", None),
        "CNSDTDSC": np.where(event, None, np.where(trial.withdrawn, "WITHDRAWAL", "END OF FOLLOW-UP")),
    }, len(ids))


def _adverse_events(trial: _Trial, ids: np.ndarray, rand_date: pd.DatetimeIndex, rng: np.random.Generator,
                    settings: SimulationSettings) -> Table:
    """Each term a Poisson process over the patient's observed time, drawn term by term."""
    years = trial.end_day / DAYS_PER_YEAR
    frames = []
    for term in settings.adverse_events:
        ratio = np.array([term.rate_ratio.get(a, 1.0) for a in trial.arm])
        counts = rng.poisson(term.rate_per_year * ratio * years)
        pi = np.repeat(np.arange(len(ids)), counts)
        day = np.floor(rng.random(pi.size) * trial.end_day[pi]) + 1
        serious = rng.random(pi.size) < term.p_serious
        severe = rng.random(pi.size) < term.p_severe
        moderate = rng.random(pi.size) < 0.5
        frames.append(table({
            "TRIALID": trial.index + 1,
            "USUBJID": ids[pi],
            "AEDECOD": term.term,
            "AEBODSYS": term.body_system,
            "AESER": yes_no(serious),
            "AESEV": np.where(severe, "SEVERE", np.where(moderate, "MODERATE", "MILD")),
            "ASTDY": day,
            "ASTDT": rand_date[pi] + pd.to_timedelta(day - 1, unit="D"),
        }, pi.size))
    return stack(frames)


ParameterSets = ModelParameters | Sequence[ModelParameters] | None

#: Patients integrated together, at most (unless one trial is larger): the model returns every
#: state daily, ~40 kB per patient, and arrays far beyond the caches slowed a power sweep 2-3 fold.
MODEL_BATCH = 512


def _batches(draws: list[_Trial]) -> Iterator[list[_Trial]]:
    """Consecutive trials in groups of at most MODEL_BATCH patients (one trial at least)."""
    batch: list[_Trial] = []
    size = 0
    for d in draws:
        if batch and size + len(d.arm) > MODEL_BATCH:
            yield batch
            batch, size = [], 0
        batch.append(d)
        size += len(d.arm)
    if batch:
        yield batch


def _simulated(protocol: Protocol, trials: Sequence[int], seed: int, params: ParameterSets,
               settings: SimulationSettings) -> list[tuple[_Trial, _Outcomes]]:
    """Draws and outcomes of trials ``trials``, in that order.

    ``params`` may be a sequence of K parameter sets (e.g. posterior draws): trial t uses set
    t mod K, so a trial's data depend on its index only, never on the chunk it is run in. The
    patients of all trials sharing a set are integrated together.
    """
    check_protocol(protocol)
    sets = [params] if isinstance(params, ModelParameters) else list(params or [default_parameters()])
    if not sets:
        raise ValueError("give at least one parameter set")
    # The grid depends on the protocol only, never on the draws of the trials in this chunk.
    grid = np.arange(0.0, round(protocol.randomisation.window_weeks[1] * 7) + protocol.follow_up_weeks * 7 + 1.0)
    done: dict[int, tuple[_Trial, _Outcomes]] = {}
    for which, set_k in enumerate(sets):
        draws = [_draw_trial(protocol, t, seed, set_k) for t in trials if t % len(sets) == which]
        for batch in _batches(draws):
            population = _concat([d.population for d in batch])
            rand_day = np.concatenate([d.rand_day for d in batch])
            last = rand_day + np.concatenate([d.end_day for d in batch])
            dosing = protocol_dosing(protocol, population.covariates["weight_kg"],
                                     np.concatenate([d.arm for d in batch]), rand_day, last)
            outputs = simulate(population, dosing, grid).outputs()
            lo, pairs = 0, []
            for d in batch:
                sl = slice(lo, lo + len(d.arm))
                lo = sl.stop
                pairs.append((d, _outcomes(protocol, d, {k: v[sl] for k, v in outputs.items()}, grid, seed, settings)))
            done |= {d.index: (d, o) for d, o in zip(batch, _with_courses(protocol, pairs, outputs, seed, settings))}
    return [done[t] for t in trials]


def simulate_chunk(protocol: Protocol, trials: Sequence[int], seed: int, params: ParameterSets = None,
                   settings: SimulationSettings | None = None, *, compact: bool = False) -> dict[str, pd.DataFrame]:
    """ADaM datasets of trials ``trials`` (indices from 0), patients of all trials integrated together.

    ``compact`` leaves ADQS's and ADRS's USUBJID categorical: a worker process's chunk then travels to the
    parent as codes, not 40 strings per assessment (:func:`lupustrial.simulate.run.run_trials`
    turns it back into text once the chunks are joined).
    """
    settings = settings or SimulationSettings()
    done = _simulated(protocol, trials, seed, params, settings)
    tables = [_trial_frames(protocol, d, o, seed, settings) for d, o in done]
    # The arrays are new and owned by nobody else: no copy (copying was a third of the chunk's time).
    frames = {k: pd.DataFrame(stack([t[k] for t in tables]), copy=False) for k in tables[0]}
    if settings.clinical is not None:
        frames |= {k: pd.DataFrame(v, copy=False) for k, v in _clinical(done, tables, settings.clinical, compact).items()}
    for k, order in SORT.items():
        if k in frames:
            frames[k] = frames[k].sort_values(order, kind="stable", ignore_index=True)
    return frames


def _clinical(done: list[tuple[_Trial, _Outcomes]], tables: list[dict[str, Table]], clinical: ClinicalSettings,
              compact: bool) -> dict[str, dict[str, object]]:
    """ADQS, ADRS and ADFLARE of a chunk of trials, each built once for all of them: every trial's
    observed assessments, as one course padded to the widest trial."""
    course = Assessments.concat([o.course for _, o in done])
    end = np.concatenate([d.end_day for d, _ in done])
    trial_ids = np.concatenate([np.full(len(d.arm), d.index + 1) for d, _ in done])
    ids = np.concatenate([t["adsl"]["USUBJID"] for t in tables])
    weeks, after = done[0][1].lab_weeks, done[0][1].after_baseline
    labels = _visit_labels(weeks)
    seen = course.day <= end[:, None]  # nan slots compare False
    observed = np.concatenate([o.observed(d)[:, after] for d, o in done])
    return {"adqs": adqs(course, seen, ids, trial_ids, (weeks, labels), clinical, compact=compact),
            "adrs": adrs(course, (weeks[after], labels[after]), observed, ids, trial_ids, compact=compact),
            "adflare": adflare(course, seen, ids, trial_ids)}


@dataclass(frozen=True)
class TrialArrays:
    """Per trial and patient (trials, patients), in enrolment order: what a design's analyses need.

    The ADaM path (:func:`simulate_chunk`) is built from the same outcomes, so for the same seed
    these equal its records: ``lab_value[param]`` is AVAL at each ``lab_weeks`` (nan where ADLB
    has no record because the patient had withdrawn), ``lab_base[param]`` is BASE, and
    ``tte_time[param]`` / ``tte_event[param]`` are ADTTE's AVAL and 1 - CNSR, and
    ``factors[name]`` is ADSL's column of the population factor ``name`` (level labels).
    ``response[paramcd]`` (trials, patients, weeks) is ADRS's AVAL (1/0; nan where the patient had
    withdrawn) at each of ``response_weeks``; ``severe_count`` and ``moderate_count`` are ADSL's
    SEVFLN and MODFLN over the ``end_day`` days observed (TRTDURD).
    Calendar (for interim looks): ``enrol_day`` is the first rituximab infusion, days from the
    start of enrolment; ``rand_day`` randomisation, days after that infusion; ``end_day`` the
    days observed after randomisation (follow-up, or withdrawal when ``withdrawn``).
    """

    arm: np.ndarray  # index into protocol.arms
    withdrawn: np.ndarray
    lab_weeks: np.ndarray
    lab_value: dict[str, np.ndarray]  # (trials, patients, visits)
    lab_base: dict[str, np.ndarray]
    tte_time: dict[str, np.ndarray]
    tte_event: dict[str, np.ndarray]
    factors: dict[str, np.ndarray]
    response_weeks: np.ndarray
    response: dict[str, np.ndarray]
    severe_count: np.ndarray  # ADSL SEVFLN: severe flares observed
    moderate_count: np.ndarray  # ADSL MODFLN: moderate flares observed
    severe_expected: np.ndarray  # their expected number, the model's cumulative hazard over the observed time
    enrol_day: np.ndarray
    rand_day: np.ndarray
    end_day: np.ndarray


#: TrialArrays fields that are the same for every trial (not stacked along the trials axis).
WEEKS = ("lab_weeks", "response_weeks")


def _arrays(protocol: Protocol, done: list[tuple[_Trial, _Outcomes]]) -> TrialArrays:
    """Stack each trial's draws and outcomes along the trials axis."""
    names = [a.name for a in protocol.arms]
    lab_value, lab_base, tte_time, tte_event = {}, {}, {}, {}
    for param in protocol.labs:
        values = [np.where(o.observed(d), o.labs[param][0], np.nan) for d, o in done]
        lab_value[param] = np.stack(values)
        lab_base[param] = np.stack([o.labs[param][0][:, 0] for _, o in done])
    weeks, after = done[0][1].lab_weeks, done[0][1].after_baseline
    flags = [(responses(o.course, weeks[after]), o.observed(d)[:, after]) for d, o in done if o.course is not None]
    response = {code: np.stack([np.where(seen, r[code], np.nan) for r, seen in flags]) for code in RESPONDERS
                } if flags else {}
    for param, _ in (SEVERE_FLARE, ANY_FLARE):
        times = [_event_or_end(o.first(param), d) for d, o in done]
        tte_time[param] = np.stack([aval for aval, _ in times])
        tte_event[param] = np.stack([event for _, event in times])
    return TrialArrays(
        arm=np.stack([np.array([names.index(a) for a in d.arm]) for d, _ in done]),
        withdrawn=np.stack([d.withdrawn for d, _ in done]),
        lab_weeks=done[0][1].lab_weeks,
        lab_value=lab_value, lab_base=lab_base, tte_time=tte_time, tte_event=tte_event,
        factors={name: np.stack([d.factors[name] for d, _ in done]) for name in protocol.population.factors},
        response_weeks=weeks[after], response=response,
        severe_count=np.stack([np.isfinite(o.severe).sum(axis=1) for _, o in done]),
        moderate_count=np.stack([np.isfinite(o.moderate).sum(axis=1) for _, o in done]),
        severe_expected=np.stack([o.severe_expected for _, o in done]),
        enrol_day=np.stack([d.enrol_day for d, _ in done]),
        rand_day=np.stack([d.rand_day for d, _ in done]),
        end_day=np.stack([d.end_day for d, _ in done]),
    )


def simulate_arrays(protocol: Protocol, trials: Sequence[int], seed: int, params: ParameterSets = None,
                    settings: SimulationSettings | None = None) -> TrialArrays:
    """Trials ``trials`` as arrays, without building data frames: the fast path for power sweeps."""
    return _arrays(protocol, _simulated(protocol, trials, seed, params, settings or SimulationSettings()))


def cohort_arrays(protocol: Protocol, n: int, seed: int, params: ModelParameters,
                  settings: SimulationSettings | None = None) -> TrialArrays:
    """One virtual cohort of ``n`` patients given every arm in turn: a single "trial" of n × arms.

    Common random numbers: each arm's patients are the same virtual patients, with the same
    randomisation day, withdrawal, assay errors and flare draws (every stream is keyed by the
    one trial index), so arm contrasts carry no sampling noise between patients. Calibration
    reads population summaries from it.
    """
    settings = settings or SimulationSettings()
    check_protocol(protocol)
    sized = protocol.model_copy(update={"population": protocol.population.model_copy(update={"n_patients": n})})
    draw = _draw_trial(sized, 0, seed, params)
    grid = np.arange(0.0, round(protocol.randomisation.window_weeks[1] * 7) + protocol.follow_up_weeks * 7 + 1.0)
    done = []
    for arm in protocol.arms:
        trial = replace(draw, arm=np.full(n, arm.name, dtype=object))
        dosing = protocol_dosing(protocol, draw.population.covariates["weight_kg"], trial.arm, trial.rand_day,
                                 trial.rand_day + trial.end_day)
        outputs = simulate(draw.population, dosing, grid).outputs()
        pair = (trial, _outcomes(protocol, trial, outputs, grid, seed, settings))
        done.append((trial, _with_courses(protocol, [pair], outputs, seed, settings)[0]))
    per_arm = _arrays(protocol, done)
    return TrialArrays(**{f.name: _one_trial(getattr(per_arm, f.name)) if f.name not in WEEKS
                          else getattr(per_arm, f.name) for f in fields(TrialArrays)})


def _one_trial(value: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
    """(arms, patients, ...) arrays, or a dict of them, as (1, arms × patients, ...)."""
    if isinstance(value, dict):
        return {k: _one_trial(v) for k, v in value.items()}
    return value.reshape(1, -1, *value.shape[2:])
