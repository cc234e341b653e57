"""The model's right-hand side, written once, elementwise.

The same source serves the compiled per-patient solver (numba inlines it, one patient's
1-D vectors, so every row is a scalar) and numpy callers over (states × patients) arrays: the
scipy reference and the steady-state check. So they cannot drift apart. Rows are module-level
integer constants because numba freezes those at compile time (a dict lookup would not
compile). Equations: ``docs/model.md``.

The drugs' rows are derived from the registry (:data:`lupustrial.model.drugs.REGISTRY`) at
import: states per drug [SC depot if it has an SC route], central, peripheral amount; theta per
drug V1, k10, k12, k21 [, τ] [, ka], then its action's rows. The immune system's rows follow.
Per-drug rows are tuples indexed by the drug's place in the registry (``ABSENT`` where a drug
lacks the quantity); loops over the drugs have a constant trip count and constant rows, so the
compiler unrolls them and drops the absent branches, and the right-hand side still vectorises
over the solver's lanes. The solver's compiled kernel is keyed by :data:`LAYOUT` as well as this
file's source, so a changed registry recompiles instead of loading a stale kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba.extending import register_jitable

from lupustrial.model.drugs import REGISTRY, Drug
from lupustrial.model.parameters import ModelParameters

ABSENT = -1  # row of a quantity a drug does not have
# Theta rows of each kind of action, after the drug's PK rows.
ACTION_ROWS = {"cd20_depletion": ("emax", "ec50", "marrow"), "baff_neutralisation": ("kd",)}

# The immune system's rows (after every drug's).
PD_STATES = (
    "b_transitional_ul", "b_naive_ul", "b_naive_auto_ul", "b_memory_ul", "baff_total_ng_ml",
    "plasmablast_rel", "llpc_rel", "anti_dsdna_iu_ml", "cum_flare_hazard",
)
PD_THETA = (
    "baff_k", "baff_rho", "baff0", "b0", "tr_k", "tr0", "naive_k", "auto_k", "n_n0", "n_a0", "sat_n", "sat_a",
    "mem_k", "mem0", "baff_membrane", "pb_k", "pb_e", "pb_mem_share", "llpc_k", "llpc_cap", "igg_k", "llpc_share",
    "dsdna0", "dsdna_set", "flare_rate_day", "flare_pb_share",
    "inv_b0", "inv_baff0", "inv_tr0", "inv_n0", "inv_n_a0", "inv_mem0", "llpc_gain", "inv_cap",
)


@dataclass(frozen=True)
class Layout:
    """Row names of a registry's model and, per drug (registry order), the row of each quantity.

    States: ``depot``, ``central``, ``peripheral`` (mg). Theta: ``v1`` (L), ``k10``, ``k12``,
    ``k21`` (1/day), ``target_ratio`` (τ), ``ka`` (1/day), ``emax`` (1/day), ``ec50`` (µg/mL),
    ``marrow`` (share of the killing in the marrow), ``kd`` (µg/mL); ``ABSENT`` where the drug has none.
    """

    states: tuple[str, ...]
    theta: tuple[str, ...]
    depot: tuple[int, ...]
    central: tuple[int, ...]
    peripheral: tuple[int, ...]
    v1: tuple[int, ...]
    k10: tuple[int, ...]
    k12: tuple[int, ...]
    k21: tuple[int, ...]
    target_ratio: tuple[int, ...]
    ka: tuple[int, ...]
    emax: tuple[int, ...]
    ec50: tuple[int, ...]
    marrow: tuple[int, ...]
    kd: tuple[int, ...]


def _state_names(drug: Drug) -> tuple[str, ...]:
    return (f"{drug.name}_depot_mg",) * bool(drug.pk.depot) + (f"{drug.name}_central_mg", f"{drug.name}_peripheral_mg")


def _theta_names(drug: Drug) -> tuple[str, ...]:
    rows = ("v1", "k10", "k12", "k21") + ("target_ratio",) * bool(drug.pk.target_ratio) \
        + ("ka",) * bool(drug.pk.depot) + ACTION_ROWS[drug.action.kind]
    return tuple(f"{drug.name}_{r}" for r in rows)


def layout(drugs: tuple[Drug, ...]) -> Layout:
    """The rows of the model of ``drugs``: every drug's PK rows first, then the immune system's."""
    states = tuple(n for d in drugs for n in _state_names(d)) + PD_STATES
    theta = tuple(n for d in drugs for n in _theta_names(d)) + PD_THETA

    def rows(names: tuple[str, ...], suffix: str) -> tuple[int, ...]:
        return tuple(names.index(f"{d.name}_{suffix}") if f"{d.name}_{suffix}" in names else ABSENT for d in drugs)

    return Layout(states, theta, rows(states, "depot_mg"), rows(states, "central_mg"), rows(states, "peripheral_mg"),
                  *(rows(theta, q) for q in ("v1", "k10", "k12", "k21", "target_ratio", "ka", "emax", "ec50", "marrow", "kd")))


N_DRUGS = len(REGISTRY)
LAYOUT = layout(REGISTRY)
STATES, THETA = LAYOUT.states, LAYOUT.theta
DEPOT, CENTRAL, PERIPHERAL = LAYOUT.depot, LAYOUT.central, LAYOUT.peripheral
V1, K10, K12, K21, TARGET_RATIO, KA = LAYOUT.v1, LAYOUT.k10, LAYOUT.k12, LAYOUT.k21, LAYOUT.target_ratio, LAYOUT.ka
EMAX, EC50, MARROW, KD = LAYOUT.emax, LAYOUT.ec50, LAYOUT.marrow, LAYOUT.kd
(B_T, B_N, B_A, B_M, BAFF_T, PB, LLPC, DSDNA, CUMH) = (STATES.index(n) for n in PD_STATES)
(BAFF_K, BAFF_RHO, BAFF0, B0, TR_K, TR0, NAIVE_K, AUTO_K, N_N0, N_A0, SAT_N, SAT_A,
 MEM_K, MEM0, BAFF_MEMBRANE, PB_K, PB_E, PB_MEM_SHARE, LLPC_K, LLPC_CAP, IGG_K, LLPC_SHARE,
 DSDNA0, DSDNA_SET, FLARE_RATE_DAY, FLARE_PB_SHARE,
 INV_B0, INV_BAFF0, INV_TR0, INV_N0, INV_N_A0, INV_MEM0, LLPC_GAIN, INV_CAP) = (THETA.index(n) for n in PD_THETA)
T = {name: i for i, name in enumerate(THETA)}

COVARIATES = ("weight_kg", "baseline_baff_ng_ml", "baseline_cd19_cells_ul", "baseline_anti_dsdna_iu_ml")


def _drug_rows(drug: Drug, ind, s_cl: np.ndarray, s_v: np.ndarray) -> dict[str, np.ndarray]:
    """Theta rows of one drug: rate constants from CL, V1, Q, V2 with weight scaling, and its action."""
    pk, name = drug.pk, drug.name
    v1 = ind(pk.v1.name) * s_v
    q = ind(pk.q.name)
    rows = {"v1": v1, "k10": ind(pk.cl.name) * s_cl / v1, "k12": q * s_cl / v1, "k21": q * s_cl / (ind(pk.v2.name) * s_v)}
    if pk.target_ratio:
        rows["target_ratio"] = ind(pk.target_ratio.name)
    if pk.depot:
        rows["ka"] = ind(pk.depot.ka.name)
    if drug.action.kind == "cd20_depletion":
        rows |= {"emax": ind(drug.action.kill_rate.name), "ec50": ind(drug.action.ec50.name),
                 "marrow": ind(drug.action.marrow_share.name)}
    else:
        rows["kd"] = ind(drug.action.kd.name)
    return {f"{name}_{k}": v for k, v in rows.items()}


def individual_parameters(
    params: ModelParameters, covariates: dict[str, np.ndarray], eta: dict[str, np.ndarray]
) -> np.ndarray:
    """Theta (len(THETA) × patients) from typical values, covariates and random effects.

    ``eta[name]`` is the patient's log-scale deviation for each random-effect parameter
    (missing names mean 0), so the same function gives typical and individual patients.
    """
    n = len(covariates["weight_kg"])

    def ind(name: str) -> np.ndarray:
        return params[name] * np.exp(eta.get(name, np.zeros(n)))

    wt = covariates["weight_kg"] / params["weight_ref"]
    s_cl, s_v = wt ** params["allometry_cl"], wt ** params["allometry_v"]
    # Variability on the rise above baseline, so that no patient's BAFF falls as B cells go.
    fold = 1.0 + (params["baff_fold_rise"] - 1.0) * np.exp(eta.get("baff_fold_rise", np.zeros(n)))
    b0 = covariates["baseline_cd19_cells_ul"]
    tau, mu, alpha = params["b_transitional_share"], params["b_memory_share"], params["auto_fraction"]
    naive0 = (1.0 - tau - mu) * b0

    def typical(name: str) -> np.ndarray:
        return np.full(n, params[name])

    rows = {k: v for d in REGISTRY for k, v in _drug_rows(d, ind, s_cl, s_v).items()} | {
        "baff_k": typical("baff_k"),
        "baff_rho": 1.0 - 1.0 / fold,
        "baff0": covariates["baseline_baff_ng_ml"],
        "b0": b0,
        "tr_k": 1.0 / typical("b_transitional_days"),
        "tr0": tau * b0,
        "naive_k": ind("b_naive_turnover"),
        "auto_k": typical("b_auto_turnover"),
        "n_n0": (1.0 - alpha) * naive0,
        "n_a0": alpha * naive0,
        "sat_n": typical("baff_saturation_nonauto"),
        "sat_a": typical("baff_saturation_auto"),
        "mem_k": typical("b_memory_turnover"),
        "mem0": mu * b0,
        "baff_membrane": typical("baff_membrane_share"),
        "pb_k": math.log(2) / typical("pb_half_life"),
        "pb_e": typical("pb_baff_dependence"),
        "pb_mem_share": typical("pb_memory_share"),
        "llpc_k": math.log(2) / ind("llpc_half_life"),
        "llpc_cap": typical("llpc_niche_capacity"),
        "igg_k": math.log(2) / typical("igg_half_life"),
        "llpc_share": typical("llpc_share"),
        "dsdna0": covariates["baseline_anti_dsdna_iu_ml"],
        # Production set point during the trial: the pre-treatment titre times the patient's drift.
        "dsdna_set": covariates["baseline_anti_dsdna_iu_ml"] * ind("dsdna_drift"),
        "flare_rate_day": ind("flare_rate") / 365.25,
        "flare_pb_share": typical("flare_pb_share"),
    }
    # Reciprocals, so the right-hand side multiplies where it would divide (a division costs the
    # solver's vector lanes several multiplications).
    cap = rows["llpc_cap"]
    rows |= {"inv_b0": 1.0 / b0, "inv_baff0": 1.0 / rows["baff0"], "inv_tr0": 1.0 / rows["tr0"],
             "inv_n0": 1.0 / naive0, "inv_n_a0": 1.0 / rows["n_a0"], "inv_mem0": 1.0 / rows["mem0"],
             "llpc_gain": cap / (cap - 1.0), "inv_cap": 1.0 / cap}
    return np.stack([np.asarray(rows[name], dtype=float) for name in THETA])


def sc_bioavailability(params: ModelParameters) -> np.ndarray:
    """Fraction of an SC dose that reaches each drug's depot (registry order; 0 for a drug without one)."""
    return np.array([params[d.pk.depot.bioavailability.name] if d.pk.depot else 0.0 for d in REGISTRY])


