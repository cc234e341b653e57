"""Logistic, Poisson and negative binomial regressions for many simulated trials at once, equal
trial by trial to the single fits (:mod:`lupustrial.analysis.responder`, :mod:`.counts`).

R's ``glm.fit`` makes results depend on its path, not only on the optimum (see
:mod:`lupustrial.analysis.glm`), so the batched IRLS here takes every trial down the single
fit's path: the same start, the same step-halving and the same convergence test, each trial
stopping at its own iteration, on arrays of shape (trials, patients) with a ``mask`` of real
patients (padded cells are ignored, NaN included). ``glm.nb``'s alternation with ``theta.ml``
is batched the same way, trial by trial. The model is ``y ~ arm + factors`` (+ the log-exposure
offset for counts), the factors as :func:`~lupustrial.analysis.batch.ancova_gmr_batch` builds
them: the arm coefficient does not depend on which level is each factor's reference.

A trial the single fit would refuse (an arm without patients, or without events for a count
model; a factor with one level; a rank-deficient design; a negative theta; no valid first
IRLS step) is not estimable and its results are NaN. A logistic fit whose likelihood is
monotone (an arm, or a covariate level, with no or only responders: quasi-complete
separation, decided by the single fit's linear programs) has the single fit's estimate, ±inf
for the arm (NaN when another term diverges) and a NaN p-value. A count model whose cell of
arm × factor levels has no events is fitted by the single fit itself (its coefficient drifts
off as R's does, to a point rounding decides); without factors that cannot happen (an arm
without events is refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from lupustrial.analysis.batch import _arrays, _check, _factor_columns
from lupustrial.analysis.counts import EPSILON, MAXIT, nb_loglik_terms, negative_binomial, poisson, theta_terms
from lupustrial.analysis.glm import BINOMIAL, POISSON, Family, negative_binomial_family, separation
from lupustrial.errors import AnalysisError


@dataclass(frozen=True)
class _Design:
    """``x`` (trials, patients, terms): intercept, arm, factor dummies, zero in padded rows and
    in ``dropped`` columns (trials, terms: a level the trial lacks, or its reference);
    ``estimable`` (trials,): the single fit would accept the design."""

    x: np.ndarray
    dropped: np.ndarray
    estimable: np.ndarray


def _design(treated: np.ndarray, valid: np.ndarray, factors: Mapping[str, ArrayLike] | None) -> _Design:
    """The design of ``y ~ arm + factors`` per trial, and whether the single fit accepts it: both
    arms present, every factor with two levels or more, full rank by ``matrix_rank``'s rule."""
    factor_cols, factor_dropped, enough_levels = _factor_columns(factors or {}, valid)
    arm = np.where(valid, treated, 0.0)
    x = np.concatenate([np.stack([valid.astype(float), arm], axis=2), *factor_cols], axis=2)
    dropped = np.concatenate([np.zeros((x.shape[0], 2), dtype=bool), *factor_dropped], axis=1)
    n, n_treated, terms = valid.sum(axis=1), arm.sum(axis=1), (~dropped).sum(axis=1)
    singular = np.linalg.svd(x, compute_uv=False)
    tol = singular.max(axis=1) * np.maximum(n, terms) * np.finfo(float).eps
    full_rank = (singular > tol[:, None]).sum(axis=1) == terms
    return _Design(x, dropped, (n_treated >= 1) & (n - n_treated >= 1) & enough_levels & full_rank)


@dataclass(frozen=True)
class _Irls:
    """The batched IRLS of the trials asked for (``fitted``: False where ``glm_fit`` would raise or
    the trial was not asked): ``coef`` (trials, terms), ``cov`` (trials, terms, terms) from the
    last iteration's weights, ``mu`` (trials, patients)."""

    coef: np.ndarray
    cov: np.ndarray
    mu: np.ndarray
    fitted: np.ndarray


