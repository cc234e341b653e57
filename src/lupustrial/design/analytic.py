"""Analytic sample sizes, the textbook cross-check of the simulated power.

The formulas are rpact's for a fixed (single-stage) design with a two-sided test at ``alpha``
(rpact ``sided = 2``, one tail counted for power, as rpact does by default), and are tested
against it (``tests/reference/design_rpact.R``). ``ratio`` is the allocation ratio
treatment : control (rpact's ``allocationRatioPlanned``).

- Cox endpoint: required events by Schoenfeld (1981, Biometrika 68:316) or Freedman (1982,
  Stat Med 1:121); subjects = events / probability of an event.
- Responders: the difference of two rates by the normal approximation (rpact's
  ``getSampleSizeRates``/``getPowerRates``).
- Counts (severe flares over follow-up): the negative binomial rate ratio of Zhu and Lakkis
  (2014, Stat Med 33:376), method 3, with the dispersion and mean exposure (dispersion 0:
  Poisson); rpact 3.3 has no ``getSampleSizeCounts``, so ``tests/reference/design_counts.R``
  computes it afresh in R.
- ANCOVA of log titre: the two-sample comparison of means with the residual SD of the ANCOVA
  (adjusting for log baseline shrinks the SD; it is the SD that enters), by the normal
  approximation or by the non-central t with ``n - 2`` degrees of freedom, as rpact does.

They assume what the simulation does not (proportional hazards, exponential times, normal
log titres, no LLOQ), which is why the two are shown side by side rather than one replacing
the other.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy import optimize, stats

EventsMethod = Literal["schoenfeld", "freedman"]


def _check(alpha: float, power: float, ratio: float) -> None:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be in (0, 1)")
    if ratio <= 0:
        raise ValueError("ratio must be positive")


def _z_sum(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))


def required_events(hazard_ratio: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0,
                    method: EventsMethod = "schoenfeld") -> float:
    """Events needed for a two-sided log-rank / Cox test of ``hazard_ratio`` (treatment vs control)."""
    _check(alpha, power, ratio)
    if hazard_ratio <= 0 or hazard_ratio == 1:
        raise ValueError("hazard_ratio must be positive and not 1")
    z2 = _z_sum(alpha, power) ** 2
    if method == "schoenfeld":
        return z2 * (1 + ratio) ** 2 / (ratio * np.log(hazard_ratio) ** 2)
    if method == "freedman":
        return z2 * (1 + ratio * hazard_ratio) ** 2 / (ratio * (1 - hazard_ratio) ** 2)
    raise ValueError(f"unknown method {method!r}")


def event_fraction(time: float, lambda_control: float, hazard_ratio: float, *, accrual: float, ratio: float = 1.0,
                   dropout_hazard: float = 0.0) -> float:
    """Expected events by calendar ``time`` over all subjects the trial enrols, pooled over arms.

    Exponential event times (hazard ``lambda_control``, ``hazard_ratio`` times that under
    treatment) competing with exponential dropout (``dropout_hazard``), uniform accrual over
    [0, ``accrual``] (0: everyone enters at 0), everyone followed until ``time``. rpact's
    ``.getEventProbabilities``.
    """

    def observed(lam: float) -> float:  # mean over entry times of P(event within time - entry)
        kappa = lam + dropout_hazard
        if accrual == 0:
            return lam / kappa * -np.expm1(-kappa * time)
        entered = min(time, accrual)  # the integral of P(event within u) from time - entered to time
        return lam / kappa * (entered - np.exp(-kappa * (time - entered)) * -np.expm1(-kappa * entered) / kappa) / accrual

    return (ratio * observed(lambda_control * hazard_ratio) + observed(lambda_control)) / (1 + ratio)


def event_probability(lambda_control: float, hazard_ratio: float, *, accrual: float, follow_up: float,
                      ratio: float = 1.0) -> float:
    """Probability that a patient has had the event at the analysis, pooled over arms.

    Exponential times (hazard ``lambda_control``, ``hazard_ratio`` times that under treatment),
    uniform accrual over ``accrual`` then ``follow_up`` more; ``accrual = 0`` is a fixed follow-up
    of ``follow_up`` for everyone.
    """
    return event_fraction(accrual + follow_up, lambda_control, hazard_ratio, accrual=accrual, ratio=ratio)


def survival_sample_size(hazard_ratio: float, event_probability: float, *, alpha: float = 0.05,
                         power: float = 0.8, ratio: float = 1.0, method: EventsMethod = "schoenfeld") -> float:
    """Total subjects (not rounded): the required events over the probability of an event."""
    if not 0 < event_probability <= 1:
        raise ValueError("event_probability must be in (0, 1]")
    return required_events(hazard_ratio, alpha=alpha, power=power, ratio=ratio, method=method) / event_probability


def survival_power(n_total: float, hazard_ratio: float, event_probability: float, *, alpha: float = 0.05,
                   ratio: float = 1.0, method: EventsMethod = "schoenfeld") -> float:
    """Power of ``n_total`` subjects: the inverse of :func:`survival_sample_size` (one tail, as rpact)."""
    _check(alpha, 0.5, ratio)
    events = n_total * event_probability
    if method == "schoenfeld":
        drift = np.sqrt(events * ratio) / (1 + ratio) * abs(np.log(hazard_ratio))
    else:
        drift = np.sqrt(events * ratio) * abs(1 - hazard_ratio) / (1 + ratio * hazard_ratio)
    return float(stats.norm.cdf(drift - stats.norm.ppf(1 - alpha / 2)))


def means_power(n_total: float, effect: float, sd: float, *, alpha: float = 0.05, ratio: float = 1.0,
                t_test: bool = True) -> float:
    """Power of ``n_total`` subjects to detect ``effect`` (one tail of the two-sided test, as rpact)."""
    _check(alpha, 0.5, ratio)
    n2 = n_total / (1 + ratio)
    drift = np.sqrt(n2 * ratio / (1 + ratio)) * abs(effect) / sd
    if not t_test:
        return float(stats.norm.cdf(drift - stats.norm.ppf(1 - alpha / 2)))
    df = n_total - 2
    return float(stats.nct.sf(stats.t.ppf(1 - alpha / 2, df), df, drift))


def means_sample_size(effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0,
                      t_test: bool = True) -> float:
    """Total subjects (not rounded) to detect a difference ``effect`` in means with SD ``sd``.

    For the log-titre ANCOVA, ``effect`` is the log geometric-mean ratio and ``sd`` the residual SD.
    """
    _check(alpha, power, ratio)
    if effect == 0 or sd <= 0:
        raise ValueError("effect must be non-zero and sd positive")
    if not t_test:
        return (1 + ratio) ** 2 / ratio * _z_sum(alpha, power) ** 2 / (effect / sd) ** 2
    shortfall = lambda n: means_power(n, effect, sd, alpha=alpha, ratio=ratio) - power  # noqa: E731
    lo, hi = 3.0, 4.0  # at least one residual degree of freedom
    if shortfall(lo) >= 0:
        return lo
    while shortfall(hi) < 0:
        lo, hi = hi, 2 * hi
    return optimize.brentq(shortfall, lo, hi, xtol=1e-12, rtol=1e-14)


def rates_sample_size(pi1: float, pi2: float, *, alpha: float = 0.05, power: float = 0.8,
                      ratio: float = 1.0) -> float:
    """Total subjects (not rounded) to detect rates ``pi1`` (treatment) vs ``pi2`` (control).

    The normal approximation with the variance under H0 from the pooled rate (Farrington and
    Manning's restricted estimate for a zero difference) and under H1 from each arm's rate, as
    rpact's ``getSampleSizeRates`` (``riskRatio = FALSE``, ``thetaH0 = 0``).
    """
    _check(alpha, power, ratio)
    if not (0 < pi1 < 1 and 0 < pi2 < 1) or pi1 == pi2:
        raise ValueError("pi1 and pi2 must be different rates in (0, 1)")
    null_sd, alternative_sd = _rates_sds(pi1, pi2, ratio)
    n1 = (stats.norm.isf(alpha / 2) * null_sd + stats.norm.ppf(power) * alternative_sd) ** 2 / (pi1 - pi2) ** 2
    return float(n1 * (1 + ratio) / ratio)


def _rates_sds(pi1: float, pi2: float, ratio: float) -> tuple[float, float]:
    """SDs of the difference in rates times sqrt(n1) (treatment arm's size), under H0 (pooled
    rate) and H1 (each arm's rate): the two variances of :func:`rates_sample_size`."""
    pooled = (ratio * pi1 + pi2) / (1 + ratio)
    null = pooled * (1 - pooled) * (1 + ratio)
    return float(np.sqrt(null)), float(np.sqrt(pi1 * (1 - pi1) + pi2 * (1 - pi2) * ratio))


def rates_power(n_total: float, pi1: float, pi2: float, *, alpha: float = 0.05, ratio: float = 1.0) -> float:
    """Power of ``n_total`` subjects to detect rates ``pi1`` vs ``pi2``: the inverse of
    :func:`rates_sample_size` (one tail of the two-sided test, as rpact's ``getPowerRates``)."""
    _check(alpha, 0.5, ratio)
    null_sd, alternative_sd = _rates_sds(pi1, pi2, ratio)
    n1 = n_total * ratio / (1 + ratio)
    return float(stats.norm.cdf((abs(pi1 - pi2) * np.sqrt(n1) - stats.norm.isf(alpha / 2) * null_sd) / alternative_sd))


def _counts_variances(rate_control: float, rate_ratio: float, dispersion: float, exposure: float,
                      ratio: float) -> tuple[float, float]:
    """Zhu and Lakkis's (2014) variances of the log rate ratio times n0 (the control arm's size),
    under H0 (their method 3: the rate both arms share under H0, (λ0 + r λ1) / (1 + r)) and H1."""
    if not (rate_control > 0 and rate_ratio > 0 and rate_ratio != 1 and exposure > 0 and dispersion >= 0):
        raise ValueError("rates and exposure must be positive, the rate ratio not 1, the dispersion >= 0")
    rate_treatment = rate_control * rate_ratio
    extra = (1 + ratio) * dispersion / ratio
    null = (1 + ratio) ** 2 / (exposure * ratio * (rate_control + ratio * rate_treatment)) + extra
    return null, (1 / rate_control + 1 / (ratio * rate_treatment)) / exposure + extra


def counts_sample_size(rate_control: float, rate_ratio: float, *, dispersion: float, exposure: float,
                       alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0) -> float:
    """Total subjects (not rounded) to detect ``rate_ratio`` (treatment / control) of negative
    binomial counts: Zhu and Lakkis (2014, Stat Med 33:376), method 3.

    ``rate_control`` is in events per unit time (e.g. per patient-year) and ``exposure`` the mean
    follow-up per patient in the same unit; ``dispersion`` is k in Var = mu + k mu² (1 / theta
    of ``glm.nb``; 0: Poisson counts).
    """
    _check(alpha, power, ratio)
    null, alternative = _counts_variances(rate_control, rate_ratio, dispersion, exposure, ratio)
    n0 = (stats.norm.isf(alpha / 2) * np.sqrt(null) + stats.norm.ppf(power) * np.sqrt(alternative)) ** 2 \
        / np.log(rate_ratio) ** 2
    return float(n0 * (1 + ratio))


def counts_power(n_total: float, rate_control: float, rate_ratio: float, *, dispersion: float, exposure: float,
                 alpha: float = 0.05, ratio: float = 1.0) -> float:
    """Power of ``n_total`` subjects: the inverse of :func:`counts_sample_size` (one tail)."""
    _check(alpha, 0.5, ratio)
    null, alternative = _counts_variances(rate_control, rate_ratio, dispersion, exposure, ratio)
    n0 = n_total / (1 + ratio)
    return float(stats.norm.cdf((np.sqrt(n0) * abs(np.log(rate_ratio)) - stats.norm.isf(alpha / 2) * np.sqrt(null))
                                / np.sqrt(alternative)))
