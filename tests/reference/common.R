# Pieces shared by the method reference scripts (responder_reference.R, counts_reference.R,
# mmrm_reference.R) and the plan references on ADaM files (plan_*_reference.R), so that
# each R computation is written once. Sourced, never run alone:
#   source("tests/reference/common.R")   (from the repository root)
suppressPackageStartupMessages({
  library(MASS)
  library(nlme)
  library(emmeans)
  library(numDeriv)
})

# --- ADaM files ------------------------------------------------------------------------------

# One SAS transport dataset (``name``.xpt in ``dir``) with its text columns as trimmed strings.
read_xpt <- function(dir, name) {
  d <- foreign::read.xport(file.path(dir, paste0(name, ".xpt")))
  for (col in names(d)) if (is.character(d[[col]]) || is.factor(d[[col]])) d[[col]] <- trimws(as.character(d[[col]]))
  d
}

# --- responders ------------------------------------------------------------------------------

# Miettinen-Nurminen score interval for p1 - p2. R has no base function for it and no CRAN
# package for it is installed here (PropCIs, DescTools, ratesci are absent), so it is computed
# from its definition: the restricted MLE under p1 - p2 = delta by uniroot on the constrained
# likelihood's score equation (not the closed-form cubic the Python code uses), the bounds by
# uniroot on the score statistic (d - delta)^2 / V(delta) = qchisq(conf, 1), V with N / (N - 1).
mn_restricted_p2 <- function(x1, n1, x2, n2, delta) {
  lo <- max(0, -delta)
  hi <- min(1, 1 - delta)
  score <- function(p2) {
    p1 <- p2 + delta
    (if (x1 > 0) x1 / p1 else 0) - (if (n1 > x1) (n1 - x1) / (1 - p1) else 0) +
      (if (x2 > 0) x2 / p2 else 0) - (if (n2 > x2) (n2 - x2) / (1 - p2) else 0)
  }
  e <- 1e-13 * (hi - lo)
  if (score(lo + e) <= 0) return(lo)
  if (score(hi - e) >= 0) return(hi)
  uniroot(score, c(lo + e, hi - e), tol = 1e-15, maxiter = 10000)$root
}

mn_interval <- function(x1, n1, x2, n2, conf_level = 0.95) {
  d <- x1 / n1 - x2 / n2
  big_n <- n1 + n2
  crit <- qchisq(conf_level, 1)
  stat <- function(delta) {
    p2 <- mn_restricted_p2(x1, n1, x2, n2, delta)
    p1 <- p2 + delta
    v <- (p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) * big_n / (big_n - 1)
    (d - delta)^2 / v - crit
  }
  edge <- 1 - 1e-12
  lower <- if (d <= -edge) -1 else uniroot(stat, c(-edge, d), tol = 1e-14, maxiter = 10000)$root
  upper <- if (d >= edge) 1 else uniroot(stat, c(d, edge), tol = 1e-14, maxiter = 10000)$root
  list(estimate = d, lower = lower, upper = upper)
}

cmh <- function(tab, correct) {
  m <- mantelhaen.test(tab, correct = correct)
  list(odds_ratio = unname(m$estimate), lower = m$conf.int[1], upper = m$conf.int[2],
       statistic = unname(m$statistic), p_value = m$p.value, method = m$method)
}

# A coefficient matrix (summary(fit)$coefficients, or gls's tTable) as named columns; the test
# statistic's column is called ``statistic`` ("z" for glm, "t" for lm and gls).
coef_table <- function(cf, statistic) {
  setNames(list(rownames(cf), unname(cf[, 1]), unname(cf[, 2]), unname(cf[, 3]), unname(cf[, 4])),
           c("term", "estimate", "se", statistic, "p"))
}

# --- counts ----------------------------------------------------------------------------------

capture <- function(expr) {
  warnings <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    warnings <<- c(warnings, conditionMessage(w))
    invokeRestart("muffleWarning")
  })
  list(value = value, warnings = unique(warnings))
}

# Rates per arm (emmeans at offset 0, response scale) and the treatment / reference rate ratio.
count_results <- function(fit, warnings, treatment, reference) {
  emm <- emmeans(fit, ~ arm, offset = 0)
  s <- summary(emm, type = "response", infer = c(TRUE, FALSE))
  con <- summary(contrast(emm, "trt.vs.ctrl", ref = reference, adjust = "none"),
                 type = "response", infer = TRUE)
  i <- which(as.character(con$contrast) == paste(treatment, "/", reference))
  list(coef = coef_table(summary(fit)$coefficients, "z"),
       loglik = as.numeric(logLik(fit)), deviance = deviance(fit), iterations = fit$iter,
       converged = fit$converged, warnings = I(warnings),
       # emmeans calls the back-transformed column "rate" for poisson, "response" for negbin
       emmeans = list(arm = as.character(s$arm), rate = s[[attr(s, "estName")]], se = s$SE,
                      df = s$df,
                      lower = s$asymp.LCL, upper = s$asymp.UCL),
       ratio = list(contrast = as.character(con$contrast[i]), ratio = con$ratio[i],
                    se = con$SE[i], df = con$df[i], lower = con$asymp.LCL[i],
                    upper = con$asymp.UCL[i], z = con$z.ratio[i], p_value = con$p.value[i]))
}

# --- MMRM ------------------------------------------------------------------------------------

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

# gls's default optimiser (nlminb with its own stopping rule) leaves the covariance parameters
# ~1e-5 (relative) short of the REML optimum, so the fit is polished: Newton steps on the REML
# log-likelihood written out above (checked to equal nlme's logLik) with numDeriv's Richardson
# gradient and Hessian, until no parameter moves by 1e-11; gls is then refitted from the
# polished values (nlminb stops there at once). ``cc``: complete rows sorted by subject and
# visit, with columns subject, visit (factor) and visit_index. Returns the default fit
# (``fit0``), the polished one (``fit``), the REML pieces and the polished theta.
mmrm_polished <- function(form, cc) {
  fit0 <- fit_gls(form, cc)
  parts <- reml_parts(model.matrix(form, cc), cc$y, cc$visit_index, cc$subject, nlevels(cc$visit))
  theta <- parts$theta_of(sigma_hat(fit0, cc))
  stopifnot(abs(parts$reml(theta) - logLik(fit0)) < 1e-8)  # the written-out REML is nlme's
  for (i in 1:10) {
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
  list(fit0 = fit0, fit = fit, parts = parts, theta = theta, covariance = S)
}

# The exact Satterthwaite df of each row k of K: 2 v^2 / (g' H^-1 g), v = k' Var(beta) k,
# g = dv/dtheta (numDeriv jacobian), H the Hessian of minus the REML log-likelihood at the
# optimum (parameterisation-invariant).
satterthwaite_df <- function(polished, K) {
  parts <- polished$parts
  theta <- polished$theta
  H <- -hessian(parts$reml, theta)
  apply(K, 1, function(k) {
    g <- jacobian(function(t) as.numeric(t(k) %*% parts$var_beta(t) %*% k), theta)
    v <- as.numeric(t(k) %*% vcov(polished$fit) %*% k)
    2 * v^2 / as.numeric(g %*% solve(H, t(g)))
  })
}
