"""The drug registry: each drug declared once, and the model's rows, parameters and dosing derived from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lupustrial
from lupustrial.model import equations
from lupustrial.model.dosing import DosingEvents
from lupustrial.model.drugs import (
    BELIMUMAB, REGISTRY, RITUXIMAB, CD20Depletion, Drug, TwoCompartment, correlations, find,
)
from lupustrial.model.equations import ABSENT, PD_STATES, PD_THETA, layout
from lupustrial.model.param import Param
from lupustrial.model.parameters import SYSTEM_PARAMS, ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.model.solver import kernel_key
from lupustrial.population.virtual import virtual_population
from lupustrial.protocol import load_protocol, protocol_dosing

# A third drug for the tests only, written as a developer adds one to drugs.py (declared before the
# registry, then registered): an anti-CD20 antibody like obinutuzumab, with placeholder PK and no
# between-patient variability (so the virtual patients' draws are those of the two-drug registry).
_REGISTRY_LINE = "REGISTRY: tuple[Drug, ...] = (RITUXIMAB, BELIMUMAB)\n"
_ENTRY = '''
_FIXTURE = "test fixture: placeholder value, not a literature value"
OBINUTUZUMAB = Drug(
    "obinutuzumab",
    TwoCompartment(
        cl=Param("obi_cl", 0.1, "L/day", _FIXTURE), v1=Param("obi_v1", 3.0, "L", _FIXTURE),
        q=Param("obi_q", 0.5, "L/day", _FIXTURE), v2=Param("obi_v2", 2.0, "L", _FIXTURE),
        target_ratio=Param("obi_target_ratio", 0.5, "1", _FIXTURE),
    ),
    CD20Depletion(kill_rate=Param("obi_kill_rate", 1.0, "1/day", _FIXTURE),
                  ec50=Param("obi_ec50", 1.0, "µg/mL", _FIXTURE),
                  marrow_share=Param("obi_marrow_share", 0.5, "1", _FIXTURE)),
)
REGISTRY: tuple[Drug, ...] = (RITUXIMAB, BELIMUMAB, OBINUTUZUMAB)
'''
_declared: dict = {"Drug": Drug, "TwoCompartment": TwoCompartment, "CD20Depletion": CD20Depletion, "Param": Param,
                   "RITUXIMAB": RITUXIMAB, "BELIMUMAB": BELIMUMAB}
exec(_ENTRY, _declared)  # noqa: S102 - the test's own text
OBINUTUZUMAB = _declared["OBINUTUZUMAB"]
TIGHT = {"rtol": 1e-10, "atol": 1e-13}
DAYS = np.arange(0.0, 121.0)
PATIENTS, SEED = 6, 3


def test_rows_are_derived_from_the_registry_pk_first() -> None:
    lay = layout(REGISTRY + (OBINUTUZUMAB,))
    assert lay.states == ("rituximab_central_mg", "rituximab_peripheral_mg", "belimumab_depot_mg",
                          "belimumab_central_mg", "belimumab_peripheral_mg", "obinutuzumab_central_mg",
                          "obinutuzumab_peripheral_mg", *PD_STATES)
    assert lay.theta[-len(PD_THETA):] == PD_THETA and lay.theta[:len(equations.THETA) - len(PD_THETA)] \
        == equations.THETA[:len(equations.THETA) - len(PD_THETA)]  # the two drugs' rows unchanged
    assert lay.depot == (ABSENT, 2, ABSENT)  # an SC route means a depot
    assert lay.central == (0, 3, 5) and lay.peripheral == (1, 4, 6)
    assert [lay.theta[r] for r in lay.emax if r != ABSENT] == ["rituximab_emax", "obinutuzumab_emax"]
    assert [lay.theta[r] for r in lay.kd if r != ABSENT] == ["belimumab_kd"]
    assert [lay.theta[r] for r in lay.target_ratio if r != ABSENT] == ["rituximab_target_ratio",
                                                                       "obinutuzumab_target_ratio"]
    assert equations.LAYOUT == layout(REGISTRY)


def test_the_compiled_kernel_is_keyed_by_the_registry_too() -> None:
    """numba freezes the registry's rows into the kernel: another registry must not load this one."""
    import inspect

    source = inspect.getsource(equations)
    assert kernel_key(source, layout(REGISTRY)) != kernel_key(source, layout(REGISTRY + (OBINUTUZUMAB,)))
    assert kernel_key(source, layout(REGISTRY)) != kernel_key(source + " ", layout(REGISTRY))


