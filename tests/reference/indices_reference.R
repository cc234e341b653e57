# Independent R implementation of the lupustrial.indices derivation, run on the bundled
# example visits (src/lupustrial/indices/examples/visits.csv). Writes indices_example.json:
# per-visit SLEDAI-2K (30- and 10-day laboratory windows), clinical SLEDAI, numeric
# BILAG-2004, time to first severe / moderate-or-severe flare, every flare counted with its
# follow-up, responder flags (with MCR) and the percent of observed time in LLDAS.
# Rules: Gladman 2002 (SLEDAI-2K), Yee 2010 (BILAG numeric), flares = new grade vs previous
# visit, Furie 2009 (SRI), Wallace 2014 (BICLA), Franklyn 2016 / Oon 2019 (LLDAS), van Vollenhoven
# 2021 (DORIS), Shipa 2023 (MCR), Golder 2019 (time in LLDAS) -- see docs/indices.md.
# Laboratory records labelled with a visit's AVISITN belong to it; others count for a visit
# when day - window < lab day <= day + 3. Run from the repository root:
#   Rscript tests/reference/indices_reference.R
library(jsonlite)

v <- read.csv("src/lupustrial/indices/examples/visits.csv", stringsAsFactors = FALSE, na.strings = "")
weights <- c(SEIZURE = 8, PSYCHOS = 8, OBS = 8, VISUAL = 8, CRANIAL = 8, HEADACHE = 8, CVA = 8, VASCUL = 8,
             ARTHRIT = 4, MYOSIT = 4, CASTS = 4, HEMATUR = 4, PROTEIN = 4, PYURIA = 4,
             RASH = 2, ALOPEC = 2, MUCOSAL = 2, PLEUR = 2, PERICARD = 2, LOWCOMP = 2, DNA = 2,
             FEVER = 1, THROMBO = 1, LEUKOP = 1)
serology <- c("LOWCOMP", "DNA")
major <- c("SEIZURE", "PSYCHOS", "OBS", "VISUAL", "CRANIAL", "HEADACHE", "CVA", "VASCUL",
           "CASTS", "HEMATUR", "PROTEIN", "PYURIA", "PLEUR", "PERICARD", "FEVER")
domains <- c("BLGCONS", "BLGMUCO", "BLGNEURO", "BLGMUSC", "BLGCARD", "BLGGI", "BLGOPHT", "BLGRENAL", "BLGHAEM")
gscore <- c(A = 12, B = 8, C = 1, D = 0, E = 0)
labs <- c("PLAT", "WBC", "UPROT", "URBC", "UWBC", "C3", "C4", "CH50", "DSDNA")
lab_item <- c(PLAT = "THROMBO", WBC = "LEUKOP", UPROT = "PROTEIN", URBC = "HEMATUR", UWBC = "PYURIA",
              C3 = "LOWCOMP", C4 = "LOWCOMP", CH50 = "LOWCOMP", DSDNA = "DNA")
lab_hit <- function(p, x, lo, hi) {
  switch(p, PLAT = x < 100, WBC = x < 3, UPROT = x > 0.5, URBC = x > 5, UWBC = x > 5,
         C3 = x < lo, C4 = x < lo, CH50 = x < lo, DSDNA = x > hi)
}

items_at <- function(rows, sublabs, a, visitns, day, window, by_visit) {
  it <- setNames(rep(NA, length(weights)), names(weights))
  rec <- rows[rows$PARAMCD %in% names(weights), ]
  it[rec$PARAMCD] <- rec$AVAL == 1
  near <- sublabs$ADY > day - window & sublabs$ADY <= day + 3
  keep <- if (by_visit) sublabs$AVISITN == a | (!sublabs$AVISITN %in% visitns & near) else near
  w <- sublabs[keep, ]
  for (i in seq_len(nrow(w))) {
    code <- lab_item[[w$PARAMCD[i]]]
    if (code %in% rec$PARAMCD) next
    hit <- lab_hit(w$PARAMCD[i], w$AVAL[i], w$ANRLO[i], w$ANRHI[i])
    it[code] <- isTRUE(it[code]) || hit
  }
  it
}

flare_level <- function(before, after) {
  lev <- ifelse(after == "A" & before %in% c("B", "C", "D", "E"), 3,
         ifelse(after == "B" & before %in% c("C", "D", "E"), 2,
         ifelse(after == "C" & before %in% c("D", "E"), 1, 0)))
  max(lev)
}

