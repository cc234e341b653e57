"""The results of one trial's analysis as rich tables on the terminal.

Laid out as a trial report's results section reads: each endpoint of the plan in order (the
primary first), one table per comparison with the reference arm, then safety. Every method is
shown through its :class:`~lupustrial.analysis.methods.Summary`, so the console knows none.
"""

from __future__ import annotations

import math

from rich.console import Console
from rich.table import Table

from lupustrial.analysis.ae import AeSummary
from lupustrial.analysis.methods import Effect, Value
from lupustrial.analysis.trial import EndpointResult, TrialAnalysis


def num(x: float | None, digits: int = 3) -> str:
    """A number as trial tables print it: 3 significant digits, NA when it does not exist."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "NA"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def ci(est: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{num(est, digits)} ({num(lo, digits)} to {num(hi, digits)})"


def p_text(p: float) -> str:
    if math.isnan(p):
        return "NA"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def value_text(v: Value) -> str:
    """One arm's cell: "k/n", "k", "estimate", or "estimate (lower to upper)"."""
    if v.count is not None:
        return str(v.count) if v.total is None else f"{v.count}/{v.total}"
    if math.isnan(v.lower) and math.isnan(v.upper):
        return num(v.estimate)
    return ci(v.estimate, v.lower, v.upper)


def effect_text(e: Effect) -> str:
    """An effect as one line: estimate (CI), p (none for an interval without a test); or the
    reason it has none."""
    if e.null is None:
        return f"p {p_text(e.p_value)}"
    if math.isnan(e.estimate) and e.note:
        return f"not estimable: {e.note}"
    p = "" if math.isnan(e.p_value) else f", p {p_text(e.p_value)}"
    return ci(e.estimate, e.lower, e.upper) + p


def endpoint_title(result: EndpointResult, primary: bool) -> str:
    e = result.endpoint
    label = "" if result.label == e.name else f" [{result.label}]"
    return f"{'Primary endpoint' if primary else 'Endpoint'}: {e.name}{label} ({e.method.title})"


def _endpoint_tables(result: EndpointResult, primary: bool, console: Console) -> None:
    pop = result.population
    out = sum(pop.excluded.values())
    for reason in result.not_estimable:
        console.print(f"{endpoint_title(result, primary)}: {reason}", markup=False)
    for comp in result.comparisons:
        t = Table(title=endpoint_title(result, primary) + (f": {comp.treatment} vs {comp.reference}"
                                                          if len(result.comparisons) > 1 else ""),
                  title_justify="left", caption=f"population {pop.flag} = Y" + (f" ({out} outside)" if out else ""),
                  caption_justify="left")
        arms = (comp.treatment, comp.reference)
        t.add_column("")
        for arm in arms:
            t.add_column(arm, justify="right")
        t.add_column("effect", justify="right")
        for row in comp.summary.rows:
            t.add_row(row.label, *(value_text(row.values[a]) if a in row.values else "" for a in arms), "")
        for effect in comp.summary.effects:
            t.add_row(effect.label, "", "", effect_text(effect))
        console.print(t)


def _ae_table(ae: AeSummary, title: str, console: Console) -> None:
    conf = int(round(ae.conf_level * 100))
    t = Table(title=title, title_justify="left")
    t.add_column("")
    t.add_column(ae.treatment, justify="right")
    t.add_column(ae.reference, justify="right")
    t.add_column("Fisher p", justify="right")
    t.add_column(f"rate ratio ({conf}% CI)", justify="right")
    for row in ae.rows:
        if row.level == "preferred_term":
            continue
        label = row.term if row.level == "overall" else row.body_system
        cells = [f"{c.subjects}/{c.n} ({c.events} events)" for c in (row.treatment, row.reference)]
        t.add_row(label, *cells, p_text(row.fisher_p), ci(row.rate_ratio, row.rate_ratio_lower, row.rate_ratio_upper))
    console.print(t)


def render_analysis(result: TrialAnalysis, console: Console) -> None:
    """Print every endpoint's tables and the adverse-event tables of one trial."""
    console.print(f"[bold]Trial:[/] {result.source}   subjects by {result.arm_variable}: "
                  + ", ".join(f"{a} {n}" for a, n in result.subjects.items()))
    for i, endpoint in enumerate(result.endpoints):
        _endpoint_tables(endpoint, i == 0, console)
    safety = result.adverse_events
    if safety is not None:
        flagged = f", {safety.treatment_emergent} = Y" if safety.treatment_emergent else ""
        for ae in safety.comparisons:
            _ae_table(ae, f"Adverse events (safety population {safety.population.flag} = Y{flagged})"
                      + (f": {ae.treatment} vs {ae.reference}" if len(safety.comparisons) > 1 else ""), console)
