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
# Two things need care to compare at 1e-6:
# 1. gls's default optimiser (nlminb with its own stopping rule) leaves the covariance
#    parameters ~1e-5 (relative) short of the REML optimum. The fit is therefore polished:
#    Newton steps on the REML log-likelihood (written out below in terms of the Cholesky factor
#    of the covariance matrix and checked to equal nlme's logLik), with numDeriv's Richardson
#    gradient and Hessian, until no parameter moves by 1e-11; gls is then refitted from the
#    polished values (nlminb stops there at once) and emmeans run on that fit. The default
#    fit's log-likelihood and covariance are kept too ("default_fit") to show the gap.
# 2. emmeans' default df for gls with corSymm is "appx-satterthwaite", which refits the model
#    to data perturbed by random noise (rnorm), so its df differs from call to call (two
#    calls are recorded). The fixture holds mode = "df.error" (deterministic; tested as such)
#    and the exact Satterthwaite df, 2 v^2 / (g' H^-1 g) with v = k' Var(beta) k, g = dv/dtheta
#    (numDeriv jacobian) and H the Hessian of minus the REML log-likelihood at the optimum
#    (numDeriv), which is parameterisation-invariant; intervals and p-values use those df.
# R 4.2, nlme 3.1, emmeans 1.8, numDeriv.
suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(numDeriv)
  library(jsonlite)
})

out_dir <- "tests/reference"

# REML log-likelihood of the unstructured model, theta = lower triangle of chol(Sigma) by rows.
reml_parts <- function(X, y, vidx, subj, nv) {
  rows <- split(seq_along(y), subj)
  sigma_of <- function(theta) {
    L <- matrix(0, nv, nv)
    L[upper.tri(L, diag = TRUE)] <- theta  # column-major upper = row-major lower of t(L)
    L <- t(L)
    L %*% t(L)
  }
  xtwx <- function(S) {
    A <- 0
    for (ix in rows) A <- A + crossprod(X[ix, , drop = FALSE], solve(S[vidx[ix], vidx[ix], drop = FALSE], X[ix, , drop = FALSE]))
    A
  }
  reml <- function(theta) {
    S <- sigma_of(theta)
    A <- xtwx(S)
    b <- 0
    for (ix in rows) b <- b + crossprod(X[ix, , drop = FALSE], solve(S[vidx[ix], vidx[ix], drop = FALSE], y[ix]))
    beta <- solve(A, b)
    q <- 0
    ld <- 0
    for (ix in rows) {
      Si <- S[vidx[ix], vidx[ix], drop = FALSE]
      r <- y[ix] - X[ix, , drop = FALSE] %*% beta
      q <- q + sum(r * solve(Si, r))
      ld <- ld + as.numeric(determinant(Si)$modulus)
    }
    -0.5 * (ld + as.numeric(determinant(A)$modulus) + q + (length(y) - ncol(X)) * log(2 * pi))
  }
  list(sigma_of = sigma_of, reml = reml, var_beta = function(theta) solve(xtwx(sigma_of(theta))),
       theta_of = function(S) { L <- t(chol(S)); t(L)[upper.tri(L, diag = TRUE)] })
}

fit_gls <- function(form, d, cs = NULL, vs = NULL) {
  cor <- if (is.null(cs)) corSymm(form = ~ visit_index | subject) else corSymm(value = cs, form = ~ visit_index | subject)
  wts <- if (is.null(vs)) varIdent(form = ~ 1 | visit) else varIdent(value = vs, form = ~ 1 | visit)
  # inlined so that update() (used by emmeans' appx-satterthwaite) can re-evaluate the call
  eval(bquote(gls(.(form), data = d, correlation = .(cor), weights = .(wts), method = "REML")))
}

sigma_hat <- function(fit, d) {
  full <- names(which(table(d$subject) == nlevels(d$visit)))[1]  # a subject with every visit
  unclass(getVarCov(fit, individual = full))[, , drop = FALSE]
}

inference <- function(estimate, se, df, level = 0.95) {
  half <- qt(0.5 + level / 2, df) * se
  list(df = df, lower = estimate - half, upper = estimate + half, t = estimate / se,
       p_value = 2 * pt(-abs(estimate / se), df))
}

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

  fit0 <- fit_gls(form, cc)
  X <- model.matrix(form, cc)
  parts <- reml_parts(X, cc$y, cc$visit_index, cc$subject, nlevels(cc$visit))
  theta <- parts$theta_of(sigma_hat(fit0, cc))
  stopifnot(abs(parts$reml(theta) - logLik(fit0)) < 1e-8)  # the written-out REML is nlme's
  for (i in 1:10) {  # Newton polish
    step <- solve(hessian(parts$reml, theta), grad(parts$reml, theta))
    theta <- theta - step
    if (max(abs(step)) < 1e-11) break
  }
  S <- parts$sigma_of(theta)
  sds <- sqrt(diag(S))
  R <- S / outer(sds, sds)
  vs <- setNames(sds[-1] / sds[1], levels(cc$visit)[-1])
  fit <- fit_gls(form, cc, cs = R[lower.tri(R)], vs = vs)
  stopifnot(max(abs(sigma_hat(fit, cc) - S)) < 1e-8 * max(abs(S)))

  emm <- emmeans(fit, ~ arm | visit, data = cc, mode = "df.error")
  con <- contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none")
  s_emm <- summary(emm, infer = c(TRUE, FALSE))
  s_con <- summary(con, infer = TRUE)
  pick <- as.character(s_con$contrast) == paste(treatment, "-", reference)
  H <- -hessian(parts$reml, theta)
  satt <- function(K) apply(K, 1, function(k) {
    g <- jacobian(function(t) as.numeric(t(k) %*% parts$var_beta(t) %*% k), theta)
    v <- as.numeric(t(k) %*% vcov(fit) %*% k)
    2 * v^2 / as.numeric(g %*% solve(H, t(g)))
  })
  df_emm <- satt(emm@linfct)
  df_con <- satt(con@linfct[pick, , drop = FALSE])
  appx <- function() suppressMessages(summary(emmeans(fit0, ~ arm | visit, data = cc))$df)
  tt <- summary(fit)$tTable
  res <- list(
    treatment = treatment, reference = reference, covariate_names = I(covariates),
    data = c(list(y = d$y, subject = d$subject, visit = d$visit, arm = d$arm),
             if (baseline) list(baseline = d$baseline), d[covariates]),
    visits = as.character(visits), arms = arms,
    n_subjects = length(unique(cc$subject)), n_observations = nrow(cc),
    reml_loglik = as.numeric(logLik(fit)), covariance = S,
    coef = list(term = rownames(tt), estimate = unname(tt[, 1]), se = unname(tt[, 2]),
                t = unname(tt[, 3]), p = unname(tt[, 4])),
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
