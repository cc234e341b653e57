"""ANCOVA of log titres (geometric means, their ratio) or of raw values (means, their
difference), equal to R lm + emmeans.

The BEAT-LUPUS primary end point (IgG anti-dsDNA at week 52) is reported as geometric means
and a "% greater reduction from baseline" (Shipa et al. 2021; see
``shared/reference/beat_lupus.md``). Both come from the linear model

    log(y) ~ arm + log(baseline) + factors

fitted by least squares: the adjusted geometric mean of an arm is exp of its estimated
marginal mean, and the treatment effect is exp of the arm contrast, a ratio of geometric
means. Results equal R ``emmeans(fit, ~ arm)`` with ``type = "response"`` when the model is
fitted with a ``log_base = log(baseline)`` data column (tests/reference/ancova_reference.R).
Outcomes analysed as measured (a score, C3 in g/L) use :func:`ancova`, the same least-squares
fit of ``y ~ arm + baseline + factors`` reporting adjusted means and their difference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.linalg
from scipy import stats

from lupustrial.analysis.terms import (
    Terms,
    Weights,
    arm_levels,
    dummies,
    factor_terms,
    finite,
    float_vector,
    labels,
)
from lupustrial.errors import AnalysisError

# R's lm() declares a column aliased when its pivoted-QR diagonal falls below this (lm.fit tol).
_RANK_TOL = 1e-7


@dataclass(frozen=True)
class ArmMean:
    """A geometric mean of one arm with its confidence interval (log-scale mean and SE kept)."""

    arm: str
    n: int
    geometric_mean: float
    lower: float
    upper: float
    log_mean: float
    se_log: float


@dataclass(frozen=True)
class Coefficient:
    """One row of the lm coefficient table (log scale); terms are named as R names them."""

    term: str
    estimate: float
    se: float
    t: float
    p_value: float


@dataclass(frozen=True)
class AncovaResult:
    """Everything a trial report needs from the log-titre ANCOVA.

    ``adjusted`` are emmeans-style geometric means: log baseline held at its overall mean
    (the log of the geometric mean baseline) and factor levels averaged with ``weights``.
    ``unadjusted`` are plain per-arm geometric means with t intervals, the descriptive table.
    ``percent_reduction`` is (1 - ratio) * 100, so its CI bounds come from the ratio's
    upper and lower bounds respectively.
    """

    treatment: str
    reference: str
    conf_level: float
    weights: Weights
    log_baseline_mean: float
    adjusted: tuple[ArmMean, ...]
    unadjusted: tuple[ArmMean, ...]
    ratio: float
    ratio_lower: float
    ratio_upper: float
    log_ratio: float
    se_log_ratio: float
    t: float
    p_value: float
    percent_reduction: float
    percent_reduction_lower: float
    percent_reduction_upper: float
    df_residual: int
    sigma: float
    coefficients: tuple[Coefficient, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types: nested dicts, tuples, str, int and float."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AdjustedMean:
    """An arm's adjusted (emmeans) mean on the outcome's own scale, with SE and t interval."""

    arm: str
    n: int
    mean: float
    se: float
    lower: float
    upper: float


@dataclass(frozen=True)
class AncovaRawResult:
    """The raw-scale ANCOVA ``y ~ arm + baseline + factors``: adjusted means, difference.

    ``adjusted`` holds the baseline at ``baseline_mean`` and averages factor levels with
    ``weights``; ``difference`` is treatment − reference in the outcome's unit, with its
    t interval and two-sided t-test p-value on ``df_residual`` degrees of freedom.
    """

    treatment: str
    reference: str
    conf_level: float
    weights: Weights
    baseline_mean: float
    adjusted: tuple[AdjustedMean, ...]
    difference: float
    difference_lower: float
    difference_upper: float
    se_difference: float
    t: float
    p_value: float
    df_residual: int
    sigma: float
    coefficients: tuple[Coefficient, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types: nested dicts, tuples, str, int and float."""
        return dataclasses.asdict(self)