def test_drug_parameters_are_the_entries_declarations() -> None:
    params = ModelParameters()
    for drug in REGISTRY:
        for p in drug.params:
            assert params.param(p.name) is p and p.source, p.name
    assert params.param("rtx_ec50") is RITUXIMAB.action.ec50 and params.param("bel_kd") is BELIMUMAB.action.kd
    assert {p.name for p in params.params} == {p.name for d in REGISTRY for p in d.params} | {
        p.name for p in SYSTEM_PARAMS}
    assert params.correlations == correlations(REGISTRY) == {("rtx_cl", "rtx_v1"): 0.4, ("bel_cl", "bel_v1"): 0.4}
    assert RITUXIMAB.routes == ("iv",) and BELIMUMAB.routes == ("iv", "sc")
    with pytest.raises(ValueError, match="unknown drug 'tabalumab'; the model knows belimumab, rituximab"):
        find("tabalumab")


def test_a_drug_parameter_outside_its_role_is_refused_by_name() -> None:
    """Domains come with the role: a bioavailability is a share, a killing rate positive."""
    with pytest.raises(lupustrial.errors.LupustrialError, match=r"bel_sc_bioavailability = 1.2 must be in \[0, 1\]"):
        ModelParameters().with_values(bel_sc_bioavailability=1.2)
    with pytest.raises(lupustrial.errors.LupustrialError, match="rtx_kill_rate = 0 must be > 0"):
        ModelParameters().with_values(rtx_kill_rate=0.0)


def _beat_lupus(protocol_file: str | Path = "beat-lupus") -> tuple:
    """States of the Belimumab arm of a protocol at tight tolerances, and CD19+ counts."""
    pop = virtual_population(PATIENTS, SEED)
    n = pop.n
    dosing = protocol_dosing(load_protocol(protocol_file), pop.covariates["weight_kg"],
                             np.full(n, "Belimumab", dtype=object), np.full(n, 42.0), np.full(n, DAYS[-1]))
    tr = simulate(pop, dosing, DAYS, **TIGHT)
    return tr.states, tr.output("cd19_cells_ul")


_SCRIPT = """
import json, sys
import numpy as np
import yaml
sys.path.insert(0, sys.argv[2])
from test_model_drugs import _beat_lupus
from lupustrial.model.equations import STATES
from lupustrial.protocol import ProtocolError, load_protocol, resolve_protocol

out = sys.argv[1]
values, cd19 = _beat_lupus()  # the third drug registered, never given
data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
data["background"].append({"drug": "obinutuzumab", "dose": 1000, "unit": "mg", "route": "iv", "days": [0],
                           "infusion_hours": 4})
with open(out + ".yaml", "w") as f:
    yaml.safe_dump(data, f)
dosed_values, cd19_dosed = _beat_lupus(out + ".yaml")
data["background"][-1].update(route="sc")
del data["background"][-1]["infusion_hours"]
with open(out + ".sc.yaml", "w") as f:
    yaml.safe_dump(data, f)
try:
    load_protocol(out + ".sc.yaml")
    refused = ""
except ProtocolError as exc:
    refused = str(exc)
np.savez(out, values=values, cd19=cd19, dosed_values=dosed_values, cd19_dosed=cd19_dosed)
with open(out + ".json", "w") as f:
    json.dump({"names": list(STATES), "refused": refused}, f)
"""


