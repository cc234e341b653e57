"""Group-sequential designs: boundaries, spending functions, and the analytic maximum and expected
information, with rpact's arguments and result names (snake case) so that an rpact user finds
their way, and equal to rpact 3.3.4 to 1e-6 (``tests/reference/design_gsd.R``).

- :func:`group_sequential_design` ~ ``getDesignGroupSequential``: O'Brien–Fleming (``OF``),
  Pocock (``P``), Haybittle–Peto (``HP``) and Lan–DeMets alpha spending of O'Brien–Fleming type
  (``asOF``), Pocock type (``asP``), Kim–DeMets (``asKD``, ρ = ``gamma_a``) and Hwang–Shih–DeCani
  (``asHSD``, γ = ``gamma_a``); futility by given bounds or beta spending (``bsOF``, ``bsP``,
  ``bsKD``, ``bsHSD``), binding or not.
- :func:`design_characteristics` ~ ``getDesignCharacteristics``: the drift (``shift``) giving the
  power, the inflation factor and the average sample numbers under H0, H1 and half-way.
- :func:`sample_size_survival`, :func:`sample_size_means`, :func:`sample_size_rates` ~
  ``getSampleSizeSurvival`` (Schoenfeld events), ``getSampleSizeMeans``, ``getSampleSizeRates``:
  the fixed design's information times the inflation factor, and the expected information.
- :func:`power_survival` ~ ``getPowerSurvival``: power, stopping probabilities, expected events
  and duration of an event-driven design with exponential times and uniform accrual, the
  analytic figure set beside the simulated one.

Conventions (rpact's): the test statistic Z_k at information rate t_k is standardised so that
the effect favours the alternative when large; ``sided = 1`` rejects when Z_k >= c_k and stops
for futility when Z_k < f_k; ``sided = 2`` rejects when |Z_k| >= c_k. Under the drift θ (at full
information), Z_k sqrt(t_k) is Brownian motion with drift θ at time t_k.

Numerics: the crossing probabilities come from the recursive integration of Armitage, McPherson
and Rowe (J R Stat Soc A 1969;132:235), as in Jennison & Turnbull (2000, ch. 19) and rpact: the
sub-density of the score S_k = Z_k sqrt(t_k) on the continuation region is carried from look to
look by a composite Gauss–Legendre rule whose panels are narrower than the normal kernel of the
next increment, so the probabilities are exact to ~1e-12 (a multivariate-normal CDF by Genz's
method, as scipy's, is good to ~1e-6 at best and is random). Roots are found to 1e-12.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, get_args

import numpy as np
from scipy import optimize, stats

from lupustrial.design import analytic
from lupustrial.protocol.schema import TypeOfBetaSpending, TypeOfDesign

TYPES_OF_DESIGN = get_args(TypeOfDesign)
TYPES_OF_BETA_SPENDING = get_args(TypeOfBetaSpending)
#: Haybittle–Peto's interim bound (rpact's ``constantBoundsHP`` default).
HAYBITTLE_PETO_BOUND = 3.0
_TOL = 1e-12
_SPAN = 9.0  # an infinite bound is cut this many SDs from the mean of S_k (mass beyond: ~1e-19)
_PANEL_POINTS = 8  # Gauss–Legendre points per panel
_PANEL_WIDTH = 0.5  # panel width, in SDs of the narrowest increment of S
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_PANEL_POINTS)


def spending(kind: str, level: float, t: np.ndarray | float, sided: int = 1, gamma: float | None = None) -> np.ndarray:
    """Cumulative error spent at information rates ``t`` by a Lan–DeMets spending function.

    ``kind`` is an alpha (``as..``) or beta (``bs..``) spending type; ``level`` the total error.
    O'Brien–Fleming type: 2·sided·(1 − Φ(Φ⁻¹(1 − level/(2·sided))/√t)) (beta spending: one-sided);
    Pocock type: level·log(1 + (e − 1)t); Kim–DeMets: level·t^γ; Hwang–Shih–DeCani:
    level·(1 − e^(−γt))/(1 − e^(−γ)) (level·t when γ = 0).
    """
    t = np.asarray(t, dtype=float)
    family = kind[2:]
    if family == "OF":
        s = sided if kind.startswith("as") else 1
        return 2 * s * stats.norm.sf(stats.norm.isf(level / (2 * s)) / np.sqrt(t))
    if family == "P":
        return level * np.log1p((np.e - 1) * t)
    if gamma is None:
        raise ValueError(f"{kind} needs a gamma")
    if family == "KD":
        return level * t**gamma
    if family == "HSD":
        return level * t if gamma == 0 else level * -np.expm1(-gamma * t) / -np.expm1(-gamma)
    raise ValueError(f"unknown spending function {kind!r}")


class _Walk:
    """The sub-density of S_k = Z_k sqrt(t_k) on the paths that have continued through looks 1..k.

    ``mass`` holds density × quadrature weight at ``nodes`` (the score scale), so that an
    expectation over continuing paths is ``mass @ f(nodes)``. Look k + 1 is reached by a normal
    increment of mean θΔ and variance Δ = t_{k+1} − t_k.
    """

    def __init__(self, rates: np.ndarray, theta: float):
        self.t = rates
        self.theta = theta
        self.dt = np.diff(rates, prepend=0.0)
        self.width = _PANEL_WIDTH * np.sqrt(self.dt.min())
        self.k = 0  # looks passed
        self.nodes = np.zeros(1)
        self.mass = np.ones(1)  # look 0: S_0 = 0 with probability 1

    def _standardised(self, z: float) -> np.ndarray:
        """(z sqrt(t_{k+1}) − S_k − θΔ)/sqrt(Δ) at every node: where the next look's bound z falls."""
        t, d = self.t[self.k], self.dt[self.k]
        return (z * np.sqrt(t) - self.nodes - self.theta * d) / np.sqrt(d)

    def below(self, z: float) -> float:
        """P(continue through looks 1..k and Z_{k+1} < z)."""
        return float(self.mass @ stats.norm.cdf(self._standardised(z))) if z > -np.inf else 0.0

    def above(self, z: float) -> float:
        """P(continue through looks 1..k and Z_{k+1} >= z)."""
        return float(self.mass @ stats.norm.sf(self._standardised(z))) if z < np.inf else 0.0

    def advance(self, lower: float, upper: float) -> None:
        """Continue through look k + 1 with continuation region lower < Z_{k+1} < upper."""
        t, d = self.t[self.k], self.dt[self.k]
        centre, sd = self.theta * t, np.sqrt(t)
        lo = max(lower * sd, centre - _SPAN * sd)
        hi = min(upper * sd, centre + _SPAN * sd)
        if hi <= lo:
            nodes, weights = np.zeros(0), np.zeros(0)
        else:
            panels = int(np.ceil((hi - lo) / self.width))
            edges = np.linspace(lo, hi, panels + 1)
            half = np.diff(edges)[:, None] / 2
            nodes = ((edges[:-1, None] + half) + half * _GL_X).ravel()
            weights = (half * _GL_W).ravel()
        kernel = stats.norm.pdf((nodes[:, None] - self.nodes[None, :] - self.theta * d) / np.sqrt(d)) / np.sqrt(d)
        self.mass = weights * (kernel @ self.mass)
        self.nodes = nodes
        self.k += 1


