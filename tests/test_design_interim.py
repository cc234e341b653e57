"""Interim looks in the simulator: data cuts on the calendar, looks analysed as single fits would,
boundaries applied trial by trial, the exponential cross-check equal to rpact within MC error,
sample-size re-estimation, and results independent of workers, chunks and schedulers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import special
from typer.testing import CliRunner

from conftest import load_reference
from lupustrial.analysis import ancova_gmr, cox
from lupustrial.cli import app
from lupustrial.design.execute import executor
from lupustrial.design.grid import grid_cells
from lupustrial.design.interim import (Timeline, analyse, conditional_power, exponential_timeline, interim_design,
                                       look_days, look_statistics)
from lupustrial.design.operating import stopping
from lupustrial.design.power import power_curve, with_sample_size
from lupustrial.design.sequential import group_sequential_design
from lupustrial.design.sweep import run_sweep
from lupustrial.protocol import ProtocolError, load_protocol, resolve_protocol
from lupustrial.protocol.schema import Interim
from lupustrial.report.json import to_jsonable
from lupustrial.simulate.trial import simulate_arrays

CONFIRMATORY = "beat-lupus-confirmatory"


def _interim(**changes) -> Interim:
    looks = [{"by": "events", "at": 1 / 3}, {"by": "events", "at": 2 / 3}, {"by": "events", "at": 1.0}]
    return Interim.model_validate({"looks": looks, "max_events": 30, "type_of_design": "asOF"} | changes)


def _toy() -> Timeline:
    """Two trials of five patients: randomised on days 0, 10, 20, 30, 40; events or censoring."""
    entry = np.tile([0.0, 10.0, 20.0, 30.0, 40.0], (2, 1))
    time = np.array([[50.0, 15.0, 100.0, 5.0, 60.0], [100.0, 100.0, 100.0, 100.0, 100.0]])
    event = np.array([[1, 1, 0, 1, 1], [0, 0, 0, 0, 0]], dtype=bool)
    return Timeline(enrol=entry - 5, entry=entry, end=entry + 100, withdrawn=np.zeros((2, 5), dtype=bool),
                    treated=np.tile([1.0, 0.0, 1.0, 0.0, 1.0], (2, 1)), follow_up=100.0, time=time, event=event)


def test_look_days_follow_the_calendar() -> None:
    """Event days are entry + time (25, 35, 50, 100): 2 of 4 events at day 35, 3 at day 50; a look
    never met (trial 2 has no events) happens when the last patient's observation ends (day 140)."""
    tl = _toy()
    days = look_days(tl, _interim(max_events=4, looks=[{"by": "events", "at": 0.5}, {"by": "events", "at": 0.75},
                                                       {"by": "events", "at": 1.0}]))
    np.testing.assert_array_equal(days, [[35, 140], [50, 140], [100, 140]])
    patients = _interim(looks=[{"by": "patients", "at": 0.4}, {"by": "calendar", "at": 5, "information": 0.6},
                               {"by": "patients", "at": 1.0}])
    # patients reach the end of follow-up on day 100, 110, ...: the 2nd on day 110; week 5 = day 35 is
    # earlier, so the second look waits for the first (looks never go back in time)
    np.testing.assert_array_equal(look_days(tl, patients)[:, 0], [110, 110, 140])


def test_a_cut_is_analysed_as_a_single_fit_of_the_cut_data() -> None:
    tl = exponential_timeline(range(3), 60, seed=3, accrual=300.0, lambda2=0.004, hazard_ratio=0.5, dropout_hazard=1e-3,
                              follow_up=365.0, delay=40.0)
    day = np.array([250.0, 400.0, 700.0])
    got = analyse(tl, day)
    for t in range(3):
        follow = day[t] - tl.entry[t]
        keep = follow > 0
        time = np.minimum(tl.time[t], follow)[keep]
        event = (tl.event[t] & (tl.time[t] <= follow))[keep]
        fit = cox(time, event.astype(float), tl.treated[t][keep])
        z = -np.sign(fit.coef[0]) * special.ndtri(1 - fit.score_test.p_value / 2)  # the signed score (log-rank) test
        assert got["estimate"][t] == pytest.approx(fit.coef[0], rel=1e-8)
        assert got["z"][t] == pytest.approx(z, rel=1e-8)
        assert got["information"][t] == event.sum()
        assert got["randomised"][t] == (follow >= 0).sum()


