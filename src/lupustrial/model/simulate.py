"""Simulate virtual patients under per-patient dosing: the model's public entry point.

``simulate`` returns every patient at once; ``simulate_chunks`` streams fixed-size chunks
so that 100,000 patients × daily output never sit in memory together. ``workers`` threads
share each chunk's patients inside the compiled solver (see :mod:`.solver`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lupustrial.errors import LupustrialError
from lupustrial.model.dosing import DosingEvents, Segments, build_segments
from lupustrial.model.equations import OUTPUTS, STATES, initial_state, outputs
from lupustrial.model.solver import ATOL, RTOL, integrate

if TYPE_CHECKING:  # the population module builds on the model
    from lupustrial.population.virtual import Population


@dataclass(frozen=True)
class Trajectories:
    """States (patients × times × states) of patients ``first`` … ``first + n - 1``."""

    first: int
    times: np.ndarray
    states: np.ndarray
    theta: np.ndarray

    def outputs(self) -> dict[str, np.ndarray]:
        """Observables (name → patients × times), units in the names."""
        return outputs(np.moveaxis(self.states, 2, 0), self.theta[:, :, None])

    def output(self, name: str) -> np.ndarray:
        if name not in OUTPUTS:
            raise LupustrialError(f"unknown output {name!r}; choose from {', '.join(OUTPUTS)}")
        return self.outputs()[name]

    def state(self, name: str) -> np.ndarray:
        """One state (patients × times), e.g. ``cum_flare_hazard`` to draw flare times by inversion."""
        if name not in STATES:
            raise LupustrialError(f"unknown state {name!r}; choose from {', '.join(STATES)}")
        return self.states[:, :, STATES.index(name)]


def _check_times(times: np.ndarray) -> np.ndarray:
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or len(times) == 0 or np.any(times < 0) or np.any(np.diff(times) <= 0):
        raise LupustrialError("output times must be a non-empty, strictly increasing array of days >= 0")
    return times


def simulate_chunks(
    population: Population, dosing: DosingEvents, times: np.ndarray, *,
    chunk: int = 512, workers: int = 1, rtol: float = RTOL, atol: float = ATOL,
) -> Iterator[Trajectories]:
    """Trajectories of consecutive chunks of patients; the results depend on neither ``chunk`` nor ``workers``.

    The default chunk keeps a year's daily states (~20 MB) under glibc's mmap threshold, so
    each chunk reuses freed memory instead of faulting in fresh pages (measured: 10–30% less CPU
    than 2,048).

    With ``workers`` > 1 the next chunk is integrated while the caller works on the current
    one (two chunks in memory at most), so reducing a chunk does not leave the threads idle.
    """
    times = _check_times(times)
    if chunk < 1 or workers < 1:
        raise LupustrialError(f"chunk and workers must be >= 1, not {chunk} and {workers}")
    seg = build_segments(dosing, population.n, population.params["bel_sc_bioavailability"])

    def run(lo: int) -> Trajectories:
        sl = slice(lo, min(lo + chunk, population.n))
        theta = population.theta[:, sl]
        states = integrate(initial_state(theta), theta, Segments(seg.start[sl], seg.rate[sl], seg.depot[sl]), times,
                           rtol=rtol, atol=atol, workers=workers)
        return Trajectories(lo, times, states, theta)

    starts = range(0, population.n, chunk)
    if workers == 1 or len(starts) < 2:
        yield from map(run, starts)
        return
    with ThreadPoolExecutor(max_workers=1) as ahead:
        pending = ahead.submit(run, starts[0])
        for lo in starts[1:]:
            done, pending = pending.result(), ahead.submit(run, lo)
            yield done
        yield pending.result()


def simulate(
    population: Population, dosing: DosingEvents, times: np.ndarray, *,
    chunk: int = 4096, workers: int = 1, rtol: float = RTOL, atol: float = ATOL,
) -> Trajectories:
    """All patients' trajectories at ``times`` (days from the first rituximab infusion)."""
    parts = list(simulate_chunks(population, dosing, times, chunk=chunk, workers=workers, rtol=rtol, atol=atol))
    if len(parts) == 1:  # no copy: the trial simulator's chunks fit in one
        return parts[0]
    states = np.concatenate([p.states.transpose(0, 2, 1) for p in parts]).transpose(0, 2, 1)  # keep the layout
    return Trajectories(0, parts[0].times, states, np.concatenate([p.theta for p in parts], axis=1))
