# Reference fixture for `lupustrial analyze DIR --plan plan.yaml` on the three-arm XPT example.
#
# Run from the repository root:  Rscript tests/reference/plan_three_arm_reference.R
# Reads the XPT files of src/lupustrial/data/examples/three_arm_xpt (scripts/make_three_arm_xpt.py)
# with foreign::read.xport and computes, for each arm against Placebo, what its plan.yaml asks:
# time to first event (TTDE: Kaplan-Meier, log-rank, Cox with Efron and Breslow ties) and ALT at
# week 24 (ANCOVA of log ALT on arm + log baseline, emmeans) in ITTFL = Y; the adverse-event table
# (TRTEMFL = Y records, SAFFL = Y subjects by TRT01A, infections matched in any case).
# Writes tests/reference/plan_three_arm.json. R 4.2.2, survival 3.5-3, emmeans 1.8.4.
suppressPackageStartupMessages({
  library(survival)
  library(emmeans)
  library(jsonlite)
})
source("tests/reference/common.R")

dir <- "src/lupustrial/data/examples/three_arm_xpt"
read <- function(name) read_xpt(dir, name)
adsl <- read("adsl")
adlbc <- read("adlbc")
adtte <- read("adtte")
adae <- read("adae")
reference <- "Placebo"
treatments <- c("Drug Low Dose", "Drug High Dose")

km_arm <- function(d) {
  fit <- survfit(Surv(AVAL, 1 - CNSR) ~ 1, data = d)
  q <- quantile(fit, probs = 0.5, conf.int = TRUE)
  list(time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event, surv = fit$surv, lower = fit$lower,
       upper = fit$upper, std_err_log = fit$std.err, median = unname(q$quantile),
       median_lower = unname(q$lower), median_upper = unname(q$upper), n = nrow(d), events = sum(1 - d$CNSR))
}

cox_fit <- function(d, ties) {
  fit <- coxph(Surv(AVAL, 1 - CNSR) ~ trt, data = d, ties = ties)
  s <- summary(fit)
  list(coef = unname(coef(fit)), se = unname(sqrt(diag(fit$var))), hazard_ratio = unname(s$conf.int[, 1]),
       ci_lower = unname(s$conf.int[, 3]), ci_upper = unname(s$conf.int[, 4]),
       p_value = unname(s$coefficients[, "Pr(>|z|)"]), loglik = fit$loglik[2], loglik_null = fit$loglik[1],
       lr_statistic = unname(s$logtest["test"]), score_statistic = unname(s$sctest["test"]))
}

time_to_event <- function(treatment) {
  itt <- adsl[adsl$ITTFL == "Y" & adsl$TRT01P %in% c(treatment, reference), c("USUBJID", "TRT01P")]
  d <- merge(adtte[adtte$PARAMCD == "TTDE", ], itt, by = "USUBJID")
  d$trt <- as.numeric(d$TRT01P == treatment)
  lr <- survdiff(Surv(AVAL, 1 - CNSR) ~ TRT01P, data = d)
  list(km = setNames(lapply(c(treatment, reference), function(a) km_arm(d[d$TRT01P == a, ])), c(treatment, reference)),
       logrank = list(groups = sub("^[^=]*=", "", names(lr$n)), observed = lr$obs, expected = lr$exp,
                      chisq = lr$chisq, p_value = lr$pvalue),
       efron = cox_fit(d, "efron"), breslow = cox_fit(d, "breslow"))
}

gm <- function(x) {
  tt <- t.test(log(x))
  list(n = length(x), geometric_mean = exp(mean(log(x))), lower = exp(tt$conf.int[1]), upper = exp(tt$conf.int[2]))
}

