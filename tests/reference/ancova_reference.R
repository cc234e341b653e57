# Reference fixtures for lupustrial.analysis.ancova (ANCOVA of log titre, geometric means).
#
# Run from the repository root:  Rscript tests/reference/ancova_reference.R
# Writes tests/reference/ancova_<case>.json holding the data and R's lm + emmeans results.
# The model is lm(log(y) ~ arm + log_base + factors) with log_base = log(baseline) as a data
# column, so that emmeans holds the covariate at mean(log(baseline)) (an inline log(baseline)
# term would make emmeans use log(mean(baseline)) instead). R 4.2.2, emmeans 1.8.4.
suppressPackageStartupMessages({
  library(emmeans)
  library(jsonlite)
})

out_dir <- "tests/reference"

emm_table <- function(emm) {
  s_log <- summary(emm, infer = c(TRUE, FALSE))
  s_resp <- summary(emm, type = "response", infer = c(TRUE, FALSE))
  list(arm = as.character(s_log$arm), emmean_log = s_log$emmean, se_log = s_log$SE,
       df = s_log$df, geometric_mean = s_resp$response, lower = s_resp$lower.CL,
       upper = s_resp$upper.CL)
}

contrast_table <- function(emm, treatment, reference, method) {
  con <- if (method == "trt.vs.ctrl") {
    contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none")
  } else {
    pairs(emm, adjust = "none")
  }
  s_log <- summary(con, infer = TRUE)
  s <- summary(con, type = "response", infer = TRUE)
  list(method = method, contrast = as.character(s$contrast), estimate_log = s_log$estimate,
       se_log = s_log$SE, ratio = s$ratio, lower = s$lower.CL, upper = s$upper.CL,
       t_ratio = s$t.ratio, p_value = s$p.value, df = s$df)
}

unadjusted <- function(y, arm) {
  lapply(split(log(y), arm), function(v) {
    tt <- t.test(v)
    list(n = length(v), geometric_mean = exp(mean(v)), lower = exp(tt$conf.int[1]),
         upper = exp(tt$conf.int[2]))
  })
}

# Fit lm(<response> ~ arm + <covariate> + factors) with the reference arm first; return the
# fit and the fixture fields both scales share (the data and R's coefficient table).
fit_lm <- function(d, treatment, reference, factors, response, covariate, covariate_values) {
  arms <- c(reference, sort(setdiff(unique(d$arm), reference)))
  df <- data.frame(y = d$y, arm = factor(d$arm, levels = arms))
  df[[covariate]] <- covariate_values
  for (f in factors) df[[f]] <- factor(d[[f]])
  form <- as.formula(paste(response, "~", paste(c("arm", covariate, factors), collapse = " + ")))
  fit <- eval(bquote(lm(.(form), data = df)))  # a literal formula lets emmeans see log()
  cf <- summary(fit)$coefficients
  list(fit = fit, res = list(
    treatment = treatment, reference = reference, factor_names = I(factors),
    data = c(list(y = d$y, baseline = d$baseline, arm = d$arm), d[factors]),
    coef = list(term = rownames(cf), estimate = unname(cf[, 1]), se = unname(cf[, 2]),
                t = unname(cf[, 3]), p = unname(cf[, 4])),
    df_residual = fit$df.residual, sigma = summary(fit)$sigma))
}