def test_an_ancova_cut_keeps_the_visits_done_by_then() -> None:
    protocol = load_protocol("beat-lupus")
    arrays = simulate_arrays(protocol, [0, 1], 8)
    tl = Timeline.from_arrays(protocol, arrays, protocol.plan().primary)
    day = np.median(tl.entry, axis=1) + 52 * 7  # about half the patients have had their week-52 visit
    got = analyse(tl, day)
    for t in range(2):
        keep = (tl.entry[t] + 52 * 7 <= day[t]) & np.isfinite(tl.y[t])
        arm = np.where(tl.treated[t][keep] == 1, "B", "P")
        fit = ancova_gmr(tl.y[t][keep], tl.base[t][keep], arm, treatment="B", reference="P")
        assert 0 < keep.sum() < len(keep)
        assert got["information"][t] == keep.sum()
        assert got["estimate"][t] == pytest.approx(np.log(fit.ratio), rel=1e-8)
        assert got["z"][t] == pytest.approx(-np.sign(np.log(fit.ratio)) * special.ndtri(1 - fit.p_value / 2), rel=1e-8)


def test_stopping_rules() -> None:
    design = group_sequential_design([0.5, 1.0], 0.025, 0.2, 1, "OF", futility_bounds=[0.0])
    c = design.critical_values
    z = np.array([[c[0] + 0.1, -0.5, 1.0, 1.0, np.nan],
                  [0.0, 5.0, c[1] + 0.1, c[1] - 0.1, c[1] + 0.1]])
    look, rejected, claim = stopping(z, design)
    np.testing.assert_array_equal(look, [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(rejected, [True, False, True, False, True])
    np.testing.assert_array_equal(stopping(z, design, obey_futility=False)[2], [True, True, True, False, True])
    two = group_sequential_design([0.5, 1.0], 0.05, 0.2, 2, "P")
    look, rejected, claim = stopping(np.array([[-3.0, 0.0], [0.0, -3.0]]), two)
    np.testing.assert_array_equal(look, [0, 1])
    assert rejected.all() and not claim.any()  # a rejection in the unfavourable direction is no claim


def test_exponential_simulation_equals_rpact_within_mc_error() -> None:
    """lupustrial's looks (calendar cuts, signed Cox score test, boundaries) on exponential trials
    reproduce rpact's analytic getPowerSurvival (fixture) where Schoenfeld's approximation holds
    (HR 0.65, 1:1, 150 events): power, expected events and stopping probabilities within 3 MC s.e."""
    case = load_reference("design_gsd")["designs"][19]  # asOF with bsOF futility, one-sided
    p, k = case["power_survival"], len(case["information_rates"])
    interim = _interim(looks=[{"by": "events", "at": r} for r in case["information_rates"]],
                       max_events=p["max_number_of_events"], alpha=case["alpha"], beta=case["beta"],
                       sided=case["sided"], type_of_design=case["type_of_design"],
                       type_beta_spending=case["type_beta_spending"])
    design = interim_design(interim)
    trials = 1500
    tl = exponential_timeline(range(trials), int(p["max_number_of_subjects"]), seed=16, accrual=p["accrual_time"],
                              lambda2=p["lambda2"], hazard_ratio=p["hazard_ratio"], ratio=case["allocation_ratio"],
                              dropout_hazard=p["dropout_hazard"])
    stats = {key: v[0] for key, v in look_statistics(tl, interim, [int(p["max_number_of_subjects"])]).items()}
    look, rejected, _ = stopping(stats["z"], design)
    power = rejected.mean()
    assert abs(power - p["overall_reject"]) < 3 * np.sqrt(power * (1 - power) / trials)
    events = stats["information"][look, np.arange(trials)]
    assert abs(events.mean() - p["expected_number_of_events"]) < 3 * events.std() / np.sqrt(trials)
    stop_at = np.bincount(look, minlength=k) / trials
    reference = np.array(p["reject_per_stage"]) + np.append(p["futility_per_stage"], 0)
    assert np.all(np.abs(stop_at[:-1] - reference[:-1]) < 3 * np.sqrt(reference[:-1] * (1 - reference[:-1]) / trials)
                  + 1e-3)


@pytest.mark.parametrize("index", [0, 1], ids=["HR0.3-40ev", "HR0.65-2to1-4looks"])
def test_exponential_simulation_equals_rpacts_simulation(index: int) -> None:
    """Where Schoenfeld's analytic figures are only approximate (a strong effect, 16 to 40 events;
    2:1 allocation), rpact's own simulation (getSimulationSurvival, log-rank, fixture) and
    lupustrial's looks on exponential trials agree within their joint Monte Carlo error."""
    ref = load_reference("design_gsd")["simulation"][index]
    k_max = len(ref["information_rates"])
    interim = _interim(looks=[{"by": "events", "at": r} for r in ref["information_rates"]],
                       max_events=ref["max_number_of_events"], alpha=ref["alpha"], beta=ref["beta"],
                       type_of_design=ref["type_of_design"], type_beta_spending=ref["type_beta_spending"])
    design = interim_design(interim)
    trials, n = 20000, ref["max_number_of_subjects"]
    tl = exponential_timeline(range(trials), n, seed=21, accrual=ref["accrual_time"], lambda2=ref["lambda2"],
                              hazard_ratio=ref["hazard_ratio"], ratio=ref["allocation_ratio"],
                              dropout_hazard=ref["dropout_hazard"])
    stats = {key: v[0] for key, v in look_statistics(tl, interim, [n]).items()}
    look, rejected, _ = stopping(stats["z"], design)
    both = np.sqrt(1 / trials + 1 / ref["iterations"])

    def close(mine: float, theirs: float, sd: float) -> bool:
        return abs(mine - theirs) < 3 * sd * both

    assert close(rejected.mean(), ref["overall_reject"], np.sqrt(ref["overall_reject"] * (1 - ref["overall_reject"])))
    stops = [((rejected & (look == k)).mean(), ref["reject_per_stage"][k]) for k in range(k_max)]
    stops += [((~rejected & (look == k)).mean(), ref["futility_per_stage"][k]) for k in range(k_max - 1)]
    for mine, theirs in stops:
        assert close(mine, theirs, np.sqrt(max(theirs * (1 - theirs), 1 / trials))), (mine, theirs)
    for key, ref_key in (("information", "expected_number_of_events"), ("randomised", "expected_number_of_subjects"),
                         ("day", "study_duration")):
        at_stop = stats[key][look, np.arange(trials)]
        assert close(at_stop.mean(), ref[ref_key], at_stop.std()), (key, at_stop.mean(), ref[ref_key])


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.9])
def test_conditional_power_is_a_half_when_the_trend_ends_on_the_bound(rate: float) -> None:
    """Under the current trend the final z is expected at z/√t: on the critical value, a coin toss."""
    assert conditional_power(np.array([2.0 * np.sqrt(rate)]), rate, 2.0)[0] == pytest.approx(0.5, abs=1e-12)
    assert conditional_power(np.array([2.5 * np.sqrt(rate)]), rate, 2.0)[0] > 0.5


