"""Qualification: the model's virtual patients against published facts, as numbers and plots.

Each check states the published value (or band), its source, and the model's population
median; ``docs/qualification.md`` lists them (its table is :func:`markdown_table`, kept equal
by a test) and the tests require every band to hold. Bands marked assumption come from facts
whose size is not published (see the reference files) and are wide on purpose. The set
qualified is the default, calibrated one unless another is passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lupustrial.model.dosing import DosingEvents, beat_lupus_dosing
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import simulate
from lupustrial.population.virtual import virtual_population

DEPLETED = 0.1  # CD19+ below this fraction of the patient's baseline counts as depleted
DAYS = np.arange(0.0, 421.0)
BELIMUMAB_START = 42.0


@dataclass(frozen=True)
class Check:
    name: str
    value: float
    unit: str
    low: float
    high: float
    source: str

    @property
    def passed(self) -> bool:
        return bool(self.low <= self.value <= self.high)


@dataclass(frozen=True)
class Qualification:
    checks: list[Check]
    curves: dict[str, np.ndarray]  # name -> patients × DAYS
    trough_ug_ml: float  # steady-state belimumab trough: shown, no published value to check


def _terminal_half_life(conc: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per-patient half-life from the log-linear slope of concentration between two days."""
    slope = np.polyfit(DAYS[lo:hi], np.log(conc[:, lo:hi]).T, 1)[0]
    return np.log(2) / -slope


def _first_day(mask: np.ndarray) -> np.ndarray:
    """First day index where mask holds (inf if never)."""
    return np.where(mask.any(axis=1), DAYS[np.argmax(mask, axis=1)], np.inf)


def qualify(
    n: int = 500, seed: int = 2021, params: ModelParameters | None = None, *, workers: int = 1
) -> Qualification:
    """Simulate rituximab alone, rituximab then belimumab, and a single belimumab dose.

    ``params`` defaults to the calibrated set (:func:`~lupustrial.model.parameters.default_parameters`);
    ``workers`` threads share the patients without changing the results.
    """
    pop = virtual_population(n, seed, params)
    wt = pop.covariates["weight_kg"]

    def run(dosing: DosingEvents) -> dict[str, np.ndarray]:
        return simulate(pop, dosing, DAYS, workers=workers).outputs()

    rtx = run(beat_lupus_dosing(wt, "placebo", 0.0, DAYS[-1]))
    seq = run(beat_lupus_dosing(wt, "belimumab", BELIMUMAB_START, DAYS[-1]))
    bel1 = run(DosingEvents.regimen(np.arange(n), "belimumab", np.array([0.0]), 10.0 * wt,
                                    infusion_hours=1.0))["belimumab_ug_ml"]

    # Steady state: the last full 28-day interval before day 420 (doses at 42 + 28 + 28k).
    last_dose = BELIMUMAB_START + 28.0 * np.floor((DAYS[-1] - BELIMUMAB_START - 28.0) / 28.0)
    interval = (DAYS >= last_dose - 28.0) & (DAYS < last_dose)
    c_ss = seq["belimumab_ug_ml"][:, interval]
    auc = np.trapezoid(bel1, DAYS, axis=1) + bel1[:, -1] * _terminal_half_life(bel1, 300, 420) / np.log(2)

    cd19 = rtx["cd19_cells_ul"]
    base = cd19[:, :1]
    depleted_day = _first_day(cd19 < DEPLETED * base)
    after = DAYS[None, :] > depleted_day[:, None]
    repop_day = _first_day(after & (cd19 >= DEPLETED * base))
    baff = rtx["baff_ng_ml"]
    dsdna = rtx["anti_dsdna_iu_ml"]
    label = "BENLYSTA US label §12.3 [L]"
    checks = [
        Check("belimumab Cmax at steady state, 10 mg/kg IV", float(np.median(c_ss.max(axis=1))), "µg/mL",
              313 * 0.75, 313 * 1.25, f"313 µg/mL ±25%, {label}"),
        Check("belimumab AUC0-∞ after one 10 mg/kg dose", float(np.median(auc)), "day·µg/mL",
              3083 * 0.8, 3083 * 1.2, f"3,083 day·µg/mL ±20%, {label}"),
        Check("belimumab terminal half-life", float(np.median(_terminal_half_life(bel1, 150, 420))), "day",
              19.4 * 0.85, 19.4 * 1.15, f"19.4 days ±15%, {label}"),
        Check("rituximab terminal half-life after 2 × 1 g", float(np.median(_terminal_half_life(rtx["rituximab_ug_ml"], 90, 180))),
              "day", 19.0, 22.0, "mean 19–22 days, Breedveld et al., J Clin Pharmacol 2007"),
        Check("patients depleted (CD19+ < 10% of baseline) by day 15", float(np.mean(depleted_day <= 15)), "fraction",
              0.95, 1.0, "all patients by day 15, Breedveld et al. 2007 (RA)"),
        Check("median time to B-cell repopulation (CD19+ back to 10% of baseline)", float(np.median(repop_day)), "day",
              180.0, 365.0, "depletion ~6 months, repopulation by 9–12 months: Lu et al., Ann Rheum Dis 2008;67:1493"),
        Check("free BAFF fold-rise after rituximab (peak / baseline)", float(np.median(baff.max(axis=1) / baff[:, 0])),
              "fold", 1.5, 4.0, "rise: Carter et al. 2013, Vallerskog et al. 2006; size: assumption band 1.5–4"),
        Check("anti-dsDNA fall at week 26 with rituximab alone", float(np.median(1.0 - dsdna[:, 182] / dsdna[:, 0])),
              "fraction", 0.1, 0.8, "falls only partly (long-lived plasma cells escape): assumption band"),
    ]
    curves = {
        "belimumab_ug_ml": seq["belimumab_ug_ml"], "rituximab_ug_ml": rtx["rituximab_ug_ml"],
        "cd19_rel": cd19 / base, "cd19_rel_belimumab": seq["cd19_cells_ul"] / base,
        "baff_rel": baff / baff[:, :1], "anti_dsdna_rel": dsdna / dsdna[:, :1],
        "anti_dsdna_rel_belimumab": seq["anti_dsdna_iu_ml"] / dsdna[:, :1],
    }
    return Qualification(checks, curves, float(np.median(c_ss.min(axis=1))))


