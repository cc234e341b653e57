"""The drugs the model knows, each declared once: PK structure, routes, parameters with sources, action.

An entry is all the model needs to give a drug: the PK equations, the state and parameter rows
and the solver's inputs are derived from :data:`REGISTRY` (``lupustrial.model.equations``), and a
protocol may dose any registered drug by any route it has. A drug acts on the immune system in
one of a closed set of ways (:data:`Action`); the immune system sees only their sums over drugs
(total CD20 killing rate, free BAFF fraction), so adding an anti-CD20 or a BAFF blocker is an
entry and its parameters. How to add one: ``docs/model.md``, "Drugs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from lupustrial.model.param import ASSUMPTION, Param

ROUTES = ("iv", "sc")  # zero-order IV infusion into the central compartment; SC bolus into a depot

#: Where a value has meaning: (lower bound, upper bound, lower bound allowed). Parameters not
#: given one are rates, volumes or concentrations and must be > 0.
Domain = tuple[float, float, bool]
SHARE: Domain = (0.0, 1.0, True)
NON_NEGATIVE: Domain = (0.0, math.inf, True)


@dataclass(frozen=True)
class SubcutaneousDepot:
    """First-order absorption (``ka``) from a depot that a fraction ``bioavailability`` of an SC dose reaches."""

    bioavailability: Param
    ka: Param


@dataclass(frozen=True)
class TwoCompartment:
    """Linear two-compartment PK (CL, V1, Q, V2 scaled allometrically by weight).

    ``target_ratio`` (τ), when declared, adds target-mediated clearance proportional to the B-cell
    count relative to baseline: k10·(1 + τ·B/B0). ``depot`` gives the drug an SC route.
    ``cl_v1_correlation`` correlates the between-patient variability of CL and V1.
    """

    cl: Param
    v1: Param
    q: Param
    v2: Param
    cl_v1_correlation: float = 0.0
    target_ratio: Param | None = None
    depot: SubcutaneousDepot | None = None

    @property
    def params(self) -> tuple[Param, ...]:
        tmdd = (self.target_ratio,) if self.target_ratio else ()
        sc = (self.depot.bioavailability, self.depot.ka) if self.depot else ()
        return (self.cl, self.v1, self.q, self.v2, *tmdd, *sc)

    @property
    def domains(self) -> dict[str, Domain]:
        return {**({self.target_ratio.name: NON_NEGATIVE} if self.target_ratio else {}),
                **({self.depot.bioavailability.name: SHARE} if self.depot else {})}


@dataclass(frozen=True)
class CD20Depletion:
    """Emax killing of CD20+ B cells: an extra death rate ``kill_rate`` at saturation, half of it at
    ``ec50``; the killing rate's between-patient variability is the depth of depletion.

    ``marrow_share`` is the share of that rate which reaches the CD20+ precursors in the marrow
    (pre-B to immature cells), so that it also thins the supply of new transitional cells; 0 spares
    the marrow, 1 kills there as in blood.
    """

    kind: ClassVar[str] = "cd20_depletion"
    kill_rate: Param
    ec50: Param
    marrow_share: Param

    @property
    def params(self) -> tuple[Param, ...]:
        return (self.kill_rate, self.ec50, self.marrow_share)

    @property
    def domains(self) -> dict[str, Domain]:
        return {self.marrow_share.name: SHARE}


@dataclass(frozen=True)
class BAFFNeutralisation:
    """Rapid-equilibrium binding of soluble BAFF (dissociation constant ``kd``); bound BAFF leaves with the drug."""

    kind: ClassVar[str] = "baff_neutralisation"
    kd: Param

    @property
    def params(self) -> tuple[Param, ...]:
        return (self.kd,)

    @property
    def domains(self) -> dict[str, Domain]:
        return {}


Action = CD20Depletion | BAFFNeutralisation


@dataclass(frozen=True)
class Drug:
    """One drug: its name (as protocols write it), PK, and action on the immune system."""

    name: str
    pk: TwoCompartment
    action: Action

    @property
    def routes(self) -> tuple[str, ...]:
        return ROUTES if self.pk.depot else ("iv",)

    @property
    def params(self) -> tuple[Param, ...]:
        return self.pk.params + self.action.params

    @property
    def domains(self) -> dict[str, Domain]:
        return {**self.pk.domains, **self.action.domains}


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
# Assumption: a positive CL–V correlation is the rule in monoclonal-antibody population PK.
_CL_V1_CORRELATION = 0.4

RITUXIMAB = Drug(
    "rituximab",
    TwoCompartment(
        cl=Param("rtx_cl", 0.257, "L/day", _NG, omega=0.3, description="linear clearance (70 kg)"),
        v1=Param("rtx_v1", 2.98, "L", _NG, omega=0.2, description="central volume (70 kg)"),
        q=Param("rtx_q", _RTX_Q, "L/day", ASSUMPTION, calibrate=True, prior=(0.1, 1.0),
                description="intercompartmental clearance (SLE/RA value not found)"),
        v2=Param("rtx_v2", _RTX_V2, "L", f"derived: gives t½β 20.2 d of {_NG} with rtx_q",
                 description="peripheral volume"),
        cl_v1_correlation=_CL_V1_CORRELATION,
        target_ratio=Param("rtx_target_ratio", 0.2, "1",
                           "structure: Lioger 2017 (CD19 count on k10), same table; value " + ASSUMPTION,
                           calibrate=True, prior=(0.0, 1.0),
                           description="CD20-mediated clearance at baseline B count, as a multiple of linear CL "
                                       "(which is measured mostly after depletion)"),
    ),
    CD20Depletion(
        kill_rate=Param("rtx_kill_rate", (35.0 - 1.0) * 0.02, "1/day", "derived: (35 − 1) × 0.02/day, the 35-fold "
                        f"rise of a 0.02/day CD19+ death rate at saturating rituximab, {_PD}; ω fitted",
                        omega=0.5, omega_prior=(0.05, 2.0),
                        description="extra death rate of CD20+ B cells at saturating rituximab (ω: depth of depletion)"),
        ec50=Param("rtx_ec50", 0.5, "µg/mL", ASSUMPTION, calibrate=True, omega=0.5, prior=(0.05, 20.0),
                   description="rituximab concentration giving half the maximal killing"),
        marrow_share=Param("rtx_marrow_share", 0.5, "1",
                           "structure: CD20 from the pre-B stage on, marrow B cells partly depleted after "
                           "rituximab (Rehnberg et al. 2009, Arthritis Res Ther 11:R123; Nakou et al. 2009, "
                           "Arthritis Res Ther, doi 10.1186/ar2798); value " + ASSUMPTION,
                           calibrate=True, prior=(0.02, 1.0),
                           description="share of rituximab's killing rate that reaches CD20+ marrow precursors"),
    ),
)

BELIMUMAB = Drug(
    "belimumab",
    TwoCompartment(
        cl=Param("bel_cl", 0.215, "L/day", f"{_L}; Struemper 2013 [S13]", omega=0.3, description="clearance (70 kg)"),
        v1=Param("bel_v1", _BEL_V1, "L", f"derived from CL, Vss 5.29 L, t½ 1.75 d and 19.4 d {_L}", omega=0.2,
                 description="central volume (70 kg)"),
        q=Param("bel_q", _BEL_Q, "L/day", f"derived, as bel_v1 {_L}", description="intercompartmental clearance"),
        v2=Param("bel_v2", _BEL_V2, "L", f"derived, as bel_v1 {_L}", description="peripheral volume"),
        cl_v1_correlation=_CL_V1_CORRELATION,
        depot=SubcutaneousDepot(
            bioavailability=Param("bel_sc_bioavailability", 0.76, "1",
                                  "Yapa & Struemper, SC belimumab population PK (abstract)",
                                  description="fraction of an SC dose absorbed"),
            ka=Param("bel_ka", 0.25, "1/day", ASSUMPTION, calibrate=True, prior=(0.1, 1.0),
                     description="SC absorption rate"),
        ),
    ),
    BAFFNeutralisation(
        kd=Param("bel_kd", 0.05, "µg/mL", ASSUMPTION, calibrate=True, prior=(0.005, 0.5),
                 description="belimumab–soluble BAFF dissociation constant (rapid equilibrium)"),
    ),
)

#: Every drug the model can give, in state order.
REGISTRY: tuple[Drug, ...] = (RITUXIMAB, BELIMUMAB)


def correlations(drugs: tuple[Drug, ...]) -> dict[tuple[str, str], float]:
    """The declared CL–V1 correlations of ``drugs``' random effects."""
    return {(d.pk.cl.name, d.pk.v1.name): d.pk.cl_v1_correlation for d in drugs if d.pk.cl_v1_correlation}


def markdown_table(drugs: tuple[Drug, ...]) -> str:
    """The drug table of ``docs/model.md``; a test keeps the page equal to the code."""
    lines = ["| drug | PK | routes | action | parameters |", "|---|---|---|---|---|"]
    for d in drugs:
        pk = "two-compartment" + (", target-mediated clearance ∝ B/B0" if d.pk.target_ratio else "") + (
            ", SC depot (bioavailability, ka)" if d.pk.depot else "")
        names = ", ".join(f"`{p.name}`" for p in d.params)
        lines.append(f"| {d.name} | {pk} | {', '.join(d.routes)} | `{d.action.kind}` | {names} |")
    return "\n".join(lines)


def find(name: str, drugs: tuple[Drug, ...] = REGISTRY) -> Drug:
    """The drug called ``name``; a ``ValueError`` naming the known drugs otherwise (pydantic reports it)."""
    for d in drugs:
        if d.name == name:
            return d
    raise ValueError(f"unknown drug {name!r}; the model knows {', '.join(sorted(d.name for d in drugs))}")
