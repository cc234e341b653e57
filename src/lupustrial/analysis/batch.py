"""Cox and ANCOVA fitted for many simulated trials at once, equal to the single fits.

Designing a trial means analysing thousands of simulated trials of a few dozen patients; one
:func:`~lupustrial.analysis.cox.cox` call per trial spends its time in Python overhead. Here
each model is fitted for all trials in one call on arrays of shape (trials, patients): the
ANCOVA by one QR of the stacked design matrices; Cox in one loop compiled by numba, each
trial alone with every decision of the single fit (R's step-halving, convergence test,
Cholesky pivot rule, Firth's step-halving), so the estimates equal T single fits up to
rounding. A compiled loop costs each trial only its own Newton steps, where numpy passes
over all trials cost each pass's bookkeeping too. The first call in a fresh environment
compiles it (a few seconds; numba's cache in ``__pycache__`` serves later processes). The
model is the trial-design one: a single covariate (the treatment indicator) for Cox,
``log y ~ arm + log baseline + factors`` for the ANCOVA.

Trials may have different numbers of patients: pass arrays padded to a common width with a
boolean ``mask`` (True = a real patient); values in padded cells are ignored, NaN included.
A trial the single fit would refuse (no events, no information, too few patients) is not
dropped: its ``estimable`` is False and its results are NaN.

The raw-scale ANCOVA (:func:`ancova_batch`) shares the log one's least squares, and
:func:`logrank_batch` is survdiff's test. The registered methods' batched twins
(:class:`lupustrial.analysis.methods.Batched`) read :class:`VisitBatch`,
:class:`TimeToEventBatch`, :class:`ResponderBatch` or :class:`CountBatch` and return a
:class:`BatchTest`; the logistic and count models' twins are in :mod:`.batch_glm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Self

import numpy as np
import pandas as pd
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


_compiled = njit(cache=True, nogil=True, error_model="numpy")  # numpy's error model: 1/0 = inf, as in the single fit


@_compiled
def _sort_trial(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, order: np.ndarray, size: int,
    xs: np.ndarray, dead: np.ndarray, block_end: np.ndarray,
) -> tuple[int, float, float, float, bool, bool]:
    """One trial as ``risk_sets`` prepares a data set; its first ``size`` rows in ``order`` are real.

    Fills the rows by descending time: ``xs`` (x centred and scaled), ``dead`` (an event) and
    ``block_end`` (the last row tied at its time: a risk set ends there). Returns the number of
    events, the scale, the smallest and largest x and whether the likelihood is unbounded as
    β → +∞ and as β → -∞. For one covariate that is exact (the single fit's LP agrees except
    within its 1e-7 feasibility tolerance): β → +∞ is unbounded iff every event's x is the
    largest in its risk set, a running maximum at the end of its block; β → -∞ likewise.
    """
    total, centre = 0.0, False
    for k in range(size):
        total += x[order[k]]
        centre |= x[order[k]] not in _NOCENTER
    mean = total / size if centre else 0.0
    spread = 0.0
    for k in range(size):
        xs[k] = x[order[k]] - mean
        spread += abs(xs[k])
    scale = size / spread if centre and spread > 0 else 1.0
    high, low, dead_min, dead_max, deaths = -np.inf, np.inf, np.inf, -np.inf, 0
    bounded_up, bounded_down = False, False
    for k in range(size):
        xs[k] *= scale
        high, low = max(high, xs[k]), min(low, xs[k])
        dead[k] = event[order[k]] == 1
        if dead[k]:
            deaths += 1
            dead_min, dead_max = min(dead_min, xs[k]), max(dead_max, xs[k])
        block_end[k] = k == size - 1 or time[order[k + 1]] != time[order[k]]
        if block_end[k]:
            bounded_up |= dead_min < high
            bounded_down |= dead_max > low
            dead_min, dead_max = np.inf, -np.inf
    return deaths, scale, low, high, not bounded_up, not bounded_down


@_compiled
def _derivatives(
    xs: np.ndarray, dead: np.ndarray, block_end: np.ndarray, size: int, deaths: int, low: float, high: float,
    efron: bool, beta: float,
) -> tuple[float, float, float, float]:
    """:func:`~lupustrial.analysis.cox.partial_likelihood` of one sorted trial (one covariate):
    log-likelihood, score, information and ∂I/∂β (for Firth; a few flops per term) at ``beta``.

    One pass over the rows accumulates the risk-set sums of w x^k (w = exp(βx)) and, within a
    block of tied times, its deaths' sums; at the block's end come its terms: Efron's d terms
    "risk-set sum minus (r/d) × deaths' sum", or Breslow's one term counted d times.
    """
    shift = max(max(beta * high, beta * low) - 500.0, 0.0)  # = max(max η - 500, 0), against overflow
    # exp is most of the cost: a 0/1 (treatment) covariate needs only the extremes' two values
    w_low, w_high = np.exp(beta * low - shift), np.exp(beta * high - shift)
    s0 = s1 = s2 = s3 = d0 = d1 = d2 = d3 = dead_x = 0.0
    tied = 0
    loglik = score = information = d_information = 0.0
    for k in range(size):
        v = xs[k]
        w = w_low if v == low else w_high if v == high else np.exp(beta * v - shift)
        wx = w * v
        wx2 = wx * v
        wx3 = wx2 * v
        s0 += w
        s1 += wx
        s2 += wx2
        s3 += wx3
        if dead[k]:
            tied += 1
            dead_x += v
            d0 += w
            d1 += wx
            d2 += wx2
            d3 += wx3
        if block_end[k] and tied:
            loglik += beta * dead_x
            score += dead_x
            weight = 1.0 if efron else float(tied)
            for r in range(tied if efron else 1):
                f = r / tied
                a0 = s0 - f * d0
                m = (s1 - f * d1) / a0
                e2 = (s2 - f * d2) / a0
                loglik -= weight * np.log(a0)
                score -= weight * m
                information += weight * (e2 - m * m)
                d_information += weight * ((s3 - f * d3) / a0 - 3 * e2 * m + 2 * m * m * m)
            d0 = d1 = d2 = d3 = dead_x = 0.0
            tied = 0
    return loglik - shift * deaths, score, information, d_information


@_compiled
def _newton_step(score: float, information: float) -> float:
    """R's ``cholesky2`` + ``chsolve2`` for one covariate: no step when the pivot is dropped."""
    return score / information if np.isfinite(information) and information > 0 else 0.0


