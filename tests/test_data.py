"""ADaM data layer: loading, round trips, and one clear line for each kind of bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from lupustrial.data import example_trial_dir, load_trial, schema_markdown, write_trial
from lupustrial.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def trial_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "trial"
    shutil.copytree(example_trial_dir(), folder)
    return folder


def _edit(folder: Path, name: str, edit) -> Path:
    path = folder / f"{name}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = edit(df)
    df.to_csv(path, index=False)
    return path


def test_example_loads_and_derives() -> None:
    data = load_trial(example_trial_dir())
    assert data.arms == ("Belimumab", "Placebo") or set(data.arms) == {"Belimumab", "Placebo"}
    assert len(data.adsl) == 52 and data.adsl["USUBJID"].is_unique
    assert "TRTDURD" in data.adsl and (data.adsl["TRTDURD"] >= 1).all()
    base = data.adlb[data.adlb["AVISITN"] == 0]
    assert (base["BASE"] == base["AVAL"]).all()
    assert set(data.adtte["CNSR"].unique()) <= {0, 1}


def test_committed_example_equals_script_output(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_trial.py"), str(tmp_path)], check=True)
    for name in ("adsl", "adlb", "adtte", "adae"):
        assert (tmp_path / f"{name}.csv").read_text() == (example_trial_dir() / f"{name}.csv").read_text()


def _set(row: int, column: str, value: str):
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[row - 1, column] = value
        return df
    return edit


BROKEN = [
    ("missing column", "adsl", lambda df: df.drop(columns="TRT01P"), None, "TRT01P", "required column TRT01P is missing"),
    ("missing value", "adsl", _set(4, "AGE", ""), 4, "AGE", "missing value"),
    ("not a number", "adlb", _set(7, "AVAL", "12,5"), 7, "AVAL", "expected a number, got '12,5'"),
    ("bad date", "adsl", _set(3, "RANDDT", "2017-13-40"), 3, "RANDDT", "expected a date"),
    ("duplicate subject", "adsl", _set(5, "USUBJID", "BEAT-001"), 5, "USUBJID", "duplicate record"),
    ("unknown arm", "adsl", _set(6, "TRT01A", "Belimumb"), 6, "TRT01A", "unknown arm"),
    ("non-positive titre", "adlb", _set(1, "AVAL", "0"), 1, "AVAL", "log scale and needs a positive value"),
    ("CNSR not 0/1", "adtte", _set(2, "CNSR", "2"), 2, "CNSR", "must be one of 0, 1"),
    ("negative time", "adtte", _set(8, "AVAL", "-3"), 8, "AVAL", "must be >= 0"),
    ("subject absent from ADSL", "adae", _set(1, "USUBJID", "BEAT-999"), 1, "USUBJID", "not in ADSL"),
    ("dates out of order", "adsl", _set(2, "TRTEDT", "2010-01-01"), 2, "TRTEDT", "TRTSDT is after TRTEDT"),
    ("AESER not Y/N", "adae", _set(3, "AESER", "yes"), 3, "AESER", "must be one of Y, N"),
    ("duplicate lab record", "adlb", lambda df: pd.concat([df, df.iloc[[0]]], ignore_index=True), None, "AVISITN", "duplicate record"),
]


@pytest.mark.parametrize(("what", "name", "edit", "row", "column", "text"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_input_gives_one_line_naming_file_row_column(trial_dir: Path, what, name, edit, row, column, text) -> None:
    path = _edit(trial_dir, name, edit)
    with pytest.raises(DataError) as info:
        load_trial(trial_dir)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert f"column {column}" in message
    assert text in message
    if row is not None:
        assert f"row {row}," in message


def test_missing_file_and_two_candidates(trial_dir: Path) -> None:
    (trial_dir / "adtte.csv").unlink()
    with pytest.raises(DataError, match="no ADTTE file"):
        load_trial(trial_dir)
    load = load_trial(example_trial_dir())
    write_trial(load, trial_dir, fmt="parquet")
    with pytest.raises(DataError, match="two files for ADSL"):
        load_trial(trial_dir)


def test_unknown_arm_against_given_arms(trial_dir: Path) -> None:
    with pytest.raises(DataError, match=r"row 1, column TRT01P: unknown arm"):
        load_trial(trial_dir, arms=["Belimumab", "Control"])


def test_parquet_round_trip_equals_csv(tmp_path: Path) -> None:
    data = load_trial(example_trial_dir())
    write_trial(data, tmp_path, fmt="parquet")
    again = load_trial(tmp_path)
    for name in ("adsl", "adlb", "adtte", "adae"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name), check_dtype=False)


def test_xpt_loads_with_same_values(tmp_path: Path) -> None:
    data = load_trial(example_trial_dir())
    for name in ("adsl", "adlb", "adtte", "adae"):
        df = getattr(data, name).copy()
        pyreadstat.write_xport(df, str(tmp_path / f"{name}.xpt"), table_name=name.upper())
    again = load_trial(tmp_path)
    pd.testing.assert_frame_equal(again.adsl[["USUBJID", "TRT01P", "RANDDT"]], data.adsl[["USUBJID", "TRT01P", "RANDDT"]])
    pd.testing.assert_series_equal(again.adlb["AVAL"], data.adlb["AVAL"], check_dtype=False)
    assert (again.adtte["CNSR"] == data.adtte["CNSR"]).all()


def test_schema_markdown_documents_every_dataset() -> None:
    text = schema_markdown()
    for name in ("ADSL", "ADLB", "ADTTE", "ADAE"):
        assert f"**{name}**" in text
    assert "| CNSR | int (0/1) | yes |" in text


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(2, 8),
    fmt=st.sampled_from(["csv", "parquet"]),
    values=st.lists(st.floats(0.001, 1e5, allow_nan=False), min_size=8, max_size=8),
    cnsr=st.lists(st.integers(0, 1), min_size=8, max_size=8),
)
def test_any_valid_trial_survives_write_read(tmp_path_factory, n: int, fmt: str, values, cnsr) -> None:
    ids = [f"S{i}" for i in range(n)]
    frames = {
        "adsl": pd.DataFrame({"USUBJID": ids, "TRT01P": ["A", "B"] * (n // 2) + ["A"] * (n % 2),
                              "TRT01A": ["A", "B"] * (n // 2) + ["A"] * (n % 2),
                              "RANDDT": "2020-01-01", "TRTSDT": "2020-01-02", "TRTEDT": "2020-12-31",
                              "AGE": 40.0, "SEX": "F"}),
        "adlb": pd.DataFrame({"USUBJID": ids, "PARAMCD": "DSDNA", "AVAL": values[:n], "AVISITN": 0.0}),
        "adtte": pd.DataFrame({"USUBJID": ids, "PARAMCD": "TTSEVFL", "AVAL": values[:n], "CNSR": cnsr[:n]}),
        "adae": pd.DataFrame({"USUBJID": ids[:1], "AEDECOD": "Headache", "AEBODSYS": "Nervous system disorders",
                              "AESER": "N", "AESEV": "MILD"}),
    }
    first = tmp_path_factory.mktemp("first")
    write_trial(frames, first, fmt=fmt)
    data = load_trial(first)
    second = tmp_path_factory.mktemp("second")
    write_trial(data, second, fmt=fmt)
    again = load_trial(second)
    for name in frames:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name), check_dtype=False)
    assert data.adlb["AVAL"].tolist() == pytest.approx(values[:n], rel=1e-15)
