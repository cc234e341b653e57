"""``lupustrial model simulate`` and ``plot`` as a new user runs them."""

from __future__ import annotations

from importlib import resources

import pandas as pd
import pytest
from typer.testing import CliRunner

from lupustrial.model.cli import COLUMNS, app
from lupustrial.model.parameters import ModelParameters
from lupustrial.population.virtual import virtual_population

runner = CliRunner()


def _simulate(tmp_path, name: str, *extra: str) -> pd.DataFrame:
    out = tmp_path / f"{name}.parquet"
    res = runner.invoke(app, ["simulate", "--patients", "5", "--arm", "belimumab", "--weeks", "8", "--seed", "4",
                              "--out", str(out), *extra])
    assert res.exit_code == 0, res.output
    return pd.read_parquet(out)


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
    assert "option --arm must be an arm of protocol beat-lupus (Belimumab, Placebo), not 'rituximab'" \
        in " ".join(res.output.split()) and "Traceback" not in res.output


def test_arm_names_are_the_protocols_in_any_case(tmp_path) -> None:
    lower, upper = _simulate(tmp_path, "lower"), _simulate(tmp_path, "upper", "--arm", "BELIMUMAB")
    pd.testing.assert_frame_equal(lower, upper)


def test_simulate_doses_as_the_protocol_file_says(tmp_path) -> None:
    """A variant protocol (belimumab 200 mg SC weekly) changes the dosing and nothing else."""
    import yaml

    from lupustrial.protocol import resolve_protocol

    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["arms"][0]["dosing"] = [{"drug": "belimumab", "dose": 200, "unit": "mg", "route": "sc", "days": [0],
                                  "every_days": 7, "until_day": 357}]
    variant = tmp_path / "sc.yaml"
    variant.write_text(yaml.safe_dump(data))
    iv, sc = _simulate(tmp_path, "iv"), _simulate(tmp_path, "sc", "--protocol", str(variant))
    before = iv.day <= 42  # the same background therapy, up to randomisation
    pd.testing.assert_frame_equal(iv[before], sc[before])
    day43 = {name: df.loc[df.day == 43, "belimumab_ug_ml"] for name, df in (("iv", iv), ("sc", sc))}
    assert (day43["iv"] > 50).all() and (day43["sc"] > 0).all() and (day43["sc"] < 20).all()


def test_bad_protocol_is_one_line_naming_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "placebo", "--weeks", "2", "--seed", "1",
                              "--protocol", str(bad), "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and str(bad) in " ".join(res.output.split()) and "Traceback" not in res.output


@pytest.mark.parametrize(("option", "value"), [("--weeks", "0"), ("--weeks", "nan"), ("--weeks", "inf"),
                                               ("--weeks", "1e12"), ("--start-day", "nan"),
                                               ("--start-day", "inf"), ("--start-day", "-1"),
                                               ("--chunk", "0")])
def test_bad_number_is_one_line_naming_the_option(tmp_path, option: str, value: str) -> None:
    args = {"--weeks": "2", "--start-day": "42", "--chunk": "4", option: value}
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "belimumab", "--seed", "1",
                              "--out", str(tmp_path / "x.parquet"), *(x for kv in args.items() for x in kv)])
    assert res.exit_code == 2 and f"option {option} must be" in res.output, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("command", ["simulate", "plot"])
