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

from lupustrial.atomic import atomic_path
from lupustrial.design.figures import Figure, published
from lupustrial.design.reproduce import Reproduction
from lupustrial.protocol import load_protocol
from lupustrial.protocol.schema import Protocol
from lupustrial.report.htmlkit import ARM_COLOURS, ENV, figure_png, plain_log_labels
from lupustrial.report.json import to_jsonable
from lupustrial.simulate.trial import PRE_RITUXIMAB_VISIT, SEVERE_FLARE

#: Titles of the labs whose geometric means over visits are drawn.
LAB_TITLES = {"DSDNA": "IgG anti-dsDNA", "CD19": "B cells (CD19)", "BAFF": "free BAFF"}
#: Model outputs drawn as trajectories: title and whether a log axis suits them.
TRAJECTORY_PANELS = {"rituximab_ug_ml": ("rituximab (µg/mL)", False), "belimumab_ug_ml": ("belimumab (µg/mL)", False),
                     "baff_ng_ml": ("free BAFF (ng/mL)", True), "cd19_cells_ul": ("CD19 B cells (cells/µL)", True),
                     "anti_dsdna_iu_ml": ("anti-dsDNA (IU/mL)", True)}


@dataclass(frozen=True)
class _Trial:
    """What every figure needs besides its own data: the protocol and which arm is which."""

    protocol: Protocol
    arms: tuple[str, ...]
    figures: list[Figure]

    def colour(self, arm: str) -> str:
        return ARM_COLOURS[self.arms.index(arm) % len(ARM_COLOURS)]


#: Statistics drawn on a log axis (ratios and positive levels).
_LOG_STATISTICS = ("hazard_ratio", "gm", "median_return_months")


