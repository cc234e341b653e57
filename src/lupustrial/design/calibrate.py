"""Joint calibration of the model to every trial's published figures at once.

Method (``docs/calibration.md``): simulated minimum distance. For each trial, a large virtual
cohort is given every arm of the trial's protocol (common random numbers:
:func:`~lupustrial.simulate.trial.cohort_arrays`), and each published figure's statistic
(:mod:`lupustrial.design.figures`) is computed on it, with drawn events replaced by their
expectations. The distance is the sum over all trials of squared differences between simulated
and published values, each on the scale where the published uncertainty is symmetric and divided
by the standard error it implies. Drug and immune-system parameters are shared by every trial;
population parameters (the severe-flare rate) are each trial's own. The cohorts' draws are fixed
by one seed, so the distance is a deterministic, piecewise-smooth function of the parameters,
which scipy's ``least_squares`` minimises on unbounded transforms of the prior ranges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np

from lupustrial import __version__
from lupustrial.analysis.batch import ancova_gmr_batch
from lupustrial.design.figures import (
    Figure, Published, arm_mask, check_figures, log_ci_se, published, statistic, visit_values,
)
from lupustrial.model.parameters import (
    TRIAL_SEP, ModelParameters, read_parameter_file, stored_calibration, trial_settings,
)

from lupustrial.protocol import load_protocol
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.trial import TrialArrays, cohort_arrays

_EDGE = 1e-9
Z975 = 1.959963984540054  # standard normal 97.5% quantile: the published CIs are 95%

#: The trials the joint calibration fits, each a protocol with published figures.
TRIALS = ("beat-lupus", "bliss-iv", "bliss-sc", "rtx-ucl")


@dataclass(frozen=True)
class Target:
    """One published figure as the calibration sees it: a value and its standard error on a scale.

    ``per_patient`` targets are counts compared as rates: published / ``n`` against the cohort's
    count over its arm size. ``spread`` targets are between-patient SDs implied by a figure's CI.
    """

    trial: str
    figure: Figure
    label: str
    published: float  # on the natural scale (a rate for per-patient counts)
    scale: str  # "log", "logit" or "identity": where the published uncertainty is symmetric
    se: float  # standard error on that scale
    kind: str = "figure"  # "figure", "per_patient", "resid_sd", "sd_log", "sd", "bound_lower" or "bound_upper"

    def transform(self, value: float) -> float:
        """Value on the target's scale; 0 and 1 are clipped 1e-9 from the edge, so a small cohort with
        no event in an arm gives a large finite residual, not an error."""
        if self.scale == "identity":
            return value
        if self.scale == "logit":
            value = min(max(value, _EDGE), 1.0 - _EDGE)
            return math.log(value / (1.0 - value))
        return math.log(max(value, _EDGE))

    def residual(self, simulated: float) -> float:
        """(simulated − published) / SE on the target's scale; 0 on the right side of a bound."""
        r = (self.transform(simulated) - self.transform(self.published)) / self.se
        if self.kind == "bound_lower":
            return min(r, 0.0)
        return max(r, 0.0) if self.kind == "bound_upper" else r


def _figure_target(trial: str, f: Figure) -> Target | None:
    """The target a figure's own uncertainty gives, or None (a point estimate without one)."""
    if f.bound is not None:
        return Target(trial, f, f.figure, f.published, "identity", f.se, f"bound_{f.bound}")
    if f.statistic == "events" and f.n:
        return Target(trial, f, f.figure, f.published / f.n, "log", 1.0 / math.sqrt(f.published), "per_patient")
    if f.statistic in ("proportion_with_event", "proportion_below", "proportion_responding") and f.n:
        events = f.published * f.n
        return Target(trial, f, f.figure, f.published, "logit", math.sqrt(1.0 / events + 1.0 / (f.n - events)))
    if f.statistic == "percent_reduction":
        return None  # the adjusted ratio carries the trial's chance baseline imbalance (docs/calibration.md)
    if f.lower is not None and f.upper is not None:
        return Target(trial, f, f.figure, f.published, "log", log_ci_se(f.published, f.lower, f.upper))
    if f.sd is not None and f.n:
        return Target(trial, f, f.figure, f.published, "identity", f.sd / math.sqrt(f.n))
    if f.q1 is not None and f.q3 is not None and f.n:
        sd_log = math.log(f.q3 / f.q1) / 1.3489795003921634  # IQR of a normal, in SDs
        return Target(trial, f, f.figure, f.published, "log", math.sqrt(math.pi / 2) * sd_log / math.sqrt(f.n))
    return None


