"""Event times from a cumulative hazard, by inversion, for many patients at once.

For a counting process with cumulative hazard H(t), the k-th event happens when H first reaches
E1 + ... + Ek with Ek ~ Exp(1) independent. H comes from the model on a time grid and is
interpolated linearly between grid points (exact when the hazard is constant between them).
"""

from __future__ import annotations

import numpy as np


def event_times(
    times: np.ndarray, cumhaz: np.ndarray, gaps: np.ndarray
) -> np.ndarray:
    """Times of successive events (``nan`` when H never reaches the target).

    times: (T,) increasing grid; cumhaz: (P, T) non-decreasing along T with cumhaz[:, 0] the
    value at times[0] (events are counted from times[0]); gaps: (P, K) positive Exp(1) draws.
    Returns (P, K) event times.
    """
    times = np.asarray(times, dtype=float)
    h = np.asarray(cumhaz, dtype=float)
    h = h - h[:, :1]
    if np.any(np.diff(h, axis=1) < -1e-12 * np.maximum(1.0, np.abs(h[:, 1:]))):
        raise ValueError("cumulative hazard must be non-decreasing in time")
    h = np.maximum.accumulate(h, axis=1)
    targets = np.cumsum(np.asarray(gaps, dtype=float), axis=1)
    n_pat, n_t = h.shape
    # One searchsorted over all patients: offset each row so the flattened array stays sorted.
    span = float(max(h[:, -1].max(), targets.max())) + 1.0
    offset = (np.arange(n_pat) * span)[:, None]
    flat = (h + offset).ravel()
    pos = np.searchsorted(flat, (targets + offset).ravel(), side="left").reshape(targets.shape)
    j = pos - (np.arange(n_pat) * n_t)[:, None]
    inside = (j >= 1) & (j < n_t) & (targets <= h[:, -1:])
    jj = np.clip(j, 1, n_t - 1)
    rows = np.arange(n_pat)[:, None]
    h0, h1 = h[rows, jj - 1], h[rows, jj]
    t0, t1 = times[jj - 1], times[jj]
    frac = np.where(h1 > h0, (targets - h0) / np.where(h1 > h0, h1 - h0, 1.0), 0.0)
    return np.where(inside, t0 + frac * (t1 - t0), np.nan)
