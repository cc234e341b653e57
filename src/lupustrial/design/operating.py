"""Operating characteristics of a group-sequential design, from the look statistics of simulated
trials (:mod:`.interim`): the boundaries applied trial by trial, then averaged.

A one-sided design (``sided = 1``) stops for efficacy at the first look with z >= c_k and for
futility at the first interim with z < f_k; a two-sided one stops when |z| >= c_k. A trial
*claims* when it stops for efficacy with z > 0 (the estimate favours the first arm). Futility
stops are obeyed in every figure (that is how the trial is run), whether the bounds are binding
or not; with non-binding bounds the type I error the design controls is the one that ignores
them (``type_i_error_no_futility``), which the simulation reports too.

Per total sample size: power and type I error (trials simulated under the null: the first arm
without its study drug) with binomial Monte Carlo s.e.; expected and maximum (every look run)
patients randomised, information (events, or patients analysed) and calendar months at the
stop; the probability of stopping at each look for efficacy and futility; the median of the
effect estimate at the stop beside its median at the last look (the difference, on the log
scale, is the median bias that stopping early brings) and at each look over all trials (a
hazard ratio that changes over follow-up shows there); the median conditional power (current
trend) at each interim among the trials still running; with re-estimation, how often and by
how much the final information grew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lupustrial.design.interim import calendar_months, conditional_power, exponential_timeline, look_statistics
from lupustrial.design.sequential import GroupSequentialDesign, power_survival
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.trial import DAYS_PER_MONTH, DAYS_PER_YEAR


def design_label(design: dict[str, Any]) -> str:
    """A design in a few words, e.g. "3 looks, asOF, futility bsOF (non-binding), one-sided alpha 0.025"."""
    futility = ""
    if design["type_beta_spending"] != "none":
        futility = f", futility {design['type_beta_spending']}"
    elif any(b is not None and np.isfinite(b) for b in design["futility_bounds"]):
        futility = ", futility bounds"
    if futility:
        futility += " (binding)" if design["binding_futility"] else " (non-binding)"
    sides = "one-sided" if design["sided"] == 1 else "two-sided"
    return (f"{len(design['information_rates'])} looks, {design['type_of_design']}{futility}, {sides} "
            f"alpha {design['alpha']:g}")


def stopping(z: np.ndarray, design: GroupSequentialDesign,
             obey_futility: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(look each trial stops at, stopped for efficacy, claimed), each (trials,), for z (looks, trials).

    A nan z (nothing to analyse yet) neither rejects nor stops for futility.
    """
    with np.errstate(invalid="ignore"):
        efficacy = (np.abs(z) if design.sided == 2 else z) >= design.critical_values[:, None]
        futility = np.zeros_like(efficacy)
        if design.sided == 1 and obey_futility:
            futility[:-1] = z[:-1] < design.futility_bounds[:, None]
    stop = efficacy | futility
    stop[-1] = True
    look = np.argmax(stop, axis=0)
    trials = np.arange(z.shape[1])
    rejected = efficacy[look, trials]
    with np.errstate(invalid="ignore"):
        return look, rejected, rejected & (z[look, trials] > 0)


def _se(p: float, n: int) -> float:
    return float(np.sqrt(p * (1 - p) / n))


def _at_stop(values: np.ndarray, look: np.ndarray) -> np.ndarray:
    return values[look, np.arange(values.shape[1])]


def _median(values: np.ndarray) -> float:
    """Median of the non-nan values (±inf count: a monotone Cox fit's estimate), nan if none."""
    kept = values[~np.isnan(values)]
    return float(np.median(kept)) if kept.size else float("nan")


