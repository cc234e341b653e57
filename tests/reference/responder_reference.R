# Reference fixtures for lupustrial.analysis.responder (binary responder end points).
#
# Run from the repository root:  Rscript tests/reference/responder_reference.R
# Writes tests/reference/responder_<case>.json holding simulated data and R's results:
#   * glm(response ~ arm + covariates, family = binomial): coefficient table, deviance,
#     iterations; the Wald interval (confint.default) and confint(glm), which in R 4.2 is
#     MASS's profile.glm + spline-interpolated confint.profile.glm;
#   * the Miettinen-Nurminen score interval for the risk difference, computed from its
#     definition (mn_interval in common.R: R has no function for it);
#   * mantelhaen.test on table(arm, response, stratum), with correct = TRUE (R's default)
#     and correct = FALSE.
# Arm levels are c(reference, other arms sorted); responses are tabulated as c(1, 0) so that
# odds ratios are treatment / reference. R 4.2, MASS 7.3.
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

out_dir <- "tests/reference"

write_case <- function(name, d, treatment, reference, covariates = character(0),
                       strata = NULL) {
  arms <- c(reference, sort(setdiff(unique(d$arm), reference)))
  df <- data.frame(response = d$response, arm = factor(d$arm, levels = arms))
  for (v in covariates) df[[v]] <- if (is.character(d[[v]])) factor(d[[v]]) else d[[v]]
  form <- as.formula(paste("response ~", paste(c("arm", covariates), collapse = " + ")))
  warnings <- character(0)
  fit <- withCallingHandlers(glm(form, family = binomial, data = df),
                             warning = function(w) {
                               warnings <<- c(warnings, conditionMessage(w))
                               invokeRestart("muffleWarning")
                             })
  term <- paste0("arm", treatment)
  profile <- tryCatch(suppressMessages(suppressWarnings(confint(fit, term))),
                      error = function(e) c(NA, NA))
  counts <- lapply(arms, function(a) list(arm = a, n = sum(d$arm == a),
                                          responders = sum(d$response[d$arm == a])))
  trt <- d$arm == treatment
  ref <- d$arm == reference
  res <- list(
    treatment = treatment, reference = reference, covariate_names = I(covariates),
    data = c(list(response = d$response, arm = d$arm), d[covariates],
             if (is.null(strata)) NULL else list(strata = d[[strata]])),
    arms = counts,
    coef = coef_table(summary(fit)$coefficients, "z"),
    deviance = deviance(fit), iterations = fit$iter, converged = fit$converged,
    glm_warnings = I(unique(warnings)),
    wald = unname(confint.default(fit, term)[1, ]),
    profile = unname(profile),
    risk_difference = mn_interval(sum(d$response[trt]), sum(trt), sum(d$response[ref]), sum(ref))
  )
  if (!is.null(strata)) {
    pair <- trt | ref
    tab <- table(factor(d$arm[pair], levels = c(treatment, reference)),
                 factor(d$response[pair], levels = c(1, 0)), factor(d[[strata]][pair]))
    res$cmh_correct <- cmh(tab, TRUE)
    res$cmh_uncorrected <- cmh(tab, FALSE)
  }
  res$generated_by <- sprintf("tests/reference/responder_reference.R (R %s, MASS %s)",
                              getRversion(), packageVersion("MASS"))
  write_json(res, file.path(out_dir, sprintf("responder_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
}

# SRI-4-like response: placebo about 40%, treatment about 55%, with a steroid stratum and a
# baseline SLEDAI covariate (rounded to 4 decimals so R and Python fit the same numbers).
make_trial <- function(n_trt, n_ref, p_trt = 0.55, p_ref = 0.4, trt = "belimumab",
                       ref = "placebo") {
  arm <- sample(rep(c(trt, ref), c(n_trt, n_ref)))
  n <- length(arm)
  steroid <- sample(c("high", "low"), n, replace = TRUE, prob = c(0.4, 0.6))
  sledai <- round(rnorm(n, 10, 3), 4)
  lp <- qlogis(ifelse(arm == trt, p_trt, p_ref)) + 0.4 * (steroid == "low") - 0.1 * (sledai - 10)
  list(response = rbinom(n, 1, plogis(lp)), arm = arm, steroid = steroid, sledai = sledai)
}

set.seed(2021)
write_case("basic", make_trial(60, 60), "belimumab", "placebo", strata = "steroid")

set.seed(14)
d <- make_trial(45, 45)
d$centre <- sample(c("leeds", "london", "manchester"), 90, replace = TRUE, prob = c(0.3, 0.4, 0.3))
write_case("covariates", d, "belimumab", "placebo", covariates = c("sledai", "centre"),
           strata = "centre")

set.seed(15)
write_case("unbalanced", make_trial(40, 22, p_trt = 0.7), "belimumab", "placebo",
           covariates = "sledai", strata = "steroid")

set.seed(16)
d <- Map(c, make_trial(30, 25), make_trial(0, 28, ref = "low_dose", p_ref = 0.5))
write_case("three_arm", d, "belimumab", "placebo", covariates = "steroid", strata = "steroid")

set.seed(17)
write_case("small", make_trial(8, 9, p_trt = 0.6, p_ref = 0.3), "belimumab", "placebo")

# Edge cases: no responder on placebo (R's glm stops at a huge coefficient and SE; the risk
# difference and CMH are still defined), and every patient responding on treatment.
set.seed(18)
d <- make_trial(15, 15, p_trt = 0.5)
d$response[d$arm == "placebo"] <- 0
write_case("zero", d, "belimumab", "placebo", strata = "steroid")

set.seed(19)
d <- make_trial(12, 14)
d$response[d$arm == "belimumab"] <- 1
write_case("all", d, "belimumab", "placebo", covariates = "sledai", strata = "steroid")
