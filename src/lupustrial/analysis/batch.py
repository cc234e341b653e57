"""Cox and ANCOVA fitted for many simulated trials at once, equal to the single fits.

Designing a trial means analysing thousands of simulated trials of a few dozen patients; one
:func:`~lupustrial.analysis.cox.cox` call per trial spends its time in Python overhead. Here
each model is fitted for all trials together on arrays of shape (trials, patients): one
vectorised Newton–Raphson whose every per-trial decision (R's step-halving, convergence test,
Cholesky pivot rule, Firth's step-halving) is the single fit's, so the estimates equal T single
fits up to rounding. The model is the trial-design one: a single covariate (the treatment
indicator) for Cox, ``log y ~ arm + log baseline`` for the ANCOVA.

Trials may have different numbers of patients: pass arrays padded to a common width with a
boolean ``mask`` (True = a real patient); values in padded cells are ignored, NaN included.
A trial the single fit would refuse (no events, no information, too few patients) is not
dropped: its ``estimable`` is False and its results are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import ArrayLike
from scipy import special, stats

from lupustrial.analysis.ancova import _RANK_TOL
from lupustrial.analysis.cox import _NOCENTER, FIRTH_ITER_MAX, FIRTH_STEP_TOL, Ties
from lupustrial.errors import AnalysisError


def _arrays(mask: ArrayLike | None, **named: ArrayLike) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Check that every array is (trials, patients) of one shape; return the mask and floats."""
    out = {k: np.asarray(v, dtype=float) for k, v in named.items()}
    shape = next(iter(out.values())).shape
    for k, v in out.items():
        if v.ndim != 2 or v.shape != shape:
            raise AnalysisError(f"{k} must be a (trials, patients) array of shape {shape}, got {v.shape}")
    valid = np.ones(shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if valid.shape != shape:
        raise AnalysisError(f"mask must have shape {shape}, got {valid.shape}")
    return valid, out


def _check(ok: np.ndarray, valid: np.ndarray, what: str) -> None:
    """Raise naming the first real patient (1-based trial and position) where ``ok`` fails."""
    bad = valid & ~ok
    if bad.any():
        trial, patient = np.argwhere(bad)[0]
        raise AnalysisError(f"{what}: trial {trial + 1}, patient {patient + 1}")


@njit(cache=True, nogil=True, error_model="numpy")
def _sort_kernel(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, valid: np.ndarray, x_sorted: np.ndarray,
    dead: np.ndarray, block_end: np.ndarray, size: np.ndarray, n_events: np.ndarray, scale: np.ndarray,
    x_low: np.ndarray, x_high: np.ndarray, up: np.ndarray, down: np.ndarray,
) -> None:
    """Fill the :class:`_Trials` arrays, one trial at a time, as ``risk_sets`` does per data set.

    Rows go by descending time, padding last (the order of tied rows only changes rounding).
    ``x`` is centred and scaled per trial; ``block_end`` marks the last row tied at a time.
    Monotone directions, exact for one covariate (the single fit's LP agrees except within its
    1e-7 feasibility tolerance): β → +∞ is unbounded iff every event's x is the largest in its
    risk set (a running maximum at the end of its block), β → -∞ likewise with the minimum.
    """
    n_trials, n = time.shape
    key = np.empty(n)
    for i in range(n_trials):
        m, total, centre = 0, 0.0, False
        for j in range(n):
            key[j] = -time[i, j] if valid[i, j] else np.inf
            if valid[i, j]:
                m += 1
                total += x[i, j]
                centre |= x[i, j] not in _NOCENTER
        order = np.argsort(key)
        mean = total / m if centre else 0.0
        spread = 0.0
        for k in range(m):
            x_sorted[i, k] = x[i, order[k]] - mean
            spread += abs(x_sorted[i, k])
        s = m / spread if centre and spread > 0 else 1.0
        # an event's x below the running maximum (above the minimum) at its block's end bounds
        # β above (below); x_low/x_high, which only set the overflow shift, keep a 0 as padding did
        high, low, dead_min, dead_max, deaths = -np.inf, np.inf, np.inf, -np.inf, 0
        bounded_up, bounded_down = False, False
        for k in range(m):
            v = x_sorted[i, k] * s
            x_sorted[i, k] = v
            high, low = max(high, v), min(low, v)
            dead[i, k] = event[i, order[k]] == 1
            if dead[i, k]:
                deaths += 1
                dead_min, dead_max = min(dead_min, v), max(dead_max, v)
            block_end[i, k] = k == m - 1 or key[order[k + 1]] != key[order[k]]
            if block_end[i, k]:
                bounded_up |= dead_min < high
                bounded_down |= dead_max > low
                dead_min, dead_max = np.inf, -np.inf
        size[i], n_events[i], scale[i] = m, deaths, s
        x_low[i], x_high[i] = min(low, 0.0), max(high, 0.0)
        up[i], down[i] = not bounded_up, not bounded_down


@dataclass(frozen=True)
class _Trials:
    """Each trial sorted by descending time, padding last, as in :class:`~lupustrial.analysis.cox.RiskSets`:
    the risk set of an event is its trial's rows up to the end of its block of tied times."""

    x: np.ndarray  # (T, n) centred and scaled covariate, sorted rows
    dead: np.ndarray  # (T, n) bool: an event, sorted rows
    block_end: np.ndarray  # (T, n) bool: the last row tied at its time
    size: np.ndarray  # (T,) real patients (the first rows)
    n_events: np.ndarray  # (T,)
    scale: np.ndarray  # (T,)
    x_low: np.ndarray  # (T,) smallest and ...
    x_high: np.ndarray  # (T,) ... largest x, 0 included
    up: np.ndarray  # (T,) likelihood unbounded as β → +∞ ...
    down: np.ndarray  # (T,) ... as β → -∞
    efron: bool


def _sort_trials(time: np.ndarray, event: np.ndarray, x: np.ndarray, valid: np.ndarray, ties: Ties) -> _Trials:
    """Sort, mark tied blocks, and centre/scale x per trial (compiled: :func:`_sort_kernel`)."""
    n_trials, n = time.shape
    per_row = [np.zeros((n_trials, n)), np.zeros((n_trials, n), dtype=bool), np.zeros((n_trials, n), dtype=bool)]
    per_trial = [np.empty(n_trials, dtype=np.int64)] + [np.empty(n_trials) for _ in range(4)]
    flags = [np.empty(n_trials, dtype=bool) for _ in range(2)]
    contiguous = (np.ascontiguousarray(a) for a in (time, event, x, valid))
    _sort_kernel(*contiguous, *per_row, *per_trial, *flags)
    return _Trials(*per_row, *per_trial, *flags, efron=ties == "efron")


@njit(cache=True, nogil=True, error_model="numpy")
def _derivative_kernel(
    x: np.ndarray, dead: np.ndarray, block_end: np.ndarray, size: np.ndarray, n_events: np.ndarray,
    x_low: np.ndarray, x_high: np.ndarray, efron: bool, rows: np.ndarray, beta: np.ndarray, out: np.ndarray,
) -> None:
    """Log partial likelihood, score, information and ∂I/∂β of trials ``rows`` at ``beta``.

    One pass over each trial's sorted rows accumulates the risk-set sums of w x^k (w = exp(βx))
    and, within a block of tied times, its deaths' sums; at the block's end come its terms:
    Efron's d terms "risk-set sum minus (r/d) × deaths' sum", or Breslow's one term counted d
    times. Running sums never cross trials, which would cost precision. ∂I/∂β (Firth) costs
    a few flops per term, less than a second kernel.
    """
    for r in range(rows.size):
        i, b = rows[r], beta[r]
        shift = max(max(b * x_high[i], b * x_low[i]) - 500.0, 0.0)  # = max(max η - 500, 0)
        s0 = s1 = s2 = s3 = d0 = d1 = d2 = d3 = dead_x = 0.0
        deaths = 0
        loglik = score = information = d_information = 0.0
        for k in range(size[i]):
            v = x[i, k]
            w = np.exp(b * v - shift)
            wx = w * v
            wx2 = wx * v
            wx3 = wx2 * v
            s0 += w
            s1 += wx
            s2 += wx2
            s3 += wx3
            if dead[i, k]:
                deaths += 1
                dead_x += v
                d0 += w
                d1 += wx
                d2 += wx2
                d3 += wx3
            if block_end[i, k] and deaths:
                loglik += b * dead_x
                score += dead_x
                weight = 1.0 if efron else float(deaths)
                for t in range(deaths if efron else 1):
                    f = t / deaths
                    a0 = s0 - f * d0
                    m = (s1 - f * d1) / a0
                    e2 = (s2 - f * d2) / a0
                    loglik -= weight * np.log(a0)
                    score -= weight * m
                    information += weight * (e2 - m * m)
                    d_information += weight * ((s3 - f * d3) / a0 - 3 * e2 * m + 2 * m * m * m)
                d0 = d1 = d2 = d3 = dead_x = 0.0
                deaths = 0
        out[0, r] = loglik - shift * n_events[i]
        out[1, r] = score
        out[2, r] = information
        out[3, r] = d_information


@dataclass(frozen=True)
class _Derivatives:
    loglik: np.ndarray  # (T,)
    score: np.ndarray  # (T,)
    information: np.ndarray  # (T,)
    d_information: np.ndarray  # (T,) ∂I/∂β, for Firth

    def take(self, rows: np.ndarray) -> _Derivatives:
        return _Derivatives(*(v[rows] for v in vars(self).values()))


def _derivatives(tr: _Trials, rows: np.ndarray, beta: np.ndarray) -> _Derivatives:
    """Batched :func:`~lupustrial.analysis.cox.partial_likelihood` for one covariate, for the
    trials ``rows`` at ``beta`` (one value per row)."""
    out = np.empty((4, rows.size))
    _derivative_kernel(tr.x, tr.dead, tr.block_end, tr.size, tr.n_events, tr.x_low, tr.x_high, tr.efron,
                       rows, np.ascontiguousarray(beta, dtype=float), out)
    return _Derivatives(*out)


def _newton_step(d: _Derivatives) -> np.ndarray:
    """R's ``cholesky2`` + ``chsolve2`` for one covariate: no step when the pivot is dropped."""
    kept = np.isfinite(d.information) & (d.information > 0)
    return np.where(kept, d.score / np.where(kept, d.information, 1.0), 0.0)


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    loglik: np.ndarray
    information: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _newton_r(tr: _Trials, trials: np.ndarray, null: _Derivatives, eps: float, iter_max: int) -> _Fit:
    """R's ``coxfit6`` iteration (as the single ``_newton_r``) run for the ``trials`` at once,
    from β = 0 where their derivatives are ``null``."""
    n_trials = trials.size
    beta = np.zeros(n_trials)
    d = null
    best = d.loglik.copy()
    new = beta + _newton_step(d)
    halving = np.zeros(n_trials)
    out = _Fit(beta.copy(), np.full(n_trials, np.nan), np.full(n_trials, np.nan),
               np.full(n_trials, iter_max), np.zeros(n_trials, dtype=bool))
    active = np.arange(n_trials)
    for iteration in range(1, iter_max + 1):
        if not active.size:
            break
        d = _derivatives(tr, trials[active], new[active])
        finite = np.isfinite(d.loglik) & np.isfinite(d.score) & np.isfinite(d.information)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative_change = np.abs(1 - best[active] / d.loglik)
        done = finite & (relative_change <= eps)
        rows = active[done]
        out.beta[rows], out.loglik[rows], out.information[rows] = new[rows], d.loglik[done], d.information[done]
        out.iterations[rows], out.converged[rows] = iteration, True
        worse = ~done & (~finite | (d.loglik < best[active]))
        rows = active[worse]
        halving[rows] += 1
        new[rows] = (new[rows] + halving[rows] * beta[rows]) / (halving[rows] + 1.0)
        better = ~done & ~worse
        rows = active[better]
        halving[rows] = 0
        best[rows] = d.loglik[better]
        beta[rows] = new[rows]
        new[rows] = new[rows] + _newton_step(d)[better]
        active = active[~done]
    if active.size:
        d = _derivatives(tr, trials[active], beta[active])
        out.beta[active], out.loglik[active], out.information[active] = beta[active], d.loglik, d.information
    return out


def _penalised(tr: _Trials, trials: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched Firth l(β) + ½ log I(β), its gradient and I(β), as the single ``_penalised``."""
    d = _derivatives(tr, trials, beta)
    ok = np.isfinite(d.loglik) & (d.information > 0)
    info = np.where(ok, d.information, 1.0)
    value = np.where(ok, d.loglik + 0.5 * np.log(info), -np.inf)
    gradient = np.where(ok, d.score + 0.5 * d.d_information / info, np.nan)
    return value, gradient, d.information


def _firth(tr: _Trials, trials: np.ndarray, iter_max: int) -> tuple[_Fit, np.ndarray]:
    """The single ``_maximise_penalised`` from β = 0 for the ``trials``; also the value at 0."""
    n_trials = trials.size
    beta = np.zeros(n_trials)
    value, gradient, info = _penalised(tr, trials, beta)
    null_value = value.copy()
    iterations = np.full(n_trials, iter_max)
    converged = np.zeros(n_trials, dtype=bool)
    active = np.arange(n_trials)
    for iteration in range(1, iter_max + 1):
        if not active.size:
            break
        step = np.zeros(n_trials)
        step[active] = gradient[active] / info[active]
        trial = beta.copy()
        new_value, new_gradient, new_info = value.copy(), gradient.copy(), info.copy()
        searching = active
        for _ in range(30):  # after 30 halvings the last point is taken, as in the single fit
            trial[searching] = beta[searching] + step[searching]
            v, g, i = _penalised(tr, trials[searching], trial[searching])
            new_value[searching], new_gradient[searching], new_info[searching] = v, g, i
            accepted = v >= value[searching] - 1e-12 * np.abs(value[searching])
            searching = searching[~accepted]
            step[searching] /= 2
            if not searching.size:
                break
        beta, value, gradient, info = trial, new_value, new_gradient, new_info
        done = np.abs(step[active]) <= FIRTH_STEP_TOL
        iterations[active[done]], converged[active[done]] = iteration, True
        active = active[~done]
    return _Fit(beta, value, info, iterations, converged), null_value


@dataclass(frozen=True)
class CoxBatchResult:
    """Per-trial results (arrays of length T) of :func:`cox_batch`.

    As :class:`~lupustrial.analysis.cox.CoxResult`: a ``monotone`` ML fit has ``coef`` ±inf
    (nan if both directions) and se, z, p nan; with ``firth=True`` every estimable trial has a
    finite penalised ``coef``, ``p_value`` is the penalised likelihood-ratio p (coxphf's) and
    ``loglik``/``loglik_null``/``lr_p_value`` are penalised. ``estimable`` is False where
    :func:`cox` would raise (no events, or the covariate constant in every risk set with an
    event); everything else is nan there.
    """

    coef: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    loglik: np.ndarray
    loglik_null: np.ndarray
    lr_p_value: np.ndarray
    score_p_value: np.ndarray
    n: np.ndarray
    n_events: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    monotone: np.ndarray
    estimable: np.ndarray
    ties: Ties
    firth: bool


def cox_batch(
    time: ArrayLike,
    event: ArrayLike,
    X: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    ties: Ties = "efron",
    firth: bool = False,
    eps: float = 1e-9,
    iter_max: int | None = None,
) -> CoxBatchResult:
    """``cox(time[i], event[i], X[i], ties=, firth=)`` for every trial i, vectorised.

    ``time``, ``event`` (0/1) and ``X`` (one covariate, e.g. the treatment indicator) are
    (trials, patients) arrays; ``mask`` marks real patients when trials differ in size
    (default: all real). ``eps``/``iter_max`` are as in :func:`cox`. Firth's fit gives the
    estimate and penalised LR p-value, not profile CIs.
    """
    valid, a = _arrays(mask, time=time, event=event, X=X)
    t, e, x = a["time"], a["event"], a["X"]
    if ties not in ("efron", "breslow"):
        raise AnalysisError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    if iter_max is not None and iter_max < 1:
        raise AnalysisError(f"iter_max must be at least 1, got {iter_max}")
    with np.errstate(invalid="ignore"):
        _check(np.isfinite(t) & (t >= 0), valid, "time must be finite and >= 0")
        _check((e == 0) | (e == 1), valid, "event must be 0 or 1")
        _check(np.isfinite(x), valid, "X has a missing or infinite value")
    tr = _sort_trials(t, e, x, valid, ties)
    null = _derivatives(tr, np.arange(t.shape[0]), np.zeros(t.shape[0]))
    n_events = tr.n_events
    estimable = (n_events > 0) & np.isfinite(null.information) & (null.information > 0)
    rows = np.flatnonzero(estimable)
    up, down, scale = tr.up[rows], tr.down[rows], tr.scale[rows]
    if firth:
        fit, null_value = _firth(tr, rows, iter_max or FIRTH_ITER_MAX)
        p_fit = special.chdtrc(1, np.maximum(2 * (fit.loglik - null_value), 0.0))
        log_scale = np.log(scale)
        loglik, loglik_null = fit.loglik - log_scale, null_value - log_scale
        lr_p = p_fit
    else:
        fit = _newton_r(tr, rows, null.take(rows), eps, iter_max or 20)
        loglik, loglik_null = fit.loglik, null.loglik[rows]
        lr_p = special.chdtrc(1, 2 * (loglik - loglik_null))
    kept = np.isfinite(fit.information) & (fit.information > 0)
    var = np.where(kept, 1 / np.where(kept, fit.information, 1.0), 0.0) * scale**2
    coef = fit.beta * scale
    se = np.sqrt(var)
    if not firth:
        coef = np.where(up & down, np.nan, np.where(up, np.inf, np.where(down, -np.inf, coef)))
        se = np.where(up | down, np.nan, se)
    z = coef / se
    if not firth:
        p_fit = 2 * special.ndtr(-np.abs(z))  # stats.norm.sf without its per-call overhead
    u0, i0 = null.score[rows], null.information[rows]

    def spread(values: np.ndarray, fill: float = np.nan) -> np.ndarray:
        full = np.full(t.shape[0], fill, dtype=np.asarray(values).dtype)
        full[rows] = values
        return full

    return CoxBatchResult(
        coef=spread(coef),
        se=spread(se),
        z=spread(z),
        p_value=spread(p_fit),
        loglik=spread(loglik),
        loglik_null=spread(loglik_null),
        lr_p_value=spread(lr_p),
        score_p_value=spread(special.chdtrc(1, u0 * u0 / i0)),
        n=valid.sum(axis=1),
        n_events=n_events.astype(np.int64),
        iterations=spread(fit.iterations, 0),
        converged=spread(fit.converged, False),
        monotone=spread(up | down, False),
        estimable=estimable,
        ties=ties,
        firth=firth,
    )


@dataclass(frozen=True)
class AncovaBatchResult:
    """Per-trial ratio of adjusted geometric means (treatment / reference), as ``ancova_gmr``.

    ``estimable`` is False where :func:`ancova_gmr` would raise (an arm with < 2 patients, no
    residual df, log baseline collinear with arm, or an exact fit); results are nan there.
    """

    ratio: np.ndarray
    ratio_lower: np.ndarray
    ratio_upper: np.ndarray
    log_ratio: np.ndarray
    se_log_ratio: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    df_residual: np.ndarray
    sigma: np.ndarray
    estimable: np.ndarray


def ancova_gmr_batch(
    y: ArrayLike,
    baseline: ArrayLike,
    treated: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    conf_level: float = 0.95,
) -> AncovaBatchResult:
    """``ancova_gmr`` (``log y ~ arm + log baseline``, no factors) for every trial, vectorised.

    ``y`` and ``baseline`` are positive titres and ``treated`` is 1 for the treatment arm and
    0 for the reference, all (trials, patients) arrays; ``mask`` marks real patients. The
    least-squares fit uses centred sums per trial (closed form for two slopes) instead of a QR
    per trial; collinearity is judged, like the QR's rank test, by log baseline's residual
    norm after arm relative to 1e-7 × √n (the intercept column's norm).
    """
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    valid, a = _arrays(mask, y=y, baseline=baseline, treated=treated)
    with np.errstate(invalid="ignore"):
        _check(a["y"] > 0, valid, "y must be positive to take logs")
        _check(a["baseline"] > 0, valid, "baseline must be positive to take logs")
        _check(np.isin(a["treated"], (0.0, 1.0)), valid, "treated must be 0 or 1")
    arm = np.where(valid, a["treated"], 0.0)
    n = valid.sum(axis=1)
    n_treated = arm.sum(axis=1)

    def centred(v: np.ndarray) -> np.ndarray:
        v = np.where(valid, v, 0.0)
        return np.where(valid, v - (v.sum(axis=1) / np.maximum(n, 1))[:, None], 0.0)

    with np.errstate(divide="ignore", invalid="ignore"):
        log_y = np.log(np.where(valid, a["y"], 1.0))
        yc, ac, bc = centred(log_y), centred(arm), centred(np.log(np.where(valid, a["baseline"], 1.0)))
        saa, sab, sbb = (ac * ac).sum(1), (ac * bc).sum(1), (bc * bc).sum(1)
        say, sby = (ac * yc).sum(1), (bc * yc).sum(1)
        det = saa * sbb - sab * sab
        slope_arm = (sbb * say - sab * sby) / det
        slope_base = (saa * sby - sab * say) / det
        resid = yc - slope_arm[:, None] * ac - slope_base[:, None] * bc
        rss = (resid * resid).sum(1)
        df = n - 3
        sigma2 = rss / df
        se = np.sqrt(sigma2 * sbb / det)
        base_after_arm = np.sqrt(np.maximum(det / saa, 0.0))  # |R| diagonal of log baseline
        estimable = (
            (n_treated >= 2) & (n - n_treated >= 2) & (df >= 1)
            & (base_after_arm > _RANK_TOL * np.sqrt(n))
            & (np.sqrt(rss) > 1e-10 * np.sqrt((log_y * log_y).sum(1)))
        )
    nan = np.where(estimable, 1.0, np.nan)
    log_ratio, se = slope_arm * nan, se * nan
    t = log_ratio / se
    half = stats.t.ppf(0.5 + conf_level / 2, np.maximum(df, 1)) * se
    return AncovaBatchResult(
        ratio=np.exp(log_ratio),
        ratio_lower=np.exp(log_ratio - half),
        ratio_upper=np.exp(log_ratio + half),
        log_ratio=log_ratio,
        se_log_ratio=se,
        t=t,
        p_value=2 * stats.t.sf(np.abs(t), np.maximum(df, 1)),
        df_residual=df,
        sigma=np.sqrt(sigma2) * nan,
        estimable=estimable,
    )
