"""Type I error: with no belimumab in the treatment arm, each test claims in ~alpha/2 of trials."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from lupustrial.design.power import power_curve
from lupustrial.protocol import load_protocol

N_TRIALS = 2000


@pytest.mark.slow
def test_claim_rate_under_the_null_is_half_alpha() -> None:
    """Both arms get rituximab alone (the reviewer's null.yaml): a claim is a two-sided rejection
    favouring the treatment arm, so its rate estimates alpha / 2 = 0.025 for each endpoint."""
    protocol = load_protocol("beat-lupus")
    arms = [protocol.arms[0].model_copy(update={"dosing": []}), protocol.arms[1]]
    null = protocol.model_copy(update={"arms": arms})
    with ProcessPoolExecutor(2) as pool:
        curve = power_curve(null, [52], n_trials=N_TRIALS, seed=11, alpha=0.05, chunk=100, executor=pool)
    rate = curve.table.set_index("endpoint")["power"]
    mc_error = np.sqrt(0.025 * 0.975 / N_TRIALS)
    for endpoint in ("DSDNA", "TTSEVFL"):
        assert abs(rate[endpoint] - 0.025) < 3 * mc_error, (endpoint, rate[endpoint])
    assert rate["all/bonferroni"] < 0.025  # both claimed is rarer than either