def typical_trial(per_trial: pd.DataFrame, figure: Figure) -> int:
    """The trial whose value of ``figure`` (the main effect) is closest to the median over trials.

    On the log scale for ratios. The median is the comparison table's: trials with a ratio of 0
    or infinity (no flare in one arm) count in it but are never typical. Ties go to the lowest
    trial number, so the report shows the same trial for the same seed.
    """
    per_trial = per_trial.sort_values("trial")
    values = per_trial[figure.figure].to_numpy(dtype=float)
    log = figure.statistic in _LOG_STATISTICS
    ok = np.isfinite(values) & ((values > 0) if log else True)
    if not ok.any():
        return int(per_trial["trial"].iloc[0])
    scale = np.log if log else (lambda x: x)
    target = scale(np.clip(np.median(values[~np.isnan(values)]), values[ok].min(), values[ok].max()))
    distance = np.where(ok, np.abs(scale(np.where(ok, values, 1.0)) - target), np.inf)
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
    what one trial of this size would report. Published geometric means are marked at their visit."""
    pre_x = -float(np.mean(ctx.protocol.randomisation.window_weeks))
    params = [p for p in ctx.protocol.labs if p in set(lab_means["param"])]
    fig = MplFigure(figsize=(5 * len(params), 3.8), layout="constrained")
    offsets = np.linspace(-0.8, 0.8, len(ctx.arms)) if len(ctx.arms) > 1 else np.zeros(1)
    for ax, param in zip(fig.subplots(1, len(params), squeeze=False)[0], params):
        rows = lab_means[lab_means["param"] == param]
        q = rows.groupby(["arm", "visit"])["gm"].quantile([0.025, 0.5, 0.975]).unstack()
        for k, arm in enumerate(ctx.arms):
            band = q.loc[arm]
            x = np.where(band.index == PRE_RITUXIMAB_VISIT, pre_x, band.index)
            ax.fill_between(x, band[0.025], band[0.975], color=ctx.colour(arm), alpha=0.2, linewidth=0)
            ax.plot(x, band[0.5], "o-", color=ctx.colour(arm), label=f"{arm}: median of trial GMs")
            one = rows[(rows["trial"] == trial) & (rows["arm"] == arm)].sort_values("visit")
            x1 = np.where(one["visit"] == PRE_RITUXIMAB_VISIT, pre_x, one["visit"]) + offsets[k]
            gm = one["gm"].to_numpy()
            ax.errorbar(x1, gm, yerr=[gm - one["lower"].to_numpy(), one["upper"].to_numpy() - gm], fmt="s",
                        markerfacecolor="white", color=ctx.colour(arm), capsize=2, markersize=4,
                        label=f"{arm}: trial {trial}, GM (95% CI)")
            for f in ctx.figures:
                if f.statistic == "gm" and f.param == param and f.arm == arm:
                    _published_marks(ax, f, f.week + 2 * offsets[k], ctx.colour(arm))
        if any(f.statistic == "gm" and f.param == param for f in ctx.figures):
            ax.plot([], [], "D", color="white", markeredgecolor="black", label="published (95% CI)")
        ax.set_yscale("log")
        plain_log_labels(ax.yaxis)
        ax.set(title=LAB_TITLES.get(param, param), xlabel="weeks from randomisation",
               ylabel=f"geometric mean ({ctx.protocol.labs[param].unit})")
        if ctx.protocol.baseline == "pre_rituximab":
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
                         xlabel: str, log: bool = True) -> MplFigure:
    """Histogram of one statistic over trials (log axis for ratios), the published value and CI and
    the table's median marked."""
    fig = MplFigure(figsize=(7, 3.6), layout="constrained")
    ax = fig.subplots()
    value, lo, hi = mark
    span = np.concatenate([values, [v for v in (value, lo, hi) if v is not None]])
    if log:
        bins = np.geomspace(span.min() / 1.1, span.max() * 1.1, 40)
    else:
        bins = np.linspace(span.min(), span.max(), 40) if span.max() > span.min() else 10
    ax.hist(values, bins=bins, color="#7f8c99", edgecolor="white", zorder=2)
    if log:
        ax.set_xscale("log")
        plain_log_labels(ax.xaxis)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if lo is not None and hi is not None:
        ax.axvspan(lo, hi, color="#e6a817", alpha=0.2, label="published 95% CI", zorder=0)
    ax.axvline(value, color="#b06d00", linewidth=2.5, label=f"published {value:.3g}", zorder=3)
    if median > 0 or not log:
        ax.axvline(median, color="black", linestyle="--", label=f"simulated median {median:.3g}", zorder=3)
    ax.set(xlabel=xlabel, ylabel="virtual trials")
    ax.legend(fontsize=8)
    return fig


def _trajectory_figure(ctx: _Trial, trajectories: pd.DataFrame) -> MplFigure:
    """Median and 5–95% band per arm of each model output, from the first rituximab infusion."""
    drawn = trajectories[trajectories["q95"] > 0]  # a drug no arm gets has nothing to show
    panels = [p for p in TRAJECTORY_PANELS if p in set(drawn["output"])]
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
        ax.set(title=title, xlabel="weeks from the first dose (rituximab, if any)")
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


def _effect_plots(ctx: _Trial, reproduction: Reproduction) -> list[tuple[str, str, MplFigure, str]]:
    """Histograms over trials of each main effect, as the table sees it.

    The dashed median is the comparison table's, so trials with a ratio of 0 or infinity (no
    flare in one arm), which a log axis cannot show, still count in it. A % reduction is drawn
    as its ratio of adjusted geometric means, 1 − % / 100.
    """
    medians = {c.figure: c.median for c in reproduction.comparison}
    n, out = reproduction.n_trials, []
    for i, f in enumerate(f for f in ctx.figures if f.main):
        values = reproduction.per_trial[f.figure].to_numpy(dtype=float)
        mark, median = (f.published, f.lower, f.upper), medians[f.figure]
        if f.statistic == "percent_reduction":  # "% greater reduction" = 100 (1 - ratio of adjusted GMs)
            values, median = 1 - values / 100, 1 - median / 100
            mark = (1 - f.published / 100, None if f.upper is None else 1 - f.upper / 100,
                    None if f.lower is None else 1 - f.lower / 100)
        log = f.statistic in _LOG_STATISTICS or f.statistic == "percent_reduction"
        shown = values[np.isfinite(values) & ((values > 0) if log else True)]
        out.append((f"effect{i}", f.figure, _distribution_figure(shown, mark, median, f.figure, log=log),
                    f"{f.figure} in each of the {n} virtual trials; {n - shown.size} trials have no finite (or, on a "
                    "log axis, no positive) value and are not drawn but count in the simulated median (dashed, as in "
                    "the table). The published value (and its 95% CI where published) is marked."))
    return out


