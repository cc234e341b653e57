"""Assurance over the calibrated posterior draws: run beside the power, on the same trials, kept apart on resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.grid import grid_cells
from lupustrial.design.html import power_figure
from lupustrial.design.power import mc_se, power_curve
from lupustrial.design.sweep import run_sweep
from lupustrial.errors import LupustrialError
from lupustrial.model.parameters import calibrated_draws, default_parameters
from lupustrial.protocol import load_protocol

SETTINGS = {"n_trials": 40, "seed": 3, "alpha": 0.05}
SIZES = [20, 30]


@pytest.fixture(scope="module")
def draws():
    return calibrated_draws()


@pytest.fixture(scope="module")
def swept(draws, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    protocol = load_protocol("beat-lupus")
    return out, run_sweep(protocol, grid_cells(protocol), SIZES, assurance=draws, out=out, chunk=40, **SETTINGS)


def test_power_at_the_point_estimate_and_assurance_over_the_draws(swept, draws) -> None:
    _, (result,) = swept
    protocol = load_protocol("beat-lupus")
    assert result.assurance is not None and result.assurance.parameter_sets == len(draws) == 200
    assert result.curve.parameter_sets == 1
    point = power_curve(protocol, SIZES, chunk=40, params=default_parameters(), **SETTINGS)
    assert result.curve.table.equals(point.table)
    # the same numbers whatever the chunking (and hence the workers)
    again = power_curve(protocol, SIZES, chunk=7, params=draws, **SETTINGS)
    assert result.assurance.table.equals(again.table)
    assert not result.assurance.table["power"].equals(result.curve.table["power"])  # the draws do matter


def test_resume_keeps_the_assurance_and_refuses_mixing(swept, draws) -> None:
    out, (result,) = swept
    protocol = load_protocol("beat-lupus")
    cached: list[bool] = []
    resumed = run_sweep(protocol, grid_cells(protocol), SIZES, assurance=draws, out=out, resume=True,
                        on_cell=lambda c, hit: cached.append(hit), **SETTINGS)
    assert cached == [True]
    assert resumed[0].assurance is not None and resumed[0].assurance.table.equals(result.assurance.table)
    with pytest.raises(LupustrialError, match=r"other settings \(assurance\)"):
        run_sweep(protocol, grid_cells(protocol), SIZES, out=out, resume=True, **SETTINGS)
    with pytest.raises(LupustrialError, match=r"other settings \(assurance\)"):
        run_sweep(protocol, grid_cells(protocol), SIZES, assurance=draws[:100], out=out, resume=True, **SETTINGS)


def test_assurance_text_reads_the_assurance_at_the_powered_n(swept) -> None:
    _, (result,) = swept
    target = float(result.curve.table.query("endpoint == 'DSDNA'")["power"].max())
    n = result.curve.smallest_n("DSDNA", target)
    assert n is not None
    assert result.assurance_text("DSDNA", target) == f"{result.assurance.power_at('DSDNA', n):.3f}"
    assert result.assurance_text("DSDNA", 1.01) == "-"
    assert len(power_figure(result.curve, ["DSDNA", "TTSEVFL"], result.assurance).axes) == 2


@given(st.lists(st.booleans(), min_size=2, max_size=60))
def test_mc_se_one_set_is_binomial(success: list[bool]) -> None:
    x = np.array(success)
    p = x.mean()
    assert mc_se(x) == pytest.approx(np.sqrt(p * (1 - p) / len(x)))
    # one trial per set (trials <= sets): the clusters are single trials, binomial up to T/(T - 1)
    assert mc_se(x, 200) == pytest.approx(np.sqrt(p * (1 - p) / (len(x) - 1)))


def test_mc_se_counts_the_draws_not_only_the_trials() -> None:
    # 4 sets, each used 10 times: sets 0 and 2 always succeed, 1 and 3 never (all error between draws)
    between = np.arange(40) % 2 == 0
    assert mc_se(between, 4) == pytest.approx(np.sqrt(4 / 3 * 0.25 / 4))
    assert mc_se(between, 4) > mc_se(between)
    # every set succeeds in half of its trials: no error between draws
    within = np.arange(40) // 4 % 2 == 0
    assert mc_se(within, 4) == 0.0


def test_cli_assurance_table_json_html(tmp_path: Path) -> None:
    args = ["design", "beat-lupus", "--sizes", "16,24", "--trials", "10", "--workers", "1", "--assurance",
            "--json", str(tmp_path / "d.json"), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())  # titles wrap at the table's width
    assert "assurance (PoS) over 200 posterior draws" in words and "N for PoS" in words
    (cell,) = json.loads((tmp_path / "d.json").read_text())["cells"]
    assert cell["parameter_sets"] == 1 and cell["assurance_curve"]["parameter_sets"] == 200
    html = (tmp_path / "out" / "design.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "assurance at that N" in html
    plain = CliRunner().invoke(app, [a for a in args if a != "--assurance"] + ["--resume"])
    assert plain.exit_code == 2 and "other settings (assurance)" in plain.output
