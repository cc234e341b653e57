"""ANCOVA of log titres: adjusted geometric means and their ratio, equal to R lm + emmeans.

The BEAT-LUPUS primary end point (IgG anti-dsDNA at week 52) is reported as geometric means
and a "% greater reduction from baseline" (Shipa et al. 2021; see
``shared/reference/beat_lupus.md``). Both come from the linear model

    log(y) ~ arm + log(baseline) + factors

fitted by least squares: the adjusted geometric mean of an arm is exp of its estimated
marginal mean, and the treatment effect is exp of the arm contrast, a ratio of geometric
means. Results equal R ``emmeans(fit, ~ arm)`` with ``type = "response"`` when the model is
fitted with a ``log_base = log(baseline)`` data column (tests/reference/ancova_reference.R).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.linalg
from scipy import stats

from lupustrial.errors import AnalysisError

Weights = Literal["equal", "proportional"]

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


def _positive(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric ({exc})") from exc
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be one-dimensional, got shape {arr.shape}")
    bad = np.flatnonzero(~(arr > 0))  # catches NaN as well as <= 0
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(
            f"{name}[{i}] is {float(arr[i])!r}: titres must be positive numbers to take logs"
        )
    return arr


def _labels(values: npt.ArrayLike, name: str, n: int) -> npt.NDArray[np.str_]:
    """Categorical labels as strings; missing values are an error, not a silent new level."""
    raw = list(values)  # type: ignore[call-overload]
    if len(raw) != n:
        raise AnalysisError(f"{name} has {len(raw)} values but y has {n}")
    for i, v in enumerate(raw):
        if v is None or (np.isscalar(v) and pd.isna(v)):
            raise AnalysisError(f"{name}[{i}] is missing")
    return np.array([str(v) for v in raw])


def _dummies(labels: npt.NDArray[np.str_], levels: Sequence[str]) -> npt.NDArray[np.float64]:
    """Treatment-contrast columns (R's contr.treatment): one per level after the first."""
    return (labels[:, None] == np.asarray(levels[1:])[None, :]).astype(float)


def _interval(
    estimate: float, se: float, df: float, conf_level: float
) -> tuple[float, float]:
    half = stats.t.ppf(0.5 + conf_level / 2, df) * se
    return float(np.exp(estimate - half)), float(np.exp(estimate + half))


def _unadjusted(
    log_y: npt.NDArray[np.float64], arms: npt.NDArray[np.str_], levels: Sequence[str],
    conf_level: float,
) -> tuple[ArmMean, ...]:
    out = []
    for level in levels:
        v = log_y[arms == level]
        mean, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
        lower, upper = _interval(mean, se, v.size - 1, conf_level)
        out.append(ArmMean(level, int(v.size), float(np.exp(mean)), lower, upper, mean, se))
    return tuple(out)


def geometric_means(
    values: npt.ArrayLike, arms: npt.ArrayLike, levels: Sequence[str], conf_level: float = 0.95
) -> tuple[ArmMean, ...]:
    """Plain geometric mean per arm with its t interval (``exp(t.test(log(x)))`` in R)."""
    log_y = np.log(_positive(values, "values"))
    return _unadjusted(log_y, _labels(arms, "arms", log_y.size), levels, conf_level)


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
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    if weights not in ("equal", "proportional"):
        raise AnalysisError(f"weights must be 'equal' or 'proportional', got {weights!r}")
    y_arr = _positive(y, "y")
    n = y_arr.size
    base = _positive(baseline, "baseline")
    if base.size != n:
        raise AnalysisError(f"baseline has {base.size} values but y has {n}")
    arms = _labels(arm, "arm", n)
    treatment, reference = str(treatment), str(reference)
    if treatment == reference:
        raise AnalysisError(f"treatment and reference are both {treatment!r}")
    present = sorted(set(arms.tolist()))
    for role, label in (("treatment", treatment), ("reference", reference)):
        if label not in present:
            raise AnalysisError(f"{role} arm {label!r} is not among the arms {present}")
    levels = [reference] + [a for a in present if a != reference]
    for level in levels:
        count = int((arms == level).sum())
        if count < 2:
            raise AnalysisError(f"arm {level!r} has {count} subject(s); at least 2 are needed")

    log_y, log_base = np.log(y_arr), np.log(base)
    names = ["(Intercept)"] + [f"arm{a}" for a in levels[1:]] + ["log(baseline)"]
    columns = [np.ones((n, 1)), _dummies(arms, levels), log_base[:, None]]
    # Row of the reference grid shared by every arm: covariate mean and averaged factor levels.
    grid = [np.ones(1), np.zeros(len(levels) - 1), np.array([log_base.mean()])]
    for fname, fvalues in (factors or {}).items():
        flab = _labels(fvalues, f"factors[{fname!r}]", n)
        flevels = sorted(set(flab.tolist()))
        if len(flevels) < 2:
            raise AnalysisError(f"factor {fname!r} has a single level {flevels[0]!r}")
        fcols = _dummies(flab, flevels)
        names += [f"{fname}{lv}" for lv in flevels[1:]]
        columns.append(fcols)
        grid.append(
            np.full(len(flevels) - 1, 1 / len(flevels)) if weights == "equal"
            else fcols.mean(axis=0)
        )
    x = np.hstack(columns)
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
    beta_piv = scipy.linalg.solve_triangular(r, q.T @ log_y)
    beta = np.empty(p)
    beta[piv] = beta_piv
    resid = log_y - x @ beta
    rss = float(resid @ resid)
    if np.sqrt(rss) <= 1e-10 * np.linalg.norm(log_y):  # zero up to rounding
        raise AnalysisError("the model fits log(y) exactly (residual SD 0): no inference possible")
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

    grid_row = np.concatenate(grid)
    adjusted = []
    vectors = {}
    for i, level in enumerate(levels):
        xv = grid_row.copy()
        if i:
            xv[i] = 1.0
        vectors[level] = xv
        est, s = float(xv @ beta), float(np.sqrt(xv @ cov @ xv))
        lower, upper = _interval(est, s, df, conf_level)
        adjusted.append(
            ArmMean(level, int((arms == level).sum()), float(np.exp(est)), lower, upper, est, s)
        )

    contrast = vectors[treatment] - vectors[reference]
    log_ratio = float(contrast @ beta)
    se_ratio = float(np.sqrt(contrast @ cov @ contrast))
    t_ratio = log_ratio / se_ratio
    ratio_lower, ratio_upper = _interval(log_ratio, se_ratio, df, conf_level)
    ratio = float(np.exp(log_ratio))
    return AncovaResult(
        treatment=treatment,
        reference=reference,
        conf_level=conf_level,
        weights=weights,
        log_baseline_mean=float(log_base.mean()),
        adjusted=tuple(adjusted),
        unadjusted=_unadjusted(log_y, arms, levels, conf_level),
        ratio=ratio,
        ratio_lower=ratio_lower,
        ratio_upper=ratio_upper,
        log_ratio=log_ratio,
        se_log_ratio=se_ratio,
        t=t_ratio,
        p_value=float(2 * stats.t.sf(abs(t_ratio), df)),
        percent_reduction=(1 - ratio) * 100,
        percent_reduction_lower=(1 - ratio_upper) * 100,
        percent_reduction_upper=(1 - ratio_lower) * 100,
        df_residual=df,
        sigma=float(np.sqrt(sigma2)),
        coefficients=coefficients,
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
