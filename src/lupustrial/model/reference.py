"""Per-patient ``scipy.integrate.solve_ivp`` loop: the accuracy and speed anchor of the solver.

It shares only the right-hand side with the batched solver (not the stepping, error
control or interpolation), so agreement between the two tests the solver itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.integrate import solve_ivp

from lupustrial.model.dosing import DosingEvents, build_segments
from lupustrial.model.equations import ABSENT, DEPOT, initial_state, rhs, sc_bioavailability

if TYPE_CHECKING:  # the population module builds on the model
    from lupustrial.population.virtual import Population


def simulate_reference(
    population: Population, dosing: DosingEvents, times: np.ndarray, *,
    method: str = "DOP853", rtol: float = 1e-10, atol: float = 1e-14,
) -> np.ndarray:
    """States (patients × times × states) by solve_ivp, one patient and one segment at a time."""
    times = np.asarray(times, dtype=float)
    seg = build_segments(dosing, population.n, sc_bioavailability(population.params))
    y0 = initial_state(population.theta)
    out = np.empty((population.n, len(times), y0.shape[0]))
    t_end = float(times[-1])
    for i in range(population.n):
        theta = population.theta[:, i : i + 1]
        y = y0[:, i].copy()
        starts = seg.start[i][seg.start[i] < t_end]
        bounds = np.append(starts, t_end)
        for s, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            for d, row in enumerate(DEPOT):
                if row != ABSENT:
                    y[row] += seg.depot[i, s, d]
            out[i, times == a] = y
            rate = seg.rate[i, s][:, None]
            inside = (times > a) & (times < b)
            sol = solve_ivp(
                lambda _t, yy, th=theta, r=rate: rhs(yy[:, None], th, r)[:, 0], (a, b), y,
                method=method, rtol=rtol, atol=atol, t_eval=np.append(times[inside], b),
            )
            out[i, inside] = sol.y[:, :-1].T
            y = sol.y[:, -1].copy()
        out[i, times == t_end] = y
    return out