@_compiled
def _penalised(
    xs: np.ndarray, dead: np.ndarray, block_end: np.ndarray, size: int, deaths: int, low: float, high: float,
    efron: bool, beta: float,
) -> tuple[float, float, float]:
    """Firth's l(β) + ½ log I(β), its gradient and I(β), as the single ``_penalised``."""
    loglik, score, information, d_information = _derivatives(xs, dead, block_end, size, deaths, low, high, efron, beta)
    if not (np.isfinite(loglik) and information > 0):
        return -np.inf, np.nan, information
    return loglik + 0.5 * np.log(information), score + 0.5 * d_information / information, information


@_compiled
def _newton_r(trial: tuple, loglik: float, score: float, information: float, eps: float,
              iter_max: int) -> tuple[float, float, float, int, bool]:
    """R's ``coxfit6`` for one sorted ``trial`` (the single ``_newton_r``, decision for decision):
    Newton from β = 0, where the derivatives are given, step-halving when the log-likelihood
    falls, stop on its relative change ≤ ``eps``. Returns β, loglik, I, iterations, converged."""
    beta, best, halving = 0.0, loglik, 0
    new = _newton_step(score, information)
    for iteration in range(1, iter_max + 1):
        loglik, score, information, _ = _derivatives(*trial, new)
        finite = np.isfinite(loglik) and np.isfinite(score) and np.isfinite(information)
        if finite and abs(1 - best / loglik) <= eps:  # loglik 0: inf/nan, no stop
            return new, loglik, information, iteration, True
        if not finite or loglik < best:
            halving += 1
            new = (new + halving * beta) / (halving + 1.0)
        else:
            halving, best, beta = 0, loglik, new
            new = new + _newton_step(score, information)
    loglik, score, information, _ = _derivatives(*trial, beta)
    return beta, loglik, information, iter_max, False


