"""Batched Dormand–Prince 5(4) with a step size, error control and dense output per patient.

Every patient advances with its own time and step, as if integrated alone: a batch is only
a way to share numpy's loop overhead. Hence results do not depend on which patients share a
batch or on the batch size, and each patient matches a per-patient ``solve_ivp`` run.
Integration restarts at each patient's dosing breakpoints, where inputs jump. Linear
combinations of stages are explicit elementwise loops: BLAS and einsum change their
summation order with the array shape (breaking batch-size invariance) and BLAS threads
only contend on a shared machine.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.integrate import RK45

from lupustrial.model.dosing import Segments
from lupustrial.model.equations import A_BD

_A, _B, _E, _P = RK45.A, RK45.B, RK45.E, RK45.P
_SAFETY, _MIN_FACTOR, _MAX_FACTOR = 0.9, 0.2, 10.0
_ORDER_EXP = -1.0 / 5.0  # error estimator of order 4

Rhs = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _combine(coefs: np.ndarray, k: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """out = sum_j coefs[j] * k[j], skipping zero coefficients."""
    terms = [(c, k[j]) for j, c in enumerate(coefs) if c != 0.0]
    np.multiply(terms[0][1], terms[0][0], out=out)
    for c, kj in terms[1:]:
        np.multiply(kj, c, out=tmp)
        out += tmp
    return out


def _sum_rows(x: np.ndarray) -> np.ndarray:
    """Sum over states in a fixed order: numpy's reductions reorder sums by array shape,
    which would make a patient's result depend on its batch size."""
    acc = x[0].copy()
    for row in x[1:]:
        acc += row
    return acc


def integrate(
    rhs: Rhs,
    y0: np.ndarray,
    theta: np.ndarray,
    segments: Segments,
    times: np.ndarray,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    first_step: float = 0.05,
    max_steps: int = 100_000,
) -> np.ndarray:
    """States at ``times`` (patients × times × states) from t = 0 for a batch of patients.

    ``y0`` and ``theta`` are (states × patients) and (params × patients); ``times`` are
    ascending days >= 0 shared by all patients.
    """
    n_s, n = y0.shape
    out = np.empty((n, len(times), n_s))
    t_end = float(times[-1])
    y = y0.copy()
    y[A_BD] += segments.depot[:, 0]
    t, h = np.zeros(n), np.full(n, first_step)
    seg = np.zeros(n, dtype=np.int64)
    rate = segments.rate[:, 0].T.copy()
    j = np.full(n, np.searchsorted(times, 0.0, side="right"))
    out[:, : j[0]] = y.T[:, None, :]
    k = np.empty((7, n_s, n))
    k[0] = rhs(y, theta, rate)
    y_stage, y_new, tmp = np.empty_like(y), np.empty_like(y), np.empty_like(y)
    cols = np.arange(n)
    for _ in range(max_steps):
        active = t < t_end
        if not active.any():
            return out
        seg_end = np.minimum(segments.start[cols, seg + 1], t_end)
        step = np.where(active, np.minimum(h, seg_end - t), 0.0)
        for s in range(1, 6):
            _combine(_A[s, :s], k, y_stage, tmp)
            y_stage *= step
            y_stage += y
            k[s] = rhs(y_stage, theta, rate)
        _combine(_B, k, y_new, tmp)
        y_new *= step
        y_new += y
        k[6] = rhs(y_new, theta, rate)
        err = _combine(_E, k, y_stage, tmp)
        err *= step
        np.maximum(np.abs(y), np.abs(y_new), out=tmp)
        tmp *= rtol
        tmp += atol
        err /= tmp
        err *= err
        err_norm = np.sqrt(_sum_rows(err) / n_s)
        accept = active & (err_norm <= 1.0)
        with np.errstate(divide="ignore"):
            factor = np.where(err_norm == 0, _MAX_FACTOR, _SAFETY * err_norm**_ORDER_EXP)
        factor = np.where(accept, np.minimum(_MAX_FACTOR, factor), np.clip(factor, _MIN_FACTOR, 1.0))
        h = np.where(active, step * factor, h)
        t_new = np.where(seg_end - (t + step) <= 1e-12 * np.maximum(1.0, seg_end), seg_end, t + step)
        _dense_output(out, times, j, accept, t, step, y, k)
        np.copyto(y, y_new, where=accept)
        np.copyto(k[0], k[6], where=accept)
        t = np.where(accept, t_new, t)
        crossed = accept & (t >= seg_end) & (t < t_end)
        if crossed.any():
            idx = np.flatnonzero(crossed)
            seg[idx] += 1
            y[A_BD, idx] += segments.depot[idx, seg[idx]]
            rate[:, idx] = segments.rate[idx, seg[idx]].T
            k[0][:, idx] = rhs(y[:, idx], theta[:, idx], rate[:, idx])
    raise RuntimeError(f"solver did not reach day {t_end} in {max_steps} steps")


def _dense_output(
    out: np.ndarray, times: np.ndarray, j: np.ndarray, accept: np.ndarray,
    t: np.ndarray, step: np.ndarray, y: np.ndarray, k: np.ndarray,
) -> None:
    """Write the outputs that fall in each accepted step, by Dormand–Prince's 4th-order interpolant.

    An output at a step's end is left to the next step (theta = 0), so that a dose given at
    a breakpoint is included in the output at that time; only the final time is closed.
    """
    last = len(times) - 1
    limit = np.where(t + step >= times[-1], np.nextafter(times[-1], np.inf), t + step)
    due = accept & (j <= last)
    due[due] = times[np.minimum(j[due], last)] < limit[due]
    if not due.any():
        return
    idx = np.flatnonzero(due)
    kk = k[:, :, idx]
    q = np.empty((4,) + kk.shape[1:])
    tmp = np.empty_like(q[0])
    for p in range(4):
        _combine(_P[:, p], kk, q[p], tmp)
    q *= step[idx]
    y_i, t_i, limit_i, step_i = y[:, idx], t[idx], limit[idx], step[idx]
    while idx.size:
        jj = j[idx]
        theta = (times[jj] - t_i) / step_i
        out[idx, jj] = (y_i + theta * (q[0] + theta * (q[1] + theta * (q[2] + theta * q[3])))).T
        j[idx] += 1
        more = j[idx] <= last
        more[more] = times[np.minimum(j[idx][more], last)] < limit_i[more]
        idx, y_i, t_i, limit_i, step_i, q = idx[more], y_i[:, more], t_i[more], limit_i[more], step_i[more], q[:, :, more]
