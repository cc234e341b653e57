# Reference fixtures for lupustrial.analysis.counts (event counts over follow-up).
#
# Run from the repository root:  Rscript tests/reference/counts_reference.R
# Writes tests/reference/counts_<case>.json holding simulated data and R's results for
#   MASS::glm.nb(count ~ arm + covariates + offset(log(exposure)))  and
#   glm(count ~ arm + covariates + offset(log(exposure)), family = poisson):
# coefficient tables, theta and its SE, log-likelihood, deviance, warnings, and
# emmeans(fit, ~ arm, offset = 0, type = "response") rates (events per patient-year) with
# the trt.vs.ctrl rate ratio. Arm levels are c(reference, other arms sorted).
# R 4.2, MASS 7.3, emmeans 1.8.
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

out_dir <- "tests/reference"

write_case <- function(name, d, treatment, reference, covariates = character(0)) {
  arms <- c(reference, sort(setdiff(unique(d$arm), reference)))
  df <- data.frame(count = d$count, exposure = d$exposure, arm = factor(d$arm, levels = arms))
  for (v in covariates) df[[v]] <- if (is.character(d[[v]])) factor(d[[v]]) else d[[v]]
  rhs <- paste(c("arm", covariates, "offset(log(exposure))"), collapse = " + ")
  form <- as.formula(paste("count ~", rhs))
  nb <- capture(eval(bquote(glm.nb(.(form), data = df))))
  po <- capture(eval(bquote(glm(.(form), family = poisson, data = df))))
  nb_res <- count_results(nb$value, nb$warnings, treatment, reference)
  nb_res$theta <- nb$value$theta
  nb_res$theta_se <- nb$value$SE.theta
  nb_res$twologlik <- nb$value$twologlik
  res <- list(
    treatment = treatment, reference = reference, covariate_names = I(covariates),
    data = c(list(count = d$count, exposure = d$exposure, arm = d$arm), d[covariates]),
    negative_binomial = nb_res,
    poisson = count_results(po$value, po$warnings, treatment, reference),
    generated_by = sprintf("tests/reference/counts_reference.R (R %s, MASS %s, emmeans %s)",
                           getRversion(), packageVersion("MASS"), packageVersion("emmeans"))
  )
  write_json(res, file.path(out_dir, sprintf("counts_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
}

# Severe and moderate flares over up to a year of follow-up (withdrawal shortens exposure;
# exposure rounded to 6 decimals so that R and Python fit the same numbers): gamma-Poisson
# counts with shape theta around a placebo rate of ~1.2 flares per year.
make_trial <- function(n_trt, n_ref, rate_ref = 1.2, ratio = 0.6, theta = 1.5,
                       trt = "belimumab", ref = "placebo") {
  arm <- sample(rep(c(trt, ref), c(n_trt, n_ref)))
  n <- length(arm)
  exposure <- round(pmin(1, rexp(n, 0.4) + 0.05), 6)
  steroid <- sample(c("high", "low"), n, replace = TRUE, prob = c(0.4, 0.6))
  prior <- rpois(n, 1.5)
  mu <- exposure * rate_ref * ifelse(arm == trt, ratio, 1) * exp(0.3 * (steroid == "high") + 0.2 * prior)
  list(count = rnbinom(n, size = theta, mu = mu), exposure = exposure, arm = arm,
       steroid = steroid, prior = prior)
}

set.seed(2021)
write_case("basic", make_trial(50, 50), "belimumab", "placebo")

set.seed(22)
write_case("covariates", make_trial(60, 55), "belimumab", "placebo",
           covariates = c("prior", "steroid"))

set.seed(23)
write_case("unbalanced", make_trial(14, 26, theta = 0.7), "belimumab", "placebo",
           covariates = "prior")

set.seed(24)
d <- Map(c, make_trial(30, 30), make_trial(0, 30, ref = "low_dose", rate_ref = 0.9))
write_case("three_arm", d, "belimumab", "placebo", covariates = "steroid")

# Edge case: Poisson counts (no overdispersion), so theta runs off towards infinity and R
# warns that theta.ml reached its iteration limit.
set.seed(25)
d <- make_trial(60, 60)
d$count <- rpois(120, d$exposure * 1.2)
write_case("poisson_like", d, "belimumab", "placebo")