def test_reestimation_grows_promising_trials_and_keeps_alpha() -> None:
    rule = {"promising": [0.3, 0.8], "conditional_power": 0.85, "max_factor": 2.0}
    interim = _interim(looks=[{"by": "events", "at": 0.5}, {"by": "events", "at": 1.0}], max_events=40,
                       type_beta_spending="none", sample_size_reestimation=rule)
    design = interim_design(interim)
    args = {"seed": 5, "accrual": 300.0, "lambda2": 0.003, "follow_up": 365.0}
    grown = exponential_timeline(range(400), 300, hazard_ratio=0.6, **args)
    stats = look_statistics(grown, interim, [150])
    factor, patients = stats["ssr_factor"][0], stats["ssr_patients"][0]
    cp = conditional_power(stats["z"][0, 0], 0.5, design.critical_values[-1])
    promising = (cp >= 0.3) & (cp < 0.8)
    assert promising.any() and (~promising).any()
    np.testing.assert_array_equal(factor[~promising], 1.0)
    assert np.all((factor[promising] > 1) & (factor[promising] <= 2.0))
    np.testing.assert_array_equal(patients, np.ceil(factor * 150 - 1e-9))
    assert np.all(stats["information"][0, 1][promising] > 40)  # the final look waits for the extra events
    # Under the null the weighted (CHW) test keeps its level although promising trials grow.
    null = exponential_timeline(range(4000), 300, hazard_ratio=1.0, **args)
    z = look_statistics(null, interim, [150])["z"][0]
    rate = stopping(z, design)[2].mean()
    assert abs(rate - 0.025) < 3 * np.sqrt(0.025 * 0.975 / 4000)


def test_results_independent_of_workers_chunks_and_scheduler() -> None:
    from dask.distributed import Client, LocalCluster

    protocol = load_protocol(CONFIRMATORY)
    settings = {"n_trials": 6, "seed": 3}
    alone = power_curve(protocol, [40, 60], chunk=6, **settings).sequential.to_dict()
    with executor(2) as pool:
        pooled = power_curve(protocol, [40, 60], chunk=4, executor=pool, **settings).sequential.to_dict()
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        dask = power_curve(protocol, [40, 60], chunk=5, executor=client, **settings).sequential.to_dict()
    assert json.dumps(alone) == json.dumps(pooled) == json.dumps(dask)
    assert alone["operating_characteristics"][0]["n_total"] == 40 and len(alone["looks"]) == 6


def test_interrupted_sweep_resumes_with_the_looks(tmp_path: Path) -> None:
    protocol = load_protocol(CONFIRMATORY)
    cells = grid_cells(protocol, starts=[4.0, 8.0])
    settings = {"n_trials": 4, "seed": 2, "alpha": 0.05, "chunk": 4}

    def stop_at_second(cell, cached):
        if cell == cells[1]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(protocol, cells, [30], out=tmp_path, on_cell=stop_at_second, **settings)
    resumed = run_sweep(protocol, cells, [30], out=tmp_path, resume=True, **settings)
    fresh = run_sweep(protocol, cells, [30], **settings)
    for a, b in zip(resumed, fresh):
        assert to_jsonable(a.curve.sequential.to_dict()) == to_jsonable(b.curve.sequential.to_dict())
        assert a.curve.sequential.table.equals(b.curve.sequential.table)


