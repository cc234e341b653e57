"""The results of one trial's analysis as rich tables on the terminal.

Laid out as a trial report's results section reads: primary endpoint, time to first severe
flare, B cells, then safety.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from lupustrial.analysis.ancova import ArmMean
from lupustrial.analysis.trial import TrialAnalysis


def _num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def _ci(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{_num(est, digits)} ({_num(lo, digits)} to {_num(hi, digits)})"


def _p(p: float) -> str:
    if math.isnan(p):
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _gm(m: ArmMean) -> str:
    return _ci(m.geometric_mean, m.lower, m.upper)


def render_analysis(result: TrialAnalysis, console: Console) -> None:
    """Print the BEAT-LUPUS results tables for one trial."""
    trt, ref = result.treatment, result.reference
    conf = int(round(result.primary.conf_level * 100))
    console.print(f"[bold]Trial:[/] {result.source}   randomised: "
                  + ", ".join(f"{a} {n}" for a, n in result.randomised.items()))

    prim = result.primary
    t = Table(title=f"Primary endpoint: {result.primary_param} at week {result.primary_visit:g} "
              "(ANCOVA on log scale, adjusted for log baseline)", title_justify="left")
    t.add_column("")
    t.add_column(trt, justify="right")
    t.add_column(ref, justify="right")
    t.add_column(f"effect ({conf}% CI)", justify="right")
    bg = result.baseline_geometric_means
    adj = {m.arm: m for m in prim.adjusted}
    t.add_row("n analysed", str(adj[trt].n), str(adj[ref].n), "")
    t.add_row(f"baseline geometric mean ({conf}% CI)", _gm(bg[trt]), _gm(bg[ref]), "")
    t.add_row(f"adjusted geometric mean ({conf}% CI)", _gm(adj[trt]), _gm(adj[ref]),
              f"ratio {_ci(prim.ratio, prim.ratio_lower, prim.ratio_upper)}")
    t.add_row("greater reduction from baseline", "", "",
              f"{_ci(prim.percent_reduction, prim.percent_reduction_lower, prim.percent_reduction_upper)} %")
    t.add_row("p value", "", "", _p(prim.p_value))
    console.print(t)

    tte = result.severe_flare
    t = Table(title=f"Time to first severe flare ({tte.param})", title_justify="left")
    t.add_column("")
    t.add_column(trt, justify="right")
    t.add_column(ref, justify="right")
    t.add_column(f"effect ({conf}% CI)", justify="right")
    a, b = tte.arms[trt], tte.arms[ref]
    t.add_row("patients with a flare", f"{a.events}/{a.n}", f"{b.events}/{b.n}", "")
    t.add_row(f"flare-free at day {tte.horizon_days:g} (KM)", _ci(a.surv_at_horizon, a.surv_lower, a.surv_upper),
              _ci(b.surv_at_horizon, b.surv_lower, b.surv_upper), "")
    t.add_row("median time to flare (days)", _num(a.median_days), _num(b.median_days), "")
    c = tte.cox
    if c.monotone:
        t.add_row(f"hazard ratio (Cox, {c.ties})", "", "", f"not estimable: {c.message}")
    else:
        t.add_row(f"hazard ratio (Cox, {c.ties})", "", "",
                  f"{_ci(c.hazard_ratio[0], c.ci_lower[0], c.ci_upper[0])}, Wald p {_p(c.p_value[0])}")
    f = tte.cox_firth
    if f is not None:
        t.add_row("hazard ratio (Firth, profile CI)", "", "",
                  f"{_ci(f.hazard_ratio[0], f.ci_lower[0], f.ci_upper[0])}, p {_p(f.p_value[0])}")
    t.add_row("log-rank test", "", "", f"chi-square {_num(tte.logrank.chisq)}, p {_p(tte.logrank.p_value)}")
    console.print(t)

    if result.bcells is not None:
        t = Table(title=f"B cells ({result.bcells_param}) at week {result.primary_visit:g}, geometric mean "
                  f"({conf}% CI)", title_justify="left")
        t.add_column(trt, justify="right")
        t.add_column(ref, justify="right")
        g1, g2 = result.bcells[trt], result.bcells[ref]
        t.add_row(f"{_gm(g1)} (n={g1.n})", f"{_gm(g2)} (n={g2.n})")
        console.print(t)

    if result.adverse_events is not None:
        ae = result.adverse_events
        t = Table(title="Adverse events (safety population)", title_justify="left")
        t.add_column("")
        t.add_column(trt, justify="right")
        t.add_column(ref, justify="right")
        t.add_column("Fisher p", justify="right")
        t.add_column(f"rate ratio ({conf}% CI)", justify="right")
        for row in ae.rows:
            if row.level == "preferred_term":
                continue
            label = row.term if row.level == "overall" else row.body_system
            cells = [f"{c.subjects}/{c.n} ({c.events} events)" for c in (row.treatment, row.reference)]
            t.add_row(label, *cells, _p(row.fisher_p), _ci(row.rate_ratio, row.rate_ratio_lower, row.rate_ratio_upper))
        console.print(t)