def initial_state(theta: np.ndarray) -> np.ndarray:
    """Pre-treatment steady state (states × patients): no drug, every cell at baseline."""
    y = np.zeros((len(STATES), theta.shape[1]))
    y[B_T], y[B_N], y[B_A], y[B_M] = theta[TR0], theta[N_N0], theta[N_A0], theta[MEM0]
    y[BAFF_T] = theta[BAFF0]
    y[PB] = y[LLPC] = 1.0
    y[DSDNA] = theta[DSDNA0]
    return y


@register_jitable
def free_fraction(conc: np.ndarray, kd: np.ndarray) -> np.ndarray:
    """Share of BAFF not bound by one drug (rapid binding; the antibody in vast molar excess)."""
    return kd / (kd + conc)


@register_jitable
def flare_hazard(pb: np.ndarray, rate_day: np.ndarray, pb_share: np.ndarray) -> np.ndarray:
    """Severe-flare hazard per day: a share driven by autoreactive plasmablast output vs baseline,
    the rest by what B-cell therapy does not touch.

    Linear, so the cumulative hazard needs no power per stage.
    """
    return rate_day * ((1.0 - pb_share) + pb_share * np.maximum(pb, 0.0))


@register_jitable
def baff_survival(baff_rel: float, saturation: float) -> float:
    """Survival through the transitional checkpoint relative to baseline, at relative free BAFF.

    Michaelis–Menten in free BAFF, 1 at baseline, 0 without BAFF (no BAFF-R signal, no mature
    B cell), at most ``1 + saturation`` with BAFF in excess: a large ``saturation`` means a cell
    far from saturated, whose survival follows BAFF closely (autoreactive cells).
    """
    return (1.0 + saturation) * baff_rel / (saturation + baff_rel)


