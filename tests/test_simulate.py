"""The trial simulator: ADaM output that `analyze` reads unchanged, reproducible whatever the batching."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lupustrial.analysis.trial import analyze_trial, load_for_plan
from lupustrial.cli import app
from lupustrial.data import load_trial, select_trial, write_trial
from lupustrial.model.dosing import DRUG_INDEX
from lupustrial.protocol import ProtocolError, load_protocol, protocol_dosing, resolve_protocol
from lupustrial.simulate import run_trials, write_trials

runner = CliRunner()


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("beat-lupus")


@pytest.fixture(scope="module")
def three_trials(protocol):
    return run_trials(protocol, 3, seed=11, chunk=2)


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_round_trip_simulate_then_analyze(three_trials, protocol, tmp_path: Path) -> None:
    write_trial(three_trials, tmp_path, fmt="parquet")
    data = load_for_plan(tmp_path, protocol.plan())
    assert sorted(data.adsl["TRIALID"].unique()) == [1, 2, 3]
    for t in (1, 2, 3):
        one = select_trial(data, t)
        assert len(one.adsl) == protocol.population.n_patients
        result = analyze_trial(one, protocol.plan())
        assert sum(result.subjects.values()) == protocol.population.n_patients
        assert np.isfinite(result.first("ancova_log").comparison().result.ancova.ratio)
        assert result.first("cox").comparison().result.logrank.df == 1


def test_same_seed_identical_bytes_whatever_workers_or_chunk(protocol, tmp_path: Path) -> None:
    a, b, c = (tmp_path / x for x in "abc")
    write_trial(run_trials(protocol, 4, seed=5, chunk=4, workers=1), a)
    write_trial(run_trials(protocol, 4, seed=5, chunk=1, workers=2), b)
    write_trial(run_trials(protocol, 4, seed=5, chunk=3, workers=1), c)
    assert _digest(a) == _digest(b) == _digest(c)
    other = run_trials(protocol, 1, seed=6)
    assert not other["adsl"]["AGE"].equals(run_trials(protocol, 1, seed=5)["adsl"]["AGE"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_files_written_chunk_by_chunk_equal_the_whole(protocol, fmt: str, tmp_path: Path) -> None:
    """`lupustrial simulate` appends each chunk (from worker processes, as Arrow tables for Parquet):
    the files hold what the whole datasets written at once hold (CSV: byte for byte)."""
    import pandas as pd

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    write_trial(run_trials(protocol, 3, seed=7, chunk=3), whole, fmt=fmt)
    written = write_trials(protocol, 3, 7, parts, fmt, chunk=1, workers=2)
    assert sorted(p.name for p in parts.iterdir()) == sorted(p.name for p in written.values())
    if fmt == "csv":
        assert _digest(whole) == _digest(parts)
        return
    for path in written.values():
        a, b = pd.read_parquet(whole / path.name), pd.read_parquet(path)
        pd.testing.assert_frame_equal(a, b)
    one_worker = tmp_path / "one"  # handed over in memory, not through files: the same bytes
    write_trials(protocol, 3, 7, one_worker, fmt, chunk=1, workers=1)
    assert _digest(one_worker) == _digest(parts)


@pytest.mark.parametrize("where", ["progress", "writer"])
def test_a_failed_run_leaves_no_files_and_no_scratch(protocol, where: str, tmp_path: Path, monkeypatch) -> None:
    """A run stopped at its first chunk, inside the parallel map (its progress callback) or while
    writing, leaves neither output files nor the workers' hand-over files."""
    import tempfile

    from lupustrial.data import TrialWriter

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    def interrupted(*_: object) -> None:
        raise RuntimeError("interrupted")

    if where == "writer":
        monkeypatch.setattr(TrialWriter, "append", interrupted)
    with pytest.raises(RuntimeError, match="interrupted"):
        write_trials(protocol, 8, 7, tmp_path / "out", "parquet", chunk=1, workers=2,
                     progress=interrupted if where == "progress" else None)
    assert not any((tmp_path / "out").glob("*")) and list(scratch.iterdir()) == []


