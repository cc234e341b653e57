"""The simulator's array path equals its ADaM path for the same seed, parameter sets included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol import load_protocol
from lupustrial.simulate.settings import SimulationSettings
from lupustrial.simulate.trial import simulate_arrays, simulate_chunk


def _wide(frames: dict, param: str, weeks: np.ndarray, n: int, trials: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """ADLB AVAL as (trials, patients, visits) with nan where there is no record, and BASE."""
    lb = frames["adlb"][frames["adlb"]["PARAMCD"] == param]
    t = lb["TRIALID"].map({tr + 1: i for i, tr in enumerate(trials)}).to_numpy()
    p = lb["USUBJID"].str[-3:].astype(int).to_numpy() - 1
    v = np.searchsorted(weeks, lb["AVISITN"].to_numpy())
    value = np.full((len(trials), n, len(weeks)), np.nan)
    value[t, p, v] = lb["AVAL"].to_numpy()
    base = np.full((len(trials), n), np.nan)
    base[t, p] = lb["BASE"].to_numpy()
    return value, base


@pytest.mark.parametrize("baseline", ["pre_rituximab", "randomisation"])
def test_arrays_equal_adam_records(baseline: str) -> None:
    protocol = load_protocol("beat-lupus").model_copy(update={"baseline": baseline})
    n = protocol.population.n_patients
    trials = [4, 1, 7]  # any order: a trial depends on its index only
    sets = [ModelParameters(), ModelParameters().with_values(flare_rate=3.0, baff_fold_rise=4.0)]
    arrays = simulate_arrays(protocol, trials, 11, sets)
    frames = simulate_chunk(protocol, trials, 11, sets)
    names = [a.name for a in protocol.arms]
    position = {tr + 1: i for i, tr in enumerate(trials)}

    def in_order(frame):  # rows in the arrays' order: trials as given, patients by number
        return frame.sort_values("USUBJID", key=lambda u: u.str[-9:-4].astype(int).map(position) * 1000
                                 + u.str[-3:].astype(int))

    adsl = in_order(frames["adsl"])
    np.testing.assert_array_equal(arrays.arm.ravel(), [names.index(a) for a in adsl["TRT01P"]])
    for param in protocol.labs:
        value, base = _wide(frames, param, arrays.lab_weeks, n, trials)
        np.testing.assert_array_equal(arrays.lab_value[param], value)
        np.testing.assert_array_equal(arrays.lab_base[param], base)
    for param, times in arrays.tte_time.items():
        tte = in_order(frames["adtte"][frames["adtte"]["PARAMCD"] == param])
        np.testing.assert_array_equal(times.ravel(), tte["AVAL"])
        np.testing.assert_array_equal(arrays.tte_event[param].ravel(), tte["CNSR"] == 0)
    assert arrays.withdrawn.sum() == (adsl["EOSSTT"] == "DISCONTINUED").sum() > 0
    start = pd.Timestamp(SimulationSettings().study_start)  # the calendar that interim looks cut
    np.testing.assert_array_equal(arrays.enrol_day.ravel(), (adsl["RTXSDT"] - start).dt.days)
    np.testing.assert_array_equal(arrays.rand_day.ravel(), (adsl["RANDDT"] - adsl["RTXSDT"]).dt.days)
    np.testing.assert_array_equal(arrays.end_day.ravel(), adsl["TRTDURD"])
    assert np.isnan(arrays.lab_value["DSDNA"][..., -1]).sum() > 0  # withdrawn before week 52: no record


def test_trial_independent_of_its_chunk_and_set_used() -> None:
    protocol = load_protocol("beat-lupus")
    sets = [ModelParameters(), ModelParameters().with_values(flare_rate=3.0)]
    together = simulate_arrays(protocol, [2, 3], 5, sets)
    alone = simulate_arrays(protocol, [3], 5, sets)
    np.testing.assert_array_equal(together.tte_time["TTSEVFL"][1], alone.tte_time["TTSEVFL"][0])
    np.testing.assert_array_equal(together.lab_value["DSDNA"][1], alone.lab_value["DSDNA"][0])
    # trial 3 uses set 1 (3 mod 2): with only the default set its flares differ
    default = simulate_arrays(protocol, [3], 5)
    assert not np.array_equal(default.tte_time["TTSEVFL"][0], alone.tte_time["TTSEVFL"][0])
