# Reference fixtures for lupustrial.analysis.ae (adverse-event tables).
#
# Run from the repository root:  Rscript tests/reference/ae_reference.R
# Writes tests/reference/ae_<case>.json: a synthetic ADSL and ADAE and, per table row, the
# subject and event counts per arm with R's fisher.test (subjects with >= 1 event vs not) and
# poisson.test (events per patient-year, treatment / reference). R 4.2.2 (stats).
suppressPackageStartupMessages(library(jsonlite))

out_dir <- "tests/reference"
infection_soc <- "Infections and infestations"

row_stats <- function(level, soc, term, ae, adsl, trt, ref) {
  py <- tapply(adsl$TRTDURD, adsl$TRT01A, sum)[c(trt, ref)] / 365.25
  n <- table(factor(adsl$TRT01A, levels = c(trt, ref)))
  arm_of <- setNames(adsl$TRT01A, adsl$USUBJID)[ae$USUBJID]
  events <- table(factor(arm_of, levels = c(trt, ref)))
  subjects <- sapply(c(trt, ref), function(a) length(unique(ae$USUBJID[arm_of == a])))
  fisher <- fisher.test(matrix(c(subjects, n - subjects), 2))
  pois <- if (sum(events) > 0) {
    poisson.test(as.numeric(events), as.numeric(py))
  } else {
    list(estimate = NA, conf.int = c(NA, NA), p.value = NA)  # R refuses 0 events in total
  }
  list(level = level, body_system = soc, term = term,
       subjects = unname(as.numeric(subjects)), events = unname(as.numeric(events)),
       n = unname(as.numeric(n)), patient_years = unname(as.numeric(py)),
       fisher_p = fisher$p.value, rate_ratio = unname(pois$estimate),
       rate_ratio_lower = pois$conf.int[1], rate_ratio_upper = pois$conf.int[2],
       rate_ratio_p = pois$p.value)
}

write_case <- function(name, adsl, adae, trt, ref) {
  rows <- list(
    row_stats("overall", "", "Any adverse event", adae, adsl, trt, ref),
    row_stats("overall", "", "Any serious adverse event", adae[adae$AESER == "Y", ], adsl, trt, ref),
    row_stats("overall", "", "Any infection", adae[adae$AEBODSYS == infection_soc, ], adsl, trt, ref),
    row_stats("overall", "", "Any severe adverse event", adae[adae$AESEV == "SEVERE", ], adsl, trt, ref))
  for (soc in sort(unique(adae$AEBODSYS))) {
    in_soc <- adae[adae$AEBODSYS == soc, ]
    rows[[length(rows) + 1]] <- row_stats("body_system", soc, "", in_soc, adsl, trt, ref)
    for (pt in sort(unique(in_soc$AEDECOD))) {
      rows[[length(rows) + 1]] <- row_stats("preferred_term", soc, pt,
                                            in_soc[in_soc$AEDECOD == pt, ], adsl, trt, ref)
    }
  }
  adsl$TRTSDT <- format(adsl$TRTSDT)
  adsl$TRTEDT <- format(adsl$TRTEDT)
  write_json(list(treatment = trt, reference = ref, adsl = adsl, adae = adae, rows = rows,
                  generated_by = sprintf("tests/reference/ae_reference.R (R %s)", getRversion())),
             file.path(out_dir, sprintf("ae_%s.json", name)),
             digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE, dataframe = "columns")
}

make_adsl <- function(n_trt, n_ref, trt, ref) {
  n <- n_trt + n_ref
  dur <- sample(120:380, n, replace = TRUE)
  start <- as.Date("2017-02-02") + sample(0:780, n, replace = TRUE)
  data.frame(USUBJID = sprintf("BEAT-%03d", seq_len(n)), TRT01A = rep(c(trt, ref), c(n_trt, n_ref)),
             TRTSDT = start, TRTEDT = start + dur - 1, TRTDURD = dur)
}

terms <- data.frame(
  AEBODSYS = c(infection_soc, infection_soc, infection_soc, "Infections and infestations",
               "Nervous system disorders", "Nervous system disorders",
               "Gastrointestinal disorders", "Skin and subcutaneous tissue disorders"),
  AEDECOD = c("Upper respiratory tract infection", "Urinary tract infection", "Herpes zoster",
              "Pneumonia", "Headache", "Dizziness", "Nausea", "Rash"),
  prob = c(0.25, 0.15, 0.05, 0.05, 0.2, 0.08, 0.14, 0.08))

make_adae <- function(adsl, rate) {
  k <- rpois(nrow(adsl), rate[adsl$TRT01A] * adsl$TRTDURD / 365.25)
  subj <- rep(seq_len(nrow(adsl)), k)
  pick <- sample(nrow(terms), length(subj), replace = TRUE, prob = terms$prob)
  data.frame(USUBJID = adsl$USUBJID[subj], AEDECOD = terms$AEDECOD[pick],
             AEBODSYS = terms$AEBODSYS[pick],
             AESER = sample(c("Y", "N"), length(subj), replace = TRUE, prob = c(0.12, 0.88)),
             AESEV = sample(c("MILD", "MODERATE", "SEVERE"), length(subj), replace = TRUE,
                            prob = c(0.55, 0.35, 0.10)),
             ASTDY = vapply(subj, function(i) sample(adsl$TRTDURD[i], 1), numeric(1)))
}

set.seed(2021)
adsl <- make_adsl(26, 26, "belimumab", "placebo")
adae <- make_adae(adsl, c(belimumab = 4, placebo = 3))
# Zero-count rows in each direction: terms seen in one arm only.
adae <- adae[!(adae$AEDECOD == "Herpes zoster" & adsl$TRT01A[match(adae$USUBJID, adsl$USUBJID)] == "placebo"), ]
adae <- adae[!(adae$AEDECOD == "Pneumonia" & adsl$TRT01A[match(adae$USUBJID, adsl$USUBJID)] == "belimumab"), ]
write_case("trial", adsl, adae, "belimumab", "placebo")

# Sparse: few mild events, so the SAE and severe rows have no events in either arm.
set.seed(11)
adsl <- make_adsl(9, 7, "active", "control")
adae <- make_adae(adsl, c(active = 0.8, control = 1.5))
adae$AESER <- "N"
adae$AESEV <- "MILD"
write_case("sparse", adsl, adae, "active", "control")
