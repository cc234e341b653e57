# Reference trajectories of the mechanistic model (docs/model.md) by R deSolve::lsoda.
#
# Run from the repository root:  Rscript tests/reference/model_desolve.R
# Writes tests/reference/model_desolve.json: the inputs (typical parameter values, covariates,
# dosing) and the states at the output times, so the Python test rebuilds exactly this case.
# The model is written here afresh from docs/model.md, including the derivation of the
# two-compartment volumes from the published half-lives. The dosing is read from the BEAT-LUPUS
# protocol (rituximab background, the belimumab arm's regimen), as the Python side doses it.
# R 4.2.2, deSolve, yaml.
suppressPackageStartupMessages({
  library(deSolve)
  library(jsonlite)
  library(yaml)
})

protocol_file <- "src/lupustrial/protocol/protocols/beat_lupus.yaml"
protocol <- read_yaml(protocol_file)
rtx <- protocol$background[[1]]
bel <- protocol$arms[[1]]$dosing[[1]]
stopifnot(rtx$drug == "rituximab", rtx$unit == "mg", bel$drug == "belimumab", bel$unit == "mg/kg")
# All dosing days of a regimen: the listed days, then every `every_days` until `until_day`.
dose_days <- function(r) {
  d <- unlist(r$days)
  if (!is.null(r$every_days)) d <- c(d, seq(tail(d, 1) + r$every_days, r$until_day, by = r$every_days))
  d
}
# One infusion length per dose: the listed ones, repeats taking the last.
dose_hours <- function(r) {
  h <- unlist(r$infusion_hours)
  n <- length(dose_days(r))
  c(rep_len(h, length(r$days)), rep(tail(h, 1), n - length(r$days)))
}

# Typical values (inputs; eta = 0 for every patient), named as in docs/model.md's tables. Most of
# the immune system's differ from the tables' (membrane share, niche capacity, turnovers, shares,
# saturations, killing rate, ...), so that a value reaching the wrong term cannot go unnoticed.
p <- list(
  rtx_cl = 0.257, rtx_v1 = 2.98, rtx_q = 0.3, rtx_t_beta = 20.2, rtx_target_ratio = 0.2,
  rtx_kill_rate = 0.55, rtx_ec50 = 0.5, rtx_marrow_share = 0.6,
  bel_cl = 0.215, bel_vss = 5.29, bel_t_alpha = 1.75, bel_t_beta = 19.4,
  bel_sc_bioavailability = 0.76, bel_ka = 0.25, bel_kd = 0.05,
  allometry_cl = 0.75, allometry_v = 1.0, weight_ref = 70,
  b_transitional_share = 0.15, b_transitional_days = 5, b_memory_share = 0.25,
  b_naive_turnover = 0.025, b_auto_turnover = 0.08, b_memory_turnover = 0.004,
  auto_fraction = 0.3, baff_saturation_nonauto = 0.4, baff_saturation_auto = 2.5,
  baff_membrane_share = 0.35,
  baff_k = 0.7, baff_fold_rise = 2.5,
  pb_half_life = 3, pb_baff_dependence = 1.5, pb_memory_share = 0.4,
  llpc_half_life = 200, llpc_share = 0.5, llpc_niche_capacity = 3.5,
  igg_half_life = 21, dsdna_drift = 1.3,  # drift not 1, so the set point's drift is exercised
  flare_rate = 1.0, flare_pb_share = 0.7
)

# Two-compartment volumes from CL, Vss and the two half-lives (belimumab label values).
a <- log(2) / p$bel_t_alpha; b <- log(2) / p$bel_t_beta
bel_v1 <- p$bel_cl / (a + b - a * b * p$bel_vss / p$bel_cl)
bel_v2 <- p$bel_vss - bel_v1
bel_q <- a * b * bel_v2 * bel_v1 / p$bel_cl
# Rituximab V2 giving the published terminal half-life: the smaller root of the
# characteristic polynomial equals log(2)/t_beta.
rtx_v2 <- uniroot(function(v2) {
  k10 <- p$rtx_cl / p$rtx_v1; k12 <- p$rtx_q / p$rtx_v1; k21 <- p$rtx_q / v2
  s <- k10 + k12 + k21
  (s - sqrt(s^2 - 4 * k10 * k21)) / 2 - log(2) / p$rtx_t_beta
}, c(0.1, 100), tol = 1e-14)$root

