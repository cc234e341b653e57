"""Published figures and their statistics: every batched statistic equals the single-trial analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lupustrial.analysis.trial import analyze_trial
from lupustrial.data import select_trial, validate_trial
from lupustrial.design.figures import Figure, check_figures, published, published_trials, statistic
from lupustrial.errors import LupustrialError
from lupustrial.model.parameters import calibrated
from lupustrial.protocol import load_protocol
from lupustrial.simulate import simulate_chunk
from lupustrial.simulate.trial import simulate_arrays

BEAT = load_protocol("beat-lupus")


def test_every_published_trial_names_its_protocol_arms_labs_and_visits() -> None:
    assert set(published_trials()) >= {"beat-lupus", "bliss-iv", "bliss-sc", "rtx-ucl"}
    for name in published_trials():
        pub = published(name)
        check_figures(pub, load_protocol(pub.protocol))
        assert any(f.main for f in pub.figures), name


def test_a_figure_naming_an_unknown_arm_is_refused() -> None:
    pub = published("beat-lupus")
    bad = pub.model_copy(update={"figures": [pub.figures[0].model_copy(update={"arm": "Rituximab"})]})
    with pytest.raises(LupustrialError, match="arm 'Rituximab' is not an arm of protocol beat-lupus"):
        check_figures(bad, BEAT)
    with pytest.raises(ValueError, match="needs treatment and reference"):
        Figure(figure="x", statistic="hazard_ratio", published=1.0)


def test_batched_statistics_equal_the_trials_own_analysis() -> None:
    """Each virtual trial's statistics from the arrays equal the ADaM analysis of the same trial."""
    arrays = simulate_arrays(BEAT, range(3), 11, calibrated())
    frames = simulate_chunk(BEAT, range(3), 11, calibrated())
    data = validate_trial(frames, {k: Path(k) for k in frames}, Path("simulated"))
    figures = {(f.statistic, f.arm, f.param): f for f in published("beat-lupus").figures}
    plan = BEAT.plan().model_copy(update={"safety": None})
    for t in range(3):
        result = analyze_trial(select_trial(data, t + 1), plan)
        values = {k: float(statistic(f, arrays, BEAT)[t]) for k, f in figures.items()}
        ancova = result.first("ancova_log").comparison().result.ancova
        flares = result.first("cox").comparison().result
        gm = {m.arm: m.geometric_mean for m in ancova.unadjusted}
        cd19 = {m.arm: m.geometric_mean for m in result.first("geometric_mean").comparison().result.means}
        assert values[("gm", "Belimumab", "DSDNA")] == pytest.approx(gm["Belimumab"], rel=1e-10)
        assert values[("gm", "Placebo", "CD19")] == pytest.approx(cd19["Placebo"], rel=1e-10)
        assert values[("percent_reduction", None, "DSDNA")] == pytest.approx(ancova.percent_reduction, rel=1e-8)
        assert values[("hazard_ratio", None, "TTSEVFL")] == pytest.approx(float(flares.cox.hazard_ratio[0]), rel=1e-8)
        assert values[("logrank_p", None, "TTSEVFL")] == pytest.approx(flares.logrank.p_value, rel=1e-8)
        sevfln = frames["adsl"][frames["adsl"]["TRIALID"] == t + 1].groupby("TRT01P")["SEVFLN"].sum()
        assert values[("events", "Belimumab", "TTSEVFL")] == sevfln["Belimumab"]
