# Reference fixtures for lupustrial.analysis.mmrm (repeated measures, unstructured covariance).
#
# Run from the repository root:  Rscript tests/reference/mmrm_reference.R   (about a minute)
# Writes tests/reference/mmrm_<case>.json holding simulated long-format data (rows with a
# missing y are missing visits) and R's results for
#   gls(y ~ arm * visit [+ baseline * visit] + covariates,
#       correlation = corSymm(form = ~ visit_index | subject),
#       weights = varIdent(form = ~ 1 | visit), method = "REML", na.action = na.omit)
# with emmeans(fit, ~ arm | visit) means and trt.vs.ctrl differences per visit.
#
# Two things need care to compare at 1e-6 (the code is in common.R):
# 1. gls's default optimiser stops ~1e-5 (relative) short of the REML optimum, so the fit is
#    polished by Newton steps (mmrm_polished). The default fit's log-likelihood and covariance
#    are kept too ("default_fit") to show the gap.
# 2. emmeans' default df for gls with corSymm is "appx-satterthwaite", which refits the model
#    to data perturbed by random noise (rnorm), so its df differs from call to call (two
#    calls are recorded). The fixture holds mode = "df.error" (deterministic; tested as such)
#    and the exact Satterthwaite df (satterthwaite_df); intervals and p-values use those df.
# R 4.2, nlme 3.1, emmeans 1.8, numDeriv.
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

out_dir <- "tests/reference"

