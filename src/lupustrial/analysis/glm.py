"""Generalised linear models fitted step for step as R's ``glm.fit``, and MASS's profile CIs.

R's ``glm`` stops iteratively reweighted least squares (IRLS) when the relative change in
deviance falls below ``epsilon`` (1e-8), and its standard errors come from the weights of the
last iteration, computed *before* the last update. Both make results depend on the path, not
only on the optimum, at the 1e-6 level, so :func:`glm_fit` follows R's path exactly: R's
starting values (each family's ``initialize``), R's clamped logit and log links, its
step-halving and its convergence test. :func:`profile_interval` then reproduces
``confint(glm)`` (MASS's ``profile.glm`` + ``confint.profile.glm`` in R 4.2): the signed
root deviance is evaluated on R's grid of steps and the interval is read off an interpolating
spline, not found by root-finding, so it differs from the exact profile interval by ~1e-5
relative, as R's does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from lupustrial.analysis.cox import diverging_signs
from lupustrial.errors import AnalysisError

Array = npt.NDArray[np.float64]

_EPS = float(np.finfo(float).eps)
#: R's logit link clamps the linear predictor to +/- 30 (C code ``logit_linkinv``).
_THRESH = 30.0


def _log_y_over(y: Array, mu: Array) -> Array:
    """y log(y / mu), 0 where y = 0 (R's ``y_log_y``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y != 0, y * np.log(y / mu), 0.0)


@dataclass(frozen=True)
class Family:
    """A GLM family with the link R gives it by default (logit, log), as R's family objects
    define its functions."""

    name: str
    linkfun: Callable[[Array], Array]
    linkinv: Callable[[Array], Array]
    mu_eta: Callable[[Array], Array]
    variance: Callable[[Array], Array]
    dev_resids: Callable[[Array, Array], Array]
    mustart: Callable[[Array], Array]
    valid_mu: Callable[[Array], Array]  # elementwise: a mean the family admits

    def validmu(self, mu: Array) -> bool:
        """R's ``validmu``: every mean admissible."""
        return bool(np.all(self.valid_mu(mu)))


def _logit_inv(eta: Array) -> Array:
    inside = np.exp(np.clip(eta, -_THRESH, _THRESH))
    tmp = np.where(eta < -_THRESH, _EPS, np.where(eta > _THRESH, 1 / _EPS, inside))
    return tmp / (1 + tmp)


def _logit_mu_eta(eta: Array) -> Array:
    e = np.exp(np.clip(eta, -_THRESH, _THRESH))
    return np.where(np.abs(eta) > _THRESH, _EPS, e / (1 + e) ** 2)


def _log_inv(eta: Array) -> Array:
    with np.errstate(over="ignore"):
        return np.maximum(np.exp(eta), _EPS)


BINOMIAL = Family(
    name="binomial",
    linkfun=lambda mu: np.log(mu / (1 - mu)),
    linkinv=_logit_inv,
    mu_eta=_logit_mu_eta,
    variance=lambda mu: mu * (1 - mu),
    dev_resids=lambda y, mu: 2 * (_log_y_over(y, mu) + _log_y_over(1 - y, 1 - mu)),
    mustart=lambda y: (y + 0.5) / 2,
    valid_mu=lambda mu: np.isfinite(mu) & (mu > 0) & (mu < 1),
)

POISSON = Family(
    name="poisson",
    linkfun=np.log,
    linkinv=_log_inv,
    mu_eta=_log_inv,
    variance=lambda mu: mu,
    dev_resids=lambda y, mu: 2 * np.where(y > 0, _log_y_over(y, mu) - (y - mu), mu),
    mustart=lambda y: y + 0.1,
    valid_mu=lambda mu: np.isfinite(mu) & (mu > 0),
)


def negative_binomial_family(theta: float | Array) -> Family:
    """MASS's ``negative.binomial(theta)`` with log link: variance mu + mu^2 / theta (``theta``
    may be an array broadcasting against the means, e.g. (trials, 1) for many trials at once)."""
    return Family(
        name="negative_binomial",
        linkfun=np.log,
        linkinv=_log_inv,
        mu_eta=_log_inv,
        variance=lambda mu: mu + mu**2 / theta,
        dev_resids=lambda y, mu: 2 * (
            y * np.log(np.maximum(1, y) / mu) - (y + theta) * np.log((y + theta) / (mu + theta))
        ),
        mustart=lambda y: y + (y == 0) / 6,
        valid_mu=lambda mu: mu > 0,
    )


@dataclass(frozen=True)
class GlmFit:
    """An IRLS fit. ``coef`` (p,), ``cov`` (p, p) = (X'WX)^-1 with the last iteration's
    weights (R's ``summary.glm`` covariance at dispersion 1), ``eta`` and ``mu`` (n,) with
    the offset included."""

    coef: Array
    cov: Array
    eta: Array
    mu: Array
    deviance: float
    iterations: int
    converged: bool


def glm_fit(
    x: Array,
    y: Array,
    family: Family,
    offset: Array | None = None,
    etastart: Array | None = None,
    epsilon: float = 1e-8,
    maxit: int = 25,
) -> GlmFit:
    """R's ``glm.fit`` (unit prior weights, full-rank ``x`` (n, p)); the same iterates as R.

    Starts from ``etastart`` or the family's ``mustart``, and stops when
    |dev - dev_old| / (|dev| + 0.1) < ``epsilon``; a non-finite deviance or invalid mean
    halves the step towards the previous coefficients, as R does.
    """
    n = y.size
    off = np.zeros(n) if offset is None else offset
    eta = family.linkfun(family.mustart(y)) if etastart is None else etastart
    mu = family.linkinv(eta)
    devold = float(family.dev_resids(y, mu).sum())
    coef = coefold = None
    converged = False
    for iteration in range(1, maxit + 1):
        mu_eta = family.mu_eta(eta)
        z = eta - off + (y - mu) / mu_eta
        w2 = mu_eta**2 / family.variance(mu)
        xw = x * np.sqrt(w2)[:, None]
        start = np.linalg.lstsq(xw, z * np.sqrt(w2), rcond=None)[0]
        cov = np.linalg.inv(xw.T @ xw)
        eta = x @ start + off
        mu = family.linkinv(eta)
        dev = float(family.dev_resids(y, mu).sum())
        for _ in range(maxit):
            if np.isfinite(dev) and family.validmu(mu):
                break
            if coefold is None:
                raise AnalysisError(f"{family.name} GLM: no valid coefficients at the first step")
            start = (start + coefold) / 2
            eta = x @ start + off
            mu = family.linkinv(eta)
            dev = float(family.dev_resids(y, mu).sum())
        coef = start
        if abs(dev - devold) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        devold, coefold = dev, start
    assert coef is not None
    return GlmFit(coef, cov, eta, mu, dev, iteration, converged)


def fmm_spline(x: Array, y: Array, xout: Array) -> Array:
    """R's ``spline(method = "fmm")`` evaluated at ``xout``: the interpolating cubic whose
    end third derivatives match those of the cubics through the first and last four points
    (Forsythe, Malcolm & Moler). ``x`` is sorted and distinct, with at least 2 points."""
    n = x.size
    if n < 3:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return y[0] + slope * (xout - x[0])
    d = np.diff(x)
    slopes = np.diff(y) / d
    diag = np.empty(n)
    rhs = np.zeros(n)
    diag[0], diag[-1] = -d[0], -d[-1]
    diag[1:-1] = 2 * (d[:-1] + d[1:])
    rhs[1:-1] = slopes[1:] - slopes[:-1]
    if n > 3:
        rhs[0] = rhs[2] / (x[3] - x[1]) - rhs[1] / (x[2] - x[0])
        rhs[-1] = rhs[-2] / (x[-1] - x[-3]) - rhs[-3] / (x[-2] - x[-4])
        rhs[0] = rhs[0] * d[0] ** 2 / (x[3] - x[0])
        rhs[-1] = -rhs[-1] * d[-1] ** 2 / (x[-1] - x[-4])
    for i in range(1, n):  # Gaussian elimination on the symmetric tridiagonal system
        t = d[i - 1] / diag[i - 1]
        diag[i] -= t * d[i - 1]
        rhs[i] -= t * rhs[i - 1]
    sigma = np.empty(n)
    sigma[-1] = rhs[-1] / diag[-1]
    for i in range(n - 2, -1, -1):
        sigma[i] = (rhs[i] - d[i] * sigma[i + 1]) / diag[i]
    b = np.append(slopes - d * (sigma[1:] + 2 * sigma[:-1]), slopes[-1] + d[-1] * (sigma[-2] + 2 * sigma[-1]))
    c = 3 * sigma
    cubic = np.append(np.diff(sigma) / d, np.diff(sigma)[-1] / d[-1])
    i = np.clip(np.searchsorted(x, xout, side="right") - 1, 0, n - 1)
    dx = xout - x[i]
    return y[i] + dx * (b[i] + dx * (c[i] + dx * cubic[i]))


def profile_interval(
    x: Array,
    y: Array,
    family: Family,
    fit: GlmFit,
    j: int,
    conf_level: float,
    offset: Array | None = None,
) -> tuple[float, float]:
    """``confint(glm)[j, ]`` of R 4.2 (MASS): the profile-likelihood interval of ``coef[j]``.

    MASS steps the coefficient away from its estimate by del = zmax / 5 standard errors, at
    most 9 steps each way, refitting the others (:func:`glm_fit` with the previous fit's
    linear predictor as start) until the signed root deviance z passes
    zmax = qnorm(1 - (1 - conf_level) / 8); it then interpolates the points (coef, z) with
    an FMM spline on 3 × (number of points) equally spaced values and reads off where z
    crosses qnorm((1 -/+ conf_level) / 2) by linear interpolation. A bound the steps never
    reach is nan (R's NA).
    """
    n = y.size
    off = np.zeros(n) if offset is None else offset
    alpha = (1 - conf_level) / 4
    zmax = float(np.sqrt(stats.chi2.ppf(1 - alpha, 1)))
    step_size = zmax / 5 * float(np.sqrt(fit.cov[j, j]))
    others = np.delete(np.arange(x.shape[1]), j)
    values, zs = [float(fit.coef[j])], [0.0]
    for sign in (-1.0, 1.0):
        eta = fit.eta
        z = 0.0
        step = 0
        while (step := step + 1) < 10 and abs(z) < zmax:
            b = float(fit.coef[j]) + sign * step * step_size
            o = off + x[:, j] * b
            sub = glm_fit(x[:, others], y, family, offset=o, etastart=eta)
            eta = sub.eta
            zz = sub.deviance - fit.deviance
            if zz <= -1e-3:
                raise AnalysisError("profiling found a better fit: the original fit had not converged")
            z = sign * float(np.sqrt(max(zz, 0.0)))
            values.append(b)
            zs.append(z)
    order = np.argsort(zs, kind="stable")
    px, pz = np.asarray(values)[order], np.asarray(zs)[order]
    grid = np.linspace(px.min(), px.max(), 3 * px.size)
    by_x = np.argsort(px, kind="stable")
    spline_z = fmm_spline(px[by_x], pz[by_x], grid)
    by_z = np.argsort(spline_z, kind="stable")
    cutoff = stats.norm.ppf([(1 - conf_level) / 2, (1 + conf_level) / 2])
    lower, upper = np.interp(cutoff, spline_z[by_z], grid[by_z], left=np.nan, right=np.nan)
    return float(lower), float(upper)


def separation(x: Array, y: Array, tol: float = 1e-7) -> Array:
    """Direction (+1, -1, 0, or nan if both) in which each logistic coefficient diverges.

    The likelihood increases without bound along a direction d exactly when every
    responder has x'd >= 0 and every non-responder x'd <= 0 (quasi-complete separation,
    e.g. an arm with no responders); coefficient j can diverge iff such a d has d_j != 0,
    which two linear programs per coefficient decide. R's ``glm`` instead stops at a large
    finite value (about ±20 to ±30) with a tiny gradient and a huge SE.
    """
    p = x.shape[1]
    scaled = x / np.abs(x).max(axis=0).clip(min=1e-300)
    return diverging_signs(-(2 * y - 1)[:, None] * scaled, [(-1.0, 1.0)] * p, p, tol)


@dataclass(frozen=True)
class WaldCoefficient:
    """One row of R's ``summary(glm)`` table: estimate, SE, z = estimate / SE, two-sided p."""

    term: str
    estimate: float
    se: float
    z: float
    p_value: float


def wald_table(names: tuple[str, ...], coef: Array, se: Array) -> tuple[WaldCoefficient, ...]:
    """The coefficient table; a term with an infinite estimate gets nan SE, z and p."""
    z = coef / se
    return tuple(
        WaldCoefficient(nm, float(b), float(s), float(zv), float(2 * stats.norm.sf(abs(zv))))
        for nm, b, s, zv in zip(names, coef, se, z, strict=True)
    )
