"""What ``design`` powers of a plan: every endpoint with a batched twin and simulated data, each
by its label; the others listed with why."""

from __future__ import annotations

import numpy as np
import pytest

from lupustrial.analysis.plan import Endpoint
from lupustrial.design.endpoints import labels, plan_endpoints
from lupustrial.design.power import power_curve
from lupustrial.protocol import load_protocol


def _protocol(*endpoints: dict):
    base = load_protocol("beat-lupus")
    return base.model_validate({**base.model_dump(), "endpoints": list(endpoints)})


def test_labels_tell_endpoints_sharing_a_paramcd_apart() -> None:
    e = [Endpoint(name="a", param="DSDNA", analysis="ancova_log", week=24),
         Endpoint(name="b", param="DSDNA", analysis="ancova_log", week=52),
         Endpoint(name="c", param="TTSEVFL", analysis="cox", week=52),
         Endpoint(name="d", param="TTSEVFL", analysis="logrank", week=52),
         Endpoint(name="e", param="CD19", analysis="geometric_mean", week=52),
         Endpoint(name="f", param="TTMODFL", analysis="km"),
         Endpoint(name="g", param="TTMODFL", analysis="km")]
    assert labels(e) == ["DSDNA w24", "DSDNA w52", "TTSEVFL cox w52", "TTSEVFL logrank w52", "CD19",
                         "TTMODFL (endpoints[5])", "TTMODFL (endpoints[6])"]


def test_every_method_with_a_twin_is_powered() -> None:
    protocol = _protocol(
        {"name": "anti-dsDNA", "param": "DSDNA", "analysis": "ancova_log", "week": 52},
        {"name": "any flare", "param": "TTMODFL", "analysis": "logrank"},
        {"name": "B cells", "param": "CD19", "analysis": "ancova", "week": 24},
        {"name": "severe flare, stratified", "param": "TTSEVFL", "analysis": "cox", "strata": ["SEX"]},
        {"name": "flare-free", "param": "TTSEVFL", "analysis": "km"},
        {"name": "anti-dsDNA over time", "param": "DSDNA", "analysis": "mmrm", "week": 52},
        {"name": "flares", "param": "SEVFLN", "analysis": "negative_binomial", "dataset": "adsl",
         "exposure": "TRTDURD"},
        {"name": "flares, Poisson", "param": "SEVFLN", "analysis": "poisson", "dataset": "adsl", "exposure": "DAYS"},
        {"name": "SRI-4", "param": "SRI4", "analysis": "responder", "week": 52})
    reasons = {e.label: e.reason for e in plan_endpoints(protocol)}
    assert reasons == {
        "DSDNA ancova_log w52": None, "TTMODFL": None, "CD19": None,
        "TTSEVFL cox": "its strata: the batched cox takes none", "TTSEVFL km": "km is descriptive (no test)",
        "DSDNA mmrm w52": "mmrm has no batched twin; the design takes no repeated data from the simulator (a lab "
                          "value at a visit, a time to first flare, a count of flares, or a responder)",
        "SEVFLN negative_binomial": None,
        "SEVFLN poisson": "the simulator counts only flares (SEVFLN, MODFLN) over TRTDURD",
        "SRI4": None}
    curve = power_curve(protocol, [30], n_trials=8, seed=4)
    powered = ["DSDNA ancova_log w52", "TTMODFL", "CD19", "SEVFLN negative_binomial", "SRI4"]
    assert curve.rules == [*powered, "all/bonferroni", "all/hierarchical"]
    assert set(curve.analytic["endpoint"]) == set(powered)  # t/z for both ANCOVAs, Schoenfeld/Freedman for log-rank
    schoenfeld = curve.analytic_lines("TTMODFL", 0.8)[0]
    assert schoenfeld.startswith("S ") and schoenfeld.endswith("ev.)")
    assert set(curve.effects["CD19"]) == {"estimate", "sd"} and set(curve.effects["TTMODFL"]) == {
        "estimate", "event_probability"}
    assert np.isfinite(curve.effects["TTMODFL"]["estimate"])
    flares = curve.effects["SEVFLN negative_binomial"]  # rates per patient-year, follow-up in years
    assert set(flares) == {"estimate", "control_rate", "treatment_rate", "exposure", "dispersion"}
    assert 0 < flares["control_rate"] < 5 and 0 < flares["exposure"] <= 1.5
    assert curve.analytic_lines("SEVFLN negative_binomial", 0.8)[0].startswith("ZL ")
    sri4 = curve.effects["SRI4"]  # responder shares per arm for the analytic N of two rates
    assert 0 < sri4["control_rate"] < 1 and 0 < sri4["treatment_rate"] < 1


@pytest.mark.parametrize("analysis", ["cox", "logrank"])
def test_time_to_event_twins_agree_on_the_direction(analysis: str) -> None:
    """Cox's log HR and the log-rank's Peto estimate favour belimumab alike in the same trials."""
    protocol = _protocol({"name": "severe flare", "param": "TTSEVFL", "analysis": analysis})
    curve = power_curve(protocol, [52], n_trials=20, seed=9)
    assert curve.effects["TTSEVFL"]["estimate"] < 0 and curve.power_at("TTSEVFL", 52) > 0
