"""Every model parameter in one typed structure: value, unit, source, calibration flag, IIV.

Keeping value, provenance and variability side by side is what lets ``docs/model.md`` be
checked against the code and lets calibration (issue 5) move exactly the parameters that
are flagged ``calibrate`` through :meth:`ModelParameters.with_vector`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from lupustrial.errors import LupustrialError

ASSUMPTION = "assumption — to be calibrated"


@dataclass(frozen=True)
class Param:
    """One typical value; ``omega`` is the SD of its log-normal between-patient variability."""

    name: str
    value: float
    unit: str
    source: str
    calibrate: bool = False
    omega: float = 0.0
    prior: tuple[float, float] | None = None
    description: str = ""


def _two_cpt_from_half_lives(cl: float, vss: float, t_alpha: float, t_beta: float) -> tuple[float, float, float]:
    """(V1, Q, V2) of a two-compartment model with the given CL, Vss and half-lives.

    The belimumab label reports CL, Vss and both half-lives but not V1/Q/V2; these four
    fix the three volumes/flows exactly (sum and product of the disposition rates).
    """
    a, b = math.log(2) / t_alpha, math.log(2) / t_beta
    v1 = cl / (a + b - a * b * vss / cl)
    v2 = vss - v1
    q = a * b * v2 * v1 / cl
    return v1, q, v2


def _v2_from_terminal(cl: float, v1: float, q: float, t_beta: float) -> float:
    """V2 that gives the published terminal half-life for given CL, V1 and Q."""
    beta = math.log(2) / t_beta
    k10, k12 = cl / v1, q / v1
    k21 = beta * (k10 + k12 - beta) / (k10 - beta)
    return q / k21


_BEL_V1, _BEL_Q, _BEL_V2 = _two_cpt_from_half_lives(0.215, 5.29, 1.75, 19.4)
_RTX_Q = 0.3
_RTX_V2 = _v2_from_terminal(0.257, 2.98, _RTX_Q, 20.2)

_L = "BENLYSTA US label §12.3 [L]"
_NG = "Ng et al. 2006 (RA), via Br J Clin Pharmacol 2019;85:2002 Table 3"
_PD = "paediatric rituximab PD model, Br J Clin Pharmacol 2019 (PMC6624401)"

_PARAMS: tuple[Param, ...] = (
    # --- rituximab PK ---
    Param("rtx_cl", 0.257, "L/day", _NG, omega=0.3, description="linear clearance (70 kg)"),
    Param("rtx_v1", 2.98, "L", _NG, omega=0.2, description="central volume (70 kg)"),
    Param("rtx_q", _RTX_Q, "L/day", ASSUMPTION, calibrate=True, prior=(0.1, 1.0),
          description="intercompartmental clearance (SLE/RA value not found)"),
    Param("rtx_v2", _RTX_V2, "L", f"derived: gives t½β 20.2 d of {_NG} with rtx_q", description="peripheral volume"),
    Param("rtx_target_ratio", 0.2, "1", "structure: Lioger 2017 (CD19 count on k10), same table; value " + ASSUMPTION,
          calibrate=True, prior=(0.0, 1.0),
          description="CD20-mediated clearance at baseline B count, as a multiple of linear CL (which is measured mostly after depletion)"),
    # --- belimumab PK ---
    Param("bel_cl", 0.215, "L/day", f"{_L}; Struemper 2013 [S13]", omega=0.3, description="clearance (70 kg)"),
    Param("bel_v1", _BEL_V1, "L", f"derived from CL, Vss 5.29 L, t½ 1.75 d and 19.4 d {_L}", omega=0.2,
          description="central volume (70 kg)"),
    Param("bel_q", _BEL_Q, "L/day", f"derived, as bel_v1 {_L}", description="intercompartmental clearance"),
    Param("bel_v2", _BEL_V2, "L", f"derived, as bel_v1 {_L}", description="peripheral volume"),
    Param("bel_sc_bioavailability", 0.76, "1", "Yapa & Struemper, SC belimumab population PK (abstract)",
          description="fraction of an SC dose absorbed"),
    Param("bel_ka", 0.25, "1/day", ASSUMPTION, calibrate=True, prior=(0.1, 1.0), description="SC absorption rate"),
    Param("bel_kd", 0.05, "µg/mL", ASSUMPTION, calibrate=True, prior=(0.005, 0.5),
          description="belimumab–soluble BAFF dissociation constant (rapid equilibrium)"),
    Param("allometry_cl", 0.75, "1", ASSUMPTION + " (standard allometric exponent; not identifiable from BEAT-LUPUS)",
          prior=(0.5, 1.0), description="weight exponent on CL, Q"),
    Param("allometry_v", 1.0, "1", ASSUMPTION + " (standard allometric exponent; not identifiable from BEAT-LUPUS)",
          prior=(0.5, 1.0), description="weight exponent on V1, V2"),
    Param("weight_ref", 70.0, "kg", ASSUMPTION + " (weight the published CL and V refer to)", prior=(60.0, 80.0),
          description="reference weight"),
    # --- B cells ---
    Param("b_kout", 0.02, "1/day", _PD, omega=0.3, description="CD19+ turnover at baseline BAFF"),
    Param("rtx_death_fold", 35.0, "1", _PD, calibrate=True, prior=(10.0, 100.0),
          description="fold increase of B-cell death rate at saturating rituximab"),
    Param("rtx_ec50", 0.5, "µg/mL", ASSUMPTION, calibrate=True, omega=0.5, prior=(0.05, 20.0),
          description="rituximab concentration giving half the maximal killing"),
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
          description="steady-state free BAFF fold-rise at complete B-cell depletion"),
    # --- plasmablasts, plasma cells, anti-dsDNA ---
    Param("pb_half_life", 4.0, "day", ASSUMPTION, calibrate=True, prior=(1.0, 10.0),
          description="short-lived plasmablast half-life"),
    Param("llpc_half_life", 200.0, "day", ASSUMPTION, calibrate=True, omega=0.5, prior=(60.0, 1000.0),
          description="long-lived plasma cell half-life"),
    Param("llpc_share", 0.5, "1", ASSUMPTION, calibrate=True, prior=(0.2, 0.9),
          description="share of anti-dsDNA made by long-lived plasma cells at baseline"),
    Param("igg_half_life", 21.0, "day", "Morell, Terry, Waldmann, J Clin Invest 1970;49:673 (IgG1)",
          description="anti-dsDNA IgG half-life"),
    # --- flare hazard ---
    Param("flare_rate", 1.0, "1/year", ASSUMPTION, calibrate=True, omega=0.5, prior=(0.2, 5.0),
          description="severe-flare hazard at pre-rituximab plasmablast output"),
)

# Correlations between the log-normal random effects (assumptions: positive CL–V
# correlation is the rule in monoclonal-antibody population PK).
_CORRELATIONS: dict[tuple[str, str], float] = {
    ("rtx_cl", "rtx_v1"): 0.4,
    ("bel_cl", "bel_v1"): 0.4,
}


@dataclass(frozen=True)
class ModelParameters:
    """The model's parameters; immutable so a calibrated copy never alters the default."""

    params: tuple[Param, ...] = _PARAMS
    correlations: dict[tuple[str, str], float] = field(default_factory=lambda: dict(_CORRELATIONS))

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise LupustrialError("duplicate parameter names")
        unknown = {n for pair in self.correlations for n in pair} - set(names)
        if unknown:
            raise LupustrialError(f"correlation names unknown parameters: {sorted(unknown)}")

    def __getitem__(self, name: str) -> float:
        return self.param(name).value

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise LupustrialError(f"unknown model parameter {name!r}")

    @property
    def calibration_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.calibrate)

    def calibration_vector(self) -> list[float]:
        return [p.value for p in self.params if p.calibrate]

    def with_values(self, **values: float) -> ModelParameters:
        """A copy with some typical values replaced (names must exist)."""
        for name in values:
            self.param(name)
        return replace(self, params=tuple(replace(p, value=float(values.get(p.name, p.value))) for p in self.params))

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
        prior = f"{p.prior[0]:g}–{p.prior[1]:g}" if p.prior else ""
        lines.append(f"| `{p.name}` | {p.value:.4g} | {p.unit} | {p.description} | {p.omega or '':} | "
                     f"{'yes' if p.calibrate else ''} | {prior} | {p.source} |")
    return "\n".join(lines)
