"""Clinical records of simulated trials, a chunk at once: ADQS (item-level SLEDAI-2K, BILAG-2004,
PGA, prednisone and the SLEDAI laboratory tests), ADRS (responders) and ADFLARE (every flare), from
their assessments.

ADQS uses the PARAMCD vocabulary that :func:`lupustrial.indices.derive` reads (docs/indices.md),
so the indices derive from a simulated trial what they derive from a real one; the laboratory
descriptors (proteinuria, low complement, DNA binding) are left for the laboratory values to
decide, as at a real site. ADRS holds the responders the plan's ``responder`` analyses read (SRI-4,
BICLA, LLDAS, DORIS, major clinical response), one record per patient, endpoint and scheduled visit
after baseline.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from lupustrial.indices import arrays
from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.derive import BILAG_PARAMS, RESPONSE_PARAMS
from lupustrial.indices.endpoints import MCR_IGNORE
from lupustrial.indices.flares import RECURRENT_PARAMS
from lupustrial.indices.sledai import LAB_DESCRIPTOR
from lupustrial.simulate.activity import ITEMS, LABS, MODERATE, SEVERE, Assessments, lab_limits
from lupustrial.simulate.settings import ClinicalSettings

Table = dict[str, np.ndarray]
UNSCHEDULED = "Unscheduled"
#: Descriptors the simulated laboratory values decide (written as those values, not as items).
FROM_LABS = frozenset(LAB_DESCRIPTOR[code] for code in LABS)


def table(columns: dict[str, object], n: int) -> Table:
    """Columns as arrays of length ``n`` (scalars broadcast): one DataFrame is built per chunk,
    not per trial, because building small DataFrames dominated the simulator's run time. A text
    scalar is broadcast as references to one Python string (pandas would otherwise make a string
    object per record out of a fixed-width numpy array)."""
    return {k: np.asarray(v) if np.ndim(v) else np.full(n, v, dtype=object if isinstance(v, str) else None)
            for k, v in columns.items()}


def yes_no(flag: np.ndarray) -> np.ndarray:
    """"Y" / "N" (object array of two shared strings) for a boolean array, as ADaM flags are written."""
    return np.array(["N", "Y"], dtype=object)[np.asarray(flag, dtype=np.intp)]


def stack(tables: list[Table]) -> Table:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def study_day(day: np.ndarray) -> np.ndarray:
    """ADaM study day (ADY) of days from randomisation: day 0 is study day 1, no day 0."""
    return np.where(day >= 0, np.floor(day) + 1, np.floor(day))


def visit_number(course: Assessments) -> np.ndarray:
    """AVISITN (n, Q): the scheduled week, or for the k-th unscheduled (flare) visit after scheduled
    week w, w + k/100 (the ADaM habit, "12.01"), so that AVISITN orders visits as their days do."""
    q = np.arange(course.week.shape[1])
    last = np.maximum.accumulate(np.where(np.isnan(course.week), 0, q), axis=1)  # the baseline is scheduled
    since = np.take_along_axis(course.week, last, axis=1)
    return np.where(np.isnan(course.week), since + (q - last) / 100, course.week)


def _columns(course: Assessments, settings: ClinicalSettings) -> dict[str, tuple[np.ndarray, float, float]]:
    """ADQS parameters -> (value per assessment (the shape of ``course.day``), ANRLO, ANRHI); BILAG
    grades are AVALC."""
    ones, nan = np.ones(course.day.shape), np.nan
    cols = {code: (course.items[..., i].astype(float), nan, nan) for i, code in enumerate(ITEMS)
            if code not in FROM_LABS}
    cols |= {code: (np.full(course.day.shape, nan), nan, nan) for code in BILAG_PARAMS}
    cols |= {"PGA": (course.pga, nan, nan), "PREDDOSE": (course.prednisone_mg, nan, nan),
             "TRTFAIL": (course.failure.astype(float), nan, nan), "MAINTOK": (ones, nan, nan),
             "STABLEOK": (ones, nan, nan), "HAEMOLYS": (0 * ones, nan, nan)}
    cols |= {code: (getattr(course, field), *(nan if x is None else x for x in lab_limits(settings)[code]))
             for code, field in LABS.items()}
    return dict(sorted(cols.items()))


def adqs(course: Assessments, observed: np.ndarray, ids: np.ndarray, trial_ids: np.ndarray,
         visits: tuple[np.ndarray, np.ndarray], settings: ClinicalSettings, *, compact: bool = False
         ) -> dict[str, object]:
    """Item-level records of every observed assessment ((n, Q) mask ``observed``) of patients ``ids``
    in trials ``trial_ids`` (n,), built as one (assessments × parameters) grid in USUBJID, AVISITN,
    PARAMCD order: a chunk of trials at once, as ADQS is the simulator's largest dataset.
    ``visits`` are the protocol's scheduled weeks and their AVISIT labels.

    PARAMCD, AVISIT and AVALC are categorical (their few values stored once, so the frame is
    quick to build, pass between processes and write; chunks are joined by the union of their
    categories, :func:`lupustrial.simulate.run.run_trials`); their values are the strings a CSV
    shows. USUBJID stays text, as grouping by subject expects, unless ``compact`` (categorical, for
    passing between processes).
    """
    pi, qi = np.nonzero(observed)
    seen = course.take(pi, qi)
    cols = _columns(seen, settings)
    k = len(cols)
    grades = {code: d for d, code in enumerate(BILAG_PARAMS)}
    avalc = np.full((pi.size, k), -1, dtype=np.int8)
    for j, code in enumerate(cols):
        if code in grades:
            avalc[:, j] = seen.grades[:, grades[code]]
    weeks, labels = visits
    visit = np.where(np.isnan(seen.week), len(weeks), np.searchsorted(weeks, np.nan_to_num(seen.week)))
    return {"TRIALID": np.repeat(trial_ids[pi], k), "USUBJID": _subjects(np.repeat(pi, k), ids, compact),
            "AVISIT": pd.Categorical.from_codes(np.repeat(visit, k), [*labels, UNSCHEDULED]),
            "AVISITN": np.repeat(visit_number(course)[pi, qi], k),
            "ADY": np.repeat(study_day(seen.day), k),
            "PARAMCD": pd.Categorical.from_codes(np.tile(np.arange(k), pi.size), list(cols)),
            "AVAL": np.column_stack([v for v, _, _ in cols.values()]).ravel(),
            "AVALC": pd.Categorical.from_codes(avalc.ravel(), list("ABCDE")),
            "ANRLO": np.tile([lo for _, lo, _ in cols.values()], pi.size),
            "ANRHI": np.tile([hi for _, _, hi in cols.values()], pi.size)}


def _subjects(rows: np.ndarray, ids: np.ndarray, compact: bool) -> pd.Categorical | np.ndarray:
    """USUBJID of each record (the index ``rows`` of its patient in ``ids``): text, or categorical if
    ``compact`` (codes, for passing between processes and writing)."""
    return pd.Categorical.from_codes(rows, ids) if compact else ids[rows]


def _pair(course: Assessments, j0: int, j: np.ndarray) -> dict[str, np.ndarray]:
    """Baseline (column ``j0``) and visit (column ``j[p]`` per patient) values the rules compare."""
    rows = np.arange(course.day.shape[0])
    sledai = course.sledai_total
    return {"base_sledai": sledai[:, j0], "sledai": sledai[rows, j], "base_grades": course.grades[:, j0],
            "grades": course.grades[rows, j], "base_pga": course.pga[:, j0], "pga": course.pga[rows, j],
            "failure": course.failure[rows, j]}


def _sri4(course: Assessments, j0: int, previous: np.ndarray, j: np.ndarray) -> np.ndarray:
    return arrays.sri(**_pair(course, j0, j))


def _bicla(course: Assessments, j0: int, previous: np.ndarray, j: np.ndarray) -> np.ndarray:
    return arrays.bicla(**_pair(course, j0, j))


def _lldas(course: Assessments, j0: int, previous: np.ndarray, j: np.ndarray) -> np.ndarray:
    rows = np.arange(course.day.shape[0])
    return arrays.lldas(course.sledai_total[rows, j], course.items[rows, j], course.items[rows, previous],
                        course.grades[rows, j], course.grades[rows, previous], course.pga[rows, j],
                        course.prednisone_mg[rows, j])


def _doris(course: Assessments, j0: int, previous: np.ndarray, j: np.ndarray) -> np.ndarray:
    rows = np.arange(course.day.shape[0])
    return arrays.doris(course.items[rows, j], course.pga[rows, j], course.prednisone_mg[rows, j])


def _mcr(course: Assessments, j0: int, previous: np.ndarray, j: np.ndarray) -> np.ndarray:
    rows = np.arange(course.day.shape[0])
    return arrays.major_clinical_response(course.grades[rows, j], course.sledai(MCR_IGNORE)[rows, j],
                                          course.prednisone_mg[rows, j])


#: ADRS endpoints: PARAMCD -> (label, rule on (assessments, baseline column, previous scheduled
#: visit's column (n,), visit column (n,))).
RESPONDERS: dict[str, tuple[str, Callable[[Assessments, int, np.ndarray, np.ndarray], np.ndarray]]] = {
    "SRI4": (RESPONSE_PARAMS["SRI4"], _sri4),
    "BICLA": (RESPONSE_PARAMS["BICLA"], _bicla),
    "LLDAS": (RESPONSE_PARAMS["LLDAS"], _lldas),
    "DORIS": (RESPONSE_PARAMS["DORIS"], _doris),
    "MCR": ("Major clinical response (BILAG-2004 all C or better, SLEDAI-2K without anti-dsDNA <= 2, "
            "prednisolone <= 7.5 mg/day)", _mcr),
}


def _visit_columns(course: Assessments, weeks: np.ndarray) -> list[np.ndarray]:
    """Per scheduled week, each patient's column (n,) of that visit in the course."""
    return [np.argmax(course.week == w, axis=1) for w in weeks]