def _spread_targets(trial: str, pub: Published) -> list[Target]:
    """Between-patient spreads the CIs imply, given the numbers analysed.

    A geometric mean's CI (a t interval of the mean log value) gives the arm's SD of log values,
    SD = half-width / t × √n; the CI of an ANCOVA's % reduction gives the residual SD, from
    SE(log ratio) = σ √(1/n₁ + 1/n₂). Each SD has SE(log SD) = 1/√(2 df).
    """
    from scipy.stats import t as student_t

    out, n_of = [], {}
    for f in pub.figures:
        if f.statistic == "mean_ratio" and f.sd is not None and f.n and f.bound is None:
            out.append(Target(trial, f, f"SD of {f.figure[0].lower()}{f.figure[1:]}", f.sd, "log",
                              1.0 / math.sqrt(2.0 * (f.n - 1)), "sd"))
        if f.statistic == "gm" and f.n and f.lower is not None:
            df = f.n - 1
            sd = log_ci_se(f.published, f.lower, f.upper, float(student_t.ppf(0.975, df))) * math.sqrt(f.n)
            out.append(Target(trial, f, f"SD of log {f.param} at week {f.week:g}, {f.arm.lower()} (from the CI of the "
                              "geometric mean)", sd, "log", 1.0 / math.sqrt(2.0 * df), "sd_log"))
            n_of[(f.param, f.week, f.arm)] = f.n
    for f in pub.figures:
        ns = (n_of.get((f.param, f.week, f.treatment)), n_of.get((f.param, f.week, f.reference)))
        if f.statistic == "percent_reduction" and f.lower is not None and None not in ns:
            df = sum(ns) - 3  # ANCOVA: intercept, arm, log baseline
            se_log_ratio = log_ci_se(1.0 - f.published / 100.0, 1.0 - f.upper / 100.0, 1.0 - f.lower / 100.0,
                                     float(student_t.ppf(0.975, df)))
            sigma = se_log_ratio / math.sqrt(1.0 / ns[0] + 1.0 / ns[1])
            out.append(Target(trial, f, f"residual SD of log {f.param} at week {f.week:g} (from the CI of the % "
                              "reduction)", sigma, "log", 1.0 / math.sqrt(2.0 * df), "resid_sd"))
    return out


def targets(trial: str) -> list[Target]:
    """Every calibration target of ``trial``: its figures with published uncertainty, and the spreads."""
    pub = published(trial)
    return [t for f in pub.figures if (t := _figure_target(trial, f)) is not None] + _spread_targets(trial, pub)


def simulated(target: Target, cohort: TrialArrays, protocol: Protocol) -> float:
    """The cohort's value of ``target``, on the target's natural scale."""
    f = target.figure
    if target.kind == "sd":
        ratio = visit_values(cohort, f.param, f.week) / cohort.lab_base[f.param]
        return float(ratio[arm_mask(cohort, protocol, f.arm) & np.isfinite(ratio)].std(ddof=1))
    if target.kind == "sd_log":
        y = visit_values(cohort, f.param, f.week)
        return float(np.log(y[arm_mask(cohort, protocol, f.arm) & np.isfinite(y)]).std(ddof=1))
    if target.kind == "resid_sd":
        y = visit_values(cohort, f.param, f.week)
        treated = arm_mask(cohort, protocol, f.treatment)
        both = (treated | arm_mask(cohort, protocol, f.reference)) & np.isfinite(y)
        fit = ancova_gmr_batch(np.where(np.isfinite(y), y, 1.0), cohort.lab_base[f.param], treated.astype(float),
                               mask=both)
        return float(fit.sigma[0])
    value = float(statistic(f, cohort, protocol, smooth=True)[0])
    if target.kind == "per_patient":
        value /= float(arm_mask(cohort, protocol, f.arm).sum())
    return value


#: Parameters every trial shares that the fit moves; the other ``calibrate=True`` parameters stay at
#: their prior centre because no published figure informs them (docs/calibration.md, identifiability).
SHARED = ("omega.rtx_kill_rate", "rtx_ec50", "rtx_marrow_share", "b_transitional_share", "b_transitional_days", "b_naive_turnover",
          "b_auto_turnover", "b_memory_turnover", "baff_membrane_share",
          "auto_fraction", "baff_saturation_nonauto", "baff_saturation_auto", "pb_baff_dependence", "pb_memory_share",
          "llpc_half_life", "llpc_share", "flare_pb_share", "cd19_median", "anti_dsdna_median", "omega.dsdna_drift",
          "cd19_sdlog", "bel_kd", "resolution_drive_power")
