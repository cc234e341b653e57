"""Event counts over follow-up (e.g. flares per patient): negative binomial and Poisson rates.

Annualised flare rates and their ratio come from a log-linear model with the log of each
patient's exposure (years of follow-up) as offset,

    count ~ arm + covariates + offset(log(exposure_years)),

fitted as R's ``MASS::glm.nb`` (negative binomial, variance mu + mu^2 / theta, theta by
maximum likelihood) or ``glm(family = poisson)``. The negative binomial fit reproduces
``glm.nb``'s alternation step for step: a Poisson start, then IRLS at fixed theta
(:func:`lupustrial.analysis.glm.glm_fit`) alternating with ``theta.ml``'s Newton iterations
until the log-likelihood and theta settle (``theta.ml`` is called with the means *before* each
refit, as MASS does), so coefficients, SEs and theta equal R's, not merely a nearby optimum.

Per-arm rates are ``emmeans(fit, ~ arm, offset = 0, type = "response")``: events per patient
per year of exposure, with numeric covariates at their mean and factor levels averaged on the
log scale; intervals are Wald (z) on the log scale, as emmeans uses for these models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from lupustrial.analysis.glm import (
    POISSON,
    GlmFit,
    WaldCoefficient,
    glm_fit,
    negative_binomial_family,
    wald_table,
)
from lupustrial.analysis.survival import z_value
from lupustrial.analysis.terms import Terms, arm_levels, covariate_terms, dummies, finite, labels
from lupustrial.errors import AnalysisError

Model = Literal["negative_binomial", "poisson"]

#: ``glm.control()`` defaults, which ``glm.nb`` also uses for its alternation.
EPSILON, MAXIT = 1e-8, 25
THETA_DIVERGES = ("theta's maximum-likelihood estimate runs off to infinity (the counts show no overdispersion; "
                  "R's theta.ml fails too): the Poisson model fits them")


@dataclass(frozen=True)
class ArmRate:
    """One arm: patients, events, exposure (years), crude rate (events / exposure) and the
    model-based annualised rate (events per patient-year) with its SE and Wald interval."""

    arm: str
    n: int
    events: int
    exposure_years: float
    crude_rate: float
    rate: float
    rate_se: float
    rate_lower: float
    rate_upper: float


@dataclass(frozen=True)
class CountResult:
    """Rates per arm and the rate ratio (treatment / reference) from a count model.

    ``theta`` is the negative binomial shape (variance mu + mu^2 / theta; large theta is
    near-Poisson) with its SE from ``theta.ml``; both are None for the Poisson model.
    ``loglik`` is the full log-likelihood (``logLik``; for ``glm.nb``, ``twologlik / 2``).
    ``warning`` repeats a warning R would give (theta's iteration limit, the alternation limit).
    """

    model: Model
    treatment: str
    reference: str
    conf_level: float
    arms: tuple[ArmRate, ...]
    rate_ratio: float
    rate_ratio_lower: float
    rate_ratio_upper: float
    log_rate_ratio: float
    se_log_rate_ratio: float
    z: float
    p_value: float
    theta: float | None
    theta_se: float | None
    loglik: float
    deviance: float
    coefficients: tuple[WaldCoefficient, ...]
    iterations: int
    converged: bool
    warning: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types: nested dicts, tuples, str, int, float and None."""
        return dataclasses.asdict(self)


def nb_loglik_terms(theta: float | np.ndarray, mu: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each count's term of MASS ``glm.nb``'s log-likelihood at means ``mu`` and shape ``theta``
    (arrays broadcasting together, e.g. (trials, patients) with ``theta`` (trials, 1))."""
    return (special.gammaln(theta + y) - special.gammaln(theta) - special.gammaln(y + 1)
            + theta * np.log(theta) + y * np.log(mu + (y == 0)) - (theta + y) * np.log(theta + mu))


def _nb_loglik(theta: float, mu: np.ndarray, y: np.ndarray) -> float:
    """MASS ``glm.nb``'s log-likelihood of counts ``y`` at means ``mu`` and shape ``theta``."""
    return float(np.sum(nb_loglik_terms(theta, mu, y)))


def theta_terms(theta: float | np.ndarray, y: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each count's term of theta's score and information (``theta.ml``'s sums) at ``theta``,
    arrays broadcasting as in :func:`nb_loglik_terms`."""
    score = (special.digamma(theta + y) - special.digamma(theta) + np.log(theta) + 1
             - np.log(theta + mu) - (y + theta) / (mu + theta))
    info = (-special.polygamma(1, theta + y) + special.polygamma(1, theta) - 1 / theta
            + 2 / (mu + theta) - (y + theta) / (mu + theta) ** 2)
    return score, info


def theta_ml(y: np.ndarray, mu: np.ndarray, limit: int = MAXIT) -> tuple[float, float, str | None]:
    """MASS ``theta.ml``: Newton's method for theta at fixed means, from the moment estimate.

    Stops when a step is below eps^(1/4) (about 1.2e-4) or after ``limit`` - 1 steps; the SE
    is 1 / sqrt(information) at the last theta a step was taken *from*, as in MASS. A step that
    is not finite (theta running off to infinity: counts without overdispersion) is an error,
    as in R, where the next step's NaN stops ``theta.ml``.
    Returns (theta, SE, warning or None).
    """
    t0 = y.size / float(np.sum((y / mu - 1) ** 2))
    it, delta, info = 0, 1.0, np.nan
    while (it := it + 1) < limit and abs(delta) > np.finfo(float).eps ** 0.25:
        t0 = abs(t0)
        score_terms, info_terms = theta_terms(t0, y, mu)
        score, info = float(np.sum(score_terms)), float(np.sum(info_terms))
        if not (info and np.isfinite(score / info)):
            raise AnalysisError(THETA_DIVERGES)
        delta = score / info
        t0 += delta
    warning = None
    if t0 < 0:
        raise AnalysisError("theta's maximum-likelihood estimate is negative (R truncates it at 0)")
    if it == limit:
        warning = "theta.ml: iteration limit reached"
    return t0, float(np.sqrt(1 / info)), warning


def _glm_nb(
    x: np.ndarray, y: np.ndarray, offset: np.ndarray
) -> tuple[GlmFit, float, float, float, str | None]:
    """``MASS::glm.nb``'s alternation; returns the last fit, theta, its SE, loglik, warning."""
    fit = glm_fit(x, y, POISSON, offset=offset)
    mu = fit.mu
    theta, theta_se, warning = theta_ml(y, mu)
    d1 = np.sqrt(2 * max(1, y.size - x.shape[1]))
    loglik = _nb_loglik(theta, mu, y)
    loglik_old, change = loglik + 2 * d1, 1.0
    alternation = 0
    while (alternation := alternation + 1) <= MAXIT and (
        abs(loglik_old - loglik) / d1 + abs(change) > EPSILON
    ):
        fit = glm_fit(x, y, negative_binomial_family(theta), offset=offset, etastart=np.log(mu))
        previous = theta
        theta, theta_se, warning = theta_ml(y, mu)
        mu = fit.mu
        change = previous - theta
        loglik_old, loglik = loglik, _nb_loglik(theta, mu, y)
    if alternation > MAXIT:
        warning = "glm.nb: alternation limit reached"
    return fit, theta, theta_se, loglik, warning


def _count_model(
    model: Model, count: npt.ArrayLike, exposure_years: npt.ArrayLike, arm: npt.ArrayLike,
    treatment: str, reference: str, covariates: Mapping[str, npt.ArrayLike] | None,
    conf_level: float,
) -> CountResult:
    y = finite(count, "count")
    n = y.size
    bad = np.flatnonzero((y < 0) | (y != np.round(y)))
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(f"count[{i}] is {float(y[i])!r}: counts must be whole numbers >= 0")
    exposure = finite(exposure_years, "exposure_years", n, of="count")
    if (exposure <= 0).any():
        i = int(np.argmax(exposure <= 0))
        raise AnalysisError(f"exposure_years[{i}] is {float(exposure[i])!r}: exposure must be positive")
    crit = z_value(conf_level)
    arms = labels(arm, "arm", n, of="count")
    treatment, reference = str(treatment), str(reference)
    levels = arm_levels(arms, treatment, reference)
    for level in levels:
        if y[arms == level].sum() == 0:
            raise AnalysisError(
                f"arm {level!r} has no events: its rate is 0 and the rate ratio has no Wald interval"
            )
    design = Terms(("(Intercept)", *(f"arm{a}" for a in levels[1:])),
                   np.hstack([np.ones((n, 1)), dummies(arms, levels)]),
                   np.zeros(len(levels))) + covariate_terms(covariates, n, of="count")
    x = design.columns
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise AnalysisError(f"count model design is rank-deficient: terms {list(design.names)}")
    offset = np.log(exposure)
    if model == "negative_binomial":
        fit, theta, theta_se, loglik, warning = _glm_nb(x, y, offset)
    else:
        fit = glm_fit(x, y, POISSON, offset=offset)
        theta, theta_se, warning = None, None, None
        loglik = float(stats.poisson.logpmf(y, fit.mu).sum())
    se = np.sqrt(np.diag(fit.cov))
    table = wald_table(design.names, fit.coef, se)
    arm_rates = []
    for i, level in enumerate(levels):
        v = design.grid.copy()
        v[0] = 1.0
        if i:
            v[i] = 1.0
        log_rate, s = float(v @ fit.coef), float(np.sqrt(v @ fit.cov @ v))
        mine = arms == level
        events, years = int(y[mine].sum()), float(exposure[mine].sum())
        arm_rates.append(ArmRate(level, int(mine.sum()), events, years, events / years,
                                 float(np.exp(log_rate)), float(np.exp(log_rate) * s),
                                 float(np.exp(log_rate - crit * s)), float(np.exp(log_rate + crit * s))))
    j = levels.index(treatment)
    b, s = float(fit.coef[j]), float(se[j])
    return CountResult(
        model=model, treatment=treatment, reference=reference, conf_level=conf_level,
        arms=tuple(arm_rates), rate_ratio=float(np.exp(b)),
        rate_ratio_lower=float(np.exp(b - crit * s)), rate_ratio_upper=float(np.exp(b + crit * s)),
        log_rate_ratio=b, se_log_rate_ratio=s, z=table[j].z, p_value=table[j].p_value,
        theta=theta, theta_se=theta_se, loglik=loglik, deviance=fit.deviance,
        coefficients=table, iterations=fit.iterations, converged=fit.converged, warning=warning,
    )


def negative_binomial(
    count: npt.ArrayLike,
    exposure_years: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    conf_level: float = 0.95,
) -> CountResult:
    """Negative binomial rates and rate ratio, as ``MASS::glm.nb(count ~ arm + covariates +
    offset(log(exposure_years)))`` + ``emmeans(offset = 0, type = "response")``.

    ``count`` (n,) events per patient (whole numbers >= 0), ``exposure_years`` (n,) follow-up
    in years (> 0), ``arm`` (n,) labels; ``covariates`` maps names to (n,) arrays (numeric:
    continuous, at their mean in the rates; strings: factors). Rates are per patient-year.
    An arm without events is an error: its coefficient would be -infinity (R stops near -30).
    """
    return _count_model("negative_binomial", count, exposure_years, arm, treatment, reference,
                        covariates, conf_level)


def poisson(
    count: npt.ArrayLike,
    exposure_years: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    conf_level: float = 0.95,
) -> CountResult:
    """Poisson rates and rate ratio, as ``glm(count ~ arm + covariates +
    offset(log(exposure_years)), family = poisson)``; arguments as :func:`negative_binomial`.

    Assumes no overdispersion between patients, which flare counts rarely satisfy: use it as
    the comparator to :func:`negative_binomial`, not instead of it.
    """
    return _count_model("poisson", count, exposure_years, arm, treatment, reference,
                        covariates, conf_level)
