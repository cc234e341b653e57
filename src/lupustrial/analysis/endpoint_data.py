"""The data of one endpoint and one comparison, read from ADaM datasets into plain arrays.

A method never touches a data frame: the plan's entry says which records to take (PARAMCD,
visit, population), a reader here takes them, and the method gets arrays for the subjects of
one comparison (treatment vs reference). There is one reader per kind of data a method can
read; a new method names its kind (:data:`READERS`) and needs no reading code of its own.

Every reader gets ``subjects``: the ADSL rows of the comparison's population, one per subject,
with the arm in column ``ARM``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from lupustrial.errors import AnalysisError

if TYPE_CHECKING:
    from collections.abc import Callable

    from lupustrial.analysis.plan import Endpoint

DataKind = Literal["visit", "time_to_event", "responder", "count", "repeated"]
DAYS_PER_WEEK = 7.0
#: Column of ``subjects`` holding the arm compared.
ARM = "ARM"


@dataclass(frozen=True)
class EndpointData:
    """What every kind shares: the two arms, each analysed subject's arm and adjustment columns.

    Arrays are per analysed record, in one order: ``arm`` (str), ``factors`` (name -> labels,
    the endpoint's ``factors``), ``strata`` (one label per record joining the endpoint's
    ``strata`` columns; None without strata).
    """

    treatment: str
    reference: str
    conf_level: float
    usubjid: np.ndarray
    arm: np.ndarray
    factors: dict[str, np.ndarray]
    strata: np.ndarray | None

    def n(self) -> dict[str, int]:
        """Subjects analysed per arm, treatment first."""
        return {a: int((self.arm == a).sum()) for a in (self.treatment, self.reference)}


@dataclass(frozen=True)
class VisitData(EndpointData):
    """One value per subject at the endpoint's visit: ``value`` (AVAL) and ``baseline`` (BASE, NaN if absent)."""

    value: np.ndarray
    baseline: np.ndarray


@dataclass(frozen=True)
class TimeToEventData(EndpointData):
    """``time`` to event or censoring (days), ``event`` 1/0, ``horizon_days`` (the endpoint's week, or None)."""

    time: np.ndarray
    event: np.ndarray
    horizon_days: float | None


@dataclass(frozen=True)
class ResponderData(EndpointData):
    """``response`` 1/0 at the endpoint's visit; records not evaluable are left out (counted in ``not_evaluable``)."""

    response: np.ndarray
    not_evaluable: int


@dataclass(frozen=True)
class CountData(EndpointData):
    """``count`` of events per subject over ``exposure_days`` of follow-up."""

    count: np.ndarray
    exposure_days: np.ndarray


@dataclass(frozen=True)
class RepeatedData(EndpointData):
    """One row per subject and post-baseline visit up to the endpoint's week (long format).

    ``usubjid``/``arm``/``factors``/``strata`` repeat per row; ``visit`` is AVISITN (weeks),
    ``value`` AVAL and ``baseline`` BASE.
    """

    visit: np.ndarray
    value: np.ndarray
    baseline: np.ndarray

    def n(self) -> dict[str, int]:
        """Subjects (not visits) analysed per arm, treatment first."""
        return {a: int(np.unique(self.usubjid[self.arm == a]).size) for a in (self.treatment, self.reference)}


def _common(rows: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str], conf_level: float) -> dict[str, object]:
    strata = None
    if endpoint.strata:
        strata = rows[endpoint.strata].astype(str).agg(" / ".join, axis=1).to_numpy()
    return {"treatment": arms[0], "reference": arms[1], "conf_level": conf_level,
            "usubjid": rows["USUBJID"].to_numpy(), "arm": rows[ARM].to_numpy(dtype=str),
            "factors": {f: rows[f].to_numpy() for f in endpoint.factors}, "strata": strata}


def _records(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, week: bool) -> pd.DataFrame:
    """The endpoint's records (its PARAMCD, at its visit if ``week``) of the comparison's subjects."""
    mask = frame["PARAMCD"] == endpoint.param
    if week:
        mask &= frame["AVISITN"] == endpoint.week
    rows = _join(frame[mask], subjects, endpoint)
    twice = rows["USUBJID"].duplicated()
    if twice.any():
        where = f" at AVISITN {endpoint.week:g}" if week else ""
        raise AnalysisError(f"subject {rows['USUBJID'][twice].iloc[0]} has two {endpoint.param} records{where}")
    return rows


def _join(records: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint) -> pd.DataFrame:
    """The records of ``subjects``, in record order, with their arm, factor and strata columns
    (an inner join on USUBJID, without the cost of a pandas merge; ADSL's columns win)."""
    where = pd.Index(subjects["USUBJID"]).get_indexer(records["USUBJID"])
    keep = where >= 0
    columns = dict.fromkeys([ARM, *endpoint.factors, *endpoint.strata])
    return records[keep].assign(**{c: subjects[c].to_numpy()[where[keep]] for c in columns})


def _none_found(endpoint: Endpoint, where: str) -> AnalysisError:
    return AnalysisError(f"no {endpoint.param} records{where} for the subjects of the population")


