"""From an ADQS-style visits table to ADTTE flare times, flare counts and per-visit responder flags.

A trial's statistician gets item-level visit data (one row per subject, visit and item) and
needs the flare endpoints and the responder tables; this module does that derivation so it is
the same, tested code every time. Input vocabulary (PARAMCD, or SDTM QSTESTCD) and output
layout: docs/indices.md. A malformed value is a :class:`DataError` naming file, row and column;
a visit that cannot be scored (a missing item, no baseline, a second visit on one day) only
makes that visit's endpoints "not evaluable", with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.atomic import atomic_path
from lupustrial.errors import DataError
from lupustrial.indices.bilag import GRADES, bilag_score, missing_domains
from lupustrial.indices.endpoints import Assessment, Response, bicla, doris, lldas, mcr, sri, time_in_state
from lupustrial.indices.flares import (
    ADTTE_COLUMNS,
    COUNT_COLUMNS,
    RECURRENT_COLUMNS,
    recurrent_flares,
    time_to_flare,
)
from lupustrial.indices.qs import QS_CODES, translate_codes
from lupustrial.indices.sledai import (
    BY_CODE,
    LAB_DESCRIPTOR,
    NEEDS_LOWER_LIMIT,
    NEEDS_UPPER_LIMIT,
    SEROLOGICAL,
    LabThresholds,
)
from lupustrial.indices.visits import BILAG_PARAMS, FLAG_PARAMS, LabWindow, Visit, subject_visits

EXAMPLE_VISITS = Path(__file__).parent / "examples" / "visits.csv"

# Visit-level numeric parameters with their allowed range.
NUMERIC_PARAMS: dict[str, tuple[float, float]] = {"PGA": (0.0, 3.0), "PREDDOSE": (0.0, np.inf)}
REQUIRED_COLUMNS = ("USUBJID", "AVISITN", "ADY", "PARAMCD", "AVAL")

SRI_LEVELS = (4, 5, 6, 7, 8)
RESPONSE_PARAMS: dict[str, str] = {
    **{f"SRI{k}": f"SLE Responder Index SRI-{k}" for k in SRI_LEVELS},
    "BICLA": "BILAG-based Composite Lupus Assessment responder",
    "LLDAS": "Lupus Low Disease Activity State",
    "DORIS": "DORIS 2021 remission",
    "MCR": "Major clinical response (BEAT-LUPUS)",
}
LLDAS_PARAMS: dict[str, str] = {
    "LLDASPCT": "Percent of observed follow-up in LLDAS",
    "LLDASEVR": "Ever in LLDAS after baseline",
    "LLDAS50": "In LLDAS for at least 50% of observed follow-up",
}
ADRSP_COLUMNS = ["USUBJID", "AVISITN", "ADY", "PARAMCD", "PARAM", "AVALC", "REASON"]
SCORE_COLUMNS = ["USUBJID", "AVISITN", "ADY", "PARAMCD", "PARAM", "AVAL", "MISSING"]
LLDAS_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALC", "NASSESS", "OBSERVED", "BASIS"]
OUTPUT_FILES: dict[str, str] = {
    "adtte": "adtte.csv",
    "adrsp": "adrsp.csv",
    "scores": "adqs_indices.csv",
    "recurrent": "adflare.csv",
    "counts": "adflcnt.csv",
    "lldas_time": "adlldas.csv",
}


@dataclass(frozen=True)
class Derived:
    """The derived tables: ADTTE (first flare), responder flags, index scores, every flare as
    recurrent-event intervals, flare counts with follow-up, and time in LLDAS per subject."""

    adtte: pd.DataFrame
    adrsp: pd.DataFrame
    scores: pd.DataFrame
    recurrent: pd.DataFrame
    counts: pd.DataFrame
    lldas_time: pd.DataFrame


def read_visits(path: str | Path) -> pd.DataFrame:
    """Read a visits file (.csv or .parquet) as text-preserving columns for validation."""
    path = Path(path)
    if not path.is_file():
        raise DataError("visits file not found", file=path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() != ".csv":
        raise DataError("visits file must be .csv or .parquet", file=path)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


class _Checker:
    """Validates the visits table row by row, naming the 1-based data row of each problem."""

    def __init__(self, df: pd.DataFrame, source: str) -> None:
        self.df = df
        self.source = source

    def fail(self, message: str, index: int | None = None, column: str | None = None) -> DataError:
        row = None if index is None else int(self.df.loc[index, "_ROW"])
        return DataError(message, file=self.source, row=row, column=column)

    def numeric(self, column: str, rows: pd.Index, *, integer: bool = False) -> pd.Series:
        raw = self.df.loc[rows, column]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() | (integer & (values % 1 != 0))
        if bad.any():
            i = bad[bad].index[0]
            kind = "an integer" if integer else "a number"
            raise self.fail(f"{column} must be {kind}, got {raw[i]!r}", i, column)
        return values.astype(float)

    def check_range(self, values: pd.Series, lo: float, hi: float, column: str, what: str) -> None:
        bad = (values < lo) | (values > hi)
        if bad.any():
            i = bad[bad].index[0]
            raise self.fail(f"{what} must be in [{lo:g}, {hi:g}], got {values[i]:g}", i, column)


def _validate(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    """Typed, validated copy of the visits table with a _ROW column (1-based data row)."""
    df = raw.reset_index(drop=True).copy()
    for column in df.columns:  # a categorical column (e.g. from Parquet) is checked as its values
        if isinstance(df[column].dtype, pd.CategoricalDtype):
            df[column] = df[column].astype(object).where(df[column].notna(), None)
    df["_ROW"] = np.arange(1, len(df) + 1)
    chk = _Checker(df, source)
    for column in REQUIRED_COLUMNS:
        if column not in df.columns:
            raise DataError(f"required column {column} is missing", file=source, column=column)
    if df.empty:
        raise DataError("the visits table has no rows", file=source)
    for column in ("USUBJID", "PARAMCD"):
        blank = df[column].isna() | (df[column].astype(str).str.strip() == "")
        if blank.any():
            raise chk.fail(f"{column} is empty", blank[blank].index[0], column)
        df[column] = df[column].astype(str).str.strip()
    known = set(BY_CODE) | set(LAB_DESCRIPTOR) | set(BILAG_PARAMS) | set(FLAG_PARAMS) | set(NUMERIC_PARAMS)
    unknown = ~df["PARAMCD"].isin(known)
    if unknown.any():
        i = unknown[unknown].index[0]
        raise chk.fail(f"unknown PARAMCD {df.loc[i, 'PARAMCD']!r} (see docs/indices.md)", i, "PARAMCD")
    _check_visit_keys(chk)
    _check_values(chk)
    labs = df["PARAMCD"].isin(LAB_DESCRIPTOR)
    chk.check_range(df.loc[labs, "AVAL"], 0.0, np.inf, "AVAL", "a laboratory value")
    for params, column in ((NEEDS_LOWER_LIMIT, "ANRLO"), (NEEDS_UPPER_LIMIT, "ANRHI")):
        rows = df.index[df["PARAMCD"].isin(params)]
        if len(rows) and column not in df.columns:
            raise DataError(f"{sorted(params)} need the laboratory's {column} column", file=source, column=column)
        if len(rows):
            chk.numeric(column, rows)  # the tests that need the limit must have a numeric one
            df[column] = pd.to_numeric(df[column], errors="coerce")
    if "ADT" in df.columns:
        dates = pd.to_datetime(df["ADT"], errors="coerce", format="ISO8601")
        bad = dates.isna() & df["ADT"].notna()
        if bad.any():
            i = bad[bad].index[0]
            raise chk.fail(f"ADT must be an ISO 8601 date, got {df.loc[i, 'ADT']!r}", i, "ADT")
        df["ADT"] = dates
    dup = df[~labs].duplicated(["USUBJID", "AVISITN", "PARAMCD"])
    if dup.any():
        i = dup[dup].index[0]
        raise chk.fail(f"{df.loc[i, 'PARAMCD']} recorded twice at this visit", i, "PARAMCD")
    return df


def _check_visit_keys(chk: _Checker) -> None:
    """ADY an integer; AVISITN a number (optional on laboratory rows, matched by day then).

    A visit is unscheduled (_UNSCHED) when its AVISITN is not an integer (ADaM's convention,
    e.g. 4.01) or its AVISIT text starts with "UNSCHED".
    """
    df = chk.df
    labs = df["PARAMCD"].isin(LAB_DESCRIPTOR)
    keyed = df.index[~labs | df["AVISITN"].notna()]
    df["AVISITN"] = pd.Series(np.nan, index=df.index).where(~df.index.isin(keyed), chk.numeric("AVISITN", keyed))
    df["ADY"] = chk.numeric("ADY", df.index, integer=True).astype(int)
    unscheduled = df["AVISITN"] % 1 != 0
    if "AVISIT" in df.columns:
        unscheduled |= df["AVISIT"].fillna("").astype(str).str.strip().str.upper().str.startswith("UNSCHED")
    df["_UNSCHED"] = unscheduled & df["AVISITN"].notna()


def _check_values(chk: _Checker) -> None:
    """BILAG-2004 grades A–E in AVALC; AVAL numeric elsewhere, 0/1 for flags, in range for PGA and dose."""
    df = chk.df
    grade = df["PARAMCD"].isin(BILAG_PARAMS)
    if grade.any():
        if "AVALC" not in df.columns:
            raise DataError("BILAG-2004 grades need an AVALC column", file=chk.source, column="AVALC")
        letters = df.loc[grade, "AVALC"].fillna("").astype(str).str.strip().str.upper()
        bad = ~letters.isin(list(GRADES))
        if bad.any():
            i = bad[bad].index[0]
            raise chk.fail(f"BILAG-2004 grade must be one of A-E, got {letters[i]!r}", i, "AVALC")
        df.loc[grade, "AVALC"] = letters
    value = pd.Series(np.nan, index=df.index)
    value[~grade] = chk.numeric("AVAL", df.index[~grade])
    df["AVAL"] = value
    flags = df["PARAMCD"].isin(set(BY_CODE) | set(FLAG_PARAMS))
    bad = flags & ~df["AVAL"].isin([0.0, 1.0])
    if bad.any():
        i = bad[bad].index[0]
        raise chk.fail(f"{df.loc[i, 'PARAMCD']} must be 0 or 1, got {df.loc[i, 'AVAL']:g}", i, "AVAL")
    for param, (lo, hi) in NUMERIC_PARAMS.items():
        rows = df["PARAMCD"] == param
        chk.check_range(df.loc[rows, "AVAL"], lo, hi, "AVAL", param)


NO_BASELINE = Response(None, ("not evaluable: no baseline visit",))
NO_PREVIOUS = Response(None, ("not evaluable: no previous assessment",))
EndpointRule = Callable[[Assessment | None, Assessment | None, Assessment, Mapping[str, Any]], Response]


def _against_baseline(rule: Callable[..., Response], **fixed: object) -> EndpointRule:
    """An endpoint defined as change from baseline: not evaluable without a baseline visit."""

    def apply(base: Assessment | None, prev: Assessment | None, cur: Assessment, options: Mapping[str, Any]) -> Response:
        return NO_BASELINE if base is None else rule(base, cur, **fixed, **options)

    return apply


ENDPOINTS: dict[str, EndpointRule] = {
    **{f"SRI{k}": _against_baseline(sri, reduction=k) for k in SRI_LEVELS},
    "BICLA": _against_baseline(bicla),
    "LLDAS": lambda base, prev, cur, options: NO_PREVIOUS if prev is None else lldas(prev, cur, **options),
    "DORIS": lambda base, prev, cur, options: doris(cur, **options),
    "MCR": lambda base, prev, cur, options: mcr(cur, **options),
}


@dataclass(frozen=True)
class VisitResult:
    """One post-baseline scheduled visit, the assessment it is compared with, and its responses."""

    visit: Visit
    previous: Visit | None
    responses: dict[str, Response]


def _evaluate(
    visits: list[Visit], baseline_visit: float, options: Mapping[str, Mapping[str, Any]]
) -> list[VisitResult]:
    """Every endpoint at every scheduled visit after baseline; LLDAS compares with the visit before.

    ``options`` maps an endpoint ("SRI" for all SRI-k, "BICLA", "LLDAS", "DORIS", "MCR") to
    keyword arguments of its rule. A skipped visit is not evaluable, with the reason.
    """
    base = next((v for v in visits if v.avisitn == baseline_visit and not v.skipped), None)
    previous = base
    results = []
    for v in visits:
        if not v.scheduled or v.avisitn <= baseline_visit:
            continue
        if v.skipped:
            skipped = Response(None, (f"not evaluable: {v.skipped}",))
            results.append(VisitResult(v, None, dict.fromkeys(ENDPOINTS, skipped)))
            continue
        responses = {
            code: rule(
                base.assessment if base else None,
                previous.assessment if previous else None,
                v.assessment,
                options.get("SRI" if code.startswith("SRI") else code, {}),
            )
            for code, rule in ENDPOINTS.items()
        }
        results.append(VisitResult(v, previous, responses))
        previous = v
    return results


def _responder_rows(usubjid: str, results: list[VisitResult]) -> list[dict[str, object]]:
    """adrsp rows: one per visit and endpoint, with the reasons for non-response."""
    return [
        {
            "USUBJID": usubjid,
            "AVISITN": r.visit.avisitn,
            "ADY": r.visit.day,
            "PARAMCD": code,
            "PARAM": RESPONSE_PARAMS[code],
            "AVALC": response.avalc,
            "REASON": "; ".join(response.reasons),
        }
        for r in results
        for code, response in r.responses.items()
    ]


def _lldas_time(usubjid: str, results: list[VisitResult], basis: str) -> list[dict[str, object]]:
    """Percent of observed follow-up in LLDAS, ever in LLDAS, and LLDAS for at least half of it."""
    states = [(float(r.visit.day - r.previous.day) if r.previous else 0.0, r.responses["LLDAS"]) for r in results]
    t = time_in_state(states, basis=basis)
    common = {"USUBJID": usubjid, "NASSESS": t.assessed, "OBSERVED": t.observed, "BASIS": basis}

    def yn(flag: bool | None) -> str:
        return "" if flag is None else ("Y" if flag else "N")

    values = {
        "LLDASPCT": (np.nan if t.percent is None else t.percent, ""),
        "LLDASEVR": (np.nan, yn(t.ever)),
        "LLDAS50": (np.nan, yn(None if t.percent is None else t.percent >= 50.0)),
    }
    return [common | {"PARAMCD": c, "PARAM": LLDAS_PARAMS[c], "AVAL": a, "AVALC": ac} for c, (a, ac) in values.items()]


def _scores(usubjid: str, visits: list[Visit]) -> list[dict[str, object]]:
    """SLEDAI-2K, clinical SLEDAI and numeric BILAG-2004 per visit; a partial score is left empty."""
    rows = []
    for v in visits:
        base = {"USUBJID": usubjid, "AVISITN": v.avisitn, "ADY": v.day}
        s = v.assessment.sledai
        if s is not None:
            clinical = s.excluding(SEROLOGICAL)
            for paramcd, param, score in (
                ("SLEDAI2K", "SLEDAI-2K total score", s),
                ("CSLEDAI", "Clinical SLEDAI (SLEDAI-2K without serology)", clinical),
            ):
                rows.append(base | {"PARAMCD": paramcd, "PARAM": param,
                                    "AVAL": score.total if score.complete else np.nan, "MISSING": " ".join(score.missing)})
        grades = v.assessment.bilag
        if grades is not None:
            missing = [p for p, d in BILAG_PARAMS.items() if d in missing_domains(grades)]
            rows.append(base | {"PARAMCD": "BILAGNUM", "PARAM": "BILAG-2004 numeric score",
                                "AVAL": np.nan if missing else bilag_score(grades), "MISSING": " ".join(missing)})
    return rows


def derive(
    visits: pd.DataFrame,
    *,
    source: str = "visits",
    window_days: int = 30,
    forward_days: int = 3,
    match_labs_by_visit: bool = True,
    baseline_visit: float = 0,
    thresholds: LabThresholds = LabThresholds(),
    endpoint_options: Mapping[str, Mapping[str, Any]] | None = None,
    lldas_basis: str = "time",
    codes: Mapping[str, str] = QS_CODES,
) -> Derived:
    """Derive flare times, every flare, flare counts, responder flags, index scores and time in LLDAS.

    ``window_days`` is the SLEDAI-2K look-back for laboratory values (30 days: Touma 2010;
    10 in SELENA usage) and ``forward_days`` the days after the visit a sample still counts;
    a laboratory record labelled with a visit's AVISITN belongs to that visit
    (``match_labs_by_visit``). ``endpoint_options`` passes thresholds to the endpoint rules,
    e.g. ``{"DORIS": {"prednisone_inclusive": False}}``; ``lldas_basis`` is "time" or
    "visits"; ``codes`` maps SDTM QSTESTCD to PARAMCD. ``source`` names the file in errors.
    """
    if window_days < 1 or forward_days < 0:
        raise ValueError("window_days must be at least 1 and forward_days at least 0")
    df = _validate(translate_codes(visits, codes), source)
    window = LabWindow(lookback_days=window_days, forward_days=forward_days, by_visit=match_labs_by_visit)
    tables: dict[str, list[dict[str, object]]] = {name: [] for name in OUTPUT_FILES}
    for usubjid, subject in df.groupby("USUBJID", sort=True):
        sid = str(usubjid)
        subject_list = subject_visits(subject, window=window, thresholds=thresholds, baseline_visit=baseline_visit)
        results = _evaluate(subject_list, baseline_visit, endpoint_options or {})
        intervals, counts = recurrent_flares(sid, subject_list)
        tables["adtte"] += time_to_flare(sid, subject_list)
        tables["adrsp"] += _responder_rows(sid, results)
        tables["scores"] += _scores(sid, subject_list)
        tables["recurrent"] += intervals
        tables["counts"] += counts
        tables["lldas_time"] += _lldas_time(sid, results, lldas_basis)
    columns = {"adtte": ADTTE_COLUMNS, "adrsp": ADRSP_COLUMNS, "scores": SCORE_COLUMNS,
               "recurrent": RECURRENT_COLUMNS, "counts": COUNT_COLUMNS, "lldas_time": LLDAS_COLUMNS}
    return Derived(**{name: pd.DataFrame(rows, columns=columns[name]) for name, rows in tables.items()})


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_derived(derived: Derived, out_dir: str | Path) -> dict[str, Path]:
    """Write the six tables (names in :data:`OUTPUT_FILES`) into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / filename for name, filename in OUTPUT_FILES.items()}
    for name, path in paths.items():
        _write_csv(getattr(derived, name), path)
    return paths
