"""One analysed trial as a self-contained HTML page a trial statistician can paste into a report.

It holds a forest plot of every endpoint's main effect (each treatment arm against the
reference), Kaplan-Meier curves with the numbers at risk for every time-to-event endpoint, a
results table per endpoint and comparison (for the ANCOVA: n, baseline and adjusted geometric
means, their ratio) and the adverse-event tables. Everything comes from the methods'
:class:`~lupustrial.analysis.methods.Summary` and results, so a newly registered method appears
in the tables and the forest plot with no change here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from lupustrial.analysis.methods import Effect, TimeToEvent
from lupustrial.analysis.survival import KaplanMeier
from lupustrial.analysis.trial import EndpointResult, TrialAnalysis
from lupustrial.atomic import atomic_path
from lupustrial.report.console import ci, effect_text, endpoint_title, p_text, value_text
from lupustrial.report.htmlkit import ARM_COLOURS, ENV, figure_png, plain_log_labels

#: Ticks of the numbers-at-risk table: at most this many, on whole multiples of 4 weeks.
RISK_TICKS = 8


@dataclass(frozen=True)
class ForestRow:
    label: str
    effect: Effect


def forest_rows(result: TrialAnalysis) -> list[ForestRow]:
    """Each comparison's main effect that has an estimate, in plan order."""
    rows = []
    for ep in result.endpoints:
        for comp in ep.comparisons:
            main = next(iter(comp.summary.effects), None)
            if main is not None and main.null is not None and math.isfinite(main.estimate):
                rows.append(ForestRow(f"{ep.endpoint.name}: {comp.treatment} vs {comp.reference}", main))
    return rows


