"""The efficacy plan of the three-arm XPT package (responders, flare counts, a score over visits),
run by ``lupustrial analyze --plan`` verbatim, equals R reading the same files.

The data: src/lupustrial/data/examples/three_arm_xpt (scripts/make_three_arm_xpt.py): ADRS with
SRI-4 Y/N and blanks, a flare count FLARECNT over TRTDURD in ADSL, ADQS with a SLEDAI-2K-like
score at weeks 0-24 with dropouts. R: tests/reference/plan_efficacy_reference.R, which fits what
each plan entry names (glm binomial, mantelhaen.test, glm.nb, glm poisson, lm and gls + emmeans).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from shutil import copy
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from conftest import assert_close
from lupustrial.analysis import responder
from lupustrial.cli import app
from lupustrial.data import example_trial_dir

FOLDER = example_trial_dir("three-arm-xpt")
PLAN = FOLDER / "plan_efficacy.yaml"
TREATMENTS = ("Drug Low Dose", "Drug High Dose")
NAMES = {"responder": "SRI-4 response at week 24", "negative_binomial": "Flares per patient-year",
         "poisson": "Flares per patient-year (Poisson)", "ancova": "SLEDAI-2K at week 24",
         "mmrm": "SLEDAI-2K over 24 weeks"}


def close(ours: Any, r: Any) -> None:
    """Equal to R to 1e-6 (relative); p-values and near-zero numbers also within 1e-12."""
    assert_close(ours, r, rtol=1e-6, atol=1e-12)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, str]:
    out = tmp_path_factory.mktemp("efficacy")
    result = CliRunner().invoke(app, ["analyze", str(FOLDER), "--plan", str(PLAN), "--json", str(out / "r.json"),
                                      "--html", str(out / "r.html")])
    assert result.exit_code == 0, result.output
    return json.loads((out / "r.json").read_text()), (out / "r.html").read_text(), " ".join(result.output.split())


@pytest.fixture(scope="module")
def results(analysed: tuple[dict[str, Any], str, str]) -> dict[str, Any]:
    return analysed[0]


@pytest.fixture(scope="module")
def r(reference: Callable[[str], Any]) -> dict[str, Any]:
    return reference("plan_efficacy")


def _result(results: dict[str, Any], analysis: str, treatment: str) -> dict[str, Any]:
    endpoint = next(e for e in results["endpoints"] if e["analysis"] == analysis)
    return next(c for c in endpoint["comparisons"] if c["treatment"] == treatment)["result"]


def _coefficients(ours: list[dict[str, Any]], r: dict[str, Any], statistic: str,
                  names: dict[str, str] | None = None) -> None:
    assert [c["term"] for c in ours] == [(names or {}).get(t, t) for t in r["term"]]
    for key, theirs in (("estimate", "estimate"), ("se", "se"), (statistic, statistic), ("p_value", "p")):
        close([c[key] for c in ours], r[theirs])


def test_plan_names_every_new_method_and_runs_end_to_end(analysed: tuple[dict[str, Any], str, str]) -> None:
    results, page, console = analysed
    assert [(e["name"], e["analysis"]) for e in results["endpoints"]] == [(n, a) for a, n in NAMES.items()]
    assert [e["param"] for e in results["endpoints"]] == ["SRI4", "FLARECNT", "FLARECNT", "SLEDAI", "SLEDAI"]
    assert [e["dataset"] for e in results["endpoints"]] == ["adrs", "adsl", "adsl", "adqs", "adqs"]
    for endpoint in results["endpoints"]:
        assert [c["treatment"] for c in endpoint["comparisons"]] == list(TREATMENTS)
        assert endpoint["name"] in page and endpoint["name"] in console
    assert "difference at week 24" in page and "rate ratio (negative binomial)" in page
    assert yaml.safe_load(PLAN.read_text())["endpoints"][0]["strata"] == ["SITEID"]


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_responder_equals_r(results: dict[str, Any], r: dict[str, Any], treatment: str) -> None:
    ours, ref = _result(results, "responder", treatment), r[treatment]["responder"]
    assert [(a["arm"], a["n"], a["responders"]) for a in ours["arms"]] == [
        (a["arm"], a["n"], a["responders"]) for a in ref["arms"]]
    _coefficients(ours["coefficients"], ref["coef"], "z")
    assert (ours["iterations"], ours["deviance"]) == (ref["iterations"], pytest.approx(ref["deviance"], rel=1e-6))
    close([ours["odds_ratio_lower"], ours["odds_ratio_upper"]], np.exp(ref["wald"]))
    close([ours["profile_lower"], ours["profile_upper"]], np.exp(ref["profile"]))
    rd = ref["risk_difference"]
    close([ours["risk_difference"], ours["risk_difference_lower"], ours["risk_difference_upper"]],
          [rd["estimate"], rd["lower"], rd["upper"]])
    for key in ("odds_ratio", "lower", "upper", "statistic", "p_value"):
        close(ours["cmh"][key], ref["cmh"][key])
    assert ours["cmh"]["strata"] == 3 and ours["separated"] == []


@pytest.mark.parametrize("treatment", TREATMENTS)
@pytest.mark.parametrize("model", ["negative_binomial", "poisson"])
def test_counts_equal_r(results: dict[str, Any], r: dict[str, Any], treatment: str, model: str) -> None:
    ours, counts = _result(results, model, treatment), r[treatment]["counts"]
    ref = counts[model]
    for arm, theirs in zip(ours["arms"], counts["arms"], strict=True):
        assert (arm["arm"], arm["n"], arm["events"]) == (theirs["arm"], theirs["n"], theirs["events"])
        close(arm["exposure_years"], theirs["exposure_years"])
    _coefficients(ours["coefficients"], ref["coef"], "z")
    close([ours["loglik"], ours["deviance"]], [ref["loglik"], ref["deviance"]])
    emm = ref["emmeans"]
    assert [a["arm"] for a in ours["arms"]] == emm["arm"]
    for key, theirs in (("rate", "rate"), ("rate_se", "se"), ("rate_lower", "lower"), ("rate_upper", "upper")):
        close([a[key] for a in ours["arms"]], emm[theirs])
    ratio = ref["ratio"]
    close([ours["rate_ratio"], ours["rate_ratio_lower"], ours["rate_ratio_upper"], ours["z"], ours["p_value"]],
          [ratio["ratio"], ratio["lower"], ratio["upper"], ratio["z"], ratio["p_value"]])
    if model == "negative_binomial":
        close([ours["theta"], ours["theta_se"]], [ref["theta"], ref["theta_se"]])
    else:
        assert ours["theta"] is None


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_ancova_raw_equals_r(results: dict[str, Any], r: dict[str, Any], treatment: str) -> None:
    ours, ref = _result(results, "ancova", treatment), r[treatment]["ancova"]
    adj = ref["adjusted"]
    assert [m["arm"] for m in ours["adjusted"]] == adj["arm"]
    assert [m["n"] for m in ours["adjusted"]] == [ref["n"][a] for a in adj["arm"]]
    for key in ("mean", "se", "lower", "upper"):
        close([m[key] for m in ours["adjusted"]], adj[key])
    for key in ("difference", "se_difference", "difference_lower", "difference_upper", "t", "p_value", "sigma",
                "baseline_mean"):
        close(ours[key], ref[key])
    assert ours["df_residual"] == ref["df_residual"]
    _coefficients(ours["coefficients"], ref["coef"], "t", names={"BASE": "baseline"})


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_mmrm_equals_r(results: dict[str, Any], r: dict[str, Any], treatment: str) -> None:
    ours, ref = _result(results, "mmrm", treatment), r[treatment]["mmrm"]
    assert ours["visits"] == ref["visits"] and ours["df_method"] == "satterthwaite"
    assert (ours["n_subjects"], ours["n_observations"]) == (ref["n_subjects"], ref["n_observations"])
    close([ours["reml_loglik"], ours["baseline_mean"]], [ref["reml_loglik"], ref["baseline_mean"]])
    close(ours["covariance"], ref["covariance"])
    _coefficients(ours["coefficients"], ref["coef"], "t")
    means = ref["means"]
    assert [(m["visit"], m["arm"], m["n"]) for m in ours["means"]] == list(
        zip(means["visit"], means["arm"], means["n"], strict=True))
    for key, theirs in (("mean", "mean"), ("se", "se"), ("df", "df"), ("lower", "lower"), ("upper", "upper")):
        close([m[key] for m in ours["means"]], means[theirs])
    diff = ref["differences"]
    assert [d["visit"] for d in ours["differences"]] == diff["visit"]
    for key, theirs in (("difference", "estimate"), ("se", "se"), ("df", "df"), ("lower", "lower"),
                        ("upper", "upper"), ("t", "t"), ("p_value", "p_value")):
        close([d[key] for d in ours["differences"]], diff[theirs])


def test_each_comparison_reports_its_main_effect_first(results: dict[str, Any]) -> None:
    """The forest plot and the console lead with each method's main effect, taken from its result."""
    for analysis, label, key in (("responder", "odds ratio (logistic, Wald CI)", "odds_ratio"),
                                 ("negative_binomial", "rate ratio (negative binomial)", "rate_ratio"),
                                 ("poisson", "rate ratio (Poisson)", "rate_ratio"),
                                 ("ancova", "difference in adjusted means", "difference")):
        endpoint = next(e for e in results["endpoints"] if e["analysis"] == analysis)
        for comp in endpoint["comparisons"]:
            main = comp["effects"][0]
            assert (main["label"], main["estimate"]) == (label, comp["result"][key])
    mmrm = next(e for e in results["endpoints"] if e["analysis"] == "mmrm")["comparisons"][0]
    assert mmrm["effects"][0]["label"] == "difference at week 24"
    assert mmrm["effects"][0]["estimate"] == mmrm["result"]["differences"][-1]["difference"]
    assert mmrm["n"] == {"Drug Low Dose": 83, "Placebo": 85}  # subjects, not visits


