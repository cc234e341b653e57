"""The model's right-hand side, written once, elementwise.

The same source serves the compiled per-patient solver (numba inlines it, one patient's
1-D vectors, so every row is a scalar) and numpy callers over (states × patients) arrays: the
scipy reference and the steady-state check. So they cannot drift apart. Rows are module-level
integer constants because numba freezes those at compile time (a dict lookup would not
compile). Equations: ``docs/model.md``.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from lupustrial.model.parameters import ModelParameters

# State rows.
STATES = (
    "rtx_central_mg", "rtx_peripheral_mg", "bel_depot_mg", "bel_central_mg", "bel_peripheral_mg",
    "b_transitional_ul", "b_naive_ul", "b_naive_auto_ul", "b_memory_ul", "baff_total_ng_ml",
    "plasmablast_rel", "llpc_rel", "anti_dsdna_iu_ml", "cum_flare_hazard",
)
(A_R1, A_R2, A_BD, A_B1, A_B2, B_T, B_N, B_A, B_M, BAFF_T, PB, LLPC, DSDNA, CUMH) = range(len(STATES))

# Per-patient derived parameter rows (theta).
THETA = (
    "rtx_v1", "rtx_k10", "rtx_k12", "rtx_k21", "rtx_tm", "rtx_emax", "rtx_ec50", "rtx_hill",
    "bel_v1", "bel_k10", "bel_k12", "bel_k21", "bel_ka", "bel_kd",
    "baff_k", "baff_rho", "baff0", "b0", "tr_k", "tr0", "naive_k", "auto_k", "n_n0", "n_a0", "sat_n", "sat_a",
    "mem_k", "mem0", "baff_membrane", "pb_k", "pb_e", "pb_mem_share", "llpc_k", "llpc_cap", "igg_k", "llpc_share", "dsdna0",
    "dsdna_set", "flare_rate_day", "flare_pb_share",
)
(RTX_V1, RTX_K10, RTX_K12, RTX_K21, RTX_TM, RTX_EMAX, RTX_EC50, RTX_HILL,
 BEL_V1, BEL_K10, BEL_K12, BEL_K21, BEL_KA, BEL_KD,
 BAFF_K, BAFF_RHO, BAFF0, B0, TR_K, TR0, NAIVE_K, AUTO_K, N_N0, N_A0, SAT_N, SAT_A,
 MEM_K, MEM0, BAFF_MEMBRANE, PB_K, PB_E, PB_MEM_SHARE, LLPC_K, LLPC_CAP, IGG_K, LLPC_SHARE, DSDNA0,
 DSDNA_SET, FLARE_RATE_DAY, FLARE_PB_SHARE) = range(len(THETA))
T = {name: i for i, name in enumerate(THETA)}

COVARIATES = ("weight_kg", "baseline_baff_ng_ml", "baseline_cd19_cells_ul", "baseline_anti_dsdna_iu_ml")


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
    rtx_v1, bel_v1 = ind("rtx_v1") * s_v, ind("bel_v1") * s_v
    cap = params["llpc_niche_capacity"]
    rows = {
        "rtx_v1": rtx_v1,
        "rtx_k10": ind("rtx_cl") * s_cl / rtx_v1,
        "rtx_k12": params["rtx_q"] * s_cl / rtx_v1,
        "rtx_k21": params["rtx_q"] * s_cl / (params["rtx_v2"] * s_v),
        "rtx_tm": np.full(n, params["rtx_target_ratio"]),
        "rtx_emax": ind("rtx_kill_rate"),
        "rtx_ec50": ind("rtx_ec50"),
        "rtx_hill": np.full(n, params["rtx_hill"]),
        "bel_v1": bel_v1,
        "bel_k10": ind("bel_cl") * s_cl / bel_v1,
        "bel_k12": params["bel_q"] * s_cl / bel_v1,
        "bel_k21": params["bel_q"] * s_cl / (params["bel_v2"] * s_v),
        "bel_ka": np.full(n, params["bel_ka"]),
        "bel_kd": np.full(n, params["bel_kd"]),
        "baff_k": np.full(n, params["baff_k"]),
        "baff_rho": 1.0 - 1.0 / fold,
        "baff0": covariates["baseline_baff_ng_ml"],
        "b0": b0,
        "tr_k": np.full(n, 1.0 / params["b_transitional_days"]),
        "tr0": tau * b0,
        "naive_k": ind("b_naive_turnover"),
        "auto_k": np.full(n, params["b_auto_turnover"]),
        "n_n0": (1.0 - alpha) * naive0,
        "n_a0": alpha * naive0,
        "sat_n": np.full(n, params["baff_saturation_nonauto"]),
        "sat_a": np.full(n, params["baff_saturation_auto"]),
        "mem_k": np.full(n, params["b_memory_turnover"]),
        "mem0": mu * b0,
        "baff_membrane": np.full(n, params["baff_membrane_share"]),
        "pb_k": np.full(n, math.log(2) / params["pb_half_life"]),
        "pb_e": np.full(n, params["pb_baff_dependence"]),
        "pb_mem_share": np.full(n, params["pb_memory_share"]),
        "llpc_k": math.log(2) / ind("llpc_half_life"),
        # Inflow scale of the niche: cap / (cap - 1) keeps the pre-treatment occupancy a steady state.
        "llpc_cap": np.full(n, cap),
        "igg_k": np.full(n, math.log(2) / params["igg_half_life"]),
        "llpc_share": np.full(n, params["llpc_share"]),
        "dsdna0": covariates["baseline_anti_dsdna_iu_ml"],
        # Production set point during the trial: the pre-rituximab titre times the patient's drift.
        "dsdna_set": covariates["baseline_anti_dsdna_iu_ml"] * ind("dsdna_drift"),
        "flare_rate_day": ind("flare_rate") / 365.25,
        "flare_pb_share": np.full(n, params["flare_pb_share"]),
    }
    return np.stack([np.asarray(rows[name], dtype=float) for name in THETA])


def initial_state(theta: np.ndarray) -> np.ndarray:
    """Pre-treatment steady state (states × patients): no drug, every cell at baseline."""
    y = np.zeros((len(STATES), theta.shape[1]))
    y[B_T], y[B_N], y[B_A], y[B_M] = theta[TR0], theta[N_N0], theta[N_A0], theta[MEM0]
    y[BAFF_T] = theta[BAFF0]
    y[PB] = y[LLPC] = 1.0
    y[DSDNA] = theta[DSDNA0]
    return y


@register_jitable
def free_fraction(bel_conc: np.ndarray, kd: np.ndarray) -> np.ndarray:
    """Share of BAFF not bound by belimumab (rapid binding; belimumab in vast molar excess)."""
    return kd / (kd + bel_conc)


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


@register_jitable(inline="always")  # inlined, numba can vectorize it over lanes (~20% faster)
def derivatives(y: np.ndarray, th: np.ndarray, rate: np.ndarray, dy: np.ndarray) -> None:
    """Write dy/dt into ``dy``; ``rate`` holds the infusion rates (mg/day) of rituximab and belimumab.

    Rows are states/parameters, columns patients. One loop over patients with scalar code
    inside: numba turns it into vector instructions over the solver's lanes of patients,
    with no temporary arrays, and numpy callers run the same code.
    """
    for p in range(y.shape[1]):
        c_r = y[A_R1, p] / th[RTX_V1, p]
        c_b = y[A_B1, p] / th[BEL_V1, p]
        b_t, b_n, b_a, b_m = y[B_T, p], y[B_N, p], y[B_A, p], y[B_M, p]
        b_rel = (b_t + b_n + b_a + b_m) / th[B0, p]
        f = free_fraction(c_b, th[BEL_KD, p])
        baff_rel = f * y[BAFF_T, p] / th[BAFF0, p]
        occ = (max(c_r, 0.0) / th[RTX_EC50, p]) ** th[RTX_HILL, p]  # 0 without rituximab
        kill = th[RTX_EMAX, p] * occ / (1.0 + occ)
        k10r = th[RTX_K10, p] * (1.0 + th[RTX_TM, p] * b_rel)
        k12r, k21r = th[RTX_K12, p], th[RTX_K21, p]
        k12b, k21b = th[BEL_K12, p], th[BEL_K21, p]
        absorbed = th[BEL_KA, p] * y[A_BD, p]
        rho, kb = th[BAFF_RHO, p], th[BAFF_K, p]
        # Transitional cells leave the marrow at a constant rate and mature in 1/tr_k days; the
        # share surviving the checkpoint into the naive pool depends on free BAFF.
        k_tr, k_nv, k_m = th[TR_K, p], th[NAIVE_K, p], th[MEM_K, p]
        matured = b_t / th[TR0, p]
        naive_rel = (b_n + b_a) / (th[N_N0, p] + th[N_A0, p])
        pb, llpc = y[PB, p], y[LLPC, p]
        share, cap = th[LLPC_SHARE, p], th[LLPC_CAP, p]
        pb_e, psi = th[PB_E, p], th[PB_MEM_SHARE, p]
        # What B cells sense: membrane BAFF, which belimumab does not bind, and soluble BAFF.
        sensed = th[BAFF_MEMBRANE, p] + (1.0 - th[BAFF_MEMBRANE, p]) * baff_rel
        dy[A_R1, p] = rate[0, p] - (k10r + k12r) * y[A_R1, p] + k21r * y[A_R2, p]
        dy[A_R2, p] = k12r * y[A_R1, p] - k21r * y[A_R2, p]
        dy[A_BD, p] = -absorbed
        dy[A_B1, p] = rate[1, p] + absorbed - (th[BEL_K10, p] + k12b) * y[A_B1, p] + k21b * y[A_B2, p]
        dy[A_B2, p] = k12b * y[A_B1, p] - k21b * y[A_B2, p]
        dy[B_T, p] = k_tr * th[TR0, p] - (k_tr + kill) * b_t
        dy[B_N, p] = k_nv * th[N_N0, p] * matured * baff_survival(sensed, th[SAT_N, p]) - (k_nv + kill) * b_n
        k_a = th[AUTO_K, p]  # autoreactive (anergic) naive cells live days to weeks, on BAFF
        dy[B_A, p] = k_a * th[N_A0, p] * matured * baff_survival(sensed, th[SAT_A, p]) - (k_a + kill) * b_a
        # Memory cells come from activated naive cells and need no BAFF to survive.
        dy[B_M, p] = k_m * th[MEM0, p] * naive_rel - (k_m + kill) * b_m
        # Free BAFF is cleared by B-cell receptors (share rho at baseline) and linearly; bound
        # BAFF leaves with belimumab at the antibody's elimination rate.
        dy[BAFF_T, p] = kb * th[BAFF0, p] * (1.0 - (1.0 - rho + rho * b_rel) * baff_rel) \
            - th[BEL_K10, p] * (1.0 - f) * y[BAFF_T, p]
        # Autoreactive plasmablasts: made from autoreactive naive and memory cells, their survival
        # helped by BAFF (TACI/BCMA).
        source = (1.0 - psi) * b_a / th[N_A0, p] + psi * b_m / th[MEM0, p]
        dy[PB, p] = th[PB_K, p] * (source - (1.0 + pb_e) / (1.0 + pb_e * sensed) * pb)
        # Long-lived plasma cells settle from plasmablasts into a niche of limited capacity and
        # live on in it whatever today's plasmablasts do.
        dy[LLPC, p] = th[LLPC_K, p] * (cap / (cap - 1.0) * pb * (1.0 - llpc / cap) - llpc)
        dy[DSDNA, p] = th[IGG_K, p] * (th[DSDNA_SET, p] * ((1.0 - share) * pb + share * llpc) - y[DSDNA, p])
        dy[CUMH, p] = flare_hazard(pb, th[FLARE_RATE_DAY, p], th[FLARE_PB_SHARE, p])


def rhs(y: np.ndarray, th: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """dy/dt as a new array, for numpy callers (scipy's ``solve_ivp``, steady-state checks)."""
    dy = np.empty_like(y)
    derivatives(y, th, rate, dy)
    return dy


OUTPUTS = (
    "rituximab_ug_ml", "belimumab_ug_ml", "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml",
    "flare_hazard_per_year", "cumulative_flare_hazard", "autoreactive_cd19_cells_ul",
    "transitional_cells_ul", "naive_cells_ul", "memory_cells_ul",
)


def outputs(y: np.ndarray, th: np.ndarray) -> dict[str, np.ndarray]:
    """Observable quantities from states (states × ...) and theta broadcast to match."""
    c_b = y[A_B1] / th[BEL_V1]
    return {
        "rituximab_ug_ml": y[A_R1] / th[RTX_V1],
        "belimumab_ug_ml": c_b,
        "baff_ng_ml": free_fraction(c_b, th[BEL_KD]) * y[BAFF_T],
        "cd19_cells_ul": y[B_T] + y[B_N] + y[B_A] + y[B_M],
        "anti_dsdna_iu_ml": y[DSDNA],
        "flare_hazard_per_year": flare_hazard(y[PB], th[FLARE_RATE_DAY], th[FLARE_PB_SHARE]) * 365.25,
        "cumulative_flare_hazard": y[CUMH],
        "autoreactive_cd19_cells_ul": y[B_A],
        "transitional_cells_ul": y[B_T],
        "naive_cells_ul": y[B_N] + y[B_A],
        "memory_cells_ul": y[B_M],
    }