def _positive(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = float_vector(values, name)
    bad = np.flatnonzero(~(arr > 0))  # catches NaN as well as <= 0
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(
            f"{name}[{i}] is {float(arr[i])!r}: titres must be positive numbers to take logs"
        )
    return arr


def _interval(
    estimate: float, se: float, df: float, conf_level: float
) -> tuple[float, float]:
    """The t interval ``estimate ± t(df) × se`` (on the scale the model is fitted on)."""
    half = stats.t.ppf(0.5 + conf_level / 2, df) * se
    return float(estimate - half), float(estimate + half)


def _exp_interval(
    estimate: float, se: float, df: float, conf_level: float
) -> tuple[float, float]:
    lower, upper = _interval(estimate, se, df, conf_level)
    return float(np.exp(lower)), float(np.exp(upper))


def _unadjusted(
    log_y: npt.NDArray[np.float64], arms: npt.NDArray[np.str_], levels: Sequence[str],
    conf_level: float,
) -> tuple[ArmMean, ...]:
    out = []
    for level in levels:
        v = log_y[arms == level]
        mean, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
        lower, upper = _exp_interval(mean, se, v.size - 1, conf_level)
        out.append(ArmMean(level, int(v.size), float(np.exp(mean)), lower, upper, mean, se))
    return tuple(out)


def geometric_means(
    values: npt.ArrayLike, arms: npt.ArrayLike, levels: Sequence[str], conf_level: float = 0.95
) -> tuple[ArmMean, ...]:
    """Plain geometric mean per arm with its t interval (``exp(t.test(log(x)))`` in R)."""
    log_y = np.log(_positive(values, "values"))
    return _unadjusted(log_y, labels(arms, "arms", log_y.size), levels, conf_level)


@dataclass(frozen=True)
class _Fit:
    """The least-squares ANCOVA on the scale it is fitted on (log or raw), before reporting.

    ``means`` and ``contrast`` are (estimate, SE) of each arm's emmean and of treatment minus
    reference; the model shares one reference-grid row between arms, so the contrast is the
    arm coefficient whatever the factor weights.
    """

    arms: npt.NDArray[np.str_]
    levels: list[str]
    counts: list[int]
    df: int
    sigma: float
    coefficients: tuple[Coefficient, ...]
    means: list[tuple[float, float]]
    contrast: tuple[float, float]


def _least_squares(
    response: npt.NDArray[np.float64],
    covariate: npt.NDArray[np.float64],
    covariate_name: str,
    arm: npt.ArrayLike,
    treatment: str,
    reference: str,
    factors: Mapping[str, npt.ArrayLike] | None,
    conf_level: float,
    weights: Weights,
) -> _Fit:
    """Fit ``response ~ arm + covariate + factors`` as R ``lm`` and read emmeans off it.

    ``response`` and ``covariate`` are (n,) arrays already on the model's scale; the
    covariate is held at its mean in the reference grid.
    """
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    if weights not in ("equal", "proportional"):
        raise AnalysisError(f"weights must be 'equal' or 'proportional', got {weights!r}")
    n = response.size
    arms = labels(arm, "arm", n)
    levels = arm_levels(arms, str(treatment), str(reference), min_count=2)
    design = Terms(
        ("(Intercept)", *(f"arm{a}" for a in levels[1:]), covariate_name),
        np.hstack([np.ones((n, 1)), dummies(arms, levels), covariate[:, None]]),
        np.concatenate([np.ones(1), np.zeros(len(levels) - 1), [covariate.mean()]]),
    )
    for fname, fvalues in (factors or {}).items():
        design = design + factor_terms(fname, fvalues, n, weights)
    x, names = design.columns, design.names
    p = x.shape[1]
    df = n - p
    if df < 1:
        raise AnalysisError(f"{n} subjects leave no residual degrees of freedom for {p} terms")

    q, r, piv = scipy.linalg.qr(x, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int((diag > _RANK_TOL * diag[0]).sum())
    if rank < p:
        aliased = ", ".join(repr(names[j]) for j in sorted(piv[rank:]))
        raise AnalysisError(
            f"design is rank-deficient: term(s) {aliased} are collinear with the others"
        )
    beta_piv = scipy.linalg.solve_triangular(r, q.T @ response)
    beta = np.empty(p)
    beta[piv] = beta_piv
    resid = response - x @ beta
    rss = float(resid @ resid)
    if np.sqrt(rss) <= 1e-10 * np.linalg.norm(response):  # zero up to rounding
        raise AnalysisError(
            "the model fits the outcome exactly (residual SD 0): no inference possible"
        )
    sigma2 = rss / df
    r_inv = scipy.linalg.solve_triangular(r, np.eye(p))
    cov = np.empty((p, p))
    cov[np.ix_(piv, piv)] = sigma2 * (r_inv @ r_inv.T)
    se = np.sqrt(np.diag(cov))
    t_coef = beta / se
    coefficients = tuple(
        Coefficient(nm, float(b), float(s), float(tv), float(2 * stats.t.sf(abs(tv), df)))
        for nm, b, s, tv in zip(names, beta, se, t_coef, strict=True)
    )
    vectors = []
    for i in range(len(levels)):
        xv = design.grid.copy()
        if i:
            xv[i] = 1.0
        vectors.append(xv)
    contrast = vectors[levels.index(treatment)] - vectors[0]
    return _Fit(
        arms=arms,
        levels=levels,
        counts=[int((arms == level).sum()) for level in levels],
        df=df,
        sigma=float(np.sqrt(sigma2)),
        coefficients=coefficients,
        means=[(float(v @ beta), float(np.sqrt(v @ cov @ v))) for v in vectors],
        contrast=(float(contrast @ beta), float(np.sqrt(contrast @ cov @ contrast))),
    )


def ancova_gmr(
    y: npt.ArrayLike,
    baseline: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    factors: Mapping[str, npt.ArrayLike] | None = None,
    conf_level: float = 0.95,
    weights: Weights = "equal",
) -> AncovaResult:
    """Fit ``log(y) ~ arm + log(baseline) + factors``; report geometric means and their ratio.

    Labels (arms, factor levels) are compared as strings; the reference arm is the model's
    baseline level and the other levels (and factor levels) follow in sorted order, as R
    orders them, so coefficient names match ``lm``. ``weights="equal"`` is the emmeans
    default (each factor level counts the same, whatever its size); ``"proportional"``
    weights levels by their frequency in the data, so adjusted means describe the trial's
    own mix of strata. The ratio's p-value is the two-sided t test of the arm contrast on
    ``df_residual`` degrees of freedom; nothing is adjusted for multiplicity.
    """
    y_arr = _positive(y, "y")
    base = _positive(baseline, "baseline")
    if base.size != y_arr.size:
        raise AnalysisError(f"baseline has {base.size} values but y has {y_arr.size}")
    log_y, log_base = np.log(y_arr), np.log(base)
    treatment, reference = str(treatment), str(reference)
    fit = _least_squares(log_y, log_base, "log(baseline)", arm, treatment, reference, factors,
                         conf_level, weights)
    adjusted = tuple(
        ArmMean(level, count, float(np.exp(est)), *_exp_interval(est, s, fit.df, conf_level),
                est, s)
        for level, count, (est, s) in zip(fit.levels, fit.counts, fit.means, strict=True)
    )
    log_ratio, se_ratio = fit.contrast
    t_ratio = log_ratio / se_ratio
    ratio_lower, ratio_upper = _exp_interval(log_ratio, se_ratio, fit.df, conf_level)
    ratio = float(np.exp(log_ratio))
    return AncovaResult(
        treatment=treatment,
        reference=reference,
        conf_level=conf_level,
        weights=weights,
        log_baseline_mean=float(log_base.mean()),
        adjusted=adjusted,
        unadjusted=_unadjusted(log_y, fit.arms, fit.levels, conf_level),
        ratio=ratio,
        ratio_lower=ratio_lower,
        ratio_upper=ratio_upper,
        log_ratio=log_ratio,
        se_log_ratio=se_ratio,
        t=t_ratio,
        p_value=float(2 * stats.t.sf(abs(t_ratio), fit.df)),
        percent_reduction=(1 - ratio) * 100,
        percent_reduction_lower=(1 - ratio_upper) * 100,
        percent_reduction_upper=(1 - ratio_lower) * 100,
        df_residual=fit.df,
        sigma=fit.sigma,
        coefficients=fit.coefficients,
    )


def ancova(
    y: npt.ArrayLike,
    baseline: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    factors: Mapping[str, npt.ArrayLike] | None = None,
    conf_level: float = 0.95,
    weights: Weights = "equal",
) -> AncovaRawResult:
    """Fit ``y ~ arm + baseline + factors`` on the raw scale; report adjusted means and their
    difference (treatment − reference), as R ``lm`` + ``emmeans(fit, ~ arm)``.

    For outcomes analysed as measured (a SLEDAI score, a change from baseline, C3 in g/L):
    ``y`` and ``baseline`` are (n,) finite numbers in the outcome's unit, and the adjusted
    means and difference are in that unit. Arms, factors and ``weights`` work as in
    :func:`ancova_gmr`; the baseline is held at its mean.
    """
    y_arr = finite(y, "y")
    base = finite(baseline, "baseline", y_arr.size)
    treatment, reference = str(treatment), str(reference)
    fit = _least_squares(y_arr, base, "baseline", arm, treatment, reference, factors,
                         conf_level, weights)
    diff, se_diff = fit.contrast
    t_diff = diff / se_diff
    diff_lower, diff_upper = _interval(diff, se_diff, fit.df, conf_level)
    return AncovaRawResult(
        treatment=treatment,
        reference=reference,
        conf_level=conf_level,
        weights=weights,
        baseline_mean=float(base.mean()),
        adjusted=tuple(
            AdjustedMean(level, count, est, s, *_interval(est, s, fit.df, conf_level))
            for level, count, (est, s) in zip(fit.levels, fit.counts, fit.means, strict=True)
        ),
        difference=diff,
        difference_lower=diff_lower,
        difference_upper=diff_upper,
        se_difference=se_diff,
        t=t_diff,
        p_value=float(2 * stats.t.sf(abs(t_diff), fit.df)),
        df_residual=fit.df,
        sigma=fit.sigma,
        coefficients=fit.coefficients,
    )


def ancova_gmr_frame(
    df: pd.DataFrame,
    *,
    value: str = "AVAL",
    baseline: str = "BASE",
    arm: str = "TRT01A",
    treatment: str,
    reference: str,
    factors: Sequence[str] = (),
    conf_level: float = 0.95,
    weights: Weights = "equal",
) -> AncovaResult:
    """:func:`ancova_gmr` on an ADaM-style data frame (one row per subject)."""
    missing = [c for c in (value, baseline, arm, *factors) if c not in df.columns]
    if missing:
        raise AnalysisError(f"column(s) {missing} not in the data frame")
    return ancova_gmr(
        df[value].to_numpy(), df[baseline].to_numpy(), df[arm].to_numpy(),
        treatment=treatment, reference=reference,
        factors={f: df[f].to_numpy() for f in factors}, conf_level=conf_level, weights=weights,
    )