@register_jitable  # not inlined by numba (the lanes then did not vectorise); LLVM inlines it
def drug_derivatives(
    y: np.ndarray, th: np.ndarray, rate: np.ndarray, dy: np.ndarray, p: int, b_rel: float
) -> tuple[float, float, float, float]:
    """Write every drug's dA/dt of patient ``p``; return the four sums the immune system sees.

    ``b_rel`` is the B-cell count relative to baseline (target-mediated clearance). Returns
    ``kill`` (1/day), the total CD20 killing rate Σ Emax·C/(EC50 + C); ``marrow_kill`` (1/day), the
    part of it that reaches CD20+ marrow precursors, Σ m·Emax·C/(EC50 + C); ``f`` (1), the fraction
    of BAFF bound by no drug, Π KD/(KD + C) (independent binding); ``bound_k`` (1/day), the rate
    at which drug-bound BAFF leaves with the drugs, Σ k10·(1 − KD/(KD + C)) at each binder's
    linear elimination rate. The sums start at their empty values, so a single drug gives
    exactly its own terms.
    """
    kill, marrow_kill, f, bound_k = 0.0, 0.0, 1.0, 0.0
    for d in range(N_DRUGS):  # constant trip count and rows: unrolled, absent branches dropped
        a1, a2 = y[CENTRAL[d], p], y[PERIPHERAL[d], p]
        conc = a1 / th[V1[d], p]
        k10 = th[K10[d], p]
        k10_all = k10 * (1.0 + th[TARGET_RATIO[d], p] * b_rel) if TARGET_RATIO[d] != ABSENT else k10
        k12, k21 = th[K12[d], p], th[K21[d], p]
        inflow = rate[d, p]
        if DEPOT[d] != ABSENT:
            absorbed = th[KA[d], p] * y[DEPOT[d], p]
            dy[DEPOT[d], p] = -absorbed
            inflow = inflow + absorbed
        dy[CENTRAL[d], p] = inflow - (k10_all + k12) * a1 + k21 * a2
        dy[PERIPHERAL[d], p] = k12 * a1 - k21 * a2
        if EMAX[d] != ABSENT:
            kill_d = th[EMAX[d], p] * conc / (th[EC50[d], p] + conc)
            kill += kill_d
            marrow_kill += th[MARROW[d], p] * kill_d
        if KD[d] != ABSENT:
            f_d = free_fraction(conc, th[KD[d], p])
            f *= f_d
            bound_k += k10 * (1.0 - f_d)
    return kill, marrow_kill, f, bound_k


