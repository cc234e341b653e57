"""Calibrate the model's uncertain parameters to BEAT-LUPUS's published figures.

Method (``docs/calibration.md``): simulated minimum distance. A large virtual cohort — the same
patients given each arm (common random numbers), randomised on a uniform day of the protocol's
window, dosed as the protocol says, with assay error — yields population versions of the trial's
published summaries. The distance is the sum of squared differences between simulated and
published values, each on the scale where the published 95% CI is symmetric and divided by the
standard error that CI implies. The cohort's draws are fixed by one seed, so the distance is a
deterministic, piecewise-smooth function of the parameters, which scipy's ``least_squares``
(trust-region reflective, finite-difference Jacobian, on unbounded transforms of the prior
ranges) minimises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from lupustrial import __version__
from lupustrial.analysis.batch import ancova_gmr_batch, cox_batch
from lupustrial.design.reproduce import published
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population
from lupustrial.protocol import load_protocol, protocol_dosing
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.labs import measure
from lupustrial.simulate.trial import LAB_OUTPUTS

_EDGE = 1e-9
Z975 = 1.959963984540054  # standard normal 97.5% quantile: the published CIs are 95%


@dataclass(frozen=True)
class Cohort:
    """Population summaries of one parameter set, on the published figures' scales."""

    gm_dsdna: dict[str, float]  # week-52 geometric mean anti-dsDNA per arm, IU/mL
    resid_sd: float  # ANCOVA residual SD of log anti-dsDNA
    p_flare: dict[str, float]  # probability of a severe flare within follow-up, per arm
    log_hr: float  # Cox log hazard ratio of first severe flare (treatment vs reference)
    gm_cd19: dict[str, float]  # week-52 geometric mean CD19+, 10^9/L
    sd_cd19: dict[str, float]  # week-52 SD of log CD19+ between patients, per arm


def cohort_summaries(params: ModelParameters, protocol: Protocol, n: int = 500, seed: int = 1) -> Cohort:
    """Simulate ``n`` virtual patients under each arm and summarise them as the trial was.

    Every arm gets the same patients, randomisation days, assay errors and flare draws, so the
    arm contrasts carry no between-patient sampling noise.
    """
    ss = np.random.SeedSequence(seed)
    pop_seed, rng_seed = (int(s.generate_state(1)[0]) for s in ss.spawn(2))
    base = virtual_population(n, pop_seed, params)
    rng = np.random.default_rng(rng_seed)
    lo, hi = (round(w * 7) for w in protocol.randomisation.window_weeks)
    rand_day = rng.integers(lo, hi + 1, n).astype(float)
    follow = protocol.follow_up_weeks * 7
    primary_day = rand_day + protocol.endpoints.primary.week * 7
    gaps = rng.exponential(1.0, (n, 1))
    noise_seed = int(rng.integers(2**62))
    arms = [a.name for a in protocol.arms]
    grid = np.arange(0.0, hi + follow + 1.0)
    rows = np.arange(n)
    res: dict[str, dict[str, np.ndarray]] = {}
    for arm in arms:
        dosing = protocol_dosing(protocol, base.covariates["weight_kg"], np.full(n, arm, dtype=object), rand_day,
                                 rand_day + follow)
        out = simulate(base, dosing, grid).outputs()
        labs = {}
        for param in ("DSDNA", "CD19"):
            name, factor, _ = LAB_OUTPUTS[param]
            true = np.column_stack([out[name][:, 0], out[name][rows, primary_day.astype(int)]]) * factor
            labs[param], _ = measure(true, protocol.labs[param], np.random.default_rng(noise_seed))
        cum = out["cumulative_flare_hazard"]
        rel = cum[rows, (rand_day + follow).astype(int)] - cum[rows, rand_day.astype(int)]
        # First flare time by inversion of the (near-linear over a day) cumulative hazard.
        flare_day = _first_event(grid, cum, rand_day, follow, gaps[:, 0])
        res[arm] = {"dsdna": labs["DSDNA"], "cd19": labs["CD19"], "p": 1.0 - np.exp(-rel), "flare_day": flare_day}
    treat, ref = arms[0], arms[1]
    y = np.concatenate([res[treat]["dsdna"][:, 1], res[ref]["dsdna"][:, 1]])[None]
    x0 = np.concatenate([res[treat]["dsdna"][:, 0], res[ref]["dsdna"][:, 0]])[None]
    g = np.concatenate([np.ones(n), np.zeros(n)])[None]
    anc = ancova_gmr_batch(y, x0, g)
    fd = np.concatenate([res[treat]["flare_day"], res[ref]["flare_day"]])
    event = np.isfinite(fd)
    fit = cox_batch(np.where(event, fd, follow)[None], event[None].astype(float), g, ties="efron")
    return Cohort(
        gm_dsdna={a: float(np.exp(np.log(res[a]["dsdna"][:, 1]).mean())) for a in arms},
        resid_sd=float(anc.sigma[0]),
        p_flare={a: float(res[a]["p"].mean()) for a in arms},
        log_hr=float(fit.coef[0]),
        gm_cd19={a: float(np.exp(np.log(res[a]["cd19"][:, 1]).mean())) for a in arms},
        sd_cd19={a: float(np.log(res[a]["cd19"][:, 1]).std(ddof=1)) for a in arms},
    )


