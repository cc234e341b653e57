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
    "b_nonauto_ul", "b_auto_ul", "baff_total_ng_ml", "plasmablast_rel", "llpc_rel", "anti_dsdna_iu_ml",
    "cum_flare_hazard",
)
(A_R1, A_R2, A_BD, A_B1, A_B2, B_N, B_A, BAFF_T, PB, LLPC, DSDNA, CUMH) = range(len(STATES))

# Per-patient derived parameter rows (theta).
THETA = (
    "rtx_v1", "rtx_k10", "rtx_k12", "rtx_k21", "rtx_tm", "rtx_emax", "rtx_ec50",
    "bel_v1", "bel_k10", "bel_k12", "bel_k21", "bel_ka", "bel_kd",
    "baff_k", "baff_rho", "baff0", "b_kout", "e_n", "e_a", "b_n0", "b_a0", "b0",
    "pb_k", "llpc_k", "igg_k", "llpc_share", "dsdna0", "dsdna_set", "flare_rate_day",
)
(RTX_V1, RTX_K10, RTX_K12, RTX_K21, RTX_TM, RTX_EMAX, RTX_EC50,
 BEL_V1, BEL_K10, BEL_K12, BEL_K21, BEL_KA, BEL_KD,
 BAFF_K, BAFF_RHO, BAFF0, B_KOUT, E_N, E_A, B_N0, B_A0, B0,
 PB_K, LLPC_K, IGG_K, LLPC_SHARE, DSDNA0, DSDNA_SET, FLARE_RATE_DAY) = range(len(THETA))
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
    kout = ind("b_kout")
    # Variability on the rise above baseline, so that no patient's BAFF falls as B cells go.
    fold = 1.0 + (params["baff_fold_rise"] - 1.0) * np.exp(eta.get("baff_fold_rise", np.zeros(n)))
    b0 = covariates["baseline_cd19_cells_ul"]
    alpha = params["auto_fraction"]
    rtx_v1, bel_v1 = ind("rtx_v1") * s_v, ind("bel_v1") * s_v
    rows = {
        "rtx_v1": rtx_v1,
        "rtx_k10": ind("rtx_cl") * s_cl / rtx_v1,
        "rtx_k12": params["rtx_q"] * s_cl / rtx_v1,
        "rtx_k21": params["rtx_q"] * s_cl / (params["rtx_v2"] * s_v),
        "rtx_tm": np.full(n, params["rtx_target_ratio"]),
        "rtx_emax": (params["rtx_death_fold"] - 1.0) * kout,
        "rtx_ec50": ind("rtx_ec50"),
        "bel_v1": bel_v1,
        "bel_k10": ind("bel_cl") * s_cl / bel_v1,
        "bel_k12": params["bel_q"] * s_cl / bel_v1,
        "bel_k21": params["bel_q"] * s_cl / (params["bel_v2"] * s_v),
        "bel_ka": np.full(n, params["bel_ka"]),
        "bel_kd": np.full(n, params["bel_kd"]),
        "baff_k": np.full(n, params["baff_k"]),
        "baff_rho": 1.0 - 1.0 / fold,
        "baff0": covariates["baseline_baff_ng_ml"],
        "b_kout": kout,
        "e_n": np.full(n, params["baff_survival_nonauto"]),
        "e_a": np.full(n, params["baff_survival_auto"]),
        "b_n0": (1.0 - alpha) * b0,
        "b_a0": alpha * b0,
        "b0": b0,
        "pb_k": np.full(n, math.log(2) / params["pb_half_life"]),
        "llpc_k": math.log(2) / ind("llpc_half_life"),
        "igg_k": np.full(n, math.log(2) / params["igg_half_life"]),
        "llpc_share": np.full(n, params["llpc_share"]),
        "dsdna0": covariates["baseline_anti_dsdna_iu_ml"],
        # Production set point during the trial: the pre-rituximab titre times the patient's drift.
        "dsdna_set": covariates["baseline_anti_dsdna_iu_ml"] * ind("dsdna_drift"),
        "flare_rate_day": ind("flare_rate") / 365.25,
    }
    return np.stack([np.asarray(rows[name], dtype=float) for name in THETA])


def initial_state(theta: np.ndarray) -> np.ndarray:
    """Pre-treatment steady state (states × patients): no drug, every cell at baseline."""
    y = np.zeros((len(STATES), theta.shape[1]))
    y[B_N], y[B_A], y[BAFF_T] = theta[B_N0], theta[B_A0], theta[BAFF0]
    y[PB] = y[LLPC] = 1.0
    y[DSDNA] = theta[DSDNA0]
    return y


