"""Responder analysis of a binary end point (e.g. SRI-4 or BICLA response), equal to R.

Three summaries of one 2 × 2 comparison, treatment against reference:

* the odds ratio from logistic regression ``glm(response ~ arm + covariates, binomial)``, with
  its Wald interval and p-value (``summary(glm)``) and R 4.2's profile-likelihood interval
  (``confint(glm)``, MASS's spline-interpolated profile; see :mod:`lupustrial.analysis.glm`);
* the risk difference with the Miettinen–Nurminen score interval (the usual "score CI" for a
  difference of proportions; R has no base function for it, and the reference script
  computes it independently by root-finding on the score statistic);
* across strata, the Cochran–Mantel–Haenszel common odds ratio with R ``mantelhaen.test``'s
  Robins–Breslow–Greenland interval and chi-squared test (continuity-corrected by default, as R).

When an arm has no responders (or only responders) the logistic likelihood has no maximum: R's
``glm`` stops at a coefficient near ±20 with an enormous SE and a p-value near 1. Such a fit is
detected exactly (linear programming) and reported as an odds ratio of 0 or infinity with no
Wald or profile inference and a ``message``; the risk difference and CMH stay valid.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import optimize, stats

from lupustrial.analysis.glm import (
    BINOMIAL,
    WaldCoefficient,
    glm_fit,
    profile_interval,
    separation,
    wald_table,
)
from lupustrial.analysis.survival import z_value
from lupustrial.analysis.terms import Terms, arm_levels, covariate_terms, dummies, labels
from lupustrial.errors import AnalysisError


@dataclass(frozen=True)
class ArmResponse:
    """Responders in one arm: count, arm size and proportion (0 to 1)."""

    arm: str
    n: int
    responders: int
    proportion: float


@dataclass(frozen=True)
class CochranMantelHaenszel:
    """R ``mantelhaen.test`` on the strata's 2 × 2 tables (treatment, reference × response).

    ``continuity_correction`` says whether R's 0.5 correction was applied to the statistic
    (asked for with ``correct=True`` and applied when |O − E| >= 0.5, as R does).
    """

    strata: int
    odds_ratio: float
    lower: float
    upper: float
    statistic: float
    p_value: float
    continuity_correction: bool


@dataclass(frozen=True)
class ResponderResult:
    """Odds ratio (logistic), risk difference (Miettinen–Nurminen) and CMH across strata.

    ``arms`` are in model order (reference first). Odds ratios are treatment / reference;
    ``odds_ratio_lower``/``_upper`` are Wald, ``profile_lower``/``_upper`` R's ``confint``
    (odds-ratio scale); ``p_value`` is the Wald z test of the arm coefficient.
    ``risk_difference`` is treatment − reference (proportions, −1 to 1). ``separated`` names
    the terms whose estimate is infinite (then the odds-ratio inference is nan and
    ``message`` says why); ``cmh`` is None without strata.
    """

    treatment: str
    reference: str
    conf_level: float
    arms: tuple[ArmResponse, ...]
    odds_ratio: float
    odds_ratio_lower: float
    odds_ratio_upper: float
    profile_lower: float
    profile_upper: float
    log_odds_ratio: float
    se_log_odds_ratio: float
    z: float
    p_value: float
    coefficients: tuple[WaldCoefficient, ...]
    deviance: float
    iterations: int
    converged: bool
    separated: tuple[str, ...]
    message: str | None
    risk_difference: float
    risk_difference_lower: float
    risk_difference_upper: float
    cmh: CochranMantelHaenszel | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types; non-finite numbers stay float ``nan``/``inf`` (the JSON
        writer :func:`lupustrial.report.json.write_json` turns them into null)."""
        return dataclasses.asdict(self)


