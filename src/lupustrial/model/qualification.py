"""Qualification: the model's virtual patients against published facts, as numbers and plots.

Each check states the published value (or band), its source, the model's population median and
its *basis*: an independent published fact, one that holds by construction (the model's
parameters were derived from the same number), an assumed band (the fact's size is unpublished),
or context (a published value that is not like for like, shown and not checked).
``docs/qualification.md`` lists them (its table is :func:`markdown_table`, kept equal by a test);
a check outside its band is shown as outside, never hidden by widening the band. Concentrations
are read at every infusion end as well as daily, so peaks are the end-of-infusion peaks. The set
qualified is the default, calibrated one unless another is passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from lupustrial.model.dosing import IV, DosingEvents
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population
from lupustrial.protocol import load_protocol, protocol_dosing, regimen_events

DEPLETED = 0.1  # CD19+ below this fraction of the patient's baseline counts as depleted
DEPLETED_UL = 5.0  # cells/µL: the SLE cohorts' threshold, CD19 < 0.005 × 10^9/L (Leandro 2005)
DAYS = np.arange(0.0, 421.0)
# The regimen qualified: BEAT-LUPUS's arms, as its protocol doses them, randomised on this day.
PROTOCOL, RITUXIMAB_ALONE, THEN_BELIMUMAB = "beat-lupus", "Placebo", "Belimumab"
# Belimumab alone: the BLISS IV protocol's 10 mg/kg regimen from day 0, continued for three years, and no drug.
ALONE_PROTOCOL, ALONE_ARM, ALONE_CONTROL = "bliss-iv", "Belimumab 10 mg/kg", "Placebo"
ALONE_DAYS = np.arange(0.0, 3 * 364.0 + 1.0, 7.0)
BELIMUMAB_START = 42.0
DAYS_PER_MONTH = 365.25 / 12
# Steady state: the last full 28-day belimumab interval before day 420, which this dose closes
# (doses at 42, 56, 70, then every 28 days to day 378, the protocol's last).
LAST_DOSE = BELIMUMAB_START + 28.0 * np.floor((DAYS[-1] - BELIMUMAB_START - 28.0) / 28.0)

Basis = Literal["published", "construction", "assumption", "context"]
BASIS_TEXT: dict[str, str] = {
    "published": "independent published value",
    "construction": "holds by construction",
    "assumption": "assumed band",
    "context": "context, not checked",
}


@dataclass(frozen=True)
class Check:
    """One fact: the model's median ``value`` against the band ``low``–``high`` (NaN: no band)."""

    name: str
    value: float
    unit: str
    low: float
    high: float
    source: str
    basis: Basis
    why: str = ""  # for "construction": which parameter was derived from the same number

    @property
    def passed(self) -> bool | None:
        """Within the band; None for context rows, which are shown and not checked."""
        if self.basis == "context":
            return None
        return bool(self.low <= self.value <= self.high)


@dataclass(frozen=True)
class Qualification:
    checks: list[Check]
    times: np.ndarray  # days 0-420 and every infusion end
    curves: dict[str, np.ndarray]  # name -> patients × times (``alone_*``: × ALONE_DAYS)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


# Checks the calibrated set is known to miss; docs/qualification.md says why. A test requires
# every other check to pass.
EXPECTED_MISSES: frozenset[str] = frozenset()

_LABEL = "BENLYSTA US label §12.3 Table 2 [L]"
_FURIE = "Furie et al., Arthritis Res Ther 2008 (ar2506), Table 5"
_BREEDVELD = "Breedveld et al., J Clin Pharmacol 2007 (RA, 2 × 1 g)"
_LE05 = "Leandro et al., Rheumatology 2005;44:1542 (23 of 24 SLE patients)"
_CA08 = "Cambridge et al., Ann Rheum Dis 2008;67:1011, Table 1 (median 6, IQR 4–7 months); Leandro 2005 (3–8 months)"
_CA06 = "Cambridge et al., Arthritis Rheum 2006 (38 ± 33% of baseline, 16 SLE patients; band ±2 SE)"
_VA06 = "Vallerskog et al., Arthritis Res Ther 2006;8:R167: BAFF declined close to pre-treatment upon repopulation"
_JA10 = "Jacobi et al., Arthritis Rheum 2010: total B cells begin to fall between day 84 and day 168"
_ST12 = "Stohl et al., Arthritis Rheum 2012;64:2328 (BLISS-76)"
_GI14 = "Ginzler et al., J Rheumatol 2014;41:300: 40–60% decline over 2–7 years on belimumab"
_PA22 = "Parodis et al., Front Immunol 2022;13:796508: median −12.5% at week 8 in non-flarers, all arms pooled"
_PLUTO = "Brunner et al., Ann Rheum Dis 2020 (PLUTO; doi:10.1136/annrheumdis-2020-217101)"
# Furie 2008, 10 mg/kg cohorts 3 and 7: mean ± SD Cmax (µg/mL); the band spans mean ± SD of both.
_FURIE_CMAX = ((192.4, 34.9), (240.7, 41.7))