@_compiled
def _firth(trial: tuple, iter_max: int) -> tuple[float, float, float, int, bool, float]:
    """The single ``_maximise_penalised`` from β = 0 for one sorted ``trial``: Newton steps with
    I(β) and step-halving. Returns β, penalised value, I, iterations, converged, value at 0."""
    beta = 0.0
    value, gradient, information = _penalised(*trial, beta)
    null_value = value
    for iteration in range(1, iter_max + 1):
        step = gradient / information
        for _ in range(30):  # after 30 halvings the last point is taken, as in the single fit
            new = beta + step
            new_value, new_gradient, new_information = _penalised(*trial, new)
            if new_value >= value - 1e-12 * abs(value):
                break
            step /= 2
        beta, value, gradient, information = new, new_value, new_gradient, new_information
        if abs(step) <= FIRTH_STEP_TOL:
            return beta, value, information, iteration, True, null_value
    return beta, value, information, iter_max, False, null_value


@_compiled
def _fit_trials(
    time: np.ndarray, event: np.ndarray, x: np.ndarray, order: np.ndarray, size: np.ndarray,
    efron: bool, firth: bool, eps: float, iter_max: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every trial sorted and fitted alone (ML or Firth), in one compiled loop.

    Returns per trial: rows scale, null log-likelihood, score and information, β, log-likelihood
    (penalised for Firth), Firth's value at β = 0, information (nan where not fitted); rows
    estimable, converged, unbounded as β → +∞, as β → -∞; iterations; events. A trial the
    single fit would refuse (no events, no information at β = 0) is not fitted nor estimable.
    """
    n_trials, n = time.shape
    out = np.full((8, n_trials), np.nan)
    flags = np.zeros((4, n_trials), dtype=np.bool_)
    iterations = np.zeros(n_trials, dtype=np.int64)
    n_events = np.zeros(n_trials, dtype=np.int64)
    xs, dead, block_end = np.empty(n), np.empty(n, dtype=np.bool_), np.empty(n, dtype=np.bool_)
    for i in range(n_trials):
        deaths, scale, low, high, up, down = _sort_trial(time[i], event[i], x[i], order[i], size[i], xs, dead,
                                                         block_end)
        n_events[i], flags[2, i], flags[3, i] = deaths, up, down
        trial = (xs, dead, block_end, size[i], deaths, low, high, efron)
        loglik, score, information, _ = _derivatives(*trial, 0.0)
        if deaths == 0 or not (np.isfinite(information) and information > 0):
            continue
        out[0, i], out[1, i], out[2, i], out[3, i] = scale, loglik, score, information
        if firth:
            out[4, i], out[5, i], out[7, i], iterations[i], flags[1, i], out[6, i] = _firth(trial, iter_max)
        else:
            out[4, i], out[5, i], out[7, i], iterations[i], flags[1, i] = _newton_r(
                trial, loglik, score, information, eps, iter_max)
        flags[0, i] = True
    return out, flags, iterations, n_events


def _chi2_1_sf(statistic: np.ndarray) -> np.ndarray:
    """P(χ²₁ > s) as erfc(√(s/2)): ``chdtrc(1, s)`` to ~1e-14, 100× faster (its incomplete gamma
    cost more than the fits); a rounding-negative s gives 1, as there."""
    return special.erfc(np.sqrt(np.maximum(statistic, 0.0) / 2))


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
    order = np.argsort(np.where(valid, -t, np.inf), axis=1)  # numpy's vectorised sort beats a compiled one
    out, flags, iterations, n_events = _fit_trials(  # one memory layout and type: one compiled kernel
        *(np.ascontiguousarray(v) for v in (t, e, x, order)), valid.sum(axis=1), ties == "efron", firth,
        float(eps), int(iter_max or (FIRTH_ITER_MAX if firth else 20)),
    )
    estimable, converged, up, down = flags
    rows = np.flatnonzero(estimable)
    scale, loglik_null, u0, i0, beta, loglik, penalised_null, information = out[:, rows]
    up, down = up[rows], down[rows]
    if firth:
        p_fit = _chi2_1_sf(2 * (loglik - penalised_null))
        log_scale = np.log(scale)
        loglik, loglik_null = loglik - log_scale, penalised_null - log_scale
        lr_p = p_fit
    else:
        lr_p = _chi2_1_sf(2 * (loglik - loglik_null))
    kept = np.isfinite(information) & (information > 0)
    var = np.where(kept, 1 / np.where(kept, information, 1.0), 0.0) * scale**2
    coef = beta * scale
    se = np.sqrt(var)
    if not firth:
        coef = np.where(up & down, np.nan, np.where(up, np.inf, np.where(down, -np.inf, coef)))
        se = np.where(up | down, np.nan, se)
    z = coef / se
    if not firth:
        p_fit = 2 * special.ndtr(-np.abs(z))  # stats.norm.sf without its per-call overhead

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
        score_p_value=spread(_chi2_1_sf(u0 * u0 / i0)),
        n=valid.sum(axis=1),
        n_events=n_events,
        iterations=iterations,
        converged=converged,
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


def _factor_columns(
    factors: Mapping[str, ArrayLike], valid: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Treatment-contrast dummies of every factor, per trial as :func:`ancova_gmr` builds them.

    Labels are compared as strings. Every trial has a column per level seen in any trial; the
    columns of its first present level (its reference: the single fit sorts the levels it sees)
    and of levels it lacks are all zero there, and marked dropped. Returns the columns
    (trials, patients, levels) per factor, the dropped masks (trials, levels), and whether
    each trial sees at least two levels of every factor (else the single fit refuses).
    """
    columns, dropped = [], []
    enough = np.ones(valid.shape[0], dtype=bool)
    for name, values in factors.items():
        raw = np.asarray(values, dtype=object)
        if raw.shape != valid.shape:
            raise AnalysisError(f"factors[{name!r}] must have shape {valid.shape}, got {raw.shape}")
        _check(~pd.isna(raw), valid, f"factors[{name!r}] is missing")
        levels, codes = np.unique(raw[valid].astype(str), return_inverse=True)
        code = np.full(valid.shape, -1)
        code[valid] = codes
        dummies = (code[:, :, None] == np.arange(len(levels))).astype(float)
        present = dummies.any(axis=1)
        reference = np.arange(len(levels)) == present.argmax(axis=1)[:, None]
        dummies *= ~reference[:, None, :]
        enough &= present.sum(axis=1) >= 2
        columns.append(dummies)
        dropped.append(~present | reference)
    return columns, dropped, enough


@dataclass(frozen=True)
class _LeastSquares:
    """The arm coefficient of ``response ~ arm + covariate + factors`` per trial (T,), before
    reporting: estimate and SE (nan where not estimable), residual df and SD."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    sigma: np.ndarray
    estimable: np.ndarray


def _least_squares_batch(response: np.ndarray, covariate: np.ndarray, treated: np.ndarray, valid: np.ndarray,
                         factors: Mapping[str, ArrayLike] | None) -> _LeastSquares:
    """One least-squares fit per trial, batched: a QR of the stacked design matrices
    (T, patients, terms), on (trials, patients) arrays already on the model's scale (zero in
    padded cells). A column that is zero in a trial (a factor level it lacks, or its reference
    level) gets a private row of its own, so it is fitted exactly and changes neither the other
    coefficients nor the residuals: the fit equals the single one on the levels that trial has.
    Collinearity is judged, as the single fit's pivoted QR does, by each column's residual norm
    after the others relative to 1e-7 × the largest column norm.
    """
    factor_cols, factor_dropped, enough_levels = _factor_columns(factors or {}, valid)
    arm = np.where(valid, treated, 0.0)
    n = valid.sum(axis=1)
    n_treated = arm.sum(axis=1)
    x = np.concatenate([np.stack([valid.astype(float), arm, covariate], axis=2), *factor_cols], axis=2)
    n_trials, width, p = x.shape
    dropped = np.concatenate([np.zeros((n_trials, 3), dtype=bool), *factor_dropped], axis=1)
    private = np.zeros((n_trials, p, p))
    private[:, np.arange(p), np.arange(p)] = dropped
    q, r = np.linalg.qr(np.concatenate([x, private], axis=1))
    qty = np.einsum("tnp,tn->tp", q[:, :width], response)
    diag = np.abs(np.diagonal(r, axis1=1, axis2=2))
    full_rank = np.all(dropped | (diag > _RANK_TOL * np.linalg.norm(x, axis=1).max(axis=1)[:, None]), axis=1)
    r_inv = np.linalg.inv(np.where(np.eye(p, dtype=bool) & (diag[:, None, :] == 0), 1.0, r))
    beta = np.einsum("tij,tj->ti", r_inv, qty)
    resid = response - np.einsum("tnp,tp->tn", x, beta)
    rss = (resid * resid).sum(1)
    df = n - (p - dropped.sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma2 = rss / df
        se = np.sqrt(sigma2 * (r_inv[:, 1, :] ** 2).sum(1))
        sigma = np.sqrt(sigma2)
    estimable = (
        (n_treated >= 2) & (n - n_treated >= 2) & (df >= 1) & enough_levels & full_rank
        & (np.sqrt(rss) > 1e-10 * np.sqrt((response * response).sum(1)))
    )
    nan = np.where(estimable, 1.0, np.nan)
    return _LeastSquares(beta[:, 1] * nan, se * nan, df, sigma * nan, estimable)


def _t_interval(fit: _LeastSquares, conf_level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, two-sided p-value, lower, upper) of the arm coefficient, on ``df_residual`` df."""
    df = np.maximum(fit.df, 1)
    t = fit.estimate / fit.se
    half = stats.t.ppf(0.5 + conf_level / 2, df) * fit.se
    return t, 2 * stats.t.sf(np.abs(t), df), fit.estimate - half, fit.estimate + half