def _deviance(family: Family, y: np.ndarray, mu: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return np.where(valid, family.dev_resids(y, mu), 0.0).sum(axis=1)


def _irls(design: _Design, y: np.ndarray, valid: np.ndarray, family: Family, offset: np.ndarray,
          active: np.ndarray, etastart: np.ndarray | None = None, epsilon: float = 1e-8, maxit: int = 25) -> _Irls:
    """:func:`~lupustrial.analysis.glm.glm_fit` for each ``active`` trial, decision for decision.

    ``y`` and ``offset`` (trials, patients) are zero in padded cells. A dropped column gets a
    private unit diagonal in X'WX, so its coefficient is 0 and the others are the single fit's.
    """
    x, n_trials, p = design.x, *design.x.shape[::2]
    private = design.dropped[:, :, None] * np.eye(p)
    eta = family.linkfun(family.mustart(y)) if etastart is None else etastart
    mu = family.linkinv(eta)
    devold = _deviance(family, y, mu, valid)
    coef, coefold, cov = np.zeros((n_trials, p)), None, np.tile(np.eye(p), (n_trials, 1, 1))
    running, fitted = active.copy(), active.copy()
    for _ in range(maxit):
        mu_eta = family.mu_eta(eta)
        use = valid & running[:, None]
        w = np.where(use, mu_eta**2 / family.variance(mu), 0.0)
        wz = np.where(use, w * (eta - offset + (y - mu) / mu_eta), 0.0)
        xtwx = np.einsum("tnp,tn,tnq->tpq", x, w, x) + np.where(running[:, None, None], private, np.eye(p))
        xtwx[~np.isfinite(xtwx).all(axis=(1, 2))] = np.eye(p)  # no step: the deviance says so below
        cov_new = np.linalg.inv(xtwx)
        start = np.linalg.solve(xtwx, np.einsum("tnp,tn->tp", x, wz)[..., None])[..., 0]
        for _ in range(maxit):
            eta_new = np.einsum("tnp,tp->tn", x, start) + offset
            mu_new = family.linkinv(eta_new)
            dev = _deviance(family, y, mu_new, valid)
            bad = running & ~(np.isfinite(dev) & np.where(valid, family.valid_mu(mu_new), True).all(axis=1))
            if not bad.any():
                break
            if coefold is None:  # glm_fit: no valid coefficients at the first step
                fitted &= ~bad
                running &= ~bad
            else:
                start = np.where(bad[:, None], (start + coefold) / 2, start)
        coef, cov = np.where(running[:, None], start, coef), np.where(running[:, None, None], cov_new, cov)
        eta, mu = np.where(running[:, None], eta_new, eta), np.where(running[:, None], mu_new, mu)
        running &= ~(np.abs(dev - devold) / (np.abs(dev) + 0.1) < epsilon)
        if not running.any():
            break
        devold, coefold = dev, start
    return _Irls(coef, cov, mu, fitted)


@dataclass(frozen=True)
class GlmBatchResult:
    """Per-trial results (arrays of length T) of :func:`logistic_batch` / :func:`rate_ratio_batch`.

    ``log_ratio`` is the arm coefficient (log odds ratio, log rate ratio; treatment vs
    reference) with its Wald ``se``, ``z`` and two-sided ``p_value``; ``control_rate`` and
    ``treatment_rate`` each arm's crude proportion responding, or events per patient-year;
    ``exposure`` the mean follow-up in years per patient (counts); ``theta`` the negative
    binomial shape (variance mu + mu² / theta). ``estimable`` is False where the single fit
    would refuse; everything but the crude rates is NaN there.
    """

    log_ratio: np.ndarray
    se: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    control_rate: np.ndarray
    treatment_rate: np.ndarray
    estimable: np.ndarray
    exposure: np.ndarray | None = None
    theta: np.ndarray | None = None


def _wald(coef: np.ndarray, se: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, ...]:
    """(estimate, se, z, two-sided p) of the arm, NaN where not ``ok``, as ``wald_table``."""
    nan = np.where(ok, 1.0, np.nan)
    with np.errstate(invalid="ignore"):
        z = coef / se
    return coef * nan, se * nan, z * nan, 2 * stats.norm.sf(np.abs(z)) * nan


def _arm_rates(numerator: np.ndarray, denominator: np.ndarray, treated: np.ndarray,
               valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(control, treatment) ratios of the sums of ``numerator`` and ``denominator`` per arm."""
    def rate(arm: np.ndarray) -> np.ndarray:
        mine = valid & arm
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(mine, numerator, 0.0).sum(axis=1) / np.where(mine, denominator, 0.0).sum(axis=1)

    return rate(treated == 0), rate(treated == 1)


def _cells(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Patients sharing a design row (a cell: arm × factor levels) per trial: (patients, sum of
    ``y``), both (trials, cells) arrays, zero past a trial's last cell."""
    keys = np.where(valid, x @ np.random.default_rng(0).normal(size=x.shape[2]), np.inf)
    order = np.argsort(keys, axis=1, kind="stable")
    keys, yy = np.take_along_axis(keys, order, axis=1), np.take_along_axis(y, order, axis=1)
    first = np.ones(keys.shape, dtype=bool)
    first[:, 1:] = keys[:, 1:] != keys[:, :-1]
    cell = np.cumsum(first, axis=1) - 1
    rows = np.repeat(np.arange(keys.shape[0]), keys.shape[1])
    size, total = np.zeros(keys.shape), np.zeros(keys.shape)
    real = np.isfinite(keys)
    np.add.at(size, (rows, cell.ravel()), real.ravel())
    np.add.at(total, (rows, cell.ravel()), (yy * real).ravel())
    return size, total


def _separated_arm(design: _Design, y: np.ndarray, valid: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """The single fit's arm coefficient where the logistic likelihood is monotone: ±inf (the
    arm diverges), NaN (it diverges both ways, or another term does); 0 where it is not."""
    out = np.zeros(y.shape[0])
    size, responders = _cells(design.x, y, valid)
    pure = ((size > 0) & ((responders == 0) | (responders == size))).any(axis=1)  # else nothing separates
    for i in np.flatnonzero(fitted & pure):
        signs = separation(design.x[i][valid[i]][:, ~design.dropped[i]], y[i][valid[i]])
        if (signs != 0).any():
            out[i] = signs[1] * np.inf if signs[1] != 0 else np.nan
    return out


def logistic_batch(response: ArrayLike, treated: ArrayLike, *, factors: Mapping[str, ArrayLike] | None = None,
                   mask: ArrayLike | None = None) -> GlmBatchResult:
    """The logistic odds ratio of :func:`~lupustrial.analysis.responder.responder` (``glm(response
    ~ arm + factors, binomial)``, Wald test) for every trial, vectorised.

    ``response`` 0/1 and ``treated`` 1/0 are (trials, patients) arrays, ``factors`` name ->
    (trials, patients) level labels, ``mask`` True for an analysed patient.
    """
    valid, a = _arrays(mask, response=response, treated=treated)
    with np.errstate(invalid="ignore"):
        _check(np.isin(a["response"], (0.0, 1.0)) & np.isin(a["treated"], (0.0, 1.0)), valid,
               "response and treated must be 0 or 1")
    design = _design(a["treated"], valid, factors)
    y = np.where(valid, a["response"], 0.0)
    fit = _irls(design, y, valid, BINOMIAL, np.zeros_like(y), design.estimable)
    diverging = _separated_arm(design, y, valid, fit.fitted)
    monotone = diverging != 0
    coef = np.where(monotone, diverging, fit.coef[:, 1])
    se = np.where(monotone, np.nan, np.sqrt(fit.cov[:, 1, 1]))
    estimate, se, z, p_value = _wald(coef, se, fit.fitted)
    return GlmBatchResult(estimate, se, z, p_value, *_arm_rates(y, np.ones_like(y), a["treated"], valid),
                          fit.fitted)


def _theta_ml(y: np.ndarray, mu: np.ndarray, valid: np.ndarray, active: np.ndarray,
              limit: int = MAXIT) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~lupustrial.analysis.counts.theta_ml` for each ``active`` trial: (theta (T,), and
    whether the single fit accepts it: every step finite, theta not negative)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = valid.sum(axis=1) / np.where(valid, (y / mu - 1) ** 2, 0.0).sum(axis=1)
    delta, running, active = np.ones_like(theta), active.copy(), active.copy()
    for _ in range(1, limit):
        running &= np.abs(delta) > np.finfo(float).eps ** 0.25
        steps = np.flatnonzero(running)  # only these: trigamma is most of the cost
        if not steps.size:
            break
        t0 = np.abs(theta[steps])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            score, info = (np.where(valid[steps], v, 0.0).sum(axis=1)
                           for v in theta_terms(t0[:, None], y[steps], mu[steps]))
            step = score / info
        finite = np.isfinite(step)
        active[steps[~finite]] = running[steps[~finite]] = False
        theta[steps[finite]], delta[steps[finite]] = t0[finite] + step[finite], step[finite]
    return theta, active & ~(theta < 0)


def _glm_nb(design: _Design, y: np.ndarray, valid: np.ndarray, offset: np.ndarray,
            active: np.ndarray) -> tuple[_Irls, np.ndarray]:
    """``MASS::glm.nb``'s alternation (:func:`~lupustrial.analysis.counts._glm_nb`) for each
    ``active`` trial: the last IRLS fit (its ``fitted`` False where the single fit raises) and theta."""
    fit = _irls(design, y, valid, POISSON, offset, active)
    mu = fit.mu
    theta, ok = _theta_ml(y, mu, valid, fit.fitted)
    d1 = np.sqrt(2 * np.maximum(1, valid.sum(axis=1) - (~design.dropped).sum(axis=1)))

    def loglik(theta: np.ndarray, mu: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(valid, nb_loglik_terms(theta[:, None], mu, y), 0.0).sum(axis=1)

    now = loglik(theta, mu)
    before, change, running = now + 2 * d1, np.ones_like(theta), ok.copy()
    for _ in range(MAXIT):
        with np.errstate(invalid="ignore"):
            running &= np.abs(before - now) / d1 + np.abs(change) > EPSILON
        if not running.any():
            break
        refit = _irls(design, y, valid, negative_binomial_family(theta[:, None]), offset, running, np.log(mu))
        new_theta, theta_ok = _theta_ml(y, mu, valid, refit.fitted)
        ok &= ~running | theta_ok
        running &= theta_ok
        fit = _Irls(*(np.where(running.reshape(-1, *[1] * (new.ndim - 1)), new, old)
                      for new, old in ((refit.coef, fit.coef), (refit.cov, fit.cov), (refit.mu, fit.mu))), ok)
        change, theta = np.where(running, theta - new_theta, change), np.where(running, new_theta, theta)
        mu = np.where(running[:, None], refit.mu, mu)
        before, now = np.where(running, now, before), np.where(running, loglik(theta, mu), now)
    return _Irls(fit.coef, fit.cov, fit.mu, ok), theta


def rate_ratio_batch(count: ArrayLike, exposure_years: ArrayLike, treated: ArrayLike, *,
                     model: Literal["negative_binomial", "poisson"], factors: Mapping[str, ArrayLike] | None = None,
                     mask: ArrayLike | None = None) -> GlmBatchResult:
    """The rate ratio of :func:`~lupustrial.analysis.counts.negative_binomial` or
    :func:`~lupustrial.analysis.counts.poisson` (``count ~ arm + factors +
    offset(log(exposure_years))``, Wald test) for every trial, vectorised.

    ``count`` (events, whole numbers >= 0), ``exposure_years`` (follow-up in years, > 0) and
    ``treated`` 1/0 are (trials, patients) arrays; ``factors`` and ``mask`` as in
    :func:`logistic_batch`. A trial with an arm without events is not estimable, as there.
    """
    valid, a = _arrays(mask, count=count, exposure_years=exposure_years, treated=treated)
    with np.errstate(invalid="ignore"):
        _check(np.isfinite(a["count"]) & (a["count"] >= 0) & (a["count"] == np.round(a["count"])), valid,
               "counts must be whole numbers >= 0")
        _check(np.isfinite(a["exposure_years"]) & (a["exposure_years"] > 0), valid, "exposure must be positive")
        _check(np.isin(a["treated"], (0.0, 1.0)), valid, "treated must be 0 or 1")
    design = _design(a["treated"], valid, factors)
    y, years = np.where(valid, a["count"], 0.0), np.where(valid, a["exposure_years"], 1.0)
    control, treatment = _arm_rates(y, years, a["treated"], valid)
    active = design.estimable & (control > 0) & (treatment > 0)
    offset = np.where(valid, np.log(years), 0.0)
    theta = None
    if model == "negative_binomial":
        fit, theta = _glm_nb(design, y, valid, offset, active)
    else:
        fit = _irls(design, y, valid, POISSON, offset, active)
    wald = np.stack(_wald(fit.coef[:, 1], np.sqrt(fit.cov[:, 1, 1]), fit.fitted))
    theta = np.where(fit.fitted, np.nan if theta is None else theta, np.nan)
    size, events = _cells(design.x, y, valid)
    drifting = fit.fitted & ((size > 0) & (events == 0)).any(axis=1)  # a factor level's cell without events
    for i in np.flatnonzero(drifting):
        wald[:, i], theta[i] = _single_rate_ratio(model, {k: v[i][valid[i]] for k, v in a.items()},
                                                  {k: np.asarray(v)[i][valid[i]] for k, v in (factors or {}).items()})
    exposure = np.where(valid, years, 0.0).sum(axis=1) / valid.sum(axis=1)
    return GlmBatchResult(*wald, control, treatment, fit.fitted & np.isfinite(wald[0]), exposure,
                          theta if model == "negative_binomial" else None)


def _single_rate_ratio(model: Literal["negative_binomial", "poisson"], a: dict[str, np.ndarray],
                       factors: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
    """The single fit of one trial ((estimate, se, z, p), theta; NaN where it refuses), for a trial
    whose likelihood may be monotone in a factor level (a cell of arm × levels without events):
    there R's IRLS stops on a coefficient drifting towards -infinity, at a point rounding decides,
    which only the single fit's own arithmetic reproduces to 1e-8."""
    fit = {"negative_binomial": negative_binomial, "poisson": poisson}[model]
    try:
        with np.errstate(all="ignore"):  # its intervals of a drifting coefficient overflow, as R's do
            r = fit(a["count"], a["exposure_years"], np.where(a["treated"] == 1, "T", "R"), treatment="T",
                    reference="R", covariates={k: np.asarray(v, dtype=object) for k, v in factors.items()})
    except AnalysisError:
        return np.full(4, np.nan), np.nan
    return np.array([r.log_rate_ratio, r.se_log_rate_ratio, r.z, r.p_value]), np.nan if r.theta is None else r.theta
