# Reference figures for lupustrial.design.sequential, from rpact: group-sequential boundaries
# (getDesignGroupSequential), their characteristics (getDesignCharacteristics), sample sizes
# (getSampleSizeSurvival, getSampleSizeMeans, getSampleSizeRates), power (getPowerSurvival) and
# rpact's simulation of one event-driven design (getSimulationSurvival).
# Run from the repository root:  Rscript tests/reference/design_gsd.R
# Writes tests/reference/design_gsd.json.
suppressPackageStartupMessages({library(rpact); library(jsonlite)})

none <- function(x) if (is.null(x) || length(x) == 0) NA else x
designs <- list(
  list(type = "OF", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "OF", rates = c(0.2, 0.5, 0.75, 1), sided = 2, alpha = 0.05, beta = 0.1),
  list(type = "P", rates = c(0.5, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "P", rates = c(0.3, 0.6, 1), sided = 2, alpha = 0.05, beta = 0.2),
  list(type = "HP", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "HP", rates = c(0.25, 0.5, 0.75, 1), sided = 2, alpha = 0.05, beta = 0.1),
  list(type = "asOF", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "asOF", rates = c(0.2, 0.5, 0.75, 1), sided = 2, alpha = 0.05, beta = 0.2),
  list(type = "asP", rates = c(0.4, 0.7, 1), sided = 1, alpha = 0.025, beta = 0.1),
  list(type = "asP", rates = c(0.5, 1), sided = 2, alpha = 0.05, beta = 0.2),
  list(type = "asKD", gammaA = 2, rates = c(0.3, 0.6, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "asKD", gammaA = 1, rates = c(0.25, 0.5, 0.75, 1), sided = 2, alpha = 0.05, beta = 0.2),
  list(type = "asHSD", gammaA = -4, rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2),
  list(type = "asHSD", gammaA = 1, rates = c(0.5, 0.8, 1), sided = 2, alpha = 0.05, beta = 0.1),
  # futility: given bounds, binding or not
  list(type = "OF", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2, futility = c(0, 0.5), binding = TRUE),
  list(type = "P", rates = c(0.3, 0.6, 1), sided = 1, alpha = 0.025, beta = 0.2, futility = c(-0.5, 0.3), binding = FALSE),
  list(type = "HP", rates = c(0.3, 0.6, 1), sided = 1, alpha = 0.025, beta = 0.1, futility = c(0, 0.5), binding = TRUE),
  list(type = "asOF", rates = c(0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.2, futility = c(0, 1), binding = TRUE),
  list(type = "asKD", gammaA = 3, rates = c(0.4, 1), sided = 1, alpha = 0.025, beta = 0.2, futility = 0.2, binding = FALSE),
  # futility by beta spending, binding or not
  list(type = "asOF", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2, bs = "bsOF", binding = FALSE),
  list(type = "asOF", rates = c(1/3, 2/3, 1), sided = 1, alpha = 0.025, beta = 0.2, bs = "bsOF", binding = TRUE),
  list(type = "asP", rates = c(0.25, 0.5, 0.75, 1), sided = 1, alpha = 0.025, beta = 0.1, bs = "bsP", binding = FALSE),
  list(type = "asKD", gammaA = 2, rates = c(0.3, 0.6, 1), sided = 1, alpha = 0.025, beta = 0.2, bs = "bsKD", gammaB = 2,
       binding = TRUE),
  list(type = "asHSD", gammaA = -4, rates = c(0.5, 1), sided = 1, alpha = 0.025, beta = 0.15, bs = "bsHSD", gammaB = -2,
       binding = FALSE)
)

out <- list()
for (g in designs) {
  args <- list(informationRates = g$rates, alpha = g$alpha, beta = g$beta, sided = g$sided, typeOfDesign = g$type)
  if (!is.null(g$gammaA)) args$gammaA <- g$gammaA
  if (!is.null(g$futility)) args$futilityBounds <- g$futility
  if (!is.null(g$binding)) args$bindingFutility <- g$binding
  if (!is.null(g$bs)) args$typeBetaSpending <- g$bs
  if (!is.null(g$gammaB)) args$gammaB <- g$gammaB
  d <- do.call(getDesignGroupSequential, args)
  ch <- getDesignCharacteristics(d)
  r <- 1 + (g$alpha == 0.05)  # allocation ratio 2:1 for the two-sided designs, 1:1 otherwise
  # Schoenfeld events, exponential times, uniform accrual over 12 months, 18 more of follow-up, dropout
  # 5% per year (as a hazard: rpact's rate over dropoutTime).
  drop <- 1 - exp(-0.05)
  surv <- suppressWarnings(getSampleSizeSurvival(d, hazardRatio = 0.6, lambda2 = log(2) / 15, accrualTime = c(0, 12),
                                                 followUpTime = 18, allocationRatioPlanned = r, dropoutRate1 = drop,
                                                 dropoutRate2 = drop, dropoutTime = 12))
  pow <- suppressWarnings(getPowerSurvival(d, hazardRatio = 0.65, lambda2 = log(2) / 15, maxNumberOfEvents = 150,
                                           maxNumberOfSubjects = 300, accrualTime = c(0, 15), directionUpper = FALSE,
                                           allocationRatioPlanned = r, dropoutRate1 = drop, dropoutRate2 = drop,
                                           dropoutTime = 12))
  mz <- getSampleSizeMeans(d, alternative = 0.4, stDev = 1.1, normalApproximation = TRUE, allocationRatioPlanned = r)
  mt <- getSampleSizeMeans(d, alternative = 0.4, stDev = 1.1, normalApproximation = FALSE, allocationRatioPlanned = r)
  # rpact solves the fixed t design to 1e-4 per arm; the same equation solved tightly, times the inflation:
  za <- g$alpha / g$sided
  f <- function(n2) stats::pt(stats::qt(1 - za, n2 * (1 + r) - 2), n2 * (1 + r) - 2,
                              sqrt(n2) * sqrt(r / (1 + r)) * 0.4 / 1.1) - g$beta
  nt <- uniroot(f, c(1.5, 1e5), tol = 1e-12)$root * (1 + r)
  rt <- getSampleSizeRates(d, pi1 = 0.45, pi2 = 0.3, allocationRatioPlanned = r)
  out[[length(out) + 1]] <- list(
    type_of_design = g$type, information_rates = g$rates, sided = g$sided, alpha = g$alpha, beta = g$beta,
    gamma_a = none(g$gammaA), futility_bounds_given = if (is.null(g$futility)) NA else as.list(g$futility),
    binding_futility = if (is.null(g$binding)) FALSE else g$binding, type_beta_spending = if (is.null(g$bs)) "none" else g$bs,
    gamma_b = none(g$gammaB), allocation_ratio = r,
    critical_values = d$criticalValues, stage_levels = d$stageLevels, alpha_spent = d$alphaSpent,
    futility_bounds = as.list(d$futilityBounds), beta_spent = as.list(none(d$betaSpent)), power = as.list(none(d$power)),
    characteristics = list(n_fixed = ch$nFixed, shift = ch$shift, inflation_factor = ch$inflationFactor,
                           power = ch$power, rejection_probabilities = ch$rejectionProbabilities,
                           futility_probabilities = as.list(ch$futilityProbabilities),
                           average_sample_number1 = ch$averageSampleNumber1,
                           average_sample_number01 = ch$averageSampleNumber01,
                           average_sample_number0 = ch$averageSampleNumber0),
    survival = list(hazard_ratio = 0.6, lambda2 = log(2) / 15, accrual_time = 12, follow_up_time = 18,
                    dropout_hazard = 0.05 / 12, events_fixed = surv$eventsFixed,
                    max_number_of_events = surv$maxNumberOfEvents, max_number_of_subjects = surv$maxNumberOfSubjects,
                    events_per_stage = as.vector(surv$eventsPerStage), analysis_time = as.vector(surv$analysisTime),
                    number_of_subjects = as.vector(surv$numberOfSubjects),
                    expected_events_h0 = surv$expectedEventsH0, expected_events_h01 = surv$expectedEventsH01,
                    expected_events_h1 = surv$expectedEventsH1, expected_number_of_subjects_h1 = surv$expectedNumberOfSubjectsH1,
                    study_duration = surv$studyDuration),
    power_survival = list(hazard_ratio = 0.65, lambda2 = log(2) / 15, max_number_of_events = 150,
                          max_number_of_subjects = 300, accrual_time = 15, dropout_hazard = 0.05 / 12,
                          overall_reject = pow$overallReject, reject_per_stage = as.vector(pow$rejectPerStage),
                          futility_per_stage = as.list(as.vector(pow$futilityPerStage)),
                          expected_number_of_events = pow$expectedNumberOfEvents,
                          expected_number_of_subjects = pow$expectedNumberOfSubjects,
                          analysis_time = as.vector(pow$analysisTime), study_duration = pow$studyDuration),
    means = list(alternative = 0.4, st_dev = 1.1, max_normal = mz$maxNumberOfSubjects,
                 number_of_subjects_normal = as.vector(mz$numberOfSubjects),
                 expected_h0_normal = mz$expectedNumberOfSubjectsH0, expected_h01_normal = mz$expectedNumberOfSubjectsH01,
                 expected_h1_normal = mz$expectedNumberOfSubjectsH1, max_t_rpact = mt$maxNumberOfSubjects,
                 max_t = nt * ch$inflationFactor),
    rates = list(pi1 = 0.45, pi2 = 0.3, max = rt$maxNumberOfSubjects, number_of_subjects = as.vector(rt$numberOfSubjects),
                 expected_h0 = rt$expectedNumberOfSubjectsH0, expected_h01 = rt$expectedNumberOfSubjectsH01,
                 expected_h1 = rt$expectedNumberOfSubjectsH1)
  )
}
# rpact's own simulation (log-rank test; one-sided only in rpact) of two event-driven designs: at a
# strong effect, and four looks with 2:1 allocation, where the Schoenfeld figures above are only
# approximate; lupustrial's looks on exponential trials must agree with it within Monte Carlo error.
# Times in months.
iterations <- 20000
sims <- list(
  list(rates = c(0.4, 0.7, 1), alpha = 0.025, beta = 0.1, sided = 1, type = "asOF", bs = "bsOF", hr = 0.3,
       lambda2 = 0.4 / 12, events = 40, n = 200, accrual = 25, ratio = 1),
  list(rates = c(0.2, 0.5, 0.8, 1), alpha = 0.025, beta = 0.1, sided = 1, type = "OF", bs = "none", hr = 0.65,
       lambda2 = log(2) / 15, events = 150, n = 300, accrual = 15, ratio = 2)
)
simulation <- list()
for (g in sims) {
  d <- getDesignGroupSequential(informationRates = g$rates, alpha = g$alpha, beta = g$beta, sided = g$sided,
                                typeOfDesign = g$type, typeBetaSpending = g$bs)
  sim <- getSimulationSurvival(d, hazardRatio = g$hr, lambda2 = g$lambda2, plannedEvents = g$events * g$rates,
                               maxNumberOfSubjects = g$n, accrualTime = c(0, g$accrual), dropoutRate1 = drop,
                               dropoutRate2 = drop, dropoutTime = 12, directionUpper = FALSE,
                               allocation1 = g$ratio, allocation2 = 1, maxNumberOfIterations = iterations, seed = 2021)
  simulation[[length(simulation) + 1]] <- list(
    information_rates = g$rates, alpha = g$alpha, beta = g$beta, sided = g$sided, type_of_design = g$type,
    type_beta_spending = g$bs, hazard_ratio = g$hr, lambda2 = g$lambda2, max_number_of_events = g$events,
    max_number_of_subjects = g$n, accrual_time = g$accrual, allocation_ratio = g$ratio, dropout_hazard = 0.05 / 12,
    iterations = iterations, overall_reject = sim$overallReject, reject_per_stage = as.vector(sim$rejectPerStage),
    futility_per_stage = as.vector(sim$futilityPerStage), expected_number_of_events = sim$expectedNumberOfEvents,
    expected_number_of_subjects = sim$expectedNumberOfSubjects, study_duration = sim$studyDuration)
}
res <- list(rpact_version = as.character(packageVersion("rpact")), designs = out, simulation = simulation)
write_json(res, "tests/reference/design_gsd.json", auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "string")