def responses(course: Assessments, weeks: np.ndarray) -> dict[str, np.ndarray]:
    """Responder flags (n, W) per ADRS PARAMCD at scheduled ``weeks`` after the baseline (the
    course's first assessment, a scheduled visit); LLDAS compares with the scheduled visit before."""
    cols = _visit_columns(course, weeks)
    before = [np.zeros_like(cols[0]), *cols[:-1]]
    return {code: np.column_stack([rule(course, 0, b, j) for b, j in zip(before, cols, strict=True)])
            for code, (_, rule) in RESPONDERS.items()}


def adrs(course: Assessments, visits: tuple[np.ndarray, np.ndarray], observed: np.ndarray, ids: np.ndarray,
         trial_ids: np.ndarray, *, compact: bool = False) -> dict[str, object]:
    """Responder records at each scheduled visit after baseline (``visits``: weeks (W,) and their
    AVISIT labels) the patient was observed at ((n, W) mask), patients ``ids`` of trials
    ``trial_ids`` (n,), built in USUBJID, PARAMCD, AVISITN order
    (the patients are in USUBJID order, as ADQS's are). Text columns are categorical as ADQS's are,
    USUBJID too if ``compact``."""
    weeks, labels = visits
    flags = responses(course, weeks)
    codes = sorted(flags)
    hit = np.stack([flags[code] for code in codes], axis=1)  # (n, endpoints, W)
    pi, ci, wi = np.nonzero(np.broadcast_to(observed[:, None, :], hit.shape))
    days = np.column_stack([course.day[np.arange(len(ids)), j] for j in _visit_columns(course, weeks)])
    value = hit[pi, ci, wi]
    return {"TRIALID": trial_ids[pi], "USUBJID": _subjects(pi, ids, compact),
            "PARAMCD": pd.Categorical.from_codes(ci, codes),
            "PARAM": pd.Categorical.from_codes(ci, [RESPONDERS[code][0] for code in codes]),
            "AVISIT": pd.Categorical.from_codes(wi, labels), "AVISITN": weeks[wi],
            "ADY": study_day(days[pi, wi]), "AVALC": pd.Categorical.from_codes(value.astype(np.int8), ["N", "Y"]),
            "AVAL": value.astype(float)}