def _ancova_inputs(mask: ArrayLike | None, conf_level: float, **named: ArrayLike) -> tuple[np.ndarray, dict]:
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    valid, a = _arrays(mask, **named)
    with np.errstate(invalid="ignore"):
        _check(np.isin(a["treated"], (0.0, 1.0)), valid, "treated must be 0 or 1")
    return valid, a


def ancova_gmr_batch(
    y: ArrayLike,
    baseline: ArrayLike,
    treated: ArrayLike,
    *,
    factors: Mapping[str, ArrayLike] | None = None,
    mask: ArrayLike | None = None,
    conf_level: float = 0.95,
) -> AncovaBatchResult:
    """``ancova_gmr`` (``log y ~ arm + log baseline + factors``) for every trial, vectorised.

    ``y`` and ``baseline`` are positive titres and ``treated`` is 1 for the treatment arm and
    0 for the reference, all (trials, patients) arrays; ``factors`` maps names to (trials,
    patients) arrays of level labels (e.g. stratification factors); ``mask`` marks real
    patients. One least-squares fit per trial (:func:`_least_squares_batch`). The ratio of
    adjusted geometric means is exp of the arm coefficient whatever the factor weights, since
    both arms share the factor grid.
    """
    valid, a = _ancova_inputs(mask, conf_level, y=y, baseline=baseline, treated=treated)
    with np.errstate(invalid="ignore"):
        _check(a["y"] > 0, valid, "y must be positive to take logs")
        _check(a["baseline"] > 0, valid, "baseline must be positive to take logs")
    log_y = np.log(np.where(valid, a["y"], 1.0)) * valid
    log_base = np.log(np.where(valid, a["baseline"], 1.0)) * valid
    fit = _least_squares_batch(log_y, log_base, a["treated"], valid, factors)
    t, p_value, lower, upper = _t_interval(fit, conf_level)
    return AncovaBatchResult(
        ratio=np.exp(fit.estimate),
        ratio_lower=np.exp(lower),
        ratio_upper=np.exp(upper),
        log_ratio=fit.estimate,
        se_log_ratio=fit.se,
        t=t,
        p_value=p_value,
        df_residual=fit.df,
        sigma=fit.sigma,
        estimable=fit.estimable,
    )