patients <- list(
  list(weight_kg = 55, baseline_baff_ng_ml = 8, baseline_cd19_cells_ul = 60, baseline_anti_dsdna_iu_ml = 80,
       belimumab_start = 28, sc_day = NA),
  list(weight_kg = 90, baseline_baff_ng_ml = 14, baseline_cd19_cells_ul = 180, baseline_anti_dsdna_iu_ml = 400,
       belimumab_start = 56, sc_day = 300),
  list(weight_kg = 70, baseline_baff_ng_ml = 10.4, baseline_cd19_cells_ul = 100, baseline_anti_dsdna_iu_ml = 150,
       belimumab_start = NA, sc_day = NA)
)
t_end <- 420
# lsoda's tolerances. A drug never given stays 0 in exact arithmetic, but lsoda's linear solves
# mix the BAFF row into the belimumab rows (free BAFF depends steeply on belimumab), leaving
# ~1e-27 mg there: values below atol are zero to this reference (the test's floor).
tol <- list(rtol = 1e-11, atol = 1e-13)
times <- sort(unique(c(seq(0, t_end, by = 7), 0.1, 1, 14.1, 28.02, 56.02, 300.5)))

# docs/model.md, "Equations". States: rituximab central, peripheral (mg); belimumab SC depot,
# central, peripheral (mg); transitional, non-autoreactive naive, autoreactive naive, memory
# B cells (cells/uL); total BAFF (ng/mL); plasmablasts, long-lived plasma cells (relative);
# anti-dsDNA (IU/mL); cumulative flare hazard.
model <- function(t, y, th) {
  with(as.list(c(y, th)), {
    cr <- ar1 / v1r; cb <- ab1 / v1b
    brel <- (bt + bn + ba + bm) / b0
    kill <- emax * cr / (ec50 + cr)                 # kappa
    f <- kd / (kd + cb)                             # free BAFF fraction
    beta <- f * baff / baff0                        # relative free (soluble) BAFF
    bs <- m + (1 - m) * beta                        # sensed: membrane + soluble
    r <- function(k) (1 + k) * bs / (k + bs)        # survival through the checkpoint
    n0 <- nn0 + na0
    list(c(
      rate_r - (k10r * (1 + tm * brel) + k12r) * ar1 + k21r * ar2,
      k12r * ar1 - k21r * ar2,
      -ka * abd,
      rate_b + ka * abd - (k10b + k12b) * ab1 + k21b * ab2,
      k12b * ab1 - k21b * ab2,
      kt * bt0 * kt / (kt + marrow * kill) - (kt + kill) * bt,
      kn * nn0 * (bt / bt0) * r(kn_sat) - (kn + kill) * bn,
      ka_auto * na0 * (bt / bt0) * r(ka_sat) - (ka_auto + kill) * ba,
      km * bm0 * ((bn + ba) / n0) - (km + kill) * bm,
      kb * baff0 * (1 - ((1 - rho) + rho * brel) * beta) - k10b * (1 - f) * baff,
      kpb * ((1 - psi) * ba / na0 + psi * bm / bm0 - (1 + ep) / (1 + ep * bs) * pb),
      kl * (cap / (cap - 1) * pb * (1 - llpc / cap) - llpc),
      kigg * (dset * ((1 - share) * pb + share * llpc) - dsdna),
      lam * ((1 - s_pb) + s_pb * pb)
    ))
  })
}

