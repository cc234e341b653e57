"""Mixed model for repeated measures (MMRM) with unstructured covariance, fitted by REML.

The usual primary analysis of a continuous end point measured at several visits (SLEDAI-2K,
C3, log anti-dsDNA): every patient's visits share an unstructured T × T covariance Σ and

    y ~ arm * visit + baseline * visit + covariates,

which is R's ``nlme::gls(..., correlation = corSymm(form = ~ visit_index | subject),
weights = varIdent(form = ~ 1 | visit), method = "REML")``. Patients with missing visits
(dropouts, skipped visits) contribute the visits they have, through the matching block of Σ
(missing at random); rows whose ``y`` is NaN are such missing visits.

Σ is parameterised by its Cholesky factor L (log of its diagonal), so every parameter value
is a valid covariance; the restricted log-likelihood and its analytic gradient are summed over
groups of patients sharing a pattern of observed visits. BFGS gets close and Newton steps with
a numerically differentiated (Richardson) Hessian finish, to a step below 1e-10: much tighter
than ``gls``'s default ``nlminb`` stop, which leaves Σ about 1e-5 (relative) short of the
optimum; the test fixtures therefore polish R's fit with Newton steps too
(tests/reference/mmrm_reference.R).

Adjusted means per visit and arm and the treatment differences are emmeans'
(``emmeans(fit, ~ arm | visit)``: baseline at its mean over the analysed rows, factor levels
averaged equally). Degrees of freedom: emmeans' default for such a ``gls`` fit is
"appx-satterthwaite", which perturbs the data with random noise and refits, so it gives a
different df on every call and cannot be reproduced. ``df_method="satterthwaite"`` (default)
is the exact Satterthwaite df that it approximates, 2 v² / (g' H⁻¹ g) for an estimate of
variance v, with g the gradient of v in the covariance parameters and H the observed REML
information (as SAS ``DDFM=SATTERTHWAITE`` and the R ``mmrm`` package use);
``"df.error"`` is emmeans' ``mode = "df.error"``, N − p − (number of covariance parameters − 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.linalg
from scipy import differentiate, optimize, stats

from lupustrial.analysis.ancova import Coefficient
from lupustrial.analysis.terms import (
    Terms,
    arm_levels,
    covariate_terms,
    dummies,
    finite,
    is_numeric,
    labels,
)
from lupustrial.errors import AnalysisError

DfMethod = Literal["satterthwaite", "df.error"]
Array = npt.NDArray[np.float64]

#: Newton polishing stops when no Cholesky parameter moves more than this.
STEP_TOL = 1e-10


@dataclass(frozen=True)
class _Pattern:
    """Patients who share one set of observed visits: ``visits`` (k,) indices into 0..T-1,
    ``rows`` (m, k) row numbers of their observations, in visit order."""

    visits: npt.NDArray[np.intp]
    rows: npt.NDArray[np.intp]


@dataclass(frozen=True)
class _Data:
    y: Array  # (N,)
    x: Array  # (N, p)
    visit_index: npt.NDArray[np.intp]  # (N,) 0..T-1
    n_visits: int
    patterns: tuple[_Pattern, ...]


@dataclass(frozen=True)
class _Gls:
    """Generalised least squares at one Σ, with what the derivatives need."""

    beta: Array  # (p,)
    cov_beta: Array  # (p, p) = (X' Σ⁻¹ X)⁻¹
    reml: float
    inverses: tuple[Array, ...]  # Σ_pattern⁻¹ per pattern
    resid: tuple[Array, ...]  # (m, k) per pattern


def _cholesky(theta: Array, t: int) -> Array:
    low = np.zeros((t, t))
    low[np.tril_indices(t)] = theta
    low[np.diag_indices(t)] = np.exp(np.diag(low))
    return low


def _to_theta(sigma_derivative: Array, low: Array) -> Array:
    """d/dθ of a function whose derivative in symmetric Σ is ``sigma_derivative`` (T, T)."""
    t = low.shape[0]
    grad_l = 2 * sigma_derivative @ low
    grad_l[np.diag_indices(t)] *= np.diag(low)
    return grad_l[np.tril_indices(t)]


def _gls(sigma: Array, data: _Data) -> _Gls:
    n, p = data.x.shape
    xtwx, xtwy, logdet = np.zeros((p, p)), np.zeros(p), 0.0
    inverses = []
    for pat in data.patterns:
        factor = scipy.linalg.cho_factor(sigma[np.ix_(pat.visits, pat.visits)], lower=True)
        inv = scipy.linalg.cho_solve(factor, np.eye(pat.visits.size))
        inverses.append(inv)
        logdet += pat.rows.shape[0] * 2 * float(np.log(np.diag(factor[0])).sum())
        x, y = data.x[pat.rows], data.y[pat.rows]
        wx = np.einsum("kl,mlp->mkp", inv, x)
        xtwx += np.einsum("mkp,mkq->pq", x, wx)
        xtwy += np.einsum("mkp,mk->p", wx, y)
    chol = scipy.linalg.cho_factor(xtwx, lower=True)
    beta = scipy.linalg.cho_solve(chol, xtwy)
    cov_beta = scipy.linalg.cho_solve(chol, np.eye(p))
    resid = tuple(data.y[pat.rows] - data.x[pat.rows] @ beta for pat in data.patterns)
    quad = sum(float(np.einsum("mk,kl,ml->", r, inv, r)) for r, inv in zip(resid, inverses, strict=True))
    logdet_xtwx = 2 * float(np.log(np.diag(chol[0])).sum())
    reml = -0.5 * (logdet + logdet_xtwx + quad + (n - p) * np.log(2 * np.pi))
    return _Gls(beta, cov_beta, reml, tuple(inverses), resid)


def _objective(theta: Array, data: _Data) -> tuple[float, Array]:
    """Minus the REML log-likelihood and its gradient in θ.

    dREML = -½ Σ_i tr[(Σ_i⁻¹ − Σ_i⁻¹ (X_i M X_i' + r_i r_i') Σ_i⁻¹) dΣ_i] with M = (X'Σ⁻¹X)⁻¹
    (β̂ is at its optimum, so its own change does not count).
    """
    low = _cholesky(theta, data.n_visits)
    try:
        g = _gls(low @ low.T, data)
    except np.linalg.LinAlgError:  # Σ numerically singular: a line search overshot
        return np.inf, np.zeros_like(theta)
    d_sigma = np.zeros((data.n_visits, data.n_visits))
    for pat, inv, r in zip(data.patterns, g.inverses, g.resid, strict=True):
        x = data.x[pat.rows]
        inner = np.einsum("mkp,pq,mlq->kl", x, g.cov_beta, x) + r.T @ r
        d_sigma[np.ix_(pat.visits, pat.visits)] += -0.5 * (pat.rows.shape[0] * inv - inv @ inner @ inv)
    return -g.reml, -_to_theta(d_sigma, low)


def _hessian(theta: Array, data: _Data) -> Array:
    """Hessian of minus the REML log-likelihood: fourth-order central differences of the
    analytic gradient (step 1e-3 in θ; within ~1e-10 of a fully Richardson-extrapolated one)."""
    q = theta.size

    def gradient(points: Array) -> Array:
        flat = points.reshape(q, -1)
        out = np.stack([_objective(flat[:, i], data)[1] for i in range(flat.shape[1])], axis=1)
        return out.reshape(points.shape)

    res = differentiate.jacobian(gradient, theta, order=4, maxiter=1, initial_step=1e-3)
    return (res.df + res.df.T) / 2


def _optimise(theta0: Array, data: _Data) -> tuple[Array, Array]:
    """BFGS from ``theta0``, then Newton steps until no parameter moves more than STEP_TOL.

    Returns θ̂ and the Hessian there. Raises if the Hessian stops being positive definite
    (no interior maximum: Σ tends to a singular matrix) or Newton does not settle.
    """
    res = optimize.minimize(_objective, theta0, args=(data,), jac=True, method="BFGS",
                            options={"gtol": 1e-8, "maxiter": 2000})
    theta, value = res.x, res.fun
    for _ in range(30):
        hess = _hessian(theta, data)
        try:
            np.linalg.cholesky(hess)
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(hess, _objective(theta, data)[1])
        for _ in range(30):  # halve a step that does not improve (far from the optimum)
            new_value = _objective(theta - step, data)[0]
            if new_value <= value + 1e-12 * abs(value):
                break
            step /= 2
        theta, value = theta - step, new_value
        if np.max(np.abs(step)) < STEP_TOL:
            hess = _hessian(theta, data)
            if np.all(np.linalg.eigvalsh(hess) > 0):
                return theta, hess
            break
    raise AnalysisError(
        "the REML fit reached no maximum with a positive-definite information matrix: the"
        " visit covariance is (near) singular; too few patients per visit, or visits that"
        " move in lockstep, for an unstructured covariance"
    )


@dataclass(frozen=True)
class VisitMean:
    """An arm's adjusted mean at one visit (outcome units), with SE, df and t interval;
    ``n`` counts the arm's observations at that visit."""

    visit: str
    arm: str
    n: int
    mean: float
    se: float
    df: float
    lower: float
    upper: float


@dataclass(frozen=True)
class VisitDifference:
    """Treatment − reference at one visit, with SE, df, t interval and two-sided p-value."""

    visit: str
    difference: float
    se: float
    df: float
    lower: float
    upper: float
    t: float
    p_value: float


@dataclass(frozen=True)
class MmrmResult:
    """An MMRM fit: per-visit adjusted means and treatment differences, and the covariance.

    ``visits`` and ``arms`` are in model order (visits sorted, numerically when numeric;
    reference arm first). ``covariance`` is the estimated T × T Σ between visits (outcome
    units squared), rows and columns in ``visits`` order. ``coefficients`` is R's
    ``summary(gls)`` table (t tests on N − p df). ``reml_loglik`` is ``logLik(fit)`` of the
    REML fit, maximised until Newton's steps fall below 1e-10 (else the fit raises).
    """

    treatment: str
    reference: str
    conf_level: float
    df_method: DfMethod
    visits: tuple[str, ...]
    arms: tuple[str, ...]
    means: tuple[VisitMean, ...]
    differences: tuple[VisitDifference, ...]
    covariance: tuple[tuple[float, ...], ...]
    reml_loglik: float
    coefficients: tuple[Coefficient, ...]
    baseline_mean: float | None
    n_subjects: int
    n_observations: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready plain types: nested dicts, tuples, str, int, float and None."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class _Model:
    data: _Data
    names: tuple[str, ...]
    visits: list[str]
    arms: list[str]
    grid: dict[tuple[str, str], Array]  # (visit, arm) -> (p,) reference-grid row
    counts: dict[tuple[str, str], int]
    baseline_mean: float | None
    n_subjects: int


def _visit_labels(values: npt.ArrayLike, n: int) -> tuple[npt.NDArray[np.str_], list[str]]:
    """Visit labels and their order: numeric visits sorted by value and written as R writes
    factor levels of numbers (12, not 12.0); other visits sorted as strings."""
    if is_numeric(values):
        num = finite(values, "visit", n)
        levels = sorted(set(num.tolist()))
        text = {v: format(v, "g") for v in levels}
        return np.array([text[v] for v in num.tolist()]), [text[v] for v in levels]
    lab = labels(values, "visit", n)
    return lab, sorted(set(lab.tolist()))


def _patterns(subjects: npt.NDArray[np.str_], visit_index: npt.NDArray[np.intp]) -> tuple[_Pattern, ...]:
    order = np.lexsort((visit_index, subjects))
    by_pattern: dict[tuple[int, ...], list[npt.NDArray[np.intp]]] = {}
    starts = np.flatnonzero(np.r_[True, subjects[order][1:] != subjects[order][:-1]])
    for rows in np.split(order, starts[1:]):
        by_pattern.setdefault(tuple(visit_index[rows].tolist()), []).append(rows)
    return tuple(_Pattern(np.array(k, dtype=np.intp), np.array(v)) for k, v in sorted(by_pattern.items()))


def _rows(values: npt.ArrayLike, name: str, n_all: int, keep: npt.NDArray[np.bool_]) -> np.ndarray:
    """The analysed rows of a per-row input (checked to have one value per row of ``y``)."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size != n_all:
        raise AnalysisError(f"{name} has {arr.size} values but y has {n_all}")
    return arr[keep]


def _grid_row(design: Terms, visit: str, arm: str, base_mean: float | None) -> Array:
    """emmeans' reference-grid row for one (visit, arm) cell of ``y ~ arm * visit + ...``."""
    row = design.grid.copy()
    for name, value in ((f"arm{arm}", 1.0), (f"visit{visit}", 1.0),
                        (f"arm{arm}:visit{visit}", 1.0), (f"visit{visit}:baseline", base_mean)):
        if name in design.names:
            row[design.names.index(name)] = value
    return row


def _model(
    y: npt.ArrayLike, subject: npt.ArrayLike, visit: npt.ArrayLike, arm: npt.ArrayLike,
    baseline: npt.ArrayLike | None, covariates: Mapping[str, npt.ArrayLike] | None,
    treatment: str, reference: str,
) -> _Model:
    """Validate the long-format data (one row per patient and visit) and build the design."""
    y_all = np.asarray(y, dtype=float)
    if y_all.ndim != 1:
        raise AnalysisError(f"y must be one-dimensional, got shape {y_all.shape}")
    if np.isinf(y_all).any():
        raise AnalysisError(f"y[{int(np.argmax(np.isinf(y_all)))}] is infinite")
    keep = ~np.isnan(y_all)
    n_all, n = y_all.size, int(keep.sum())
    subj = labels(_rows(subject, "subject", n_all, keep), "subject", n)
    vis, visits = _visit_labels(_rows(visit, "visit", n_all, keep), n)
    arms = labels(_rows(arm, "arm", n_all, keep), "arm", n)
    if len(visits) < 2:
        raise AnalysisError("an MMRM needs at least 2 visits; use ancova for a single one")
    pairs = np.char.add(np.char.add(subj, "\x00"), vis)
    _, first, counts = np.unique(pairs, return_index=True, return_counts=True)
    if (counts > 1).any():
        i = int(first[np.argmax(counts > 1)])
        raise AnalysisError(f"subject {str(subj[i])!r} has more than one row at visit {str(vis[i])!r}")
    for s in np.unique(subj):
        if np.unique(arms[subj == s]).size > 1:
            raise AnalysisError(f"subject {str(s)!r} is in more than one arm")
    levels = arm_levels(arms, treatment, reference)
    arm_cols, visit_cols = dummies(arms, levels), dummies(vis, visits)
    design = (
        Terms(("(Intercept)",), np.ones((n, 1)), np.ones(1))
        + Terms(tuple(f"arm{a}" for a in levels[1:]), arm_cols, np.zeros(len(levels) - 1))
        + Terms(tuple(f"visit{v}" for v in visits[1:]), visit_cols, np.zeros(len(visits) - 1))
    )
    base = base_mean = None
    if baseline is not None:
        base = finite(_rows(baseline, "baseline", n_all, keep), "baseline", n)
        base_mean = float(base.mean())
        design += Terms(("baseline",), base[:, None], np.array([base_mean]))
    design += covariate_terms(
        {k: _rows(v, f"covariates[{k!r}]", n_all, keep) for k, v in (covariates or {}).items()}, n
    )
    inter = tuple(f"arm{a}:visit{v}" for v in visits[1:] for a in levels[1:])
    inter_cols = (visit_cols[:, :, None] * arm_cols[:, None, :]).reshape(n, -1)
    design += Terms(inter, inter_cols, np.zeros(len(inter)))
    if base is not None:
        design += Terms(tuple(f"visit{v}:baseline" for v in visits[1:]),
                        visit_cols * base[:, None], np.zeros(len(visits) - 1))
    if np.linalg.matrix_rank(design.columns) < design.columns.shape[1]:
        raise AnalysisError(
            "MMRM design is rank-deficient: every arm needs observations at every visit"
        )
    visit_index = np.array([visits.index(v) for v in vis], dtype=np.intp)
    return _Model(
        data=_Data(y_all[keep], design.columns, visit_index, len(visits),
                   _patterns(subj, visit_index)),
        names=design.names, visits=visits, arms=levels,
        grid={(v, a): _grid_row(design, v, a, base_mean) for v in visits for a in levels},
        counts={(v, a): int(((vis == v) & (arms == a)).sum()) for v in visits for a in levels},
        baseline_mean=base_mean, n_subjects=int(np.unique(subj).size),
    )


def _satterthwaite(k: Array, model: _Model, gls: _Gls, low: Array, hess: Array) -> float:
    """Satterthwaite df of k'β̂: 2 v² / (g' H⁻¹ g), v = k'Mk, g = dv/dθ, H the REML Hessian.

    dv = k'M X'Σ⁻¹ dΣ Σ⁻¹X M k, summed over patients as a derivative in Σ.
    """
    mk = gls.cov_beta @ k
    d_sigma = np.zeros_like(low)
    for pat, inv in zip(model.data.patterns, gls.inverses, strict=True):
        a = model.data.x[pat.rows] @ mk @ inv  # (m, k): Σ⁻¹ X_i M k per patient
        d_sigma[np.ix_(pat.visits, pat.visits)] += a.T @ a
    g = _to_theta(d_sigma, low)
    v = float(k @ mk)
    return float(2 * v**2 / (g @ np.linalg.solve(hess, g)))


def mmrm(
    y: npt.ArrayLike,
    subject: npt.ArrayLike,
    visit: npt.ArrayLike,
    arm: npt.ArrayLike,
    *,
    treatment: str,
    reference: str,
    baseline: npt.ArrayLike | None = None,
    covariates: Mapping[str, npt.ArrayLike] | None = None,
    conf_level: float = 0.95,
    df_method: DfMethod = "satterthwaite",
) -> MmrmResult:
    """REML MMRM of ``y ~ arm * visit (+ baseline * visit) + covariates``, unstructured Σ.

    Long format, one row per patient and visit, all (N,): ``y`` the outcome (NaN = missing
    visit, dropped), ``subject``, ``visit`` (numbers such as weeks, or labels) and ``arm``
    labels, ``baseline`` (outcome units, may repeat per patient) and ``covariates`` (names to
    arrays; numeric: continuous, strings: factors), which enter as main effects.
    """
    if not 0 < conf_level < 1:
        raise AnalysisError(f"conf_level must be between 0 and 1, got {conf_level}")
    if df_method not in ("satterthwaite", "df.error"):
        raise AnalysisError(f"df_method must be 'satterthwaite' or 'df.error', got {df_method!r}")
    treatment, reference = str(treatment), str(reference)
    model = _model(y, subject, visit, arm, baseline, covariates, treatment, reference)
    data, t = model.data, model.data.n_visits
    n, p = data.x.shape
    q = t * (t + 1) // 2
    if n - p - q + 1 < 1:
        raise AnalysisError(f"{n} observations are too few for {p} mean and {q} covariance parameters")
    # start: independent visits with the spread of least-squares residuals at each
    resid = data.y - data.x @ np.linalg.lstsq(data.x, data.y, rcond=None)[0]
    spread = [resid[data.visit_index == v].std() for v in range(t)]
    theta0 = np.zeros(q)
    theta0[[i * (i + 1) // 2 + i for i in range(t)]] = np.log(np.maximum(spread, 1e-8))
    theta, hess = _optimise(theta0, data)
    low = _cholesky(theta, t)
    gls = _gls(low @ low.T, data)

    def inference(k: Array) -> tuple[float, float, float, float, float]:
        """Estimate, SE, df and t interval of k'β."""
        df = _satterthwaite(k, model, gls, low, hess) if df_method == "satterthwaite" else n - p - q + 1
        est, se = float(k @ gls.beta), float(np.sqrt(k @ gls.cov_beta @ k))
        half = float(stats.t.ppf(0.5 + conf_level / 2, df)) * se
        return est, se, df, est - half, est + half

    means, differences = [], []
    for v in model.visits:
        means += [VisitMean(v, a, model.counts[(v, a)], *inference(model.grid[(v, a)]))
                  for a in model.arms]
        est, se, df, lower, upper = inference(model.grid[(v, treatment)] - model.grid[(v, reference)])
        differences.append(VisitDifference(v, est, se, df, lower, upper, est / se,
                                           float(2 * stats.t.sf(abs(est / se), df))))
    se_beta = np.sqrt(np.diag(gls.cov_beta))
    tval = gls.beta / se_beta
    return MmrmResult(
        treatment=treatment, reference=reference, conf_level=conf_level, df_method=df_method,
        visits=tuple(model.visits), arms=tuple(model.arms), means=tuple(means),
        differences=tuple(differences),
        covariance=tuple(tuple(float(c) for c in row) for row in low @ low.T),
        reml_loglik=gls.reml,
        coefficients=tuple(
            Coefficient(nm, float(b), float(s), float(tv), float(2 * stats.t.sf(abs(tv), n - p)))
            for nm, b, s, tv in zip(model.names, gls.beta, se_beta, tval, strict=True)
        ),
        baseline_mean=model.baseline_mean, n_subjects=model.n_subjects, n_observations=n,
    )
