"""Power-curve plots of a design sweep (and assurance curves beside them) as one self-contained
HTML file (figures embedded)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from jinja2 import Environment, select_autoescape
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lupustrial.atomic import atomic_path
from lupustrial.design.operating import SequentialCurve, design_label
from lupustrial.design.power import ANALYTIC, ANALYTIC_FAMILIES, ANALYTIC_KEY, FAMILY, TARGETS, PowerCurve, family_text
from lupustrial.design.sweep import CellResult
from lupustrial.report.htmlkit import figure_png

_PAGE = Environment(autoescape=select_autoescape(default=True)).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ name }}: design</title>
<style>body{font-family:sans-serif;max-width:70em;margin:auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>
<h1>{{ name }}: power by simulation</h1>
<p>Points: simulated power with ±1.96 Monte Carlo standard errors. Lines: the analytic power
({{ methods }}) at the effect sizes the simulation itself produced. Dotted: 80% and 90%.
{% if assurance %}Right: the probability of success (assurance), power averaged over the
calibration's posterior draws, on the same trials; dashed, the power at the point estimate.{% endif %}</p>
<h2>The plan's endpoints</h2>
<p>In plan order; each powered endpoint is tested by its method's batched twin, equal to the
method <code>analyze</code> runs. {{ family }}</p>
<table><tr><th>endpoint</th><th>name</th><th>analysis</th><th>powered by</th></tr>
{% for e in endpoints %}<tr><td>{{ e.label }}</td><td>{{ e.name }}</td><td>{{ e.analysis }}</td>
<td>{% if e.powered %}{{ e.test }}, {{ e.estimate }}{% else %}not powered: {{ e.reason }}{% endif %}</td></tr>
{% endfor %}</table>
{% for c in cells %}<h2>{{ c.key }}</h2>
<img alt="power curve, {{ c.key }}" src="data:image/png;base64,{{ c.png }}">
<table><tr><th>endpoint</th><th>target</th><th>smallest simulated N (range were each power ±2 MC s.e.)</th>
<th>analytic N ({{ key }})</th>
{% if assurance %}<th>assurance at that N</th><th>smallest N for the assurance</th>{% endif %}</tr>
{% for row in c.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% if c.sequential %}<h3>Interim looks: {{ c.sequential.title }}</h3>
<p>Left: the boundaries on the z scale (reject at or above the critical values; stop for futility
below the futility bounds). Middle: power of the group-sequential design (points, ±1.96 MC s.e.),
its type I error under the null ignoring non-binding futility (dotted: alpha){% if c.sequential.check %},
rpact's analytic power at the simulated hazards (line) and lupustrial's simulation of the same
design with exponential times (squares){% endif %}. Right: expected patients and {{ c.sequential.unit }} at
the stop, and their maxima (every look run).</p>
<img alt="group-sequential design, {{ c.key }}" src="data:image/png;base64,{{ c.sequential.png }}">
<table><tr>{% for h in c.sequential.header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in c.sequential.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>
{% endif %}{% endfor %}</body></html>
""")


def _simulated_points(ax: Axes, curve: PowerCurve, shown: Sequence[str], dodge: float, what: str) -> None:
    """Simulated power per endpoint rule with ±1.96 MC s.e. bars, dodged (rules often coincide,
    e.g. hierarchical = Cox when the ANCOVA always wins)."""
    for i, endpoint in enumerate(shown):
        rows = curve.table[curve.table["endpoint"] == endpoint].sort_values("n_total")
        ax.errorbar(rows["n_total"] + (i - (len(shown) - 1) / 2) * dodge, rows["power"], yerr=1.96 * rows["mc_se"],
                    fmt="osD^"[i % 4], color=f"C{i}", capsize=3, label=f"{endpoint} ({what})")


