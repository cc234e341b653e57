"""``lupustrial randomise``: lists equal the library's, settings filed, input errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from lupustrial.errors import LupustrialError
from lupustrial.randomise import allocation_list, write_allocation_list
from lupustrial.randomise.cli import app

runner = CliRunner()


def test_list_writes_the_library_list_and_its_settings(tmp_path: Path) -> None:
    out = tmp_path / "list.csv"
    args = ["list", "--arms", "Belimumab:1,Placebo:1", "--strata", "dsdna=high,low", "--block-sizes", "2,4"]
    result = runner.invoke(app, [*args, "--n", "20", "--seed", "7", "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected = allocation_list(
        {"Belimumab": 1, "Placebo": 1},
        strata_levels={"dsdna": ["high", "low"]},
        block_sizes=[2, 4],
        n_per_stratum=20,
        seed=7,
    )
    pd.testing.assert_frame_equal(pd.read_csv(out), expected, check_dtype=False)
    settings = json.loads((tmp_path / "list.settings.json").read_text())
    assert settings["seed"] == {"entropy": "7", "spawn_key": []}
    assert settings["block_sizes"] == [2, 4] and settings["rows"] == len(expected)


def test_assign_and_minimise_subjects_file(tmp_path: Path) -> None:
    subjects = tmp_path / "subjects.csv"
    table = pd.DataFrame({"USUBJID": ["S1", "S2", "S3", "S4"], "dsdna": ["high", "low", "low", "high"]})
    table.to_csv(subjects, index=False)
    for cmd, extra in [("assign", ["--strata", "dsdna=high,low"]), ("minimise", ["--factor", "dsdna=high,low"])]:
        out = tmp_path / f"{cmd}.csv"
        result = runner.invoke(app, [cmd, str(subjects), "--seed", "1", "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
        got = pd.read_csv(out)
        assert got["USUBJID"].tolist() == ["S1", "S2", "S3", "S4"]
        assert set(got["ARM"]) <= {"Belimumab", "Placebo"}


def test_input_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    subjects = tmp_path / "s.csv"
    subjects.write_text("dsdna\nhigh\nmid\n")
    cases = [
        ["list", "--block-sizes", "3", "--n", "4", "--seed", "1", "--out", str(tmp_path / "l.csv")],
        ["list", "--arms", "A:x,B:1", "--n", "4", "--seed", "1", "--out", str(tmp_path / "l.csv")],
        ["list", "--strata", "dsdna", "--n", "4", "--seed", "1", "--out", str(tmp_path / "l.csv")],
        ["assign", str(subjects), "--strata", "dsdna=high,low", "--seed", "1", "--out", str(tmp_path / "a.csv")],
        ["minimise", str(subjects), "--factor", "dsdna=high,low", "--seed", "1", "--out", str(tmp_path / "m.txt")],
    ]
    messages = [
        "not a positive multiple of 2",
        "ratio of 'A' must be an integer",
        "expected factor=level1",
        "row 2, column dsdna",
        "row 2, column dsdna",
    ]
    for args, message in zip(cases, messages, strict=True):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def test_export_parquet_round_trip_and_bad_suffix(tmp_path: Path) -> None:
    table = allocation_list({"A": 1, "B": 1}, block_sizes=[2], n_per_stratum=6, seed=2)
    path, settings = write_allocation_list(table, tmp_path / "list.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    assert json.loads(settings.read_text())["method"] == "stratified permuted blocks"
    with pytest.raises(LupustrialError, match="must end in .csv or .parquet"):
        write_allocation_list(table, tmp_path / "list.xlsx")
