"""Simulated power: batched tests equal single fits; endpoint rules; results do not depend on who runs them."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from lupustrial.analysis import ancova_gmr, cox
from lupustrial.analysis.ae import DAYS_PER_YEAR
from lupustrial.analysis.counts import negative_binomial
from lupustrial.cli import app
from lupustrial.design.analytic import required_events
from lupustrial.design.power import claims, power_curve, trial_statistics, with_sample_size
from lupustrial.errors import AnalysisError
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol import load_protocol
from lupustrial.simulate import simulate_chunk

runner = CliRunner()


def test_statistics_of_first_patients_equal_single_fits() -> None:
    protocol = with_sample_size(load_protocol("beat-lupus"), 30)
    trials = range(0, 4)
    stats = trial_statistics(protocol, trials, seed=3, sizes=[16, 30])
    frames = simulate_chunk(protocol, trials, 3)
    arm = frames["adsl"].set_index("USUBJID")["TRT01P"]
    number = lambda usubjid: usubjid.str[-3:].astype(int)  # noqa: E731  (enrolment order)
    for i, n in enumerate([16, 30]):
        for t in trials:
            lab = frames["adlb"]
            lab = lab[(lab["TRIALID"] == t + 1) & (lab["PARAMCD"] == "DSDNA") & (lab["AVISITN"] == 52)]
            lab = lab[number(lab["USUBJID"]) <= n]
            a = ancova_gmr(lab["AVAL"], lab["BASE"], lab["USUBJID"].map(arm), treatment="Belimumab",
                           reference="Placebo")
            assert stats["DSDNA.p_value"][i, t] == pytest.approx(a.p_value, rel=1e-8)
            assert stats["DSDNA.estimate"][i, t] == pytest.approx(np.log(a.ratio), rel=1e-8)
            tte = frames["adtte"]
            tte = tte[(tte["TRIALID"] == t + 1) & (tte["PARAMCD"] == "TTSEVFL")]
            tte = tte[number(tte["USUBJID"]) <= n]
            assert stats["TTSEVFL.events"][i, t] == (tte["CNSR"] == 0).sum()
            if (tte["CNSR"] == 0).any():
                c = cox(tte["AVAL"], 1 - tte["CNSR"], (tte["USUBJID"].map(arm) == "Belimumab").astype(float))
                assert stats["TTSEVFL.p_value"][i, t] == pytest.approx(c.lr_test.p_value, rel=1e-8)
                assert stats["TTSEVFL.monotone"][i, t] == c.monotone


def test_endpoint_rules() -> None:
    stats = {"A.p_value": np.array([[0.01, 0.03, 0.2, 0.01, 0.01]]), "A.estimate": np.array([[-1, -1, -1, 1, -1.0]]),
             "C.p_value": np.array([[0.02, 0.02, 0.01, 0.01, np.nan]]),
             "C.estimate": np.array([[-1, -1, -1, -1, -1.0]])}
    family = ["A", "C"]
    assert claims(stats, 0.05, "A", family)[0].tolist() == [[True, True, False, False, True]]
    assert claims(stats, 0.05, "C", family)[0].tolist() == [[True, True, True, True, False]]
    # a response endpoint: the treatment's benefit is a higher estimate (log OR > 0)
    assert claims(stats, 0.05, "A", family, higher={"A"})[0].tolist() == [[False, False, False, True, False]]
    every, any_ = claims(stats, 0.05, "all/bonferroni", family)  # each at 0.025
    assert every.tolist() == [[True, False, False, False, False]]
    assert any_.tolist() == [[True, True, True, True, True]]
    every, any_ = claims(stats, 0.05, "all/hierarchical", family)  # C only tested after A is claimed
    assert every.tolist() == [[True, True, False, False, False]]
    assert any_.tolist() == [[True, True, False, False, True]]
    with pytest.raises(ValueError, match="unknown endpoint"):
        claims(stats, 0.05, "all", family)


@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from([-1.0, 1.0])), min_size=3, max_size=3),
       st.floats(0.001, 0.2))
def test_family_rules_of_three_endpoints(tests: list[tuple[float, float]], alpha: float) -> None:
    """Fixed sequence: the k-th endpoint counts only once the k - 1 before it are claimed; Bonferroni:
    each at alpha / 3."""
    family = ["A", "B", "C"]
    stats = {f"{x}.{k}": np.array([[v]]) for x, (p, e) in zip(family, tests) for k, v in (("p_value", p),
                                                                                          ("estimate", e))}
    claimed = [p < alpha and e < 0 for p, e in tests]
    every, first = claims(stats, alpha, "all/hierarchical", family)
    assert bool(every[0, 0]) == all(claimed) and bool(first[0, 0]) == claimed[0]
    at_third = [p < alpha / 3 and e < 0 for p, e in tests]
    every, any_ = claims(stats, alpha, "all/bonferroni", family)
    assert bool(every[0, 0]) == all(at_third) and bool(any_[0, 0]) == any(at_third)


def test_power_curve_independent_of_workers_and_chunk() -> None:
    protocol = load_protocol("beat-lupus")
    a = power_curve(protocol, [24, 40], n_trials=12, seed=5, chunk=12)
    with ProcessPoolExecutor(2) as pool:
        b = power_curve(protocol, [40, 24], n_trials=12, seed=5, chunk=5, executor=pool)
    assert a.table.equals(b.table) and a.analytic.equals(b.analytic)
    p = a.table["power"].to_numpy()
    np.testing.assert_allclose(a.table["mc_se"], np.sqrt(p * (1 - p) / 12))
    assert set(a.table["endpoint"]) == {"DSDNA", "TTSEVFL", "MCR", "SEVFLN", "SRI4", "BICLA", "LLDAS",
                                        "all/bonferroni", "all/hierarchical"}
    n_s, n_f = a.analytic_n("TTSEVFL", "schoenfeld", 0.8), a.analytic_n("TTSEVFL", "freedman", 0.8)
    hr = np.exp(a.effects["TTSEVFL"]["estimate"])
    d_s, d_f = (required_events(hr, power=0.8, method=m) for m in ("schoenfeld", "freedman"))
    assert a.analytic_lines("TTSEVFL", 0.8) == [f"S {np.ceil(n_s):.0f} ({np.ceil(d_s):.0f} ev.)",
                                            f"F {np.ceil(n_f):.0f} ({np.ceil(d_f):.0f} ev.)"]
    assert a.analytic_lines("all/hierarchical", 0.8) == ["-"]
    monotone = a.table.set_index(["endpoint", "n_total"])["monotone_fits"]
    assert monotone["TTSEVFL"].sum() > 0  # 12 small trials: some have flares in one arm only
    for rule in ("all/bonferroni", "all/hierarchical"):  # every rule testing Cox counts its monotone fits
        assert monotone[rule].equals(monotone["TTSEVFL"])
    assert (monotone["DSDNA"] == 0).all()


def test_assurance_mixes_parameter_sets_by_trial() -> None:
    protocol = with_sample_size(load_protocol("beat-lupus"), 24)
    sets = [ModelParameters(), ModelParameters().with_values(flare_rate=3.0)]
    mixed = trial_statistics(protocol, range(6), seed=2, sizes=[24], params=sets)
    for k, params in enumerate(sets):  # trial t uses set t mod 2, exactly as if run with that set alone
        alone = trial_statistics(protocol, range(6), seed=2, sizes=[24], params=params)
        np.testing.assert_array_equal(mixed["TTSEVFL.events"][:, k::2], alone["TTSEVFL.events"][:, k::2])
    alone = trial_statistics(protocol, range(6), seed=2, sizes=[24], params=sets[1])
    assert mixed["TTSEVFL.events"][:, 0::2].sum() < alone["TTSEVFL.events"][:, 0::2].sum()  # a tripled flare rate shows


def test_cli_design_table_json_html(tmp_path: Path) -> None:
    out = tmp_path / "power.json"
    result = runner.invoke(app, ["design", "beat-lupus", "--sizes", "20,30", "--trials", "10", "--workers", "1",
                                 "--ratio", "1:1,2:1", "--endpoint", "family", "--multiplicity", "bonferroni",
                                 "--json", str(out), "--html", str(tmp_path / "d.html")])
    assert result.exit_code == 0, result.output
    assert "Smallest total N" in result.output and "all/bonferroni" in result.output
    cells = json.loads(out.read_text())["cells"]
    assert [c["cell"]["ratio"] for c in cells] == ["1:1", "2:1"]
    assert cells[1]["ratio"] == 2.0
    assert {(r["n_total"], r["endpoint"]) for r in cells[0]["power"]} >= {(20, "all/bonferroni"), (30, "TTSEVFL")}
    assert (tmp_path / "d.html").read_text().count("data:image/png;base64,") == 2
    for args, message in ((["--sizes", "20,x"], "option --sizes"), (["--ratio", "2-1"], "option --ratio"),
                          (["--endpoint", "any"], "option --endpoint"), (["--resume"], "needs --out"),
                          (["--follow-up", "0"], "grid cell ratio1-1_startwindow_fu0")):
        bad = runner.invoke(app, ["design", "beat-lupus", "--trials", "10", *args])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)


def test_assurance_is_power_averaged_over_sets() -> None:
    protocol = load_protocol("beat-lupus")
    sets = [ModelParameters(), ModelParameters().with_values(flare_rate=3.0)]
    mixed = power_curve(protocol, [24], n_trials=10, seed=2, params=sets)
    assert mixed.parameter_sets == 2 and mixed.to_dict()["assurance"]
    parts = [trial_statistics(with_sample_size(protocol, 24), range(10), seed=2, sizes=[24], params=s) for s in sets]
    family = ["DSDNA", "TTSEVFL"]
    expected = (claims(parts[0], 0.05, "TTSEVFL", family)[0][:, 0::2].sum()
                + claims(parts[1], 0.05, "TTSEVFL", family)[0][:, 1::2].sum()) / 10
    cox_row = mixed.table[mixed.table["endpoint"] == "TTSEVFL"].iloc[0]
    assert cox_row["power"] == expected
    # MC s.e. with the sets as clusters: C/(C - 1) sum_k (y_k - m_k p)^2 / T^2, here C = 2 sets of m = 5 trials
    y = np.array([claims(parts[k], 0.05, "TTSEVFL", family)[0][0, k::2].sum() for k in range(2)])
    assert cox_row["mc_se"] == pytest.approx(np.sqrt(2 * np.sum((y - 5 * expected) ** 2)) / 10)


def test_severe_flare_counts_equal_the_adsl_negative_binomial() -> None:
    """The simulated SEVFLN over TRTDURD, fitted by the twin, equals ``negative_binomial`` on ADSL."""
    base = with_sample_size(load_protocol("beat-lupus"), 40)
    protocol = base.model_validate({**base.model_dump(), "endpoints": [
        {"name": "severe flares", "param": "SEVFLN", "analysis": "negative_binomial", "dataset": "adsl"}]})
    trials = range(0, 3)
    stats = trial_statistics(protocol, trials, seed=5, sizes=[40])
    adsl = simulate_chunk(protocol, trials, 5)["adsl"]
    for t in trials:
        rows = adsl[adsl["TRIALID"] == t + 1]
        try:
            fit = negative_binomial(rows["SEVFLN"], rows["TRTDURD"] / DAYS_PER_YEAR, rows["TRT01P"],
                                    treatment="Belimumab", reference="Placebo")
        except AnalysisError:
            assert np.isnan(stats["SEVFLN.p_value"][0, t])
            continue
        assert stats["SEVFLN.p_value"][0, t] == pytest.approx(fit.p_value, rel=1e-8)
        assert stats["SEVFLN.estimate"][0, t] == pytest.approx(fit.log_rate_ratio, rel=1e-8)
