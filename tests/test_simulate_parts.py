"""Simulator building blocks: streams, event times by inversion, assay measurement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.protocol.schema import Lab
from lupustrial.simulate.events import event_times
from lupustrial.simulate.labs import measure
from lupustrial.simulate.streams import Purpose, stream


def test_streams_depend_only_on_seed_trial_purpose() -> None:
    a = stream(7, 3, Purpose.FLARES).random(5)
    b = stream(7, 3, Purpose.FLARES).random(5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, stream(7, 4, Purpose.FLARES).random(5))
    assert not np.array_equal(a, stream(7, 3, Purpose.LABS).random(5))
    assert not np.array_equal(a, stream(8, 3, Purpose.FLARES).random(5))


def test_constant_hazard_gives_exact_inverse() -> None:
    times = np.linspace(0, 10, 101)
    rate = np.array([[0.5], [2.0]])
    cumhaz = rate * times[None, :]
    gaps = np.array([[1.0, 1.0, 10.0], [0.5, 0.25, 100.0]])
    out = event_times(times, cumhaz, gaps)
    np.testing.assert_allclose(out[0, :2], [2.0, 4.0], rtol=1e-12)
    np.testing.assert_allclose(out[1, :2], [0.25, 0.375], rtol=1e-12)
    assert np.isnan(out[0, 2]) and np.isnan(out[1, 2])


def test_event_times_match_per_patient_interp() -> None:
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(0, 100, 50))
    times[0] = 0
    cumhaz = np.cumsum(rng.exponential(0.05, (30, 50)), axis=1)
    gaps = rng.exponential(1.0, (30, 4))
    out = event_times(times, cumhaz, gaps)
    for p in range(30):
        h = cumhaz[p] - cumhaz[p, 0]
        target = np.cumsum(gaps[p])
        expected = np.where(target <= h[-1], np.interp(target, h, times), np.nan)
        np.testing.assert_allclose(out[p], expected, rtol=1e-10, equal_nan=True)


def test_event_times_reject_decreasing_hazard() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        event_times(np.arange(3.0), np.array([[0.0, 1.0, 0.5]]), np.ones((1, 1)))


def test_simulated_event_count_matches_poisson_mean() -> None:
    rng = np.random.default_rng(2)
    times = np.linspace(0, 1, 11)
    cumhaz = np.tile(3.0 * times, (20000, 1))
    out = event_times(times, cumhaz, rng.exponential(1.0, (20000, 15)))
    counts = np.isfinite(out).sum(axis=1)
    assert abs(counts.mean() - 3.0) < 0.05
    assert abs(counts.var() - 3.0) < 0.15


@settings(max_examples=30, deadline=None)
@given(cv=st.floats(0.0, 0.5), lloq=st.floats(0.1, 10))
def test_measure_respects_limits(cv: float, lloq: float) -> None:
    lab = Lab(unit="IU/mL", cv=cv, lloq=lloq, uloq=lloq * 100, below_lloq="half_lloq")
    true = np.geomspace(lloq / 10, lloq * 1000, 200)
    value, below = measure(true, lab, np.random.default_rng(0))
    assert np.all(value[below] == lloq / 2)
    assert np.all(value[~below] >= lloq) and np.all(value <= lloq * 100)


def test_measure_error_has_the_assay_cv() -> None:
    lab = Lab(unit="IU/mL", cv=0.2)
    value, _ = measure(np.full(200000, 50.0), lab, np.random.default_rng(3))
    assert abs(np.std(value) / np.mean(value) - 0.2) < 0.005
    assert abs(np.exp(np.mean(np.log(value))) - 50.0) < 0.1
