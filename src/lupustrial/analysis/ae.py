"""Adverse-event tables from ADaM ADAE/ADSL, with the tests R's fisher.test/poisson.test give.

BEAT-LUPUS reports adverse events as a secondary end point (Shipa et al. 2021; see
``shared/reference/beat_lupus.md``); the question is whether belimumab after rituximab adds
infections or serious events. Each table row compares two arms twice: subjects with >= 1
event (Fisher's exact test, because counts are small) and events per patient-year (exact
conditional rate ratio, because one subject can have many events and follow-up differs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from lupustrial.errors import AnalysisError, DataError

INFECTION_SOC = "Infections and infestations"  # MedDRA system organ class
DAYS_PER_YEAR = 365.25
_SEVERITIES = frozenset({"MILD", "MODERATE", "SEVERE"})

Level = Literal["overall", "body_system", "preferred_term"]

# Summary rows: label and the ADAE records they count.
_OVERALL: tuple[tuple[str, Callable[[pd.DataFrame], pd.Series]], ...] = (
    ("Any adverse event", lambda ae: pd.Series(True, index=ae.index)),
    ("Any serious adverse event", lambda ae: ae["AESER"] == "Y"),
    # Sponsors write system organ classes in any case ("INFECTIONS AND INFESTATIONS").
    ("Any infection", lambda ae: ae["AEBODSYS"].astype(str).str.casefold() == INFECTION_SOC.casefold()),
    ("Any severe adverse event", lambda ae: ae["AESEV"] == "SEVERE"),
)


@dataclass(frozen=True)
class ArmCounts:
    """One arm's side of a table row; N and patient-years are the arm's whole exposure."""

    arm: str
    n: int
    subjects: int
    percent: float
    events: int
    patient_years: float
    rate_per_100py: float


@dataclass(frozen=True)
class AeRow:
    """One table row: overall category, body system (SOC) or preferred term within a SOC.

    ``fisher_p`` tests subjects with >= 1 event vs none; the rate ratio is treatment /
    reference events per patient-year with R ``poisson.test``'s exact conditional CI and p.
    With no events in either arm the rate ratio, CI and p are NaN (R refuses that case);
    with none in one arm it is 0 or inf with a one-sided-open CI, as R gives.
    """

    level: Level
    body_system: str
    term: str
    treatment: ArmCounts
    reference: ArmCounts
    fisher_p: float
    rate_ratio: float
    rate_ratio_lower: float
    rate_ratio_upper: float
    rate_ratio_p: float


@dataclass(frozen=True)
class AeSummary:
    """The adverse-event table: overall rows, then SOCs and their PTs alphabetically."""

    treatment: str
    reference: str
    conf_level: float
    rows: tuple[AeRow, ...]

    def to_frame(self) -> pd.DataFrame:
        """One line per table row; arm columns are prefixed ``treatment_``/``reference_``."""
        records = []
        for row in self.rows:
            rec: dict[str, Any] = {}
            for name, value in dataclasses.asdict(row).items():
                if isinstance(value, dict):
                    rec.update({f"{name}_{k}": v for k, v in value.items()})
                else:
                    rec[name] = value
            records.append(rec)
        return pd.DataFrame.from_records(records)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types; non-finite rate ratios stay float ``nan``/``inf``."""
        return dataclasses.asdict(self)


