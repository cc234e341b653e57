"""Trajectories of the two-drug model as it was before the drug registry (commit 63e8471).

Run with that commit's code, from the repository root:

    git archive 63e8471 src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src python tests/reference/model_two_drugs.py

Writes tests/reference/model_two_drugs.json: 8 virtual patients (seed 11, prior parameters), each
given rituximab 1 g IV on days 0 (4.25 h) and 14 (3.25 h) and, for the first four, belimumab
10 mg/kg IV (1 h) from their start day on the BEAT-LUPUS schedule (days 0, 14, 28, then every 28
to day 336), and for patient 1 a 200 mg SC belimumab dose too; states at the output days. The
events are built with ``DosingEvents.regimen``, which both versions have, so
``tests/test_model_drugs.py`` gives the registry's model the same events and requires the same
numbers: the restructuring changed how the model is written, not what it computes.
"""

import json

import numpy as np

from lupustrial.model.dosing import DosingEvents
from lupustrial.model.equations import STATES
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population

PATIENTS, SEED = 8, 11
START = [28.0, 35.0, 42.0, 56.0]  # belimumab start days of patients 0-3; 4-7 get none
TIMES = np.union1d(np.arange(0.0, 421.0, 7.0), [0.1, 14.1, 42.02, 300.5])


def events(weight_kg: np.ndarray) -> DosingEvents:
    patients = np.arange(PATIENTS)
    belimumab_days = np.array([0.0, 14.0, *np.arange(28.0, 337.0, 28.0)])
    on = patients[:len(START)]
    return DosingEvents.concat([
        DosingEvents.regimen(patients, "rituximab", np.array([0.0]), 1000.0, infusion_hours=4.25),
        DosingEvents.regimen(patients, "rituximab", np.array([14.0]), 1000.0, infusion_hours=3.25),
        DosingEvents.regimen(on, "belimumab", belimumab_days, 10.0 * weight_kg[on], start_day=np.array(START),
                             infusion_hours=1.0),
        DosingEvents.regimen(np.array([1]), "belimumab", np.array([300.0]), 200.0),
    ])


def main() -> None:
    pop = virtual_population(PATIENTS, SEED, ModelParameters())
    states = simulate(pop, events(pop.covariates["weight_kg"]), TIMES).states
    with open("tests/reference/model_two_drugs.json", "w") as f:
        json.dump({"generated_by": "tests/reference/model_two_drugs.py at commit 63e8471", "state_names": STATES,
                   "times": TIMES.tolist(), "states": states.tolist()}, f)


if __name__ == "__main__":
    main()