write_case <- function(name, d, treatment, reference, factors = character(0),
                       weights = c("equal", "proportional")) {
  m <- fit_lm(d, treatment, reference, factors, "log(y)", "log_base", log(d$baseline))
  fit <- m$fit
  res <- c(m$res, list(unadjusted = unadjusted(d$y, d$arm)))
  for (w in weights) {
    emm <- emmeans(fit, ~ arm, weights = w)
    res[[paste0("emmeans_", w)]] <- list(
      emm = emm_table(emm),
      contrast = contrast_table(emm, treatment, reference, "trt.vs.ctrl"),
      pairs = contrast_table(emm, treatment, reference, "pairs"))
  }
  res$generated_by <- sprintf("tests/reference/ancova_reference.R (R %s, emmeans %s)",
                              getRversion(), packageVersion("emmeans"))
  write_json(res, file.path(out_dir, sprintf("ancova_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
}

# Lognormal titres loosely like BEAT-LUPUS anti-dsDNA (IU/mL): log baseline ~ N(log 150, 1),
# week-52 log titre regresses on it with a treatment effect of log(0.3) (70% reduction).
make_trial <- function(n_trt, n_ref, trt = "belimumab", ref = "placebo", effect = log(0.3)) {
  arm <- sample(rep(c(trt, ref), c(n_trt, n_ref)))
  baseline <- exp(rnorm(length(arm), log(150), 1))
  y <- exp(0.5 + 0.85 * log(baseline) + effect * (arm == trt) + rnorm(length(arm), 0, 0.9))
  list(y = y, baseline = baseline, arm = arm)
}

set.seed(20211026)
write_case("basic", make_trial(26, 26), "belimumab", "placebo", weights = "equal")

set.seed(52)
d <- make_trial(26, 26)
d$centre <- sample(c("leeds", "london", "manchester"), 52, replace = TRUE, prob = c(0.2, 0.5, 0.3))
d$steroid <- sample(c("high", "low"), 52, replace = TRUE, prob = c(0.35, 0.65))
d$y <- d$y * exp(c(leeds = 0.3, london = 0, manchester = -0.4)[d$centre] + 0.5 * (d$steroid == "high"))
write_case("factors", d, "belimumab", "placebo", factors = c("centre", "steroid"))

set.seed(7)
write_case("unequal", make_trial(34, 15), "belimumab", "placebo", weights = "equal")

set.seed(3)
d <- make_trial(20, 14)
extra <- make_trial(0, 16, ref = "low_dose", effect = 0)
d <- Map(c, d, extra)
d$centre <- sample(c("a", "b"), length(d$y), replace = TRUE, prob = c(0.7, 0.3))
write_case("three_arm", d, "belimumab", "placebo", factors = "centre")

# Raw scale (lupustrial.analysis.ancova.ancova): lm(y ~ arm + baseline + factors) and emmeans
# differences, for outcomes analysed as measured. Written to ancova_raw_<case>.json.
write_raw_case <- function(name, d, treatment, reference, factors = character(0)) {
  m <- fit_lm(d, treatment, reference, factors, "y", "baseline", d$baseline)
  fit <- m$fit
  res <- c(m$res, list(baseline_mean = mean(d$baseline)))
  for (w in c("equal", "proportional")) {
    emm <- emmeans(fit, ~ arm, weights = w)
    s <- summary(emm, infer = c(TRUE, FALSE))
    con <- summary(contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none"), infer = TRUE)
    i <- which(as.character(con$contrast) == paste(treatment, "-", reference))
    res[[paste0("emmeans_", w)]] <- list(
      emm = list(arm = as.character(s$arm), mean = s$emmean, se = s$SE, df = s$df,
                 lower = s$lower.CL, upper = s$upper.CL),
      contrast = list(contrast = as.character(con$contrast[i]), estimate = con$estimate[i],
                      se = con$SE[i], df = con$df[i], lower = con$lower.CL[i],
                      upper = con$upper.CL[i], t_ratio = con$t.ratio[i], p_value = con$p.value[i]))
  }
  res$generated_by <- sprintf("tests/reference/ancova_reference.R (R %s, emmeans %s)",
                              getRversion(), packageVersion("emmeans"))
  write_json(res, file.path(out_dir, sprintf("ancova_raw_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE)
}

# SLEDAI-2K-like scores at week 52 regressing on baseline (rounded to 6 decimals so that R and
# Python fit identical numbers).
make_scores <- function(n_trt, n_ref, trt = "belimumab", ref = "placebo", effect = -2) {
  arm <- sample(rep(c(trt, ref), c(n_trt, n_ref)))
  baseline <- round(rnorm(length(arm), 10, 3), 6)
  y <- round(2 + 0.6 * baseline + effect * (arm == trt) + rnorm(length(arm), 0, 3), 6)
  list(y = y, baseline = baseline, arm = arm)
}

set.seed(140)
write_raw_case("basic", make_scores(26, 26), "belimumab", "placebo")

set.seed(141)
d <- make_scores(30, 22)
d$centre <- sample(c("leeds", "london", "manchester"), 52, replace = TRUE, prob = c(0.2, 0.5, 0.3))
d$steroid <- sample(c("high", "low"), 52, replace = TRUE, prob = c(0.35, 0.65))
d$y <- d$y + c(leeds = 1, london = 0, manchester = -1.5)[d$centre] + 2 * (d$steroid == "high")
write_raw_case("factors", d, "belimumab", "placebo", factors = c("centre", "steroid"))

set.seed(142)
d <- Map(c, make_scores(20, 14), make_scores(0, 16, ref = "low_dose", effect = 0))
d$centre <- sample(c("a", "b"), length(d$y), replace = TRUE, prob = c(0.7, 0.3))
write_raw_case("three_arm", d, "belimumab", "placebo", factors = "centre")