def _half_life(times: np.ndarray, conc: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Per-patient half-life from the log-linear slope of concentration between two days."""
    keep = (times >= lo) & (times <= hi)
    slope = np.polyfit(times[keep], np.log(conc[:, keep]).T, 1)[0]
    return np.log(2) / -slope


def _first_time(times: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """First time where mask holds (inf if never)."""
    return np.where(mask.any(axis=1), times[np.argmax(mask, axis=1)], np.inf)


def _infusion_ends(dosing: DosingEvents) -> np.ndarray:
    iv = dosing.route == IV
    return dosing.time[iv] + dosing.duration_day[iv]


def _belimumab_alone(pop, workers: int) -> dict[str, dict[str, np.ndarray]]:
    """Outputs of belimumab 10 mg/kg alone (BLISS IV's regimen, continued for three years, as in its
    continuation study) and of no drug, from day 0."""
    regimen = load_protocol(ALONE_PROTOCOL).arm(ALONE_ARM).dosing[0].model_copy(update={"until_day": ALONE_DAYS[-1]})
    n = pop.n
    dosed = regimen_events(regimen, np.arange(n), pop.covariates["weight_kg"], 0.0)
    return {ALONE_ARM: simulate(pop, dosed, ALONE_DAYS, workers=workers).outputs(),
            ALONE_CONTROL: simulate(pop, dosed.take(np.zeros(len(dosed.patient), dtype=bool)), ALONE_DAYS,
                                    workers=workers).outputs()}


def _pk_checks(times: np.ndarray, bel: np.ndarray, bel1: np.ndarray, rtx: np.ndarray) -> list[Check]:
    """Belimumab and rituximab exposure against the label, Furie 2008, Breedveld 2007 and PLUTO."""
    def at(day: float) -> int:
        return int(np.searchsorted(times, day))

    cmax_ss = bel[:, at(LAST_DOSE - 28.0):at(LAST_DOSE)].max(axis=1)
    trough_ss = bel[:, at(LAST_DOSE)]  # at the dose time, before any of it is infused
    peak_loading = bel[:, at(BELIMUMAB_START + 28.0):at(BELIMUMAB_START + 42.0)].max(axis=1)
    auc = np.trapezoid(bel1, times, axis=1) + bel1[:, -1] * _half_life(times, bel1, 300, 420) / np.log(2)
    (m3, s3), (m7, s7) = _FURIE_CMAX
    med = np.median
    return [
        Check("belimumab Cmax at steady state (end of infusion), 10 mg/kg IV", float(med(cmax_ss)), "µg/mL",
              313 * 0.75, 313 * 1.25, f"313 µg/mL ±25%, population estimate under days 0, 14, 28 then q28d, {_LABEL} "
              "(which dose's peak is not stated)", "published"),
        Check("belimumab Cmax after one 10 mg/kg dose (end of 1-h infusion)", float(med(bel1.max(axis=1))), "µg/mL",
              m3 - s3, m7 + s7, f"{m3:g} ± {s3:g} and {m7:g} ± {s7:g} µg/mL (mean ± SD, 7 patients each; "
              f"band: lower mean − SD to higher mean + SD), {_FURIE}", "published"),
        Check("belimumab AUC0-∞ after one 10 mg/kg dose", float(med(auc)), "day·µg/mL",
              3083 * 0.8, 3083 * 1.2, f"3,083 day·µg/mL ±20%, {_LABEL}", "construction",
              "AUC = dose / CL, and `bel_cl` is the label's 215 mL/day"),
        Check("belimumab terminal half-life", float(med(_half_life(times, bel1, 150, 420))), "day",
              19.4 * 0.85, 19.4 * 1.15, f"19.4 days ±15%, {_LABEL}", "construction",
              "`bel_v1`, `bel_q`, `bel_v2` are solved from this half-life"),
        Check("rituximab terminal half-life after 2 × 1 g", float(med(_half_life(times, rtx, 90, 180))), "day",
              19.0, 22.0, f"mean 19–22 days, {_BREEDVELD}", "construction", "`rtx_v2` is solved from Ng 2006's 20.2 days"),
        Check("belimumab trough at steady state (before the dose)", float(med(trough_ss)), "µg/mL", 45.2, 69.8,
              f"children 5–17 years: week-52 geometric mean 56.2 (95% CI 45.2–69.8) µg/mL, {_PLUTO}; "
              "no adult trough was found", "context"),
        Check("belimumab peak after the third (last loading) dose", float(med(peak_loading)), "µg/mL", np.nan, np.nan,
              "no published value; shows which peak a 'Cmax' can mean", "context"),
    ]


def _rituximab_checks(times: np.ndarray, rtx: dict[str, np.ndarray]) -> list[Check]:
    """B cells, BAFF and anti-dsDNA after rituximab alone against the SLE cohorts."""
    cd19 = rtx["cd19_cells_ul"]
    depleted_day = _first_time(times, cd19 < DEPLETED * cd19[:, :1])
    below = _first_time(times, cd19 < DEPLETED_UL)
    back = _first_time(times, (times[None, :] > below[:, None]) & (cd19 >= DEPLETED_UL))
    baff = rtx["baff_ng_ml"] / rtx["baff_ng_ml"][:, :1]
    after_return = np.searchsorted(times, np.minimum(back + 182.0, times[-1]))
    baff_after = baff[np.arange(len(baff)), after_return][np.isfinite(back) & (back + 182.0 <= times[-1])]
    dsdna = rtx["anti_dsdna_iu_ml"][:, int(np.searchsorted(times, 7 * DAYS_PER_MONTH))] / rtx["anti_dsdna_iu_ml"][:, 0]
    return [
        Check("patients depleted (CD19+ < 10% of baseline) by day 15", float(np.mean(depleted_day <= 15)), "fraction",
              0.95, 1.0, f"all patients by day 15, {_BREEDVELD}", "published"),
        Check("patients depleted below 5 cells/µL (CD19 < 0.005 × 10⁹/L) after rituximab alone",
              float(np.mean(np.isfinite(below))), "fraction", 0.9, 1.0, _LE05, "published"),
        Check("median months to B-cell return (back to ≥ 5 cells/µL) after rituximab alone",
              float(np.median(back[np.isfinite(below)]) / DAYS_PER_MONTH), "month", 4.0, 8.0, _CA08, "published"),
        Check("free BAFF fold-rise after rituximab (peak / baseline)", float(np.median(baff.max(axis=1))), "fold",
              1.5, 4.0, "rise: Carter et al. 2013, Vallerskog et al. 2006; its size is unpublished", "assumption",
              "the peak also sits near `baff_fold_rise` (the rise at complete depletion) by construction"),
        Check("free BAFF 6 months after B-cell return, relative to baseline",
              float(np.median(baff_after)) if baff_after.size else float("nan"), "fold", 0.7, 1.5,
              f"{_VA06}; 'close' read as 0.7–1.5", "assumption"),
        Check("anti-dsDNA 7 months after rituximab alone, mean fraction of baseline", float(np.mean(dsdna)),
              "fraction", 0.38 - 2 * 0.33 / 4, 0.38 + 2 * 0.33 / 4, _CA06, "published"),
    ]


def _belimumab_alone_checks(alone: dict[str, dict[str, np.ndarray]], seq_hr: float) -> list[Check]:
    """Belimumab 10 mg/kg alone against Jacobi 2010, Stohl 2012, Ginzler 2014 and Parodis 2022."""
    bel, ctl = alone[ALONE_ARM], alone[ALONE_CONTROL]

    def ratio(name: str, day: float) -> np.ndarray:
        i = int(np.searchsorted(ALONE_DAYS, day))
        return bel[name][:, i] / ctl[name][:, i]

    year = int(np.searchsorted(ALONE_DAYS, 364.0))
    alone_hr = float(bel["cumulative_flare_hazard"][:, year].mean() / ctl["cumulative_flare_hazard"][:, year].mean())
    return [
        Check("B cells at day 84 of belimumab alone, mean fraction of untreated", float(np.mean(ratio("cd19_cells_ul", 84))),
              "fraction", 0.75, 1.05, f"{_JA10}; read as at least 0.75 (calibration holds the stricter 0.8)", "published"),
        Check("memory B cells at week 52 of belimumab alone, mean fraction of untreated",
              float(np.mean(ratio("memory_cells_ul", 364))), "fraction", 0.8, 1.05,
              f"not decreased, {_ST12}; read as at least 0.8", "assumption"),
        Check("naive B cells at week 52 of belimumab alone, mean fraction of untreated",
              float(np.mean(ratio("naive_cells_ul", 364))), "fraction", 0.0, 0.8,
              f"decreased significantly, {_ST12}; read as at most 0.8", "assumption"),
        Check("anti-dsDNA fall after 2 years of belimumab alone", float(np.median(1.0 - ratio("anti_dsdna_iu_ml", 2 * 364))),
              "fraction", 0.4, 0.6, _GI14, "published"),
        Check("anti-dsDNA fall after 3 years of belimumab alone", float(np.median(1.0 - ratio("anti_dsdna_iu_ml", 3 * 364))),
              "fraction", 0.4, 0.6, f"{_GI14}; shown, as the decline goes on", "context"),
        Check("anti-dsDNA fall at week 8 of belimumab alone", float(np.median(1.0 - ratio("anti_dsdna_iu_ml", 56))),
              "fraction", 0.125, 0.125, _PA22, "context"),
        Check("severe-flare hazard ratio, belimumab after rituximab ÷ belimumab alone (each vs its control)",
              seq_hr / alone_hr, "ratio", 0.0, 1.0, "BEAT-LUPUS 0.27 vs BLISS 0.61 (calibration.md): the combination is "
              "the stronger", "published"),
    ]


def qualify(
    n: int = 500, seed: int = 2021, params: ModelParameters | None = None, *, workers: int = 1
) -> Qualification:
    """Simulate rituximab alone, rituximab then belimumab, a single belimumab dose, and belimumab alone.

    The first three are dosed as BEAT-LUPUS's protocol says (its two arms, and the first dose of
    its belimumab regimen alone), belimumab alone as BLISS IV's 10 mg/kg arm. ``params`` defaults
    to the calibrated set (:func:`~lupustrial.model.parameters.default_parameters`); ``workers``
    threads share the patients without changing the results.
    """
    pop = virtual_population(n, seed, params)
    wt = pop.covariates["weight_kg"]
    protocol = load_protocol(PROTOCOL)

    def arm(name: str) -> DosingEvents:
        return protocol_dosing(protocol, wt, np.full(n, name, dtype=object), np.full(n, BELIMUMAB_START),
                               np.full(n, DAYS[-1]))

    belimumab = protocol.arm(THEN_BELIMUMAB).dosing[0]
    first_dose = belimumab.model_copy(update={"days": [0.0], "every_days": None, "until_day": None,
                                              "infusion_hours": float(belimumab.dose_hours()[0])})
    regimens = {"rtx": arm(RITUXIMAB_ALONE), "seq": arm(THEN_BELIMUMAB),
                "bel1": regimen_events(first_dose, np.arange(n), wt, 0.0)}
    # Every patient shares the dosing days, so one grid holds all infusion ends (the peaks).
    times = np.union1d(DAYS, np.concatenate([_infusion_ends(d) for d in regimens.values()]))
    out = {k: simulate(pop, d, times, workers=workers).outputs() for k, d in regimens.items()}
    rtx, seq = out["rtx"], out["seq"]
    year = (int(np.searchsorted(times, BELIMUMAB_START)), int(np.searchsorted(times, BELIMUMAB_START + 364.0)))
    seq_hr = float(np.diff(seq["cumulative_flare_hazard"][:, year], axis=1).mean()
                   / np.diff(rtx["cumulative_flare_hazard"][:, year], axis=1).mean())
    alone = _belimumab_alone(pop, workers)
    checks = (_pk_checks(times, seq["belimumab_ug_ml"], out["bel1"]["belimumab_ug_ml"], rtx["rituximab_ug_ml"])
              + _rituximab_checks(times, rtx) + _belimumab_alone_checks(alone, seq_hr))
    base = rtx["cd19_cells_ul"][:, :1]
    curves = {
        "belimumab_ug_ml": seq["belimumab_ug_ml"], "belimumab_single_ug_ml": out["bel1"]["belimumab_ug_ml"],
        "rituximab_ug_ml": rtx["rituximab_ug_ml"], "cd19_cells_ul": rtx["cd19_cells_ul"],
        "cd19_cells_ul_belimumab": seq["cd19_cells_ul"], "cd19_rel": rtx["cd19_cells_ul"] / base,
        "baff_rel": rtx["baff_ng_ml"] / rtx["baff_ng_ml"][:, :1],
        "anti_dsdna_rel": rtx["anti_dsdna_iu_ml"] / rtx["anti_dsdna_iu_ml"][:, :1],
        "anti_dsdna_rel_belimumab": seq["anti_dsdna_iu_ml"] / rtx["anti_dsdna_iu_ml"][:, :1],
        **{f"alone_{name}": alone[ALONE_ARM][name] / alone[ALONE_CONTROL][name]
           for name in ("cd19_cells_ul", "memory_cells_ul", "naive_cells_ul", "anti_dsdna_iu_ml")},
    }
    return Qualification(checks, times, curves)


def _result(c: Check) -> str:
    return {True: "within", False: "**outside**", None: "not checked"}[c.passed]


def markdown_table(results: dict[str, Qualification]) -> str:
    """The table of ``docs/qualification.md``: one row per fact, one model column per labelled result.

    The bands, bases and sources are the first result's (every result has the same checks).
    """
    first = next(iter(results.values()))
    n = len(first.curves["cd19_cells_ul"])
    cols = " | ".join(f"model, {label}" for label in results)
    lines = [f"| fact (median of {n} virtual patients) | {cols} | band | basis | source of the band |",
             "|---|" + "---|" * len(results) + "---|---|---|"]
    for i, c in enumerate(first.checks):
        values = " | ".join(f"{r.checks[i].value:.3g} {c.unit} ({_result(r.checks[i])})" for r in results.values())
        band = "—" if np.isnan(c.low) else f"{c.low:.4g}–{c.high:.4g}"
        basis = BASIS_TEXT[c.basis] + (f": {c.why}" if c.why else "")
        lines.append(f"| {c.name} | {values} | {band} | {basis} | {c.source} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Reference:
    """A published value (or assumed band) drawn on a plot, with its full legend text."""

    check: str
    label: str
    kind: Literal["hband", "vband", "vline", "bar", "half_life"]
    where: tuple[float, ...]  # hband/vband: (low, high); vline: (day,); bar: (day, low, high);
    # half_life: (anchor day, half-lives...) drawn through the model median at the anchor day


def _label(c: Check, text: str) -> str:
    return f"assumption: {text}" if c.basis == "assumption" else f"published: {text}"


def panel_references(result: Qualification) -> dict[str, list[Reference]]:
    """Per plot file, the references drawn on it: every checked fact appears on one plot."""
    c = {check.name.split(" (")[0].split(",")[0]: check for check in result.checks}
    ss, single = c["belimumab Cmax at steady state"], c["belimumab Cmax after one 10 mg/kg dose"]
    bel_t, rtx_t, trough = (c["belimumab terminal half-life"], c["rituximab terminal half-life after 2 × 1 g"],
                            c["belimumab trough at steady state"])
    dep, dep5 = c["patients depleted"], c["patients depleted below 5 cells/µL"]
    back, baff = c["median months to B-cell return"], c["free BAFF fold-rise after rituximab"]
    baff_after = c["free BAFF 6 months after B-cell return"]
    dsdna = c["anti-dsDNA 7 months after rituximab alone"]
    b84, mem, naive = (c["B cells at day 84 of belimumab alone"], c["memory B cells at week 52 of belimumab alone"],
                       c["naive B cells at week 52 of belimumab alone"])
    fall3 = c["anti-dsDNA fall after 2 years of belimumab alone"]
    return {
        "belimumab_pk.png": [
            Reference(ss.name, _label(ss, f"label Cmax 313 µg/mL ±25% ({ss.low:.0f}–{ss.high:.0f})"), "bar",
                      (LAST_DOSE - 28.0, ss.low, ss.high)),
            Reference(single.name, _label(single, f"Furie 2008 single-dose Cmax, mean ± SD ({single.low:.0f}–"
                                          f"{single.high:.0f})"), "bar", (0.0, single.low, single.high)),
            Reference(bel_t.name, _label(bel_t, "label terminal t½ 19.4 d, through the model median at day 150"),
                      "half_life", (150.0, 19.4)),
            Reference(trough.name, f"context, children (PLUTO): trough 56.2 µg/mL, 95% CI "
                      f"{trough.low:g}–{trough.high:g}", "bar", (LAST_DOSE, trough.low, trough.high)),
        ],
        "rituximab_pk.png": [
            Reference(rtx_t.name, _label(rtx_t, "Breedveld 2007 terminal t½ 19–22 d, through the model median "
                                         "at day 90"), "half_life", (90.0, 19.0, 22.0)),
        ],
        "cd19.png": [
            Reference(dep.name, _label(dep, "Breedveld 2007: all depleted by day 15"), "vline", (15.0,)),
            Reference(dep5.name, _label(dep5, f"Leandro 2005: 23 of 24 fall below {DEPLETED_UL:g} cells/µL"), "hband",
                      (0.5, DEPLETED_UL)),
            Reference(back.name, _label(back, "Cambridge 2008 / Leandro 2005: return after 4–8 months"), "vband",
                      (back.low * DAYS_PER_MONTH, back.high * DAYS_PER_MONTH)),
        ],
        "baff.png": [
            Reference(baff.name, _label(baff, f"fold-rise {baff.low:g}–{baff.high:g} (size unpublished)"), "hband",
                      (baff.low, baff.high)),
            Reference(baff_after.name, _label(baff_after, "Vallerskog 2006: close to baseline 6 months after the "
                                              "median return"), "bar",
                      (back.value * DAYS_PER_MONTH + 182.0, baff_after.low, baff_after.high)),
        ],
        "anti_dsdna.png": [
            Reference(dsdna.name, _label(dsdna, f"Cambridge 2006: 38 ± 33% at 6–8 months (band ±2 SE, "
                                         f"{dsdna.low:.2f}–{dsdna.high:.2f})"), "bar",
                      (7 * DAYS_PER_MONTH, dsdna.low, dsdna.high)),
        ],
        "belimumab_alone.png": [
            Reference(b84.name, _label(b84, "Jacobi 2010: B cells begin to fall between day 84 and 168"), "bar",
                      (84.0, b84.low, b84.high)),
            Reference(mem.name, _label(mem, "Stohl 2012: memory B cells not decreased at week 52"), "bar",
                      (364.0, mem.low, mem.high)),
            Reference(naive.name, _label(naive, "Stohl 2012: naive B cells decreased at week 52"), "bar",
                      (371.0, naive.low, naive.high)),
            Reference(fall3.name, _label(fall3, "Ginzler 2014: anti-dsDNA 40–60% lower over 2–7 years"), "bar",
                      (2 * 364.0, 1 - fall3.high, 1 - fall3.low)),
        ],
    }


def _band(ax: object, times: np.ndarray, values: np.ndarray, label: str, color: str) -> np.ndarray:
    """Median and 5–95% of the virtual patients; returns the median."""
    lo, mid, hi = np.percentile(values, [5, 50, 95], axis=0)
    ax.fill_between(times, lo, hi, color=color, alpha=0.15, lw=0)
    for edge in (lo, hi):  # edges keep two overlapping bands apart from the grey published ones
        ax.plot(times, edge, color=color, lw=0.6, ls="--")
    ax.plot(times, mid, color=color, label=f"{label} (median, 5–95%)")
    return mid


def _draw(ax: object, ref: Reference, times: np.ndarray, median: np.ndarray) -> None:
    """One reference on the axes, its full label in the legend."""
    if ref.kind == "hband":
        ax.axhspan(*ref.where, color="0.5", alpha=0.2, label=ref.label)
    elif ref.kind == "vband":
        ax.axvspan(*ref.where, color="0.5", alpha=0.15, label=ref.label)
    elif ref.kind == "vline":
        ax.axvline(ref.where[0], color="k", ls=":", lw=1, label=ref.label)
    elif ref.kind == "bar":
        day, lo, hi = ref.where
        ax.plot([day, day], [lo, hi], color="k", lw=5, alpha=0.4, solid_capstyle="butt", label=ref.label)
    else:  # half_life: exponential decay through the model median at the anchor day
        day, *half_lives = ref.where
        t = times[(times >= day) & (times <= day + 90.0)]
        c0 = float(np.interp(day, times, median))
        for i, h in enumerate(half_lives):
            ax.plot(t, c0 * 0.5 ** ((t - day) / h), color="k", ls="-." if i else "--", lw=1,
                    label=ref.label if i == 0 else None)


def plot_qualification(result: Qualification, out: Path) -> list[Path]:
    """One PNG per group of facts: model median and 5–95% band against the published values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    panels = {
        "belimumab_pk.png": ("Belimumab 10 mg/kg IV (end-of-infusion peaks included)",
                             [("belimumab_ug_ml", "from day 42, after rituximab", "C0"),
                              ("belimumab_single_ug_ml", "one dose on day 0", "C2")], "µg/mL", (1e-2, 1e3)),
        "rituximab_pk.png": ("Rituximab 1 g IV days 0 and 14", [("rituximab_ug_ml", "rituximab", "C1")], "µg/mL",
                             (1e-2, 2e3)),
        "cd19.png": ("CD19+ B cells after rituximab", [("cd19_cells_ul", "rituximab alone", "C1"),
                                                       ("cd19_cells_ul_belimumab", "then belimumab", "C0")],
                     "cells/µL", (0.1, 1e3)),
        "baff.png": ("Free BAFF after rituximab, relative to baseline", [("baff_rel", "rituximab alone", "C1")],
                     "fold", None),
        "anti_dsdna.png": ("Anti-dsDNA relative to baseline", [("anti_dsdna_rel", "rituximab alone", "C1"),
                                                               ("anti_dsdna_rel_belimumab", "then belimumab", "C0")],
                           "fraction of baseline", (None, None)),
        "belimumab_alone.png": ("Belimumab 10 mg/kg IV alone, relative to untreated",
                                [("alone_cd19_cells_ul", "CD19+ B cells", "C0"), ("alone_naive_cells_ul", "naive", "C2"),
                                 ("alone_memory_cells_ul", "memory", "C3"), ("alone_anti_dsdna_iu_ml", "anti-dsDNA", "C1")],
                                "fraction of untreated", None),
    }
    references = panel_references(result)
    paths = []
    for name, (title, series, unit, log_limits) in panels.items():  # log_limits None: linear axis
        fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=80)
        times = ALONE_DAYS if name == "belimumab_alone.png" else result.times
        medians = [_band(ax, times, result.curves[key], label, color) for key, label, color in series]
        for ref in references[name]:
            _draw(ax, ref, times, medians[-1])
        if log_limits is not None:
            ax.set_yscale("log")
            ax.set_ylim(*log_limits)
        ax.set(title=title, xlabel="day after the first dose", ylabel=unit)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=1, frameon=False)
        fig.savefig(out / name, bbox_inches="tight")
        plt.close(fig)
        paths.append(out / name)
    return paths


def update_page(doc: Path, results: dict[str, Qualification]) -> None:
    """Replace the table of ``doc`` (its ``| fact (median of …`` block) with :func:`markdown_table`."""
    lines = doc.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| fact (median of"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    doc.write_text("\n".join([*lines[:start], *markdown_table(results).splitlines(), *lines[end:]]) + "\n")


def main(argv: list[str] | None = None) -> None:
    """Regenerate docs/qualification.md's table (calibrated and prior sets) and docs/img/model from the code.

    The repository to update is the current folder or the one named, not the installed
    package's location (an installed package has no docs).
    """
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lupustrial.model.qualification", description=main.__doc__)
    ap.add_argument("repo", nargs="?", type=Path, default=Path("."), help="repository checkout (default: .)")
    root = ap.parse_args(argv).repo
    if not (root / "docs" / "qualification.md").is_file():
        ap.error(f"{root / 'docs' / 'qualification.md'} not found: run from a repository checkout or name one")
    calibrated = qualify(workers=2)
    update_page(root / "docs" / "qualification.md",
                {"calibrated": calibrated, "prior": qualify(params=ModelParameters(), workers=2)})
    plot_qualification(calibrated, root / "docs" / "img" / "model")


if __name__ == "__main__":
    main()
