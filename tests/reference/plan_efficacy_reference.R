# Reference fixture for `lupustrial analyze DIR --plan plan_efficacy.yaml` on the three-arm XPT example.
#
# Run from the repository root:  Rscript tests/reference/plan_efficacy_reference.R   (about 2.5 min)
# Reads the XPT files of src/lupustrial/data/examples/three_arm_xpt (scripts/make_three_arm_xpt.py)
# with foreign::read.xport and fits, for each arm against Placebo in ITTFL = Y, what each entry
# of its plan_efficacy.yaml names, as the registered method reads its data:
#   responder          SRI4 at AVISITN 24 in ADRS, AVALC Y/N (blank: not evaluable, left out):
#                      glm(response ~ arm + SEX, binomial), Wald and profile (confint) CIs; the
#                      Miettinen-Nurminen risk difference; mantelhaen.test across SITEID
#   negative_binomial  ADSL FLARECNT over TRTDURD / 365.25 years:
#                      MASS::glm.nb(FLARECNT ~ arm + SEX + offset(log(years))) + emmeans(offset = 0)
#   poisson            glm(FLARECNT ~ arm + offset(log(years)), poisson) + emmeans(offset = 0)
#   ancova             SLEDAI at AVISITN 24 in ADQS: lm(AVAL ~ arm + BASE + SEX) + emmeans
#   mmrm               SLEDAI at 0 < AVISITN <= 24: gls(AVAL ~ arm * visit + BASE * visit + SEX,
#                      corSymm + varIdent, REML), polished to the optimum, emmeans(~ arm | visit)
#                      with the exact Satterthwaite df (common.R)
# Writes tests/reference/plan_efficacy.json. R 4.2.2, MASS 7.3, nlme 3.1, emmeans 1.8.4.
suppressPackageStartupMessages(library(jsonlite))
source("tests/reference/common.R")

dir <- "src/lupustrial/data/examples/three_arm_xpt"
read <- function(name) read_xpt(dir, name)
adsl <- read("adsl")
adrs <- read("adrs")
adqs <- read("adqs")
reference <- "Placebo"
treatments <- c("Drug Low Dose", "Drug High Dose")
days_per_year <- 365.25

itt <- function(treatment) {
  d <- adsl[adsl$ITTFL == "Y" & adsl$TRT01P %in% c(treatment, reference), ]
  d$arm <- factor(d$TRT01P, levels = c(reference, treatment))
  d$SEX <- factor(d$SEX)
  d
}

responder_fit <- function(treatment) {
  subjects <- itt(treatment)
  d <- merge(adrs[adrs$PARAMCD == "SRI4" & adrs$AVISITN == 24, c("USUBJID", "AVALC")],
             subjects[, c("USUBJID", "arm", "SEX", "SITEID")], by = "USUBJID")
  evaluable <- d$AVALC %in% c("Y", "N")
  d <- d[evaluable, ]
  d$response <- as.numeric(d$AVALC == "Y")
  fit <- glm(response ~ arm + SEX, family = binomial, data = d)
  term <- paste0("arm", treatment)
  trt <- d$arm == treatment
  tab <- table(factor(as.character(d$arm), levels = c(treatment, reference)), factor(d$response, levels = c(1, 0)),
               factor(d$SITEID))
  list(not_evaluable = sum(!evaluable),
       arms = lapply(c(reference, treatment), function(a) list(arm = a, n = sum(d$arm == a),
                                                               responders = sum(d$response[d$arm == a]))),
       coef = coef_table(summary(fit)$coefficients, "z"), deviance = deviance(fit), iterations = fit$iter,
       wald = unname(confint.default(fit, term)[1, ]),
       profile = unname(suppressMessages(confint(fit, term))),
       risk_difference = mn_interval(sum(d$response[trt]), sum(trt), sum(d$response[!trt]), sum(!trt)),
       cmh = cmh(tab, TRUE))
}

