# Reference figures for lupustrial.design.analytic, from rpact (fixed designs, kMax = 1).
# Run from the repository root:  Rscript tests/reference/design_rpact.R
# Writes tests/reference/design_rpact.json.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})

grid <- expand.grid(alpha = c(0.05, 0.025), power = c(0.8, 0.9), ratio = c(1, 2))
survival <- list()
means <- list()
for (i in seq_len(nrow(grid))) {
  g <- grid[i, ]
  design <- getDesignGroupSequential(kMax = 1, alpha = g$alpha, beta = 1 - g$power, sided = 2)
  for (hr in c(0.5, 0.7)) {
    for (method in c("Schoenfeld", "Freedman")) {
      # Exponential survival, uniform accrual over 12 months, 18 further months of follow-up.
      s <- getSampleSizeSurvival(design, typeOfComputation = method, hazardRatio = hr,
                                 lambda2 = log(2) / 20, accrualTime = c(0, 12), followUpTime = 18,
                                 allocationRatioPlanned = g$ratio)
      survival[[length(survival) + 1]] <- list(
        alpha = g$alpha, power = g$power, ratio = g$ratio, hazard_ratio = hr, method = tolower(method),
        lambda2 = log(2) / 20, accrual = 12, follow_up = 18,
        events = s$eventsFixed, n_total = s$nFixed, n_treatment = s$nFixed1, n_control = s$nFixed2)
    }
  }
  for (effect in c(-0.5, -1.2)) {
    for (sd in c(0.8, 1.3)) {
      z <- getSampleSizeMeans(design, alternative = effect, stDev = sd, normalApproximation = TRUE,
                              allocationRatioPlanned = g$ratio)
      t <- getSampleSizeMeans(design, alternative = effect, stDev = sd, normalApproximation = FALSE,
                              allocationRatioPlanned = g$ratio)
      # rpact solves its t equation to a tolerance of 1e-4; the same equation solved tightly:
      r <- g$ratio
      f <- function(n2) stats::pt(stats::qt(1 - g$alpha / 2, n2 * (1 + r) - 2), n2 * (1 + r) - 2,
                                  sqrt(n2) * sqrt(r / (1 + r)) * abs(effect) / sd) - (1 - g$power)
      tight <- uniroot(f, c(1.5, 1e5), tol = 1e-12)$root * (1 + r)
      means[[length(means) + 1]] <- list(
        alpha = g$alpha, power = g$power, ratio = g$ratio, effect = effect, sd = sd,
        n_normal = z$nFixed, n_t_rpact = t$nFixed, n_t = tight)
    }
  }
}
out <- list(rpact_version = as.character(packageVersion("rpact")), survival = survival, means = means)
write_json(out, "tests/reference/design_rpact.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
