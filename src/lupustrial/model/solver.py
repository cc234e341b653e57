"""Dormand–Prince 5(4) per patient, compiled by numba, with error control and dense output.

Every patient is integrated alone, with its own step and its own dosing breakpoints (where
inputs jump and integration restarts), so results do not depend on which patients share a
call, on the chunk size or on the number of threads, and each patient matches a per-patient
``solve_ivp`` run. A compiled loop costs each patient only its own steps, with no numpy pass
per stage; the kernel releases the GIL, so threads share the patients without process
start-up or pickling. Sums run in a fixed order and without fused multiply-adds (numba's
default), so the same inputs give bit-identical outputs on every call. At every breakpoint the
step is chosen afresh, as ``solve_ivp``'s ``select_initial_step`` does: carrying the last step
into an infusion under-resolved the sharp fall of free BAFF as belimumab arrives and cost two
orders of accuracy (2e-4 instead of 2e-6 relative at rtol 1e-6). numpy's error model
drops the zero-division branches from the hot loop: a step that yields NaN is rejected, and
one that never stops doing so ends in the ``max_steps`` error.

Two things cost more in the hot loop than the arithmetic and are avoided (together ~25% less
time on 100,000 patients, results unchanged bit for bit): taking a slice of an array, which
numba reference-counts on every step (a lane is copied element by element instead), and
summing a stage one term at a time (code generated from the tableau sums each row's terms in
one pass).
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np
from numba import njit
from scipy.integrate import RK45

from lupustrial.errors import LupustrialError
from lupustrial.model.dosing import Segments
from lupustrial.model import equations
from lupustrial.model.equations import ABSENT, DEPOT, LAYOUT, N_DRUGS, derivatives

# scipy's RK45 tableau; numba freezes these global arrays into the compiled code.
_A, _B, _E, _P = RK45.A, RK45.B, RK45.E, RK45.P
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_ORDER_EXP = -1.0 / 5.0  # error estimator of order 4
# Default tolerances: trajectories within 1e-6 relative of solve_ivp(DOP853) at rtol 1e-12 (docs/model.md,
# Solver). The absolute tolerance is set by the memory B cells, which rituximab drives down a
# billion-fold: at atol 1e-10 their error reached 4e-6 of their range's 1e-6 floor, at 1e-11 9e-7;
# the relative one by autoreactive naive cells after an SC dose, 1.4e-6 at rtol 1e-7, 9e-7 at 5e-8.
RTOL, ATOL = 5e-8, 1e-12
_LANES = 16  # patients stepped side by side: independent work the CPU overlaps (measured best of 1-64)
_TASK = 256  # patients per thread task: small enough to balance cheap and costly patients


def _combinations():
    """Compiled ``out = Σ_j (coefs[j]·step)·k[j] (+ base)`` per lane, for each row of the tableau.

    ``stage(s, k, step, base, out)`` forms stage ``s`` (1-5: rows of A; 6: the new state, B),
    ``error(k, step, out)`` the error estimate (E). Generated from the tableau so that the
    coefficients are constants and zero terms absent, and every term is summed in one pass
    over the states (a loop over the terms reread and rewrote ``out`` once per term: 1.5x
    slower, measured). The order of each sum is fixed (terms in tableau order, ``base`` last).
    """

    def row(coefs: np.ndarray, base: bool) -> str:
        terms = " + ".join(f"({c!r} * h) * k[{j}, m, p]" for j, c in enumerate(map(float, coefs)) if c != 0.0)
        return ("for m in range(out.shape[0]):\n"
                "    for p in range(out.shape[1]):\n"
                "        h = step[p]\n"
                f"        out[m, p] = {terms}{' + base[m, p]' if base else ''}\n")

    rows = [_A[s, :s] for s in range(1, 6)] + [_B]
    branches = "".join(f"    {'if' if s == 1 else 'elif'} s == {s}:\n" + textwrap.indent(row(c, True), "        ")
                       for s, c in enumerate(rows, start=1))
    source = f"def stage(s, k, step, base, out):\n{branches}\ndef error(k, step, out):\n" + textwrap.indent(
        row(_E, False), "    ")
    namespace: dict = {}
    exec(source, namespace)  # noqa: S102 - source built above from the tableau's numbers only
    return tuple(njit(nogil=True, error_model="numpy")(namespace[name]) for name in ("stage", "error"))


_STAGE, _ERROR = _combinations()  # module globals: numba caches a kernel that calls globals


def kernel_key(equations_source: str, layout: equations.Layout) -> str:
    """What the compiled kernel depends on beyond this file: the equations' source and the drug registry's rows."""
    return hashlib.sha256((equations_source + repr(layout)).encode()).hexdigest()


def _kernel(equations_digest: str):
    """The compiled integrator, keyed in numba's cache by :func:`kernel_key`.

    numba checks only the defining file for changes; this closure over the digest of
    equations.py and the registry's rows (which numba freezes into the code) makes an edited
    right-hand side or drug registry recompile instead of loading a stale kernel.
    """

    @njit(cache=True, nogil=True, error_model="numpy")
    def integrate_patients(
        lo: int, hi: int, y0: np.ndarray, theta: np.ndarray, start: np.ndarray, rate: np.ndarray,
        depot: np.ndarray, times: np.ndarray, rtol: float, atol: float, max_steps: int, out: np.ndarray,
    ) -> int:
        """Integrate patients ``lo`` … ``hi - 1`` into ``out``; the first patient exceeding ``max_steps``, or -1.

        Patients fill ``_LANES`` lanes (columns) that take their own steps side by side, so the
        right-hand side and stage sums run as vector instructions; a lane whose patient is done
        takes the next patient. Idle lanes step by 0. An output at a step's end is left to the
        next step (interpolant at θ = 0), so that a dose given at a breakpoint is included in the
        output at that time; only the final time is closed.
        """
        if len(equations_digest) == 0:  # keeps the digest in the closure (see _kernel)
            return -2
        n_s, n_t, n_l = y0.shape[0], times.shape[0], _LANES
        t_end = times[n_t - 1]
        y, y_new, y_stage = np.zeros((n_s, n_l)), np.zeros((n_s, n_l)), np.zeros((n_s, n_l))
        err = np.zeros((n_s, n_l))
        k = np.zeros((7, n_s, n_l))
        th = np.ones((theta.shape[0], n_l))
        r = np.zeros((N_DRUGS, n_l))
        t, h, step, seg_end, total = np.zeros(n_l), np.zeros(n_l), np.zeros(n_l), np.zeros(n_l), np.zeros(n_l)
        w = np.empty(7)
        # One lane's copy for its own derivatives at a (re)start: slicing the lane out instead
        # costs reference counts on every call, which the per-step lane loops felt (measured).
        y1, f1, th1, r1 = np.zeros((n_s, 1)), np.zeros((n_s, 1)), np.ones((theta.shape[0], 1)), np.zeros((N_DRUGS, 1))
        slopes = (k[1], k[2], k[3], k[4], k[5], k[6])  # views taken once: a slice per step is reference-counted

        def lane_inputs(p: int) -> None:
            """Lane ``p``'s parameters and infusion rates into th1, r1."""
            for q in range(th.shape[0]):
                th1[q, 0] = th[q, p]
            for d in range(N_DRUGS):
                r1[d, 0] = r[d, p]

        def segment_inputs(p: int, i: int, s: int) -> None:
            """Lane ``p`` (patient ``i``) enters segment ``s``: SC doses into the depots, the infusion rates."""
            for d in range(N_DRUGS):
                if DEPOT[d] != ABSENT:
                    y[DEPOT[d], p] += depot[i, s, d]
                r[d, p] = rate[i, s, d]

        def lane_slope(p: int) -> None:
            """k[0] of lane ``p`` at its current state, inputs and parameters."""
            lane_inputs(p)
            for m in range(n_s):
                y1[m, 0] = y[m, p]
            derivatives(y1, th1, r1, f1)
            for m in range(n_s):
                k[0, m, p] = f1[m, 0]

        patient = np.full(n_l, -1)
        seg, j, steps = np.zeros(n_l, np.int64), np.zeros(n_l, np.int64), np.zeros(n_l, np.int64)
        nxt = lo
        while True:
            for p in range(n_l):
                while patient[p] < 0 and nxt < hi:  # load the next patient into an idle lane
                    i = patient[p] = nxt
                    nxt += 1
                    for m in range(n_s):
                        y[m, p] = y0[m, i]
                    for q in range(th.shape[0]):
                        th[q, p] = theta[q, i]
                    segment_inputs(p, i, 0)
                    t[p], h[p], seg[p], j[p], steps[p] = 0.0, 0.0, 0, 0, 0  # h = 0: choose a first step
                    while j[p] < n_t and times[j[p]] <= 0.0:
                        for m in range(n_s):
                            out[i, m, j[p]] = y[m, p]
                        j[p] += 1
                    lane_slope(p)
                    if not t_end > 0.0:
                        patient[p] = -1
            busy = False
            for p in range(n_l):
                busy = busy or patient[p] >= 0
            if not busy:  # a loop, not (patient < 0).all(): no array allocated per step
                return -1
            for p in range(n_l):
                if patient[p] >= 0:
                    seg_end[p] = min(start[patient[p], seg[p] + 1], t_end)
                    if h[p] == 0.0:  # (re)start: scipy's select_initial_step for this segment
                        d0, d1, d2 = 0.0, 0.0, 0.0
                        for m in range(n_s):
                            scale = atol + abs(y[m, p]) * rtol
                            d0 += (y[m, p] / scale) ** 2
                            d1 += (k[0, m, p] / scale) ** 2
                        d0, d1 = np.sqrt(d0 / n_s), np.sqrt(d1 / n_s)
                        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
                        h0 = min(h0, seg_end[p] - t[p])
                        for m in range(n_s):
                            y1[m, 0] = y[m, p] + h0 * k[0, m, p]
                        lane_inputs(p)
                        derivatives(y1, th1, r1, f1)
                        for m in range(n_s):
                            d2 += ((f1[m, 0] - k[0, m, p]) / (atol + abs(y[m, p]) * rtol)) ** 2
                        d2 = np.sqrt(d2 / n_s) / h0
                        h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** -_ORDER_EXP
                        h[p] = min(100.0 * h0, h1, seg_end[p] - t[p])
                    step[p] = min(h[p], seg_end[p] - t[p])
                else:
                    step[p] = 0.0
            for s in range(1, 7):  # stages 1-5 into y_stage, then the new state
                state = y_stage if s < 6 else y_new
                _STAGE(s, k, step, y, state)
                derivatives(state, th, r, slopes[s - 1])
            _ERROR(k, step, err)
            total[:] = 0.0
            for m in range(n_s):
                for p in range(n_l):
                    e = err[m, p] / (max(abs(y[m, p]), abs(y_new[m, p])) * rtol + atol)
                    total[p] += e * e
            for p in range(n_l):
                i = patient[p]
                if i < 0:
                    continue
                steps[p] += 1
                err_norm = np.sqrt(total[p] / n_s)
                factor = _MAX_FACTOR if err_norm == 0.0 else _SAFETY * err_norm**_ORDER_EXP
                if not err_norm <= 1.0:  # rejected; NaN too
                    h[p] = step[p] * min(max(factor, _MIN_FACTOR), 1.0)
                else:
                    h[p] = step[p] * min(_MAX_FACTOR, factor)
                    t0, dt, end = t[p], step[p], seg_end[p]
                    t_new = end if end - (t0 + dt) <= 1e-12 * max(1.0, end) else t0 + dt
                    while j[p] < n_t and (times[j[p]] < t_new or t_new >= t_end):
                        x = (times[j[p]] - t0) / dt
                        for q in range(7):
                            w[q] = x * (_P[q, 0] + x * (_P[q, 1] + x * (_P[q, 2] + x * _P[q, 3]))) * dt
                        for m in range(n_s):
                            value = y[m, p]
                            for q in range(7):
                                value += k[q, m, p] * w[q]
                            out[i, m, j[p]] = value
                        j[p] += 1
                    for m in range(n_s):  # element loops: a slice here costs a reference count per step
                        y[m, p] = y_new[m, p]
                        k[0, m, p] = k[6, m, p]
                    t[p] = t_new
                    if t_new >= t_end:
                        patient[p] = -1
                        continue
                    if t_new >= end:
                        seg[p] += 1
                        segment_inputs(p, i, seg[p])
                        h[p] = 0.0
                        lane_slope(p)
                if steps[p] == max_steps:
                    return i

    return integrate_patients