def power_figure(curve: PowerCurve, shown: Sequence[str], assurance: PowerCurve | None = None) -> Figure:
    """Power against total N per endpoint rule, MC error bars, analytic curves, 80%/90% lines; with
    ``assurance``, its curve in a second panel beside, over the power at the point estimate (dashed)."""
    fig = Figure(figsize=(7 if assurance is None else 12, 4.2))
    axes = fig.subplots(1, 1 if assurance is None else 2, sharex=True, sharey=True, squeeze=False)[0]
    sizes = np.sort(curve.table["n_total"].unique())
    grid = np.linspace(max(4, sizes[0] * 0.8), sizes[-1] * 1.1, 100)
    dodge = 0.008 * (grid[-1] - grid[0])
    _simulated_points(axes[0], curve, shown, dodge, "simulated")
    for i, endpoint in enumerate(shown):
        if curve.has_analytic(endpoint):
            power = [curve.analytic_power(endpoint, n) for n in grid]
            method = ANALYTIC_FAMILIES[ANALYTIC[curve.analysis(endpoint)]][1][0]
            axes[0].plot(grid, power, color=f"C{i}", lw=1, label=f"{endpoint} ({method})")
    axes[0].set(ylabel="power")
    if assurance is not None:
        _simulated_points(axes[1], assurance, shown, dodge, "assurance")
        for i, endpoint in enumerate(shown):
            rows = curve.table[curve.table["endpoint"] == endpoint].sort_values("n_total")
            axes[1].plot(rows["n_total"], rows["power"], color=f"C{i}", ls="--", lw=1, label=f"{endpoint} (power)")
        axes[0].set_title("power at the point estimate", fontsize="medium")
        axes[1].set_title(f"assurance over {assurance.parameter_sets} posterior draws", fontsize="medium")
    for ax in axes:
        for target in TARGETS:
            ax.axhline(target, color="grey", ls=":", lw=1)
        ax.set(xlabel="total sample size", ylim=(0, 1.02))
        ax.legend(fontsize="small", loc="lower right")
    return fig


def sequential_figure(seq: SequentialCurve) -> Figure:
    """Boundaries (z against information rate), power and type I error against N (with the
    cross-check), and expected against maximum patients and information against N."""
    fig = Figure(figsize=(13, 4.2))
    bounds, power, size = fig.subplots(1, 3)
    d = seq.design
    rates = np.asarray(d["information_rates"])
    bounds.plot(rates, d["critical_values"], "o-", color="C3", label="critical value")
    futility = np.array([np.nan if b is None else b for b in d["futility_bounds"]], dtype=float)
    if np.isfinite(futility).any():
        bounds.plot(rates[:-1], futility, "s--", color="C0", label="futility bound")
    bounds.set(xlabel="information rate", ylabel="z", xlim=(0, 1.05), title=design_label(d))
    bounds.title.set_fontsize("small")
    table = seq.table.sort_values("n_total")
    n = table["n_total"]
    power.errorbar(n, table["power"], yerr=1.96 * table["power_se"], fmt="o", color="C0", capsize=3,
                   label="power (model)")
    power.errorbar(n, table["type_i_error_no_futility"], yerr=1.96 * table["type_i_error_no_futility_se"], fmt="^",
                   color="C3", capsize=3, label="type I error (model, null)")
    power.axhline(d["alpha"], color="C3", ls=":", lw=1)
    if not seq.cross_check.empty:
        check = seq.cross_check.sort_values("n_total")
        power.plot(check["n_total"], check["rpact_power"], color="C2", lw=1, label="rpact, exponential")
        power.errorbar(check["n_total"], check["exponential_power"], yerr=1.96 * check["exponential_power_se"], fmt="s",
                       mfc="none", color="C2", capsize=3, label="lupustrial, exponential")
    power.set(xlabel="total sample size", ylabel="probability", ylim=(0, 1.02))
    size.plot(n, table["expected_patients"], "o-", color="C0", label="E[patients]")
    size.plot(n, table["max_patients"], ":", color="C0", label="max patients")
    size.plot(n, table["expected_information"], "s-", color="C1", label=f"E[{seq.information}]")
    size.plot(n, table["max_information"], ":", color="C1", label=f"max {seq.information}")
    size.set(xlabel="total sample size", ylabel="at the stop")
    for ax in (bounds, power, size):
        ax.legend(fontsize="small")
    return fig


