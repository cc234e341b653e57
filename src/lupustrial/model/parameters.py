"""Every model parameter in one typed structure: value, unit, source, calibration flag, IIV.

Keeping value, provenance and variability side by side is what lets ``docs/model.md`` be
checked against the code and lets calibration (issue 5) move exactly the parameters that
are flagged ``calibrate`` through :meth:`ModelParameters.with_vector`. The drugs' parameters are
declared with their drug (:mod:`.drugs`); this module adds the immune system's and collects both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from lupustrial.errors import LupustrialError
from lupustrial.model.drugs import REGISTRY, correlations
from lupustrial.model.param import ASSUMPTION, Param


_ALLOMETRY = ASSUMPTION + " (standard allometric exponent; fixed: not identifiable from BEAT-LUPUS)"
OMEGA = "omega."  # prefix of a between-patient log-SD in a parameter setting

#: Weight scaling shared by every drug's PK.
_SCALING: tuple[Param, ...] = (
    Param("allometry_cl", 0.75, "1", _ALLOMETRY, prior=(0.5, 1.0), description="weight exponent on CL, Q"),
    Param("allometry_v", 1.0, "1", _ALLOMETRY, prior=(0.5, 1.0), description="weight exponent on V1, V2"),
    Param("weight_ref", 70.0, "kg", ASSUMPTION + " (weight the published CL and V refer to; fixed)", prior=(60.0, 80.0),
          description="reference weight"),
)
#: The immune system the drugs act on.
_IMMUNE: tuple[Param, ...] = (
    # --- B cells ---
    Param("b_transitional_share", 0.1, "1", ASSUMPTION + " (transitional B cells are expanded in SLE)",
          calibrate=True, prior=(0.02, 0.3), description="transitional share τ of CD19+ B cells at baseline"),
    Param("b_transitional_days", 7.0, "day", ASSUMPTION, calibrate=True, prior=(2.0, 30.0),
          description="time a transitional B cell spends in blood before the maturation checkpoint"),
    Param("b_memory_share", 0.3, "1", ASSUMPTION, calibrate=True, prior=(0.1, 0.6),
          description="memory share μ of CD19+ B cells at baseline"),
    Param("b_naive_turnover", 0.02, "1/day", "prior centre: CD19+ turnover 0.02/day, paediatric rituximab PD model, "
          "Br J Clin Pharmacol 2019 (PMC6624401)", calibrate=True, omega=0.3, prior=(0.002, 0.05),
          description="turnover of non-autoreactive naive B cells"),
    Param("b_auto_turnover", 0.05, "1/day", "structure: anergic autoreactive B cells are short-lived and "
          "rescued by excess BAFF (Lesley et al., Immunity 2004;20:441); value " + ASSUMPTION, calibrate=True,
          prior=(0.005, 0.5), description="turnover of autoreactive naive B cells"),
    Param("b_memory_turnover", 0.005, "1/day", ASSUMPTION + " (memory B cells outlive naive ones)",
          calibrate=True, prior=(0.0005, 0.02), description="turnover of memory B cells"),
    Param("auto_fraction", 0.2, "1", ASSUMPTION, calibrate=True, prior=(0.05, 0.5),
          description="autoreactive share α of naive B cells at baseline"),
    Param("baff_saturation_nonauto", 0.3, "1", ASSUMPTION, calibrate=True, prior=(0.02, 3.0),
          description="BAFF saturation K_n of non-autoreactive survival at the transitional checkpoint"),
    Param("baff_saturation_auto", 3.0, "1", ASSUMPTION + " (autoreactive cells need more BAFF)",
          calibrate=True, prior=(0.3, 30.0), description="BAFF saturation K_a of autoreactive survival"),
    Param("baff_membrane_share", 0.2, "1", "structure: belimumab binds soluble BAFF only (BENLYSTA US label §12.1); "
          "value " + ASSUMPTION, calibrate=True, prior=(0.01, 0.6),
          description="share of the BAFF signal B cells sense at baseline that is membrane-bound, out of a soluble-BAFF "
                      "blocker's reach"),
    # --- BAFF ---
    Param("baff_k", 0.7, "1/day", ASSUMPTION, calibrate=True, prior=(0.1, 5.0),
          description="free BAFF elimination rate at baseline"),
    Param("baff_fold_rise", 2.5, "1", ASSUMPTION + " (rise established, size not: Carter 2013; Vallerskog 2006)",
          calibrate=True, omega=0.3, prior=(1.5, 4.0),
          description="steady-state free BAFF fold-rise F at complete B-cell depletion (ω on F − 1)"),
    # --- plasmablasts, plasma cells, anti-dsDNA ---
    Param("pb_half_life", 4.0, "day", ASSUMPTION, calibrate=True, prior=(1.0, 10.0),
          description="short-lived plasmablast half-life at baseline BAFF"),
    Param("pb_baff_dependence", 1.0, "1", ASSUMPTION + " (BAFF acts on plasmablasts through TACI and BCMA)",
          calibrate=True, prior=(0.05, 5.0), description="BAFF dependence e_p of plasmablast survival"),
    Param("pb_memory_share", 0.5, "1", ASSUMPTION, calibrate=True, prior=(0.1, 0.9),
          description="share ψ of autoreactive plasmablasts made from memory B cells at baseline"),
    Param("llpc_half_life", 200.0, "day", ASSUMPTION, calibrate=True, omega=0.5, prior=(60.0, 1000.0),
          description="long-lived plasma cell half-life"),
    Param("llpc_share", 0.5, "1", ASSUMPTION, calibrate=True, prior=(0.2, 0.9),
          description="share φ of anti-dsDNA made by long-lived plasma cells at baseline"),
    Param("llpc_niche_capacity", 2.0, "1", ASSUMPTION + " (not identified: calibration.md)", prior=(1.1, 20.0),
          description="survival-niche capacity Λ of long-lived plasma cells relative to their pre-treatment number"),
    Param("igg_half_life", 21.0, "day", "Morell, Terry, Waldmann, J Clin Invest 1970;49:673 (IgG1)",
          description="anti-dsDNA IgG half-life"),
    Param("dsdna_drift", 1.0, "1", "1 by definition (the typical patient keeps the pre-treatment set point); "
          "ω fitted to the trials' residual SDs (docs/calibration.md)", omega=0.5, omega_prior=(0.05, 2.0),
          description="patient's anti-dsDNA production set point during the trial relative to the pre-treatment "
                      "titre (natural course, regression to the mean, drivers the model lacks)"),
    # --- flare hazard ---
    Param("flare_rate", 1.0, "1/year", ASSUMPTION + " (each trial population's own: calibration.md)",
          calibrate=True, omega=0.5, prior=(0.2, 5.0),
          description="severe-flare hazard at pre-treatment plasmablast output"),
    Param("flare_pb_share", 0.8, "1", ASSUMPTION + " (not every flare is driven by autoreactive B cells)",
          calibrate=True, prior=(0.2, 1.0),
          description="share of the pre-treatment severe-flare hazard that follows autoreactive plasmablast output"),
    # --- clinical course (lupustrial.simulate.activity) ---
    Param("resolution_rate", 4.0, "1/year", ASSUMPTION + " (each trial population's own: calibration.md)",
          calibrate=True, prior=(0.5, 30.0),
          description="rate at which an active BILAG-2004 domain improves by one grade at pre-treatment "
                      "plasmablast output"),
    Param("resolution_drive_power", 1.0, "1", ASSUMPTION + " (fitted to the responder differences: "
          "calibration.md)", calibrate=True, prior=(0.05, 1.5),
          description="κ: the improvement rate scales as (relative flare hazard)^−κ; 1 is proportional"),
)

#: The virtual population's covariate distributions (used by :mod:`lupustrial.population`).
COVARIATE_PARAMS: tuple[Param, ...] = (
    Param("female_fraction", 0.9, "1", ASSUMPTION + " (SLE is ~90% female)", description="share of women"),
    Param("age_mean", 40.0, "year", ASSUMPTION, description="age, normal (clipped to 18–75)"),
    Param("age_sd", 12.0, "year", ASSUMPTION, description="age SD"),
    Param("weight_median", 70.0, "kg", ASSUMPTION, description="body weight, log-normal"),
    Param("weight_sdlog", 0.2, "1", ASSUMPTION, description="log-SD of weight"),
    Param("anti_dsdna_median", 150.0, "IU/mL", ASSUMPTION + " (refractory, dsDNA-positive SLE)", calibrate=True,
          prior=(50.0, 500.0), description="baseline anti-dsDNA IgG, log-normal"),
    Param("anti_dsdna_sdlog", 1.0, "1", ASSUMPTION, description="log-SD of anti-dsDNA"),
    Param("baff_median", 10.4, "ng/mL", "median serum BAFF in active SLE, Rezazadeh et al., Arch Rheumatol", description="baseline serum BAFF, log-normal"),
    Param("baff_sdlog", 0.4, "1", ASSUMPTION, description="log-SD of BAFF"),
    Param("cd19_median", 100.0, "cells/µL", ASSUMPTION + " (B-cell lymphopenia of active SLE)", calibrate=True,
          prior=(20.0, 400.0), description="baseline CD19+ count, log-normal"),
    Param("cd19_sdlog", 0.6, "1", ASSUMPTION, description="log-SD of CD19+", fit_prior=(0.3, 3.0)),
    Param("baff_cd19_correlation", 0.4, "1", "sign: Carter et al. 2013 (BAFF correlates with CD19+ before rituximab); size " + ASSUMPTION, description="correlation of log BAFF and log CD19+"),
)

#: The parameters that belong to no drug (docs/model.md tables them apart from the drugs').
SYSTEM_PARAMS: tuple[Param, ...] = _SCALING + _IMMUNE
# Table order, which is also the order of the random-effect draws (so a seed's patients stay the
# same): every drug's PK, the weight scaling, every drug's action, the immune system.
_PARAMS: tuple[Param, ...] = (tuple(p for d in REGISTRY for p in d.pk.params) + _SCALING
                              + tuple(p for d in REGISTRY for p in d.action.params) + _IMMUNE)

# Where a value has meaning (lower bound, upper bound, lower bound allowed); every other
# parameter is a rate, volume, half-life, level or SD and must be > 0. Checked on every copy, so
# a calibration or a caller's ``with_values`` cannot make a patient's equations divide by zero.
_DOMAINS: dict[str, tuple[float, float, bool]] = {
    **{name: domain for d in REGISTRY for name, domain in d.domains.items()},
    "auto_fraction": (0.0, 1.0, False),  # 0 would leave no autoreactive cells to scale plasmablasts by
    "llpc_share": (0.0, 1.0, True),
    "female_fraction": (0.0, 1.0, True),
    "b_transitional_share": (0.0, 1.0, False),
    "b_memory_share": (0.0, 1.0, False),
    "baff_membrane_share": (0.0, 1.0, True),
    "pb_memory_share": (0.0, 1.0, False),
    "llpc_niche_capacity": (1.0, math.inf, False),
    "pb_baff_dependence": (0.0, math.inf, True),
    "flare_pb_share": (0.0, 1.0, True),
    "baff_fold_rise": (1.0, math.inf, True),
    "baff_cd19_correlation": (-1.0, 1.0, True),
    "allometry_cl": (-math.inf, math.inf, True),
    "allometry_v": (-math.inf, math.inf, True),
}


def _domain_problem(p: Param) -> str | None:
    """Why ``p`` cannot be used, or None."""
    lo, hi, closed = _DOMAINS.get(p.name, (0.0, math.inf, False))
    if not (math.isfinite(p.value) and (lo <= p.value if closed else lo < p.value) and p.value <= hi):
        if hi == math.inf:
            where = f"{'>=' if closed else '>'} {lo:g}"
        else:
            where = f"in {'[' if closed else '('}{lo:g}, {hi:g}]"
        return f"model parameter {p.name} = {p.value:g} must be {where}"
    if not (math.isfinite(p.omega) and p.omega >= 0):
        return f"between-patient log-SD of {p.name} = {p.omega:g} must be >= 0"
    return None


@dataclass(frozen=True)
class ModelParameters:
    """The model's parameters and the virtual population's covariate distributions.

    Immutable, so a calibrated copy never alters the default. Both tables live here because
    calibration moves parameters of either kind by name (:meth:`with_values`).
    """

    params: tuple[Param, ...] = _PARAMS
    correlations: dict[tuple[str, str], float] = field(default_factory=lambda: correlations(REGISTRY))
    covariates: tuple[Param, ...] = COVARIATE_PARAMS

    def __post_init__(self) -> None:
        names = [p.name for p in self.all]
        if len(set(names)) != len(names):
            raise LupustrialError("duplicate parameter names")
        unknown = {n for pair in self.correlations for n in pair} - {p.name for p in self.params}
        if unknown:
            raise LupustrialError(f"correlation names unknown parameters: {sorted(unknown)}")
        problems = [m for m in map(_domain_problem, self.all) if m]
        problems += [f"correlation of {a} and {b} = {r:g} must be in [-1, 1]"
                     for (a, b), r in self.correlations.items() if not -1.0 <= r <= 1.0]
        shares = self["b_transitional_share"] + self["b_memory_share"]
        if not shares < 1.0:
            problems.append(f"b_transitional_share + b_memory_share = {shares:g} must be < 1 (the rest is naive)")
        if problems:
            raise LupustrialError("; ".join(problems))

    @property
    def all(self) -> tuple[Param, ...]:
        """Model and covariate parameters, in table order."""
        return self.params + self.covariates

    def __getitem__(self, name: str) -> float:
        return self.param(name).value

    def param(self, name: str) -> Param:
        for p in self.all:
            if p.name == name:
                return p
        raise LupustrialError(f"unknown model parameter {name!r}")

    @property
    def calibration_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.all if p.calibrate)

    def calibration_vector(self) -> list[float]:
        return [p.value for p in self.all if p.calibrate]

    def _replace(self, field_name: str, values: dict[str, float]) -> ModelParameters:
        for name in values:
            self.param(name)

        def move(table: tuple[Param, ...]) -> tuple[Param, ...]:
            return tuple(replace(p, **{field_name: float(values[p.name])}) if p.name in values else p for p in table)

        return replace(self, params=move(self.params), covariates=move(self.covariates))

    def with_values(self, **values: float) -> ModelParameters:
        """A copy with some typical values replaced (names must exist)."""
        return self._replace("value", values)

    def with_omegas(self, **omegas: float) -> ModelParameters:
        """A copy with some between-patient log-SDs replaced (0 removes the random effect)."""
        return self._replace("omega", omegas)

    def apply(self, settings: Mapping[str, float]) -> ModelParameters:
        """A copy with ``settings`` applied: ``"name"`` sets a typical value, ``"omega.name"`` a log-SD.

        The form calibrated parameter sets are stored and moved in (:mod:`lupustrial.design.calibrate`).
        """
        omegas = {k.removeprefix(OMEGA): v for k, v in settings.items() if k.startswith(OMEGA)}
        values = {k: v for k, v in settings.items() if not k.startswith(OMEGA)}
        return self.with_values(**values).with_omegas(**omegas)

    def setting(self, key: str) -> float:
        """The value of an :meth:`apply` key."""
        return self.param(key.removeprefix(OMEGA)).omega if key.startswith(OMEGA) else self[key]

    def prior(self, key: str) -> tuple[float, float]:
        """Prior range of an :meth:`apply` key (refused if the parameter has none)."""
        p = self.param(key.removeprefix(OMEGA))
        prior = p.omega_prior if key.startswith(OMEGA) else p.prior or p.fit_prior
        if prior is None:
            raise LupustrialError(f"parameter {key!r} has no prior range, so it cannot be calibrated")
        return prior

    def with_vector(self, vector: list[float] | tuple[float, ...]) -> ModelParameters:
        """A copy with the ``calibrate`` parameters set, in :attr:`calibration_names` order."""
        names = self.calibration_names
        if len(vector) != len(names):
            raise LupustrialError(f"calibration vector has {len(vector)} values, expected {len(names)}")
        return self.with_values(**dict(zip(names, vector)))

    @property
    def random_effects(self) -> tuple[str, ...]:
        """Names of parameters with between-patient variability, in a fixed order."""
        return tuple(p.name for p in self.params if p.omega > 0)


def markdown_table(params: tuple[Param, ...]) -> str:
    """The parameter table of ``docs/model.md``; a test keeps the page equal to the code."""
    lines = ["| parameter | value | unit | meaning | ω (log-SD) | calibrate | prior range | source |",
             "|---|---|---|---|---|---|---|---|"]
    for p in params:
        rng = p.prior or p.fit_prior
        prior = f"{rng[0]:g}–{rng[1]:g}" if rng else ""
        fitted = "yes" if p.calibrate else "yes (a spread)" if p.fit_prior else ""
        lines.append(f"| `{p.name}` | {p.value:.4g} | {p.unit} | {p.description} | {p.omega or '':} | "
                     f"{fitted} | {prior} | {p.source} |")
    return "\n".join(lines)


class ParameterFileError(LupustrialError):
    """A parameter file that is not JSON, names an unknown parameter or gives one a value it cannot have."""


def _check_settings(base: ModelParameters, settings: object, where: str) -> ModelParameters:
    """``base`` with ``settings`` (the object at ``where``: file and key) applied; a problem names the key."""
    if not isinstance(settings, dict):
        raise ParameterFileError(f"{where}: expected an object of parameter settings (name: number)")
    try:
        return base.apply(settings)
    except (LupustrialError, TypeError, ValueError):  # find the key at fault, one at a time
        for name, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterFileError(f"{where}.{name}: expected a number, got {value!r}") from None
            try:
                base.apply({name: value})
            except LupustrialError as exc:
                raise ParameterFileError(f"{where}.{name}: {exc}") from None
        raise


#: Separates a trial from a parameter in a per-trial setting, e.g. ``"bliss-iv:flare_rate"``.
TRIAL_SEP = ":"


def trial_settings(settings: Mapping[str, float], trial: str) -> dict[str, float]:
    """The shared settings and trial ``trial``'s own, as :meth:`ModelParameters.apply` keys.

    Per-trial keys are ``"trial:key"``; other trials' keys are left out.
    """
    shared = {k: v for k, v in settings.items() if TRIAL_SEP not in k}
    own = {k.split(TRIAL_SEP, 1)[1]: v for k, v in settings.items() if k.startswith(trial + TRIAL_SEP)}
    return {**shared, **own}


def read_parameter_file(path: Path | Traversable) -> dict:
    """A parameter set as ``lupustrial calibrate`` writes it, every setting checked.

    ``values`` maps :meth:`ModelParameters.apply` keys to numbers (the shared values); ``trials``
    maps each calibrated population to its own values; each of the optional ``draws`` is a set of
    settings on top (shared keys and ``trial:key`` keys). A problem raises
    :class:`ParameterFileError` in one line naming the file and the key, e.g.
    ``cal.json, key values.rtx_cl: model parameter rtx_cl = -1 must be > 0``.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ParameterFileError(f"{path}, line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ParameterFileError(f"{path}: expected a JSON object with the key values")
    base = _check_settings(ModelParameters(), data.get("values"), f"{path}, key values")
    trials = data.get("trials", {})
    if not isinstance(trials, dict):
        raise ParameterFileError(f"{path}, key trials: expected an object of populations (name: settings)")
    own = {name: _check_settings(base, values, f"{path}, key trials.{name}") for name, values in trials.items()}
    draws = data.get("draws", [])
    if not isinstance(draws, list):
        raise ParameterFileError(f"{path}, key draws: expected a list of parameter settings")
    for i, draw in enumerate(draws):
        if not isinstance(draw, dict):
            raise ParameterFileError(f"{path}, key draws[{i}]: expected an object of parameter settings")
        for name, params in (own or {"": base}).items():
            _check_settings(params, trial_settings(draw, name), f"{path}, key draws[{i}]")
    return data


def parameter_file(path: Path, population: str = "beat-lupus") -> ModelParameters:
    """The parameter set of a file written by ``lupustrial calibrate``: its shared values and, if it
    has them, ``population``'s own."""
    data = read_parameter_file(path)
    trials = data.get("trials", {})
    if trials and population not in trials:
        raise ParameterFileError(f"{path}, key trials: no population {population!r} (it has {', '.join(trials)})")
    return ModelParameters().apply(data["values"]).apply(trials.get(population, {}))


@cache
def stored_calibration() -> dict:
    """The stored joint calibration (written by ``lupustrial calibrate``): shared values, each
    trial's own values, posterior draws and provenance."""
    return read_parameter_file(resources.files("lupustrial.model") / "calibrated" / "joint.json")


def calibrated_trials() -> tuple[str, ...]:
    """The trial populations the joint calibration fitted."""
    return tuple(stored_calibration()["trials"])


@cache
def calibrated(name: str = "beat-lupus") -> ModelParameters:
    """The jointly calibrated parameter set with trial ``name``'s population (provenance in the file)."""
    stored = stored_calibration()
    if name not in stored["trials"]:
        raise LupustrialError(f"the calibration has no population {name!r}; it has {', '.join(stored['trials'])}")
    return ModelParameters().apply(stored["values"]).apply(stored["trials"][name])


def calibrated_draws(name: str = "beat-lupus") -> list[ModelParameters]:
    """Posterior draws of the calibrated parameters with trial ``name``'s population: the phase-2
    uncertainty that assurance integrates over."""
    base = calibrated(name)
    return [base.apply(trial_settings(d, name)) for d in stored_calibration()["draws"]]


def calibration_provenance() -> dict:
    """Date, seed, method, targets and fit error of the stored joint calibration."""
    return stored_calibration()["provenance"]


def parameter_provenance(name: str = "beat-lupus", params: ModelParameters | None = None) -> dict[str, object]:
    """What a report or results file says about the parameter set a run used.

    ``params is None`` means :func:`calibrated` ``(name)``; a caller's own set is reported as
    such, since no provenance travels with it.
    """
    if params is not None:
        return {"parameter_set": "supplied by the caller"}
    stored = calibration_provenance()
    keep = ("date", "method", "seed", "patients_per_arm", "distance")
    fitted = [k.split(TRIAL_SEP, 1)[-1] for k in stored["fitted"] if TRIAL_SEP not in k or k.startswith(name + TRIAL_SEP)]
    return {"parameter_set": f"joint calibration, population {name} (src/lupustrial/model/calibrated, "
                             "docs/calibration.md)",
            **{k: stored[k] for k in keep},
            "fitted": {k: calibrated(name).setting(k) for k in fitted}}


def default_parameters() -> ModelParameters:
    """What every simulation uses unless told otherwise: the joint calibration with BEAT-LUPUS's population."""
    return calibrated("beat-lupus")
