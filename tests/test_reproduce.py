"""`lupustrial reproduce`: published figures beside the distribution over virtual trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.figures import STATISTICS, Figure, published
from lupustrial.design.reproduce import arm_trajectories, compare, reproduce
from lupustrial.protocol import load_protocol

runner = CliRunner()


def test_published_figures_name_known_statistics() -> None:
    pub = published("beat-lupus")
    assert {f.statistic for f in pub.figures} <= set(STATISTICS)
    hr = next(f for f in pub.figures if f.statistic == "hazard_ratio")
    assert (hr.published, hr.lower, hr.upper) == (0.27, 0.07, 0.98)


def test_compare_uses_central_95_interval() -> None:
    per_trial = pd.DataFrame({"x": np.arange(1001.0)})
    [c] = compare(per_trial, [Figure(figure="x", statistic="events", arm="A", published=30.0)])
    assert (c.median, c.lower, c.upper) == (500.0, 25.0, 975.0) and c.inside and c.close is None
    [c] = compare(per_trial, [Figure(figure="x", statistic="events", arm="A", published=980.0)])
    assert not c.inside


def test_a_main_effect_is_close_within_20_percent_or_half_its_ci() -> None:
    per_trial = pd.DataFrame({"x": np.full(11, 0.4)})
    hr = dict(figure="x", statistic="hazard_ratio", treatment="A", reference="B", main=True)
    # 0.4 vs 0.27 is 48% off, but within half the CI 0.07-0.98 on the log scale (half of log(0.27/0.07)).
    assert compare(per_trial, [Figure(**hr, published=0.27, lower=0.07, upper=0.98)])[0].close
    assert not compare(per_trial, [Figure(**hr, published=0.27, lower=0.2, upper=0.35)])[0].close
    assert compare(per_trial, [Figure(**hr, published=0.35)])[0].close  # 14% off


def test_reproduce_is_independent_of_workers_and_chunk() -> None:
    a = reproduce(n_trials=6, seed=4, workers=1, chunk=6)
    b = reproduce(n_trials=6, seed=4, workers=2, chunk=2)
    pd.testing.assert_frame_equal(a.per_trial, b.per_trial)
    assert len(a.comparison) == len(published().figures)


def test_cli_writes_comparison_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reproduce", "beat-lupus", "--trials", "4", "--seed", "2", "--out", str(tmp_path),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["comparison"]) == len(published().figures)
    for row in data["comparison"]:
        assert set(row) == {"figure", "statistic", "published", "median", "lower", "upper", "inside", "close"}
        assert row["lower"] <= row["median"] <= row["upper"]
    result = runner.invoke(app, ["reproduce", "no-such-trial"])
    assert result.exit_code == 2 and "no published trial" in result.output


def test_cli_refuses_a_bad_out_before_running(tmp_path: Path) -> None:
    """A file where the folder should be is one line and exit 2, before 1,000 trials are run."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        result = runner.invoke(app, ["reproduce", "--trials", "1000", "--out", str(out)])
        assert result.exit_code == 2 and result.exception is not None
        assert result.output.strip() == f"error: option --out: {afile} is a file, not a folder"
    assert afile.read_text() == "x"


def test_trajectories_give_every_arm_the_same_patients() -> None:
    """Common random numbers: before the first belimumab dose the arms' bands are identical."""
    protocol = load_protocol("beat-lupus")
    traj = arm_trajectories(protocol, 30, seed=7)
    first_dose = round(protocol.randomisation.window_weeks[0] * 7)
    early = traj[traj["day"] < first_dose].pivot_table(index=["output", "day"], columns="arm", values=["q05", "q50", "q95"])
    assert len(early) > 0
    for q in ("q05", "q50", "q95"):
        np.testing.assert_array_equal(early[q]["Belimumab"], early[q]["Placebo"])
    last_dose = round(protocol.randomisation.window_weeks[1] * 7)  # every patient randomised by then
    later = traj[(traj["output"] == "belimumab_ug_ml") & (traj["day"] > last_dose)]
    assert (later.loc[later["arm"] == "Belimumab", "q05"] > 0).all()
    assert (later.loc[later["arm"] == "Placebo", "q95"] == 0).all()


def test_lab_means_carry_the_trial_analysis_geometric_means_and_cis() -> None:
    """The report's per-trial GMs and CIs are the ones the trial's own analysis reports."""
    from lupustrial.analysis.trial import analyze_trial
    from lupustrial.data import select_trial, validate_trial
    from lupustrial.simulate import simulate_chunk

    protocol = load_protocol("beat-lupus")
    result = reproduce(n_trials=2, seed=4, workers=1, trajectory_patients=10)
    frames = simulate_chunk(protocol, range(2), 4, None)
    data = validate_trial(frames, {k: Path(k) for k in frames}, Path("simulated"))
    analysis = analyze_trial(select_trial(data, 2), protocol.plan().model_copy(update={"safety": None}))
    means = result.summaries.lab_means.set_index(["trial", "param", "visit", "arm"])
    bcells = analysis.first("geometric_mean")
    for gm in bcells.comparison().result.means:
        row = means.loc[(2, "CD19", bcells.endpoint.week, gm.arm)]
        np.testing.assert_allclose([row["gm"], row["lower"], row["upper"]], [gm.geometric_mean, gm.lower, gm.upper],
                                   rtol=1e-12)
        assert row["n"] == gm.n


def test_every_component_trial_reproduces_with_all_its_arms(tmp_path: Path) -> None:
    """A three-arm trial and a single-arm cohort go through the same path and report."""
    from lupustrial.report.html import write_report

    for name, arms in (("bliss-iv", 3), ("rtx-ucl", 1)):
        result = reproduce(name, n_trials=3, seed=1, trajectory_patients=10)
        assert len(result.comparison) == len(published(name).figures)
        assert result.summaries.consort.groupby("trial").size().eq(arms).all()
        text = write_report(result, tmp_path / f"{name}.html").read_text()
        assert published(name).source in text