write_case <- function(name, d, treatment, reference, baseline = TRUE,
                       covariates = character(0)) {
  arms <- c(reference, sort(setdiff(unique(d$arm), reference)))
  visits <- sort(unique(d$visit))
  long <- data.frame(y = d$y, subject = d$subject, arm = factor(d$arm, levels = arms),
                     visit = factor(d$visit, levels = visits))
  if (baseline) long$baseline <- d$baseline
  for (v in covariates) long[[v]] <- if (is.character(d[[v]])) factor(d[[v]]) else d[[v]]
  long$visit_index <- as.integer(long$visit)
  cc <- long[!is.na(long$y), ]
  cc <- cc[order(cc$subject, cc$visit_index), ]
  rhs <- c("arm * visit", if (baseline) "baseline * visit", covariates)
  form <- as.formula(paste("y ~", paste(rhs, collapse = " + ")))

  polished <- mmrm_polished(form, cc)
  fit0 <- polished$fit0
  fit <- polished$fit
  S <- polished$covariance

  emm <- emmeans(fit, ~ arm | visit, data = cc, mode = "df.error")
  con <- contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none")
  s_emm <- summary(emm, infer = c(TRUE, FALSE))
  s_con <- summary(con, infer = TRUE)
  pick <- as.character(s_con$contrast) == paste(treatment, "-", reference)
  df_emm <- satterthwaite_df(polished, emm@linfct)
  df_con <- satterthwaite_df(polished, con@linfct[pick, , drop = FALSE])
  appx <- function() suppressMessages(summary(emmeans(fit0, ~ arm | visit, data = cc))$df)
  tt <- summary(fit)$tTable
  res <- list(
    treatment = treatment, reference = reference, covariate_names = I(covariates),
    data = c(list(y = d$y, subject = d$subject, visit = d$visit, arm = d$arm),
             if (baseline) list(baseline = d$baseline), d[covariates]),
    visits = as.character(visits), arms = arms,
    n_subjects = length(unique(cc$subject)), n_observations = nrow(cc),
    reml_loglik = as.numeric(logLik(fit)), covariance = S,
    coef = coef_table(tt, "t"),
    emmeans = list(visit = as.character(s_emm$visit), arm = as.character(s_emm$arm),
                   mean = s_emm$emmean, se = s_emm$SE,
                   df_error = inference(s_emm$emmean, s_emm$SE, s_emm$df),
                   satterthwaite = inference(s_emm$emmean, s_emm$SE, df_emm)),
    differences = list(visit = as.character(s_con$visit[pick]),
                       contrast = as.character(s_con$contrast[pick]),
                       estimate = s_con$estimate[pick], se = s_con$SE[pick],
                       df_error = inference(s_con$estimate[pick], s_con$SE[pick], s_con$df[pick]),
                       satterthwaite = inference(s_con$estimate[pick], s_con$SE[pick], df_con)),
    default_fit = list(reml_loglik = as.numeric(logLik(fit0)), covariance = sigma_hat(fit0, cc)),
    appx_satterthwaite_df = list(first_call = appx(), second_call = appx()),
    generated_by = sprintf("tests/reference/mmrm_reference.R (R %s, nlme %s, emmeans %s, numDeriv %s)",
                           getRversion(), packageVersion("nlme"), packageVersion("emmeans"),
                           packageVersion("numDeriv"))
  )
  write_json(res, file.path(out_dir, sprintf("mmrm_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE, matrix = "rowmajor")
}

# SLEDAI-like scores at visits (weeks); baseline ~ N(10, 3); unstructured covariance with
# spread growing over time; a treatment effect that builds up; monotone dropout plus a few
# skipped visits. Values rounded to 4 decimals so that R and Python fit the same numbers.
make_trial <- function(n_per_arm, arms, visits, effect, dropout = 0.08, skip = 0.05,
                       rho = 0.6) {
  nv <- length(visits)
  n <- sum(n_per_arm)
  subject <- sprintf("S%03d", seq_len(n))
  arm <- sample(rep(arms, n_per_arm))
  baseline <- round(rnorm(n, 10, 3), 4)
  sds <- seq(2, 3.5, length.out = nv)
  S <- rho^abs(outer(seq_len(nv), seq_len(nv), "-")) * outer(sds, sds)
  e <- t(t(chol(S)) %*% matrix(rnorm(nv * n), nv))
  mu <- outer(0.6 * (baseline - 10), rep(1, nv)) + outer(rep(1, n), 8 - 0.05 * visits) +
    outer(effect[arm], visits / max(visits))
  y <- round(mu + e, 4)
  last <- pmin(nv, 1 + rgeom(n, dropout))  # monotone dropout after visit `last`
  for (i in seq_len(n)) if (last[i] < nv) y[i, (last[i] + 1):nv] <- NA
  y[matrix(runif(n * nv) < skip, n)] <- NA
  y[1, ] <- round(mu[1, ] + e[1, ], 4)  # one complete patient for getVarCov
  list(y = as.vector(t(y)), subject = rep(subject, each = nv), visit = rep(visits, n),
       arm = rep(arm, each = nv), baseline = rep(baseline, each = nv),
       steroid = rep(sample(c("high", "low"), n, replace = TRUE), each = nv),
       age = rep(round(rnorm(n, 40, 12), 1), each = nv))
}

set.seed(2021)
write_case("basic", make_trial(c(30, 30), c("belimumab", "placebo"), c(4, 12, 24, 52),
                               c(belimumab = -2, placebo = 0)),
           "belimumab", "placebo")

set.seed(31)
write_case("unbalanced", make_trial(c(20, 34), c("belimumab", "placebo"), c(12, 24, 52),
                                    c(belimumab = -1.5, placebo = 0), dropout = 0.2),
           "belimumab", "placebo", covariates = "steroid")

set.seed(32)
write_case("no_baseline", make_trial(c(25, 25), c("belimumab", "placebo"), c(4, 12, 24, 36, 52),
                                     c(belimumab = -2.5, placebo = 0), rho = 0.4),
           "belimumab", "placebo", baseline = FALSE, covariates = "age")

set.seed(33)
write_case("three_arm", make_trial(c(20, 20, 20), c("belimumab", "low_dose", "placebo"),
                                   c(12, 24, 52), c(belimumab = -2, low_dose = -1, placebo = 0)),
           "belimumab", "placebo")