def test_derived_responders_are_analysed_by_a_plan(tmp_path: Path) -> None:
    """``lupustrial indices derive example`` writes adrsp.csv; a responder entry reads it as ADRS."""
    derived = CliRunner().invoke(app, ["indices", "derive", "example", "--out", str(tmp_path)])
    assert derived.exit_code == 0, derived.output
    copy(example_trial_dir() / "adsl.csv", tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"endpoints": [{"name": "SRI-4 at week 52", "param": "SRI4", "analysis": "responder",
                                                   "week": 52, "strata": ["STRAT1"]}], "safety": None}))
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--plan", str(plan), "--json", str(out)])
    assert result.exit_code == 0, result.output
    endpoint = json.loads(out.read_text())["endpoints"][0]
    assert endpoint["label"] == "SLE Responder Index SRI-4"
    ours = endpoint["comparisons"][0]["result"]
    rsp = pd.read_csv(tmp_path / "adrsp.csv").query("PARAMCD == 'SRI4' and AVISITN == 52")
    rsp = rsp.merge(pd.read_csv(tmp_path / "adsl.csv"), on="USUBJID")
    direct = responder(rsp["AVALC"] == "Y", rsp["TRT01P"], treatment="Belimumab", reference="Placebo",
                       strata=rsp["STRAT1"])
    assert [(a["arm"], a["n"], a["responders"]) for a in ours["arms"]] == [
        (a.arm, a.n, a.responders) for a in direct.arms]
    assert ours["odds_ratio"] == direct.odds_ratio and ours["cmh"]["p_value"] == direct.cmh.p_value


def test_readme_and_docs_show_the_plan_file_verbatim() -> None:
    root = Path(__file__).resolve().parents[1]
    for doc in (root / "README.md", root / "docs" / "plan.md"):
        assert f"```yaml\n{PLAN.read_text()}```" in doc.read_text(encoding="utf-8"), doc