def _binary(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"response must be 0/1 or true/false ({exc})") from exc
    if arr.ndim != 1 or arr.size == 0:
        raise AnalysisError(f"response must be a non-empty 1-D array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isin(arr, (0.0, 1.0)))
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(f"response[{i}] is {float(arr[i])!r}: responses must be 0 or 1")
    return arr


def _restricted_mle(x1: int, n1: int, x2: int, n2: int, delta: float) -> tuple[float, float]:
    """Maximum-likelihood (p1, p2) under p1 - p2 = delta: the cubic's root in closed form
    (Miettinen & Nurminen 1985, Appendix 1)."""
    p1, p2 = x1 / n1, x2 / n2
    theta = n2 / n1
    a = 1 + theta
    b = -(1 + theta + p1 + theta * p2 + delta * (theta + 2))
    c = delta**2 + delta * (2 * p1 + theta + 1) + p1 + theta * p2
    d = -p1 * delta * (1 + delta)
    v = b**3 / (27 * a**3) - b * c / (6 * a**2) + d / (2 * a)
    u = np.sign(v) * np.sqrt(max(b**2 / (9 * a**2) - c / (3 * a), 0.0))
    ratio = 0.0 if u == 0 else float(np.clip(v / u**3, -1.0, 1.0))
    w = (np.pi + np.arccos(ratio)) / 3
    p1t = float(np.clip(2 * u * np.cos(w) - b / (3 * a), 0.0, 1.0))
    return p1t, float(np.clip(p1t - delta, 0.0, 1.0))


def miettinen_nurminen(
    x1: int, n1: int, x2: int, n2: int, conf_level: float
) -> tuple[float, float, float]:
    """Difference p1 − p2 of two proportions and its Miettinen–Nurminen score interval.

    The bounds are where the score statistic (d̂ − δ)² / V(δ) equals the chi-squared
    critical value, V(δ) being the variance at the restricted MLE times N / (N − 1).
    """
    diff = x1 / n1 - x2 / n2
    crit = z_value(conf_level)
    big_n = n1 + n2

    def excess(delta: float) -> float:
        if delta == diff:
            return -crit  # the statistic is 0 at the estimate, even where V = 0
        q1, q2 = _restricted_mle(x1, n1, x2, n2, delta)
        var = (q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2) * big_n / (big_n - 1)
        if var <= 0:
            return np.inf
        return abs(diff - delta) / np.sqrt(var) - crit

    edge, tol = 1 - 1e-12, {"xtol": 1e-14, "rtol": 4 * np.finfo(float).eps}
    lower = -1.0 if diff <= -edge else optimize.brentq(excess, -edge, diff, **tol)
    upper = 1.0 if diff >= edge else optimize.brentq(excess, diff, edge, **tol)
    return diff, float(lower), float(upper)


def cochran_mantel_haenszel(
    treated: npt.NDArray[np.bool_], response: npt.NDArray[np.float64],
    strata: npt.NDArray[np.str_], conf_level: float, correct: bool,
) -> CochranMantelHaenszel:
    """R ``mantelhaen.test(table(arm, response, stratum))`` (2 × 2 × K, two-sided)."""
    levels = sorted(set(strata.tolist()))
    if len(levels) < 2:
        raise AnalysisError(f"strata has a single level {levels[0]!r}: CMH needs at least 2")
    k = np.searchsorted(levels, strata)
    table = np.zeros((2, 2, len(levels)))  # [arm (treatment, reference), response (1, 0), k]
    np.add.at(table, ((~treated).astype(int), (response == 0).astype(int), k), 1)
    n = table.sum(axis=(0, 1))
    if (n < 2).any():
        bad = levels[int(np.argmax(n < 2))]
        raise AnalysisError(f"stratum {bad!r} has fewer than 2 subjects in the two arms")
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    delta = float((table[0, 0] - rows[0] * cols[0] / n).sum())
    # R corrects when |delta| >= 0.5; delta is a sum of fractions, so a delta of exactly 0.5 can
    # round to either side depending on the arms' order: 1e-9 keeps it on R's side of the tie.
    yates = 0.5 if correct and abs(delta) >= 0.5 - 1e-9 else 0.0
    variance = (rows.prod(axis=0) * cols.prod(axis=0) / (n**2 * (n - 1))).sum()
    a, b, c, d = table[0, 0], table[0, 1], table[1, 0], table[1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):  # R's NaN/Inf when a margin is empty
        statistic = (abs(delta) - yates) ** 2 / variance
        s_diag, s_offd = float((a * d / n).sum()), float((b * c / n).sum())
        estimate = np.float64(s_diag) / s_offd
        sd = np.sqrt(
            ((a + d) * a * d / n**2).sum() / (2 * s_diag**2)
            + (((a + d) * b * c + (b + c) * a * d) / n**2).sum() / (2 * s_diag * s_offd)
            + ((b + c) * b * c / n**2).sum() / (2 * s_offd**2)
        )
        half = z_value(conf_level) * sd
        lower, upper = estimate * np.exp(-half), estimate * np.exp(half)
    return CochranMantelHaenszel(
        strata=len(levels), odds_ratio=float(estimate), lower=float(lower), upper=float(upper),
        statistic=float(statistic), p_value=float(stats.chi2.sf(statistic, 1)),
        continuity_correction=bool(yates),
    )


def _logistic(
    y: npt.NDArray[np.float64], design: Terms, j: int, conf_level: float
) -> dict[str, Any]:
    """The logistic fields of :class:`ResponderResult` for coefficient ``j`` (the arm)."""
    x = design.columns
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise AnalysisError(f"logistic design is rank-deficient: terms {list(design.names)}")
    fit = glm_fit(x, y, BINOMIAL)
    signs = separation(x, y)
    diverging = np.flatnonzero(signs != 0)
    separated = tuple(design.names[i] for i in diverging)
    coef, se = fit.coef.copy(), np.sqrt(np.diag(fit.cov))
    coef[diverging], se[diverging] = signs[diverging] * np.inf, np.nan
    if diverging.size and j not in diverging:
        coef[j], se[j] = np.nan, np.nan  # no maximum: no arm estimate to report either
    table = wald_table(design.names, coef, se)
    profile = (
        (np.nan, np.nan) if diverging.size
        else profile_interval(x, y, BINOMIAL, fit, j, conf_level)
    )
    message = None
    if separated:
        message = (
            f"logistic likelihood is monotone in {', '.join(separated)} (an arm or covariate "
            "level with no or only responders): the odds ratio has no finite estimate; the risk "
            "difference and CMH remain valid"
        )
    crit = z_value(conf_level)
    with np.errstate(invalid="ignore"):
        return {
            "odds_ratio": float(np.exp(coef[j])),
            "odds_ratio_lower": float(np.exp(coef[j] - crit * se[j])),
            "odds_ratio_upper": float(np.exp(coef[j] + crit * se[j])),
            "profile_lower": float(np.exp(profile[0])),
            "profile_upper": float(np.exp(profile[1])),
            "log_odds_ratio": float(coef[j]),
            "se_log_odds_ratio": float(se[j]),
            "z": table[j].z,
            "p_value": table[j].p_value,
            "coefficients": table,
            "deviance": fit.deviance,
            "iterations": fit.iterations,
            "converged": fit.converged,
            "separated": separated,
            "message": message,
        }


def responder(
    response: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    strata: npt.ArrayLike | None = None,
    conf_level: float = 0.95,
    correct: bool = True,
) -> ResponderResult:
    """Responder analysis of ``response`` (n,) 0/1 by ``arm`` (n,) labels.

    The logistic model is ``response ~ arm + covariates``: every arm present gets a
    coefficient (reference first, others sorted, as R), ``covariates`` maps names to (n,)
    arrays (numeric: continuous; strings: factors). The risk difference and CMH compare
    ``treatment`` with ``reference`` only; ``strata`` (n,) labels give the CMH tables, and
    ``correct`` is ``mantelhaen.test``'s continuity correction (on by default, as in R).
    """
    y = _binary(response)
    n = y.size
    z_value(conf_level)  # validates conf_level before any fitting
    arms = labels(arm, "arm", n, of="response")
    treatment, reference = str(treatment), str(reference)
    levels = arm_levels(arms, treatment, reference)
    design = Terms(("(Intercept)", *(f"arm{a}" for a in levels[1:])),
                   np.hstack([np.ones((n, 1)), dummies(arms, levels)]),
                   np.zeros(len(levels))) + covariate_terms(covariates, n, of="response")
    logistic = _logistic(y, design, levels.index(treatment), conf_level)
    counts = {a: (int((arms == a).sum()), int(y[arms == a].sum())) for a in levels}
    (n1, x1), (n2, x2) = counts[treatment], counts[reference]
    rd, rd_lower, rd_upper = miettinen_nurminen(x1, n1, x2, n2, conf_level)
    cmh = None
    if strata is not None:
        pair = (arms == treatment) | (arms == reference)
        stratum = labels(strata, "strata", n, of="response")
        cmh = cochran_mantel_haenszel(arms[pair] == treatment, y[pair], stratum[pair],
                                      conf_level, correct)
    return ResponderResult(
        treatment=treatment,
        reference=reference,
        conf_level=conf_level,
        arms=tuple(ArmResponse(a, m, r, r / m) for a, (m, r) in counts.items()),
        risk_difference=rd,
        risk_difference_lower=rd_lower,
        risk_difference_upper=rd_upper,
        cmh=cmh,
        **logistic,
    )
