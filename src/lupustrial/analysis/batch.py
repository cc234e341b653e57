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
from functools import cached_property

import numpy as np
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


@dataclass(frozen=True)
class _Trials:
    """Each trial sorted by descending time (padding last), reduced to what β-steps need.

    As in :class:`~lupustrial.analysis.cox.RiskSets`, the risk set of an event is its trial's
    rows up to the last row tied with it, so each event keeps that row (``ev_last``, into
    per-trial cumulative sums), its run of tied events (``ev_tied``) and its Efron fraction
    (its rank in the run over the run's length; 0 for Breslow).
    """

    x: np.ndarray  # (T, n) centred and scaled covariate, 0 in padding
    real: np.ndarray  # (T, n) 1.0 for a patient, 0.0 for padding
    x_low: np.ndarray  # (T,) smallest and ...
    x_high: np.ndarray  # (T,) ... largest x of the trial (padding's 0 included)
    n_events: np.ndarray  # (T,)
    up: np.ndarray  # (T,) likelihood unbounded as β → +∞ ...
    down: np.ndarray  # (T,) ... as β → -∞
    scale: np.ndarray  # (T,)
    ev_trial: np.ndarray  # (E,) trial of each event, in row-major order
    ev_x: np.ndarray  # (E,)
    ev_row: np.ndarray  # (E,) sorted row of the event ...
    ev_block_last: np.ndarray  # (E,) ... and the last row tied with it
    ev_new_run: np.ndarray  # (E,) first event of a run tied at one time
    ev_frac: np.ndarray  # (E,)
    binary: bool  # every x is 0 or 1 (a treatment indicator): then w x^k = w x exactly

    @cached_property
    def ev_last(self) -> np.ndarray:
        return self.ev_trial * self.x.shape[1] + self.ev_block_last

    @cached_property
    def ev_tied(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events tied with another, the first of each such run among them, and their runs."""
        run = np.cumsum(self.ev_new_run) - 1
        members = np.flatnonzero(np.bincount(run)[run] > 1)
        new = self.ev_new_run[members]
        return members, np.flatnonzero(new), np.cumsum(new) - 1

    def take(self, rows: np.ndarray) -> _Trials:
        """The trials ``rows`` (sorted), renumbered 0..len(rows)-1."""
        renumber = np.full(self.x.shape[0], -1)
        renumber[rows] = np.arange(rows.size)
        kept = renumber[self.ev_trial] >= 0
        per_trial = ("x", "real", "x_low", "x_high", "n_events", "up", "down", "scale")
        per_event = ("ev_x", "ev_row", "ev_block_last", "ev_new_run", "ev_frac")
        return _Trials(
            **{f: getattr(self, f)[rows] for f in per_trial},
            ev_trial=renumber[self.ev_trial[kept]],
            **{f: getattr(self, f)[kept] for f in per_event},
            binary=self.binary,
        )


def _sort_trials(time: np.ndarray, event: np.ndarray, x: np.ndarray, valid: np.ndarray, ties: Ties) -> _Trials:
    """Sort, index tied blocks, and centre/scale x per trial as ``risk_sets`` does."""
    key = np.where(valid, -time, np.inf)
    order = np.argsort(key, axis=1)  # the order of tied rows only changes rounding
    key = np.take_along_axis(key, order, axis=1)
    valid = key < np.inf
    e = np.where(valid, np.take_along_axis(event, order, axis=1), 0.0)
    xs = np.where(valid, np.take_along_axis(x, order, axis=1), 0.0)
    n_trials, n = key.shape
    size = valid.sum(axis=1)
    centre = ~np.all(np.logical_or.reduce([xs == c for c in _NOCENTER]) | ~valid, axis=1)
    mean = xs.sum(axis=1) / np.maximum(size, 1)
    xc = np.where(valid, xs - np.where(centre, mean, 0.0)[:, None], 0.0)
    spread = np.abs(xc).sum(axis=1)
    scale = np.where(centre & (spread > 0), size / np.where(spread > 0, spread, 1.0), 1.0)
    xc *= scale[:, None]
    # the last row tied with an event: the end of its block, found through flat block numbers
    block_start = np.hstack([np.ones((n_trials, 1), dtype=bool), key[:, 1:] != key[:, :-1]]).ravel()
    block_last = np.r_[np.flatnonzero(block_start)[1:] - 1, block_start.size - 1]
    ev_flat = np.flatnonzero(e)
    ev_trial, ev_row = np.divmod(ev_flat, n)
    ev_x, ev_last = xc.ravel()[ev_flat], block_last[np.cumsum(block_start)[ev_flat] - 1] - ev_trial * n
    new_run = np.r_[True, (np.diff(ev_trial) != 0) | (np.diff(ev_last) != 0)]
    frac = np.zeros(ev_x.size)
    if ties == "efron":
        run_start = np.flatnonzero(new_run)
        run_length = np.diff(np.r_[run_start, ev_x.size])
        position = np.arange(ev_x.size)
        frac = (position - np.repeat(run_start, run_length)) / np.repeat(run_length, run_length)
    # monotone_directions' criterion for one covariate (exact here; the single fit's LP agrees
    # except within its 1e-7 feasibility tolerance): β → +∞ is unbounded iff every event's x
    # is the largest in its risk set, a running maximum over the sorted rows.
    # (padding, x = 0, comes after every event's block, so it only enters x_low/x_high, where a
    # 0 cannot move the overflow shift max(max η - 500, 0))
    high = np.maximum.accumulate(xc, axis=1)
    low = np.minimum.accumulate(xc, axis=1)
    violations = [np.bincount(ev_trial, ev_x < high[ev_trial, ev_last], minlength=n_trials),
                  np.bincount(ev_trial, ev_x > low[ev_trial, ev_last], minlength=n_trials)]
    return _Trials(
        x=xc,
        real=valid.astype(float),
        x_low=low[:, -1],
        x_high=high[:, -1],
        n_events=e.sum(axis=1),
        up=violations[0] == 0,
        down=violations[1] == 0,
        scale=scale,
        ev_trial=ev_trial,
        ev_x=ev_x,
        ev_row=ev_row,
        ev_block_last=ev_last,
        ev_new_run=new_run,
        ev_frac=frac,
        binary=bool(np.all((xc == 0) | (xc == 1))),
    )


@dataclass(frozen=True)
class _Derivatives:
    loglik: np.ndarray  # (T,)
    score: np.ndarray  # (T,)
    information: np.ndarray  # (T,)
    d_information: np.ndarray | None  # (T,) ∂I/∂β, for Firth

    def take(self, rows: np.ndarray) -> _Derivatives:
        return _Derivatives(*(None if v is None else v[rows] for v in vars(self).values()))


def _derivatives(tr: _Trials, beta: np.ndarray, third: bool = False) -> _Derivatives:
    """Batched :func:`~lupustrial.analysis.cox.partial_likelihood` for one covariate.

    One term per event: Efron's "risk-set sum minus frac × tied-deaths sum", or for Breslow
    the risk-set sum once per death (R's weight d on the block's single term). Per-trial
    cumulative sums (never across trials, which would cost precision) give every risk set.
    """
    n_trials, n = tr.x.shape
    shift = np.maximum(np.maximum(beta * tr.x_high, beta * tr.x_low) - 500.0, 0.0)  # = max η - 500
    powers = 4 if third else 3
    f = np.empty((2 if tr.binary else powers, n_trials, n))
    np.exp(tr.x * beta[:, None] - shift[:, None], out=f[0])
    f[0] *= tr.real
    for k in range(1, f.shape[0]):
        np.multiply(f[k - 1], tr.x, out=f[k])
    sums = np.cumsum(f, axis=2).reshape(f.shape[0], -1)[:, tr.ev_last]
    if tr.ev_frac.any():  # Efron with ties: subtract the tied deaths' sums
        tied, starts, run = tr.ev_tied
        rows = tr.ev_trial[tied] * n + tr.ev_row[tied]
        dead = np.add.reduceat(f.reshape(f.shape[0], -1)[:, rows], starts, axis=1)
        sums[:, tied] -= tr.ev_frac[tied] * dead[:, run]
    if tr.binary:
        sums = sums[[0] + [1] * (powers - 1)]
    m, e2 = sums[1] / sums[0], sums[2] / sums[0]

    def per_trial(values: np.ndarray) -> np.ndarray:
        return np.bincount(tr.ev_trial, values, minlength=n_trials)

    loglik = per_trial(tr.ev_x * beta[tr.ev_trial] - np.log(sums[0])) - shift * tr.n_events
    score = per_trial(tr.ev_x - m)
    information = per_trial(e2 - m * m)
    d_information = None
    if third:
        d_information = per_trial(sums[3] / sums[0] - 3 * e2 * m + 2 * m**3)
    return _Derivatives(loglik, score, information, d_information)


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


class _Active:
    """Derivatives for the trials still iterating; their arrays are copied out of the full set
    only once half of the previous set have finished, as a copy costs about one evaluation."""

    def __init__(self, tr: _Trials) -> None:
        self.tr, self.sub, self.rows = tr, tr, np.arange(tr.x.shape[0])

    def derivatives(self, active: np.ndarray, beta: np.ndarray) -> _Derivatives:
        """Derivatives of trials ``active`` (sorted) at ``beta`` (indexed by trial)."""
        if active.size <= self.rows.size // 2:
            self.sub, self.rows = self.tr.take(active), active
        return _derivatives(self.sub, beta[self.rows]).take(np.searchsorted(self.rows, active))


def _newton_r(tr: _Trials, null: _Derivatives, eps: float, iter_max: int) -> _Fit:
    """R's ``coxfit6`` iteration (as the single ``_newton_r``) run for every trial at once,
    from β = 0 where the derivatives are ``null``."""
    n_trials = tr.x.shape[0]
    beta = np.zeros(n_trials)
    d = null
    best = d.loglik.copy()
    new = beta + _newton_step(d)
    halving = np.zeros(n_trials)
    out = _Fit(beta.copy(), np.full(n_trials, np.nan), np.full(n_trials, np.nan),
               np.full(n_trials, iter_max), np.zeros(n_trials, dtype=bool))
    active = np.arange(n_trials)
    trials = _Active(tr)
    for iteration in range(1, iter_max + 1):
        if not active.size:
            break
        d = trials.derivatives(active, new)
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
        d = trials.derivatives(active, beta)
        out.beta[active], out.loglik[active], out.information[active] = beta[active], d.loglik, d.information
    return out


def _penalised(tr: _Trials, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched Firth l(β) + ½ log I(β), its gradient and I(β), as the single ``_penalised``."""
    d = _derivatives(tr, beta, third=True)
    assert d.d_information is not None
    ok = np.isfinite(d.loglik) & (d.information > 0)
    info = np.where(ok, d.information, 1.0)
    value = np.where(ok, d.loglik + 0.5 * np.log(info), -np.inf)
    gradient = np.where(ok, d.score + 0.5 * d.d_information / info, np.nan)
    return value, gradient, d.information


def _firth(tr: _Trials, iter_max: int) -> tuple[_Fit, np.ndarray]:
    """The single ``_maximise_penalised`` from β = 0 for every trial; also the value at 0."""
    n_trials = tr.x.shape[0]
    beta = np.zeros(n_trials)
    value, gradient, info = _penalised(tr, beta)
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
            v, g, i = _penalised(tr.take(searching), trial[searching])
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
    null = _derivatives(tr, np.zeros(t.shape[0]))
    n_events = tr.n_events
    estimable = (n_events > 0) & np.isfinite(null.information) & (null.information > 0)
    rows = np.flatnonzero(estimable)
    fit_tr = tr if rows.size == tr.x.shape[0] else tr.take(rows)
    up, down = fit_tr.up, fit_tr.down
    if firth:
        fit, null_value = _firth(fit_tr, iter_max or FIRTH_ITER_MAX)
        p_fit = special.chdtrc(1, np.maximum(2 * (fit.loglik - null_value), 0.0))
        log_scale = np.log(fit_tr.scale)
        loglik, loglik_null = fit.loglik - log_scale, null_value - log_scale
        lr_p = p_fit
    else:
        fit = _newton_r(fit_tr, null.take(rows), eps, iter_max or 20)
        loglik, loglik_null = fit.loglik, null.loglik[rows]
        lr_p = special.chdtrc(1, 2 * (loglik - loglik_null))
    kept = np.isfinite(fit.information) & (fit.information > 0)
    var = np.where(kept, 1 / np.where(kept, fit.information, 1.0), 0.0) * fit_tr.scale**2
    coef = fit.beta * fit_tr.scale
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