@register_jitable
def free_fraction(bel_conc: np.ndarray, kd: np.ndarray) -> np.ndarray:
    """Share of BAFF not bound by belimumab (rapid binding; belimumab in vast molar excess)."""
    return kd / (kd + bel_conc)


@register_jitable
def flare_hazard(pb: np.ndarray, rate_day: np.ndarray) -> np.ndarray:
    """Severe-flare hazard per day, proportional to autoreactive plasmablast output vs baseline.

    Linear, so the cumulative hazard needs no power per stage; a steeper link belongs in
    calibration of ``flare_rate`` and the B-cell parameters that drive the plasmablasts.
    """
    return rate_day * np.maximum(pb, 0.0)


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
        b_n, b_a = y[B_N, p], y[B_A, p]
        b_rel = (b_n + b_a) / th[B0, p]
        f = free_fraction(c_b, th[BEL_KD, p])
        baff_rel = f * y[BAFF_T, p] / th[BAFF0, p]
        kout = th[B_KOUT, p]
        kill = th[RTX_EMAX, p] * c_r / (th[RTX_EC50, p] + c_r)
        death_n = kout * (1.0 + th[E_N, p]) / (1.0 + th[E_N, p] * baff_rel) + kill
        death_a = kout * (1.0 + th[E_A, p]) / (1.0 + th[E_A, p] * baff_rel) + kill
        k10r = th[RTX_K10, p] * (1.0 + th[RTX_TM, p] * b_rel)
        k12r, k21r = th[RTX_K12, p], th[RTX_K21, p]
        k12b, k21b = th[BEL_K12, p], th[BEL_K21, p]
        absorbed = th[BEL_KA, p] * y[A_BD, p]
        rho, kb = th[BAFF_RHO, p], th[BAFF_K, p]
        pb, llpc = y[PB, p], y[LLPC, p]
        share = th[LLPC_SHARE, p]
        dy[A_R1, p] = rate[0, p] - (k10r + k12r) * y[A_R1, p] + k21r * y[A_R2, p]
        dy[A_R2, p] = k12r * y[A_R1, p] - k21r * y[A_R2, p]
        dy[A_BD, p] = -absorbed
        dy[A_B1, p] = rate[1, p] + absorbed - (th[BEL_K10, p] + k12b) * y[A_B1, p] + k21b * y[A_B2, p]
        dy[A_B2, p] = k12b * y[A_B1, p] - k21b * y[A_B2, p]
        dy[B_N, p] = kout * th[B_N0, p] - death_n * b_n
        dy[B_A, p] = kout * th[B_A0, p] - death_a * b_a
        # Free BAFF is cleared by B-cell receptors (share rho at baseline) and linearly; bound
        # BAFF leaves with belimumab at the antibody's elimination rate.
        dy[BAFF_T, p] = kb * th[BAFF0, p] * (1.0 - (1.0 - rho + rho * b_rel) * baff_rel) \
            - th[BEL_K10, p] * (1.0 - f) * y[BAFF_T, p]
        dy[PB, p] = th[PB_K, p] * (b_a / th[B_A0, p] - pb)
        dy[LLPC, p] = th[LLPC_K, p] * (pb - llpc)
        dy[DSDNA, p] = th[IGG_K, p] * (th[DSDNA_SET, p] * ((1.0 - share) * pb + share * llpc) - y[DSDNA, p])
        dy[CUMH, p] = flare_hazard(pb, th[FLARE_RATE_DAY, p])


def rhs(y: np.ndarray, th: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """dy/dt as a new array, for numpy callers (scipy's ``solve_ivp``, steady-state checks)."""
    dy = np.empty_like(y)
    derivatives(y, th, rate, dy)
    return dy


OUTPUTS = (
    "rituximab_ug_ml", "belimumab_ug_ml", "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml",
    "flare_hazard_per_year", "cumulative_flare_hazard", "autoreactive_cd19_cells_ul",
)


def outputs(y: np.ndarray, th: np.ndarray) -> dict[str, np.ndarray]:
    """Observable quantities from states (states × ...) and theta broadcast to match."""
    c_b = y[A_B1] / th[BEL_V1]
    return {
        "rituximab_ug_ml": y[A_R1] / th[RTX_V1],
        "belimumab_ug_ml": c_b,
        "baff_ng_ml": free_fraction(c_b, th[BEL_KD]) * y[BAFF_T],
        "cd19_cells_ul": y[B_N] + y[B_A],
        "anti_dsdna_iu_ml": y[DSDNA],
        "flare_hazard_per_year": flare_hazard(y[PB], th[FLARE_RATE_DAY]) * 365.25,
        "cumulative_flare_hazard": y[CUMH],
        "autoreactive_cd19_cells_ul": y[B_A],
    }