scores <- list(); tte <- list(); rsp <- list(); counts <- list(); ltime <- list()
for (s in sort(unique(v$USUBJID))) {
  sub <- v[v$USUBJID == s, ]
  sublabs <- sub[sub$PARAMCD %in% labs, ]
  clin <- sub[!sub$PARAMCD %in% labs, ]
  vis <- list()
  for (a in sort(unique(clin$AVISITN))) {
    rows <- clin[clin$AVISITN == a, ]
    day <- max(rows$ADY)
    val <- function(p) { r <- rows$AVAL[rows$PARAMCD == p]; if (length(r)) r else NA }
    it30 <- items_at(rows, sublabs, a, unique(clin$AVISITN), day, 30, TRUE)
    it10 <- items_at(rows, sublabs, a, unique(clin$AVISITN), day, 10, FALSE)
    g <- setNames(rows$AVALC[match(domains, rows$PARAMCD)], domains)
    vis[[length(vis) + 1]] <- list(
      avisitn = a, day = day, items = it30, grades = g,
      sledai = if (anyNA(it30)) NA else sum(weights[names(it30)][it30]),
      sledai10 = if (anyNA(it10)) NA else sum(weights[names(it10)][it10]),
      csledai = if (anyNA(it30[!names(it30) %in% serology])) NA else
        sum(weights[names(it30)][it30 & !names(it30) %in% serology]),
      bilag = sum(gscore[g]), pga = val("PGA"), pred = val("PREDDOSE"), maint = val("MAINTOK") == 1,
      stable = val("STABLEOK") == 1, fail = val("TRTFAIL") == 1, haem = val("HAEMOLYS") == 1)
    x <- vis[[length(vis)]]
    scores[[length(scores) + 1]] <- list(USUBJID = s, AVISITN = a, SLEDAI2K = x$sledai,
                                         SLEDAI2K_10 = x$sledai10, CSLEDAI = x$csledai, BILAGNUM = x$bilag)
  }
  # Flares between consecutive BILAG visits, counted on or after day 1.
  lev <- sapply(seq_along(vis), function(i) if (i == 1) 0 else flare_level(vis[[i - 1]]$grades, vis[[i]]$grades))
  days <- sapply(vis, `[[`, "day")
  for (p in list(c("TTSEVFL", 3), c("TTMODFL", 2))) {
    ev <- which(lev >= as.numeric(p[2]) & days >= 1)
    tte[[length(tte) + 1]] <- list(USUBJID = s, PARAMCD = p[1],
                                   AVAL = if (length(ev)) days[ev[1]] else max(days), CNSR = as.integer(!length(ev)))
  }
  for (p in list(c("NSEVFL", 3), c("NMODFL", 2), c("NMILDFL", 1))) {
    counts[[length(counts) + 1]] <- list(USUBJID = s, PARAMCD = p[1], AVAL = sum(lev == as.numeric(p[2]) & days >= 1),
                                         FUDAYS = max(days[days >= 1]))
  }
  in_lldas <- c(); gap <- c()
  base <- vis[[1]]
  for (i in seq_along(vis)[-1]) {
    cur <- vis[[i]]; prev <- vis[[i - 1]]
    new_a <- sum(cur$grades == "A" & base$grades != "A")
    new_b <- sum(cur$grades == "B" & base$grades %in% c("C", "D", "E"))
    no_worse <- new_a == 0 && new_b <= 1 && (cur$pga - base$pga) < 0.3 - 1e-9 && !cur$fail
    out <- list()
    for (k in 4:8) out[[paste0("SRI", k)]] <- (base$sledai - cur$sledai >= k) && no_worse
    ord <- function(x) match(x, c("A", "B", "C", "D", "E"))
    improved <- all(ord(cur$grades[base$grades %in% c("A", "B")]) > ord(base$grades[base$grades %in% c("A", "B")]))
    out$BICLA <- improved && cur$sledai <= base$sledai && no_worse
    present <- names(cur$items)[cur$items]
    out$LLDAS <- cur$sledai <= 4 && !any(present %in% major) && !cur$haem &&
      !(cur$grades[["BLGGI"]] %in% c("A", "B", "C")) && all(present %in% names(prev$items)[prev$items]) &&
      cur$pga <= 1 && cur$pred <= 7.5 && cur$maint
    worse <- any((cur$grades == "A" & prev$grades != "A") | (cur$grades == "B" & prev$grades %in% c("C", "D", "E")))
    out$LLDAS <- out$LLDAS && !worse
    out$DORIS <- cur$csledai == 0 && cur$pga < 0.5 && cur$pred <= 5 && cur$stable
    no_dna <- sum(weights[names(cur$items)][cur$items & names(cur$items) != "DNA"])
    out$MCR <- !any(cur$grades %in% c("A", "B")) && cur$pred <= 7.5 && no_dna <= 2
    in_lldas <- c(in_lldas, out$LLDAS); gap <- c(gap, cur$day - prev$day)
    for (e in names(out)) {
      rsp[[length(rsp) + 1]] <- list(USUBJID = s, AVISITN = cur$avisitn, PARAMCD = e,
                                     AVALC = if (out[[e]]) "Y" else "N")
    }
  }
  ltime[[length(ltime) + 1]] <- list(USUBJID = s, LLDASPCT = 100 * sum(gap[in_lldas]) / sum(gap),
                                     LLDASPCT_VISITS = 100 * mean(in_lldas))
}

bind <- function(x) do.call(rbind, lapply(x, as.data.frame, stringsAsFactors = FALSE))
write_json(list(scores = bind(scores), adtte = bind(tte), adrsp = bind(rsp), counts = bind(counts),
                lldas_time = bind(ltime)),
           "tests/reference/indices_example.json", digits = NA, na = "string", auto_unbox = TRUE)