def markdown_table(results: dict[str, Qualification]) -> str:
    """The table of ``docs/qualification.md``: one row per fact, one model column per labelled result.

    The bands and sources are the first result's (every result has the same checks); the
    belimumab trough closes the table, shown but not checked.
    """
    first = next(iter(results.values()))
    n = len(first.curves["cd19_rel"])
    cols = " | ".join(f"model, {label}" for label in results)
    lines = [f"| fact (median of {n} virtual patients) | {cols} | band checked | source of the band |",
             "|---|" + "---|" * len(results) + "---|---|"]
    for i, c in enumerate(first.checks):
        values = " | ".join(f"{r.checks[i].value:.3g} {c.unit}" for r in results.values())
        lines.append(f"| {c.name} | {values} | {c.low:.4g}–{c.high:.4g} | {c.source} |")
    troughs = " | ".join(f"{r.trough_ug_ml:.3g} µg/mL" for r in results.values())
    lines.append(f"| belimumab trough at steady state | {troughs} | not checked | "
                 "no published trough in `shared/reference` |")
    return "\n".join(lines)


def _band(ax: object, values: np.ndarray, label: str, color: str) -> None:
    lo, mid, hi = np.percentile(values, [5, 50, 95], axis=0)
    ax.fill_between(DAYS, lo, hi, color=color, alpha=0.15, lw=0)
    for edge in (lo, hi):  # edges keep two overlapping bands apart from the grey published ones
        ax.plot(DAYS, edge, color=color, lw=0.6, ls="--")
    ax.plot(DAYS, mid, color=color, label=f"{label} (median, 5–95%)")


def plot_qualification(result: Qualification, out: Path) -> list[Path]:
    """One PNG per published fact: model median and 5–95% band against the published value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    c = result.checks
    panels = [
        ("belimumab_pk.png", "Belimumab 10 mg/kg IV from day 42", [("belimumab_ug_ml", "belimumab", "C0")], "µg/mL",
         [c[0]], False),
        ("rituximab_pk.png", "Rituximab 1 g IV days 0 and 14", [("rituximab_ug_ml", "rituximab", "C1")], "µg/mL", [], True),
        ("cd19.png", "CD19+ B cells relative to baseline", [("cd19_rel", "rituximab alone", "C1"),
                                                          ("cd19_rel_belimumab", "then belimumab", "C0")],
         "fraction of baseline", [], True),
        ("baff.png", "Free BAFF after rituximab, relative to baseline", [("baff_rel", "rituximab alone", "C1")], "fold",
         [c[6]], False),
        ("anti_dsdna.png", "Anti-dsDNA relative to baseline", [("anti_dsdna_rel", "rituximab alone", "C1"),
                                                               ("anti_dsdna_rel_belimumab", "then belimumab", "C0")],
         "fraction of baseline", [], True),
    ]
    paths = []
    for name, title, series, unit, hbands, log in panels:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=80)
        for key, label, color in series:
            _band(ax, result.curves[key], label, color)
        for chk in hbands:
            ax.axhspan(chk.low, chk.high, color="0.5", alpha=0.2, label=f"published: {chk.source}"[:70])
        if name == "cd19.png":
            ax.axhline(DEPLETED, color="k", ls=":", lw=1, label="depletion threshold")
            ax.axvspan(c[5].low, c[5].high, color="0.5", alpha=0.15, label="published repopulation window")
        if name == "anti_dsdna.png":
            ax.axvline(182, color="k", ls=":", lw=1)
            ax.plot([182, 182], [1 - c[7].high, 1 - c[7].low], color="k", lw=4, alpha=0.4, label="assumed band, week 26")
        if log:
            ax.set_yscale("log")
        ax.set(title=title, xlabel="day after first rituximab infusion", ylabel=unit)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        paths.append(out / name)
    return paths