def test_unwritable_out_is_one_line_and_status_2(tmp_path, command: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["--out", str(blocker / "sub" / "x.parquet"), "--patients", "3"]
    if command == "simulate":
        args += ["--arm", "placebo", "--weeks", "2", "--seed", "1"]
    res = runner.invoke(app, [command, *args])
    assert res.exit_code == 2 and "option --out: cannot write" in res.output, res.output
    assert "Traceback" not in res.output


def test_plot_writes_the_qualification_figures(tmp_path) -> None:
    res = runner.invoke(app, ["plot", "--out", str(tmp_path), "--patients", "40"])
    assert res.exit_code == 0, res.output
    assert len(list(tmp_path.glob("*.png"))) == 6 and "ok" in res.output
    words = " ".join(res.output.split())
    assert "outside" not in words or "a known miss, docs/qualification.md says why" in words


@pytest.mark.parametrize(("option", "params"), [([], None), (["--params", "calibrated"], None),
                                                (["--params", "prior"], ModelParameters())])
def test_params_choose_the_population(tmp_path, option: list[str], params: ModelParameters | None) -> None:
    df = _simulate(tmp_path, "p", *option)
    expected = virtual_population(5, 4, params).covariates["baseline_anti_dsdna_iu_ml"]
    assert df.loc[df.day == 0, "anti_dsdna_iu_ml"].tolist() == expected.tolist()


def test_calibrated_and_prior_differ(tmp_path) -> None:
    calibrated, prior = _simulate(tmp_path, "c"), _simulate(tmp_path, "p", "--params", "prior")
    assert not calibrated["cd19_cells_ul"].equals(prior["cd19_cells_ul"])


def test_workers_and_chunk_do_not_change_the_output(tmp_path) -> None:
    one = _simulate(tmp_path, "one", "--workers", "1")
    pd.testing.assert_frame_equal(one, _simulate(tmp_path, "two", "--workers", "2", "--chunk", "2"))
    pd.testing.assert_frame_equal(one, _simulate(tmp_path, "all", "--workers", "0"))


@pytest.mark.parametrize("command", ["simulate", "plot"])
def test_unknown_params_is_one_line_and_status_2(tmp_path, command: str) -> None:
    args = ["--out", str(tmp_path / "x"), "--patients", "3", "--params", "fitted"]
    if command == "simulate":
        args += ["--arm", "placebo", "--weeks", "2", "--seed", "1"]
    res = runner.invoke(app, [command, *args])
    assert res.exit_code == 2 and "--params must be calibrated, prior or a .json file" in res.output
    assert "Traceback" not in res.output


def test_plot_with_the_prior_set_says_so(tmp_path) -> None:
    res = runner.invoke(app, ["plot", "--out", str(tmp_path), "--patients", "40", "--params", "prior",
                              "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "prior parameters" in res.output and len(list(tmp_path.glob("*.png"))) == 6


def test_start_day_is_refused_for_placebo(tmp_path) -> None:
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "placebo", "--weeks", "2", "--seed", "1",
                              "--start-day", "30", "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "applies to an arm with study drug; Placebo has none" in res.output, res.output


def test_belimumab_start_day_still_names_the_start_day(tmp_path) -> None:
    pd.testing.assert_frame_equal(_simulate(tmp_path, "old", "--belimumab-start-day", "35"),
                                  _simulate(tmp_path, "new", "--start-day", "35"))


def test_parquet_says_what_made_it(tmp_path) -> None:
    import json

    import pyarrow.parquet as pq

    from lupustrial import __version__
    from lupustrial.model.parameters import calibration_provenance

    _simulate(tmp_path, "m", "--start-day", "35")
    made = json.loads(pq.read_schema(tmp_path / "m.parquet").metadata[b"lupustrial"])
    assert {k: made[k] for k in ("lupustrial_version", "patients", "protocol", "arm", "weeks", "seed", "start_day")} \
        == {"lupustrial_version": __version__, "patients": 5, "protocol": "beat-lupus", "arm": "Belimumab",
            "weeks": 8.0, "seed": 4, "start_day": 35.0}
    assert made["parameters"]["date"] == calibration_provenance()["date"]
    assert "calibrated" in made["parameters"]["parameter_set"]
    _simulate(tmp_path, "p", "--params", "prior")
    made = json.loads(pq.read_schema(tmp_path / "p.parquet").metadata[b"lupustrial"])
    assert "prior" in made["parameters"]["parameter_set"]


def test_a_run_that_stops_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch) -> None:
    import sys

    sim = sys.modules["lupustrial.model.simulate"]  # the package's name ``simulate`` is the function

    out = tmp_path / "m.parquet"
    out.write_bytes(b"the previous run's file")
    chunks = sim.simulate_chunks

    def first_chunk_then_interrupt(*args, **kwargs):
        yield next(chunks(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(sim, "simulate_chunks", first_chunk_then_interrupt)
    res = runner.invoke(app, ["simulate", "--patients", "6", "--arm", "placebo", "--weeks", "2", "--seed", "1",
                              "--chunk", "2", "--out", str(out)])
    assert res.exit_code != 0
    assert out.read_bytes() == b"the previous run's file" and [p.name for p in tmp_path.iterdir()] == ["m.parquet"]


def test_params_file_sets_the_values_it_names(tmp_path) -> None:
    import json

    from lupustrial.model.parameters import read_parameter_file

    stored = read_parameter_file(resources.files("lupustrial.model") / "calibrated" / "joint.json")
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"values": {**stored["values"], "rtx_ec50": 3.0 * stored["values"]["rtx_ec50"]},
                               "trials": stored["trials"]}))
    moved, calibrated = _simulate(tmp_path, "f", "--params", str(cal)), _simulate(tmp_path, "c")
    assert moved.loc[moved.day == 0].equals(calibrated.loc[calibrated.day == 0])  # the same patients
    late = moved.day == 20
    assert (moved.loc[late, "cd19_cells_ul"] > calibrated.loc[late, "cd19_cells_ul"]).all()  # weaker killing


@pytest.mark.parametrize(("values", "message"), [
    ({"rtx_ec50": 2.0, "rtx_ec51": 1.0}, "key values.rtx_ec51: unknown model parameter 'rtx_ec51'"),
    ({"bel_kd": -1}, "key values.bel_kd: model parameter bel_kd = -1 must be > 0"),
    ({"omega.rtx_cl": "wide"}, "key values.omega.rtx_cl: expected a number, got 'wide'"),
])
def test_bad_params_file_is_one_line_naming_file_and_key(tmp_path, values: dict, message: str) -> None:
    import json

    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"values": values}))
    res = runner.invoke(app, ["simulate", "--patients", "3", "--arm", "placebo", "--weeks", "2", "--seed", "1",
                              "--params", str(cal), "--out", str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and " ".join(res.output.split()) == f"error: {cal}, {message}", res.output
    assert not (tmp_path / "x.parquet").exists()