def _first_event(grid: np.ndarray, cum: np.ndarray, rand_day: np.ndarray, follow: float,
                 gap: np.ndarray) -> np.ndarray:
    """Day after randomisation when H(t) − H(randomisation) first reaches ``gap`` (nan if not in follow-up)."""
    rows = np.arange(cum.shape[0])
    rel = cum - cum[rows, rand_day.astype(int)][:, None]
    hit = rel >= gap[:, None]
    first = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    ok = first > 0
    j = np.where(ok, first, 1)
    h0, h1 = rel[rows, j - 1], rel[rows, j]
    t = grid[j - 1] + (gap - h0) / np.where(h1 > h0, h1 - h0, 1.0)
    day = t - rand_day
    return np.where(ok & (day > 0) & (day <= follow), day, np.nan)


@dataclass(frozen=True)
class Target:
    """One published figure as the calibration sees it: a value and its standard error on a scale."""

    name: str
    figure: str
    published: float  # on the natural scale
    scale: str  # "log" or "logit": where the published CI is (near) symmetric
    se: float  # standard error on that scale

    def transform(self, value: float) -> float:
        """Value on the target's scale; 0 and 1 (a small cohort with no flare in an arm) are
        clipped to 1e-9 from the edge, so they give a large finite residual, not an error."""
        value = min(max(value, _EDGE), 1.0 - _EDGE) if self.scale == "logit" else max(value, _EDGE)
        if self.scale == "logit":
            return math.log(value / (1.0 - value))
        return math.log(value)

    def residual(self, simulated: float) -> float:
        """(simulated − published) / SE on the target's scale."""
        return (self.transform(simulated) - self.transform(self.published)) / self.se


def _log_se(published: float, lower: float, upper: float, q: float = Z975) -> float:
    """SE on the log scale from a 95% CI: the wider of its two half-widths over ``q``.

    For a CI symmetric on the log scale (anti-dsDNA, hazard ratio: halves equal to rounding) this
    is the usual SE. The B-cell CIs are not: belimumab's 0.012 (0.006 to 0.014) has halves 0.69
    and 0.15, placebo's 0.037 (0.021 to 0.081) 0.57 and 0.78, more than rounding explains (a
    probable transcription or reporting asymmetry, beat_lupus_published.yaml). The wider half
    neither lets a short half overweight a target nor depends on which half is wrong.
    """
    return max(math.log(upper / published), math.log(published / lower)) / q


def targets(protocol: Protocol, name: str = "beat-lupus") -> list[Target]:
    """The calibration targets, each derived from a published figure and its 95% CI.

    Counts become proportions of the arm's randomised patients (logit scale, SE from the counts).
    Two targets are spreads between patients, as the published CIs imply them with n1 = n2 = the
    arm sizes (numbers analysed are unconfirmed): the ANCOVA's residual SD of log anti-dsDNA from
    the CI of the % reduction, SE(log ratio) = sigma × sqrt(1/n1 + 1/n2); and per arm the SD of
    log B cells at week 52 from the CI of its geometric mean (a t interval of the mean log count,
    as the analysis computes it), SE = SD / sqrt(n). Each SD has SE(log SD) = 1/sqrt(2 df).
    The % reduction itself is not a target: between randomised arms its population value is the
    ratio of the week-52 geometric means (47/103 = 0.46, a 54% reduction), while the published
    adjusted ratio (0.30) also carries the trial's chance baseline imbalance (docs/calibration.md).
    """
    from scipy.stats import t as student_t

    figs = {f.statistic: f for f in published(name).figures}
    n_arm = protocol.population.n_patients / len(protocol.arms)
    out = []
    for stat in ("gm_dsdna_treatment", "gm_dsdna_reference", "gm_cd19_treatment", "gm_cd19_reference", "hazard_ratio"):
        f = figs[stat]
        out.append(Target(stat, f.figure, f.published, "log", _log_se(f.published, f.lower, f.upper)))
    for stat in ("flares_treatment", "flares_reference"):
        f = figs[stat]
        events = f.published
        out.append(Target(stat, f.figure, events / n_arm, "logit", math.sqrt(1.0 / events + 1.0 / (n_arm - events))))
    for role, arm in zip(("treatment", "reference"), protocol.arms):
        f = figs[f"gm_cd19_{role}"]
        df = n_arm - 1
        sd = _log_se(f.published, f.lower, f.upper, float(student_t.ppf(0.975, df))) * math.sqrt(n_arm)
        out.append(Target(f"sd_cd19_{role}", f"SD of log B cells at week 52, {arm.name.lower()} (from the CI of "
                          "the geometric mean)", sd, "log", 1.0 / math.sqrt(2.0 * df)))
    f = figs["pct_reduction"]
    df = 2 * n_arm - 3  # ANCOVA: intercept, arm, log baseline
    se_log_ratio = _log_se(1.0 - f.published / 100.0, 1.0 - f.upper / 100.0, 1.0 - f.lower / 100.0,
                           float(student_t.ppf(0.975, df)))
    out.append(Target("resid_sd", "residual SD of log anti-dsDNA at week 52 (from the CI of the % reduction)",
                      se_log_ratio / math.sqrt(2.0 / n_arm), "log", 1.0 / math.sqrt(2.0 * df)))
    return out