#: Recurrent-flare PARAMCD -> (flare kind, label), the layout of lupustrial.indices' adflare.
RECURRENT = {"SEVFL": (SEVERE, "Recurrent " + RECURRENT_PARAMS["SEVFL"][1], "severe"),
             "MODFL": (MODERATE, "Recurrent " + RECURRENT_PARAMS["MODFL"][1], "moderate")}


def _flared_domain(course: Assessments, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Name of the domain each flare visit (p, q) raised (as the course recorded it: a flare at the
    first assessment has no visit before it to compare with)."""
    return np.asarray(DOMAINS, dtype=object)[course.flare_domain[p, q]]


def adflare(course: Assessments, observed: np.ndarray, ids: np.ndarray, trial_ids: np.ndarray) -> Table:
    """Every severe and moderate flare as counting-process records (TSTART, TSTOP] in study days,
    then each patient's censored interval to the last assessment (CNSR 1), as
    :func:`lupustrial.indices.derive` writes them from visits."""
    ady = np.where(observed, study_day(course.day), -np.inf)
    end = ady.max(axis=1)
    number = visit_number(course)
    out = []
    for code, (kind, label, severity) in RECURRENT.items():
        hit = observed & (course.flare == kind)
        p, q = np.nonzero(hit)
        stop = ady[p, q]
        first = np.r_[True, p[1:] != p[:-1]][:p.size]
        start = np.where(first, 0.0, np.r_[0.0, stop[:-1]][:p.size])
        count = hit.sum(axis=1)
        last = np.zeros(len(ids))
        np.maximum.at(last, p, stop)
        c = np.flatnonzero(end > last)
        out.append(table({"TRIALID": np.r_[trial_ids[p], trial_ids[c]], "USUBJID": np.r_[ids[p], ids[c]],
                          "PARAMCD": code, "PARAM": label,
                          "EVENTNUM": np.r_[np.cumsum(hit, axis=1)[p, q], count[c] + 1],
                          "TSTART": np.r_[start, last[c]], "TSTOP": np.r_[stop, end[c]],
                          "CNSR": np.r_[np.zeros(p.size, dtype=int), np.ones(c.size, dtype=int)],
                          "AVISITN": np.r_[number[p, q], number[c, np.argmax(ady[c] == end[c, None], axis=1)]],
                          "EVNTDESC": np.r_[f"{severity} BILAG-2004 flare: " + _flared_domain(course, p, q)
                                            + f" ({severity})", np.full(c.size, "")]},
                         p.size + c.size))
    return stack(out)
