"""Batched Dormand–Prince 5(4) with a step size, error control and dense output per patient.

Every patient advances with its own time and step, as if integrated alone: a batch is only
a way to share numpy's loop overhead. Hence results do not depend on which patients share a
batch or on the batch size, and each patient matches a per-patient ``solve_ivp`` run.
Integration restarts at each patient's dosing breakpoints, where inputs jump. Patients who
have finished are dropped from the working arrays, so a batch costs the sum of its patients'
steps rather than its slowest patient's steps times its size. Linear combinations of stages
are explicit elementwise loops: BLAS and einsum change their summation order with the array
shape (breaking batch-size invariance), and BLAS threads only contend on a shared machine.
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
_COMPACT = 0.9  # drop finished patients once fewer than this share of the working set is active

Rhs = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _combine(coefs: np.ndarray, k: np.ndarray, scale: np.ndarray, base: np.ndarray, out: np.ndarray,
             tmp: np.ndarray) -> np.ndarray:
    """out = base + scale * sum_j coefs[j] * k[j] (zero coefficients skipped), in a fixed order.

    ``scale`` is the per-patient step, folded into each coefficient so no extra pass is needed.
    """
    terms = [(c * scale, k[j]) for j, c in enumerate(coefs) if c != 0.0]
    np.multiply(terms[0][1], terms[0][0], out=out)
    for c, kj in terms[1:]:
        np.multiply(kj, c, out=tmp)
        out += tmp
    out += base
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
    ascending days >= 0 shared by all patients; ``rhs(y, theta, rate, out)`` writes dy/dt.
    """
    n_s, n = y0.shape
    out = np.empty((n, len(times), n_s))
    t_end = float(times[-1])
    ids = np.arange(n)  # working position -> patient
    y = y0.copy()
    y[A_BD] += segments.depot[:, 0]
    t, h = np.zeros(n), np.full(n, first_step)
    seg = np.zeros(n, dtype=np.int64)
    rate = segments.rate[:, 0].T.copy()
    j = np.full(n, np.searchsorted(times, 0.0, side="right"))
    out[:, : j[0]] = y.T[:, None, :]
    k = np.empty((7, n_s, n))
    rhs(y, theta, rate, k[0])
    zero = np.zeros(n)
    y_stage, y_new, tmp = np.empty_like(y), np.empty_like(y), np.empty_like(y)
    for _ in range(max_steps):
        active = t < t_end
        n_active = int(active.sum())
        if n_active == 0:
            return out
        if n_active < _COMPACT * len(ids):
            ids, y, t, h, seg, rate, j, theta = (a[..., active] for a in (ids, y, t, h, seg, rate, j, theta))
            k, active, zero = k[:, :, active], active[active], zero[:n_active]
            y_stage, y_new, tmp = np.empty_like(y), np.empty_like(y), np.empty_like(y)
        seg_end = np.minimum(segments.start[ids, seg + 1], t_end)
        step = np.where(active, np.minimum(h, seg_end - t), 0.0)
        for s in range(1, 6):
            rhs(_combine(_A[s, :s], k, step, y, y_stage, tmp), theta, rate, k[s])
        rhs(_combine(_B, k, step, y, y_new, tmp), theta, rate, k[6])
        err = _combine(_E, k, step, zero, y_stage, tmp)
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
        _dense_output(out, times, ids, j, accept, t, step, y, k)
        np.copyto(y, y_new, where=accept)
        np.copyto(k[0], k[6], where=accept)
        t = np.where(accept, t_new, t)
        crossed = accept & (t >= seg_end) & (t < t_end)
        if crossed.any():
            idx = np.flatnonzero(crossed)
            seg[idx] += 1
            y[A_BD, idx] += segments.depot[ids[idx], seg[idx]]
            rate[:, idx] = segments.rate[ids[idx], seg[idx]].T
            f = np.empty((n_s, len(idx)))
            k[0][:, idx] = rhs(y[:, idx], theta[:, idx], rate[:, idx], f)
    raise RuntimeError(f"solver did not reach day {t_end} in {max_steps} steps")


def _dense_output(
    out: np.ndarray, times: np.ndarray, ids: np.ndarray, j: np.ndarray, accept: np.ndarray,
    t: np.ndarray, step: np.ndarray, y: np.ndarray, k: np.ndarray,
) -> None:
    """Write the outputs that fall in each accepted step, by Dormand–Prince's 4th-order interpolant.

    The interpolant is y + h·Σ_k b_k(θ)·k_k with per-patient weights b_k(θ) = Σ_p P[k,p]·θ^(p+1).
    An output at a step's end is left to the next step (θ = 0), so that a dose given at a
    breakpoint is included in the output at that time; only the final time is closed.
    """
    last = len(times) - 1
    limit = np.where(t + step >= times[-1], np.nextafter(times[-1], np.inf), t + step)
    due = accept & (j <= last)
    due[due] = times[np.minimum(j[due], last)] < limit[due]
    while due.any():
        idx = np.flatnonzero(due)
        jj = j[idx]
        whole = 2 * idx.size > due.size  # most patients due: whole arrays beat gathering 7 stages
        if whole:
            theta = np.where(due, (times[np.minimum(j, last)] - t) / np.where(due, step, 1.0), 0.0)
            value, stages, h = y.copy(), k, step
        else:
            theta = (times[jj] - t[idx]) / step[idx]
            value, stages, h = y[:, idx], k[:, :, idx], step[idx]
        for m in range(7):
            p = _P[m]
            value += stages[m] * (theta * (p[0] + theta * (p[1] + theta * (p[2] + theta * p[3]))) * h)
        out[ids[idx], jj] = (value[:, idx] if whole else value).T
        j[idx] += 1
        due[idx] = (j[idx] <= last) & (times[np.minimum(j[idx], last)] < limit[idx])