def simulated_values(cohort: Cohort, protocol: Protocol) -> dict[str, float]:
    """The cohort's value of every target, keyed as :func:`targets` names them."""
    treat, ref = (a.name for a in protocol.arms[:2])
    return {
        "gm_dsdna_treatment": cohort.gm_dsdna[treat], "gm_dsdna_reference": cohort.gm_dsdna[ref],
        "gm_cd19_treatment": cohort.gm_cd19[treat], "gm_cd19_reference": cohort.gm_cd19[ref],
        "hazard_ratio": math.exp(cohort.log_hr),
        "flares_treatment": cohort.p_flare[treat], "flares_reference": cohort.p_flare[ref],
        "sd_cd19_treatment": cohort.sd_cd19[treat], "sd_cd19_reference": cohort.sd_cd19[ref],
        "resid_sd": cohort.resid_sd,
    }


#: Parameters the fit moves; the other ``calibrate=True`` parameters stay at their prior centre
#: because the published figures do not inform them (docs/calibration.md, identifiability).
FITTED = ("flare_rate", "baff_survival_auto", "baff_survival_nonauto", "rtx_ec50", "llpc_share", "auto_fraction",
          "cd19_median", "anti_dsdna_median", "omega.dsdna_drift", "cd19_sdlog")


def _to_unbounded(value: float, prior: tuple[float, float]) -> float:
    lo, hi = (math.log(b) for b in prior)
    x = (math.log(value) - lo) / (hi - lo)
    return math.log(x / (1.0 - x))


def _from_unbounded(u: float, prior: tuple[float, float]) -> float:
    lo, hi = (math.log(b) for b in prior)
    return math.exp(lo + (hi - lo) / (1.0 + math.exp(-u)))


@dataclass(frozen=True)
class Problem:
    """What a fit needs: the start, which parameters move (in their prior ranges), the targets."""

    start: ModelParameters
    names: tuple[str, ...]
    targets: list[Target]
    protocol: Protocol
    n: int
    seed: int

    def settings_at(self, u: np.ndarray) -> dict[str, float]:
        return {n: _from_unbounded(float(x), self.start.prior(n)) for n, x in zip(self.names, u)}

    def params_at(self, u: np.ndarray) -> ModelParameters:
        return self.start.apply(self.settings_at(u))

    def u0(self) -> np.ndarray:
        return np.array([_to_unbounded(self.start.setting(n), self.start.prior(n)) for n in self.names])

    def residuals(self, u: np.ndarray) -> np.ndarray:
        sim = simulated_values(cohort_summaries(self.params_at(u), self.protocol, self.n, self.seed), self.protocol)
        return np.array([t.residual(sim[t.name]) for t in self.targets])


#: SD of the weak normal prior on each fitted parameter's unbounded transform: logistic(u) with
#: u ~ N(0, 1.8²) is close to uniform on the (log) prior range, so the prior only keeps the fit
#: off the range's edges and gives unidentified directions a finite posterior spread.
PRIOR_SD = 1.8


@dataclass(frozen=True)
class Calibration:
    """A fitted parameter set, posterior draws around it, and how it was made."""

    params: ModelParameters
    draws: list[dict[str, float]]
    provenance: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        names = self.provenance["fitted"]
        return {"values": {n: self.params.setting(n) for n in names}, "draws": self.draws,
                "provenance": self.provenance}