ancova <- function(treatment) {
  itt <- adsl[adsl$ITTFL == "Y" & adsl$TRT01P %in% c(treatment, reference), c("USUBJID", "TRT01P")]
  d <- merge(adlbc[adlbc$PARAMCD == "ALT" & !is.na(adlbc$AVISITN) & adlbc$AVISITN == 24 & !is.na(adlbc$AVAL), ],
             itt, by = "USUBJID")
  df <- data.frame(y = d$AVAL, log_base = log(d$BASE), arm = factor(d$TRT01P, levels = c(reference, treatment)))
  fit <- lm(log(y) ~ arm + log_base, data = df)
  emm <- emmeans(fit, ~arm)
  adj <- summary(emm, type = "response")
  con <- summary(contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none"), type = "response", infer = TRUE)
  arms <- c(treatment, reference)
  list(ratio = con$ratio, ratio_lower = con$lower.CL, ratio_upper = con$upper.CL, p_value = con$p.value,
       df_residual = fit$df.residual, sigma = summary(fit)$sigma,
       adjusted = setNames(lapply(arms, function(a) {
         r <- adj[adj$arm == a, ]
         list(n = sum(df$arm == a), geometric_mean = r$response, lower = r$lower.CL, upper = r$upper.CL)
       }), arms),
       unadjusted = setNames(lapply(arms, function(a) gm(d$AVAL[d$TRT01P == a])), arms),
       baseline = setNames(lapply(arms, function(a) gm(d$BASE[d$TRT01P == a])), arms))
}

infection <- "Infections and infestations"
ae_row <- function(level, soc, term, ae, saf, treatment) {
  arms <- c(treatment, reference)
  py <- tapply(saf$TRTDURD, saf$TRT01A, sum)[arms] / 365.25
  n <- table(factor(saf$TRT01A, levels = arms))
  arm_of <- setNames(saf$TRT01A, saf$USUBJID)[ae$USUBJID]
  events <- table(factor(arm_of, levels = arms))
  subjects <- sapply(arms, function(a) length(unique(ae$USUBJID[arm_of == a])))
  fisher <- fisher.test(matrix(c(subjects, n - subjects), 2))
  pois <- if (sum(events) > 0) poisson.test(as.numeric(events), as.numeric(py)) else
    list(estimate = NA, conf.int = c(NA, NA), p.value = NA)
  list(level = level, body_system = soc, term = term, subjects = unname(as.numeric(subjects)),
       events = unname(as.numeric(events)), n = unname(as.numeric(n)), fisher_p = fisher$p.value,
       rate_ratio = unname(pois$estimate), rate_ratio_lower = pois$conf.int[1],
       rate_ratio_upper = pois$conf.int[2], rate_ratio_p = pois$p.value)
}

ae_table <- function(treatment) {
  saf <- adsl[adsl$SAFFL == "Y" & adsl$TRT01A %in% c(treatment, reference), ]
  ae <- adae[adae$TRTEMFL == "Y" & adae$USUBJID %in% saf$USUBJID, ]
  rows <- list(ae_row("overall", "", "Any adverse event", ae, saf, treatment),
               ae_row("overall", "", "Any serious adverse event", ae[ae$AESER == "Y", ], saf, treatment),
               ae_row("overall", "", "Any infection", ae[toupper(ae$AEBODSYS) == toupper(infection), ], saf, treatment),
               ae_row("overall", "", "Any severe adverse event", ae[ae$AESEV == "SEVERE", ], saf, treatment))
  for (soc in sort(unique(ae$AEBODSYS), method = "radix")) {
    in_soc <- ae[ae$AEBODSYS == soc, ]
    rows[[length(rows) + 1]] <- ae_row("body_system", soc, "", in_soc, saf, treatment)
    for (pt in sort(unique(in_soc$AEDECOD), method = "radix")) {
      rows[[length(rows) + 1]] <- ae_row("preferred_term", soc, pt, in_soc[in_soc$AEDECOD == pt, ], saf, treatment)
    }
  }
  rows
}

out <- lapply(setNames(treatments, treatments), function(t) {
  list(time_to_event = time_to_event(t), ancova = ancova(t), adverse_events = ae_table(t))
})
out$generated_by <- sprintf("tests/reference/plan_three_arm_reference.R (R %s, survival %s, emmeans %s)",
                            getRversion(), packageVersion("survival"), packageVersion("emmeans"))
write_json(out, "tests/reference/plan_three_arm.json", digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