def stage_probabilities(lower: np.ndarray, upper: np.ndarray, information_rates: np.ndarray,
                        theta: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(P(stop below lower_k at look k), P(stop above upper_k at look k)), each of shape (K,).

    ``lower``/``upper`` are z-scale bounds per look (±inf for none); θ the drift at information
    rate 1. The analogue of rpact's ``getGroupSequentialProbabilities``.
    """
    walk = _Walk(np.asarray(information_rates, dtype=float), theta)
    k_max = len(walk.t)
    below, above = np.zeros(k_max), np.zeros(k_max)
    for k in range(k_max):
        below[k], above[k] = walk.below(lower[k]), walk.above(upper[k])
        if k < k_max - 1:
            walk.advance(lower[k], upper[k])
    return below, above


class _Result:
    """A result record: ``to_dict`` gives plain lists for JSON."""

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}  # type: ignore[call-overload]


def _root(f: Any, lo: float, hi: float, clamp: bool = False) -> float:
    """Root of a monotone f on [lo, hi]; with ``clamp`` the nearer end when f keeps one sign there
    (a bound that cannot spend its error within ±8), else the bracket is widened."""
    for _ in range(60):
        f_lo, f_hi = f(lo), f(hi)
        if np.sign(f_lo) != np.sign(f_hi):
            return float(optimize.brentq(f, lo, hi, xtol=_TOL, rtol=4 * np.finfo(float).eps))
        if clamp:
            return lo if abs(f_lo) < abs(f_hi) else hi
        lo, hi = lo - (hi - lo), hi + (hi - lo)
    raise ValueError("no root: the design is not feasible")


@dataclass(frozen=True)
class GroupSequentialDesign(_Result):
    """A group-sequential design (rpact ``TrialDesignGroupSequential``), arrays over looks.

    ``futility_bounds`` (K − 1,) are -inf where there is none; ``beta_spent`` and ``power``
    (cumulative) are NaN unless the futility bounds come from beta spending.
    """

    information_rates: np.ndarray
    alpha: float
    beta: float
    sided: int
    type_of_design: str
    gamma_a: float | None
    type_beta_spending: str
    gamma_b: float | None
    binding_futility: bool
    critical_values: np.ndarray
    futility_bounds: np.ndarray
    alpha_spent: np.ndarray
    stage_levels: np.ndarray
    beta_spent: np.ndarray
    power: np.ndarray

    @property
    def k_max(self) -> int:
        return len(self.information_rates)

    def lower_bounds(self, binding: bool) -> np.ndarray:
        """Lower continuation bounds per look (K,): -c (two-sided), the futility bounds (one-sided, if
        ``binding``; -inf at the last look), or -inf."""
        if self.sided == 2:
            return -self.critical_values
        return np.append(self.futility_bounds, -np.inf) if binding else np.full(self.k_max, -np.inf)


def _check(rates: np.ndarray, alpha: float, beta: float, sided: int, type_of_design: str,
           type_beta_spending: str, gamma_a: float | None, gamma_b: float | None,
           futility_bounds: np.ndarray | None) -> None:
    """One ValueError per problem, naming rpact's argument."""
    if rates.ndim != 1 or len(rates) < 1 or np.any(np.diff(rates) <= 0) or rates[0] <= 0 or rates[-1] != 1:
        raise ValueError(f"information_rates must increase strictly from above 0 to 1, got {rates.tolist()}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0 < beta < 1 - alpha:
        raise ValueError(f"beta must be in (0, 1 - alpha), got {beta}")
    if sided not in (1, 2):
        raise ValueError(f"sided must be 1 or 2, got {sided}")
    if type_of_design not in TYPES_OF_DESIGN:
        raise ValueError(f"type_of_design must be one of {', '.join(TYPES_OF_DESIGN)}, got {type_of_design!r}")
    if type_beta_spending not in TYPES_OF_BETA_SPENDING:
        raise ValueError(f"type_beta_spending must be one of {', '.join(TYPES_OF_BETA_SPENDING)}, "
                         f"got {type_beta_spending!r}")
    for kind, gamma, name in ((type_of_design, gamma_a, "gamma_a"), (type_beta_spending, gamma_b, "gamma_b")):
        if kind[2:] in ("KD", "HSD") and gamma is None:
            raise ValueError(f"{name} is needed by {kind}")
        if kind[2:] == "KD" and gamma is not None and gamma <= 0:
            raise ValueError(f"{name} must be positive for {kind}, got {gamma}")
    if type_beta_spending != "none" and (sided != 1 or not type_of_design.startswith("as")):
        raise ValueError("type_beta_spending needs a one-sided (sided = 1) alpha-spending design (as..)")
    if futility_bounds is not None:
        if type_beta_spending != "none":
            raise ValueError("give futility_bounds or type_beta_spending, not both")
        if sided != 1:
            raise ValueError("futility_bounds need a one-sided design (sided = 1)")
        if len(futility_bounds) != len(rates) - 1:
            raise ValueError(f"futility_bounds must have {len(rates) - 1} values (one per interim look)")


def _spending_bounds(rates: np.ndarray, cumulative: np.ndarray, sided: int, lower: np.ndarray) -> np.ndarray:
    """Critical values spending ``cumulative`` alpha at each look, given the lower continuation
    bounds of the earlier looks (binding futility; -inf otherwise; two-sided: -c, found alongside)."""
    walk = _Walk(rates, 0.0)
    c = np.zeros(len(rates))
    spent = 0.0
    for k in range(len(rates)):
        target = cumulative[k] - spent

        def excess(x: float) -> float:
            return walk.above(x) + (walk.below(-x) if sided == 2 else 0.0) - target

        c[k] = np.inf if target <= 0 else _root(excess, 0.0, 8.0)
        spent += excess(c[k]) + target
        if k < len(rates) - 1:
            walk.advance(-c[k] if sided == 2 else lower[k], c[k])
    return c


def _total_alpha(rates: np.ndarray, c: np.ndarray, sided: int, lower: np.ndarray) -> float:
    below, above = stage_probabilities(lower if sided == 1 else -c, c, rates)
    return float(above.sum() + (below.sum() if sided == 2 else 0.0))


def _futility_bounds(rates: np.ndarray, c: np.ndarray, beta_cumulative: np.ndarray, theta: float,
                     alpha_cumulative: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(critical values, futility bounds), each (K,), one-sided: the bounds spend
    ``beta_cumulative`` under the drift θ. With ``alpha_cumulative`` (binding futility) each critical
    value is found again, look by look, on the paths that the earlier futility bounds let continue."""
    under_h1, under_h0 = _Walk(rates, theta), _Walk(rates, 0.0)
    c, f = c.copy(), np.zeros(len(rates))
    spent_a = spent_b = 0.0
    for k in range(len(rates)):
        if alpha_cumulative is not None:
            target_a = alpha_cumulative[k] - spent_a
            c[k] = np.inf if target_a <= 0 else _root(lambda x: under_h0.above(x) - target_a, 0.0, 8.0, clamp=True)
            spent_a += under_h0.above(c[k])
        target_b = beta_cumulative[k] - spent_b
        f[k] = _root(lambda x: under_h1.below(x) - target_b, -8.0, 8.0, clamp=True)
        spent_b += under_h1.below(f[k])
        if k < len(rates) - 1 and f[k] >= c[k]:  # no path continues: the drift is too large
            f[k + 1:] = c[k + 1:] + 1.0
            break
        if k < len(rates) - 1:
            under_h1.advance(f[k], c[k])
            under_h0.advance(f[k], c[k])
    return c, f


def _beta_spending(rates: np.ndarray, c: np.ndarray, alpha_cumulative: np.ndarray, beta: float, kind: str,
                   gamma_b: float | None, binding: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """(critical values, futility bounds (K,), drift θ): the drift at which the beta-spending futility
    bound of the last look meets its critical value (rpact's one-sided beta spending)."""
    beta_cumulative = spending(kind, beta, rates, 1, gamma_b)
    again = alpha_cumulative if binding else None

    def gap(theta: float) -> float:
        c_k, f_k = _futility_bounds(rates, c, beta_cumulative, theta, again)
        return float(f_k[-1] - c_k[-1])

    fixed = stats.norm.isf(alpha_cumulative[-1]) + stats.norm.isf(beta)  # the fixed design's drift
    theta = _root(gap, 0.0, 2 * fixed)
    c_k, f_k = _futility_bounds(rates, c, beta_cumulative, theta, again)
    return c_k, f_k, theta


def group_sequential_design(information_rates: np.ndarray | list[float], alpha: float = 0.025, beta: float = 0.2,
                            sided: int = 1, type_of_design: str = "OF", gamma_a: float | None = None,
                            futility_bounds: np.ndarray | list[float] | None = None, binding_futility: bool = False,
                            type_beta_spending: str = "none", gamma_b: float | None = None) -> GroupSequentialDesign:
    """Boundaries of a group-sequential design, as rpact's ``getDesignGroupSequential``.

    ``information_rates`` (K,) increase to 1; ``alpha`` is the one-sided level for ``sided = 1`` and
    the two-sided level for ``sided = 2``. Futility (one-sided only) comes from ``futility_bounds``
    (z scale, K − 1 values) or from ``type_beta_spending``; ``binding_futility`` lets the critical
    values use it (more power, but the type I error holds only if every futility stop is obeyed).
    """
    rates = np.asarray(information_rates, dtype=float)
    given = None if futility_bounds is None else np.asarray(futility_bounds, dtype=float)
    _check(rates, alpha, beta, sided, type_of_design, type_beta_spending, gamma_a, gamma_b, given)
    k_max = len(rates)
    none = np.full(k_max - 1, -np.inf)
    f = none if given is None else np.where(given <= -6, -np.inf, given)  # rpact: -6 means none
    lower = np.append(f, -np.inf) if binding_futility and sided == 1 else np.full(k_max, -np.inf)
    if k_max == 1:
        c = np.array([stats.norm.isf(alpha / sided)])
    elif type_of_design in ("OF", "P"):
        exponent = -0.5 if type_of_design == "OF" else 0.0
        scale = _root(lambda x: _total_alpha(rates, x * rates**exponent, sided, lower) - alpha, 0.5, 8.0)
        c = scale * rates**exponent
    elif type_of_design == "HP":
        last = _root(lambda x: _total_alpha(rates, np.append(np.full(k_max - 1, HAYBITTLE_PETO_BOUND), x), sided,
                                            lower) - alpha, 0.5, 8.0)
        c = np.append(np.full(k_max - 1, HAYBITTLE_PETO_BOUND), last)
    else:
        c = _spending_bounds(rates, spending(type_of_design, alpha, rates, sided, gamma_a), sided, lower)
    beta_spent = power = np.full(k_max, np.nan)
    if type_beta_spending != "none" and k_max > 1:
        c, f_all, theta = _beta_spending(rates, c, spending(type_of_design, alpha, rates, sided, gamma_a), beta,
                                         type_beta_spending, gamma_b, binding_futility)
        f = f_all[:-1]
        below, above = stage_probabilities(f_all, c, rates, theta)
        beta_spent, power = np.cumsum(below), np.cumsum(above)
        lower = np.append(f, -np.inf) if binding_futility else np.full(k_max, -np.inf)
    if np.any(f > c[:-1] - 0.01):
        raise ValueError(f"futility_bounds {f.tolist()} are too close to the critical values {c.tolist()}")
    below, above = stage_probabilities(lower if sided == 1 else -c, c, rates)
    alpha_spent = np.cumsum(above + (below if sided == 2 else 0.0))
    return GroupSequentialDesign(rates, alpha, beta, sided, type_of_design, gamma_a, type_beta_spending, gamma_b,
                                 binding_futility, c, f, alpha_spent, stats.norm.sf(c), beta_spent, power)


@dataclass(frozen=True)
class DesignCharacteristics(_Result):
    """rpact's ``getDesignCharacteristics``: the drift at full information giving power 1 − β
    (``shift``, squared: the maximum information in units where the fixed design needs
    ``n_fixed``), their ratio (``inflation_factor``), and expected information relative to the
    fixed design (``average_sample_number1`` under H1, ``01`` at half the drift, ``0`` under H0).
    Probabilities per look under H1; ``power`` cumulative."""

    n_fixed: float
    shift: float
    inflation_factor: float
    information: np.ndarray
    power: np.ndarray
    rejection_probabilities: np.ndarray
    futility_probabilities: np.ndarray
    average_sample_number1: float
    average_sample_number01: float
    average_sample_number0: float


def decision_probabilities(design: GroupSequentialDesign, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """(upper, lower) crossing probabilities per look (K,) under the drift θ, as the trial is run:
    the lower bound is the futility bound (one-sided; obeyed whether binding or not) or −c (two-sided)."""
    below, above = stage_probabilities(design.lower_bounds(binding=True), design.critical_values,
                                       design.information_rates, theta)
    return above, below


def design_characteristics(design: GroupSequentialDesign) -> DesignCharacteristics:
    """The drift giving power 1 − β with the design's bounds (futility stops included), and what follows."""
    n_fixed = (stats.norm.isf(design.alpha / design.sided) + stats.norm.isf(design.beta)) ** 2
    if design.k_max == 1:
        one = np.ones(1)
        return DesignCharacteristics(n_fixed, n_fixed, 1.0, one * n_fixed, one - design.beta, one - design.beta,
                                     np.zeros(0), 1.0, 1.0, 1.0)
    theta = _root(lambda x: decision_probabilities(design, x)[0].sum() - (1 - design.beta), 0.0,
                  2 * np.sqrt(n_fixed))
    shift = theta**2
    reject, lower = decision_probabilities(design, theta)
    futility = lower[:-1] if design.sided == 1 else np.zeros(design.k_max - 1)
    asn = [_asn(design, drift, shift, n_fixed) for drift in (theta, theta / 2, 0.0)]
    return DesignCharacteristics(n_fixed, shift, shift / n_fixed, design.information_rates * shift, np.cumsum(reject),
                                 reject, futility, *asn)


def _asn(design: GroupSequentialDesign, theta: float, shift: float, n_fixed: float) -> float:
    """Expected information under the drift θ over the fixed design's (rpact's average sample number)."""
    below, above = stage_probabilities(design.lower_bounds(binding=True), design.critical_values,
                                       design.information_rates, theta)
    stop = (below + above)[:-1]
    return float((shift - np.sum(stop * (1 - design.information_rates[:-1]) * shift)) / n_fixed)


@dataclass(frozen=True)
class SampleSize(_Result):
    """rpact's sample size of a group-sequential design for means or rates: the fixed design's
    (``n_fixed``) times the inflation factor, cumulative per look, and expected under H0, H1 and
    half-way (H01)."""

    n_fixed: float
    max_number_of_subjects: float
    number_of_subjects: np.ndarray
    expected_number_of_subjects_h0: float
    expected_number_of_subjects_h01: float
    expected_number_of_subjects_h1: float


def _inflated(design: GroupSequentialDesign, n_fixed: float) -> SampleSize:
    ch = design_characteristics(design)
    n_max = n_fixed * ch.inflation_factor
    return SampleSize(n_fixed, n_max, n_max * design.information_rates, ch.average_sample_number0 * n_fixed,
                      ch.average_sample_number01 * n_fixed, ch.average_sample_number1 * n_fixed)


def _fixed_alpha(design: GroupSequentialDesign) -> float:
    """The two-sided alpha of ``analytic``'s formulas that has the design's z_{1 − alpha/sided}."""
    return 2 * design.alpha / design.sided


def sample_size_means(design: GroupSequentialDesign, alternative: float, st_dev: float, *,
                      allocation_ratio_planned: float = 1.0, normal_approximation: bool = False) -> SampleSize:
    """rpact's ``getSampleSizeMeans`` (two groups, ``thetaH0 = 0``): subjects to detect a difference
    ``alternative`` in means with SD ``st_dev``; the t version solves the fixed design exactly."""
    n_fixed = analytic.means_sample_size(alternative, st_dev, alpha=_fixed_alpha(design), power=1 - design.beta,
                                         ratio=allocation_ratio_planned, t_test=not normal_approximation)
    return _inflated(design, n_fixed)


def sample_size_rates(design: GroupSequentialDesign, pi1: float, pi2: float, *,
                      allocation_ratio_planned: float = 1.0) -> SampleSize:
    """rpact's ``getSampleSizeRates`` (two groups, rate difference, ``thetaH0 = 0``, normal approximation)."""
    return _inflated(design, analytic.rates_sample_size(pi1, pi2, alpha=_fixed_alpha(design), power=1 - design.beta,
                                                        ratio=allocation_ratio_planned))


@dataclass(frozen=True)
class SurvivalDesign(_Result):
    """An event-driven design's events, subjects and calendar times (rpact's ``getSampleSizeSurvival``
    and ``getPowerSurvival`` names). Per look: cumulative ``events_per_stage``, ``analysis_time`` (when
    that many events are expected), ``number_of_subjects`` enrolled by then; probabilities per look
    under the effect; expectations over where the trial stops (H1: the effect given)."""

    max_number_of_events: float
    max_number_of_subjects: float
    events_per_stage: np.ndarray
    analysis_time: np.ndarray
    number_of_subjects: np.ndarray
    reject_per_stage: np.ndarray
    futility_per_stage: np.ndarray
    overall_reject: float
    expected_number_of_events: float
    expected_number_of_subjects: float
    study_duration: float
    events_fixed: float = np.nan
    expected_events_h0: float = np.nan
    expected_events_h01: float = np.nan


def _analysis_times(events: np.ndarray, n_max: float, fraction: Any, horizon: float) -> np.ndarray:
    """Calendar times when ``events`` (K,) are expected among ``n_max`` subjects (inf: never)."""
    times = np.full(len(events), np.inf)
    for k, e in enumerate(events):
        if fraction(horizon) * n_max >= e * (1 - 1e-12):  # the last look of a sample size: exactly at the horizon
            times[k] = optimize.brentq(lambda x: fraction(x) * n_max - e, 0.0, horizon, xtol=_TOL, rtol=1e-15) \
                if fraction(horizon) * n_max > e else horizon
    return times


def _survival(design: GroupSequentialDesign, theta: float, events: np.ndarray, n_max: float, accrual: float,
              fraction: Any, horizon: float, lower_rejects: bool) -> tuple:
    """The per-look and expected figures of an event-driven design under the drift θ. A two-sided
    design's lower crossings count as rejections (and stops) if ``lower_rejects`` (rpact's
    ``getPowerSurvival``), else not at all (its ``getSampleSizeSurvival``)."""
    upper, lower = decision_probabilities(design, theta)
    if design.sided == 1:
        reject, futility = upper, lower
    else:
        reject, futility = (upper + lower if lower_rejects else upper), np.zeros(design.k_max)
    times = _analysis_times(events, n_max, fraction, horizon)
    subjects = n_max * np.minimum(times / accrual, 1.0) if accrual > 0 else np.full(len(events), n_max)
    stop = reject + futility
    stop[-1] = 1 - stop[:-1].sum()
    return (events, times, subjects, reject, futility[:-1], float(reject.sum()), float(events @ stop),
            float(subjects @ stop), float(times @ stop))


def sample_size_survival(design: GroupSequentialDesign, hazard_ratio: float, lambda2: float, *, accrual_time: float,
                         follow_up_time: float, allocation_ratio_planned: float = 1.0,
                         dropout_hazard: float = 0.0) -> SurvivalDesign:
    """rpact's ``getSampleSizeSurvival`` (Schoenfeld, exponential times, uniform accrual over
    ``accrual_time``, the last look ``follow_up_time`` after it): the events the design needs and
    the subjects that give them by then."""
    r = allocation_ratio_planned
    events_fixed = analytic.required_events(hazard_ratio, alpha=_fixed_alpha(design), power=1 - design.beta, ratio=r)
    ch = design_characteristics(design)
    events = events_fixed * ch.inflation_factor * design.information_rates
    horizon = accrual_time + follow_up_time

    def fraction(x: float) -> float:
        return analytic.event_fraction(x, lambda2, hazard_ratio, accrual=accrual_time, ratio=r,
                                       dropout_hazard=dropout_hazard)

    n_max = events[-1] / fraction(horizon)
    figures = list(_survival(design, np.sqrt(ch.shift), events, n_max, accrual_time, fraction, horizon, False))
    figures[6] = ch.average_sample_number1 * events_fixed  # rpact: stops in either tail (the rest: upper only)
    return SurvivalDesign(events[-1], n_max, *figures, events_fixed=events_fixed,
                          expected_events_h0=ch.average_sample_number0 * events_fixed,
                          expected_events_h01=ch.average_sample_number01 * events_fixed)


def power_survival(design: GroupSequentialDesign, hazard_ratio: float, lambda2: float, *,
                   max_number_of_events: float, max_number_of_subjects: float, accrual_time: float,
                   allocation_ratio_planned: float = 1.0, dropout_hazard: float = 0.0) -> SurvivalDesign:
    """rpact's ``getPowerSurvival`` (Schoenfeld): power and expected events, subjects and duration
    of ``max_number_of_subjects`` enrolled uniformly over ``accrual_time`` and followed until the
    last look, the looks at the design's information rates of ``max_number_of_events``."""
    r = allocation_ratio_planned
    theta = np.sqrt(max_number_of_events * r) / (1 + r) * abs(np.log(hazard_ratio))
    events = max_number_of_events * design.information_rates

    def fraction(x: float) -> float:
        return analytic.event_fraction(x, lambda2, hazard_ratio, accrual=accrual_time, ratio=r,
                                       dropout_hazard=dropout_hazard)

    horizon = accrual_time + 1000 / (lambda2 * min(1, hazard_ratio))  # events past it: none that matter
    figures = _survival(design, theta, events, max_number_of_subjects, accrual_time, fraction, horizon, True)
    return SurvivalDesign(max_number_of_events, max_number_of_subjects, *figures)
