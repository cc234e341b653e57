"""The analysis plan: one schema for plan files and protocols, one registry of methods, readers."""

from __future__ import annotations

import json
import re
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from lupustrial.analysis import methods
from lupustrial.analysis.endpoint_data import ARM, read_count, read_repeated, read_responder
from lupustrial.analysis.methods import METHODS, Method, Row, Summary, Value
from lupustrial.analysis.plan import AnalysisPlan, Endpoint, PlanError, load_plan
from lupustrial.analysis.trial import analyze_trial, load_for_plan
from lupustrial.cli import app
from lupustrial.data import example_trial_dir, find_dataset
from lupustrial.errors import AnalysisError, DataError
from lupustrial.protocol import load_protocol, resolve_protocol
from lupustrial.report.analysis_html import render_analysis_report

THREE_ARM = example_trial_dir("three-arm-xpt")
runner = CliRunner()


def _plan_file(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def _three_arm_plan() -> dict[str, Any]:
    return yaml.safe_load((THREE_ARM / "plan.yaml").read_text())


@pytest.mark.parametrize(("edit", "at", "expected"), [
    (lambda d: d["endpoints"][1].update(analysis="ancova_lg"), "analysis: ancova_lg",
     "key endpoints[1].analysis: unknown analysis 'ancova_lg' (one of"),
    (lambda d: d["endpoints"][1].pop("week"), "- name: ALT at week 24", "key endpoints[1]: ancova_log needs week"),
    (lambda d: d["endpoints"][0].update(firth="maybe"), "firth: maybe",
     "key endpoints[0].firth: Input should be a valid boolean"),
    (lambda d: d["endpoints"][0].update(ties="exact"), "ties: exact", "key endpoints[0].ties: Input should be 'efron' or"),
    (lambda d: d["safety"].update(treatment_emergnt="X"), "treatment_emergnt: X",
     "key safety.treatment_emergnt: unknown key"),
    (lambda d: d.update(conf_level=1.5), "conf_level: 1.5", "key conf_level: Input should be less than 1"),
    (lambda d: d["endpoints"][0].update(dataset="ADSL"), "- name: Time to first event",
     "key endpoints[0]: cox reads records by PARAMCD, which ADSL has not"),
])
def test_bad_plan_is_one_line_with_file_line_and_key(tmp_path: Path, edit, at: str, expected: str) -> None:
    data = _three_arm_plan()
    edit(data)
    path = _plan_file(tmp_path, data)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if at in text)
    with pytest.raises(PlanError) as info:
        load_plan(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}, ") and expected in message and "\n" not in message
    result = runner.invoke(app, ["analyze", str(THREE_ARM), "--plan", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert expected in " ".join(result.output.split())


def test_plan_file_that_is_not_a_plan(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "missing.yaml")
    with pytest.raises(PlanError, match="line 3: not valid YAML"):
        load_plan(_plan_file(tmp_path, "endpoints:\n  - [\n"))
    with pytest.raises(PlanError, match="a plan is a YAML mapping"):
        load_plan(_plan_file(tmp_path, "- 1\n"))


def test_survival_is_reported_only_within_the_observed_follow_up(tmp_path: Path) -> None:
    plan = load_plan(THREE_ARM / "plan.yaml")
    data = load_for_plan(THREE_ARM, plan)
    for week, inside in ((52, False), (12, True)):
        cox = plan.endpoints[0].model_copy(update={"week": week})
        result = analyze_trial(data, plan.model_copy(update={"endpoints": [cox], "safety": None}))
        res = result.endpoints[0].comparisons[0].result
        for arm, s in res.arms.items():
            assert s.last_time_days < 52 * 7
            expected = res.km[arm].at([week * 7.0]).surv[0] if inside else math.nan
            np.testing.assert_equal(s.surv_at_horizon, expected)
        row = result.endpoints[0].comparisons[0].summary.rows[-1]
        assert row.label == f"event-free at day {week * 7:g}, Kaplan-Meier (95% CI)"


def test_cli_options_change_the_plan(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    plan = str(THREE_ARM / "plan.yaml")
    result = runner.invoke(app, ["analyze", str(THREE_ARM), "--plan", plan, "--treatment", "Drug High Dose",
                                 "--visit", "12", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["arms"]["treatments"] == ["Drug High Dose"]
    assert data["endpoints"][1]["week"] == 12 and data["endpoints"][0]["week"] is None
    bad = runner.invoke(app, ["analyze", str(THREE_ARM), "--plan", plan, "--reference", "Control"])
    assert bad.exit_code == 2 and "arm 'Control' is not in the trial's arms" in bad.output


def test_a_population_flag_the_data_lack_names_the_key(tmp_path: Path) -> None:
    data = _three_arm_plan()
    data["endpoints"][1]["population"] = "EFFFL"
    result = runner.invoke(app, ["analyze", str(THREE_ARM), "--plan", str(_plan_file(tmp_path, data))])
    assert result.exit_code == 2 and "endpoints[1].population: ADSL has no column EFFFL" in result.output


def test_labs_split_over_files_are_found_by_prefix_and_parameter(tmp_path: Path) -> None:
    assert find_dataset(THREE_ARM, "adlb", ["ALT"]).name == "adlbc.xpt"
    assert find_dataset(THREE_ARM, "adlb", ["HGB"]).name == "adlbh.xpt"
    with pytest.raises(DataError, match=r"two files for ADLB: adlbc.xpt, adlbh.xpt; .* \(datasets: \{adlb: FILE\}\)"):
        find_dataset(THREE_ARM, "adlb")
    data = _three_arm_plan()
    data["endpoints"][1]["param"] = "HGB"
    data["datasets"] = {"adlb": "adlbc.xpt"}  # named: the HGB records are not there
    result = runner.invoke(app, ["analyze", str(THREE_ARM), "--plan", str(_plan_file(tmp_path, data))])
    assert result.exit_code == 2 and "no HGB records with a value at AVISITN 24" in result.output


def _subjects(n: int = 6) -> pd.DataFrame:
    return pd.DataFrame({"USUBJID": [f"S{i}" for i in range(n)], ARM: ["t", "r"] * (n // 2),
                         "REGION": ["EU", "US", "US", "EU", "EU", "US"][:n], "FLARES": [0, 2, 1, 3, 0, 1][:n],
                         "TRTDURD": [300.0, 365, 200, 365, 100, 365][:n]})


def test_responder_reader_takes_y_n_and_counts_the_not_evaluable() -> None:
    frame = pd.DataFrame({"USUBJID": ["S0", "S1", "S2", "S3", "S4", "S0"], "PARAMCD": ["SRI4"] * 5 + ["BICLA"],
                          "AVISITN": [52.0] * 6, "AVALC": ["Y", "N", None, "y", "N", "Y"]})
    ep = Endpoint(name="SRI-4", param="SRI4", analysis="geometric_mean", week=52)  # any method; the reader is tested
    d = read_responder(frame, _subjects(), ep, ("t", "r"), 0.95)
    assert d.usubjid.tolist() == ["S0", "S1", "S3", "S4"] and d.response.tolist() == [1, 0, 1, 0]
    assert d.not_evaluable == 1 and d.n() == {"t": 2, "r": 2}


def test_count_reader_from_adsl_or_a_bds_dataset() -> None:
    ep = Endpoint(name="flares", param="FLARES", analysis="km")
    d = read_count(_subjects(), _subjects(), ep, ("t", "r"), 0.95)
    assert d.count.tolist() == [0, 2, 1, 3, 0, 1] and d.exposure_days.tolist() == [300, 365, 200, 365, 100, 365]
    frame = pd.DataFrame({"USUBJID": ["S0", "S1"], "PARAMCD": "FLARES", "AVAL": [4.0, 1.0]})
    d = read_count(frame, _subjects(), ep, ("t", "r"), 0.95)
    assert d.count.tolist() == [4, 1] and d.exposure_days.tolist() == [300, 365]


def test_repeated_reader_takes_scheduled_post_baseline_visits_up_to_the_week() -> None:
    frame = pd.DataFrame({"USUBJID": ["S0"] * 5 + ["S1"] * 2, "PARAMCD": "ALT", "AVISITN": [0, 4, np.nan, 8, 12, 4, 8],
                          "AVAL": [10.0, 11, 50, 12, 13, np.nan, 9], "BASE": [10.0] * 5 + [8.0] * 2})
    ep = Endpoint(name="ALT", param="ALT", analysis="ancova_log", week=8, factors=["REGION"])
    d = read_repeated(frame, _subjects(), ep, ("t", "r"), 0.95)
    assert d.visit.tolist() == [4, 8, 8] and d.value.tolist() == [11, 12, 9] and d.baseline.tolist() == [10, 10, 8]
    assert d.factors["REGION"].tolist() == ["EU", "EU", "US"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"analysis": "responder"}, "responder needs week"),
    ({"analysis": "mmrm"}, "mmrm needs week"),
    ({"analysis": "mmrm", "week": 24, "strata": ["SEX"]}, "mmrm does not use strata"),
    ({"analysis": "negative_binomial", "week": 52}, "negative_binomial does not use week"),
    ({"analysis": "poisson", "ties": "breslow"}, "poisson does not use ties"),
    ({"analysis": "ancova", "week": 24, "exposure": "TRTDURD"}, "ancova does not use exposure"),
])
def test_each_registered_method_takes_only_its_keys(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Endpoint(name="x", param="X", **entry)


def test_count_without_follow_up_names_the_subject() -> None:
    subjects = _subjects().assign(TRTDURD=[300.0, 0, 200, 365, 100, 365])
    ep = Endpoint(name="flares", param="FLARES", analysis="negative_binomial", exposure="TRTDURD")
    with pytest.raises(AnalysisError, match="subject S1 has follow-up 0 days: a count needs a positive exposure"):
        ep.method.fit(ep, read_count(subjects, subjects, ep, ("t", "r"), 0.95))


def test_responders_without_a_finite_odds_ratio_keep_the_risk_difference() -> None:
    frame = pd.DataFrame({"USUBJID": [f"S{i}" for i in range(6)], "PARAMCD": "SRI4", "AVISITN": 52.0,
                          "AVALC": ["Y", "N", "Y", "Y", "Y", "N"]})  # every treated subject responds
    ep = Endpoint(name="SRI-4", param="SRI4", analysis="responder", week=52)
    summary = ep.method.summarise(ep.method.fit(ep, read_responder(frame, _subjects(), ep, ("t", "r"), 0.95)))
    odds, difference = summary.effects
    assert math.isnan(odds.estimate) and "monotone" in odds.note
    assert difference.estimate == pytest.approx(1 - 1 / 3) and difference.null == 0.0


@dataclass(frozen=True)
class _Rate:
    rates: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"rates": self.rates}


def test_registering_a_method_is_one_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A method reading counts, registered alone, is validated, analysed and reported everywhere."""

    def fit(endpoint: Endpoint, data: Any) -> _Rate:
        return _Rate({a: float(data.count[data.arm == a].sum() / data.exposure_days[data.arm == a].sum() * 365.25)
                      for a in (data.treatment, data.reference)})

    def summarise(result: _Rate) -> Summary:
        return Summary((Row("events per patient-year", {a: Value(r) for a, r in result.rates.items()}),))

    monkeypatch.setitem(METHODS, "crude_rate", Method("crude_rate", "count", fit, summarise, "crude event rate",
                                                       uses=("exposure",)))
    data = _three_arm_plan()
    data["endpoints"].append({"name": "AE rate", "param": "TRTDURD", "analysis": "crude_rate", "dataset": "adsl"})
    plan = load_plan(_plan_file(tmp_path, data))
    result = analyze_trial(load_for_plan(THREE_ARM, plan), plan)
    rate = result.endpoints[-1].comparisons[0]
    assert rate.result.rates == {a: 365.25 for a in ("Drug Low Dose", "Placebo")}
    assert "events per patient-year" in render_analysis_report(result)
    assert result.to_dict()["endpoints"][-1]["comparisons"][0]["result"] == {"rates": rate.result.rates}
    assert methods.METHODS["crude_rate"].name == "crude_rate"


def test_an_endpoint_added_to_a_protocol_copy_is_analysed_and_reported(tmp_path: Path) -> None:
    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["endpoints"].append({"name": "flare-free at week 24", "param": "TTSEVFL", "analysis": "km", "week": 24})
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data))
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    result = runner.invoke(app, ["analyze", "example", "--protocol", str(path), "--json", str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    added = json.loads(out.read_text())["endpoints"][-1]
    assert added["analysis"] == "km" and added["comparisons"][0]["result"]["horizon_days"] == 168
    assert "flare-free at week 24" in " ".join(result.output.split()) and "flare-free at week 24" in page.read_text()
    assert load_protocol(path).plan().by_analysis("km")[0].name == "flare-free at week 24"


def test_protocol_plan_is_the_plan_schema() -> None:
    protocol = load_protocol("beat-lupus")
    plan = protocol.plan()
    assert isinstance(plan, AnalysisPlan) and plan.endpoints == protocol.endpoints
    assert [k for k, _ in plan.keyed("cox", "km")] == ["endpoints[1]"]
    assert plan.safety.variable == "TRT01A" and plan.arms.reference == protocol.arms[-1].name


def test_docs_list_every_registered_method() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "plan.md").read_text(encoding="utf-8")
    table = text.split("## Methods", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| `([a-z_]+)` \|", table, re.M)
    assert sorted(documented) == sorted(METHODS)


def test_cox_factors_and_strata_reach_the_fit() -> None:
    """The plan's factors become treatment-contrast columns after the arm, its strata Cox and log-rank strata."""
    from lupustrial.analysis import cox, logrank

    plan = load_plan(THREE_ARM / "plan.yaml")
    ep = plan.endpoints[0].model_copy(update={"factors": ["SITEID"], "strata": ["SEX"], "ties": "breslow"})
    data = load_for_plan(THREE_ARM, plan)
    res = analyze_trial(data, plan.model_copy(update={"endpoints": [ep], "safety": None})).endpoints[0]
    fit = res.comparisons[1].result
    tte = data.adtte.merge(data.adsl[data.adsl["ITTFL"] == "Y"], on="USUBJID")
    tte = tte[tte["TRT01P"].isin(["Drug High Dose", "Placebo"])]
    x = np.column_stack([tte["TRT01P"] == "Drug High Dose", tte["SITEID"] == 702, tte["SITEID"] == 703])
    event = 1 - tte["CNSR"].astype(int)
    direct = cox(tte["AVAL"], event, x.astype(float), ties="breslow", strata=tte["SEX"])
    assert fit.cox.names == ("Drug High Dose vs Placebo", "SITEID702.0", "SITEID703.0")  # a numeric ADSL column
    np.testing.assert_array_equal(fit.cox.coef, direct.coef)
    assert fit.logrank.chisq == logrank(tte["AVAL"], event, tte["TRT01P"], strata=tte["SEX"]).chisq