@register_jitable(inline="always")  # inlined, numba can vectorize it over lanes (~20% faster)
def derivatives(y: np.ndarray, th: np.ndarray, rate: np.ndarray, dy: np.ndarray) -> None:
    """Write dy/dt into ``dy``; ``rate`` (drugs × patients) holds each drug's infusion rate, mg/day.

    Rows are states/parameters, columns patients. One loop over patients with scalar code
    inside: numba turns it into vector instructions over the solver's lanes of patients,
    with no temporary arrays, and numpy callers run the same code. The drugs' PK comes first
    (:func:`drug_derivatives`); the immune system reads the drugs through its four sums only
    and gives them the B-cell ratio.
    """
    for p in range(y.shape[1]):
        b_t, b_n, b_a, b_m = y[B_T, p], y[B_N, p], y[B_A, p], y[B_M, p]
        b_rel = (b_t + b_n + b_a + b_m) * th[INV_B0, p]
        kill, marrow_kill, f, bound_k = drug_derivatives(y, th, rate, dy, p, b_rel)
        baff_rel = f * y[BAFF_T, p] * th[INV_BAFF0, p]
        # What B cells sense: membrane BAFF, which a soluble-BAFF blocker does not bind, and soluble BAFF.
        sensed = th[BAFF_MEMBRANE, p] + (1.0 - th[BAFF_MEMBRANE, p]) * baff_rel
        rho, kb = th[BAFF_RHO, p], th[BAFF_K, p]
        # Transitional cells leave the marrow at a constant rate, less those of their CD20+ marrow
        # precursors (a stage as long as theirs) that anti-CD20 kills there, and mature in 1/tr_k
        # days; the share surviving the checkpoint into the naive pool depends on the BAFF they sense.
        k_tr, k_nv, k_a, k_m = th[TR_K, p], th[NAIVE_K, p], th[AUTO_K, p], th[MEM_K, p]
        matured = b_t * th[INV_TR0, p]
        naive_rel = (b_n + b_a) * th[INV_N0, p]
        pb, llpc = y[PB, p], y[LLPC, p]
        share = th[LLPC_SHARE, p]
        pb_e, psi = th[PB_E, p], th[PB_MEM_SHARE, p]
        dy[B_T, p] = k_tr * th[TR0, p] * k_tr / (k_tr + marrow_kill) - (k_tr + kill) * b_t
        dy[B_N, p] = k_nv * th[N_N0, p] * matured * baff_survival(sensed, th[SAT_N, p]) - (k_nv + kill) * b_n
        # Autoreactive (anergic) naive cells live days to weeks, on BAFF.
        dy[B_A, p] = k_a * th[N_A0, p] * matured * baff_survival(sensed, th[SAT_A, p]) - (k_a + kill) * b_a
        # Memory cells come from activated naive cells and need no BAFF to survive.
        dy[B_M, p] = k_m * th[MEM0, p] * naive_rel - (k_m + kill) * b_m
        # Free BAFF is cleared by B-cell receptors (share rho at baseline) and linearly; bound
        # BAFF leaves with the drugs that bind it, at their elimination rates.
        dy[BAFF_T, p] = kb * th[BAFF0, p] * (1.0 - (1.0 - rho + rho * b_rel) * baff_rel) - bound_k * y[BAFF_T, p]
        # Autoreactive plasmablasts: made from autoreactive naive and memory cells, their survival
        # helped by BAFF (TACI/BCMA).
        source = (1.0 - psi) * b_a * th[INV_N_A0, p] + psi * b_m * th[INV_MEM0, p]
        dy[PB, p] = th[PB_K, p] * (source - (1.0 + pb_e) / (1.0 + pb_e * sensed) * pb)
        # Long-lived plasma cells settle from plasmablasts into a niche of limited capacity and
        # live on in it whatever today's plasmablasts do.
        dy[LLPC, p] = th[LLPC_K, p] * (th[LLPC_GAIN, p] * pb * (1.0 - llpc * th[INV_CAP, p]) - llpc)
        dy[DSDNA, p] = th[IGG_K, p] * (th[DSDNA_SET, p] * ((1.0 - share) * pb + share * llpc) - y[DSDNA, p])
        dy[CUMH, p] = flare_hazard(pb, th[FLARE_RATE_DAY, p], th[FLARE_PB_SHARE, p])


