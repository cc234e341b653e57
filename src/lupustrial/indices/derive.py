"""From an ADQS-style visits table to ADTTE flare times and per-visit responder flags.

A trial's statistician gets item-level visit data (one row per subject, visit and item) and
needs the flare endpoint and the responder tables; this module does that derivation so it is
the same, tested code every time. Input vocabulary (PARAMCD) and output layout:
docs/indices.md. Every input problem is a :class:`DataError` naming file, row and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lupustrial.atomic import atomic_path
from lupustrial.errors import DataError
from lupustrial.indices.bilag import DOMAINS, GRADES, Flare, FlareResult, bilag_flare, bilag_score
from lupustrial.indices.endpoints import Assessment, Response, bicla, doris, lldas, sri
from lupustrial.indices.sledai import (
    BY_CODE,
    LAB_DESCRIPTOR,
    NEEDS_LOWER_LIMIT,
    NEEDS_UPPER_LIMIT,
    LabThresholds,
    SledaiScore,
    lab_descriptor,
    sledai2k,
)

EXAMPLE_VISITS = Path(__file__).parent / "examples" / "visits.csv"

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
# Visit-level numeric parameters with their allowed range.
NUMERIC_PARAMS: dict[str, tuple[float, float]] = {"PGA": (0.0, 3.0), "PREDDOSE": (0.0, np.inf)}
REQUIRED_COLUMNS = ("USUBJID", "AVISITN", "ADY", "PARAMCD", "AVAL")

TTE_PARAMS: dict[str, tuple[str, Flare]] = {
    "TTSEVFL": ("Time to first severe BILAG-2004 flare (days)", Flare.SEVERE),
    "TTMODFL": ("Time to first moderate or severe BILAG-2004 flare (days)", Flare.MODERATE),
}
SRI_LEVELS = (4, 5, 6, 7, 8)
RESPONSE_PARAMS: dict[str, str] = {
    **{f"SRI{k}": f"SLE Responder Index SRI-{k}" for k in SRI_LEVELS},
    "BICLA": "BILAG-based Composite Lupus Assessment responder",
    "LLDAS": "Lupus Low Disease Activity State",
    "DORIS": "DORIS 2021 remission",
}
ADTTE_COLUMNS = ["USUBJID", "PARAMCD", "PARAM", "AVAL", "CNSR", "STARTDT", "ADT", "EVNTDESC", "CNSDTDSC"]
ADRSP_COLUMNS = ["USUBJID", "AVISITN", "ADY", "PARAMCD", "PARAM", "AVALC", "REASON"]
SCORE_COLUMNS = ["USUBJID", "AVISITN", "ADY", "PARAMCD", "PARAM", "AVAL", "MISSING"]


@dataclass
class Visit:
    """One subject's visit: its study day, date and what the composite endpoints need."""

    avisitn: float
    day: int
    first_row: int
    date: pd.Timestamp | None
    assessment: Assessment


@dataclass(frozen=True)
class Derived:
    """The derived tables: ADTTE (flare times), responder flags, and per-visit index scores."""

    adtte: pd.DataFrame
    adrsp: pd.DataFrame
    scores: pd.DataFrame


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
    df["AVISITN"] = chk.numeric("AVISITN", df.index)
    df["ADY"] = chk.numeric("ADY", df.index, integer=True).astype(int)

    grade = df["PARAMCD"].isin(BILAG_PARAMS)
    if grade.any():
        if "AVALC" not in df.columns:
            raise DataError("BILAG-2004 grades need an AVALC column", file=source, column="AVALC")
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
    visit_level = df[~labs]
    dup = visit_level.duplicated(["USUBJID", "AVISITN", "PARAMCD"])
    if dup.any():
        i = dup[dup].index[0]
        raise chk.fail(f"{df.loc[i, 'PARAMCD']} recorded twice at this visit", i, "PARAMCD")
    return df