def calibrate(name: str = "beat-lupus", *, names: tuple[str, ...] = FITTED, n: int = 2000, seed: int = 1,
              n_draws: int = 200, start: ModelParameters | None = None, max_evaluations: int = 400,
              progress: Callable[[int, float], None] | None = None) -> Calibration:
    """Fit ``names`` to the published figures of trial ``name`` by penalised simulated least squares.

    Returns the maximum a posteriori set and ``n_draws`` draws from the Laplace (Gauss–Newton)
    approximation of the posterior in the unbounded parameterisation, for probability-of-success
    calculations. ``progress(evaluations, distance)`` is called after each cohort simulation.
    """
    from scipy.optimize import least_squares

    protocol = load_protocol(published(name).protocol)
    start = start or ModelParameters()
    problem = Problem(start, names, targets(protocol, name), protocol, n, seed)
    count = [0]

    def residuals(u: np.ndarray) -> np.ndarray:
        r = np.concatenate([problem.residuals(u), u / PRIOR_SD])
        count[0] += 1
        if progress is not None:
            progress(count[0], float(r @ r))
        return r

    fit = least_squares(residuals, problem.u0(), diff_step=0.05, max_nfev=max_evaluations)
    precision = fit.jac.T @ fit.jac
    cov = np.linalg.inv(precision)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    u_draws = rng.multivariate_normal(fit.x, cov, size=n_draws, method="cholesky")
    fitted = problem.params_at(fit.x)
    draws = [problem.settings_at(u) for u in u_draws]
    sim = simulated_values(cohort_summaries(fitted, protocol, n, seed), protocol)
    data_part = fit.fun[: len(problem.targets)]
    provenance = {
        "trial": name,
        "date": date.today().isoformat(),
        "lupustrial_version": __version__,
        "method": "penalised simulated least squares (scipy least_squares, trust-region reflective), "
                  f"Laplace posterior draws; weak N(0, {PRIOR_SD}²) prior on logit-log transforms",
        "seed": seed,
        "patients_per_arm": n,
        "evaluations": count[0],
        "distance": float(data_part @ data_part),
        "fitted": list(names),
        "posterior_sd_log": {k: float(np.std(np.log([d[k] for d in draws]))) for k in names},
        # ~1: the published figures say nothing about the parameter (its prior decides); << 1: identified.
        "posterior_to_prior_sd": {k: float(math.sqrt(cov[i, i]) / PRIOR_SD) for i, k in enumerate(names)},
        "targets": [{"name": t.name, "figure": t.figure, "published": t.published, "scale": t.scale,
                     "se": t.se, "simulated": sim[t.name], "residual": float(r)}
                    for t, r in zip(problem.targets, data_part)],
    }
    return Calibration(fitted, draws, provenance)


def markdown_tables(stored: dict) -> str:
    """The fitted values and the fit of each target, as ``docs/calibration.md`` shows them.

    ``stored`` is the JSON form (:meth:`Calibration.to_dict`); a test keeps the page equal to
    the shipped file, so the page cannot drift from what the package uses.
    """
    prov, values, draws = stored["provenance"], stored["values"], stored["draws"]
    start = ModelParameters()
    worst = max(abs(t["residual"]) for t in prov["targets"])
    lines = [f"Fitted with seed {prov['seed']}, {prov['patients_per_arm']:,} virtual patients per arm, "
             f"{prov['evaluations']} cohort simulations; distance {prov['distance']:.3g} ({len(prov['fitted'])} "
             f"parameters, {len(prov['targets'])} targets; largest residual {worst:.2f} published SE).", "",
             "| parameter | fitted | prior range | 90% posterior interval | posterior SD / prior SD |",
             "|---|---|---|---|---|"]
    for name in prov["fitted"]:
        lo, hi = start.prior(name)
        q5, q95 = np.quantile([d[name] for d in draws], [0.05, 0.95])
        lines.append(f"| `{name}` | {values[name]:.4g} | {lo:g}–{hi:g} | {q5:.3g}–{q95:.3g} | "
                     f"{prov['posterior_to_prior_sd'][name]:.2f} |")
    lines += ["", "| target | published | scale | SE | simulated | residual (SE) |", "|---|---|---|---|---|---|"]
    for t in prov["targets"]:
        lines.append(f"| {t['figure']} | {t['published']:.4g} | {t['scale']} | {t['se']:.3f} | "
                     f"{t['simulated']:.4g} | {t['residual']:+.2f} |")
    return "\n".join(lines)
