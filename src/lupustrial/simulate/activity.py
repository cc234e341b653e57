"""The virtual patients' clinical course: BILAG-2004 grades, SLEDAI-2K descriptors, PGA, complement,
urine protein and prednisone at every assessment, driven by the model's state (docs/model.md,
"Clinical course").

One law links the mechanism to the clinic. The model's relative flare drive
``r(t) = h(t)/h(0) = (1 − s) + s·P(t)`` (autoreactive plasmablast output) sets both how often
domains flare and how fast active domains improve: each BILAG-2004 domain steps down a grade
(A → B → C → D) at hazard ``ρ·r(t)^−κ``, ``ρ`` being the trial population's ``resolution_rate``,
and the model's severe and moderate flare events raise one domain to A or B. So a flare is a
new BILAG-2004 A or B of a domain, and the events that the ADTTE data count are the same ones
that the visits show. Every assessment is one row of (patients × assessments) arrays; flares are
assessed on their own day (an unscheduled visit), as a trial assesses a flaring patient.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

import numpy as np
from numba import njit

from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.sledai import DESCRIPTORS, LAB_DESCRIPTOR, lab_descriptor
from lupustrial.protocol.schema import Steroids
from lupustrial.simulate.settings import ClinicalSettings

A, B, C, D, E = range(5)  # grade indices, worst first (as "ABCDE")
#: The SLEDAI-2K laboratory tests the course simulates: PARAMCD -> its Assessments field. Their
#: descriptors (proteinuria, low complement, DNA binding) are decided from these values by
#: :func:`lupustrial.indices.sledai.lab_descriptor`, as at a real site.
LABS = {"UPROT": "uprot_g_day", "C3": "c3_g_l", "C4": "c4_g_l", "DSDNA": "dsdna_iu_ml"}
ITEMS = tuple(d.code for d in DESCRIPTORS)
SEVERE, MODERATE = 1, 2  # flare kinds in the merged event arrays


def _stacked(arrays: list[np.ndarray], fill: float) -> np.ndarray:
    """Arrays (n_i, ...) stacked along the patients, their second axis (columns) padded with ``fill``
    to the widest: one array filled in place (``np.pad`` per part cost more than the rest)."""
    first = arrays[0]
    if first.ndim == 1:
        return np.concatenate(arrays)
    width = max(a.shape[1] for a in arrays)
    out = np.full((sum(len(a) for a in arrays), width, *first.shape[2:]), fill, dtype=first.dtype)
    lo = 0
    for a in arrays:
        out[lo:lo + len(a), :a.shape[1]] = a
        lo += len(a)
    return out


@dataclass(frozen=True)
class Assessments:
    """Every assessment of a trial's patients (or a chunk's: :meth:`concat`), (n, Q) unless said, in
    day order per patient.

    ``day`` is days from randomisation (model day − randomisation day; ``nan`` for unused slots),
    ``week`` AVISITN (the scheduled week; an unscheduled flare visit has nan), ``grades`` (n, Q, 9)
    BILAG-2004 grade indices 0–4 for A–E in :data:`~lupustrial.indices.bilag.DOMAINS` order,
    ``items`` (n, Q, 24) SLEDAI-2K descriptors present, in :data:`ITEMS` order; ``flare`` the flare
    kind assessed that day (0 none, 1 severe, 2 moderate) and ``flare_domain`` the index of the
    domain it raised (-1 none); labs ``c3_g_l``, ``c4_g_l``,
    ``uprot_g_day``, ``dsdna_iu_ml``; ``pga`` (0–3), ``prednisone_mg`` (mg/day) and
    ``failure`` (treatment failure by the protocol's rescue rules, on or before that day).
    """

    day: np.ndarray
    week: np.ndarray
    grades: np.ndarray
    items: np.ndarray
    flare: np.ndarray
    flare_domain: np.ndarray
    c3_g_l: np.ndarray
    c4_g_l: np.ndarray
    uprot_g_day: np.ndarray
    dsdna_iu_ml: np.ndarray
    pga: np.ndarray
    prednisone_mg: np.ndarray
    failure: np.ndarray

    @staticmethod
    def concat(courses: list[Assessments]) -> Assessments:
        """Several trials' assessments as one (patients stacked), each padded to the widest with
        unused slots (day nan)."""
        fill = {"day": np.nan, "week": np.nan, "grades": E, "items": False, "flare": 0, "flare_domain": -1,
                "failure": False}
        return Assessments(**{f.name: _stacked([getattr(c, f.name) for c in courses], fill.get(f.name, np.nan))
                              for f in fields(Assessments)})

    def take(self, p: np.ndarray, q: np.ndarray) -> Assessments:
        """Assessments (p[i], q[i]) as one row each: fields (m,) or (m, 9) / (m, 24)."""
        return Assessments(**{f.name: getattr(self, f.name)[p, q] for f in fields(Assessments)})

    def rows(self, sl: slice) -> Assessments:
        """The assessments of patients ``sl`` (e.g. one trial's out of a batch)."""
        return Assessments(**{f.name: getattr(self, f.name)[sl] for f in fields(Assessments)})

    @cached_property
    def sledai_total(self) -> np.ndarray:
        """SLEDAI-2K total (n, Q), computed once: every responder rule reads it."""
        return self.sledai()

    def sledai(self, ignore: frozenset[str] = frozenset()) -> np.ndarray:
        """SLEDAI-2K total (n, Q) without the descriptors in ``ignore`` (e.g. anti-dsDNA for
        BEAT-LUPUS's major clinical response)."""
        weights = np.array([0.0 if d.code in ignore else d.weight for d in DESCRIPTORS])
        return self.items @ weights


def lab_limits(settings: ClinicalSettings) -> dict[str, tuple[float | None, float | None]]:
    """Each simulated test's (lower, upper) limit of normal, as its records carry them (ANRLO, ANRHI)."""
    return {"UPROT": (None, None), "C3": (settings.c3_lln, None), "C4": (settings.c4_lln, None),
            "DSDNA": (None, settings.dsdna_uln)}


@dataclass(frozen=True)
class CourseDraws:
    """A trial's random numbers for its clinical course, (n, ...) per patient, drawn from the trial's
    own stream in one fixed order (:meth:`draw`): so a trial's course is the same whichever trials
    it is computed with, and several trials' courses are computed at once (:meth:`concat`).

    ``K`` is the trial's flare columns (:func:`flare_width`), ``Q`` its assessment columns (the
    scheduled visits and ``K``).
    """

    baseline: np.ndarray  # (n, 9) uniforms: each domain's baseline grade
    gaps: np.ndarray  # (n, 9, 3) unit exponentials: the baseline episodes' steps down
    flare_u: np.ndarray  # (n, K) uniforms: the domain each flare raises
    flare_gaps: np.ndarray  # (n, K, 3) unit exponentials: that episode's steps down
    c3: np.ndarray  # (n,) normal deviates: the patient's complement levels
    c4: np.ndarray
    c3_noise: np.ndarray  # (n, Q) normal deviates: each assessment's variation
    c4_noise: np.ndarray
    uprot: np.ndarray
    prednisone: np.ndarray  # (n,): the baseline dose
    pga: np.ndarray  # (n, Q): the assessor's variation

    @staticmethod
    def draw(rng: np.random.Generator, n: int, k: int, q: int) -> CourseDraws:
        """The draws of ``n`` patients with ``k`` flare and ``q`` assessment columns, in the stream's order."""
        baseline, gaps = rng.random((n, len(DOMAINS))), rng.exponential(1.0, (n, len(DOMAINS), 3))
        flare_u, flare_gaps = np.empty((n, k)), np.empty((n, k, 3))
        for j in range(k):
            flare_u[:, j], flare_gaps[:, j] = rng.random(n), rng.exponential(1.0, (n, 3))
        c3, c4 = rng.standard_normal(n), rng.standard_normal(n)
        noise = [rng.standard_normal((n, q)) for _ in range(3)]
        prednisone = rng.standard_normal(n)
        return CourseDraws(baseline, gaps, flare_u, flare_gaps, c3, c4, *noise, prednisone, rng.standard_normal((n, q)))

    @staticmethod
    def concat(draws: list[CourseDraws]) -> CourseDraws:
        """Several trials' draws stacked, the flare and assessment columns padded with values never read
        (the baseline draws (n, 9, ·) all have the domains' width)."""
        return CourseDraws(**{f.name: _stacked([getattr(d, f.name) for d in draws], 0.0) for f in fields(CourseDraws)})


def flare_width(severe: np.ndarray, moderate: np.ndarray) -> int:
    """Flare columns (K) of patients with these severe and moderate flare days (n, ·): the most
    flares of any patient, at least 1."""
    return max(int((np.isfinite(severe).sum(axis=1) + np.isfinite(moderate).sum(axis=1)).max(initial=0)), 1)


def _lab_items(values: dict[str, np.ndarray], settings: ClinicalSettings) -> dict[str, np.ndarray]:
    """Descriptor code -> present (n, Q): any of its simulated tests beyond its limit."""
    out: dict[str, np.ndarray] = {}
    for code, field in LABS.items():
        lo, hi = lab_limits(settings)[code]
        hit = lab_descriptor(code, values[field], lower_limit=lo, upper_limit=hi)
        out[LAB_DESCRIPTOR[code]] = out.get(LAB_DESCRIPTOR[code], False) | hit
    return out


def _at(cum: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of ``cum`` (n, T) on the daily grid 0..T−1 at model days ``t`` (n, ...)."""
    n, span = cum.shape
    tt = np.clip(np.nan_to_num(t, nan=0.0), 0.0, span - 1.0)
    lo = np.minimum(tt.astype(int), span - 2)
    rows = np.arange(n).reshape((n,) + (1,) * (t.ndim - 1))
    return cum[rows, lo] + (tt - lo) * (cum[rows, lo + 1] - cum[rows, lo])


@njit(cache=True, nogil=True, error_model="numpy")
def _grades_at(start: np.ndarray, grade: np.ndarray, steps: np.ndarray, t: np.ndarray,
               res: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled; equal to its numpy form in tests
    """:meth:`_Episodes.grades_at`, compiled: it runs once per flare column and once per batch, on
    (patients × domains × episodes × assessments), where numpy's temporaries dominated the course.
    ``res`` is read at ``t`` as :func:`_at` reads it (nan as day 0, clipped to the grid)."""
    n, n_dom, n_ep = start.shape
    out = np.empty((n, n_dom, t.shape[1]), dtype=grade.dtype)
    span = res.shape[1]
    for p in range(n):
        for q in range(t.shape[1]):
            tq = t[p, q]
            tt = min(max(0.0 if np.isnan(tq) else tq, 0.0), span - 1.0)
            lo = min(int(tt), span - 2)
            passed = res[p, lo] + (tt - lo) * (res[p, lo + 1] - res[p, lo])
            for d in range(n_dom):
                k = 0  # the baseline episode when none has started (or t is nan)
                for j in range(n_ep):
                    if start[p, d, j] <= tq:
                        k = j
                g = grade[p, d, k]
                if g == E:
                    out[p, d, q] = E
                    continue
                done = 0
                for m in range(steps.shape[3]):
                    if steps[p, d, k, m] <= passed:
                        done += 1
                out[p, d, q] = min(g + done, D)
    return out


@dataclass
class _Episodes:
    """Each domain's episodes of activity: where each starts (model day), its grade and the
    cumulative resolution hazard at which it steps down each of three grades, (n, 9, K)."""

    start: np.ndarray
    grade: np.ndarray
    steps: np.ndarray  # (n, 9, K, 3)

    def grades_at(self, t: np.ndarray, res: np.ndarray) -> np.ndarray:
        """Grades (n, 9, Q) at model days ``t`` (n, Q): the latest episode started by then, stepped
        down once per threshold its cumulative resolution hazard has passed (never below D)."""
        return _grades_at(self.start, self.grade, self.steps, t, res)

    def add(self, k: int, rows: np.ndarray, domain: np.ndarray, day: np.ndarray, grade: int,
            res: np.ndarray, gaps: np.ndarray) -> None:
        """Start episode ``k`` of ``domain`` at ``day`` for patients ``rows``."""
        self.start[rows, domain, k] = day
        self.grade[rows, domain, k] = grade
        self.steps[rows, domain, k] = _at(res[rows], day[:, None])[:, 0, None] + np.cumsum(gaps, axis=1)


def _baseline(u: np.ndarray, settings: ClinicalSettings) -> np.ndarray:
    """(n, 9) grade indices at the baseline assessment, drawn per domain from its table row by
    uniforms ``u`` (n, 9)."""
    probs = np.array([[dom.baseline[g] for g in "ABCD"] for dom in settings.domains.values()])  # (9, 4)
    cum = np.cumsum(probs, axis=1)
    return (u[:, :, None] >= cum[None, :, :]).sum(axis=2)  # 4 (E) past the last cumulative share


def _flares(severe: np.ndarray, moderate: np.ndarray,
            rand_day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All flare events as (model day, kind), (n, K) sorted by day, nan / 0 where none, and the
    order (n, K) that sorted them out of the severe events followed by the moderate ones.

    A flare is assessed on the whole day it falls in (days after randomisation rounded down,
    study day = ADTTE's AVAL), at the scheduled visit if that is the day."""
    days = np.floor(np.concatenate([severe, moderate], axis=1)) + rand_day[:, None]
    kind = np.concatenate([np.full(severe.shape, SEVERE), np.full(moderate.shape, MODERATE)], axis=1)
    order = np.argsort(np.where(np.isnan(days), np.inf, days), axis=1, kind="stable")
    days, kind = np.take_along_axis(days, order, 1), np.take_along_axis(kind, order, 1)
    kind = np.where(np.isnan(days), 0, kind)
    width = flare_width(severe, moderate)
    return days[:, :width], kind[:, :width], order[:, :width]


def _choose(eligible: np.ndarray, weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index of the domain each row picks among its eligible ones, in proportion to ``weights``
    (-1 where none is eligible): (n, 9) mask, (9,) weights, (n,) uniforms."""
    w = np.cumsum(eligible * weights[None, :], axis=1)
    total = w[:, -1]
    pick = (w <= (u * total)[:, None]).sum(axis=1)
    return np.where(total > 0, np.minimum(pick, len(weights) - 1), -1)


def _episodes(baseline: np.ndarray, start_day: np.ndarray, flares: tuple[np.ndarray, np.ndarray, np.ndarray],
              visits: np.ndarray, res: np.ndarray, settings: ClinicalSettings,
              draws: CourseDraws) -> tuple[_Episodes, np.ndarray]:
    """Baseline activity, then each flare in day order raising one domain to A (severe) or B;
    also the domain (n, K) each flare raised, -1 for a flare not taken: a second one on the same
    day (a trial records one flare a day) and one of a patient with no domain left to flare.

    A flare can only be new at its domain (BILAG-2004: an A from B–E, a B from C–E at the
    previous assessment), so the domain is drawn among those below the flare's grade at the
    assessment before it (the last scheduled visit or the last flare), weighted by each domain's
    share of flares.
    """
    n, n_dom = baseline.shape
    days, kind, _ = flares
    k_max = days.shape[1] + 1
    ep = _Episodes(np.full((n, n_dom, k_max), np.nan), np.full((n, n_dom, k_max), E),
                   np.full((n, n_dom, k_max, 3), np.inf))
    all_rows = np.arange(n)
    gaps = draws.gaps
    ep.start[:, :, 0] = start_day[:, None]
    ep.grade[:, :, 0] = baseline
    ep.steps[:, :, 0] = _at(res, start_day[:, None])[:, :, None] + np.cumsum(gaps, axis=2)
    ep.steps[:, :, 0] = np.where((baseline == E)[:, :, None], np.inf, ep.steps[:, :, 0])
    weights = np.array([dom.flare_share for dom in settings.domains.values()])
    previous = np.full(n, -np.inf)
    raised = np.full(days.shape, -1)
    for k in range(days.shape[1]):
        u, gap = draws.flare_u[:, k], draws.flare_gaps[:, k]
        live = kind[:, k] > 0
        last_visit = np.where(visits < days[:, k:k + 1], visits, -np.inf).max(axis=1)
        before = np.fmax(np.fmax(last_visit, previous), start_day)
        grades = ep.grades_at(before[:, None], res)[:, :, 0]  # (n, 9)
        target = np.where(kind[:, k] == SEVERE, A, B)
        domain = _choose(grades > target[:, None], weights, u)
        ok = live & (domain >= 0) & (days[:, k] != previous)  # one flare a day
        raised[:, k] = np.where(ok, domain, -1)
        for grade in (A, B):
            rows = all_rows[ok & (target == grade)]
            ep.add(k + 1, rows, domain[rows], days[rows, k], grade, res, gap[rows])
        previous = np.where(ok, days[:, k], previous)
    return ep, raised


def resolution_hazard(flare_hazard: np.ndarray, rate_per_year: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Cumulative hazard (n, T) of a grade's improvement on the daily grid, ∫ ρ·r(t)^−κ dt from day 0.

    ``flare_hazard`` (n, T) is the model's flare hazard (any unit), so r = hazard / its day-0 value;
    ``rate_per_year`` (n,) is ρ, ``power`` κ.
    """
    r = flare_hazard / flare_hazard[:, :1]
    daily = rate_per_year[:, None] / 365.25 * r ** -power
    return np.concatenate([np.zeros((len(r), 1)), np.cumsum(0.5 * (daily[:, 1:] + daily[:, :-1]), axis=1)], axis=1)


def _schedule(visits: np.ndarray, weeks: np.ndarray, flare_days: np.ndarray, flare_kind: np.ndarray,
              flare_domain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scheduled visits (n, V) and taken flares (n, K; kind 0 and domain -1 where not taken) merged
    in day order: (day, week, kind, domain); a flare on a scheduled visit's day is assessed at that visit."""
    same = flare_days[:, :, None] == visits[:, None, :]  # (n, K, V)
    at_visit = (same * flare_kind[:, :, None]).max(axis=1)
    domain_at_visit = (same * (flare_domain + 1)[:, :, None]).max(axis=1) - 1
    alone = (flare_kind > 0) & ~same.any(axis=2)
    day = np.concatenate([visits, np.where(alone, flare_days, np.nan)], axis=1)
    week = np.concatenate([np.broadcast_to(weeks, visits.shape), np.full(flare_days.shape, np.nan)], axis=1)
    kind = np.concatenate([at_visit, np.where(alone, flare_kind, 0)], axis=1)
    domain = np.concatenate([domain_at_visit, np.where(alone, flare_domain, -1)], axis=1)
    order = np.argsort(np.where(np.isnan(day), np.inf, day), axis=1, kind="stable")
    return tuple(np.take_along_axis(a, order, 1) for a in (day, week, kind, domain))  # type: ignore[return-value]


def _descriptors(grades: np.ndarray, settings: ClinicalSettings) -> np.ndarray:
    """(n, Q, 24) clinical descriptors that each domain's A or B shows."""
    items = np.zeros(grades.shape[:2] + (len(ITEMS),), dtype=bool)
    for d, dom in enumerate(settings.domains.values()):
        for grade, codes in ((A, dom.descriptors_a), (B, dom.descriptors_b)):
            for code in codes:
                items[:, :, ITEMS.index(code)] |= grades[:, :, d] == grade
    return items


def _labs(grades: np.ndarray, dsdna: np.ndarray, dsdna0: np.ndarray, settings: ClinicalSettings,
          draws: CourseDraws) -> dict[str, np.ndarray]:
    """Complement (g/L) falling as anti-dsDNA rises, and urine protein (g/24 h) by renal grade, (n, Q)."""
    rel = (dsdna / dsdna0[:, None]) ** -settings.complement_slope
    noise = np.sqrt(np.log1p(settings.complement_cv ** 2))
    c3 = settings.c3_median * np.exp(settings.c3_sdlog * draws.c3)[:, None] * rel
    c4 = settings.c4_median * np.exp(settings.c4_sdlog * draws.c4)[:, None] * rel
    renal = grades[:, :, DOMAINS.index("renal")]
    median = np.array([settings.uprot_by_renal_grade[g] for g in "ABCDE"])[renal]
    return {"c3_g_l": c3 * np.exp(noise * draws.c3_noise),
            "c4_g_l": c4 * np.exp(noise * draws.c4_noise),
            "uprot_g_day": median * np.exp(settings.uprot_sdlog * draws.uprot)}


def _prednisone(day: np.ndarray, kind: np.ndarray, grades: np.ndarray, steroids: Steroids,
                z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dose (mg/day) and treatment failure at each assessment (n, Q), in day order.

    From the baseline dose the protocol's taper takes a step every ``taper_every_weeks`` while
    the last assessment showed no A or B; a flare raises the dose to its rescue dose at once.
    ``z`` (n,) are normal deviates drawing the baseline dose.
    """
    n, q = day.shape
    dose = np.empty((n, q))
    failure = np.zeros((n, q), dtype=bool)
    current = np.round(steroids.baseline_median_mg * np.exp(steroids.baseline_sdlog * z) * 2) / 2
    period = 7 * steroids.taper_every_weeks
    due = np.floor((day - day[:, :1]) / period)  # taper steps due since baseline; unused slots (nan) last
    clock = np.maximum.accumulate(np.where(np.isnan(due), -1.0, due), axis=1)
    active, fail = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    for j in range(q):
        steps = clock[:, j] - (clock[:, j - 1] if j else clock[:, 0])
        taper = ~active & (current > steroids.taper_to_mg)
        current = np.where(taper, np.maximum(current - steps * steroids.taper_step_mg, steroids.taper_to_mg),
                           current)
        for flare, rescue in ((SEVERE, steroids.severe), (MODERATE, steroids.moderate)):
            hit = kind[:, j] == flare
            current = np.where(hit, np.maximum(current, rescue.dose_mg), current)
            fail |= hit & rescue.treatment_failure
        dose[:, j], failure[:, j] = current, fail
        active = (grades[:, j] <= B).any(axis=1)
    return dose, failure


def _pga(grades: np.ndarray, settings: ClinicalSettings, z: np.ndarray) -> np.ndarray:
    """Physician global assessment (0–3, one decimal) from the worst grade, with the assessor's
    variation (normal deviates ``z``, (n, Q))."""
    mean = np.array([settings.pga_by_grade[g] for g in "ABCDE"])[grades.min(axis=2)]
    return np.round(np.clip(mean + settings.pga_sd * z, 0.0, 3.0), 1)


def clinical_course(out: dict[str, np.ndarray], rand_day: np.ndarray, flares: tuple[np.ndarray, np.ndarray],
                    visits: tuple[np.ndarray, np.ndarray], resolution: tuple[float, float], steroids: Steroids,
                    settings: ClinicalSettings, draws: CourseDraws) -> tuple[Assessments, np.ndarray, np.ndarray]:
    """Every assessment of the patients (one trial's, or several trials' stacked), and the severe and
    moderate flares (n, K) each, those that found no domain left out (nan), in day order.

    ``out`` holds the model's daily outputs (n, T) from day 0 (first rituximab infusion);
    ``flares`` the severe and moderate flare days after randomisation (n, K) each, nan where not
    observed; ``visits`` the scheduled assessments' days after randomisation (n, V) and their
    weeks (V,), the baseline first; ``resolution`` (ρ per year, κ); ``draws`` the trials' random
    numbers (:class:`CourseDraws`, with the patients' flare columns at least).
    """
    n = len(rand_day)
    res = resolution_hazard(out["flare_hazard_per_year"], np.full(n, resolution[0]), resolution[1])
    model_visits = visits[0] + rand_day[:, None]
    merged = _flares(*flares, rand_day)
    ep, raised = _episodes(_baseline(draws.baseline, settings), model_visits[:, 0], merged, model_visits, res,
                             settings, draws)
    accepted = raised >= 0
    day, week, kind, domain = _schedule(model_visits, visits[1], merged[0], np.where(accepted, merged[1], 0), raised)
    grades = np.moveaxis(ep.grades_at(day, res), 1, 2)  # (n, Q, 9)
    dsdna = _at(out["anti_dsdna_iu_ml"], day)
    labs = _labs(grades, dsdna, out["anti_dsdna_iu_ml"][:, 0], settings, draws)
    items = _descriptors(grades, settings)
    for code, present in _lab_items({**labs, "dsdna_iu_ml": dsdna}, settings).items():
        items[:, :, ITEMS.index(code)] = present
    dose, failure = _prednisone(day, kind, grades, steroids, draws.prednisone)
    course = Assessments(day=day - rand_day[:, None], week=week, grades=grades, items=items, flare=kind, flare_domain=domain,
                         dsdna_iu_ml=dsdna, pga=_pga(grades, settings, draws.pga), prednisone_mg=dose, failure=failure,
                         **labs)
    kept = np.zeros((n, 2 * flares[0].shape[1]), dtype=bool)
    np.put_along_axis(kept, merged[2], accepted, axis=1)
    severe, moderate = (np.sort(np.where(k, f, np.nan), axis=1) for k, f in zip(np.split(kept, 2, axis=1), flares))
    return course, severe, moderate