def _sledai_items(
    visit_rows: pd.DataFrame, labs: pd.DataFrame, day: int, window_days: int, thresholds: LabThresholds
) -> dict[str, bool | None]:
    """Descriptor flags at a visit: recorded flags win; raw labs in the window decide the rest.

    A recorded flag carries the clinician's attribution (e.g. "exclude drug causes"), which a
    raw value cannot, so a laboratory value only fills a descriptor the visit left unrecorded.
    """
    items: dict[str, bool | None] = {c: None for c in BY_CODE}
    recorded = visit_rows[visit_rows["PARAMCD"].isin(BY_CODE)]
    items.update({p: bool(v) for p, v in zip(recorded["PARAMCD"], recorded["AVAL"], strict=True)})
    explicit = set(recorded["PARAMCD"])
    in_window = labs[(labs["ADY"] > day - window_days) & (labs["ADY"] <= day)]
    for row in in_window.itertuples(index=False):
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


def _visits(
    subject: pd.DataFrame, source: str, window_days: int, thresholds: LabThresholds
) -> list[Visit]:
    """The subject's assessment visits in AVISITN order, each scored."""
    labs = subject[subject["PARAMCD"].isin(LAB_DESCRIPTOR)]
    clinical = subject[~subject["PARAMCD"].isin(LAB_DESCRIPTOR)]
    visits: list[Visit] = []
    for avisitn, rows in clinical.groupby("AVISITN", sort=True):
        day = int(rows["ADY"].max())
        if visits and day <= visits[-1].day:
            i = rows["ADY"].idxmax()
            raise DataError(
                f"visit AVISITN {avisitn:g} is on study day {day}, not after the previous visit's day "
                f"{visits[-1].day}",
                file=source,
                row=int(rows.loc[i, "_ROW"]),
                column="ADY",
            )
        value = dict(zip(rows["PARAMCD"], rows["AVAL"], strict=True))
        sledai = None
        if rows["PARAMCD"].isin(BY_CODE).any():
            items = _sledai_items(rows, labs, day, window_days, thresholds)
            sledai = sledai2k(items, partial=True)
        grade_rows = rows[rows["PARAMCD"].isin(BILAG_PARAMS)]
        grades = {BILAG_PARAMS[p]: g for p, g in zip(grade_rows["PARAMCD"], grade_rows["AVALC"], strict=True)}
        missing = [p for p, d in BILAG_PARAMS.items() if d not in grades]
        if grades and missing:
            raise DataError(
                f"BILAG-2004 incomplete at visit AVISITN {avisitn:g}: {', '.join(missing)} not graded",
                file=source,
                row=int(grade_rows["_ROW"].iloc[0]),
                column="PARAMCD",
            )
        flags = {name: (bool(value[p]) if p in value else None) for p, name in FLAG_PARAMS.items()}
        dated = rows[rows["ADY"] == day]["ADT"].dropna() if "ADT" in rows.columns else pd.Series(dtype=object)
        visits.append(
            Visit(
                avisitn=float(avisitn),
                day=day,
                first_row=int(rows["_ROW"].min()),
                date=dated.iloc[0] if len(dated) else None,
                assessment=Assessment(
                    sledai=sledai,
                    bilag=grades or None,
                    pga=value.get("PGA"),
                    prednisone_mg=value.get("PREDDOSE"),
                    **flags,
                ),
            )
        )
    return visits


def _iso(date: pd.Timestamp | None) -> str:
    return "" if date is None else date.date().isoformat()


def _time_to_flare(usubjid: str, visits: list[Visit]) -> list[dict[str, object]]:
    """TTSEVFL and TTMODFL records: the first qualifying flare on or after day 1, else censored."""
    graded = [(v, v.assessment.bilag) for v in visits if v.assessment.bilag is not None]
    flares: list[tuple[Visit, FlareResult]] = [
        (cur, bilag_flare(before, after))
        for (_, before), (cur, after) in zip(graded, graded[1:], strict=False)
        if cur.day >= 1
    ]
    after_start = [v for v, _ in graded if v.day >= 1]
    last = after_start[-1] if after_start else None
    start = next((v.date - pd.Timedelta(days=v.day - 1) for v in visits if v.day >= 1 and v.date is not None), None)
    records = []
    for paramcd, (param, severity) in TTE_PARAMS.items():
        event = next(((v, f) for v, f in flares if f.severity >= severity), None)
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


ENDPOINTS: dict[str, Callable[[Assessment, Assessment, Assessment], Response]] = {
    **{f"SRI{k}": (lambda base, prev, cur, k=k: sri(base, cur, reduction=k)) for k in SRI_LEVELS},
    "BICLA": lambda base, prev, cur: bicla(base, cur),
    "LLDAS": lambda base, prev, cur: lldas(prev, cur),
    "DORIS": lambda base, prev, cur: doris(cur),
}