def render_report(reproduction: Reproduction) -> str:
    """The report's HTML text (see :func:`write_report`)."""
    protocol = load_protocol(reproduction.protocol)
    figures = published(reproduction.protocol).figures
    ctx = _Trial(protocol, tuple(a.name for a in protocol.arms), figures)
    main = next((f for f in figures if f.main), figures[0])
    trial = typical_trial(reproduction.per_trial, main)
    n = reproduction.n_trials
    window = protocol.randomisation.window_weeks
    plots = [
        ("gm", "Geometric means over visits", _gm_figure(ctx, reproduction.summaries.lab_means, trial),
         f"Lines: median over the {n} virtual trials of each arm's geometric mean at each visit; bands: 2.5th to "
         f"97.5th percentile of those trial geometric means (variation between trials, not a confidence interval of "
         f"one trial). Open squares with bars: the geometric means of virtual trial {trial} (the typical trial: "
         f"its {main.figure} is closest to the median over trials) with their 95% CIs (t interval of the mean log "
         "value, as a trial's analysis computes them). Diamonds: published geometric means with their 95% CIs."
         + (f" The pre-rituximab sample is drawn at minus the middle of the {window[0]:g}–{window[1]:g}-week "
            "rituximab-to-randomisation window." if protocol.baseline == "pre_rituximab" else "")),
    ]
    if any(f.param == SEVERE_FLARE[0] and f.statistic != "logrank_p" for f in figures):
        plots.append(("km", "Time to first severe flare", _km_figure(ctx, reproduction.summaries.km, trial),
                      f"Kaplan–Meier curves of time to first severe flare of virtual trial {trial}; bands: pointwise "
                      f"2.5th to 97.5th percentile of the Kaplan–Meier curves of all {n} trials."))
    plots += [
        *_effect_plots(ctx, reproduction),
        ("trajectories", "Model trajectories per arm", _trajectory_figure(ctx, reproduction.trajectories),
         "Median (line) and 5th to 95th percentile (band) of each model output per arm, from the model directly "
         "(drug levels are not sampled in trials). The same virtual patients, randomised on the same uniform day of "
         "the protocol's window and followed to its end, are given each arm, so the arms differ by treatment "
         "alone."),
    ]
    consort = reproduction.summaries.consort
    arms = consort[consort["trial"] == trial].set_index("arm").loc[list(ctx.arms)].reset_index()
    start = ("Received rituximab, randomised " + f"{window[0]:g}–{window[1]:g} weeks later" if protocol.background
             else "Randomised") if len(ctx.arms) > 1 else "Enrolled"
    return ENV.get_template("reproduce.html.j2").render(
        title=f"{protocol.title}: published results vs {n} virtual trials",
        reproduction=reproduction,
        provenance=_provenance(reproduction),
        comparison=[(c, f) for c, f in zip(reproduction.comparison, figures)],
        figures=[{"id": key, "title": title, "caption": caption, "png": figure_png(fig)}
                 for key, title, fig, caption in plots],
        consort={"trial": trial, "arms": arms.to_dict("records"), "randomised": int(arms["randomised"].sum()),
                 "start": start, "week": protocol.follow_up_weeks},
    )


def write_report(reproduction: Reproduction, path: Path) -> Path:
    """Write the report to ``path`` atomically (a browser never sees half a page); return ``path``."""
    text = render_report(reproduction)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)

