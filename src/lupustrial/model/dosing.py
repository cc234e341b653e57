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

RITUXIMAB, BELIMUMAB = 0, 1
DRUGS = {"rituximab": RITUXIMAB, "belimumab": BELIMUMAB}
IV, SC = 0, 1
# Infusion lengths of the BEAT-LUPUS regimen (docs/model.md, "Dosing"). Belimumab: over 1 hour
# (BENLYSTA label). Rituximab: the US label's rate schedule — first infusion from 50 mg/h, then
# 100 mg/h for later ones, raised by that step every 30 minutes up to 400 mg/h — given at its
# average rate; that BEAT-LUPUS infused at these rates is an assumption.
BELIMUMAB_INFUSION_HOURS = 1.0
RITUXIMAB_FIRST_RATE_MG_H, RITUXIMAB_LATER_RATE_MG_H, RITUXIMAB_MAX_RATE_MG_H = 50.0, 100.0, 400.0


def escalated_infusion_hours(dose_mg: float, start_mg_h: float, max_mg_h: float, every_h: float = 0.5) -> float:
    """Hours to give ``dose_mg`` when the rate starts at ``start_mg_h`` and rises by it every ``every_h`` to a maximum.

    The rituximab label doses by rate, not duration; the model needs the duration.
    """
    hours, given, rate = 0.0, 0.0, start_mg_h
    while given + rate * every_h < dose_mg:
        given, hours, rate = given + rate * every_h, hours + every_h, min(rate + start_mg_h, max_mg_h)
    return hours + (dose_mg - given) / rate


class DosingError(LupustrialError):
    """Dosing events that the model cannot give (unknown drug, negative dose, SC rituximab)."""


@dataclass(frozen=True)
class DosingEvents:
    """One row per dose. ``amount_mg`` is the nominal dose; SC bioavailability is the model's."""

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
        if not np.all(np.isin(self.drug, list(DRUGS.values()))):
            raise DosingError("dosing drug must be 0 (rituximab) or 1 (belimumab)")
        if np.any(self.time < 0) or not np.all(np.isfinite(self.time)):
            raise DosingError("dosing time must be finite and >= 0 (day 0 = first rituximab infusion)")
        if np.any(self.amount_mg < 0):
            raise DosingError("dosing amount_mg must be >= 0")
        iv = self.route == IV
        if np.any(iv & (self.duration_day <= 0)):
            raise DosingError("an IV dose needs a positive infusion duration")
        if np.any(~iv & (self.route != SC)):
            raise DosingError("dosing route must be 0 (IV) or 1 (SC)")
        if np.any((self.route == SC) & (self.drug == RITUXIMAB)):
            raise DosingError("SC rituximab is not modelled")

    @classmethod
    def concat(cls, parts: list[DosingEvents]) -> DosingEvents:
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
        amount_mg: np.ndarray,
        *,
        start_day: np.ndarray | float = 0.0,
        infusion_hours: float | None = None,
    ) -> DosingEvents:
        """The same dosing days for every patient, shifted by each patient's ``start_day``.

        ``amount_mg`` is per patient (so mg/kg doses are weight × dose); ``infusion_hours``
        None means SC.
        """
        if drug not in DRUGS:
            raise DosingError(f"unknown drug {drug!r}; the model knows {sorted(DRUGS)}")
        patients = np.asarray(patients, dtype=np.int64)
        days = np.asarray(days, dtype=float)
        start = np.broadcast_to(np.asarray(start_day, dtype=float), patients.shape)
        amount = np.broadcast_to(np.asarray(amount_mg, dtype=float), patients.shape)
        n, k = len(patients), len(days)
        route = SC if infusion_hours is None else IV
        return cls(
            patient=np.repeat(patients, k),
            drug=np.full(n * k, DRUGS[drug]),
            time=(start[:, None] + days[None, :]).ravel(),
            amount_mg=np.repeat(amount, k),
            duration_day=np.full(n * k, 0.0 if infusion_hours is None else infusion_hours / 24.0),
            route=np.full(n * k, route),
        )


def beat_lupus_dosing(
    weight_kg: np.ndarray, arm: str, belimumab_start_day: np.ndarray | float, until_day: float
) -> DosingEvents:
    """BEAT-LUPUS: rituximab 1 g IV days 0 and 14; belimumab 10 mg/kg IV days 0, 14, 28, then q28d.

    Belimumab days count from ``belimumab_start_day`` (randomisation, 4–8 weeks after
    rituximab; per patient, NaN for a patient who gets none) and stop at ``until_day``
    (days from the first rituximab infusion).
    """
    if arm not in ("belimumab", "placebo"):
        raise DosingError(f"arm must be belimumab or placebo, not {arm!r}")
    n = len(weight_kg)
    patients = np.arange(n)
    parts = [DosingEvents.regimen(patients, "rituximab", np.array([day]), 1000.0,
                                   infusion_hours=escalated_infusion_hours(1000.0, rate, RITUXIMAB_MAX_RATE_MG_H))
             for day, rate in ((0.0, RITUXIMAB_FIRST_RATE_MG_H), (14.0, RITUXIMAB_LATER_RATE_MG_H))]
    if arm == "belimumab":
        start = np.broadcast_to(np.asarray(belimumab_start_day, dtype=float), (n,))
        on = np.isfinite(start)
        days = np.concatenate([[0.0, 14.0], np.arange(28.0, until_day + 1.0, 28.0)])
        ev = DosingEvents.regimen(patients[on], "belimumab", days, 10.0 * np.asarray(weight_kg)[on],
                                  start_day=start[on], infusion_hours=BELIMUMAB_INFUSION_HOURS)
        parts.append(ev.take(ev.time <= until_day))
    return DosingEvents.concat(parts)


@dataclass(frozen=True)
class Segments:
    """Per patient, breakpoints and the inputs that hold from each breakpoint to the next.

    ``start[i, k]`` is padded with +inf; ``rate[i, k, d]`` (mg/day) is drug d's infusion
    rate on segment k; ``depot[i, k]`` is the SC amount (mg, after bioavailability) added
    to the belimumab depot at ``start[i, k]``.
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


def build_segments(events: DosingEvents, n_patients: int, sc_bioavailability: float) -> Segments:
    """Turn dose rows into per-patient breakpoints with constant inputs between them.

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
    depot = np.concatenate([np.where(iv, 0.0, events.amount_mg * sc_bioavailability),
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
    seg_depot = np.zeros((n_patients, width))
    np.add.at(seg_depot, (pat, pos), depot)
    # Running rate within each patient; exact zeros restored where infusions cancel.
    seg_rate = np.zeros((n_patients, width, 2))
    np.add.at(seg_rate, (pat, pos, drug), d_rate)
    np.cumsum(seg_rate, axis=1, out=seg_rate)
    scale = np.ones(n_patients)  # each patient's largest rate (at least 1): the zeros' tolerance is the patient's own
    np.maximum.at(scale, events.patient, rate)
    seg_rate[np.abs(seg_rate) < 1e-9 * scale[:, None, None]] = 0.0
    return Segments(start=start, rate=seg_rate, depot=seg_depot)
