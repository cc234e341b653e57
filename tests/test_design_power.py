"""Simulated power: batched tests agree with single fits; results do not depend on workers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from lupustrial.analysis import ancova_gmr, cox
from lupustrial.cli import app
from lupustrial.design.power import _success_chunk, power_curve, with_sample_size
from lupustrial.protocol import load_protocol
from lupustrial.simulate import simulate_chunk

runner = CliRunner()


def test_success_flags_equal_single_fits() -> None:
    protocol = with_sample_size(load_protocol("beat-lupus"), 30)
    trials = range(0, 6)
    flags = _success_chunk(protocol, trials, 3, None, 0.05)
    frames = simulate_chunk(protocol, trials, 3)
    arm = frames["adsl"].set_index("USUBJID")["TRT01P"]
    for t in trials:
        lab = frames["adlb"]
        lab = lab[(lab["TRIALID"] == t + 1) & (lab["PARAMCD"] == "DSDNA") & (lab["AVISITN"] == 52)]
        a = ancova_gmr(lab["AVAL"], lab["BASE"], lab["USUBJID"].map(arm), treatment="Belimumab", reference="Placebo")
        assert flags["ancova_log"][t] == (a.p_value < 0.05 and a.ratio < 1)
        tte = frames["adtte"]
        tte = tte[(tte["TRIALID"] == t + 1) & (tte["PARAMCD"] == "TTSEVFL")]
        if (tte["CNSR"] == 0).any():
            c = cox(tte["AVAL"], 1 - tte["CNSR"], (tte["USUBJID"].map(arm) == "Belimumab").astype(float))
            assert flags["cox"][t] == (c.lr_test.p_value < 0.05 and c.coef[0] < 0)
            assert flags["monotone"][t] == c.monotone
        else:
            assert not flags["cox"][t]


def test_power_curve_independent_of_workers() -> None:
    protocol = load_protocol("beat-lupus")
    a = power_curve(protocol, [24, 40], n_trials=12, seed=5, workers=1, chunk=12)
    b = power_curve(protocol, [24, 40], n_trials=12, seed=5, workers=2, chunk=5)
    assert a.table.equals(b.table)
    assert ((a.table["power"] >= 0) & (a.table["power"] <= 1)).all()
    p = a.table["power"].to_numpy()
    np.testing.assert_allclose(a.table["mc_se"], np.sqrt(p * (1 - p) / 12))


def test_cli_design_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "power.json"
    result = runner.invoke(app, ["design", "beat-lupus", "--sizes", "20,30", "--trials", "10", "--workers", "1",
                                 "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "smallest simulated N" in result.output
    rows = json.loads(out.read_text())["power"]
    assert {(r["n_total"], r["endpoint"]) for r in rows} == {(20, "ancova_log"), (20, "cox"), (30, "ancova_log"),
                                                             (30, "cox")}
    bad = runner.invoke(app, ["design", "beat-lupus", "--sizes", "20,x"])
    assert bad.exit_code == 2 and "option --sizes" in bad.output
