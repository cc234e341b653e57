"""``lupustrial model simulate`` and ``plot`` as a new user runs them."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from lupustrial.model.cli import COLUMNS, app

runner = CliRunner()


def test_simulate_writes_one_row_per_patient_and_day(tmp_path) -> None:
    out = tmp_path / "sim.parquet"
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "belimumab", "--weeks", "10", "--seed", "4",
                              "--out", str(out), "--chunk", "2"])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    assert len(df) == 3 * 71 and list(df.columns) == ["patient", "day", *COLUMNS]
    assert df.groupby("patient")["day"].agg(["min", "max"]).eq([0, 70]).all().all()
    assert (df.loc[df.day == 0, "rituximab_ug_ml"] == 0).all()
    assert (df.loc[df.day == 43, "belimumab_ug_ml"] > 50).all()


def test_bad_arm_is_one_line_and_status_2(tmp_path) -> None:
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "rituximab", "--weeks", "2", "--seed", "1",
                              "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2
    assert "arm must be belimumab or placebo" in res.output and "Traceback" not in res.output


def test_bad_weeks_is_one_line_and_status_2(tmp_path) -> None:
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "placebo", "--weeks", "0", "--seed", "1",
                              "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "--weeks" in res.output


def test_plot_writes_the_qualification_figures(tmp_path) -> None:
    res = runner.invoke(app, ["plot", "--out", str(tmp_path), "--patients", "40"])
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("*.png"))) == 5 and "ok" in res.output
