"""ADaM data layer: loading, round trips, and one clear line for each kind of bad input."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lupustrial.data import (
    TrialWriter,
    arrow_table,
    example_trial_dir,
    load_trial,
    read_dataset,
    schema_markdown,
    write_trial,
)
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
    assert set(data.arms) == {"Belimumab", "Placebo"}
    assert len(data.adsl) == 52 and data.adsl["USUBJID"].is_unique
    assert "TRTDURD" in data.adsl and (data.adsl["TRTDURD"] >= 1).all()
    base = data.adlb[data.adlb["AVISITN"] == 0]
    assert (base["BASE"] == base["AVAL"]).all()
    assert set(data.adtte["CNSR"].unique()) <= {0, 1}


def test_example_has_the_shape_the_demo_needs() -> None:
    data = load_trial(example_trial_dir())
    arm = data.adsl.set_index("USUBJID")["TRT01P"]
    assert data.adsl["TRT01P"].value_counts().to_dict() == {"Belimumab": 26, "Placebo": 26}
    assert (data.adsl["TRT01A"] == data.adsl["TRT01P"]).all()
    assert {"STRAT1", "STRAT2"} <= set(data.adsl.columns)
    events = data.adtte[data.adtte["CNSR"] == 0]
    assert events["USUBJID"].map(arm).value_counts().to_dict() == {"Placebo": 10, "Belimumab": 3}
    assert data.adtte["AVAL"].max() <= 364
    assert sorted(data.adlb["AVISITN"].unique()) == [0, 12, 24, 36, 52]
    assert set(data.adlb["PARAMCD"]) == {"DSDNA", "C3", "C4", "CD19"}
    wk52 = data.adlb[(data.adlb["PARAMCD"] == "DSDNA") & (data.adlb["AVISITN"] == 52)]
    log_mean = np.log(wk52["AVAL"]).groupby(wk52["USUBJID"].map(arm)).mean()
    assert log_mean["Belimumab"] < log_mean["Placebo"]
    assert 24 <= len(data.adae) <= 120 and (data.adae["AESER"] == "Y").any()
    assert (data.adae["AEBODSYS"] == "Infections and infestations").any()


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
    ("duplicate lab record", "adlb", lambda df: pd.concat([df, df.iloc[[0]]], ignore_index=True), None, "AVISITN",
     "duplicate record for USUBJID, PARAMCD, AVISITN (same as row 1)"),
    ("missing titre", "adlb", _set(1, "AVAL", ""), 1, "AVAL", "log scale; its AVAL must not be missing"),
    ("R's NA for a titre", "adlb", _set(1, "AVAL", "NA"), 1, "AVAL", "log scale; its AVAL must not be missing"),
    ("infinite value", "adlb", _set(3, "AVAL", "inf"), 3, "AVAL", "expected a finite number, got 'inf'"),
    ("randomised after first dose", "adsl", _set(2, "RANDDT", "2030-01-01"), 2, "TRTSDT", "RANDDT is after TRTSDT"),
    ("AE ends before it starts", "adae", _set(1, "AENDT", "2000-01-01"), 1, "AENDT", "ASTDT is after AENDT"),
    ("event before its origin", "adtte", _set(1, "ADT", "2000-01-01"), 1, "ADT", "STARTDT is after ADT"),
    ("duplicate time-to-event record", "adtte", _set(2, "USUBJID", "BEAT-001"), 2, "PARAMCD",
     "duplicate record for USUBJID, PARAMCD (same as row 1)"),
    ("partial date", "adae", _set(2, "ASTDT", "2017-02"), 2, "ASTDT", "expected a date (YYYY-MM-DD or DDMONYYYY), got '2017-02'"),
    ("unknown sex", "adsl", _set(9, "SEX", "female"), 9, "SEX", "must be one of M, F, U, got 'female'"),
    ("missing required text", "adae", _set(4, "AEDECOD", "  "), 4, "AEDECOD", "missing value in a required column"),
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
    with pytest.raises(DataError, match=r"no ADTTE file \(adtte.csv") as info:
        load_trial(trial_dir)
    assert str(info.value).startswith(f"{trial_dir}: ")
    load = load_trial(example_trial_dir())
    write_trial(load, trial_dir, fmt="parquet")
    with pytest.raises(DataError, match="two files for ADSL"):
        load_trial(trial_dir)


def test_missing_adae_gives_an_empty_one(trial_dir: Path) -> None:
    (trial_dir / "adae.csv").unlink()
    data = load_trial(trial_dir)
    assert data.adae.empty and {"USUBJID", "AEDECOD", "AESER"} <= set(data.adae.columns)


def test_file_names_are_case_insensitive(trial_dir: Path) -> None:
    (trial_dir / "adsl.csv").rename(trial_dir / "ADSL.CSV")
    assert len(load_trial(trial_dir).adsl) == 52


def test_missing_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        load_trial(tmp_path / "nowhere")


def test_absent_flags_and_duration_are_derived(trial_dir: Path) -> None:
    _edit(trial_dir, "adsl", lambda df: df.drop(columns=["ITTFL", "SAFFL"]))
    adsl = load_trial(trial_dir).adsl
    assert (adsl["ITTFL"] == "Y").all() and (adsl["SAFFL"] == "Y").all()
    assert (adsl["TRTDURD"] == (adsl["TRTEDT"] - adsl["TRTSDT"]).dt.days + 1).all()


def test_padding_missing_tokens_and_date9_are_read_kindly(trial_dir: Path) -> None:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[0, "SEX"] = " F  "
        df.loc[1, "RANDDT"] = "11FEB2017"
        df.loc[2, "TRTEDT"] = "."
        return df

    _edit(trial_dir, "adsl", edit)
    _edit(trial_dir, "adlb", _set(2, "ADY", "NA"))
    data = load_trial(trial_dir)
    assert data.adsl.loc[0, "SEX"] == "F"
    assert data.adsl.loc[1, "RANDDT"] == pd.Timestamp("2017-02-11")
    assert pd.isna(data.adsl.loc[2, "TRTEDT"]) and pd.isna(data.adsl.loc[2, "TRTDURD"])
    assert pd.isna(data.adlb.loc[1, "ADY"])


def test_row_numbers_count_blank_lines_and_ignore_trailing_ones(trial_dir: Path) -> None:
    path = trial_dir / "adtte.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines) + "\n\n")
    assert len(load_trial(trial_dir).adtte) == 52
    path.write_text("".join(lines[:3]) + "\n" + "".join(lines[3:]))
    with pytest.raises(DataError, match=r"adtte.csv, row 3, column USUBJID: missing value"):
        load_trial(trial_dir)


def test_numeric_extra_columns_become_numbers_but_codes_stay_text(trial_dir: Path) -> None:
    _edit(trial_dir, "adsl", lambda df: df.assign(SITEID=[f"{i % 3:03d}" for i in range(len(df))]))
    adsl = load_trial(trial_dir).adsl
    assert pd.api.types.is_float_dtype(adsl["WEIGHTBL"]) and adsl.loc[0, "WEIGHTBL"] == 71.3
    assert adsl.loc[1, "SITEID"] == "001" and adsl.loc[1, "STRAT1"] == "LOW"


def test_csv_numbers_are_read_correctly_rounded(trial_dir: Path) -> None:
    # pandas' fast parser reads this one unit in the last place off (found by hypothesis).
    x = 3.0219210113629996e-146
    _edit(trial_dir, "adsl", lambda df: df.assign(WEIGHTBL=x))
    _edit(trial_dir, "adlb", lambda df: df.assign(AVAL=x))
    data = load_trial(trial_dir)
    assert (data.adsl["WEIGHTBL"] == x).all() and (data.adlb["AVAL"] == x).all()


def test_unreadable_file_is_one_line(trial_dir: Path) -> None:
    (trial_dir / "adsl.csv").unlink()
    (trial_dir / "adsl.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"adsl.parquet: cannot read the file: ") as info:
        load_trial(trial_dir)
    assert "\n" not in str(info.value)


def test_non_utf8_and_semicolon_csv_are_one_line(trial_dir: Path) -> None:
    path = trial_dir / "adae.csv"
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([*lines[:3], lines[3].replace(b",", b"\xe9,", 1), *lines[4:]]))
    with pytest.raises(DataError, match=r"adae.csv, row 3: not UTF-8 text \(byte 0xe9\)"):
        load_trial(trial_dir)
    path.write_bytes(b"\n".join(lines).replace(b",", b";"))
    with pytest.raises(DataError, match=r"adae.csv: columns are separated by ';'"):
        load_trial(trial_dir)


def test_repeated_column_is_refused_not_renamed(trial_dir: Path) -> None:
    path = trial_dir / "adtte.csv"
    text = path.read_text()
    path.write_text(text.replace("AVAL,CNSR", "AVAL,aval", 1))
    with pytest.raises(DataError, match=r"adtte.csv, column AVAL: column appears twice in the header"):
        load_trial(trial_dir)


def test_read_dataset_reads_and_validates_one_file(trial_dir: Path) -> None:
    adtte = read_dataset(trial_dir / "adtte.csv", "ADTTE")
    assert len(adtte) == 52 and pd.api.types.is_datetime64_any_dtype(adtte["STARTDT"])
    with pytest.raises(DataError, match="no such file"):
        read_dataset(trial_dir / "adxx.csv", "adsl")
    with pytest.raises(DataError, match="unknown dataset kind 'adcm'"):
        read_dataset(trial_dir / "adtte.csv", "adcm")
    with pytest.raises(DataError, match=r"adtte.csv, column AEDECOD: required column AEDECOD is missing"):
        read_dataset(trial_dir / "adtte.csv", "adae")


def test_numeric_ids_from_parquet_stay_exact(tmp_path: Path) -> None:
    data = load_trial(example_trial_dir())
    ids = {f"BEAT-{i:03d}": 1234567 + i for i in range(1, 53)}
    frames = {k: getattr(data, k).assign(USUBJID=getattr(data, k)["USUBJID"].map(ids)) for k in ("adsl", "adlb", "adtte", "adae")}
    write_trial(frames, tmp_path, fmt="parquet")
    again = load_trial(tmp_path)
    assert again.adsl["USUBJID"].tolist() == [str(v) for v in ids.values()]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_writer_appends_parts_and_replaces_the_files_only_when_done(tmp_path: Path, fmt: str) -> None:
    """Parts are appended (a text column empty in the first part is text in the file, categories may
    differ between parts); nothing appears until the block ends, and a failure leaves nothing."""
    first = pd.DataFrame({"TRIALID": [1, 1], "USUBJID": pd.Categorical(["A", "B"]), "NOTE": [None, None]})
    second = pd.DataFrame({"TRIALID": [2], "USUBJID": pd.Categorical(["C"]), "NOTE": ["late"]})
    with TrialWriter(tmp_path / "ok", fmt) as writer:
        writer.append({"adx": first})
        writer.append({"adx": arrow_table(second) if fmt == "parquet" else second})
        assert not (tmp_path / "ok" / f"adx.{fmt}").exists()
    back = read_parquet_or_csv(writer.written["adx"])
    assert back["USUBJID"].tolist() == ["A", "B", "C"] and back["TRIALID"].tolist() == [1, 1, 2]
    assert back["NOTE"].isna().sum() == 2 and back["NOTE"].iloc[2] == "late"
    with pytest.raises(RuntimeError), TrialWriter(tmp_path / "failed", fmt) as writer:
        writer.append({"adx": first})
        raise RuntimeError("the run stopped")
    assert list((tmp_path / "failed").iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_writer_refuses_a_part_that_does_not_fit_the_first(tmp_path: Path, fmt: str) -> None:
    """Other columns (CSV would append them misaligned) or, in Parquet, a type the first part's
    cannot take: one line naming the dataset, and no file left."""
    first = pd.DataFrame({"TRIALID": [1], "AVAL": [1]})
    with pytest.raises(DataError, match="adx: a part has columns AVAL, TRIALID"), TrialWriter(tmp_path, fmt) as w:
        w.append({"adx": first})
        w.append({"adx": first[["AVAL", "TRIALID"]]})
    if fmt == "parquet":
        with pytest.raises(DataError, match="adx: .*AVAL is double, was int64"), TrialWriter(tmp_path, fmt) as w:
            w.append({"adx": first})
            w.append({"adx": pd.DataFrame({"TRIALID": [2], "AVAL": [1.5]})})
    assert list(tmp_path.iterdir()) == []


def read_parquet_or_csv(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


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
        for col in df.columns:
            if pd.api.types.is_integer_dtype(df[col]):
                df[col] = df[col].astype(float)
            elif not pd.api.types.is_numeric_dtype(df[col]) and not pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].fillna("").astype(str) + "   "  # SAS pads text with blanks
        pyreadstat.write_xport(df, str(tmp_path / f"{name}.xpt"), table_name=name.upper())
    again = load_trial(tmp_path)
    for name in ("adsl", "adlb", "adtte", "adae"):
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name), check_dtype=False)


def test_schema_markdown_documents_every_dataset() -> None:
    text = schema_markdown()
    for name in ("ADSL", "ADLB", "ADTTE", "ADAE"):
        assert f"**{name}**" in text
    assert "| CNSR | int (0/1) | yes |" in text


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


DAY = pd.Timedelta(days=1)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
WORD = TEXT.map(lambda t: "x" + t)  # never a number, so an extra column of them stays text


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 6),
    fmt=st.sampled_from(["csv", "parquet"]),
    arms=st.lists(TEXT, min_size=2, max_size=2, unique=True),
    start=st.dates(pd.Timestamp("1900-01-01").date(), pd.Timestamp("2200-01-01").date()),
    gaps=st.lists(st.integers(0, 2000), min_size=2, max_size=2),
    values=st.lists(st.floats(1e-300, 1e300, allow_nan=False), min_size=6, max_size=6),
    other=st.lists(st.one_of(st.none(), st.floats(-1e300, 1e300, allow_nan=False)), min_size=6, max_size=6),
    cnsr=st.lists(st.integers(0, 1), min_size=6, max_size=6),
    extra=st.lists(st.one_of(st.none(), WORD), min_size=6, max_size=6),
)
def test_any_valid_trial_survives_write_read(tmp_path_factory, n: int, fmt: str, arms, start, gaps, values, other,
                                             cnsr, extra) -> None:
    ids = [f"S{i}" for i in range(n)]
    arm = [arms[i % 2] for i in range(n)]
    randdt = pd.Timestamp(start)
    frames = {
        "adsl": pd.DataFrame({"USUBJID": ids, "STUDYID": "X", "TRT01P": arm, "TRT01A": arm, "RANDDT": randdt,
                              "TRTSDT": randdt + gaps[0] * DAY, "TRTEDT": randdt + sum(gaps) * DAY,
                              "AGE": 40.5, "SEX": "F", "STRATX": extra[:n], "WEIGHTBL": other[:n]}),
        "adlb": pd.DataFrame({"USUBJID": ids * 2, "PARAMCD": ["DSDNA"] * n + ["C3"] * n,
                              "AVAL": values[:n] + other[:n], "AVISITN": 0.0}),
        "adtte": pd.DataFrame({"USUBJID": ids, "PARAMCD": "TTSEVFL", "AVAL": [abs(v) for v in values[:n]],
                               "CNSR": cnsr[:n], "STARTDT": randdt, "ADT": randdt + gaps[1] * DAY,
                               "EVNTDESC": extra[:n]}),
        "adae": pd.DataFrame({"USUBJID": ids[:1], "AEDECOD": extra[0] or "Headache",
                              "AEBODSYS": "Nervous system disorders", "AESER": "N", "AESEV": "MILD",
                              "ASTDT": randdt, "AENDT": [None]}),
    }
    first = tmp_path_factory.mktemp("first")
    write_trial(frames, first, fmt=fmt)
    data = load_trial(first)
    second = tmp_path_factory.mktemp("second")
    write_trial(data, second, fmt=fmt)
    again = load_trial(second)
    for name in frames:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(data, name), check_dtype=False)
    assert data.adlb["AVAL"].tolist() == pytest.approx(values[:n] + [float("nan") if v is None else v for v in other[:n]],
                                                       rel=1e-15, nan_ok=True)
    assert [None if pd.isna(v) else v for v in data.adsl["STRATX"]] == extra[:n]
    assert [None if pd.isna(v) else v for v in data.adsl["WEIGHTBL"]] == other[:n]
    assert data.adsl["TRTEDT"].tolist() == list(frames["adsl"]["TRTEDT"])
