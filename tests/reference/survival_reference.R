# Reference fixtures for lupustrial.analysis.survival and lupustrial.analysis.cox.
#
# Run from the repository root:  Rscript tests/reference/survival_reference.R
# Writes tests/reference/survival_<case>.json; each holds the data it was computed on, so the
# Python tests use exactly the same numbers. R 4.2.2, survival 3.5-3.
suppressPackageStartupMessages({
  library(survival)
  library(jsonlite)
})

out_dir <- "tests/reference"

write_case <- function(name, x) {
  x$generated_by <- sprintf("tests/reference/survival_reference.R (R %s, survival %s)",
                            getRversion(), packageVersion("survival"))
  write_json(x, file.path(out_dir, sprintf("survival_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
}

km_ref <- function(time, event) {
  fit <- survfit(Surv(time, event) ~ 1)
  q <- quantile(fit, probs = 0.5, conf.int = TRUE)
  at_times <- sort(unique(c(0, quantile(time, c(0.1, 0.5, 0.9), type = 1),
                            fit$time[1], max(time), max(time) + 1)))
  s <- summary(fit, times = at_times, extend = TRUE)
  list(
    time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
    surv = fit$surv, std_err_log = fit$std.err, std_err = summary(fit, censored = TRUE)$std.err,
    lower = fit$lower, upper = fit$upper,
    median = unname(q$quantile), median_lower = unname(q$lower), median_upper = unname(q$upper),
    at = list(times = at_times, surv = s$surv, std_err = s$std.err, lower = s$lower,
              upper = s$upper, n_risk = s$n.risk)
  )
}

logrank_ref <- function(formula, data) {
  fit <- survdiff(formula, data = data)
  obs <- if (is.matrix(fit$obs)) rowSums(fit$obs) else fit$obs
  exp <- if (is.matrix(fit$exp)) rowSums(fit$exp) else fit$exp
  list(groups = sub("^[^=]*=", "", names(fit$n)), observed = obs, expected = exp,
       var = unname(fit$var), chisq = fit$chisq, df = sum(exp > 0) - 1, p_value = fit$pvalue)
}

cox_ref <- function(formula, data, ties, iter.max = 20) {
  warn <- character(0)
  fit <- withCallingHandlers(
    coxph(formula, data = data, ties = ties, control = coxph.control(iter.max = iter.max)),
    warning = function(w) {
      warn <<- c(warn, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  s <- summary(fit)
  ci <- s$conf.int
  list(
    ties = ties, coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))),
    var = unname(fit$var),
    hazard_ratio = unname(ci[, 1]), ci_lower = unname(ci[, 3]), ci_upper = unname(ci[, 4]),
    z = unname(s$coefficients[, "z"]), p_value = unname(s$coefficients[, "Pr(>|z|)"]),
    loglik_null = fit$loglik[1], loglik = fit$loglik[2],
    # summary() rounds the Wald statistic to 2 decimals; its p-value uses the exact one.
    lr_test = unname(s$logtest), wald_test = c(unname(fit$wald.test), unname(s$waldtest[2:3])),
    score_test = unname(s$sctest),
    n = fit$n, n_events = fit$nevent, iterations = fit$iter, warnings = warn
  )
}

both_ties <- function(formula, data) {
  list(efron = cox_ref(formula, data, "efron"), breslow = cox_ref(formula, data, "breslow"))
}

# --- lung: NCCTG lung cancer, complete cases on the covariates used -------------------------
lung2 <- na.omit(lung[, c("time", "status", "sex", "age", "ph.ecog")])
lung2$status <- lung2$status - 1
write_case("lung", list(
  data = as.list(lung2),
  km = km_ref(lung2$time, lung2$status),
  km_by_sex = lapply(split(lung2, lung2$sex), function(d) km_ref(d$time, d$status)),
  logrank_sex = logrank_ref(Surv(time, status) ~ sex, lung2),
  logrank_ecog = logrank_ref(Surv(time, status) ~ ph.ecog, lung2),
  logrank_sex_strata_ecog = logrank_ref(Surv(time, status) ~ sex + strata(ph.ecog), lung2),
  cox_sex = both_ties(Surv(time, status) ~ sex, lung2),
  cox_multi = both_ties(Surv(time, status) ~ sex + age + ph.ecog, lung2),
  cox_sex_strata_ecog = both_ties(Surv(time, status) ~ sex + age + strata(ph.ecog), lung2),
  # stopped after 2 Newton steps: R warns "Ran out of iterations" and reports that point
  cox_multi_iter2 = cox_ref(Surv(time, status) ~ sex + age + ph.ecog, lung2, "efron", iter.max = 2)
))

# --- veteran: VA lung cancer trial, treatment stratified by cell type -------------------------
vet <- veteran[, c("time", "status", "trt", "celltype", "karno")]
vet$trt <- vet$trt - 1
write_case("veteran", list(
  data = list(time = vet$time, status = vet$status, trt = vet$trt,
              celltype = as.character(vet$celltype), karno = vet$karno),
  km_by_trt = lapply(split(vet, vet$trt), function(d) km_ref(d$time, d$status)),
  logrank_trt = logrank_ref(Surv(time, status) ~ trt, vet),
  logrank_trt_strata = logrank_ref(Surv(time, status) ~ trt + strata(celltype), vet),
  cox_trt_strata = both_ties(Surv(time, status) ~ trt + strata(celltype), vet),
  cox_trt_karno_strata = both_ties(Surv(time, status) ~ trt + karno + strata(celltype), vet)
))

# --- synthetic two-arm trial with heavy ties (whole months) ----------------------------------
set.seed(20210701)
n <- 50
arm <- rep(0:1, each = n / 2)
age <- round(rnorm(n, 40, 12))
t_event <- rexp(n, rate = ifelse(arm == 1, 0.06, 0.12))
t_cens <- runif(n, 6, 18)
ties <- data.frame(time = ceiling(pmin(t_event, t_cens)), status = as.integer(t_event <= t_cens),
                   arm = arm, age = age, site = rep(c("A", "B"), length.out = n))
write_case("ties", list(
  data = as.list(ties),
  km_by_arm = lapply(split(ties, ties$arm), function(d) km_ref(d$time, d$status)),
  logrank_arm = logrank_ref(Surv(time, status) ~ arm, ties),
  logrank_arm_strata = logrank_ref(Surv(time, status) ~ arm + strata(site), ties),
  cox_arm = both_ties(Surv(time, status) ~ arm, ties),
  cox_arm_age = both_ties(Surv(time, status) ~ arm + age, ties),
  cox_arm_strata = both_ties(Surv(time, status) ~ arm + strata(site), ties)
))

# --- BEAT-LUPUS-like small trial: 3 vs 10 severe flares among 26 vs 26 (days to week 52) -----
set.seed(33)
arm <- rep(c(1, 0), each = 26)
time <- round(runif(52, 20, 364))
status <- integer(52)
status[sample(which(arm == 1), 3)] <- 1L
status[sample(which(arm == 0), 10)] <- 1L
time[status == 0] <- 364
small <- data.frame(time = time, status = status, arm = arm)
write_case("small", list(
  data = as.list(small),
  km_by_arm = lapply(split(small, small$arm), function(d) km_ref(d$time, d$status)),
  logrank_arm = logrank_ref(Surv(time, status) ~ arm, small),
  cox_arm = both_ties(Surv(time, status) ~ arm, small)
))

# --- zero events in one arm: monotone likelihood, R warns and returns a huge coefficient ------
set.seed(7)
arm <- rep(c(1, 0), each = 26)
time <- round(runif(52, 20, 364))
status <- as.integer(arm == 0 & seq_along(arm) %% 3 == 0)
time[status == 0] <- 364
age <- round(rnorm(52, 40, 10))
zero <- data.frame(time = time, status = status, arm = arm, age = age)
write_case("zero", list(
  data = as.list(zero),
  km_by_arm = lapply(split(zero, zero$arm), function(d) km_ref(d$time, d$status)),
  logrank_arm = logrank_ref(Surv(time, status) ~ arm, zero),
  cox_arm = both_ties(Surv(time, status) ~ arm, zero),
  cox_arm_age = both_ties(Surv(time, status) ~ arm + age, zero)
))

# --- Kaplan-Meier edge cases: S reaching 0, a median on a flat 0.5 stretch, all censored -----
edge <- list(
  flat_half = list(time = c(1, 2, 3, 4), status = c(1, 1, 1, 1)),
  ends_zero = list(time = c(2, 3, 3, 5, 6, 6, 8), status = c(1, 0, 1, 1, 0, 1, 1)),
  all_censored = list(time = c(3, 4, 5), status = c(0, 0, 0)),
  single = list(time = c(5), status = c(1))
)
write_case("km_edge", lapply(edge, function(d) c(list(data = d), km_ref(d$time, d$status))))