_integrate_patients = _kernel(kernel_key(inspect.getsource(equations), LAYOUT))


class SolverError(LupustrialError):
    """A patient whose trajectory the solver cannot finish (step size driven to nothing)."""


def task_size(patients: int, workers: int) -> int:
    """Patients per thread task: at most ``_TASK``, and in a small call every thread still gets work."""
    return max(1, min(_TASK, -(-patients // workers)))


def submit(
    pool: Executor | None,
    y0: np.ndarray,
    theta: np.ndarray,
    segments: Segments,
    times: np.ndarray,
    *,
    rtol: float = RTOL,
    atol: float = ATOL,
    max_steps: int = 100_000,
    task: int = _TASK,
    first: int = 0,
) -> Callable[[], np.ndarray]:
    """Integrate on ``pool`` (None: now, on this thread) in tasks of ``task`` patients; call the result to wait.

    The waited-for value is the states at ``times`` (patients × times × states) from t = 0.
    ``y0`` and ``theta`` are (states × patients) and (params × patients); ``times`` are
    ascending days >= 0 shared by all patients. The states are a view of a patients × states ×
    times array: each state's trajectory is contiguous, so the outputs computed from the states
    run over contiguous memory (8 outputs × 422 days: 16 instead of 28 µs per patient, measured).
    Queuing instead of running lets a caller that keeps a pool busy across calls
    (``simulate_chunks``) queue the next chunk's tasks before the current chunk is done, so no
    thread waits for the slowest task of a chunk. ``first`` is the population's number of
    the first patient, so that a :class:`SolverError` names the patient a user can find.
    """
    n_s, n = y0.shape
    times = np.ascontiguousarray(times, dtype=float)
    out = np.empty((n, n_s, len(times)))
    # One memory layout, so the cached compiled kernel serves every caller.
    args = tuple(np.ascontiguousarray(a, dtype=float) for a in (y0, theta, segments.start, segments.rate,
                                                                segments.depot))

    def run(lo: int) -> int:
        return _integrate_patients(lo, min(lo + task, n), *args, times, float(rtol), float(atol), int(max_steps), out)

    starts = range(0, n, task)
    codes = [run(lo) for lo in starts] if pool is None else [pool.submit(run, lo) for lo in starts]

    def result() -> np.ndarray:
        stuck = [i for i in (c if isinstance(c, int) else c.result() for c in codes) if i >= 0]
        if stuck:
            raise SolverError(f"the solver did not reach day {times[-1]:g} in {max_steps} steps for patient "
                              f"{first + stuck[0]}: check that patient's parameters")
        return out.transpose(0, 2, 1)

    return result
