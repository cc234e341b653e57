"""Kaplan–Meier estimates and the log-rank test, equal to R's ``survfit`` and ``survdiff``.

A trial's time-to-flare analysis is judged against R, so each quantity here is computed the way
R ``survival`` (3.5) computes it: Greenwood variance on the cumulative-hazard scale, ``"log"``
confidence intervals, medians by ``quantile.survfit``'s rule (midpoint of a flat stretch at
exactly 0.5) and the hypergeometric log-rank variance summed over strata. Unlike R, times are
not passed through ``aeqSurv``: times that differ only by floating-point noise stay distinct.

Every ``to_dict()`` returns plain Python types; a value that does not exist (a median not
reached, a CI where S(t) = 0) is ``nan``, which :mod:`lupustrial.report.json` writes as null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from lupustrial.errors import AnalysisError

#: quantile.survfit's tolerance for "S(t) equals the probability exactly".
_QUANTILE_TOL = float(np.sqrt(np.finfo(float).eps))


def validate_time_event(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check follow-up times and event indicators; return them as float and int arrays."""
    t = np.asarray(time, dtype=float).ravel()
    e_raw = np.asarray(event, dtype=float).ravel()
    if t.size != e_raw.size:
        raise AnalysisError(f"time has {t.size} values but event has {e_raw.size}")
    if t.size == 0:
        raise AnalysisError("no subjects: time and event are empty")
    for name, v in (("time", t), ("event", e_raw)):
        if np.isnan(v).any():
            raise AnalysisError(f"{name} has a missing value at position {int(np.argmax(np.isnan(v))) + 1}")
    if not np.isfinite(t).all() or (t < 0).any():
        bad = int(np.argmax(~np.isfinite(t) | (t < 0)))
        raise AnalysisError(f"time must be finite and >= 0; position {bad + 1} is {t[bad]:g}")
    if not np.isin(e_raw, (0.0, 1.0)).all():
        bad = int(np.argmax(~np.isin(e_raw, (0.0, 1.0))))
        raise AnalysisError(f"event must be 0 or 1; position {bad + 1} is {e_raw[bad]:g}")
    return t, e_raw.astype(np.int64)


def validate_labels(values: ArrayLike, n: int, what: str) -> np.ndarray:
    """Check a per-subject label vector (group, stratum) has ``n`` non-missing values."""
    v = np.asarray(values).ravel()
    if v.size != n:
        raise AnalysisError(f"{what} has {v.size} values but time has {n}")
    missing = np.array([x is None or (isinstance(x, float) and np.isnan(x)) for x in v.tolist()])
    if missing.any():
        raise AnalysisError(f"{what} has a missing value at position {int(np.argmax(missing)) + 1}")
    return v


def z_value(conf_level: float) -> float:
    """Two-sided normal critical value for a ``conf_level`` interval, checking the level."""
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    return float(stats.norm.ppf(1 - (1 - conf_level) / 2))


def _floats(a: np.ndarray) -> list[float]:
    return [float(x) for x in a]


