"""A real-shaped three-arm ADaM package in XPT, analysed with a plan file verbatim, equals R.

The data: src/lupustrial/data/examples/three_arm_xpt (scripts/make_three_arm_xpt.py), laid out
as the CDISC pilot's: no RANDDT, labs in adlbc.xpt beside adlbh.xpt, unscheduled records without
AVISITN, subjects outside ITTFL/SAFFL (one with an AE), body systems in capitals, TRTEMFL.
R reads the same XPT files (tests/reference/plan_three_arm_reference.R).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.data import example_trial_dir

ROOT = Path(__file__).resolve().parents[1]
FOLDER = example_trial_dir("three-arm-xpt")
PLAN = FOLDER / "plan.yaml"
TREATMENTS = ("Drug Low Dose", "Drug High Dose")
REL = 1e-10


def _close(actual: Any, expected: Any) -> bool:
    """Equal to R's value (lists elementwise); R's NA equals our null."""
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(_close(a, e) for a, e in zip(actual, expected, strict=True))
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return actual is None or (isinstance(actual, float) and math.isnan(actual))
    return actual == pytest.approx(expected, rel=REL, abs=1e-14)


def _analyze(tmp_path: Path, *options: str) -> dict[str, Any]:
    out = tmp_path / f"results{len(options)}.json"
    result = CliRunner().invoke(app, ["analyze", str(FOLDER), "--plan", str(PLAN), "--json", str(out), *options])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _analyze(tmp_path_factory.mktemp("three_arm"))


@pytest.fixture(scope="module")
def r(reference: Callable[[str], Any]) -> dict[str, Any]:
    return reference("plan_three_arm")


def _comparison(results: dict[str, Any], name: str, treatment: str) -> dict[str, Any]:
    endpoint = next(e for e in results["endpoints"] if e["name"] == name)
    return next(c for c in endpoint["comparisons"] if c["treatment"] == treatment)


def test_plan_file_runs_verbatim_with_every_arm_against_placebo(results: dict[str, Any]) -> None:
    assert PLAN.read_text().splitlines()[0] == ("arms: {variable: TRT01P, reference: Placebo}       "
                                                "# every other arm is compared with it")
    assert results["arms"]["reference"] == "Placebo" and results["arms"]["treatments"] == list(TREATMENTS)
    assert [(e["name"], e["param"], e["analysis"]) for e in results["endpoints"]] == [
        ("Time to first event", "TTDE", "cox"), ("ALT at week 24", "ALT", "ancova_log")]
    for endpoint in results["endpoints"]:
        assert [(c["treatment"], c["reference"]) for c in endpoint["comparisons"]] == [
            (t, "Placebo") for t in TREATMENTS]
    tte, alt = results["endpoints"]
    assert tte["label"] == "Time to First Dermatologic Event" and alt["label"] == "Alanine Aminotransferase (U/L)"
    assert alt["dataset"] == "adlb"  # found as adlbc.xpt: the file of the ADLB prefix holding ALT
    assert sum(tte["population"]["excluded"].values()) == 3  # ITTFL = N: counted, left out


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_time_to_event_equals_r(results: dict[str, Any], r: dict[str, Any], treatment: str) -> None:
    comp, ref = _comparison(results, "Time to first event", treatment), r[treatment]["time_to_event"]
    res = comp["result"]
    for arm, km in ref["km"].items():
        ours = res["km"][arm]
        for key in ("time", "n_risk", "n_event", "surv", "lower", "upper", "std_err_log"):
            assert _close(ours[key], km[key]), (arm, key)
        assert (res["arms"][arm]["n"], res["arms"][arm]["events"]) == (km["n"], km["events"])
        for ours_key, key in (("median_days", "median"), ("median_lower", "median_lower"),
                              ("median_upper", "median_upper")):
            assert _close(res["arms"][arm][ours_key], km[key]), (arm, key)
    assert res["logrank"]["groups"] == ref["logrank"]["groups"]
    for key in ("observed", "expected", "chisq", "p_value"):
        assert _close(res["logrank"][key], ref["logrank"][key]), key
    cox, efron = res["cox"], ref["efron"]
    for key in ("coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "p_value"):
        assert _close(cox[key][0], efron[key]), key
    assert _close(cox["loglik"], efron["loglik"]) and _close(cox["lr_test"]["statistic"], efron["lr_statistic"])
    assert comp["effects"][0]["estimate"] == cox["hazard_ratio"][0]


def test_breslow_ties_equal_r(tmp_path: Path, r: dict[str, Any]) -> None:
    results = _analyze(tmp_path, "--ties", "breslow")
    for treatment in TREATMENTS:
        cox, breslow = _comparison(results, "Time to first event", treatment)["result"]["cox"], r[treatment]["time_to_event"]["breslow"]
        assert cox["ties"] == "breslow"
        for key in ("coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "p_value"):
            assert _close(cox[key][0], breslow[key]), key


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_ancova_equals_r(results: dict[str, Any], r: dict[str, Any], treatment: str) -> None:
    res, ref = _comparison(results, "ALT at week 24", treatment)["result"], r[treatment]["ancova"]
    for key in ("ratio", "ratio_lower", "ratio_upper", "p_value", "df_residual", "sigma"):
        assert _close(res[key], ref[key]), key
    for table, key in (("adjusted", "adjusted"), ("unadjusted", "unadjusted"), ("baseline_geometric_means",
                                                                               "baseline")):
        ours = {m["arm"]: m for m in res[table]}
        for arm, expected in ref[key].items():
            for field in ("n", "geometric_mean", "lower", "upper"):
                assert _close(ours[arm][field], expected[field]), (table, arm, field)


@pytest.mark.parametrize("treatment", TREATMENTS)
def test_adverse_events_equal_r_with_trtemfl_and_any_case(results: dict[str, Any], r: dict[str, Any],
                                                          treatment: str) -> None:
    table = next(c for c in results["adverse_events"]["comparisons"] if c["treatment"] == treatment)
    ref = r[treatment]["adverse_events"]
    assert [(x["level"], x["body_system"], x["term"]) for x in table["rows"]] == [
        (x["level"], x["body_system"], x["term"]) for x in ref]
    for row, exp in zip(table["rows"], ref, strict=True):
        arms = (row["treatment"], row["reference"])
        assert [a["subjects"] for a in arms] == exp["subjects"] and [a["events"] for a in arms] == exp["events"]
        assert [a["n"] for a in arms] == exp["n"]
        for key in ("fisher_p", "rate_ratio", "rate_ratio_lower", "rate_ratio_upper", "rate_ratio_p"):
            assert _close(row[key], exp[key]), (row["term"] or row["body_system"], key)
    infection = table["rows"][2]
    assert infection["term"] == "Any infection" and infection["treatment"]["events"] > 0
    assert results["adverse_events"]["treatment_emergent"] == "TRTEMFL"


def test_the_data_are_shaped_like_a_real_package() -> None:
    adsl, _ = pyreadstat.read_xport(str(FOLDER / "adsl.xpt"))
    adlbc, _ = pyreadstat.read_xport(str(FOLDER / "adlbc.xpt"))
    adae, _ = pyreadstat.read_xport(str(FOLDER / "adae.xpt"))
    assert "RANDDT" not in adsl.columns and set(adsl["TRT01P"]) == {"Placebo", *TREATMENTS}
    assert adlbc["AVISITN"].isna().any() and (FOLDER / "adlbh.xpt").is_file()
    assert (adae["TRTEMFL"] == "N").any() and (adae["AEBODSYS"] == adae["AEBODSYS"].str.upper()).all()
    outside = set(adsl.loc[adsl["SAFFL"] == "N", "USUBJID"])
    assert outside & set(adae["USUBJID"])


def test_committed_files_equal_the_generator(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_three_arm_xpt.py"), str(tmp_path)], check=True)
    for path in sorted(FOLDER.glob("*.xpt")):
        committed, _ = pyreadstat.read_xport(str(path))
        fresh, _ = pyreadstat.read_xport(str(tmp_path / path.name))
        pd.testing.assert_frame_equal(committed, fresh)