def rhs(y: np.ndarray, th: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """dy/dt as a new array, for numpy callers (scipy's ``solve_ivp``, steady-state checks)."""
    dy = np.empty_like(y)
    derivatives(y, th, rate, dy)
    return dy


OUTPUTS = tuple(f"{d.name}_ug_ml" for d in REGISTRY) + (
    "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml", "flare_hazard_per_year", "cumulative_flare_hazard",
    "autoreactive_cd19_cells_ul", "transitional_cells_ul", "naive_cells_ul", "memory_cells_ul",
)


def outputs(y: np.ndarray, th: np.ndarray) -> dict[str, np.ndarray]:
    """Observable quantities from states (states × ...) and theta broadcast to match.

    Drug concentrations are µg/mL (mg/L); ``baff_ng_ml`` is free BAFF, bound by no drug.
    """
    conc = {f"{drug.name}_ug_ml": y[CENTRAL[d]] / th[V1[d]] for d, drug in enumerate(REGISTRY)}
    free = 1.0
    for d, drug in enumerate(REGISTRY):
        if KD[d] != ABSENT:
            free = free * free_fraction(conc[f"{drug.name}_ug_ml"], th[KD[d]])
    return conc | {
        "baff_ng_ml": free * y[BAFF_T],
        "cd19_cells_ul": y[B_T] + y[B_N] + y[B_A] + y[B_M],
        "anti_dsdna_iu_ml": y[DSDNA],
        "flare_hazard_per_year": flare_hazard(y[PB], th[FLARE_RATE_DAY], th[FLARE_PB_SHARE]) * 365.25,
        "cumulative_flare_hazard": y[CUMH],
        "autoreactive_cd19_cells_ul": y[B_A],
        "transitional_cells_ul": y[B_T],
        "naive_cells_ul": y[B_N] + y[B_A],
        "memory_cells_ul": y[B_M],
    }