@dataclass(frozen=True)
class MedianSurvival:
    """Median survival time and its CI; ``nan`` where the curve (or its bound) never reaches 0.5."""

    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class SurvivalAt:
    """The Kaplan–Meier step function read at requested times, as ``summary(fit, times=)``."""

    time: np.ndarray
    n_risk: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier curve with R ``survfit`` defaults (Greenwood variance, log-type CI).

    One row per distinct observed time (events or censorings), as ``survfit`` reports them.
    ``std_err`` is the SE of S(t) (R's ``summary(fit)$std.err``); ``std_err_log`` the SE of
    log S(t) (R's ``fit$std.err``), which is infinite once S(t) = 0, where the CI is ``nan``.
    """

    time: np.ndarray
    n_risk: np.ndarray
    n_event: np.ndarray
    n_censor: np.ndarray
    surv: np.ndarray
    std_err: np.ndarray
    std_err_log: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float

    def median(self) -> MedianSurvival:
        """Median and CI by R's ``quantile.survfit`` rule, read off the curve and its bounds."""
        return MedianSurvival(
            estimate=_findq(self.time, self.surv, 0.5),
            lower=_findq(self.time, self.lower, 0.5),
            upper=_findq(self.time, self.upper, 0.5),
        )

    def at(self, times: ArrayLike) -> SurvivalAt:
        """Survival and CI at ``times``: the last step at or before each time (1 before any).

        Times after the last observation carry the last value forward, as R's
        ``summary(fit, times=, extend=TRUE)`` does; ``n_risk`` there is 0.
        """
        t = np.asarray(times, dtype=float).ravel()
        if np.isnan(t).any():
            raise AnalysisError("times to read the survival curve at must not be missing")
        k = np.searchsorted(self.time, t, side="right") - 1
        before = k < 0
        kk = np.where(before, 0, k)
        first_after = np.searchsorted(self.time, t, side="left")
        n_risk = np.where(
            first_after < self.time.size, self.n_risk[np.minimum(first_after, self.time.size - 1)], 0
        )
        return SurvivalAt(
            time=t,
            n_risk=n_risk,
            surv=np.where(before, 1.0, self.surv[kk]),
            std_err=np.where(before, 0.0, self.std_err[kk]),
            lower=np.where(before, 1.0, self.lower[kk]),
            upper=np.where(before, 1.0, self.upper[kk]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready curve and median (non-finite values stay float ``nan``/``inf``)."""
        med = self.median()
        return {
            "time": _floats(self.time),
            "n_risk": [int(x) for x in self.n_risk],
            "n_event": [int(x) for x in self.n_event],
            "n_censor": [int(x) for x in self.n_censor],
            "surv": _floats(self.surv),
            "std_err": _floats(self.std_err),
            "std_err_log": _floats(self.std_err_log),
            "lower": _floats(self.lower),
            "upper": _floats(self.upper),
            "conf_level": self.conf_level,
            "median": {"estimate": med.estimate, "lower": med.lower, "upper": med.upper},
        }


def _findq(time: np.ndarray, curve: np.ndarray, p: float) -> float:
    """First time the curve falls to ``1 - p``, with R ``findq``'s midpoint rule for flat stretches.

    R works on F = 1 - S prefixed by (0, 0); an exact hit of the level on a flat stretch gives
    the midpoint between that stretch's start and the next drop (or the last time).
    """
    x = np.concatenate(([0.0], time))
    y = np.concatenate(([0.0], 1.0 - curve))
    if np.all(np.isnan(y)) or np.nanmax(y) < p:
        return float("nan")
    xmax = x[-1]
    first = np.sort(np.unique(np.where(np.isnan(y), np.inf, y), return_index=True)[1])
    x, y = x[first], y[first]

    def index(shift: float) -> int | None:
        valid = np.flatnonzero(~np.isnan(y))
        knots = y[valid] + shift
        if p < knots[0] or p > knots[-1]:
            return None
        return int(valid[np.searchsorted(knots, p, side="left")])

    i1, i2 = index(_QUANTILE_TOL), index(-_QUANTILE_TOL)
    if not np.isnan(y[-1]) and abs(p - y[-1]) < _QUANTILE_TOL:
        return float("nan") if i1 is None else float((x[i1] + xmax) / 2)
    if i1 is None or i2 is None:
        return float("nan")
    return float((x[i1] + x[i2]) / 2)


def kaplan_meier(time: ArrayLike, event: ArrayLike, conf_level: float = 0.95) -> KaplanMeier:
    """Kaplan–Meier estimate equal to R ``survfit(Surv(time, event) ~ 1)``."""
    t, e = validate_time_event(time, event)
    z = z_value(conf_level)
    uniq, inv = np.unique(t, return_inverse=True)
    n_event = np.bincount(inv, weights=e, minlength=uniq.size).astype(np.int64)
    n_all = np.bincount(inv, minlength=uniq.size)
    n_risk = np.cumsum(n_all[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        # Greenwood: d / (n (n - d)) is infinite when everyone at risk fails (S drops to 0).
        inc = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
        inc = np.where((n_event > 0) & (n_event == n_risk), np.inf, inc)
        se_log = np.sqrt(np.cumsum(inc))
        std_err = surv * se_log
        positive = surv > 0
        log_s = np.log(np.where(positive, surv, 1.0))
        lower = np.where(positive, np.exp(log_s - z * se_log), np.nan)
        upper = np.where(positive, np.minimum(np.exp(log_s + z * se_log), 1.0), np.nan)
    return KaplanMeier(
        time=uniq,
        n_risk=n_risk,
        n_event=n_event,
        n_censor=n_all - n_event,
        surv=surv,
        std_err=std_err,
        std_err_log=se_log,
        lower=lower,
        upper=upper,
        conf_level=conf_level,
    )


def kaplan_meier_by(
    time: ArrayLike, event: ArrayLike, group: ArrayLike, conf_level: float = 0.95
) -> dict[str, KaplanMeier]:
    """One Kaplan–Meier curve per group, keyed by the group label as text, in sorted label order."""
    t, e = validate_time_event(time, event)
    g = validate_labels(group, t.size, "group")
    return {str(level): kaplan_meier(t[g == level], e[g == level], conf_level) for level in np.unique(g)}


@dataclass(frozen=True)
class LogRank:
    """Log-rank test (R ``survdiff``, rho = 0); per-group counts are summed over strata."""

    groups: tuple[str, ...]
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    variance: np.ndarray
    chisq: float
    df: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready test and per-group observed/expected events."""
        return {
            "groups": list(self.groups),
            "n": [int(x) for x in self.n],
            "observed": _floats(self.observed),
            "expected": _floats(self.expected),
            "variance": [_floats(row) for row in self.variance],
            "chisq": self.chisq,
            "df": self.df,
            "p_value": self.p_value,
        }


def _logrank_stratum(t: np.ndarray, e: np.ndarray, g: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Observed, expected and hypergeometric variance of one stratum (groups coded 0..k-1)."""
    uniq, inv = np.unique(t, return_inverse=True)
    cell = inv * k + g
    at_time = np.bincount(cell, minlength=uniq.size * k).reshape(uniq.size, k)
    events = np.bincount(cell, weights=e, minlength=uniq.size * k).reshape(uniq.size, k)
    risk = np.cumsum(at_time[::-1], axis=0)[::-1].astype(float)
    d = events.sum(axis=1)
    n = risk.sum(axis=1)
    use = d > 0
    risk, events, d, n = risk[use], events[use], d[use], n[use]
    share = risk / n[:, None]
    expected = (d[:, None] * share).sum(axis=0)
    factor = np.where(n > 1, d * (n - d) / np.maximum(n - 1, 1), 0.0)
    var = np.einsum("t,tg,gh->gh", factor, share, np.eye(k)) - np.einsum("t,tg,th->gh", factor, share, share)
    return events.sum(axis=0), expected, var


def logrank(
    time: ArrayLike, event: ArrayLike, group: ArrayLike, strata: ArrayLike | None = None
) -> LogRank:
    """Log-rank test equal to R ``survdiff(Surv(time, event) ~ group [+ strata(s)])``.

    The statistic uses the generalised inverse R uses: groups with zero expected events are
    dropped, then the first remaining group. Where that variance is singular (no event time
    with both failures and survivors), R stops with an error; here chisq and p are ``nan``.
    """
    t, e = validate_time_event(time, event)
    g_raw = validate_labels(group, t.size, "group")
    levels, g = np.unique(g_raw, return_inverse=True)
    if levels.size < 2:
        raise AnalysisError(f"log-rank test needs at least two groups, found {levels.size}")
    k = levels.size
    s = np.zeros(t.size, dtype=np.int64) if strata is None else np.unique(
        validate_labels(strata, t.size, "strata"), return_inverse=True
    )[1]
    observed, expected, var = np.zeros(k), np.zeros(k), np.zeros((k, k))
    for stratum in np.unique(s):
        m = s == stratum
        o, x, v = _logrank_stratum(t[m], e[m], g[m], k)
        observed, expected, var = observed + o, expected + x, var + v
    keep = np.flatnonzero(expected > 0)
    df = keep.size - 1
    reduced = var[np.ix_(keep, keep)][1:, 1:]
    if df < 1:
        chisq = 0.0
    elif np.linalg.matrix_rank(reduced) < df:
        chisq = float("nan")  # no information (e.g. everyone at risk fails at once); R stops here
    else:
        diff = (observed - expected)[keep][1:]
        chisq = float(diff @ np.linalg.solve(reduced, diff))
    return LogRank(
        groups=tuple(str(x) for x in levels),
        n=np.bincount(g, minlength=k),
        observed=observed,
        expected=expected,
        variance=var,
        chisq=chisq,
        df=df,
        p_value=float(stats.chi2.sf(chisq, df)) if df >= 1 else float("nan"),
    )