@dataclass(frozen=True)
class AncovaRawBatchResult:
    """Per-trial difference of adjusted means (treatment − reference), as :func:`~lupustrial.analysis.ancova`;
    ``estimable`` as in :class:`AncovaBatchResult`, results nan where it is False."""

    difference: np.ndarray
    difference_lower: np.ndarray
    difference_upper: np.ndarray
    se_difference: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    df_residual: np.ndarray
    sigma: np.ndarray
    estimable: np.ndarray


def ancova_batch(y: ArrayLike, baseline: ArrayLike, treated: ArrayLike, *,
                 factors: Mapping[str, ArrayLike] | None = None, mask: ArrayLike | None = None,
                 conf_level: float = 0.95) -> AncovaRawBatchResult:
    """``ancova`` (``y ~ arm + baseline + factors``, the raw scale) for every trial, vectorised:
    :func:`ancova_gmr_batch`'s least squares on the values as measured. Arrays as there;
    ``y`` and ``baseline`` need only be finite."""
    valid, a = _ancova_inputs(mask, conf_level, y=y, baseline=baseline, treated=treated)
    with np.errstate(invalid="ignore"):
        _check(np.isfinite(a["y"]) & np.isfinite(a["baseline"]), valid, "y and baseline must be finite")
    fit = _least_squares_batch(np.where(valid, a["y"], 0.0), np.where(valid, a["baseline"], 0.0), a["treated"],
                               valid, factors)
    t, p_value, lower, upper = _t_interval(fit, conf_level)
    return AncovaRawBatchResult(fit.estimate, lower, upper, fit.se, t, p_value, fit.df, fit.sigma, fit.estimable)


