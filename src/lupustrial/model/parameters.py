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
from lupustrial.model.drugs import REGISTRY, RITUXIMAB_PD_SOURCE, correlations
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
#: B-cell turnover: the unit of every CD20 depletion's maximal killing rate.
_B_TURNOVER: tuple[Param, ...] = (
    Param("b_kout", 0.02, "1/day", RITUXIMAB_PD_SOURCE, omega=0.3, description="CD19+ turnover at baseline BAFF"),
)
#: The immune system the drugs act on.
_IMMUNE: tuple[Param, ...] = (
    # --- B cells ---
    Param("auto_fraction", 0.2, "1", ASSUMPTION, calibrate=True, prior=(0.05, 0.5),
          description="autoreactive share of CD19+ B cells at baseline"),
    Param("baff_survival_nonauto", 1.0, "1", ASSUMPTION, calibrate=True, prior=(0.2, 5.0),
          description="BAFF dependence e_n of non-autoreactive B-cell survival"),
    Param("baff_survival_auto", 4.0, "1", ASSUMPTION + " (autoreactive cells depend more on BAFF)",
          calibrate=True, prior=(1.0, 20.0), description="BAFF dependence e_a of autoreactive B-cell survival"),
    # --- BAFF ---
    Param("baff_k", 0.7, "1/day", ASSUMPTION, calibrate=True, prior=(0.1, 5.0),
          description="free BAFF elimination rate at baseline"),
    Param("baff_fold_rise", 2.5, "1", ASSUMPTION + " (rise established, size not: Carter 2013; Vallerskog 2006)",
          calibrate=True, omega=0.3, prior=(1.5, 4.0),
          description="steady-state free BAFF fold-rise F at complete B-cell depletion (ω on F − 1)"),
    # --- plasmablasts, plasma cells, anti-dsDNA ---
    Param("pb_half_life", 4.0, "day", ASSUMPTION, calibrate=True, prior=(1.0, 10.0),
          description="short-lived plasmablast half-life"),
    Param("llpc_half_life", 200.0, "day", ASSUMPTION, calibrate=True, omega=0.5, prior=(60.0, 1000.0),
          description="long-lived plasma cell half-life"),
    Param("llpc_share", 0.5, "1", ASSUMPTION, calibrate=True, prior=(0.2, 0.9),
          description="share of anti-dsDNA made by long-lived plasma cells at baseline"),
    Param("igg_half_life", 21.0, "day", "Morell, Terry, Waldmann, J Clin Invest 1970;49:673 (IgG1)",
          description="anti-dsDNA IgG half-life"),
    Param("dsdna_drift", 1.0, "1", "1 by definition (the typical patient keeps the pre-rituximab set point); "
          "ω fitted to the trial's residual SD (docs/calibration.md)", omega=0.5, omega_prior=(0.05, 2.0),
          description="patient's anti-dsDNA production set point during the trial relative to the pre-rituximab "
                      "titre (natural course, regression to the mean, drivers the model lacks)"),
    # --- flare hazard ---
    Param("flare_rate", 1.0, "1/year", ASSUMPTION, calibrate=True, omega=0.5, prior=(0.2, 5.0),
          description="severe-flare hazard at pre-rituximab plasmablast output"),
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
SYSTEM_PARAMS: tuple[Param, ...] = _SCALING + _B_TURNOVER + _IMMUNE
# Table order, which is also the order of the random-effect draws (so a seed's patients stay the
# same): every drug's PK, the weight scaling, B-cell turnover, every drug's action, the immune system.
_PARAMS: tuple[Param, ...] = (tuple(p for d in REGISTRY for p in d.pk.params) + _SCALING + _B_TURNOVER
                              + tuple(p for d in REGISTRY for p in d.action.params) + _IMMUNE)

# Where a value has meaning (lower bound, upper bound, lower bound allowed); every other
# parameter is a rate, volume, half-life, level or SD and must be > 0. Checked on every copy, so
# a calibration or a caller's ``with_values`` cannot make a patient's equations divide by zero.
_DOMAINS: dict[str, tuple[float, float, bool]] = {
    **{name: domain for d in REGISTRY for name, domain in d.domains.items()},
    "auto_fraction": (0.0, 1.0, False),  # 0 would leave no autoreactive cells to scale plasmablasts by
    "llpc_share": (0.0, 1.0, True),
    "female_fraction": (0.0, 1.0, True),
    "baff_survival_nonauto": (0.0, math.inf, True),
    "baff_survival_auto": (0.0, math.inf, True),
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


def read_parameter_file(path: Path | Traversable) -> dict:
    """A parameter set as ``lupustrial calibrate`` writes it, every setting checked.

    ``values`` maps :meth:`ModelParameters.apply` keys to numbers, and so does each of the optional
    ``draws`` (on top of ``values``). A problem raises :class:`ParameterFileError` in one line naming
    the file and the key, e.g. ``cal.json, key values.rtx_cl: model parameter rtx_cl = -1 must be > 0``.
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
    draws = data.get("draws", [])
    if not isinstance(draws, list):
        raise ParameterFileError(f"{path}, key draws: expected a list of parameter settings")
    for i, draw in enumerate(draws):
        _check_settings(base, draw, f"{path}, key draws[{i}]")
    return data


def parameter_file(path: Path) -> ModelParameters:
    """The parameter set of a file written by ``lupustrial calibrate`` (its fitted ``values``)."""
    return ModelParameters().apply(read_parameter_file(path)["values"])


def _calibration_file(name: str) -> dict:
    """The stored calibration of trial ``name`` (written by ``lupustrial calibrate``)."""
    path = resources.files("lupustrial.model") / "calibrated" / f"{name.replace('-', '_')}.json"
    if not path.is_file():
        raise LupustrialError(f"no calibrated parameter set for {name!r} (expected {path})")
    return read_parameter_file(path)


@cache
def calibrated(name: str = "beat-lupus") -> ModelParameters:
    """The parameter set calibrated to trial ``name``'s published results (provenance in the file)."""
    return ModelParameters().apply(_calibration_file(name)["values"])


def calibrated_draws(name: str = "beat-lupus") -> list[ModelParameters]:
    """Posterior draws of the calibrated parameters: the phase-2 uncertainty that assurance integrates over."""
    base = calibrated(name)
    return [base.apply(d) for d in _calibration_file(name)["draws"]]


def calibration_provenance(name: str = "beat-lupus") -> dict:
    """Date, seed, method, targets and fit error of the stored calibration of ``name``."""
    return _calibration_file(name)["provenance"]


def parameter_provenance(name: str = "beat-lupus", params: ModelParameters | None = None) -> dict[str, object]:
    """What a report or results file says about the parameter set a run used.

    ``params is None`` means :func:`default_parameters` (the stored calibration of ``name``);
    a caller's own set is reported as such, since no provenance travels with it.
    """
    if params is not None:
        return {"parameter_set": "supplied by the caller"}
    stored = calibration_provenance(name)
    keep = ("date", "method", "seed", "patients_per_arm", "distance")
    return {"parameter_set": f"calibrated to {name} (src/lupustrial/model/calibrated, docs/calibration.md)",
            **{k: stored[k] for k in keep},
            "fitted": {k: calibrated(name).setting(k) for k in stored["fitted"]}}


def default_parameters() -> ModelParameters:
    """What every simulation uses unless told otherwise: the BEAT-LUPUS calibration."""
    return calibrated("beat-lupus")
