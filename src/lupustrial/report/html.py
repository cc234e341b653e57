"""The reproduction of a published trial as one self-contained HTML page.

A trialist should be able to mail the file and open it offline: figures are base64 PNGs, CSS
and script are inline, and a Content-Security-Policy forbids the page any fetch. Figures are
drawn on :class:`matplotlib.figure.Figure` objects (Agg, no pyplot state), so writing a report
is safe from worker threads and leaves no open figures behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import MaxNLocator

from lupustrial.analysis.trial import resolve_arms
from lupustrial.atomic import atomic_path
from lupustrial.design.reproduce import Figure, Reproduction, published
from lupustrial.protocol import load_protocol
from lupustrial.protocol.schema import Protocol
from lupustrial.report.htmlkit import ARM_COLOURS, ENV, figure_png, plain_log_labels
from lupustrial.report.json import to_jsonable
from lupustrial.simulate.trial import PRE_RITUXIMAB_VISIT

#: Labs whose geometric means over visits are drawn, with the statistics of their published
#: week-52 values for (treatment, reference).
LAB_PANELS = {"DSDNA": ("IgG anti-dsDNA", "gm_dsdna_treatment", "gm_dsdna_reference"),
              "CD19": ("B cells (CD19)", "gm_cd19_treatment", "gm_cd19_reference")}
#: Model outputs drawn as trajectories: title and whether a log axis suits them.
TRAJECTORY_PANELS = {"rituximab_ug_ml": ("rituximab (µg/mL)", False), "belimumab_ug_ml": ("belimumab (µg/mL)", False),
                     "baff_ng_ml": ("free BAFF (ng/mL)", True), "cd19_cells_ul": ("CD19 B cells (cells/µL)", True),
                     "anti_dsdna_iu_ml": ("anti-dsDNA (IU/mL)", True)}


@dataclass(frozen=True)
class _Trial:
    """What every figure needs besides its own data: the protocol and which arm is which."""

    protocol: Protocol
    arms: tuple[str, str]
    figures: dict[str, Figure]

    def colour(self, arm: str) -> str:
        return ARM_COLOURS[self.arms.index(arm)]


def typical_trial(per_trial: pd.DataFrame) -> int:
    """The trial whose hazard ratio is closest, on the log scale, to the median over trials.

    The median is the comparison table's: trials with a hazard ratio of 0 or infinity (no flare
    in one arm) count in it but are never typical. Ties go to the lowest trial number, so the
    report shows the same trial for the same seed.
    """
    per_trial = per_trial.sort_values("trial")
    hr = per_trial["hazard_ratio"].to_numpy(dtype=float)
    ok = np.isfinite(hr) & (hr > 0)
    if not ok.any():
        return int(per_trial["trial"].iloc[0])
    target = np.log(np.clip(np.median(hr[~np.isnan(hr)]), hr[ok].min(), hr[ok].max()))
    distance = np.where(ok, np.abs(np.log(np.where(ok, hr, 1.0)) - target), np.inf)
    return int(per_trial["trial"].iloc[np.argmin(distance)])


def _published_marks(ax: Axes, pub: Figure, x: float, colour: str) -> None:
    """The published value with its 95% CI as a black-edged diamond with error bar at ``x``."""
    lo = pub.published - pub.lower if pub.lower is not None else 0.0
    hi = pub.upper - pub.published if pub.upper is not None else 0.0
    ax.errorbar([x], [pub.published], yerr=[[lo], [hi]], fmt="D", color=colour, markeredgecolor="black",
                ecolor="black", capsize=3, zorder=5)


def _gm_figure(ctx: _Trial, lab_means: pd.DataFrame, trial: int) -> MplFigure:
    """Across-trial median and 2.5–97.5% envelope of each arm's geometric mean by visit, and one
    trial's geometric means with their 95% CIs: the envelope is spread between trials, the bars
    what one trial of this size would report."""
    week = ctx.protocol.plan().primary.week
    pre_x = -float(np.mean(ctx.protocol.randomisation.window_weeks))
    fig = MplFigure(figsize=(10, 3.8), layout="constrained")
    panels = {p: v for p, v in LAB_PANELS.items() if p in set(lab_means["param"])}
    for ax, (param, (title, *stats)) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels.items()):
        rows = lab_means[lab_means["param"] == param]
        q = rows.groupby(["arm", "visit"])["gm"].quantile([0.025, 0.5, 0.975]).unstack()
        for k, (arm, stat) in enumerate(zip(ctx.arms, stats)):
            band = q.loc[arm]
            x = np.where(band.index == PRE_RITUXIMAB_VISIT, pre_x, band.index)
            ax.fill_between(x, band[0.025], band[0.975], color=ctx.colour(arm), alpha=0.2, linewidth=0)
            ax.plot(x, band[0.5], "o-", color=ctx.colour(arm), label=f"{arm}: median of trial GMs")
            one = rows[(rows["trial"] == trial) & (rows["arm"] == arm)].sort_values("visit")
            x1 = np.where(one["visit"] == PRE_RITUXIMAB_VISIT, pre_x, one["visit"]) + (0.8 if k else -0.8)
            gm = one["gm"].to_numpy()
            ax.errorbar(x1, gm, yerr=[gm - one["lower"].to_numpy(), one["upper"].to_numpy() - gm], fmt="s",
                        markerfacecolor="white", color=ctx.colour(arm), capsize=2, markersize=4,
                        label=f"{arm}: trial {trial}, GM (95% CI)")
            if stat in ctx.figures:
                _published_marks(ax, ctx.figures[stat], week + (1.5 if k else -1.5), ctx.colour(arm))
        ax.plot([], [], "D", color="white", markeredgecolor="black", label=f"published, week {week:g} (95% CI)")
        ax.set_yscale("log")
        plain_log_labels(ax.yaxis)
        ax.set(title=title, xlabel="weeks from randomisation",
               ylabel=f"geometric mean ({ctx.protocol.labs[param].unit})")
        ax.axvline(0, color="grey", linewidth=0.6, linestyle=":")
        ax.annotate("pre-rituximab", (pre_x, 1), xycoords=("data", "axes fraction"), xytext=(0, -3),
                    textcoords="offset points", ha="center", va="top", fontsize=8, color="grey")
    ax.legend(fontsize=8)
    return fig


def _km_figure(ctx: _Trial, km: pd.DataFrame, trial: int) -> MplFigure:
    """The typical trial's Kaplan–Meier curves over the 2.5–97.5% envelope of all trials' curves."""
    weeks = km.columns.to_numpy(dtype=float) / 7
    fig = MplFigure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    for arm in ctx.arms:
        curves = km.xs(arm, level="arm")
        lo, hi = np.quantile(curves.to_numpy(), [0.025, 0.975], axis=0)
        ax.fill_between(weeks, lo, hi, step="post", color=ctx.colour(arm), alpha=0.18, linewidth=0,
                        label=f"{arm}: 95% envelope over trials")
        ax.step(weeks, curves.loc[trial].to_numpy(), where="post", color=ctx.colour(arm), linewidth=2,
                label=f"{arm}: trial {trial}")
    ax.set(xlabel="weeks from randomisation", ylabel="free of severe flare", ylim=(0, 1.02), xlim=(0, weeks[-1]))
    ax.legend(fontsize=8, loc="lower left")
    return fig


def _distribution_figure(values: np.ndarray, mark: tuple[float, float | None, float | None], median: float,
                         xlabel: str) -> MplFigure:
    """Histogram on a log axis of one ratio over trials, the published value and CI and the table's median marked."""
    fig = MplFigure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    value, lo, hi = mark
    span = np.concatenate([values, [v for v in (value, lo, hi) if v is not None]])
    ax.hist(values, bins=np.geomspace(span.min() / 1.1, span.max() * 1.1, 40), color="#7f8c99", edgecolor="white",
            zorder=2)
    ax.set_xscale("log")
    plain_log_labels(ax.xaxis)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if lo is not None and hi is not None:
        ax.axvspan(lo, hi, color="#e6a817", alpha=0.2, label="published 95% CI", zorder=0)
    ax.axvline(value, color="#b06d00", linewidth=2.5, label=f"published {value:.3g}", zorder=3)
    if median > 0:
        ax.axvline(median, color="black", linestyle="--", label=f"simulated median {median:.3g}", zorder=3)
    ax.set(xlabel=xlabel, ylabel="virtual trials")
    ax.legend(fontsize=8)
    return fig