def read_visit(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str],
               conf_level: float) -> VisitData:
    """AVAL and BASE at AVISITN = week; records with a blank AVAL are left out."""
    rows = _records(frame, subjects, endpoint, week=True).dropna(subset=["AVAL"])
    if rows.empty:
        raise _none_found(endpoint, f" with a value at AVISITN {endpoint.week:g}")
    base = rows["BASE"] if "BASE" in rows.columns else pd.Series(np.nan, index=rows.index)
    return VisitData(**_common(rows, endpoint, arms, conf_level), value=rows["AVAL"].to_numpy(dtype=float),
                     baseline=base.to_numpy(dtype=float))


def read_time_to_event(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str],
                       conf_level: float) -> TimeToEventData:
    """AVAL (days) and 1 - CNSR of the endpoint's ADTTE parameter."""
    rows = _records(frame, subjects, endpoint, week=False)
    if rows.empty:
        raise _none_found(endpoint, "")
    horizon = None if endpoint.week is None else endpoint.week * DAYS_PER_WEEK
    return TimeToEventData(**_common(rows, endpoint, arms, conf_level), time=rows["AVAL"].to_numpy(dtype=float),
                           event=1 - rows["CNSR"].to_numpy(dtype=int), horizon_days=horizon)


def _response(rows: pd.DataFrame) -> pd.Series:
    """1/0 from AVALC Y/N, else from AVAL 1/0; NaN when not evaluable (blank or anything else)."""
    if "AVALC" in rows.columns and rows["AVALC"].notna().any():
        return rows["AVALC"].astype(str).str.upper().map({"Y": 1.0, "N": 0.0})
    return rows["AVAL"].where(rows["AVAL"].isin((0.0, 1.0)))


def read_responder(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str],
                   conf_level: float) -> ResponderData:
    """Responder flags at AVISITN = week (ADRS-like: AVALC Y/N, or AVAL 1/0)."""
    rows = _records(frame, subjects, endpoint, week=True)
    response = _response(rows)
    evaluable = response.notna().to_numpy()
    if not evaluable.any():
        raise _none_found(endpoint, f" with a Y/N response at AVISITN {endpoint.week:g}")
    rows = rows[evaluable]
    return ResponderData(**_common(rows, endpoint, arms, conf_level),
                         response=response[evaluable].to_numpy(dtype=int), not_evaluable=int((~evaluable).sum()))


def read_count(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str],
               conf_level: float) -> CountData:
    """Event counts and follow-up (days, column ``exposure``, default TRTDURD).

    From ADSL (the endpoint's dataset is ``adsl``), ``param`` is the column holding the count;
    from a BDS dataset, the count is AVAL of the PARAMCD records and the follow-up is the
    record's ``exposure`` column or, failing that, ADSL's.
    """
    exposure = endpoint.exposure or "TRTDURD"
    if "PARAMCD" not in frame.columns:
        if endpoint.param not in subjects.columns:
            raise AnalysisError(f"ADSL has no column {endpoint.param} (the count)")
        rows = subjects.assign(_COUNT=subjects[endpoint.param])
    else:
        rows = _records(frame, subjects, endpoint, week=False).rename(columns={"AVAL": "_COUNT"})
        if exposure not in rows.columns and exposure in subjects.columns:
            rows = rows.merge(subjects[["USUBJID", exposure]], on="USUBJID")
    if exposure not in rows.columns:
        raise AnalysisError(f"no column {exposure} holds the follow-up of the count")
    rows = rows.dropna(subset=["_COUNT", exposure])
    if rows.empty:
        raise _none_found(endpoint, " with a count and follow-up")
    return CountData(**_common(rows, endpoint, arms, conf_level), count=rows["_COUNT"].to_numpy(dtype=float),
                     exposure_days=rows[exposure].to_numpy(dtype=float))


def read_repeated(frame: pd.DataFrame, subjects: pd.DataFrame, endpoint: Endpoint, arms: tuple[str, str],
                  conf_level: float) -> RepeatedData:
    """Every scheduled post-baseline value (0 < AVISITN <= week) with BASE; unscheduled and blank
    values are left out."""
    mask = (frame["PARAMCD"] == endpoint.param) & (frame["AVISITN"] > 0) & (frame["AVISITN"] <= endpoint.week)
    rows = _join(frame[mask].dropna(subset=["AVAL"]), subjects, endpoint)
    if rows.empty:
        raise _none_found(endpoint, f" after baseline up to AVISITN {endpoint.week:g}")
    rows = rows.sort_values(["USUBJID", "AVISITN"], kind="stable")
    base = rows["BASE"] if "BASE" in rows.columns else pd.Series(np.nan, index=rows.index)
    return RepeatedData(**_common(rows, endpoint, arms, conf_level), visit=rows["AVISITN"].to_numpy(dtype=float),
                        value=rows["AVAL"].to_numpy(dtype=float), baseline=base.to_numpy(dtype=float))


@dataclass(frozen=True)
class Reader:
    """How one kind of data is read: the function, the dataset it reads unless the endpoint names
    another, and the schema that dataset is validated with (:data:`lupustrial.data.DATASETS`)."""

    read: Callable[..., EndpointData]
    dataset: str
    schema: str


READERS: dict[DataKind, Reader] = {
    "visit": Reader(read_visit, "adlb", "adlb"),
    "time_to_event": Reader(read_time_to_event, "adtte", "adtte"),
    "responder": Reader(read_responder, "adrs", "bds"),
    "count": Reader(read_count, "adsl", "bds"),
    "repeated": Reader(read_repeated, "adlb", "adlb"),
}