def _sequential_header(seq: SequentialCurve) -> tuple[str, ...]:
    return ("N", "power", "type I error (no futility)", "E[N]", f"E[{seq.information}]", "E[months]", "max months",
            "stop at each look (efficacy / futility)", "median conditional power at the interims", "median bias")


def _sequential_rows(seq: SequentialCurve) -> list[tuple[str, ...]]:
    """One row per N: what the console's operating-characteristics and stopping tables show."""
    rows = []
    for row in seq.table.sort_values("n_total").itertuples():
        looks = seq.looks[seq.looks["n_total"] == row.n_total]
        stops = "; ".join(f"{e:.3f} / {f:.3f}" for e, f in zip(looks["efficacy"][:-1], looks["futility"][:-1]))
        stops += f"; {looks['efficacy'].iloc[-1]:.3f}"
        rows.append((str(row.n_total), f"{row.power:.3f} ± {row.power_se:.3f}",
                     f"{row.type_i_error_no_futility:.3f} ± {row.type_i_error_no_futility_se:.3f}",
                     f"{row.expected_patients:.1f}", f"{row.expected_information:.1f}", f"{row.expected_months:.1f}",
                     f"{row.max_months:.1f}", stops,
                     "; ".join(f"{cp:.3f}" for cp in looks["median_conditional_power"].iloc[:-1]),
                     f"{row.median_bias:+.3f}"))
    return rows


def write_html(results: Sequence[CellResult], shown: Sequence[str], name: str, path: Path) -> None:
    """One section per grid cell: the plot and the smallest N per target, simulated and analytic
    (and, with assurance, the assurance there and the smallest N for it)."""
    cells = []
    for r in results:
        rows = [(row["endpoint"], row["target"], row["simulated"], "; ".join(row["analytic"]),
                 *(() if r.assurance is None else (row["pos_there"], row["n_for_pos"])))
                for row in r.summary_rows(shown)]
        seq = r.curve.sequential
        sequential = None if seq is None else {
            "title": f"{seq.endpoint}, {design_label(seq.design)}", "unit": seq.information,
            "png": figure_png(sequential_figure(seq)), "check": not seq.cross_check.empty,
            "header": _sequential_header(seq), "rows": _sequential_rows(seq)}
        cells.append({"key": r.cell.key, "png": figure_png(power_figure(r.curve, shown, r.assurance)), "rows": rows,
                      "sequential": sequential})
    methods = "t test for an ANCOVA, Schoenfeld for a Cox or log-rank endpoint"
    endpoints = results[0].curve.endpoints
    page = _PAGE.render(name=name, cells=cells, methods=methods, key=ANALYTIC_KEY, endpoints=endpoints,
                        family=" ".join(f"{r}: {family_text(r, endpoints)}." for r in shown if r in FAMILY.values()),
                        assurance=any(r.assurance is not None for r in results))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def summary_markdown(results: Sequence[CellResult], shown: Sequence[str]) -> str:
    """The summary table (smallest N per target, simulated and analytic, and the assurance) as
    Markdown, one table per cell: docs/design.md shows it and a test keeps the two equal."""
    parts = []
    for r in results:
        assurance = r.assurance is not None
        header = ["endpoint", "target", "simulated N", "analytic N"] + (["PoS there", "N for PoS"] if assurance else [])
        lines = [f"**{r.cell.key}**", "", "| " + " | ".join(header) + " |",
                 "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
        for row in r.summary_rows(shown):
            cells = [row["endpoint"], row["target"], row["simulated"], ", ".join(row["analytic"])]
            lines.append("| " + " | ".join(cells + ([row["pos_there"], row["n_for_pos"]] if assurance else [])) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def sequential_markdown(results: Sequence[CellResult]) -> str:
    """The interim looks' operating characteristics as Markdown, one table per cell with looks, the
    rows the HTML shows: docs/design.md shows it and a test keeps the two equal."""
    parts = []
    for r in results:
        seq = r.curve.sequential
        if seq is None:
            continue
        header = _sequential_header(seq)
        lines = [f"**{r.cell.key}**: {seq.endpoint}, {design_label(seq.design)}", "",
                 "| " + " | ".join(header) + " |", "|" + "|".join(["---:"] * len(header)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in _sequential_rows(seq)]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