simulate_patient <- function(pt) {
  wt <- pt$weight_kg / p$weight_ref
  scl <- wt^p$allometry_cl; sv <- wt^p$allometry_v
  v1r <- p$rtx_v1 * sv; v1b <- bel_v1 * sv
  b0 <- pt$baseline_cd19_cells_ul
  n0 <- (1 - p$b_transitional_share - p$b_memory_share) * b0  # naive B cells before treatment
  th <- c(
    v1r = v1r, k10r = p$rtx_cl * scl / v1r, k12r = p$rtx_q * scl / v1r, k21r = p$rtx_q * scl / (rtx_v2 * sv),
    tm = p$rtx_target_ratio, emax = p$rtx_kill_rate, ec50 = p$rtx_ec50, marrow = p$rtx_marrow_share,
    v1b = v1b, k10b = p$bel_cl * scl / v1b, k12b = bel_q * scl / v1b, k21b = bel_q * scl / (bel_v2 * sv),
    ka = p$bel_ka, kd = p$bel_kd, kb = p$baff_k, rho = 1 - 1 / p$baff_fold_rise, baff0 = pt$baseline_baff_ng_ml,
    b0 = b0, bt0 = p$b_transitional_share * b0, bm0 = p$b_memory_share * b0,
    nn0 = (1 - p$auto_fraction) * n0, na0 = p$auto_fraction * n0,
    kt = 1 / p$b_transitional_days, kn = p$b_naive_turnover, ka_auto = p$b_auto_turnover, km = p$b_memory_turnover,
    kn_sat = p$baff_saturation_nonauto, ka_sat = p$baff_saturation_auto, m = p$baff_membrane_share,
    kpb = log(2) / p$pb_half_life, ep = p$pb_baff_dependence, psi = p$pb_memory_share,
    kl = log(2) / p$llpc_half_life, cap = p$llpc_niche_capacity,
    kigg = log(2) / p$igg_half_life, share = p$llpc_share, dsdna0 = pt$baseline_anti_dsdna_iu_ml,
    dset = pt$baseline_anti_dsdna_iu_ml * p$dsdna_drift,
    lam = p$flare_rate / 365.25, s_pb = p$flare_pb_share
  )
  # Infusions as (start, end, drug, rate mg/day); breakpoints where any rate changes.
  inf <- data.frame(start = dose_days(rtx), end = dose_days(rtx) + dose_hours(rtx) / 24, drug = "r",
                    rate = rtx$dose / (dose_hours(rtx) / 24))
  if (!is.na(pt$belimumab_start)) {
    d <- pt$belimumab_start + dose_days(bel)
    keep <- d <= t_end
    hours <- dose_hours(bel)[keep]
    inf <- rbind(inf, data.frame(start = d[keep], end = d[keep] + hours / 24, drug = "b",
                                 rate = bel$dose * pt$weight_kg / (hours / 24)))
  }
  bolus <- if (is.na(pt$sc_day)) numeric(0) else pt$sc_day
  bps <- sort(unique(c(0, inf$start, inf$end, bolus)))
  bps <- c(bps[bps < t_end], t_end)
  y <- c(ar1 = 0, ar2 = 0, abd = 0, ab1 = 0, ab2 = 0, bt = unname(th["bt0"]), bn = unname(th["nn0"]),
         ba = unname(th["na0"]), bm = unname(th["bm0"]), baff = unname(th["baff0"]), pb = 1, llpc = 1,
         dsdna = unname(th["dsdna0"]), cumh = 0)
  # Every state but anti-dsDNA (drift) and the cumulative hazard starts at steady state.
  steady <- !names(y) %in% c("dsdna", "cumh")
  dy0 <- model(0, y, c(th, rate_r = 0, rate_b = 0))[[1]]
  stopifnot(max(abs(dy0[steady]) / pmax(y[steady], 1)) < 1e-14)
  out <- matrix(NA_real_, nrow = length(times), ncol = length(y))
  for (s in seq_len(length(bps) - 1)) {
    lo <- bps[s]; hi <- bps[s + 1]
    if (lo %in% bolus) y["abd"] <- y["abd"] + 200 * p$bel_sc_bioavailability
    on <- inf$start <= lo & lo < inf$end
    rates <- c(rate_r = sum(inf$rate[on & inf$drug == "r"]), rate_b = sum(inf$rate[on & inf$drug == "b"]))
    out[times == lo, ] <- matrix(y, nrow = 1)[rep(1, sum(times == lo)), ]
    tt <- sort(unique(c(lo, times[times > lo & times < hi], hi)))
    sol <- lsoda(y, tt, model, c(th, rates), rtol = tol$rtol, atol = tol$atol, hmax = hi - lo)
    inside <- times > lo & times < hi
    out[inside, ] <- sol[match(times[inside], sol[, "time"]), -1]
    y <- sol[nrow(sol), -1]
  }
  out[times == t_end, ] <- y
  out
}

res <- list(
  params = p, solver = tol, derived = list(bel_v1 = bel_v1, bel_q = bel_q, bel_v2 = bel_v2, rtx_v2 = rtx_v2),
  protocol = list(file = protocol_file, rituximab_days = dose_days(rtx), rituximab_hours = dose_hours(rtx),
                  belimumab_days = dose_days(bel), belimumab_hours = dose_hours(bel)),
  patients = patients, times = times,
  states = lapply(patients, simulate_patient),
  generated_by = sprintf("tests/reference/model_desolve.R (R %s, deSolve %s)", getRversion(), packageVersion("deSolve"))
)
write_json(res, "tests/reference/model_desolve.json", digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
