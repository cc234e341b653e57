"""Dosing as flat event arrays, and their conversion to per-patient constant-input segments.

Doses differ per patient (randomisation day, weight-based dose, placebo = no events), so
they are arrays ``(patient, drug, time, amount, duration, route)`` rather than a shared
schedule. The solver integrates between breakpoints (infusion starts and ends, SC doses)
where every input is constant, which keeps an adaptive Runge–Kutta step smooth.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from lupustrial.errors import LupustrialError
from lupustrial.model.drugs import REGISTRY, ROUTES

DRUG_INDEX = {d.name: i for i, d in enumerate(REGISTRY)}  # the ``drug`` code of an event
IV, SC = ROUTES.index("iv"), ROUTES.index("sc")  # the ``route`` code of an event


class DosingError(LupustrialError):
    """Dosing events that the model cannot give (unknown drug, negative dose, a route the drug lacks)."""


@dataclass(frozen=True)
class DosingEvents:
    """One row per dose. ``amount_mg`` is the nominal dose; SC bioavailability is the model's.

    ``drug`` is the drug's place in the registry (:data:`DRUG_INDEX`), ``route`` :data:`IV` or
    :data:`SC`. Protocols make these (:func:`lupustrial.protocol.dosing.protocol_dosing`).
    """

    patient: np.ndarray
    drug: np.ndarray
    time: np.ndarray
    amount_mg: np.ndarray
    duration_day: np.ndarray
    route: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.patient)
        for name in ("drug", "time", "amount_mg", "duration_day", "route"):
            if len(getattr(self, name)) != n:
                raise DosingError(f"dosing column {name} has {len(getattr(self, name))} rows, expected {n}")
        if n == 0:
            return
        if np.any(self.patient < 0):
            raise DosingError("dosing patient index must be >= 0")
        if not np.all(np.isin(self.drug, list(DRUG_INDEX.values()))):
            raise DosingError(f"dosing drug must be one of {dict(enumerate(DRUG_INDEX))}")
        if np.any(self.time < 0) or not np.all(np.isfinite(self.time)):
            raise DosingError("dosing time must be finite and >= 0 (day 0 = first rituximab infusion)")
        if np.any(self.amount_mg < 0):
            raise DosingError("dosing amount_mg must be >= 0")
        iv = self.route == IV
        if np.any(iv & (self.duration_day <= 0)):
            raise DosingError("an IV dose needs a positive infusion duration")
        if np.any(~iv & (self.route != SC)):
            raise DosingError("dosing route must be 0 (IV) or 1 (SC)")
        for code, drug in enumerate(REGISTRY):
            if "sc" not in drug.routes and np.any((self.route == SC) & (self.drug == code)):
                raise DosingError(f"{drug.name} has no sc route (it has {', '.join(drug.routes)})")

    @classmethod
    def concat(cls, parts: list[DosingEvents]) -> DosingEvents:
        """The events of ``parts`` in order (no parts: no events)."""
        if not parts:
            return cls(*(np.zeros(0, dtype=float if f in ("time", "amount_mg", "duration_day") else np.int64)
                         for f in cls.__dataclass_fields__))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def take(self, rows: np.ndarray) -> DosingEvents:
        """The events at ``rows`` (indices or a mask)."""
        return DosingEvents(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    @classmethod
    def regimen(
        cls,
        patients: np.ndarray,
        drug: str,
        days: np.ndarray,
        amount_mg: np.ndarray | float,
        *,
        start_day: np.ndarray | float = 0.0,
        infusion_hours: np.ndarray | float | None = None,
    ) -> DosingEvents:
        """The same dosing days for every patient, shifted by each patient's ``start_day``.

        ``amount_mg`` is per patient (so mg/kg doses are weight × dose); ``infusion_hours`` is
        one duration or one per day, None means SC.
        """
        if drug not in DRUG_INDEX:
            raise DosingError(f"unknown drug {drug!r}; the model knows {', '.join(sorted(DRUG_INDEX))}")
        patients = np.asarray(patients, dtype=np.int64)
        days = np.asarray(days, dtype=float)
        start = np.broadcast_to(np.asarray(start_day, dtype=float), patients.shape)
        amount = np.broadcast_to(np.asarray(amount_mg, dtype=float), patients.shape)
        hours = np.broadcast_to(np.asarray(0.0 if infusion_hours is None else infusion_hours, dtype=float), days.shape)
        n, k = len(patients), len(days)
        return cls(
            patient=np.repeat(patients, k),
            drug=np.full(n * k, DRUG_INDEX[drug]),
            time=(start[:, None] + days[None, :]).ravel(),
            amount_mg=np.repeat(amount, k),
            duration_day=np.tile(hours / 24.0, n),
            route=np.full(n * k, SC if infusion_hours is None else IV),
        )


@dataclass(frozen=True)
class Segments:
    """Per patient, breakpoints and the inputs that hold from each breakpoint to the next.

    ``start[i, k]`` is padded with +inf; ``rate[i, k, d]`` (mg/day) is drug d's infusion
    rate on segment k; ``depot[i, k, d]`` is the SC amount (mg, after bioavailability) added
    to drug d's depot at ``start[i, k]`` (d: the drug's place in the registry).
    """

    start: np.ndarray
    rate: np.ndarray
    depot: np.ndarray


def _check_patients(events: DosingEvents, n_patients: int) -> None:
    if len(events.patient) and events.patient.max() >= n_patients:
        raise DosingError(f"dosing names patient {int(events.patient.max())} of a population of {n_patients}")


def patient_chunks(events: DosingEvents, n_patients: int, chunk: int) -> Iterator[DosingEvents]:
    """The events of patients 0 … chunk-1, chunk … 2·chunk-1, …, each renumbered from 0.

    Lets a caller build each chunk's segments when it needs them, instead of all patients'
    before the first chunk can start (100,000 patients' segments: ~1 s on one core).
    """
    _check_patients(events, n_patients)
    order = np.argsort(events.patient, kind="stable")
    bounds = np.searchsorted(events.patient[order], np.arange(0, n_patients + chunk, chunk))
    for k, lo in enumerate(range(0, n_patients, chunk)):
        part = events.take(order[bounds[k]:bounds[k + 1]])
        yield replace(part, patient=part.patient - lo)


def build_segments(events: DosingEvents, n_patients: int, sc_bioavailability: np.ndarray) -> Segments:
    """Turn dose rows into per-patient breakpoints with constant inputs between them.

    ``sc_bioavailability`` holds each drug's fraction of an SC dose that reaches its depot.
    Each patient's inputs are summed from that patient's own rate changes only, so a
    patient's segments do not depend on which other patients share the call.
    """
    _check_patients(events, n_patients)
    iv = events.route == IV
    rate = np.where(iv, events.amount_mg / np.where(iv, events.duration_day, 1.0), 0.0)
    # Rate changes (+r at start, -r at end), SC amounts, and a breakpoint at t=0 for everyone.
    pat = np.concatenate([events.patient, events.patient[iv], np.arange(n_patients)])
    t = np.concatenate([events.time, events.time[iv] + events.duration_day[iv], np.zeros(n_patients)])
    drug = np.concatenate([events.drug, events.drug[iv], np.zeros(n_patients, dtype=events.drug.dtype)])
    d_rate = np.concatenate([rate, -rate[iv], np.zeros(n_patients)])
    depot = np.concatenate([np.where(iv, 0.0, events.amount_mg * np.asarray(sc_bioavailability)[events.drug]),
                            np.zeros(iv.sum() + n_patients)])
    order = np.lexsort((t, pat))
    pat, t, drug, d_rate, depot = pat[order], t[order], drug[order], d_rate[order], depot[order]
    new = np.ones(len(t), dtype=bool)
    new[1:] = (pat[1:] != pat[:-1]) | (t[1:] != t[:-1])
    bp = np.cumsum(new) - 1  # breakpoint id of each row
    counts = np.bincount(pat[new], minlength=n_patients)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = bp - first[pat]  # each row's breakpoint number within its patient
    width = int(counts.max()) + 1
    start = np.full((n_patients, width), np.inf)
    start[pat, pos] = t
    seg_depot = np.zeros((n_patients, width, len(REGISTRY)))
    np.add.at(seg_depot, (pat, pos, drug), depot)
    # Running rate within each patient; exact zeros restored where infusions cancel.
    seg_rate = np.zeros((n_patients, width, len(REGISTRY)))
    np.add.at(seg_rate, (pat, pos, drug), d_rate)
    np.cumsum(seg_rate, axis=1, out=seg_rate)
    scale = np.ones(n_patients)  # each patient's largest rate (at least 1): the zeros' tolerance is the patient's own
    np.maximum.at(scale, events.patient, rate)
    seg_rate[np.abs(seg_rate) < 1e-9 * scale[:, None, None]] = 0.0
    return Segments(start=start, rate=seg_rate, depot=seg_depot)
