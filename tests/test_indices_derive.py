"""From a visits table to ADTTE flare times and responder flags; input errors name row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from lupustrial.analysis.survival import kaplan_meier
from lupustrial.errors import DataError
from lupustrial.indices.cli import app
from lupustrial.indices.derive import BILAG_PARAMS, EXAMPLE_VISITS, derive, read_visits, write_derived
from lupustrial.indices.sledai import BY_CODE

LAB_CODES = {"THROMBO"}


def visit_rows(usubjid: str, avisitn: float, day: int, grades: str = "DDDDDDDDD", present: tuple[str, ...] = (),
               skip: tuple[str, ...] = ()) -> list[dict[str, object]]:
    """Every item of one visit: descriptors (``present`` set), nine grades, PGA, dose, flags."""
    base = {"USUBJID": usubjid, "AVISITN": avisitn, "ADY": day}
    rows = [base | {"PARAMCD": c, "AVAL": float(c in present)} for c in BY_CODE if c not in skip]
    rows += [base | {"PARAMCD": p, "AVALC": g} for p, g in zip(BILAG_PARAMS, grades, strict=True) if p not in skip]
    rows += [base | {"PARAMCD": p, "AVAL": v} for p, v in
             (("PGA", 0.3), ("PREDDOSE", 5.0), ("MAINTOK", 1), ("STABLEOK", 1), ("TRTFAIL", 0), ("HAEMOLYS", 0))]
    return rows


def table(*visits: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([r for v in visits for r in v])


def trial() -> pd.DataFrame:
    # S1: renal D -> B at week 4 (moderate flare) -> A at week 12 (severe flare).
    # S2: no flare; last BILAG at week 12.
    return table(
        visit_rows("S1", 0, 1, "DDDDDDDDD", present=("ARTHRIT", "RASH", "ALOPEC")),
        visit_rows("S1", 4, 29, "DDDDDDDBD"),
        visit_rows("S1", 12, 85, "DDDDDDDAD", present=("PROTEIN",)),
        visit_rows("S2", 0, 1, "DDDBDDDDD", present=("ARTHRIT",)),
        visit_rows("S2", 12, 84, "DDDCDDDDD"),
    )


def test_time_to_flare() -> None:
    tte = derive(trial()).adtte.set_index(["USUBJID", "PARAMCD"])
    assert tte.loc[("S1", "TTMODFL"), ["AVAL", "CNSR"]].tolist() == [29, 0]
    assert tte.loc[("S1", "TTSEVFL"), ["AVAL", "CNSR"]].tolist() == [85, 0]
    assert tte.loc[("S1", "TTSEVFL"), "EVNTDESC"] == "severe BILAG-2004 flare: renal (severe)"
    assert tte.loc[("S2", "TTSEVFL"), ["AVAL", "CNSR"]].tolist() == [84, 1]
    assert tte.loc[("S2", "TTSEVFL"), "CNSDTDSC"] == "last BILAG-2004 assessment"


def test_dates_from_adt() -> None:
    df = trial()
    df["ADT"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(df["ADY"] - 1, unit="D")).dt.strftime("%Y-%m-%d")
    tte = derive(df).adtte.set_index(["USUBJID", "PARAMCD"])
    assert tte.loc[("S1", "TTSEVFL"), ["STARTDT", "ADT"]].tolist() == ["2024-01-01", "2024-03-25"]


def test_responders_per_visit() -> None:
    rsp = derive(trial()).adrsp
    assert len(rsp) == 3 * 9  # three post-baseline visits, nine endpoints
    s2 = rsp[rsp["USUBJID"] == "S2"].set_index("PARAMCD")
    assert s2.loc["SRI4", "AVALC"] == "Y"  # 4 -> 0, musculoskeletal B -> C
    assert s2.loc["SRI5", "AVALC"] == "N" and s2.loc["SRI5", "REASON"] == "SLEDAI-2K reduction 4 < 5"
    assert s2.loc["BICLA", "AVALC"] == "Y"
    s1 = rsp[(rsp["USUBJID"] == "S1") & (rsp["AVISITN"] == 12)].set_index("PARAMCD")
    assert s1.loc["SRI4", "REASON"] == "new BILAG-2004 A: renal"  # 8 -> 4 meets the reduction
    assert s1.loc["SRI5", "REASON"] == "SLEDAI-2K reduction 4 < 5; new BILAG-2004 A: renal"


def test_scores_table() -> None:
    scores = derive(trial()).scores.set_index(["USUBJID", "AVISITN", "PARAMCD"])
    assert scores.loc[("S1", 0, "SLEDAI2K"), "AVAL"] == 8
    assert scores.loc[("S1", 12, "BILAGNUM"), "AVAL"] == 12


def lab(usubjid: str, day: int, paramcd: str, value: float, **extra: object) -> list[dict[str, object]]:
    return [{"USUBJID": usubjid, "AVISITN": 99, "ADY": day, "PARAMCD": paramcd, "AVAL": value} | extra]


@pytest.mark.parametrize(("lab_day", "window", "present"), [(56, 30, True), (55, 30, False), (76, 10, True),
                                                             (75, 10, False), (88, 30, True), (89, 30, False)])
def test_lab_window(lab_day: int, window: int, present: bool) -> None:
    # Week-12 visit on day 85: an unlabelled platelet count counts if day - window < lab day <= day + 3
    # (Touma 2010's 30-day look-back; the 3-day forward window is the project's assumption).
    df = table(visit_rows("S1", 0, 1), visit_rows("S1", 12, 85, skip=("THROMBO",)), lab("S1", lab_day, "PLAT", 80))
    scores = derive(df, window_days=window).scores.set_index(["AVISITN", "PARAMCD"])
    if present:
        assert scores.loc[(12, "SLEDAI2K"), "AVAL"] == 1
    else:  # outside the window the descriptor is unknown, so the score is partial, not zero
        assert np.isnan(scores.loc[(12, "SLEDAI2K"), "AVAL"]) and scores.loc[(12, "SLEDAI2K"), "MISSING"] == "THROMBO"


def test_recorded_descriptor_wins_over_lab() -> None:
    df = table(visit_rows("S1", 0, 1), lab("S1", 1, "PLAT", 50), lab("S1", 1, "C3", 0.5, ANRLO=0.9))
    scores = derive(df).scores.set_index(["AVISITN", "PARAMCD"])
    assert scores.loc[(0, "SLEDAI2K"), "AVAL"] == 0  # THROMBO and LOWCOMP recorded as absent


def test_lab_fills_unrecorded_descriptors() -> None:
    df = table(visit_rows("S1", 0, 1, skip=("LOWCOMP", "DNA")), lab("S1", 1, "C4", 0.05, ANRLO=0.1),
               lab("S1", 1, "DSDNA", 30, ANRHI=30))
    scores = derive(df).scores.set_index(["AVISITN", "PARAMCD"])
    assert scores.loc[(0, "SLEDAI2K"), "AVAL"] == 2  # low C4; DNA exactly at the limit is not raised
    assert scores.loc[(0, "CSLEDAI"), "AVAL"] == 0


def error_for(df: pd.DataFrame) -> DataError:
    with pytest.raises(DataError) as err:
        derive(df, source="visits.csv")
    return err.value


def test_error_unknown_param() -> None:
    df = trial()
    df.loc[6, "PARAMCD"] = "SLEEP"
    err = error_for(df)
    assert (err.row, err.column) == (7, "PARAMCD") and "SLEEP" in str(err) and err.file == "visits.csv"


def test_error_bad_values() -> None:
    df = trial()
    df.loc[0, "AVAL"] = 2
    assert (error_for(df).row, error_for(df).column) == (1, "AVAL")
    df = trial()
    i = df.index[df["PARAMCD"] == "BLGRENAL"][0]
    df.loc[i, "AVALC"] = "X"
    assert (error_for(df).row, error_for(df).column) == (i + 1, "AVALC")
    df = trial()
    df.loc[df["PARAMCD"] == "PGA", "AVAL"] = 3.5
    assert "PGA must be in [0, 3]" in str(error_for(df))
    df = trial()
    df["ADY"] = df["ADY"].astype(float)
    df.loc[3, "ADY"] = 1.5
    assert (error_for(df).row, error_for(df).column) == (4, "ADY")


def test_error_missing_column_and_duplicate() -> None:
    err = error_for(trial().drop(columns="ADY"))
    assert err.column == "ADY" and err.row is None
    df = trial()
    df = pd.concat([df, df.iloc[[5]]], ignore_index=True)
    assert error_for(df).row == len(df)


def test_error_missing_limit() -> None:
    err = error_for(table(visit_rows("S1", 0, 1), lab("S1", 1, "C3", 0.5)))
    assert err.column == "ANRLO"


def test_example_roundtrip(tmp_path: Path) -> None:
    derived = derive(read_visits(EXAMPLE_VISITS))
    paths = write_derived(derived, tmp_path)
    adtte = pd.read_csv(paths["adtte"])
    assert set(adtte["PARAMCD"]) == {"TTSEVFL", "TTMODFL"} and adtte["CNSR"].isin([0, 1]).all()
    sev = adtte[adtte["PARAMCD"] == "TTSEVFL"]
    mod = adtte[adtte["PARAMCD"] == "TTMODFL"].set_index("USUBJID").loc[sev["USUBJID"]]
    assert (mod["AVAL"].to_numpy() <= sev["AVAL"].to_numpy()).all()  # moderate-or-severe comes no later
    fit = kaplan_meier(sev["AVAL"].to_numpy(float), 1 - sev["CNSR"].to_numpy(int))
    assert 0 <= fit.surv[-1] < 1
    rsp = pd.read_csv(paths["adrsp"], keep_default_na=False)
    assert set(rsp["AVALC"]) <= {"Y", "N", ""}
    assert (rsp["REASON"] == "").equals(rsp["AVALC"] == "Y")


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["derive", "example", "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "adtte.csv").is_file() and (tmp_path / "adrsp.csv").is_file()
    bad = tmp_path / "bad.csv"
    trial().assign(PARAMCD="NOPE").to_csv(bad, index=False)
    fail = runner.invoke(app, ["derive", str(bad), "--out", str(tmp_path)])
    assert fail.exit_code == 2
    assert "row 1, column PARAMCD" in fail.output and "Traceback" not in fail.output


def test_analyze_runs_on_derived_adtte(tmp_path: Path) -> None:
    from shutil import copy

    from lupustrial.analysis.trial import analyze_trial
    from lupustrial.data import example_trial_dir, load_trial
    from lupustrial.protocol import load_protocol

    write_derived(derive(read_visits(EXAMPLE_VISITS)), tmp_path)
    for name in ("adsl.csv", "adlb.csv", "adae.csv"):
        copy(example_trial_dir() / name, tmp_path)
    result = analyze_trial(load_trial(tmp_path), load_protocol("beat-lupus").plan())
    flare = result.first("cox").comparison().result
    derived = pd.read_csv(tmp_path / "adtte.csv")
    assert sum(a.events for a in flare.arms.values()) == int((derived.query("PARAMCD == 'TTSEVFL'")["CNSR"] == 0).sum())
    assert flare.logrank.to_dict()["n"] == [26, 26]  # every randomised subject has a derived record


def test_read_visits_formats(tmp_path: Path) -> None:
    df = trial()
    df.to_parquet(tmp_path / "visits.parquet")
    df.to_csv(tmp_path / "visits.csv", index=False)
    from_parquet = derive(read_visits(tmp_path / "visits.parquet")).adtte
    pd.testing.assert_frame_equal(from_parquet, derive(read_visits(tmp_path / "visits.csv")).adtte)
    with pytest.raises(DataError, match="not found"):
        read_visits(tmp_path / "missing.csv")
    (tmp_path / "visits.txt").write_text("x")
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        read_visits(tmp_path / "visits.txt")