def _trajectory_figure(ctx: _Trial, trajectories: pd.DataFrame) -> MplFigure:
    """Median and 5–95% band per arm of each model output, from the first rituximab infusion."""
    panels = [p for p in TRAJECTORY_PANELS if p in set(trajectories["output"])]
    ncols, nrows = 3, -(-len(panels) // 3)
    fig = MplFigure(figsize=(11, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, output in zip(axes, panels):
        title, log = TRAJECTORY_PANELS[output]
        for arm in ctx.arms:
            rows = trajectories[(trajectories["output"] == output) & (trajectories["arm"] == arm)]
            weeks = rows["day"].to_numpy() / 7
            ax.fill_between(weeks, rows["q05"], rows["q95"], color=ctx.colour(arm), alpha=0.2, linewidth=0)
            ax.plot(weeks, rows["q50"], color=ctx.colour(arm), label=arm)
        if log:
            ax.set_yscale("log")
            plain_log_labels(ax.yaxis)
        ax.set(title=title, xlabel="weeks from first rituximab infusion")
    axes[0].legend(fontsize=8)
    for ax in axes[len(panels):]:
        ax.set_axis_off()
    return fig


def _text(value: object) -> str:
    """One provenance value as text: numbers to 4 significant digits, lists and maps inline."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return "NA" if value is None else str(value)


def _provenance(reproduction: Reproduction) -> dict[str, str | list[dict[str, str]]]:
    """The parameter set's provenance for display.

    A list of records (e.g. the calibration targets) becomes a small table; anything else a line.
    """
    out: dict[str, str | list[dict[str, str]]] = {}
    for key, value in to_jsonable(reproduction.provenance).items():
        records = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        out[key] = [{k: _text(v) for k, v in r.items()} for r in value] if records else _text(value)
    return out


def _ratio_plots(ctx: _Trial, reproduction: Reproduction) -> list[tuple[str, str, MplFigure, str]]:
    """Histograms of the trials' hazard ratios and ANCOVA geometric-mean ratios, as the table sees them.

    The dashed median is the comparison table's, so trials with a ratio of 0 or infinity (no
    flare in one arm), which a log axis cannot show, still count in it.
    """
    medians = {c.statistic: c.median for c in reproduction.comparison}
    n, week = reproduction.n_trials, ctx.protocol.plan().primary.week
    ties = ctx.protocol.plan().by_analysis("cox")[0].ties
    hr = reproduction.per_trial["hazard_ratio"].to_numpy(dtype=float)
    hr = hr[np.isfinite(hr) & (hr > 0)]
    # The published effect is "% greater reduction from baseline" = 100 (1 - ratio of adjusted GMs).
    ratio = 1 - reproduction.per_trial["pct_reduction"].to_numpy(dtype=float) / 100
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    pct, hr_fig = ctx.figures["pct_reduction"], ctx.figures["hazard_ratio"]
    ratio_mark = (1 - pct.published / 100, None if pct.upper is None else 1 - pct.upper / 100,
                  None if pct.lower is None else 1 - pct.lower / 100)
    return [
        ("hr", "Hazard ratios over trials",
         _distribution_figure(hr, (hr_fig.published, hr_fig.lower, hr_fig.upper), medians["hazard_ratio"],
                              f"hazard ratio of severe flare (Cox, {ties} ties)"),
         f"Cox hazard ratio of severe flare ({ctx.arms[0]} vs {ctx.arms[1]}) of each virtual trial; {n - hr.size} of "
         f"the {n} trials have a hazard ratio of 0 or infinity (no flare in one arm) or none, lie off the log axis "
         "but count in the simulated median (dashed, as in the table). The published value and its 95% CI are "
         "marked."),
        ("ratio", "Geometric-mean ratios over trials",
         _distribution_figure(ratio, ratio_mark, 1 - medians["pct_reduction"] / 100,
                              f"ratio of adjusted geometric means at week {week:g}"),
         f"Ratio ({ctx.arms[0]}/{ctx.arms[1]}) of ANCOVA-adjusted geometric means of anti-dsDNA at week {week:g} "
         f"(log scale, adjusted for log baseline) of each of the {ratio.size} trials where it is positive; the "
         f"published value is one minus the published {pct.published:g}% greater reduction from baseline, with its "
         "95% CI likewise."),
    ]


def render_report(reproduction: Reproduction) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    protocol = load_protocol(reproduction.protocol)
    figures = {f.statistic: f for f in published(reproduction.protocol).figures}
    consort = reproduction.summaries.consort
    reference, treatments = resolve_arms(tuple(dict.fromkeys(consort["arm"])), protocol.plan().arms)
    ctx = _Trial(protocol, (treatments[0], reference), figures)
    trial = typical_trial(reproduction.per_trial)
    n = reproduction.n_trials
    week = protocol.plan().primary.week
    window = protocol.randomisation.window_weeks
    plots = [
        ("gm", "Geometric means over visits", _gm_figure(ctx, reproduction.summaries.lab_means, trial),
         f"Lines: median over the {n} virtual trials of each arm's geometric mean at each visit; bands: 2.5th to "
         f"97.5th percentile of those trial geometric means (variation between trials, not a confidence interval of "
         f"one trial). Open squares with bars: the geometric means of virtual trial {trial} (the typical trial of the "
         "Kaplan–Meier and CONSORT figures) with their 95% CIs (t interval of the mean log value, as the trial's "
         f"analysis computes them). Diamonds: published week-{week:g} geometric means with their 95% CIs. The "
         "pre-rituximab "
         f"sample is drawn at minus the middle of the {window[0]:g}–{window[1]:g}-week rituximab-to-randomisation "
         "window."),
        ("km", "Time to first severe flare", _km_figure(ctx, reproduction.summaries.km, trial),
         f"Kaplan–Meier curves of time to first severe (BILAG-2004 A) flare of virtual trial {trial}, chosen as "
         f"the trial whose hazard ratio is closest to the median over trials (log scale); bands: pointwise 2.5th to "
         f"97.5th percentile of the Kaplan–Meier curves of all {n} trials."),
        *_ratio_plots(ctx, reproduction),
        ("trajectories", "Model trajectories per arm", _trajectory_figure(ctx, reproduction.trajectories),
         "Median (line) and 5th to 95th percentile (band) of each model output per arm, from the model directly "
         "(drug levels are not sampled in trials). The same virtual patients, randomised on the same uniform day of "
         "the protocol's window and followed to its end, are given each arm, so the arms differ by treatment "
         "alone."),
    ]
    arms = consort[consort["trial"] == trial].set_index("arm").loc[list(ctx.arms)].reset_index()
    return ENV.get_template("reproduce.html.j2").render(
        title=f"{protocol.title}: published results vs {n} virtual trials",
        reproduction=reproduction,
        provenance=_provenance(reproduction),
        comparison=[(c, figures.get(c.statistic)) for c in reproduction.comparison],
        figures=[{"id": key, "title": title, "caption": caption, "png": figure_png(fig)}
                 for key, title, fig, caption in plots],
        consort={"trial": trial, "arms": arms.to_dict("records"), "randomised": int(arms["randomised"].sum()),
                 "window": window, "week": week},
    )


def write_report(reproduction: Reproduction, path: Path) -> Path:
    """Write the report to ``path`` atomically (a browser never sees half a page); return ``path``."""
    text = render_report(reproduction)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)

