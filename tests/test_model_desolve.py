"""The model against an independent R implementation integrated by deSolve::lsoda."""

from __future__ import annotations

import numpy as np
import pytest

from lupustrial.model.dosing import RITUXIMAB, DosingEvents, beat_lupus_dosing
from lupustrial.model.equations import individual_parameters
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import Population


R_RITUXIMAB_INFUSION_HOURS = 4.0  # an input of the R case (model_desolve.R builds its infusions itself)


@pytest.fixture(scope="module")
def case(reference):
    return reference("model_desolve")


def test_two_compartment_volumes_derived_as_in_r(case) -> None:
    params = ModelParameters()
    for name, value in case["derived"].items():
        assert params[name] == pytest.approx(value, rel=1e-10), name


def test_trajectories_equal_r_lsoda(case) -> None:
    names = {p.name for p in ModelParameters().params}
    params = ModelParameters().with_values(
        **{k: v for k, v in case["params"].items() if k in names}, **case["derived"]
    )
    pts = case["patients"]
    cov = {k: np.array([p[k] for p in pts], dtype=float) for k in
           ("weight_kg", "baseline_baff_ng_ml", "baseline_cd19_cells_ul", "baseline_anti_dsdna_iu_ml")}
    pop = Population(params, cov, {}, individual_parameters(params, cov, {}))
    start = np.array([p["belimumab_start"] for p in pts], dtype=float)  # NaN: no belimumab
    trial = beat_lupus_dosing(cov["weight_kg"], "belimumab", start, 420.0)
    # The R case infuses each 1 g of rituximab over 4 h (model_desolve.R), not at the label's rates.
    hours = np.where(trial.drug == RITUXIMAB, R_RITUXIMAB_INFUSION_HOURS, trial.duration_day * 24.0)
    dosing = DosingEvents(trial.patient, trial.drug, trial.time, trial.amount_mg, hours / 24.0, trial.route)
    sc = [i for i, p in enumerate(pts) if np.isfinite(p["sc_day"])]
    sc_ev = DosingEvents.regimen(np.array(sc), "belimumab", np.array([pts[i]["sc_day"] for i in sc]), 200.0)
    dosing = DosingEvents.concat([dosing, sc_ev])
    times = np.array(case["times"])
    got = simulate(pop, dosing, times, rtol=1e-10, atol=1e-13).states
    ref = np.array(case["states"])
    floor = 1e-6 * np.abs(ref).max(axis=1, keepdims=True)
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), np.maximum(floor, 1e-300))
    assert rel.max() < 1e-7, rel.max()  # reached: 1.6e-9