def _responders(usubjid: str, visits: list[Visit], baseline_visit: float, source: str) -> list[dict[str, object]]:
    """One row per post-baseline visit and endpoint; LLDAS compares with the visit before."""
    base = next((v for v in visits if v.avisitn == baseline_visit), None)
    if base is None:
        raise DataError(
            f"subject {usubjid} has no baseline visit (AVISITN {baseline_visit:g})",
            file=source,
            row=visits[0].first_row if visits else None,
            column="AVISITN",
        )
    rows = []
    later = [v for v in visits if v.avisitn > baseline_visit]
    for prev, cur in zip([base, *later], later, strict=False):
        for paramcd, rule in ENDPOINTS.items():
            result = rule(base.assessment, prev.assessment, cur.assessment)
            rows.append(
                {
                    "USUBJID": usubjid,
                    "AVISITN": cur.avisitn,
                    "ADY": cur.day,
                    "PARAMCD": paramcd,
                    "PARAM": RESPONSE_PARAMS[paramcd],
                    "AVALC": result.avalc,
                    "REASON": "; ".join(result.reasons),
                }
            )
    return rows


def _scores(usubjid: str, visits: list[Visit]) -> list[dict[str, object]]:
    """SLEDAI-2K, clinical SLEDAI and numeric BILAG-2004 per visit; a partial score is left empty."""
    rows = []
    for v in visits:
        base = {"USUBJID": usubjid, "AVISITN": v.avisitn, "ADY": v.day}
        s = v.assessment.sledai
        if s is not None:
            clinical_missing = [c for c in s.missing if not BY_CODE[c].serological]
            clinical_total = sum(BY_CODE[c].weight for c in s.present if not BY_CODE[c].serological)
            for paramcd, param, total, missing in (
                ("SLEDAI2K", "SLEDAI-2K total score", s.total, list(s.missing)),
                ("CSLEDAI", "Clinical SLEDAI (SLEDAI-2K without serology)", clinical_total, clinical_missing),
            ):
                rows.append(
                    base
                    | {"PARAMCD": paramcd, "PARAM": param, "AVAL": np.nan if missing else total,
                       "MISSING": " ".join(missing)}
                )
        if v.assessment.bilag is not None:
            rows.append(
                base
                | {"PARAMCD": "BILAGNUM", "PARAM": "BILAG-2004 numeric score", "AVAL": bilag_score(v.assessment.bilag),
                   "MISSING": ""}
            )
    return rows


def derive(
    visits: pd.DataFrame,
    *,
    source: str = "visits",
    window_days: int = 30,
    baseline_visit: float = 0,
    thresholds: LabThresholds = LabThresholds(),
) -> Derived:
    """Derive ADTTE flare times, responder flags and index scores from a visits table.

    ``window_days`` is the SLEDAI-2K look-back for raw laboratory values (30 days for
    SLEDAI-2K as validated by Touma 2010; 10 days in SELENA usage). ``source`` names the
    file in error messages.
    """
    if window_days < 1:
        raise ValueError("window_days must be at least 1")
    df = _validate(visits, source)
    tte: list[dict[str, object]] = []
    rsp: list[dict[str, object]] = []
    scores: list[dict[str, object]] = []
    for usubjid, subject in df.groupby("USUBJID", sort=True):
        subject_visits = _visits(subject, source, window_days, thresholds)
        tte += _time_to_flare(str(usubjid), subject_visits)
        rsp += _responders(str(usubjid), subject_visits, baseline_visit, source)
        scores += _scores(str(usubjid), subject_visits)
    return Derived(
        adtte=pd.DataFrame(tte, columns=ADTTE_COLUMNS),
        adrsp=pd.DataFrame(rsp, columns=ADRSP_COLUMNS),
        scores=pd.DataFrame(scores, columns=SCORE_COLUMNS),
    )


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_derived(derived: Derived, out_dir: str | Path) -> dict[str, Path]:
    """Write adtte.csv, adrsp.csv and adqs_indices.csv into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"adtte": out / "adtte.csv", "adrsp": out / "adrsp.csv", "scores": out / "adqs_indices.csv"}
    for name, path in paths.items():
        _write_csv(getattr(derived, name), path)
    return paths
