"""BILAG-2004 flares over follow-up: time to first flare, every flare, and flare rates.

Time to first flare (ADTTE) is BEAT-LUPUS's flare endpoint; trials also analyse every flare,
as recurrent events (Andersen-Gill, counting-process layout) or as counts per patient-year
(negative binomial with a log follow-up offset). All three come from the same flare list so
they cannot disagree. Layouts: docs/indices.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lupustrial.indices.bilag import Flare, FlareResult, bilag_flare, missing_domains
from lupustrial.indices.visits import Visit

DAYS_PER_YEAR = 365.25
TTE_PARAMS: dict[str, tuple[str, Flare]] = {
    "TTSEVFL": ("Time to first severe BILAG-2004 flare (days)", Flare.SEVERE),
    "TTMODFL": ("Time to first moderate or severe BILAG-2004 flare (days)", Flare.MODERATE),
}
# Recurrent-event PARAMCD -> (count PARAMCD, what is counted, the visit's worst flare severity).
RECURRENT_PARAMS: dict[str, tuple[str, str, Flare]] = {
    "SEVFL": ("NSEVFL", "severe BILAG-2004 flares (new A)", Flare.SEVERE),
    "MODFL": ("NMODFL", "moderate BILAG-2004 flares (new B, no new A)", Flare.MODERATE),
    "MILDFL": ("NMILDFL", "mild BILAG-2004 flares (new C, no new A or B)", Flare.MILD),
}
ADTTE_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "STARTDT", "ADT", "EVNTDESC", "CNSDTDSC"]
RECURRENT_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "EVENTNUM", "TSTART", "TSTOP", "CNSR", "AVISITN", "EVNTDESC"]
COUNT_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "AVAL", "FUDAYS", "FUYEARS", "RATE"]


def graded_visits(visits: Sequence[Visit]) -> list[Visit]:
    """Visits with all nine BILAG-2004 domains graded and not skipped, in study-day order.

    Flares compare consecutive fully graded visits; scheduled and unscheduled visits both
    count, since an unscheduled visit is where a flare is usually first graded.
    """
    return [
        v for v in visits if not v.skipped and v.assessment.bilag is not None and not missing_domains(v.assessment.bilag)
    ]


def flare_events(visits: Sequence[Visit]) -> tuple[list[tuple[Visit, FlareResult]], Visit | None]:
    """Every visit on or after day 1 that flares against the graded visit before it, and the
    last graded visit on or after day 1 (the end of flare follow-up), or None."""
    graded = graded_visits(visits)
    events = []
    for before, cur in zip(graded, graded[1:], strict=False):
        assert before.assessment.bilag is not None and cur.assessment.bilag is not None  # graded_visits
        result = bilag_flare(before.assessment.bilag, cur.assessment.bilag)
        if cur.day >= 1 and result.severity is not Flare.NONE:
            events.append((cur, result))
    after_start = [v for v in graded if v.day >= 1]
    return events, (after_start[-1] if after_start else None)


def _iso(date: pd.Timestamp | None) -> str:
    return "" if date is None else date.date().isoformat()


def time_to_flare(usubjid: str, visits: Sequence[Visit]) -> list[dict[str, object]]:
    """TTSEVFL and TTMODFL records: the first qualifying flare on or after day 1, else censored."""
    events, last = flare_events(visits)
    start = next((v.date - pd.Timedelta(days=v.day - 1) for v in visits if v.day >= 1 and v.date is not None), None)
    records = []
    for paramcd, (param, severity) in TTE_PARAMS.items():
        event = next(((v, f) for v, f in events if f.severity >= severity), None)
        at = event[0] if event else last
        records.append(
            {
                "USUBJID": usubjid,
                "PARAMCD": paramcd,
                "PARAM": param,
                "AVAL": at.day if at else 1,
                "CNSR": 0 if event else 1,
                "STARTDT": _iso(start),
                "ADT": _iso(at.date if at else start),
                "EVNTDESC": event[1].describe() if event else "",
                "CNSDTDSC": "" if event else (
                    "last BILAG-2004 assessment" if last else "no BILAG-2004 assessment on or after day 1"
                ),
            }
        )
    return records


def recurrent_flares(usubjid: str, visits: Sequence[Visit]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Counting-process records (TSTART, TSTOP] of every flare, and per-subject counts.

    Each flare visit is classified by its worst domain (so one visit is one flare); the last
    interval runs to the last graded visit and is censored (CNSR 1). Follow-up is day 0 to
    that visit; a subject without one has no intervals and a count of 0 over 0 years.
    """
    events, last = flare_events(visits)
    end = last.day if last else 0
    intervals: list[dict[str, object]] = []
    counts: list[dict[str, object]] = []
    for paramcd, (count_code, what, severity) in RECURRENT_PARAMS.items():
        label = f"Recurrent {what}"
        mine = [(v, f) for v, f in events if f.severity is severity]
        start = 0
        for n, (v, f) in enumerate(mine, start=1):
            intervals.append({"USUBJID": usubjid, "PARAMCD": paramcd, "PARAM": label, "EVENTNUM": n, "TSTART": start,
                              "TSTOP": v.day, "CNSR": 0, "AVISITN": v.avisitn, "EVNTDESC": f.describe()})
            start = v.day
        if end > start:
            intervals.append({"USUBJID": usubjid, "PARAMCD": paramcd, "PARAM": label, "EVENTNUM": len(mine) + 1,
                              "TSTART": start, "TSTOP": end, "CNSR": 1, "AVISITN": last.avisitn if last else np.nan,
                              "EVNTDESC": ""})
        years = end / DAYS_PER_YEAR
        counts.append({"USUBJID": usubjid, "PARAMCD": count_code, "PARAM": f"Number of {what}", "AVAL": len(mine),
                       "FUDAYS": end, "FUYEARS": years, "RATE": len(mine) / years if years > 0 else np.nan})
    return intervals, counts
