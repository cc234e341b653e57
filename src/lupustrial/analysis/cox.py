"""Cox proportional-hazards regression equal to R ``coxph``, plus Firth's penalised likelihood.

A small lupus trial has few flares (BEAT-LUPUS: 3 vs 10), and an arm with none at all makes the
Cox likelihood monotone: the hazard ratio's maximum-likelihood estimate is 0 or infinite. R then
returns a coefficient near ±20 with a warning; here such a fit is detected exactly and reported
as such, and ``firth=True`` gives Heinze & Schemper's finite penalised estimate (as R ``coxphf``).

The maximum-likelihood fit reproduces R's ``coxfit6`` step by step (centring and scaling of the
covariates, Newton–Raphson with R's step-halving, its Cholesky with rank tolerance, and
convergence when the relative change in log-likelihood is below ``eps``), so results coincide
with ``coxph`` rather than merely agreeing at the optimum. Unlike R, times are not passed
through ``aeqSurv`` (times differing only by floating-point noise stay distinct).

All partial-likelihood work goes through :class:`RiskSets` (the data's fixed structure) and
:func:`partial_likelihood` (derivatives at one β) so that a batched (trials × patients)
version can reuse the same risk-set sums along a leading axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, sparse, stats

from lupustrial.analysis.survival import validate_labels, validate_time_event, z_value
from lupustrial.errors import AnalysisError

Ties = Literal["efron", "breslow"]

#: R ``coxph.control()``'s Cholesky tolerance.
TOLER_CHOL = float(np.finfo(float).eps ** 0.75)
#: A covariate whose values are all in this set is neither centred nor scaled (R's ``nocenter``).
_NOCENTER = (-1.0, 0.0, 1.0)
#: Firth fits use R coxphf's default iteration limit ...
FIRTH_ITER_MAX = 50
#: ... and stop when no coefficient moves more than this (scaled units): ``eps`` of the ML fit
#: bounds the change in loglik, which would leave profile-CI roots too coarse.
FIRTH_STEP_TOL = 1e-10


@dataclass(frozen=True)
class RiskSets:
    """The structure of the partial likelihood of one data set; it does not depend on β.

    Rows are sorted by stratum, then by descending time, so the risk set of an event time is a
    contiguous run from its stratum's first row to the last row tied at that time. Each
    denominator term of the partial likelihood is "risk-set sum minus ``frac`` × tied-deaths
    sum" of one event-time block, counted ``weight`` times: Breslow has one term of weight d per
    block, Efron d terms with frac 0, 1/d, ..., (d-1)/d.
    """

    x: np.ndarray  # (n, p) centred and scaled covariates, sorted rows
    event: np.ndarray  # (n,) 0/1, sorted rows
    risk_first: np.ndarray  # (m,) first row of each event block's risk set
    block_first: np.ndarray  # (m,) first row tied at the block's time
    block_last: np.ndarray  # (m,) last row tied at the block's time
    term_block: np.ndarray  # (k,) block of each denominator term
    term_frac: np.ndarray  # (k,)
    term_weight: np.ndarray  # (k,)
    scale: np.ndarray  # (p,) x_original - mean = x / scale


def risk_sets(time: np.ndarray, event: np.ndarray, x: np.ndarray, strata: np.ndarray, ties: Ties) -> RiskSets:
    """Sort the data and index its event-time blocks and Efron/Breslow denominator terms."""
    order = np.lexsort((-time, strata))
    t, e, s, xs = time[order], event[order], strata[order], x[order]
    n = t.size
    new_stratum = np.r_[True, s[1:] != s[:-1]]
    stratum_first = np.maximum.accumulate(np.where(new_stratum, np.arange(n), 0))
    block_first = np.flatnonzero(new_stratum | np.r_[True, t[1:] != t[:-1]])
    block_last = np.r_[block_first[1:] - 1, n - 1]
    deaths = np.add.reduceat(e, block_first)
    has = deaths > 0
    block_first, block_last, deaths = block_first[has], block_last[has], deaths[has]
    blocks = np.arange(deaths.size)
    if ties == "efron":
        term_block = np.repeat(blocks, deaths)
        rank_in_block = np.arange(term_block.size) - np.repeat(np.cumsum(deaths) - deaths, deaths)
        term_frac = rank_in_block / deaths[term_block]
        term_weight = np.ones(term_block.size)
    else:
        term_block, term_frac, term_weight = blocks, np.zeros(blocks.size), deaths.astype(float)
    centre = ~np.all(np.isin(xs, _NOCENTER), axis=0)
    xc = xs - np.where(centre, xs.mean(axis=0), 0.0)
    spread = np.abs(xc).sum(axis=0)
    scale = np.where(centre & (spread > 0), n / np.where(spread > 0, spread, 1.0), 1.0)
    return RiskSets(
        x=xc * scale,
        event=e,
        risk_first=stratum_first[block_first],
        block_first=block_first,
        block_last=block_last,
        term_block=term_block,
        term_frac=term_frac,
        term_weight=term_weight,
        scale=scale,
    )


@dataclass(frozen=True)
class Derivatives:
    """Log partial likelihood, score, information and (for Firth) ∂I/∂β at one β."""

    loglik: float
    score: np.ndarray  # (p,)
    information: np.ndarray  # (p, p)
    d_information: np.ndarray | None  # (p, p, p): [j, k, r] = ∂I_jk / ∂β_r


def partial_likelihood(rs: RiskSets, beta: np.ndarray, third: bool = False) -> Derivatives:
    """Derivatives of the log partial likelihood at ``beta`` (scaled-covariate units).

    Each denominator term is the log of a positively weighted sum of exp(x'β), so its
    derivatives are the weighted mean, covariance and third central moment of x; cumulative
    sums over the sorted rows give every risk set in one pass.
    """
    n, p = rs.x.shape
    eta = rs.x @ beta
    shift = max(float(eta.max()) - 500.0, 0.0)  # only against overflow: R does not shift
    w = np.exp(eta - shift)
    features = [w[:, None]]
    power = w[:, None]
    for _ in range(3 if third else 2):
        power = (power[:, :, None] * rs.x[:, None, :]).reshape(n, -1)
        features.append(power)
    f = np.concatenate(features, axis=1)
    zero = np.zeros((1, f.shape[1]))
    cum = np.vstack([zero, np.cumsum(f, axis=0)])
    cum_dead = np.vstack([zero, np.cumsum(f * rs.event[:, None], axis=0)])
    risk = cum[rs.block_last + 1] - cum[rs.risk_first]
    dead = cum_dead[rs.block_last + 1] - cum_dead[rs.block_first]
    sums = risk[rs.term_block] - rs.term_frac[:, None] * dead[rs.term_block]
    s0 = sums[:, 0]
    m = sums[:, 1 : 1 + p] / s0[:, None]
    e2 = sums[:, 1 + p : 1 + p + p * p].reshape(-1, p, p) / s0[:, None, None]
    loglik = float(rs.event @ eta - rs.term_weight @ (np.log(s0) + shift))
    score = rs.event @ rs.x - rs.term_weight @ m
    cov = e2 - m[:, :, None] * m[:, None, :]
    information = np.einsum("t,tjk->jk", rs.term_weight, cov)
    d_information = None
    if third:
        e3 = sums[:, 1 + p + p * p :].reshape(-1, p, p, p) / s0[:, None, None, None]
        k3 = (
            e3
            - np.einsum("tjk,tr->tjkr", e2, m)
            - np.einsum("tjr,tk->tjkr", e2, m)
            - np.einsum("tkr,tj->tjkr", e2, m)
            + 2 * np.einsum("tj,tk,tr->tjkr", m, m, m)
        )
        d_information = np.einsum("t,tjkr->jkr", rs.term_weight, k3)
    return Derivatives(loglik, score, information, d_information)


def _cholesky2(a: np.ndarray, toler: float = TOLER_CHOL) -> tuple[np.ndarray, int]:
    """R survival's ``cholesky2``: LDL' with pivots below ``toler`` × max diagonal set to 0.

    Ported so that near-singular steps (a diverging coefficient) follow R's path exactly.
    Returns the factor (D on the diagonal, L below) and the rank (negative if not p.s.d.).
    """
    m = np.array(a, dtype=float)
    p = m.shape[0]
    top = max(float(np.max(np.diag(m), initial=0.0)), 0.0)
    eps = toler if top == 0 else top * toler
    rank, nonneg = 0, 1
    for i in range(p):
        pivot = m[i, i]
        if not np.isfinite(pivot) or pivot < eps:
            m[i, i] = 0.0
            if pivot < -8 * eps:
                nonneg = -1
            continue
        rank += 1
        for j in range(i + 1, p):
            temp = m[j, i] / pivot
            m[j, i] = temp
            m[j, j] -= temp * temp * pivot
            m[j + 1 :, j] -= temp * m[j + 1 :, i]
    return m, rank * nonneg


def _chsolve2(factor: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R survival's ``chsolve2``: solve with a :func:`_cholesky2` factor (0 for dropped pivots)."""
    y = np.array(y, dtype=float)
    p = y.size
    for i in range(p):
        y[i] -= y[:i] @ factor[i, :i]
    for i in range(p - 1, -1, -1):
        y[i] = 0.0 if factor[i, i] == 0 else y[i] / factor[i, i] - y[i + 1 :] @ factor[i + 1 :, i]
    return y


def _generalised_inverse(information: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Inverse over the pivots :func:`_cholesky2` kept, zero rows/columns elsewhere (R ``chinv2``)."""
    keep = np.flatnonzero(np.diag(factor) != 0)
    var = np.zeros_like(information)
    var[np.ix_(keep, keep)] = np.linalg.inv(information[np.ix_(keep, keep)])
    return var


@dataclass(frozen=True)
class _Fit:
    beta: np.ndarray
    loglik: float
    derivatives: Derivatives
    iterations: int
    converged: bool


def _newton_r(rs: RiskSets, eps: float, iter_max: int) -> _Fit:
    """Maximise the partial likelihood exactly as R's ``coxfit6`` does (from β = 0)."""
    beta = np.zeros(rs.x.shape[1])
    d = partial_likelihood(rs, beta)
    factor, _ = _cholesky2(d.information)
    best = d.loglik
    new = beta + _chsolve2(factor, d.score)
    halving = 0
    for iteration in range(1, iter_max + 1):
        d = partial_likelihood(rs, new)
        factor, _ = _cholesky2(d.information)
        finite = np.isfinite(d.loglik) and np.isfinite(d.score).all() and np.isfinite(d.information).all()
        with np.errstate(divide="ignore", invalid="ignore"):  # loglik 0: C's inf/nan, no stop
            relative_change = abs(1 - np.float64(best) / np.float64(d.loglik))
        if finite and relative_change <= eps:
            return _Fit(new, d.loglik, d, iteration, True)
        if not finite or d.loglik < best:
            halving += 1
            new = (new + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            best = d.loglik
            beta, new = new, new + _chsolve2(factor, d.score)
    d = partial_likelihood(rs, beta)
    return _Fit(beta, d.loglik, d, iter_max, False)


def _penalised(rs: RiskSets, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Firth-penalised log-likelihood l(β) + ½ log|I(β)|, its gradient and I(β) (scaled units).

    The penalty is computed from I in scaled units; it differs from the original-unit penalty
    by the constant Σ log(scale), which :func:`_firth_loglik` removes for reporting.
    """
    d = partial_likelihood(rs, beta, third=True)
    assert d.d_information is not None
    sign, logdet = np.linalg.slogdet(d.information)
    if sign <= 0 or not np.isfinite(d.loglik):
        return -np.inf, np.full(beta.size, np.nan), d.information
    inv = np.linalg.inv(d.information)
    gradient = d.score + 0.5 * np.einsum("jk,kjr->r", inv, d.d_information)
    return d.loglik + 0.5 * logdet, gradient, d.information


def _firth_loglik(rs: RiskSets, value: float) -> float:
    return value - float(np.log(rs.scale).sum())


def _maximise_penalised(
    rs: RiskSets, start: np.ndarray, free: np.ndarray, iter_max: int, eps: float
) -> tuple[np.ndarray, float, int, bool]:
    """Maximise the penalised likelihood over the ``free`` coordinates (others held fixed).

    Newton steps with I(β) in place of the penalised Hessian (as coxphf) and step-halving;
    converged when the largest step is below ``eps`` in scaled units.
    """
    beta = start.copy()
    value, gradient, info = _penalised(rs, beta)
    if not free.any():
        return beta, value, 0, True
    for iteration in range(1, iter_max + 1):
        step = np.zeros_like(beta)
        step[free] = np.linalg.solve(info[np.ix_(free, free)], gradient[free])
        for _ in range(30):
            trial = beta + step
            new_value, new_gradient, new_info = _penalised(rs, trial)
            if new_value >= value - 1e-12 * abs(value):
                break
            step /= 2
        beta, value, gradient, info = trial, new_value, new_gradient, new_info
        if np.max(np.abs(step)) <= eps:
            return beta, value, iteration, True
    return beta, value, iter_max, False


def monotone_directions(rs: RiskSets, tol: float = 1e-7) -> np.ndarray:
    """Sign (+1, -1, 0, or nan if both) in which each coefficient may diverge to ∞.

    The partial likelihood (Breslow or Efron) increases without bound along a direction d
    exactly when every event's x'd is the largest in its risk set (strictly somewhere, which
    d != 0 implies once X has full rank). Covariate j can diverge iff such a d has d_j != 0;
    two linear programs per covariate decide it. This is exact, unlike R's one-step heuristic
    ("Loglik converged before variable ..."), which the tests check it against.

    Risk sets are nested, so instead of one constraint per (event, subject at risk) pair each
    event block b gets a variable M_b >= x_k'd for the subjects who leave the risk set after
    b, with M_b >= M_(next later block) and x_event'd >= M_b: O(n) constraints, not O(n²).
    """
    n, p = rs.x.shape
    m = rs.block_first.size
    x = rs.x / np.abs(rs.x).max(axis=0).clip(min=1e-300)
    # row k's smallest risk set: the first block (in sorted order) ending at or after k
    block_of_row = np.searchsorted(rs.block_last, np.arange(n), side="left")
    at_risk = block_of_row < m
    at_risk[at_risk] &= rs.risk_first[block_of_row[at_risk]] <= np.flatnonzero(at_risk)
    rows_k = np.flatnonzero(at_risk)
    events = np.flatnonzero(rs.event == 1)
    event_block = np.searchsorted(rs.block_last, events, side="left")
    chain = np.flatnonzero(rs.risk_first[1:] == rs.risk_first[:-1])  # block b+1 ⊇ block b
    # variables: d (p), then M (m); every constraint is  (...) <= 0
    n_con = rows_k.size + events.size + chain.size
    a = sparse.lil_matrix((n_con, p + m))
    r = np.arange(rows_k.size)
    a[r[:, None], np.arange(p)] = x[rows_k]
    a[r, p + block_of_row[rows_k]] = -1.0
    r = rows_k.size + np.arange(events.size)
    a[r[:, None], np.arange(p)] = -x[events]
    a[r, p + event_block] = 1.0
    r = rows_k.size + events.size + np.arange(chain.size)
    a[r, p + chain] = 1.0
    a[r, p + chain + 1] = -1.0
    return diverging_signs(a.tocsr(), [(-1.0, 1.0)] * p + [(None, None)] * m, p, tol)


def diverging_signs(
    a_ub: Any, bounds: Sequence[tuple[float | None, float | None]], p: int, tol: float = 1e-7
) -> np.ndarray:
    """Sign (+1, -1, 0, or nan if both) that each of the first ``p`` variables can take in the
    cone {z : A_ub z <= 0} within ``bounds``: two linear programs per variable.

    A likelihood that increases without bound exactly along such a cone's directions (Cox's
    risk sets, logistic separation) has a coefficient diverging in the signs found here.
    """
    n_con, n_var = a_ub.shape
    signs = np.zeros(p)
    for j in range(p):
        can = []
        for sense in (1.0, -1.0):
            c = np.zeros(n_var)
            c[j] = -sense
            res = optimize.linprog(c, A_ub=a_ub, b_ub=np.zeros(n_con), bounds=bounds, method="highs")
            can.append(res.status == 0 and -res.fun > tol)
        signs[j] = np.nan if all(can) else (1.0 if can[0] else (-1.0 if can[1] else 0.0))
    return signs


@dataclass(frozen=True)
class TestResult:
    """A chi-square test: statistic, degrees of freedom, p-value."""

    statistic: float
    df: int
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"statistic": self.statistic, "df": self.df, "p_value": self.p_value}


def _chi2(statistic: float, df: int) -> TestResult:
    return TestResult(float(statistic), df, float(stats.chi2.sf(statistic, df)))


@dataclass(frozen=True)
class CoxResult:
    """A Cox model fit; arrays are per coefficient, in the order of ``names``.

    When the likelihood is monotone (``monotone``), the coefficients named in
    ``monotone_names`` have no finite estimate: their ``coef`` is ±inf (nan if the direction is
    not determined), ``hazard_ratio`` 0 or inf, and se, z, p and CI nan; the LR and score tests
    remain valid, the Wald test is nan. With ``firth=True`` every estimate is finite;
    ``loglik``/``loglik_null`` and ``lr_test`` are then penalised, ``p_value`` and the CI come
    from the profile penalised likelihood (as coxphf), ``se``/``z`` from I(β)⁻¹ and the
    score test is the ordinary one.
    """

    names: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    hazard_ratio: np.ndarray
    ci_lower: np.ndarray
    ci_upper: np.ndarray
    z: np.ndarray
    p_value: np.ndarray
    var: np.ndarray
    loglik: float
    loglik_null: float
    lr_test: TestResult
    wald_test: TestResult
    score_test: TestResult
    n: int
    n_events: int
    iterations: int
    converged: bool
    ties: Ties
    firth: bool
    conf_level: float
    monotone: bool
    monotone_names: tuple[str, ...]
    message: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready results (non-finite values stay float ``nan``/``inf``)."""
        per_coef = ("coef", "se", "hazard_ratio", "ci_lower", "ci_upper", "z", "p_value")
        return {
            "names": list(self.names),
            **{k: [float(v) for v in getattr(self, k)] for k in per_coef},
            "var": [[float(v) for v in row] for row in self.var],
            "loglik": self.loglik,
            "loglik_null": self.loglik_null,
            "lr_test": self.lr_test.to_dict(),
            "wald_test": self.wald_test.to_dict(),
            "score_test": self.score_test.to_dict(),
            "n": self.n,
            "n_events": self.n_events,
            "iterations": self.iterations,
            "converged": self.converged,
            "ties": self.ties,
            "firth": self.firth,
            "conf_level": self.conf_level,
            "monotone": self.monotone,
            "monotone_names": list(self.monotone_names),
            "message": self.message,
        }


def _design(x: ArrayLike, n: int, names: str | Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    xa = np.asarray(x, dtype=float)
    if xa.ndim == 1:
        xa = xa[:, None]
    if xa.ndim != 2 or xa.shape[0] != n:
        raise AnalysisError(f"X must have one row per subject ({n}), got shape {np.shape(x)}")
    if xa.shape[1] == 0:
        raise AnalysisError("X has no covariates")
    if not np.isfinite(xa).all():
        row, col = np.argwhere(~np.isfinite(xa))[0]
        raise AnalysisError(f"X has a missing or infinite value at row {row + 1}, column {col + 1}")
    p = xa.shape[1]
    labels = (names,) if isinstance(names, str) else tuple(names) if names is not None else None
    if labels is None:
        labels = ("x",) if p == 1 else tuple(f"x{j + 1}" for j in range(p))
    if len(labels) != p:
        raise AnalysisError(f"{len(labels)} names given for {p} covariates")
    return xa, labels


def cox(
    time: ArrayLike,
    event: ArrayLike,
    X: ArrayLike,
    *,
    ties: Ties = "efron",
    strata: ArrayLike | None = None,
    firth: bool = False,
    conf_level: float = 0.95,
    names: str | Sequence[str] | None = None,
    eps: float = 1e-9,
    iter_max: int | None = None,
) -> CoxResult:
    """Cox regression equal to R ``coxph(Surv(time, event) ~ X [+ strata(s)], ties=)``.

    ``firth=True`` maximises Heinze & Schemper's penalised partial likelihood instead, with
    profile-likelihood CIs, for small trials where an arm has few or no events.
    ``eps`` and ``iter_max`` are R's convergence settings (``iter_max`` defaults to R's 20,
    or 50 for Firth, coxphf's default; ``eps`` applies to the maximum-likelihood fit).
    """
    t, e = validate_time_event(time, event)
    xa, labels = _design(X, t.size, names)
    if ties not in ("efron", "breslow"):
        raise AnalysisError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    z_crit = z_value(conf_level)
    if iter_max is not None and iter_max < 1:
        raise AnalysisError(f"iter_max must be at least 1, got {iter_max}")
    if e.sum() == 0:
        raise AnalysisError("no events: a Cox model cannot be fitted")
    codes = (
        np.zeros(t.size, dtype=np.int64)
        if strata is None
        else np.unique(validate_labels(strata, t.size, "strata"), return_inverse=True)[1]
    )
    rs = risk_sets(t, e, xa, codes, ties)
    p = xa.shape[1]
    null = partial_likelihood(rs, np.zeros(p))
    factor, rank = _cholesky2(null.information)
    if rank < p:
        bad = [labels[j] for j in np.flatnonzero(np.diag(factor) == 0)]
        raise AnalysisError(
            f"covariate(s) {', '.join(bad)} cannot be estimated: collinear, or constant within"
            " every risk set that has an event"
        )
    score_stat = float(null.score @ _chsolve2(factor, null.score))
    signs = monotone_directions(rs)
    diverging = np.flatnonzero(signs != 0)
    monotone_names = tuple(labels[j] for j in diverging)
    message = None
    if diverging.size:
        message = (
            f"likelihood is monotone in {', '.join(monotone_names)}: the maximum-likelihood estimate "
            + ("is infinite; Firth's penalised estimate is reported" if firth else "is infinite; use firth=True")
        )
    common = {
        "names": labels,
        "score_test": _chi2(score_stat, p),
        "n": int(t.size),
        "n_events": int(e.sum()),
        "ties": ties,
        "firth": firth,
        "conf_level": conf_level,
        "monotone": bool(diverging.size),
        "monotone_names": monotone_names,
        "message": message,
    }
    if firth:
        return _firth_result(rs, conf_level, iter_max or FIRTH_ITER_MAX, common)

    fit = _newton_r(rs, eps, iter_max or 20)
    factor, _ = _cholesky2(fit.derivatives.information)
    var = _generalised_inverse(fit.derivatives.information, factor) * np.outer(rs.scale, rs.scale)
    coef = fit.beta * rs.scale
    coef[diverging] = signs[diverging] * np.inf
    se = np.sqrt(np.diag(var))
    se[diverging] = np.nan
    z = coef / se
    kept = np.flatnonzero(np.diag(factor) != 0)
    wald = np.nan if diverging.size else float(coef[kept] @ np.linalg.solve(var[np.ix_(kept, kept)], coef[kept]))
    return CoxResult(
        coef=coef,
        se=se,
        hazard_ratio=np.exp(coef),
        ci_lower=np.exp(coef - z_crit * se),
        ci_upper=np.exp(coef + z_crit * se),
        z=z,
        p_value=2 * stats.norm.sf(np.abs(z)),
        var=var,
        loglik=fit.loglik,
        loglik_null=null.loglik,
        lr_test=_chi2(2 * (fit.loglik - null.loglik), p),
        wald_test=TestResult(np.nan, p, np.nan) if diverging.size else _chi2(wald, p),
        iterations=fit.iterations,
        converged=fit.converged,
        **common,
    )


def _firth_result(
    rs: RiskSets, conf_level: float, iter_max: int, common: dict[str, Any]
) -> CoxResult:
    """Firth fit, penalised LR tests and profile penalised-likelihood CIs (as coxphf)."""
    p = rs.x.shape[1]
    everything = np.ones(p, dtype=bool)
    beta, top, iterations, converged = _maximise_penalised(rs, np.zeros(p), everything, iter_max, FIRTH_STEP_TOL)
    null_value = _penalised(rs, np.zeros(p))[0]
    info = partial_likelihood(rs, beta).information
    var = np.linalg.inv(info) * np.outer(rs.scale, rs.scale)
    coef = beta * rs.scale
    se = np.sqrt(np.diag(var))
    crit = float(stats.chi2.ppf(conf_level, 1))

    def profile(j: int, value: float) -> float:
        """Max penalised loglik with β_j fixed at ``value`` (scaled units), from the estimate."""
        fixed = beta.copy()
        fixed[j] = value
        free = everything.copy()
        free[j] = False
        return _maximise_penalised(rs, fixed, free, iter_max, FIRTH_STEP_TOL)[1]

    lower, upper, pvals = np.empty(p), np.empty(p), np.empty(p)
    for j in range(p):
        pvals[j] = stats.chi2.sf(max(2 * (top - profile(j, 0.0)), 0.0), 1)

        def gap(b: float, j: int = j) -> float:
            # capped: far out I(β) underflows, the penalty is -inf, and brentq needs finite values
            return min(2 * (top - profile(j, b)) - crit, 1e8)

        bounds = []
        for direction in (-1.0, 1.0):
            step = max(se[j] / rs.scale[j], 0.1)
            inner = beta[j]
            outer = beta[j] + direction * step
            for _ in range(40):
                if gap(outer) > 0:
                    break
                inner, outer = outer, outer + direction * step
                step *= 2
            else:
                bounds.append(direction * np.inf)
                continue
            bounds.append(optimize.brentq(gap, min(inner, outer), max(inner, outer), xtol=1e-12, rtol=1e-12))
        lower[j], upper[j] = bounds[0] * rs.scale[j], bounds[1] * rs.scale[j]
    loglik, loglik_null = _firth_loglik(rs, top), _firth_loglik(rs, null_value)
    return CoxResult(
        coef=coef,
        se=se,
        hazard_ratio=np.exp(coef),
        ci_lower=np.exp(lower),
        ci_upper=np.exp(upper),
        z=coef / se,
        p_value=pvals,
        var=var,
        loglik=loglik,
        loglik_null=loglik_null,
        lr_test=_chi2(2 * (loglik - loglik_null), p),
        wald_test=_chi2(float(coef @ np.linalg.solve(var, coef)), p),
        iterations=iterations,
        converged=converged,
        **common,
    )
