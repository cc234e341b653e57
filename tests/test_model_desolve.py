"""The model against an independent R implementation integrated by deSolve::lsoda."""

from __future__ import annotations

import numpy as np
import pytest

from lupustrial.model.dosing import DosingEvents
from lupustrial.model.equations import individual_parameters
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import Population
from lupustrial.protocol import load_protocol, protocol_dosing


@pytest.fixture(scope="module")
def case(reference):
    return reference("model_desolve")


def test_two_compartment_volumes_derived_as_in_r(case) -> None:
    params = ModelParameters()
    for name, value in case["derived"].items():
        assert params[name] == pytest.approx(value, rel=1e-10), name


def test_r_case_was_dosed_as_the_protocol_says(case) -> None:
    """model_desolve.R read beat_lupus.yaml; if the protocol's dosing changed since, rerun the script."""
    protocol = load_protocol("beat-lupus")
    rituximab, belimumab = protocol.background[0], protocol.arm("Belimumab").dosing[0]
    dosed = case["protocol"]
    assert dosed["rituximab_days"] == rituximab.dose_days().tolist()
    assert dosed["rituximab_hours"] == rituximab.dose_hours().tolist()
    assert dosed["belimumab_days"] == belimumab.dose_days().tolist()
    assert dosed["belimumab_hours"] == belimumab.dose_hours().tolist()


def test_trajectories_equal_r_lsoda(case) -> None:
    names = {p.name for p in ModelParameters().params}
    # The R side's other inputs are the ones the PK volumes are derived from; any other name
    # would be a parameter the model no longer has, silently left at its default here.
    assert set(case["params"]) - names == {"rtx_t_beta", "bel_vss", "bel_t_alpha", "bel_t_beta"}
    params = ModelParameters().with_values(
        **{k: v for k, v in case["params"].items() if k in names}, **case["derived"]
    )
    pts = case["patients"]
    cov = {k: np.array([p[k] for p in pts], dtype=float) for k in
           ("weight_kg", "baseline_baff_ng_ml", "baseline_cd19_cells_ul", "baseline_anti_dsdna_iu_ml")}
    pop = Population(params, cov, {}, individual_parameters(params, cov, {}))
    start = np.array([p["belimumab_start"] for p in pts], dtype=float)  # NaN: no belimumab
    arm = np.where(np.isfinite(start), "Belimumab", "Placebo").astype(object)
    dosing = protocol_dosing(load_protocol("beat-lupus"), cov["weight_kg"], arm, np.nan_to_num(start),
                             np.full(len(pts), 420.0))
    sc = [i for i, p in enumerate(pts) if np.isfinite(p["sc_day"])]
    sc_ev = DosingEvents.regimen(np.array(sc), "belimumab", np.array([pts[i]["sc_day"] for i in sc]), 200.0)
    dosing = DosingEvents.concat([dosing, sc_ev])
    times = np.array(case["times"])
    got = simulate(pop, dosing, times, rtol=1e-10, atol=1e-13).states
    ref = np.array(case["states"])
    # Values below 1e-6 of a state's range, or below lsoda's atol (a drug never given), count against that floor.
    floor = np.maximum(1e-6 * np.abs(ref).max(axis=1, keepdims=True), case["solver"]["atol"])
    rel = np.abs(got - ref) / np.maximum(np.abs(ref), floor)
    assert rel.max() < 1e-7, rel.max()  # reached: 1.3e-9 (the lsoda solution's own error)