#: Population parameters a trial has for itself, and which of its figures inform each: the
#: severe-flare rate its flare figures, the rate at which active domains improve its responders.
PER_TRIAL = {"flare_rate": lambda f: f.param == "TTSEVFL" and f.statistic != "logrank_p",
             "resolution_rate": lambda f: f.statistic == "proportion_responding"}


#: Per-trial parameters fitted by a one-dimensional search after the least squares: their targets
#: (responder shares) are step functions of them in a fixed cohort, whose finite-difference
#: gradient vanishes, and they move no other target, so the two steps reach the joint optimum.
SEARCHED = ("resolution_rate", "resolution_drive_power")


def _searched_target(t: Target) -> bool:
    """Whether the searched parameters, not the least squares, fit target ``t``: the figures that
    inform a trial's improvement rate (its responder shares)."""
    return PER_TRIAL["resolution_rate"](t.figure)


def fitted_names(trials: tuple[str, ...] = TRIALS) -> tuple[str, ...]:
    """The shared names, then ``trial:parameter`` for each trial with figures that inform it."""
    return SHARED + tuple(f"{t}{TRIAL_SEP}{p}" for p, informs in PER_TRIAL.items() for t in trials
                          if any(informs(f) for f in published(t).figures))


def _to_unbounded(value: float, prior: tuple[float, float]) -> float:
    lo, hi = (math.log(b) for b in prior)
    x = (math.log(value) - lo) / (hi - lo)
    return math.log(x / (1.0 - x))


def _from_unbounded(u: float, prior: tuple[float, float]) -> float:
    lo, hi = (math.log(b) for b in prior)
    return math.exp(lo + (hi - lo) / (1.0 + math.exp(-u)))


@cache
def _protocol(trial: str) -> Protocol:
    protocol = load_protocol(published(trial).protocol)
    check_figures(published(trial), protocol)
    return protocol


@dataclass(frozen=True)
class Problem:
    """What a fit needs: the start, which settings move (in their prior ranges), the trials and targets."""

    start: ModelParameters
    names: tuple[str, ...]
    trials: tuple[str, ...]
    n: int
    seed: int

    @property
    def targets(self) -> list[Target]:
        return [t for trial in self.trials for t in targets(trial)]

    def prior(self, name: str) -> tuple[float, float]:
        return self.start.prior(name.split(TRIAL_SEP)[-1])

    def settings_at(self, u: np.ndarray) -> dict[str, float]:
        return {n: _from_unbounded(float(x), self.prior(n)) for n, x in zip(self.names, u)}

    def params_at(self, u: np.ndarray, trial: str) -> ModelParameters:
        return self.start.apply(trial_settings(self.settings_at(u), trial))

    def u0(self, settings: dict[str, float] | None = None) -> np.ndarray:
        """The start in the unbounded parameterisation: ``settings`` where given, else ``start``'s values."""
        settings = settings or {}
        return np.array([_to_unbounded(settings.get(n, self.start.setting(n.split(TRIAL_SEP)[-1])), self.prior(n))
                         for n in self.names])

    def simulated(self, u: np.ndarray) -> list[float]:
        """Every target's simulated value, trial by trial."""
        out = []
        for trial in self.trials:
            protocol = _protocol(trial)
            cohort = cohort_arrays(protocol, self.n, self.seed, self.params_at(u, trial))
            out += [simulated(t, cohort, protocol) for t in targets(trial)]
        return out

    def residuals(self, u: np.ndarray) -> np.ndarray:
        return np.array([t.residual(v) for t, v in zip(self.targets, self.simulated(u))])


#: SD of the weak normal prior on each fitted parameter's unbounded transform: logistic(u) with
#: u ~ N(0, 1.8²) is close to uniform on the (log) prior range, so the prior only keeps the fit
#: off the range's edges and gives unidentified directions a finite posterior spread.
PRIOR_SD = 1.8


@dataclass(frozen=True)
class Calibration:
    """A fitted parameter set (shared and per-trial values), posterior draws around it, and how it was made."""

    settings: dict[str, float]
    draws: list[dict[str, float]]
    provenance: dict[str, object]

    def params(self, trial: str) -> ModelParameters:
        return ModelParameters().apply(trial_settings(self.settings, trial))

    def to_dict(self) -> dict[str, object]:
        """The stored form (``model/calibrated/joint.json``)."""
        shared = {k: v for k, v in self.settings.items() if TRIAL_SEP not in k}
        trials = {t: {k.split(TRIAL_SEP, 1)[1]: v for k, v in self.settings.items() if k.startswith(t + TRIAL_SEP)}
                  for t in self.provenance["trials"]}
        return {"values": shared, "trials": trials, "draws": self.draws, "provenance": self.provenance}


