"""Simulate virtual patients under per-patient dosing: the model's public entry point.

``simulate`` returns every patient at once; ``simulate_chunks`` streams fixed-size chunks
so that 100,000 patients × daily output never sit in memory together; ``map_chunks``
reduces each chunk where it was computed, on several processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from lupustrial.errors import LupustrialError
from lupustrial.model.dosing import DosingEvents, Segments, build_segments
from lupustrial.model.equations import OUTPUTS, STATES, initial_state, outputs, rhs
from lupustrial.model.solver import integrate

if TYPE_CHECKING:  # the population module builds on the model
    from lupustrial.population.virtual import Population

R = TypeVar("R")


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


def _integrate_chunk(task: tuple[int, np.ndarray, Segments, np.ndarray, float, float]) -> Trajectories:
    first, theta, segments, times, rtol, atol = task
    states = integrate(rhs, initial_state(theta), theta, segments, times, rtol=rtol, atol=atol)
    return Trajectories(first, times, states, theta)


def _reduce_chunk(args: tuple[Callable[[Trajectories], R], tuple]) -> R:
    reducer, task = args
    return reducer(_integrate_chunk(task))


def _tasks(population: Population, dosing: DosingEvents, times: np.ndarray, chunk: int, rtol: float,
           atol: float) -> Iterator[tuple]:
    times = _check_times(times)
    if chunk < 1:
        raise LupustrialError(f"chunk must be >= 1, not {chunk}")
    seg = build_segments(dosing, population.n, population.params["bel_sc_bioavailability"])
    for lo in range(0, population.n, chunk):
        sl = slice(lo, min(lo + chunk, population.n))
        yield lo, population.theta[:, sl], Segments(seg.start[sl], seg.rate[sl], seg.depot[sl]), times, rtol, atol


def map_chunks(
    reducer: Callable[[Trajectories], R], population: Population, dosing: DosingEvents, times: np.ndarray, *,
    chunk: int = 4096, workers: int = 1, rtol: float = 1e-6, atol: float = 1e-9,
) -> list[R]:
    """``reducer`` applied to each chunk's trajectories, in chunk order, on ``workers`` processes.

    Reducing inside the worker (to visit values, flare times, summaries) is what lets large
    populations use several cores without shipping every daily state back to the parent.
    ``reducer`` must be picklable (a module-level function) when ``workers > 1``.
    """
    tasks = ((reducer, task) for task in _tasks(population, dosing, times, chunk, rtol, atol))
    if workers <= 1:
        return [_reduce_chunk(t) for t in tasks]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
        return list(pool.map(_reduce_chunk, tasks))


def simulate_chunks(
    population: Population, dosing: DosingEvents, times: np.ndarray, *,
    chunk: int = 4096, rtol: float = 1e-6, atol: float = 1e-9,
) -> Iterator[Trajectories]:
    """Trajectories of consecutive chunks of patients; the results do not depend on ``chunk``."""
    for task in _tasks(population, dosing, times, chunk, rtol, atol):
        yield _integrate_chunk(task)


def simulate(
    population: Population, dosing: DosingEvents, times: np.ndarray, *,
    chunk: int = 4096, rtol: float = 1e-6, atol: float = 1e-9,
) -> Trajectories:
    """All patients' trajectories at ``times`` (days from the first rituximab infusion)."""
    parts = list(simulate_chunks(population, dosing, times, chunk=chunk, rtol=rtol, atol=atol))
    return Trajectories(
        0, parts[0].times, np.concatenate([p.states for p in parts]), np.concatenate([p.theta for p in parts], axis=1)
    )
