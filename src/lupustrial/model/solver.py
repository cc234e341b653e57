"""Dormand–Prince 5(4) per patient, compiled by numba, with error control and dense output.

Every patient is integrated alone, with its own step and its own dosing breakpoints (where
inputs jump and integration restarts), so results do not depend on which patients share a
call, on the chunk size or on the number of threads, and each patient matches a per-patient
``solve_ivp`` run. A compiled loop costs each patient only its own steps, with no numpy pass
per stage; the kernel releases the GIL, so threads share the patients without process
start-up or pickling. Sums run in a fixed order and without fused multiply-adds (numba's
default), so the same inputs give bit-identical outputs on every call.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit
from scipy.integrate import RK45

from lupustrial.model.dosing import Segments
from lupustrial.model.equations import A_BD, derivatives

# scipy's RK45 tableau; numba freezes these global arrays into the compiled code.
_A, _B, _E, _P = RK45.A, RK45.B, RK45.E, RK45.P
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_ORDER_EXP = -1.0 / 5.0  # error estimator of order 4
_TASK = 256  # patients per thread task: small enough to balance cheap and costly patients


@njit(cache=True, nogil=True)
def _combine(coefs: np.ndarray, k: np.ndarray, step: float, base: np.ndarray, out: np.ndarray) -> None:
    """out = Σ_j (coefs[j]·step)·k[j] + base, zero coefficients skipped, in a fixed order."""
    first = True
    for j in range(coefs.shape[0]):
        c = coefs[j] * step
        if coefs[j] == 0.0:
            continue
        for m in range(out.shape[0]):
            out[m] = c * k[j, m] if first else out[m] + c * k[j, m]
        first = False
    for m in range(out.shape[0]):
        out[m] += base[m]


@njit(cache=True, nogil=True)
def _integrate_patients(
    lo: int, hi: int, y0: np.ndarray, theta: np.ndarray, start: np.ndarray, rate: np.ndarray,
    depot: np.ndarray, times: np.ndarray, rtol: float, atol: float, first_step: float, max_steps: int,
    out: np.ndarray,
) -> int:
    """Integrate patients ``lo`` … ``hi - 1`` into ``out``; the first patient exceeding ``max_steps``, or -1.

    An output at a step's end is left to the next step (interpolant at θ = 0), so that a dose
    given at a breakpoint is included in the output at that time; only the final time is closed.
    """
    n_s, n_t = y0.shape[0], times.shape[0]
    t_end = times[n_t - 1]
    y, y_new, y_stage, err = np.empty(n_s), np.empty(n_s), np.empty(n_s), np.empty(n_s)
    zero = np.zeros(n_s)
    k = np.empty((7, n_s))
    th = np.empty(theta.shape[0])
    r = np.empty(2)
    w = np.empty(7)
    for i in range(lo, hi):
        y[:] = y0[:, i]
        th[:] = theta[:, i]
        seg = 0
        y[A_BD] += depot[i, 0]
        r[:] = rate[i, 0]
        t, h = 0.0, first_step
        j = 0
        while j < n_t and times[j] <= 0.0:
            out[i, j] = y
            j += 1
        derivatives(y, th, r, k[0])
        steps = 0
        while t < t_end:
            if steps == max_steps:
                return i
            steps += 1
            seg_end = min(start[i, seg + 1], t_end)
            step = min(h, seg_end - t)
            for s in range(1, 6):
                _combine(_A[s, :s], k, step, y, y_stage)
                derivatives(y_stage, th, r, k[s])
            _combine(_B, k, step, y, y_new)
            derivatives(y_new, th, r, k[6])
            _combine(_E, k, step, zero, err)
            total = 0.0
            for m in range(n_s):
                e = err[m] / (max(abs(y[m]), abs(y_new[m])) * rtol + atol)
                total += e * e
            err_norm = np.sqrt(total / n_s)
            factor = _MAX_FACTOR if err_norm == 0.0 else _SAFETY * err_norm**_ORDER_EXP
            if not err_norm <= 1.0:  # NaN is rejected too
                h = step * min(max(factor, _MIN_FACTOR), 1.0)
                continue
            h = step * min(_MAX_FACTOR, factor)
            t_new = seg_end if seg_end - (t + step) <= 1e-12 * max(1.0, seg_end) else t + step
            while j < n_t and (times[j] < t_new or t_new >= t_end):
                x = (times[j] - t) / step
                for q in range(7):
                    w[q] = x * (_P[q, 0] + x * (_P[q, 1] + x * (_P[q, 2] + x * _P[q, 3]))) * step
                for m in range(n_s):
                    value = y[m]
                    for q in range(7):
                        value += k[q, m] * w[q]
                    out[i, j, m] = value
                j += 1
            y[:] = y_new
            k[0] = k[6]
            t = t_new
            if t >= seg_end and t < t_end:
                seg += 1
                y[A_BD] += depot[i, seg]
                r[:] = rate[i, seg]
                derivatives(y, th, r, k[0])
    return -1


def integrate(
    y0: np.ndarray,
    theta: np.ndarray,
    segments: Segments,
    times: np.ndarray,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    first_step: float = 0.05,
    max_steps: int = 100_000,
    workers: int = 1,
) -> np.ndarray:
    """States at ``times`` (patients × times × states) from t = 0, patients shared by ``workers`` threads.

    ``y0`` and ``theta`` are (states × patients) and (params × patients); ``times`` are
    ascending days >= 0 shared by all patients.
    """
    n_s, n = y0.shape
    times = np.ascontiguousarray(times, dtype=float)
    out = np.empty((n, len(times), n_s))
    # One memory layout, so the cached compiled kernel serves every caller.
    args = tuple(np.ascontiguousarray(a, dtype=float) for a in (y0, theta, segments.start, segments.rate,
                                                                segments.depot))

    def run(lo: int) -> int:
        return _integrate_patients(lo, min(lo + _TASK, n), *args, times, float(rtol), float(atol),
                                   float(first_step), int(max_steps), out)

    starts = range(0, n, _TASK)
    if workers <= 1:
        failed = [run(lo) for lo in starts]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            failed = list(pool.map(run, starts))
    stuck = [i for i in failed if i >= 0]
    if stuck:
        raise RuntimeError(f"solver did not reach day {times[-1]} in {max_steps} steps for patient {stuck[0]}")
    return out