def forest_figure(rows: list[ForestRow], conf_level: float) -> MplFigure:
    """Estimates with CIs, one line each; ratios on a log axis, differences on a linear one."""
    panels = [p for p in (True, False) if any(r.effect.log_scale == p for r in rows)]
    fig = MplFigure(figsize=(10, 0.55 * len(rows) + 1.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False,
                        height_ratios=[sum(r.effect.log_scale == p for r in rows) for p in panels])[:, 0]
    for ax, log in zip(axes, panels, strict=True):
        mine = [r for r in rows if r.effect.log_scale == log][::-1]
        y = np.arange(len(mine))
        for i, r in enumerate(mine):
            e = r.effect
            ax.plot([e.lower, e.upper], [i, i], color="#1d2329", linewidth=1.5)
            ax.plot([e.estimate], [i], "s", color=ARM_COLOURS[0], markersize=7)
            ax.annotate(f"{e.label}: {ci(e.estimate, e.lower, e.upper)}", (1.01, i), xycoords=("axes fraction", "data"),
                        va="center", fontsize=8)
        ax.axvline(mine[0].effect.null, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, [r.label for r in mine], fontsize=9)
        ax.set_ylim(-0.7, len(mine) - 0.3)
        if log:
            ax.set_xscale("log")
            plain_log_labels(ax.xaxis)
        level = f"{round(conf_level * 100)}% CI"
        ax.set_xlabel(f"ratio (treatment / reference), {level}" if log else f"difference, {level}")
    return fig


def arm_curves(endpoint: EndpointResult) -> dict[str, KaplanMeier]:
    """Every arm's Kaplan-Meier curve: each treatment from its comparison, the reference once."""
    curves: dict[str, KaplanMeier] = {}
    for comp in endpoint.comparisons:
        curves.update({a: fit for a, fit in comp.result.km.items() if a not in curves})
    return curves


def _risk_times(curves: dict[str, KaplanMeier]) -> np.ndarray:
    last = max(float(fit.time[-1]) for fit in curves.values())
    step = 28.0 * max(1, math.ceil(last / 28.0 / (RISK_TICKS - 1)))
    return np.arange(0.0, last + 1e-9, step)


def km_figure(endpoint: EndpointResult) -> MplFigure:
    """Kaplan-Meier curves of every arm (censored times marked) with the numbers at risk below."""
    curves = arm_curves(endpoint)
    ticks = _risk_times(curves)
    fig = MplFigure(figsize=(9, 4.6 + 0.25 * len(curves)), layout="constrained")
    ax, table = fig.subplots(2, 1, height_ratios=[4, 0.4 + 0.3 * len(curves)], sharex=True)
    for k, (arm, fit) in enumerate(curves.items()):
        colour = ARM_COLOURS[k % len(ARM_COLOURS)]
        ax.step(np.r_[0.0, fit.time], np.r_[1.0, fit.surv], where="post", color=colour, linewidth=2, label=arm)
        censored = fit.n_censor > 0
        ax.plot(fit.time[censored], fit.surv[censored], "|", color=colour, markersize=7)
        at_risk = fit.at(ticks).n_risk
        for t, n in zip(ticks, at_risk, strict=True):
            table.text(t, k, str(int(n)), ha="center", va="center", fontsize=8, color=colour)
    ax.set(ylabel="event-free (Kaplan-Meier)", ylim=(0, 1.02), title=endpoint.label)
    ax.legend(fontsize=8, loc="lower left")
    table.set_yticks(range(len(curves)), list(curves), fontsize=8)
    table.set_ylim(len(curves) - 0.5, -0.5)
    table.set_xticks(ticks)
    table.set_xlabel("days; numbers at risk")
    table.tick_params(axis="y", length=0)
    for side in ("top", "right", "left"):
        table.spines[side].set_visible(False)
    return fig


def _endpoint_tables(result: TrialAnalysis) -> list[dict[str, object]]:
    out = []
    for i, ep in enumerate(result.endpoints):
        for comp in ep.comparisons:
            out.append({
                "title": endpoint_title(ep, i == 0) + (f": {comp.treatment} vs {comp.reference}"
                                                       if len(ep.comparisons) > 1 else ""),
                "key": ep.key, "arms": (comp.treatment, comp.reference), "population": ep.population,
                "rows": [(r.label, [value_text(r.values[a]) if a in r.values else ""
                                    for a in (comp.treatment, comp.reference)]) for r in comp.summary.rows],
                "effects": [(e.label, effect_text(e)) for e in comp.summary.effects]})
    return out


def render_analysis_report(result: TrialAnalysis) -> str:
    """The page's HTML text (see :func:`write_analysis_report`)."""
    figures = []
    rows = forest_rows(result)
    if rows:
        figures.append(("forest", "Effects of every endpoint", forest_figure(rows, result.conf_level),
                        f"Main effect of each endpoint for each arm against the reference, with its "
                        f"{round(result.conf_level * 100)}% CI "
                        "(ratios on a log axis; dashed line: no effect)."))
    for ep in result.endpoints:
        if any(isinstance(c.result, TimeToEvent) for c in ep.comparisons):
            figures.append((f"km-{ep.key.replace('[', '').replace(']', '')}", f"{ep.endpoint.name}: Kaplan-Meier",
                            km_figure(ep), f"Kaplan-Meier estimate of {ep.label} per arm in population "
                            f"{ep.population.flag} = Y; ticks mark censored times; below, the numbers at risk."))
    ae = result.adverse_events
    return ENV.get_template("analysis.html.j2").render(
        title=f"Analysis of {result.source}", result=result, tables=_endpoint_tables(result),
        not_estimable=[(endpoint_title(ep, i == 0), reason) for i, ep in enumerate(result.endpoints)
                       for reason in ep.not_estimable],
        figures=[{"id": key, "title": title, "caption": caption, "png": figure_png(fig)}
                 for key, title, fig, caption in figures],
        safety=ae, p_text=p_text, ci=ci, conf=round(result.conf_level * 100))


def write_analysis_report(result: TrialAnalysis, path: str | Path) -> Path:
    """Write the page to ``path`` atomically; return ``path``."""
    text = render_analysis_report(result)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
