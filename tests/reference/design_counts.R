# Reference figures for lupustrial.design.analytic's counts and rates (fixed designs, two-sided).
# Run from the repository root:  Rscript tests/reference/design_counts.R
# Writes tests/reference/design_counts.json.
#
# Counts: rpact 3.3.4 has no getSampleSizeCounts, so the negative binomial sample size of
# Zhu & Lakkis (2014, Stat Med 33:376) is written here from the paper: log rate ratio
# log(l1 / l0), control arm n0 and treatment arm r * n0, mean exposure t, dispersion k
# (Var = mu + k mu^2), variances of the estimated log rate ratio times n0
#   H1:          (1 / (t l0) + k) + (1 / (t l1) + k) / r
#   H0 (method 3): the same at the rate both arms share under H0, (l0 + r l1) / (1 + r)
# and n0 = (z_{1-alpha/2} sqrt(V0) + z_{power} sqrt(V1))^2 / log(l1 / l0)^2, found here by
# root-finding on the power, not by the closed form the Python uses.
# Rates: rpact's getSampleSizeRates (its getPowerRates adds the other tail's rejections, which
# the power as the sample size's inverse leaves out, as for means and survival).
suppressPackageStartupMessages({library(rpact); library(jsonlite)})

v_h1 <- function(l0, l1, k, t, r) (1 / (t * l0) + k) + (1 / (t * l1) + k) / r
v_h0 <- function(l0, l1, k, t, r) {
  shared <- (l0 + r * l1) / (1 + r)
  (1 / (t * shared) + k) * (1 + r) / r
}
power_counts <- function(n_total, l0, rr, k, t, r, alpha) {
  n0 <- n_total / (1 + r)
  l1 <- l0 * rr
  pnorm((sqrt(n0) * abs(log(rr)) - qnorm(1 - alpha / 2) * sqrt(v_h0(l0, l1, k, t, r))) / sqrt(v_h1(l0, l1, k, t, r)))
}

grid <- expand.grid(rate_control = c(0.3, 1.2), rate_ratio = c(0.5, 0.7, 1.4), dispersion = c(0, 0.4, 1.5),
                    exposure = c(0.75, 1), ratio = c(1, 2), alpha = c(0.05, 0.025), power = c(0.8, 0.9))
counts <- lapply(seq_len(nrow(grid)), function(i) {
  g <- grid[i, ]
  f <- function(n) power_counts(n, g$rate_control, g$rate_ratio, g$dispersion, g$exposure, g$ratio, g$alpha) - g$power
  n <- uniroot(f, c(2, 1e7), tol = 1e-12)$root
  c(as.list(g), n_total = n,
    power_at_100 = power_counts(100, g$rate_control, g$rate_ratio, g$dispersion, g$exposure, g$ratio, g$alpha))
})

rates <- list()
for (alpha in c(0.05, 0.025)) for (r in c(1, 2)) for (pis in list(c(0.55, 0.4), c(0.3, 0.45), c(0.7, 0.5))) {
  design <- getDesignGroupSequential(kMax = 1, alpha = alpha, beta = 0.2, sided = 2)
  s <- getSampleSizeRates(design, pi1 = pis[1], pi2 = pis[2], allocationRatioPlanned = r)
  rates[[length(rates) + 1]] <- list(alpha = alpha, power = 0.8, ratio = r, pi1 = pis[1], pi2 = pis[2],
                                     n_total = s$nFixed)
}
out <- list(rpact_version = as.character(packageVersion("rpact")), counts = counts, rates = rates)
write_json(out, "tests/reference/design_counts.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