count_fits <- function(treatment) {
  d <- itt(treatment)
  d$years <- d$TRTDURD / days_per_year
  nb <- capture(glm.nb(FLARECNT ~ arm + SEX + offset(log(years)), data = d))
  po <- capture(glm(FLARECNT ~ arm + offset(log(years)), family = poisson, data = d))
  nb_res <- count_results(nb$value, nb$warnings, treatment, reference)
  nb_res$theta <- nb$value$theta
  nb_res$theta_se <- nb$value$SE.theta
  arms <- lapply(c(reference, treatment), function(a) {
    mine <- d$arm == a
    list(arm = a, n = sum(mine), events = sum(d$FLARECNT[mine]), exposure_years = sum(d$years[mine]))
  })
  list(arms = arms, negative_binomial = nb_res, poisson = count_results(po$value, po$warnings, treatment, reference))
}

scores <- function(treatment, rows) {
  subjects <- itt(treatment)
  merge(adqs[adqs$PARAMCD == "SLEDAI" & !is.na(adqs$AVISITN) & rows(adqs$AVISITN) & !is.na(adqs$AVAL), ],
        subjects[, c("USUBJID", "arm", "SEX")], by = "USUBJID")
}

ancova_fit <- function(treatment) {
  d <- scores(treatment, function(v) v == 24)
  fit <- lm(AVAL ~ arm + BASE + SEX, data = d)
  emm <- emmeans(fit, ~arm)
  adj <- summary(emm, infer = c(TRUE, FALSE))
  con <- summary(contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none"), infer = TRUE)
  list(n = as.list(table(d$arm)), baseline_mean = mean(d$BASE),
       adjusted = list(arm = as.character(adj$arm), mean = adj$emmean, se = adj$SE, lower = adj$lower.CL,
                       upper = adj$upper.CL),
       difference = con$estimate, se_difference = con$SE, difference_lower = con$lower.CL,
       difference_upper = con$upper.CL, t = con$t.ratio, p_value = con$p.value, df_residual = fit$df.residual,
       sigma = summary(fit)$sigma, coef = coef_table(summary(fit)$coefficients, "t"))
}

mmrm_fit <- function(treatment) {
  d <- scores(treatment, function(v) v > 0 & v <= 24)
  cc <- data.frame(y = d$AVAL, subject = d$USUBJID, arm = d$arm, visit = factor(d$AVISITN), baseline = d$BASE,
                   SEX = d$SEX)
  cc$visit_index <- as.integer(cc$visit)
  cc <- cc[order(cc$subject, cc$visit_index), ]
  polished <- mmrm_polished(y ~ arm * visit + baseline * visit + SEX, cc)
  fit <- polished$fit
  emm <- emmeans(fit, ~ arm | visit, data = cc, mode = "df.error")
  con <- contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none")
  s_emm <- summary(emm, infer = c(TRUE, FALSE))
  s_con <- summary(con, infer = TRUE)
  list(visits = levels(cc$visit), n_subjects = length(unique(cc$subject)), n_observations = nrow(cc),
       baseline_mean = mean(cc$baseline), reml_loglik = as.numeric(logLik(fit)), covariance = polished$covariance,
       coef = coef_table(summary(fit)$tTable, "t"),
       means = c(list(visit = as.character(s_emm$visit), arm = as.character(s_emm$arm), mean = s_emm$emmean,
                      se = s_emm$SE, n = as.vector(table(cc$arm, cc$visit))),
                 inference(s_emm$emmean, s_emm$SE, satterthwaite_df(polished, emm@linfct))),
       differences = c(list(visit = as.character(s_con$visit), estimate = s_con$estimate, se = s_con$SE),
                       inference(s_con$estimate, s_con$SE, satterthwaite_df(polished, con@linfct))))
}

out <- lapply(setNames(treatments, treatments), function(t) {
  list(responder = responder_fit(t), counts = count_fits(t), ancova = ancova_fit(t), mmrm = mmrm_fit(t))
})
out$generated_by <- sprintf("tests/reference/plan_efficacy_reference.R (R %s, MASS %s, nlme %s, emmeans %s)",
                            getRversion(), packageVersion("MASS"), packageVersion("nlme"), packageVersion("emmeans"))
write_json(out, "tests/reference/plan_efficacy.json", digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE,
           matrix = "rowmajor")