def _variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(resolve_protocol(CONFIRMATORY).read_text())
    change(data["interim"])
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("change, key, message", [
    (lambda i: i["looks"].reverse(), "interim.looks", "information rates must increase"),
    (lambda i: i.update(alpha=0.7), "interim.alpha", "less than 0.5"),
    (lambda i: i.pop("max_events"), "interim.max_events", "looks by events need max_events"),
    (lambda i: i.update(type_of_design="asKD", type_beta_spending="none"), "interim.gamma_a", "asKD needs gamma_a"),
    (lambda i: i["looks"][1].update(at=1.5), "interim.looks[1]", "at is a fraction"),
    (lambda i: i.update(type_of_design="OF"), "interim", "type_beta_spending needs"),
    (lambda i: i.update(endpoint="CD19"), "interim", "endpoint CD19 is not an endpoint's param"),
])
def test_bad_designs_name_their_key(tmp_path: Path, change, key: str, message: str) -> None:
    path = _variant(tmp_path, change)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert f"key {key}: " in str(info.value) and message in str(info.value) and "\n" not in str(info.value)
    result = CliRunner().invoke(app, ["design", str(path), "--sizes", "40", "--trials", "10"])
    assert result.exit_code == 2 and key in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("change, key", [
    (lambda i: i.update(looks=[{"by": "calendar", "at": 40, "information": 0.5},
                               {"by": "calendar", "at": 900, "information": 1.0}]), "interim.looks[1].at"),
    (lambda i: i.update(endpoint="DSDNA"), "interim.looks[0].by"),
])
def test_looks_the_simulator_cannot_make_name_their_key(tmp_path: Path, change, key: str) -> None:
    result = CliRunner().invoke(app, ["design", str(_variant(tmp_path, change)), "--sizes", "40", "--trials", "10"])
    assert result.exit_code == 2 and f"key {key}: " in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_looks_refuse_an_endpoint_they_cannot_analyse(tmp_path: Path) -> None:
    data = yaml.safe_load(resolve_protocol(CONFIRMATORY).read_text())
    data["endpoints"].append({"name": "B cells at week 52", "param": "CD19", "analysis": "geometric_mean", "week": 52})
    data["interim"]["endpoint"] = "CD19"
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(app, ["design", str(path), "--sizes", "40", "--trials", "10"])
    assert result.exit_code == 2, result.output
    assert (f"{path}: key interim.endpoint: the looks analyse cox or ancova_log endpoints; CD19 is analysed by "
            "geometric_mean (endpoints[2])") in " ".join(result.output.split())


def test_protocol_at_the_design_size_is_valid() -> None:
    """Every size of a sweep is the confirmatory protocol with another n: the looks stay valid."""
    protocol = load_protocol(CONFIRMATORY)
    assert with_sample_size(protocol, 80).interim == protocol.interim
    assert [look.rate for look in protocol.interim.looks] == [0.4, 0.7, 1.0]


def test_reestimation_through_the_design_command(tmp_path: Path) -> None:
    path = _variant(tmp_path, lambda i: i.update(sample_size_reestimation={"promising": [0.2, 0.9], "max_factor": 1.5}))
    out = tmp_path / "d.json"
    result = CliRunner().invoke(app, ["design", str(path), "--sizes", "60,80", "--trials", "10", "--workers", "1",
                                      "--json", str(out)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "P(grown)" in result.output and "CP look 2" in result.output
    (cell,) = json.loads(out.read_text())["cells"]
    rows = cell["sequential"]["operating_characteristics"]
    assert all(0 <= r["ssr_probability"] <= 1 for r in rows)
    assert cell["sequential"]["looks"][0]["median_conditional_power"] is not None


def test_ancova_endpoint_looked_at_by_patients_and_calendar() -> None:
    base = load_protocol("beat-lupus")
    interim = Interim.model_validate({"looks": [{"by": "patients", "at": 0.5},
                                                {"by": "calendar", "at": 100, "information": 0.75},
                                                {"by": "patients", "at": 1.0}], "type_of_design": "asP"})
    protocol = base.model_copy(update={"interim": interim})
    seq = power_curve(protocol, [40], n_trials=6, seed=2).sequential
    assert seq.endpoint == "DSDNA" and seq.information == "patients" and seq.cross_check.empty
    analysed = seq.looks["mean_information"].to_numpy()
    assert 0 < analysed[0] <= analysed[1] <= analysed[2] <= 40
