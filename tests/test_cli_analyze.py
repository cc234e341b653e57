"""`lupustrial analyze`: the results table, JSON output, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from lupustrial.analysis.cox import cox
from lupustrial.analysis.trial import analyze_trial, load_for_plan
from lupustrial.cli import app
from lupustrial.data import example_trial_dir, load_trial
from lupustrial.protocol import load_protocol

runner = CliRunner()


def test_analyze_example_prints_tables_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = runner.invoke(app, ["analyze", "example", "--json", str(out)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    for heading in ("Primary endpoint: IgG anti-dsDNA at week 52", "time to first severe (BILAG-2004 A) flare",
                    "B cells (CD19) at week 52", "Adverse events"):
        assert heading in output
    data = json.loads(out.read_text())
    assert data["arms"] == {"variable": "TRT01P", "reference": "Placebo", "treatments": ["Belimumab"],
                            "subjects": {"Belimumab": 26, "Placebo": 26}}
    primary, flare, bcells, *clinical = data["endpoints"]
    assert [e["analysis"] for e in data["endpoints"]] == ["ancova_log", "cox", "geometric_mean", "responder",
                                                          "negative_binomial", "responder", "responder", "responder"]
    assert [e["param"] for e in clinical] == ["MCR", "SEVFLN", "SRI4", "BICLA", "LLDAS"]
    assert all(e["comparisons"] and not e["not_estimable"] for e in clinical)
    (comparison,) = flare["comparisons"]
    assert (comparison["treatment"], comparison["reference"]) == ("Belimumab", "Placebo")
    arms = comparison["result"]["arms"]
    assert arms["Belimumab"]["events"] == 3 and arms["Placebo"]["events"] == 10
    assert 0 < comparison["result"]["cox"]["hazard_ratio"][0] < 1
    assert comparison["effects"][0]["estimate"] == comparison["result"]["cox"]["hazard_ratio"][0]
    prim = primary["comparisons"][0]["result"]
    assert abs(prim["percent_reduction"] - 100 * (1 - prim["ratio"])) < 1e-9
    assert primary["population"] == {"flag": "ITTFL", "included": {"Belimumab": 26, "Placebo": 26},
                                     "excluded": {"Belimumab": 0, "Placebo": 0}}
    assert {m["arm"] for m in bcells["comparisons"][0]["result"]["geometric_means"]} == {"Belimumab", "Placebo"}


def test_trial_cox_equals_direct_fit_on_the_same_records() -> None:
    plan = load_protocol("beat-lupus").plan()
    data = load_for_plan(example_trial_dir(), plan)
    result = analyze_trial(data, plan)
    tte = data.adtte.merge(data.adsl[["USUBJID", "TRT01P"]], on="USUBJID")
    direct = cox(tte["AVAL"], 1 - tte["CNSR"].astype(int), (tte["TRT01P"] == "Belimumab").astype(float))
    assert result.first("cox").comparison().result.cox.coef[0] == direct.coef[0]


def test_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "t"
    shutil.copytree(example_trial_dir(), folder)
    text = (folder / "adtte.csv").read_text().splitlines()
    text[3] = text[3].replace(",1,", ",7,", 1)
    (folder / "adtte.csv").write_text("\n".join(text) + "\n")
    result = runner.invoke(app, ["analyze", str(folder)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "adtte.csv, row 3, column CNSR" in result.output.replace("\n", " ")


def test_bad_option_is_one_line() -> None:
    result = runner.invoke(app, ["analyze", "example", "--ties", "exact"])
    assert result.exit_code == 2
    assert "option --ties" in result.output
    result = runner.invoke(app, ["analyze", "example", "--reference", "Control"])
    assert result.exit_code == 2 and "not in the trial's arms" in result.output


def test_simulated_folder_gets_the_plan_of_the_protocol_that_made_it(tmp_path: Path) -> None:
    """ADSL's STUDYID naming a bundled protocol (as `lupustrial simulate` writes it) picks that
    protocol's plan; --protocol still chooses another."""
    from lupustrial.data import write_trial
    from lupustrial.simulate import run_trials

    base = load_protocol("bliss-sc")
    small = base.model_copy(update={"population": base.population.model_copy(update={"n_patients": 60})})
    write_trial(run_trials(small, 1, seed=3), tmp_path, fmt="parquet")
    named = runner.invoke(app, ["analyze", str(tmp_path)], terminal_width=200)
    assert named.exit_code == 0, named.output
    assert "plan: bliss-sc's" in named.output and "Primary endpoint: SRI-4 response at week 52" in named.output
    chosen = runner.invoke(app, ["analyze", str(tmp_path), "--protocol", "beat-lupus"], terminal_width=200)
    assert chosen.exit_code == 0, chosen.output
    assert "plan:" not in chosen.output and "Primary endpoint: IgG anti-dsDNA" in chosen.output