@pytest.fixture(scope="module")
def third_drug(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Results of a copy of lupustrial whose drugs.py has one more entry, and nothing else edited.

    The copy lives in pytest's cache folder with its files' times kept, so numba's cache of the
    three-drug kernel survives between runs.
    """
    root = pytestconfig.cache.mkdir("lupustrial-third-drug")
    package = root / "lupustrial"
    shutil.copytree(Path(lupustrial.__file__).parent, package, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    drugs = package / "model" / "drugs.py"
    source = drugs.read_text(encoding="utf-8")
    assert source.count(_REGISTRY_LINE) == 1
    drugs.write_text(source.replace(_REGISTRY_LINE, _ENTRY), encoding="utf-8")
    out = tmp_path_factory.mktemp("third") / "result"
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([sys.executable, "-c", _SCRIPT, str(out), str(Path(__file__).parent)], cwd=root, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with np.load(f"{out}.npz") as arrays:
        result = {k: arrays[k] for k in arrays.files}
    return result | json.loads(Path(f"{out}.json").read_text())


@pytest.mark.slow  # runs a copy of the package, which compiles its own kernel
def test_the_copy_has_the_third_drug_and_the_solver_unedited(third_drug: dict) -> None:
    names = third_drug["names"]
    assert names == [*equations.STATES[:5], "obinutuzumab_central_mg", "obinutuzumab_peripheral_mg",
                     *equations.STATES[5:]]
    assert third_drug["refused"].endswith("key background[1].route: obinutuzumab has no sc route (it has iv)")


@pytest.mark.slow  # runs a copy of the package, which compiles its own kernel
def test_a_third_drug_registered_but_not_given_changes_nothing(third_drug: dict) -> None:
    """Its states stay 0 and every other state is the two-drug model's, to the integration error.

    Not bit for bit: the solver's error norm averages over every state, so two more states (at 0)
    change its step sizes; at rtol 1e-10 the two agree to about 1e-10.
    """
    values, _ = _beat_lupus()
    three = third_drug["values"]
    assert not three[:, :, 5:7].any()
    two_drug_rows = [*range(5), *range(7, three.shape[2])]
    scale = np.maximum(np.abs(values), 1e-6 * np.abs(values).max(axis=1, keepdims=True))
    assert (np.abs(three[:, :, two_drug_rows] - values) / np.maximum(scale, 1e-300)).max() < 1e-8


@pytest.mark.slow  # runs a copy of the package, which compiles its own kernel
def test_a_third_anti_cd20_deepens_depletion(third_drug: dict) -> None:
    """Given with rituximab, its killing adds to rituximab's: fewer B cells while it is there."""
    assert (third_drug["values"][:, 1:, 5] == 0).all() and (third_drug["dosed_values"][:, 1:, 5] > 0).all()
    ratio = third_drug["cd19_dosed"][:, 1:60] / third_drug["cd19"][:, 1:60]
    assert (ratio <= 1.0 + 1e-9).all() and ratio.min() < 0.5


def test_the_protocol_doses_beat_lupus_as_written_out() -> None:
    """The protocol's events are the regimen written out by hand: rituximab 1 g over 4.25 h then 3.25 h,
    belimumab 10 mg/kg over 1 h on days 0, 14, 28, then every 28 to day 336 from each start day."""
    pop = virtual_population(8, 11, ModelParameters())
    start_days = [28.0, 35.0, 42.0, 56.0]  # patients 0-3 get belimumab; 4-7 do not
    arm = np.array(["Belimumab"] * 4 + ["Placebo"] * 4, dtype=object)
    start = np.concatenate([start_days, np.zeros(4)])
    ours = protocol_dosing(load_protocol("beat-lupus"), pop.covariates["weight_kg"], arm, start, np.full(pop.n, 420.0))
    patients, on, wt = np.arange(8), np.arange(4), pop.covariates["weight_kg"]
    theirs = DosingEvents.concat([
        DosingEvents.regimen(patients, "rituximab", np.array([0.0]), 1000.0, infusion_hours=4.25),
        DosingEvents.regimen(patients, "rituximab", np.array([14.0]), 1000.0, infusion_hours=3.25),
        DosingEvents.regimen(on, "belimumab", np.array([0.0, 14.0, *np.arange(28.0, 337.0, 28.0)]), 10.0 * wt[on],
                             start_day=np.array(start_days), infusion_hours=1.0),
    ])

    def rows(ev) -> np.ndarray:
        table = np.column_stack([ev.patient, ev.drug, ev.time, ev.amount_mg, ev.duration_day, ev.route])
        return table[np.lexsort(table.T[::-1])]

    np.testing.assert_array_equal(rows(ours), rows(theirs))
