"""A protocol's regimens as the model's dosing events: the only place doses are scheduled.

Every simulation (trials, calibration, the model commands, qualification, benchmarks) doses
through here, so a trial is dosed one way, the way its protocol says.
"""

from __future__ import annotations

import numpy as np

from lupustrial.model.dosing import DosingEvents
from lupustrial.protocol.schema import Dosing, Protocol


def regimen_events(regimen: Dosing, patients: np.ndarray, weight_kg: np.ndarray,
                   start_day: np.ndarray | float) -> DosingEvents:
    """Events of one regimen for ``patients`` (weights in kg), its day 0 on each patient's ``start_day``."""
    amount = regimen.dose * (np.asarray(weight_kg) if regimen.unit == "mg/kg" else 1.0)
    return DosingEvents.regimen(patients, regimen.drug, regimen.dose_days(), amount, start_day=start_day,
                                infusion_hours=regimen.dose_hours())


def protocol_dosing(protocol: Protocol, weight_kg: np.ndarray, arm: np.ndarray, rand_day: np.ndarray,
                    last_day: np.ndarray) -> DosingEvents:
    """Dosing events of every patient: background therapy from day 0, study drug from randomisation.

    ``arm`` holds each patient's arm name, ``rand_day`` the day of randomisation (days from the
    first rituximab infusion); doses after ``last_day`` (same days) are not given.
    """
    patients = np.arange(len(weight_kg))
    weight_kg = np.asarray(weight_kg)
    parts = [regimen_events(r, patients, weight_kg, 0.0) for r in protocol.background]
    for a in protocol.arms:
        idx = patients[arm == a.name]
        parts += [regimen_events(r, idx, weight_kg[idx], rand_day[idx]) for r in a.dosing]
    events = DosingEvents.concat(parts)
    return events.take(events.time <= last_day[events.patient])