def size_characteristics(stats: dict[str, np.ndarray], null: dict[str, np.ndarray], i: int,
                         design: GroupSequentialDesign) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(figures of size index ``i``, one row per look) from the look statistics of the trials
    (``stats``) and of the same trials under the null (``null``), arrays (sizes, looks, trials)."""
    z, n_trials = stats["z"][i], stats["z"].shape[-1]
    look, rejected, claim = stopping(z, design)
    type_i = float(stopping(null["z"][i], design)[2].mean())
    type_i_free = float(stopping(null["z"][i], design, obey_futility=False)[2].mean())
    at_stop = {k: _at_stop(stats[k][i], look) for k in ("randomised", "information", "day", "estimate")}
    power = float(claim.mean())
    row = {
        "power": power, "power_se": _se(power, n_trials),
        "type_i_error": type_i, "type_i_error_se": _se(type_i, n_trials),
        "type_i_error_no_futility": type_i_free, "type_i_error_no_futility_se": _se(type_i_free, n_trials),
        "expected_patients": float(at_stop["randomised"].mean()),
        "expected_patients_se": float(at_stop["randomised"].std() / np.sqrt(n_trials)),
        "expected_information": float(at_stop["information"].mean()),
        "expected_information_se": float(at_stop["information"].std() / np.sqrt(n_trials)),
        "expected_months": float(calendar_months(at_stop["day"]).mean()),
        "expected_months_se": float(calendar_months(at_stop["day"]).std() / np.sqrt(n_trials)),
        "max_patients": float(stats["randomised"][i][-1].mean()),
        "max_information": float(stats["information"][i][-1].mean()),
        "max_months": float(calendar_months(stats["day"][i][-1]).mean()),
        "median_estimate": _median(at_stop["estimate"]),
        "median_estimate_last_look": _median(stats["estimate"][i][-1]),
    }
    row["median_bias"] = row["median_estimate"] - row["median_estimate_last_look"]
    if "ssr_factor" in stats:
        grown = (look == design.k_max - 1) & (stats["ssr_factor"][i] > 1)
        row |= {"ssr_probability": float(grown.mean()),
                "ssr_mean_factor": float(stats["ssr_factor"][i][grown].mean()) if grown.any() else float("nan")}
    looks = []
    for k in range(design.k_max):
        running = look >= k
        cp = conditional_power(z[k][running], design.information_rates[k], design.critical_values[-1]) \
            if k < design.k_max - 1 else np.full(0, np.nan)
        looks.append({"look": k + 1, "efficacy": float((rejected & (look == k)).mean()),
                      "futility": float((~rejected & (look == k)).mean()) if k < design.k_max - 1 else 0.0,
                      "mean_information": float(stats["information"][i][k][running].mean()) if running.any()
                      else float("nan"),
                      "mean_months": float(calendar_months(stats["day"][i][k][running]).mean()) if running.any()
                      else float("nan"),
                      "median_conditional_power": _median(cp) if cp.size else float("nan"),
                      "median_estimate": _median(stats["estimate"][i][k])})
    return row, looks


@dataclass(frozen=True)
class SequentialCurve:
    """Operating characteristics of a group-sequential design per total sample size.

    ``table``: one row per n_total (see :func:`size_characteristics`); ``looks``: one row per
    n_total and look (stopping probabilities, mean information and calendar months among the
    trials reaching it, median conditional power); ``cross_check``: rpact's figures and an
    exponential simulation of the same design at the simulation's own hazards (:func:`cross_check`);
    ``design``: the boundaries; ``estimate``: what ``estimate`` means (log HR or log GMR).
    """

    table: pd.DataFrame
    looks: pd.DataFrame
    cross_check: pd.DataFrame
    design: dict[str, Any]
    endpoint: str
    information: str

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "information": self.information, "design": self.design,
                "operating_characteristics": self.table.to_dict(orient="records"),
                "looks": self.looks.to_dict(orient="records"),
                "cross_check": self.cross_check.to_dict(orient="records")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SequentialCurve:
        def frame(records: list[dict[str, Any]]) -> pd.DataFrame:  # JSON's null back to nan
            out = pd.DataFrame(records, dtype=float)
            counts = [c for c in ("n_total", "look") if c in out]
            return out.astype({c: int for c in counts})

        return cls(frame(data["operating_characteristics"]), frame(data["looks"]), frame(data["cross_check"]),
                   data["design"], data["endpoint"], data["information"])


def sequential_curve(stats: dict[str, np.ndarray], null: dict[str, np.ndarray], sizes: list[int],
                     design: GroupSequentialDesign, endpoint: str, information: str,
                     check: pd.DataFrame) -> SequentialCurve:
    """The operating characteristics of every size from the trials' and null trials' look statistics."""
    rows, looks = [], []
    for i, n in enumerate(sizes):
        row, per_look = size_characteristics(stats, null, i, design)
        rows.append({"n_total": int(n), **row})
        looks += [{"n_total": int(n), **r} for r in per_look]
    return SequentialCurve(pd.DataFrame(rows), pd.DataFrame(looks), check, design.to_dict(), endpoint, information)


CROSS_CHECK_COLUMNS = ("n_total", "hazard_ratio", "lambda2_per_year", "rpact_power", "rpact_expected_events",
                       "rpact_expected_months", "exponential_power", "exponential_power_se",
                       "exponential_expected_events", "exponential_expected_events_se", "exponential_expected_months")


def cross_check(protocol: Protocol, design: GroupSequentialDesign, sizes: list[int], ratio: float, hazard_ratio: float,
                lambda2_per_day: float, n_trials: int, seed: int) -> pd.DataFrame:
    """rpact's ``getPowerSurvival`` (:func:`.sequential.power_survival`) beside lupustrial's own
    simulation of the same trials (:func:`.interim.exponential_timeline`, the same looks and
    boundaries as the model's trials), both under rpact's assumptions at the model simulation's
    hazards: exponential flare times at the control arm's hazard (events over exposure) and the
    last look's mean log hazard ratio, randomisation uniform over n / (the protocol's enrolment
    rate) after the mean randomisation delay, the protocol's dropout hazard, everyone followed
    until the last look (rpact has no fixed follow-up per patient). The two must agree within
    Monte Carlo error; the model's trials beside them need not, which is the information.
    Empty unless every look is by events of a Cox endpoint.
    """
    interim = protocol.interim
    if interim is None or any(look.by != "events" for look in interim.looks) or not (
            np.isfinite(hazard_ratio) and lambda2_per_day > 0 and hazard_ratio != 1):
        return pd.DataFrame(columns=CROSS_CHECK_COLUMNS)
    delay = np.mean(protocol.randomisation.window_weeks) * 7
    conduct = {"ratio": ratio, "dropout_hazard": protocol.dropout.rate_per_year / DAYS_PER_YEAR}
    rows = []
    for n in sizes:
        accrual = n / protocol.enrolment.rate_per_month * DAYS_PER_MONTH
        rpact = power_survival(design, hazard_ratio, lambda2_per_day, max_number_of_events=interim.max_events,
                               max_number_of_subjects=n, accrual_time=accrual, allocation_ratio_planned=ratio,
                               dropout_hazard=conduct["dropout_hazard"])
        timeline = exponential_timeline(range(n_trials), n, seed=seed, accrual=accrual, lambda2=lambda2_per_day,
                                        hazard_ratio=hazard_ratio, delay=delay, **conduct)
        stats = {k: v[0] for k, v in look_statistics(timeline, interim, [n]).items()}
        look, _, claim = stopping(stats["z"], design)
        events, months = _at_stop(stats["information"], look), calendar_months(_at_stop(stats["day"], look))
        rows.append({"n_total": int(n), "hazard_ratio": hazard_ratio, "lambda2_per_year": lambda2_per_day * DAYS_PER_YEAR,
                     "rpact_power": rpact.overall_reject, "rpact_expected_events": rpact.expected_number_of_events,
                     "rpact_expected_months": float(calendar_months(rpact.study_duration + delay)),
                     "exponential_power": float(claim.mean()), "exponential_power_se": _se(claim.mean(), n_trials),
                     "exponential_expected_events": float(events.mean()),
                     "exponential_expected_events_se": float(events.std() / np.sqrt(n_trials)),
                     "exponential_expected_months": float(months.mean())})
    return pd.DataFrame(rows, columns=CROSS_CHECK_COLUMNS)