def test_trials_follow_the_protocol(three_trials, protocol) -> None:
    adsl, adlb, adtte = three_trials["adsl"], three_trials["adlb"], three_trials["adtte"]
    largest_block = max(protocol.randomisation.block_sizes)
    for _, trial in adsl.groupby("TRIALID"):
        counts = trial["TRT01P"].value_counts()
        assert set(counts.index) == {"Belimumab", "Placebo"} and counts.sum() == 52
        assert abs(counts["Belimumab"] - counts["Placebo"]) <= largest_block // 2
    gap = (adsl["RANDDT"] - adsl["RTXSDT"]).dt.days
    assert gap.between(28, 56).all()
    assert set(adlb["PARAMCD"]) == set(protocol.labs)
    assert set(adlb["AVISITN"]) <= {-1.0, *protocol.visits_weeks}
    base = adlb[adlb["AVISITN"] == -1]
    assert (base["ABLFL"] == "Y").all() and (base["AVAL"] == base["BASE"]).all()
    dsdna = adlb[adlb["PARAMCD"] == "DSDNA"]
    assert (dsdna["AVAL"] > 0).all()
    assert (adtte["AVAL"] <= protocol.follow_up_weeks * 7).all() and set(adtte["CNSR"]) <= {0, 1}
    wide = adtte.pivot(index="USUBJID", columns="PARAMCD", values="AVAL")
    assert (wide["TTMODFL"] <= wide["TTSEVFL"]).all()
    events = adtte.assign(e=1 - adtte["CNSR"]).pivot(index="USUBJID", columns="PARAMCD", values="e")
    assert (events["TTMODFL"] >= events["TTSEVFL"]).all()
    assert (adsl.set_index("USUBJID")["SEVFLN"] > 0).eq(events["TTSEVFL"] == 1).all()
    follow = adsl.set_index("USUBJID")["TRTDURD"]
    assert (adtte["AVAL"].to_numpy() <= follow.loc[adtte["USUBJID"]].to_numpy()).all()


def test_dosing_follows_arm_and_weight(protocol) -> None:
    weight = np.array([60.0, 80.0])
    arm = np.array(["Belimumab", "Placebo"], dtype=object)
    rand = np.array([30.0, 40.0])
    ev = protocol_dosing(protocol, weight, arm, rand, rand + 364)
    bel = ev.drug == DRUG_INDEX["belimumab"]
    assert set(ev.patient[bel]) == {0}
    np.testing.assert_allclose(ev.amount_mg[bel], 600.0)
    np.testing.assert_allclose(ev.time[bel][:3], [30, 44, 58])
    rtx = ev.drug == DRUG_INDEX["rituximab"]
    np.testing.assert_allclose(np.sort(ev.time[rtx & (ev.patient == 1)]), [0, 14])


def test_variant_protocol_in_yaml_alone(tmp_path: Path) -> None:
    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["arms"][0]["dosing"] = [{"drug": "belimumab", "dose": 200, "unit": "mg", "route": "sc", "days": [0],
                                  "every_days": 7, "until_day": 357}]
    data["randomisation"]["window_weeks"] = [2, 2]
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = runner.invoke(app, ["simulate", str(path), "--trials", "2", "--seed", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    adsl = load_trial(out).adsl
    assert ((adsl["RANDDT"] - adsl["RTXSDT"]).dt.days == 14).all()


def test_unknown_drug_or_lab_names_the_key(tmp_path: Path) -> None:
    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["labs"]["C3"] = {"unit": "g/L", "cv": 0.05}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProtocolError, match="key labs.C3"):
        run_trials(load_protocol(path), 1, seed=1)
    del data["labs"]["C3"]
    data["arms"][0]["dosing"][0]["drug"] = "anifrolumab"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProtocolError, match=r"key arms\[0\].dosing\[0\].drug: unknown drug 'anifrolumab'"):
        load_protocol(path)


def test_cli_simulate_then_analyze(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "beat-lupus", "--trials", "2", "--seed", "3", "--out", str(out),
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"adsl.csv", "adlb.csv", "adtte.csv", "adae.csv", "adqs.csv", "adrs.csv",
                                                     "adflare.csv"}
    result = runner.invoke(app, ["analyze", str(out), "--trial", "2"])
    assert result.exit_code == 0, result.output
    assert "Primary endpoint" in result.output
    result = runner.invoke(app, ["analyze", str(out), "--trial", "9"])
    assert result.exit_code == 2 and "no trial 9" in result.output