@dataclass(frozen=True)
class LogRankBatchResult:
    """Per-trial two-group log-rank test (arrays of length T), as :func:`~lupustrial.analysis.logrank`.

    ``observed`` and ``expected`` are the treated group's events and their expectation under
    the null; ``estimable`` is False where the single test would raise (no events, or one
    group empty); results are nan there.
    """

    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chisq: np.ndarray
    p_value: np.ndarray
    estimable: np.ndarray


def logrank_batch(time: ArrayLike, event: ArrayLike, treated: ArrayLike, *,
                  mask: ArrayLike | None = None) -> LogRankBatchResult:
    """``logrank(time[i], event[i], treated[i])`` for every trial i, vectorised (R ``survdiff``).

    All arrays are (trials, patients); ``treated`` is 1 for one group and 0 for the other. Each
    distinct event time contributes the hypergeometric mean and variance of the treated group's
    events among those at risk (Mantel–Haenszel), computed for all trials at once on each row
    sorted by time, with ties grouped by equal times.
    """
    valid, a = _arrays(mask, time=time, event=event, treated=treated)
    _check(np.isfinite(a["time"]) & (a["time"] >= 0), valid, "time must be finite and >= 0")
    _check(np.isin(a["event"], (0.0, 1.0)) & np.isin(a["treated"], (0.0, 1.0)), valid,
           "event and treated must be 0 or 1")
    t = np.where(valid, a["time"], np.inf)  # padding sorts last and is never at risk
    order = np.argsort(t, axis=1, kind="stable")
    t = np.take_along_axis(t, order, axis=1)
    d = np.take_along_axis(np.where(valid, a["event"], 0.0), order, axis=1)
    g = np.take_along_axis(np.where(valid, a["treated"], 0.0), order, axis=1)
    real = np.take_along_axis(valid, order, axis=1).astype(float)
    # At risk at each position = real patients at or after it; a tie group is read at its first row.
    n_risk = np.cumsum(real[:, ::-1], axis=1)[:, ::-1]
    n1_risk = np.cumsum((real * g)[:, ::-1], axis=1)[:, ::-1]
    first = np.ones_like(t, dtype=bool)
    first[:, 1:] = t[:, 1:] != t[:, :-1]
    group = np.cumsum(first, axis=1) - 1  # tie-group id within the row
    width = t.shape[1]
    rows = np.repeat(np.arange(t.shape[0]), width)
    dj = np.zeros((t.shape[0], width))
    d1j = np.zeros((t.shape[0], width))
    np.add.at(dj, (rows, group.ravel()), d.ravel())
    np.add.at(d1j, (rows, group.ravel()), (d * g).ravel())
    nj = np.zeros((t.shape[0], width))
    n1j = np.zeros((t.shape[0], width))
    nj[np.nonzero(first)[0], group[first]] = n_risk[first]
    n1j[np.nonzero(first)[0], group[first]] = n1_risk[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(nj > 0, n1j / nj, 0.0)
        expected = (dj * share).sum(axis=1)
        var = np.where(nj > 1, dj * share * (1.0 - share) * (nj - dj) / (nj - 1.0), 0.0).sum(axis=1)
        observed = d1j.sum(axis=1)
        chisq = (observed - expected) ** 2 / var
    n1 = (a["treated"] * valid).sum(axis=1)
    estimable = (d.sum(axis=1) > 0) & (n1 > 0) & (n1 < valid.sum(axis=1)) & (var > 0)
    nan = np.where(estimable, 1.0, np.nan)
    return LogRankBatchResult(observed * nan, expected * nan, var * nan, chisq * nan,
                              _chi2_1_sf(chisq) * nan, estimable)


# --- what a method's batched twin reads and returns (lupustrial.analysis.methods.Batched) ----------

class _Patients:
    """A dataclass of many trials' (trials, patients) arrays (``factors`` a dict of them)."""

    def first(self, n: int) -> Self:
        """The first ``n`` patients of every trial."""
        cut = {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]
        cut = {k: {name: v[:, :n] for name, v in value.items()} if isinstance(value, dict) else value[:, :n]
               for k, value in cut.items()}
        return replace(self, **cut)  # type: ignore[type-var]


@dataclass(frozen=True)
class VisitBatch(_Patients):
    """Many trials' values at an endpoint's visit, (trials, patients) arrays: ``value`` and
    ``baseline`` (nan: none, the patient is not analysed, as a subject without the record),
    ``treated`` 1 for the treatment arm and 0 for the reference, ``mask`` True for a real
    patient, ``factors`` name -> level labels (the endpoint's ``factors``)."""

    value: np.ndarray
    baseline: np.ndarray
    treated: np.ndarray
    mask: np.ndarray
    factors: dict[str, np.ndarray]


@dataclass(frozen=True)
class TimeToEventBatch(_Patients):
    """Many trials' times to event, (trials, patients) arrays: ``time`` (days), ``event`` 1/0,
    ``treated`` 1/0 and ``mask`` as in :class:`VisitBatch`."""

    time: np.ndarray
    event: np.ndarray
    treated: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class ResponderBatch(_Patients):
    """Many trials' responses at an endpoint's visit, (trials, patients) arrays: ``response`` 1/0
    (nan: not evaluable, the patient is not analysed, as a record left out of ADRS), ``treated``,
    ``mask`` and ``factors`` as in :class:`VisitBatch`. A simulator's (trials, patients) array of
    one response parameter (e.g. SRI-4 at week 52, nan after withdrawal) is ``response`` as is."""

    response: np.ndarray
    treated: np.ndarray
    mask: np.ndarray
    factors: dict[str, np.ndarray]


@dataclass(frozen=True)
class CountBatch(_Patients):
    """Many trials' event counts over follow-up, (trials, patients) arrays: ``count`` (events,
    whole numbers >= 0) observed over ``exposure_years`` (> 0; days / 365.25), ``treated``,
    ``mask`` and ``factors`` as in :class:`VisitBatch` (every real patient is analysed)."""

    count: np.ndarray
    exposure_years: np.ndarray
    treated: np.ndarray
    mask: np.ndarray
    factors: dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchTest:
    """A batched twin's test of each trial, arrays (T,): the two-sided ``p_value`` and the
    ``estimate`` of treatment vs reference on the method's scale (its ``Batched.estimate``:
    log GMR, difference, log HR), negative when the treatment arm is lower; nan where the
    single fit would refuse, ±inf where a Cox or logistic likelihood is monotone. Where the method
    has them: the residual SD ``sigma`` (ANCOVA), the ``events`` and the ``monotone`` flag (Cox);
    each arm's crude ``control_rate`` and ``treatment_rate`` (proportion responding, or events
    per patient-year), the mean ``exposure`` in years per patient and the negative binomial
    ``dispersion`` 1 / theta (counts)."""

    p_value: np.ndarray
    estimate: np.ndarray
    sigma: np.ndarray | None = None
    events: np.ndarray | None = None
    monotone: np.ndarray | None = None
    control_rate: np.ndarray | None = None
    treatment_rate: np.ndarray | None = None
    exposure: np.ndarray | None = None
    dispersion: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The fields the method has, by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