def _require(df: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    for col in columns:
        if col not in df.columns:
            raise DataError(f"{name} has no column {col}", column=col)


def _first_bad(mask: pd.Series | np.ndarray) -> int | None:
    """The 1-based data row of the first True, or None."""
    hits = np.flatnonzero(np.asarray(mask, dtype=bool))
    return int(hits[0]) + 1 if hits.size else None


def _check(mask: pd.Series | np.ndarray, message: str, column: str) -> None:
    row = _first_bad(mask)
    if row is not None:
        raise DataError(message, row=row, column=column)


def _exposure_days(adsl: pd.DataFrame) -> np.ndarray:
    """TRTDURD if present, else TRTEDT - TRTSDT + 1 (both days counted, as ADaM defines it)."""
    if "TRTDURD" in adsl.columns:
        days = pd.to_numeric(adsl["TRTDURD"], errors="coerce").to_numpy(dtype=float)
        _check(~(days > 0), "treatment duration must be a positive number of days", "TRTDURD")
        return days
    _require(adsl, ("TRTSDT", "TRTEDT"), "ADSL (without TRTDURD)")
    dates = {}
    for col in ("TRTSDT", "TRTEDT"):
        dates[col] = pd.to_datetime(adsl[col], errors="coerce")
        _check(dates[col].isna(), "missing or unreadable date", col)
    days = ((dates["TRTEDT"] - dates["TRTSDT"]).dt.days + 1).to_numpy(dtype=float)
    _check(days < 1, "treatment end date is before the start date", "TRTEDT")
    return days


def _rate_ratio(
    x: tuple[int, int], exposure: tuple[float, float], conf_level: float
) -> tuple[float, float, float, float]:
    """R ``poisson.test(x, exposure)``: a binomial test of x[0] among x[0] + x[1] events."""
    total = x[0] + x[1]
    if total == 0:
        return (np.nan,) * 4
    share = exposure[0] / (exposure[0] + exposure[1])
    test = stats.binomtest(x[0], total, share)
    ci = test.proportion_ci(conf_level, method="exact")

    def to_ratio(p: float) -> float:
        return np.inf if p >= 1 else p / (1 - p) * exposure[1] / exposure[0]

    return to_ratio(x[0] / total), to_ratio(ci.low), to_ratio(ci.high), float(test.pvalue)


def ae_summary(
    adae: pd.DataFrame,
    adsl: pd.DataFrame,
    *,
    arm: str = "TRT01A",
    treatment: str,
    reference: str,
    conf_level: float = 0.95,
    treatment_emergent: str | None = None,
) -> AeSummary:
    """Subject and event counts, exposure-adjusted rates and arm comparisons per AE row.

    ADSL defines the population (records of subjects not in it, or in other arms, are left
    out) and the exposure; every ADAE record counts as one event, or, with
    ``treatment_emergent`` (an ADAE flag column such as TRTEMFL), every record flagged Y.
    Rows: any AE / serious (AESER 'Y') / infection (SOC "Infections and infestations", in any
    case) / severe (AESEV 'SEVERE'), then each body system (AEBODSYS, as written) with its
    preferred terms (AEDECOD) nested under it.
    """
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    _require(adsl, ("USUBJID", arm), "ADSL")
    _require(adae, ("USUBJID", "AEDECOD", "AEBODSYS", "AESER", "AESEV"), "ADAE")
    _check(adsl["USUBJID"].duplicated(), "subject appears twice in ADSL", "USUBJID")
    arms = sorted(adsl[arm].dropna().astype(str).unique())
    for role, label in (("treatment", treatment), ("reference", reference)):
        if label not in arms:
            raise AnalysisError(f"{role} arm {label!r} is not among the ADSL arms {arms}")
    days = _exposure_days(adsl)

    for col in ("AEDECOD", "AEBODSYS"):
        _check(adae[col].isna(), "missing value", col)
    _check(~adae["AESER"].isin(("Y", "N")), "AESER must be 'Y' or 'N'", "AESER")
    _check(adae["AESEV"].notna() & ~adae["AESEV"].isin(_SEVERITIES), "AESEV must be MILD, MODERATE, SEVERE or blank",
           "AESEV")
    if treatment_emergent is not None:
        _require(adae, (treatment_emergent,), "ADAE")
        adae = adae[adae[treatment_emergent] == "Y"]

    arm_of = adsl[arm].astype(str).set_axis(adsl["USUBJID"])
    roles = (treatment, reference)
    n = {a: int((arm_of == a).sum()) for a in roles}
    py = {a: float(days[(arm_of == a).to_numpy()].sum()) / DAYS_PER_YEAR for a in roles}
    ae = adae.assign(_arm=adae["USUBJID"].map(arm_of))
    ae = ae[ae["_arm"].isin(roles)]

    def make_row(level: Level, soc: str, term: str, records: pd.DataFrame) -> AeRow:
        counts = []
        for a in roles:
            mine = records[records["_arm"] == a]
            subjects, events = int(mine["USUBJID"].nunique()), len(mine)
            counts.append(ArmCounts(a, n[a], subjects, 100 * subjects / n[a], events, py[a],
                                    100 * events / py[a]))
        trt, ref = counts
        table = [[trt.subjects, trt.n - trt.subjects], [ref.subjects, ref.n - ref.subjects]]
        rr = _rate_ratio((trt.events, ref.events), (trt.patient_years, ref.patient_years),
                         conf_level)
        return AeRow(level, soc, term, trt, ref, float(stats.fisher_exact(table)[1]), *rr)

    rows = [make_row("overall", "", label, ae[select(ae)]) for label, select in _OVERALL]
    for soc, in_soc in sorted(ae.groupby("AEBODSYS"), key=lambda kv: str(kv[0])):
        rows.append(make_row("body_system", str(soc), "", in_soc))
        for pt, in_pt in sorted(in_soc.groupby("AEDECOD"), key=lambda kv: str(kv[0])):
            rows.append(make_row("preferred_term", str(soc), str(pt), in_pt))
    return AeSummary(str(treatment), str(reference), conf_level, tuple(rows))