def _identification(jac: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """Laplace covariance in u and, per parameter, what identifies it: the posterior-to-prior SD
    ratio and its strongest posterior correlation."""
    cov = np.linalg.inv(jac.T @ jac)
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    out = {}
    for i, name in enumerate(names):
        others = np.abs(np.where(np.arange(len(names)) == i, 0.0, corr[i]))
        j = int(others.argmax())
        out[name] = {"posterior_to_prior_sd": float(sd[i] / PRIOR_SD), "strongest_correlation": float(corr[i, j]),
                     "with": names[j]}
    return cov, out


def calibrate(*, trials: tuple[str, ...] = TRIALS, names: tuple[str, ...] | None = None, n: int = 1000,
              seed: int = 1, n_draws: int = 200, start: ModelParameters | None = None,
              start_settings: dict[str, float] | None = None, max_evaluations: int = 400,
              progress: Callable[[int, float], None] | None = None) -> Calibration:
    """Fit ``names`` to every trial's published figures at once by penalised simulated least squares.

    Returns the maximum a posteriori settings and ``n_draws`` draws from the Laplace
    (Gauss–Newton) approximation of the posterior in the unbounded parameterisation, for
    probability-of-success calculations. ``progress(evaluations, distance)`` is called after each
    evaluation (one cohort per trial). ``start_settings`` (e.g. a stored calibration's, shared and
    ``trial:parameter`` keys) starts the search there instead of at ``start``'s values.
    """
    from scipy.optimize import least_squares

    names = names or fitted_names(trials)
    searched = tuple(name for name in names if name.split(TRIAL_SEP)[-1] in SEARCHED)
    problem = Problem(start or ModelParameters(), tuple(n for n in names if n not in searched), trials, n, seed)
    count = [0]
    # The searched parameters' targets are left to their search: as step functions they would add
    # only noise to the least squares' finite-difference Jacobian.
    smooth = [i for i, t in enumerate(problem.targets) if not _searched_target(t)]

    def residuals(u: np.ndarray) -> np.ndarray:
        r = np.concatenate([problem.residuals(u)[smooth], u / PRIOR_SD])
        count[0] += 1
        if progress is not None:
            progress(count[0], float(r @ r))
        return r

    start_settings = start_settings or {}
    fit = least_squares(residuals, problem.u0(start_settings), diff_step=0.05, max_nfev=max_evaluations)
    cov, identification = _identification(fit.jac, problem.names)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    u_draws = rng.multivariate_normal(fit.x, cov, size=n_draws, method="cholesky")
    fitted = problem.settings_at(fit.x)
    if searched:
        u_hat, sd = _search(problem, fitted, searched, start_settings)
        for name, u, s in zip(searched, u_hat, sd):
            fitted[name] = _from_unbounded(float(u), problem.prior(name))
            identification[name] = {"posterior_to_prior_sd": float(s / PRIOR_SD), "strongest_correlation": 0.0,
                                    "with": "(searched after the least squares)"}
        u_draws = np.column_stack([u_draws, u_hat + sd * rng.standard_normal((n_draws, len(searched)))])
    problem = replace(problem, start=problem.start, names=problem.names + searched)
    u_fit = problem.u0(fitted)
    sim = problem.simulated(u_fit)
    data_part = np.array([t.residual(v) for t, v in zip(problem.targets, sim)])
    provenance = {
        "date": date.today().isoformat(),
        "lupustrial_version": __version__,
        "method": "penalised simulated least squares (scipy least_squares, trust-region reflective), "
                  f"Laplace posterior draws; weak N(0, {PRIOR_SD}²) prior on logit-log transforms",
        "trials": list(trials),
        "seed": seed,
        "patients_per_arm": n,
        "evaluations": count[0],
        "distance": float(data_part @ data_part),
        "fitted": list(names),
        "identification": identification,
        "targets": [{"trial": t.trial, "figure": t.label, "published": t.published, "scale": t.scale, "se": t.se,
                     "simulated": s, "residual": float(r)}
                    for t, s, r in zip(problem.targets, sim, data_part)],
    }
    return Calibration(fitted, [problem.settings_at(u) for u in u_draws], provenance)


def _search(problem: Problem, fitted: dict[str, float], names: tuple[str, ...],
            start: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The searched parameters fitted together to the targets they inform (Nelder–Mead), the others
    at ``fitted``: their unbounded values and posterior SDs there, each from its own Laplace
    approximation with a secant slope over ±0.25 (wide enough to span the step functions' steps;
    correlations between them are left out)."""
    from scipy.optimize import minimize

    trials = tuple(t for t in problem.trials if any(n.startswith(t + TRIAL_SEP) for n in names))
    alone = Problem(problem.start, names, trials, problem.n, problem.seed)
    keep = [i for i, t in enumerate(alone.targets) if _searched_target(t)]

    def residuals(u: np.ndarray) -> np.ndarray:
        return np.concatenate([_trial_residuals(alone, fitted, u)[keep], u / PRIOR_SD])

    u0 = alone.u0(start)
    best = minimize(lambda u: float(residuals(u) @ residuals(u)), u0, method="Nelder-Mead",
                    options={"xatol": 0.02, "fatol": 1e-3, "maxfev": 60 * len(names),
                             "initial_simplex": np.vstack([u0, u0 + 0.5 * np.eye(len(names))])})
    sd = np.empty(len(names))
    for i in range(len(names)):
        step = 0.25 * np.eye(len(names))[i]
        slope = (residuals(best.x + step) - residuals(best.x - step)) / 0.5
        sd[i] = 1.0 / np.sqrt(slope @ slope)
    return best.x, sd


def _trial_residuals(problem: Problem, fitted: dict[str, float], u: np.ndarray) -> np.ndarray:
    """Residuals of ``problem``'s targets with its names at ``u`` and every other setting at ``fitted``."""
    settings = {**fitted, **problem.settings_at(u)}
    out = []
    for trial in problem.trials:
        protocol = _protocol(trial)
        params = problem.start.apply(trial_settings(settings, trial))
        cohort = cohort_arrays(protocol, problem.n, problem.seed, params)
        out += [t.residual(simulated(t, cohort, protocol)) for t in targets(trial)]
    return np.array(out)


def calibration_settings(start: str) -> dict[str, float]:
    """Start settings of a fit: ``"shipped"`` (the stored calibration's values, shared and per trial),
    ``"prior"`` (none: the parameter tables) or the path of a calibration file."""
    if start == "prior":
        return {}
    stored = stored_calibration() if start == "shipped" else read_parameter_file(Path(start))
    return {**stored["values"], **{f"{t}{TRIAL_SEP}{k}": v for t, vs in stored.get("trials", {}).items()
                                   for k, v in vs.items()}}


def markdown_tables(stored: dict) -> str:
    """The fitted values and, one table per trial, the fit of each target, as ``docs/calibration.md`` shows them.

    ``stored`` is the JSON form (:meth:`Calibration.to_dict`); a test keeps the page equal to
    the shipped file, so the page cannot drift from what the package uses.
    """
    prov, draws = stored["provenance"], stored["draws"]
    start = ModelParameters()
    settings = {**stored["values"], **{f"{t}{TRIAL_SEP}{k}": v for t, vs in stored["trials"].items() for k, v in vs.items()}}
    worst = max(abs(t["residual"]) for t in prov["targets"])
    lines = [f"Fitted with seed {prov['seed']}, {prov['patients_per_arm']:,} virtual patients per arm and trial, "
             f"{prov['evaluations']} evaluations; distance {prov['distance']:.3g} ({len(prov['fitted'])} parameters, "
             f"{len(prov['targets'])} targets; largest residual {worst:.2f} published SE).", "",
             "| parameter | fitted | prior range | 90% posterior interval | posterior SD / prior SD | "
             "strongest posterior correlation |", "|---|---|---|---|---|---|"]
    for name in prov["fitted"]:
        lo, hi = start.prior(name.split(TRIAL_SEP)[-1])
        q5, q95 = np.quantile([d[name] for d in draws], [0.05, 0.95])
        ident = prov["identification"][name]
        lines.append(f"| `{name}` | {settings[name]:.4g} | {lo:g}–{hi:g} | {q5:.3g}–{q95:.3g} | "
                     f"{ident['posterior_to_prior_sd']:.2f} | {ident['strongest_correlation']:+.2f} with "
                     f"`{ident['with']}` |")
    for trial in prov["trials"]:
        lines += ["", f"**{trial}** ({published(trial).source})", "",
                  "| target | published | scale | SE | simulated | residual (SE) |", "|---|---|---|---|---|---|"]
        for t in (t for t in prov["targets"] if t["trial"] == trial):
            lines.append(f"| {t['figure']} | {t['published']:.4g} | {t['scale']} | {t['se']:.3f} | "
                         f"{t['simulated']:.4g} | {t['residual']:+.2f} |")
    return "\n".join(lines)
