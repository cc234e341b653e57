"""One subject's validated visit rows turned into ordered, scored assessments.

Real visit data have unscheduled visits, visits on the same day and laboratory samples taken a
day or two off the visit; this module decides, per visit, which records make up the
assessment, so that a quirk of one visit makes that visit (not the run) "not evaluable".
Rules and their sources: docs/indices.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.endpoints import Assessment
from lupustrial.indices.sledai import BY_CODE, LAB_DESCRIPTOR, LabThresholds, lab_descriptor, sledai2k

BILAG_PARAMS: dict[str, str] = dict(
    zip(
        ("BLGCONS", "BLGMUCO", "BLGNEURO", "BLGMUSC", "BLGCARD", "BLGGI", "BLGOPHT", "BLGRENAL", "BLGHAEM"),
        DOMAINS,
        strict=True,
    )
)
FLAG_PARAMS: dict[str, str] = {
    "MAINTOK": "maintenance_ok",
    "STABLEOK": "stable_ok",
    "TRTFAIL": "treatment_failure",
    "HAEMOLYS": "haemolysis",
}


@dataclass(frozen=True)
class LabWindow:
    """Which laboratory records count for a visit.

    A record whose AVISITN names one of the subject's visits belongs to that visit
    (``by_visit``); any other counts for every visit with ``day - lookback_days < lab day <=
    day + forward_days``. The 30-day look-back is Touma 2010's SLEDAI-2K window; the 3-day
    forward window (a urine sample brought in after the visit) is this project's assumption.
    """

    lookback_days: int = 30
    forward_days: int = 3
    by_visit: bool = True


@dataclass
class Visit:
    """One subject's visit: its study day, date, whether scheduled, and its assessment.

    ``skipped`` says why the visit is not used in sequential comparisons (flares, LLDAS's
    previous assessment, responder rows): another visit on the same study day was used.
    """

    avisitn: float
    day: int
    first_row: int
    date: pd.Timestamp | None
    scheduled: bool
    assessment: Assessment
    skipped: str = ""


def _labs_for(labs: pd.DataFrame, avisitn: float, day: int, visit_numbers: set[float], window: LabWindow) -> pd.DataFrame:
    """The laboratory records that count for one visit: its own (by AVISITN), then by day."""
    in_window = (labs["ADY"] > day - window.lookback_days) & (labs["ADY"] <= day + window.forward_days)
    if not window.by_visit:
        return labs[in_window]
    own = labs["AVISITN"] == avisitn
    unlabelled = ~labs["AVISITN"].isin(visit_numbers)
    return labs[own | (unlabelled & in_window)]


def _sledai_items(visit_rows: pd.DataFrame, labs: pd.DataFrame, thresholds: LabThresholds) -> dict[str, bool | None]:
    """Descriptor flags at a visit: recorded flags win; the visit's laboratory values decide the rest.

    A recorded flag carries the clinician's attribution (e.g. "exclude drug causes"), which a
    raw value cannot, so a laboratory value only fills a descriptor the visit left unrecorded.
    """
    items: dict[str, bool | None] = {c: None for c in BY_CODE}
    recorded = visit_rows[visit_rows["PARAMCD"].isin(BY_CODE)]
    items.update({p: bool(v) for p, v in zip(recorded["PARAMCD"], recorded["AVAL"], strict=True)})
    explicit = set(recorded["PARAMCD"])
    for row in labs.itertuples(index=False):
        code = LAB_DESCRIPTOR[row.PARAMCD]
        if code in explicit:
            continue
        hit = lab_descriptor(
            row.PARAMCD,
            row.AVAL,
            lower_limit=getattr(row, "ANRLO", None),
            upper_limit=getattr(row, "ANRHI", None),
            thresholds=thresholds,
        )
        items[code] = bool(items[code]) or hit
    return items


def _assessment(rows: pd.DataFrame, labs: pd.DataFrame, thresholds: LabThresholds) -> Assessment:
    """The visit's inputs to the endpoints; a partly graded BILAG-2004 is kept partial."""
    value = dict(zip(rows["PARAMCD"], rows["AVAL"], strict=True))
    sledai = None
    if rows["PARAMCD"].isin(BY_CODE).any():
        sledai = sledai2k(_sledai_items(rows, labs, thresholds), partial=True)
    grade_rows = rows[rows["PARAMCD"].isin(BILAG_PARAMS)]
    grades = {BILAG_PARAMS[p]: g for p, g in zip(grade_rows["PARAMCD"], grade_rows["AVALC"], strict=True)}
    flags = {name: (bool(value[p]) if p in value else None) for p, name in FLAG_PARAMS.items()}
    return Assessment(
        sledai=sledai, bilag=grades or None, pga=value.get("PGA"), prednisone_mg=value.get("PREDDOSE"), **flags
    )


def subject_visits(
    subject: pd.DataFrame, *, window: LabWindow, thresholds: LabThresholds, baseline_visit: float
) -> list[Visit]:
    """The subject's visits in study-day order (baseline, then scheduled, first on a shared day).

    A visit on the same day as the one before it is kept (its scores are real) but marked
    ``skipped``, so that a same-day unscheduled assessment never stops the derivation.
    """
    labs = subject[subject["PARAMCD"].isin(LAB_DESCRIPTOR)]
    clinical = subject[~subject["PARAMCD"].isin(LAB_DESCRIPTOR)]
    numbers = set(clinical["AVISITN"])
    visits = []
    for avisitn, rows in clinical.groupby("AVISITN", sort=True):
        day = int(rows["ADY"].max())
        dated = rows[rows["ADY"] == day]["ADT"].dropna() if "ADT" in rows.columns else pd.Series(dtype=object)
        visits.append(
            Visit(
                avisitn=float(avisitn),
                day=day,
                first_row=int(rows["_ROW"].min()),
                date=dated.iloc[0] if len(dated) else None,
                scheduled=not bool(rows["_UNSCHED"].any()),
                assessment=_assessment(rows, _labs_for(labs, float(avisitn), day, numbers, window), thresholds),
            )
        )
    visits.sort(key=lambda v: (v.day, v.avisitn != baseline_visit, not v.scheduled, v.avisitn))
    used: Visit | None = None
    for v in visits:
        if used is not None and v.day == used.day:
            v.skipped = f"same study day {v.day} as AVISITN {used.avisitn:g}, which is used"
        else:
            used = v
    return visits
