"""``lupustrial design``: operating characteristics of a design grid, by simulation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from lupustrial.clikit import console
from lupustrial.errors import LupustrialError

if TYPE_CHECKING:
    from lupustrial.design.endpoints import DesignedEndpoint
    from lupustrial.design.sweep import CellResult

ENDPOINT_KEYWORDS = ("all", "family")
MULTIPLICITY_CHOICES = ("hierarchical", "bonferroni")  # the keys of lupustrial.design.power.FAMILY


def _numbers(option: str, text: str | None, kind: Callable[[str], float]) -> list[float] | None:
    """A comma-separated option as numbers (None when not given), or a one-line error naming it."""
    if text is None:
        return None
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LupustrialError(f"option {option}: {text!r} is not a comma-separated list of numbers") from None
    if not values:
        raise LupustrialError(f"option {option}: give at least one value")
    return values


def shown_endpoints(selector: str, multiplicity: str, endpoints: Sequence[DesignedEndpoint]) -> list[str]:
    """The endpoint rules (:func:`lupustrial.design.power.design_rules`) the output shows: for
    ``all``, every powered endpoint alone, then the ``multiplicity`` rule over them all; for
    ``family``, that rule alone; else the endpoint whose label or name is ``selector`` (any case), alone.
    What the plan cannot give is refused in one line: an endpoint that is not powered, or
    ``family`` with one powered endpoint, naming the key (ProtocolError); an unknown selector,
    naming the option."""
    from lupustrial.design.power import FAMILY, design_rules
    from lupustrial.protocol.load import ProtocolError

    rules = design_rules(endpoints)
    family = FAMILY[multiplicity]
    if selector == "all":
        return [r for r in rules if r not in FAMILY.values()] + ([family] if family in rules else [])
    if selector == "family":
        if family not in rules:
            raise ProtocolError(f"key endpoints: --endpoint family needs two powered endpoints, the plan has "
                                f"{', '.join(rules)}")
        return [family]
    match = next((e for e in endpoints if selector.casefold() in (e.label.casefold(), e.name.casefold())), None)
    if match is None:
        raise LupustrialError(f"option --endpoint: {selector!r} is none of {', '.join(ENDPOINT_KEYWORDS)} nor an "
                              f"endpoint's label or name ({', '.join(e.label for e in endpoints)})")
    if not match.powered:
        raise ProtocolError(f"key {match.key}: {match.label} is not powered: {match.reason}")
    return [match.label]


def design(
    protocol: str = typer.Argument("beat-lupus", help="Protocol YAML file, or a bundled protocol's name."),
    sizes: str = typer.Option("40,60,80,100,120", "--sizes", help="Total sample sizes, comma-separated."),
    trials: int = typer.Option(500, "--trials", min=10, help="Virtual trials per grid cell and sample size."),
    seed: int = typer.Option(2021, "--seed", min=0, help="Seed of every random draw."),
    alpha: float = typer.Option(0.05, "--alpha", help="Two-sided significance level (family-wise for 'both')."),
    ratio: str | None = typer.Option(None, "--ratio", help="Allocation ratios treatment:control, e.g. 1:1,2:1 "
                                     "(default: the protocol's)."),
    start: str | None = typer.Option(None, "--start", help="Belimumab start, weeks after the first rituximab "
                                     "infusion, e.g. 4,8,12 (default: the protocol's randomisation window)."),
    follow_up: str | None = typer.Option(None, "--follow-up", help="Follow-up after randomisation, weeks "
                                         "(default: the protocol's)."),
    endpoint: str = typer.Option("all", "--endpoint", help="What is shown: all (each powered endpoint of the "
                                 "plan alone, then all together under --multiplicity), family (all together only), "
                                 "or one endpoint by its label (e.g. DSDNA) or name."),
    multiplicity: str = typer.Option("hierarchical", "--multiplicity",
                                     help="Rule for all the powered endpoints together: hierarchical (fixed sequence "
                                          "in plan order) or bonferroni."),
    workers: int = typer.Option(0, "--workers", min=0, help="Local worker processes (0 = all cores)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Address of a Dask scheduler to run on."),
    chunk: int = typer.Option(20, "--chunk", min=1, help="Trials per task; results do not depend on it."),
    out: Path | None = typer.Option(None, "--out", help="Folder: one JSON per finished grid cell (and design.html)."),
    resume: bool = typer.Option(False, "--resume", help="Skip the cells already in --out (same settings only)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every cell's results as one JSON file."),
    html_out: Path | None = typer.Option(None, "--html", help="Power-curve plots as HTML (default DIR/design.html)."),
    assurance: bool = typer.Option(False, "--assurance", help="Also the probability of success: power averaged "
                                   "over the calibration's 200 posterior draws (runs every cell twice; "
                                   "--trials a multiple of 200 weighs every draw alike)."),
) -> None:
    """Power, smallest sample size for 80%/90% power and analytic cross-checks over a design grid."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from lupustrial.design.execute import executor
    from lupustrial.design.grid import Cell, grid_cells, parse_ratio
    from lupustrial.design.html import write_html
    from lupustrial.design.interim import check_interim
    from lupustrial.design.power import design_endpoints
    from lupustrial.design.sweep import run_sweep, write_design_json
    from lupustrial.model.parameters import calibrated_draws
    from lupustrial.protocol import load_protocol
    from lupustrial.protocol.load import ProtocolError, resolve_protocol

    ns = _numbers("--sizes", sizes, int)
    if min(ns) < 4:
        raise LupustrialError("option --sizes: give sample sizes of at least 4")
    if not 0 < alpha < 1:
        raise LupustrialError("option --alpha: must be between 0 and 1")
    if multiplicity not in MULTIPLICITY_CHOICES:
        raise LupustrialError(f"option --multiplicity: {multiplicity!r} is not one of {', '.join(MULTIPLICITY_CHOICES)}")
    if resume and out is None:
        raise LupustrialError("option --resume: needs --out")
    try:
        ratios = None if ratio is None else [parse_ratio(r.strip()) for r in ratio.split(",") if r.strip()]
    except ValueError as exc:
        raise LupustrialError(f"option --ratio: {exc}") from None
    base = load_protocol(protocol)
    path = resolve_protocol(protocol)
    try:
        shown = shown_endpoints(endpoint, multiplicity, design_endpoints(base))
        check_interim(base, max(ns))
    except ProtocolError as exc:
        raise ProtocolError(f"{path}: {exc}") from None
    cells = grid_cells(base, ratios, _numbers("--start", start, float), _numbers("--follow-up", follow_up, float))
    draws = calibrated_draws() if assurance else None
    runs = (2 if assurance else 1) * (1 if base.interim is None else 2)  # interim looks: a null run for type I error
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar, executor(workers, scheduler) as pool:
        def on_cell(cell: Cell, cached: bool) -> Callable[[int], None]:
            task = bar.add_task(cell.key + (" (on disk)" if cached else ""), total=runs * trials,
                                completed=runs * trials if cached else 0)
            if cached:
                bar.stop_task(task)
            return lambda k: bar.advance(task, k)

        try:
            results = run_sweep(base, cells, ns, n_trials=trials, seed=seed, alpha=alpha, assurance=draws,
                                chunk=chunk, executor=pool, out=out, resume=resume, on_cell=on_cell)
        except KeyboardInterrupt:
            kept = f"; finished cells are in {out}, rerun with --resume" if out is not None else ""
            console.print(f"interrupted{kept}")
            raise typer.Exit(130) from None
    _print_tables(results, shown, trials, seed, alpha)
    _print_sequential(results, trials, seed)
    if json_out is not None:
        write_design_json(json_out, base, ns, n_trials=trials, seed=seed, alpha=alpha, results=results,
                          assurance=draws)
        console.print(f"results written to {json_out}")
    html = html_out or (out / "design.html" if out is not None else None)
    if html is not None:
        write_html(results, shown, base.name, html)
        console.print(f"plots written to {html}")


def _plan_table(endpoints: Sequence[DesignedEndpoint], shown: Sequence[str]) -> None:
    """The plan's endpoints in plan order, each with the test that powers it or why it is not
    powered; the caption explains the ``all/`` rule shown."""
    from lupustrial.design.power import FAMILY, family_text

    table = _table("The plan's endpoints (in plan order) and how each is powered", ["endpoint", "name and test"],
                   "; ".join(f"{r}: {family_text(r, endpoints)}" for r in shown if r in FAMILY.values()) or None)
    table.columns[1].no_wrap, table.columns[1].justify = False, "left"
    for e in endpoints:
        how = f"{e.analysis}: {e.test}, {e.estimate}" if e.powered else f"not powered: {e.reason}"
        table.add_row(e.label, f"{e.name}\n{how}")
    console.print(table)


def _column_groups(rules: Sequence[str], width: int = 80) -> list[list[str]]:
    """``rules`` split over as many power tables as needed for each ("total N", then a
    "0.736 ± 0.020" column per rule, with rich's borders and padding) to fit ``width``."""
    first = len("total N") + 4
    groups: list[list[str]] = [[]]
    used = first
    for rule in rules:
        column = max(len(rule), len("0.000 ± 0.000")) + 3
        if groups[-1] and used + column > width:
            groups.append([])
            used = first
        groups[-1].append(rule)
        used += column
    return groups


def _effect_text(estimate: str, value: float) -> str:
    """A mean estimate as shown: a ratio (exp of a mean log, e.g. "GMR 0.620") or a difference."""
    if not np.isfinite(value):
        return "-"
    return f"{estimate[4:]} {np.exp(value):.3f}" if estimate.startswith("log ") else f"{estimate} {value:.3f}"


def _print_tables(results: list[CellResult], shown: list[str], trials: int, seed: int, alpha: float) -> None:
    """The plan's endpoints; per cell, power tables (and assurance tables); then the smallest N per
    endpoint and target, simulated vs analytic (and the assurance there); then the effect sizes.
    Each fits 80 columns: cells never wrap (an 80% row must not read "0.736 ±…"), wide content
    is split over tables or stacked in lines instead, and a narrow table is widened so that its
    title does not wrap at every word.
    """
    from lupustrial.design.power import ANALYTIC_KEY

    _plan_table(results[0].curve.endpoints, shown)
    for r in results:
        runs = [("power", r.curve)] if r.assurance is None else \
            [("power", r.curve), (f"assurance (PoS) over {r.assurance.parameter_sets} posterior draws", r.assurance)]
        for what, curve in runs:
            for group in _column_groups(shown):
                power = _table(f"{r.cell.key}: {what} ± MC s.e., {trials} trials per N, seed {seed}, "
                               f"two-sided alpha {alpha:g}", ["total N", *group])
                for n in sorted(curve.table["n_total"].unique()):
                    rows = curve.table[curve.table["n_total"] == n].set_index("endpoint")
                    power.add_row(str(n), *(f"{rows.at[e, 'power']:.3f} ± {rows.at[e, 'mc_se']:.3f}" for e in group))
                console.print(power)

    summary = _table("Smallest total N for the target power: simulated (first of --sizes reaching it; in "
                     "brackets, the same were each power 2 MC s.e. higher or lower) vs analytic at the "
                     "simulation's own effect sizes", ["endpoint", "target", "simulated", "analytic"], ANALYTIC_KEY)
    for r in results:
        summary.add_row(f"[bold]{r.cell.key}[/]")
        for row in r.summary_rows(shown):
            summary.add_row(row["endpoint"], row["target"], row["simulated"], "\n".join(row["analytic"]))
        summary.add_section()
    console.print(summary)
    if any(r.assurance is not None for r in results):
        pos = _table("Probability of success: assurance at the smallest simulated N for the target power "
                     "(PoS there) and smallest N whose assurance reaches the target",
                     ["endpoint", "target", "PoS there", "N for PoS"])
        for r in results:
            pos.add_row(f"[bold]{r.cell.key}[/]")
            for row in r.summary_rows(shown):
                pos.add_row(row["endpoint"], row["target"], row["pos_there"], row["n_for_pos"])
            pos.add_section()
        console.print(pos)
    effects = _table("Effect sizes used by the analytic N, from the trials at the largest N: the mean estimate "
                     "(a ratio: exp of the mean log; HR over the non-monotone fits), residual SD (root-mean "
                     "variance), pooled event proportion, or each arm's share responding or events per "
                     "patient-year (treatment/control), allocation ratio",
                     ["endpoint", "effect", "SD", "P(event)", "ratio"])
    for r in results:  # "-": what the endpoint's method has not
        effects.add_row(f"[bold]{r.cell.key}[/]")
        for e in r.curve.endpoints:
            if e.powered:
                fx = r.curve.effects[e.label]
                arms = [fx.get(k, np.nan) for k in ("treatment_rate", "control_rate")]
                events = f"{arms[0]:.3f}/{arms[1]:.3f}" if np.isfinite(arms).all() else (
                    f"{fx['event_probability']:.3f}" if np.isfinite(fx.get("event_probability", np.nan)) else "-")
                sd = f"{fx['sd']:.3f}" if np.isfinite(fx.get("sd", np.nan)) else "-"
                effects.add_row(e.label, _effect_text(e.estimate, fx["estimate"]), sd, events, f"{r.curve.ratio:g}")
        effects.add_section()
    console.print(effects)


def _table(title: str, columns: Sequence[str], caption: str | None = None):
    """A rich table that never wraps a cell and is wide enough for its title (see _print_tables);
    square brackets are text, not markup."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title), caption=caption, title_justify="left", caption_justify="left", min_width=72)
    for i, col in enumerate(columns):
        t.add_column(escape(col), justify="left" if i == 0 else "right", no_wrap=True)
    return t


def _pm(value: float, se: float, digits: int = 3) -> str:
    return f"{value:.{digits}f} ± {se:.{digits}f}"


def _print_sequential(results: list[CellResult], trials: int, seed: int) -> None:
    """Per cell with interim looks: the boundaries, the operating characteristics, the stopping
    probabilities, maxima and median bias, and the exponential cross-check beside rpact's figures."""
    from lupustrial.design.operating import design_label

    for r in results:
        seq = r.curve.sequential
        if seq is None:
            continue
        d, unit = seq.design, seq.information
        k_max = len(d["information_rates"])
        head = f"{r.cell.key}: {seq.endpoint}, {design_label(d)}"
        bounds = _table(f"{head}: boundaries (z scale)", ["look", "information", "critical value", "futility bound",
                                                           "alpha spent"])
        for k in range(k_max):
            futility = d["futility_bounds"][k] if k < k_max - 1 else None
            bounds.add_row(str(k + 1), f"{d['information_rates'][k]:.3f}", f"{d['critical_values'][k]:.3f}",
                           "-" if futility is None or not np.isfinite(futility) else f"{futility:.3f}",
                           f"{d['alpha_spent'][k]:.5f}")
        console.print(bounds)
        oc = _table(f"{head}: operating characteristics ± MC s.e., {trials} trials per N, seed {seed}; type I "
                    "error under the null, ignoring non-binding futility", ["N", "power", "type I error",
                                                                             "E[N]", f"E[{unit}]", "E[months]"])
        for row in seq.table.itertuples():
            oc.add_row(str(row.n_total), _pm(row.power, row.power_se),
                       _pm(row.type_i_error_no_futility, row.type_i_error_no_futility_se), f"{row.expected_patients:.1f}",
                       f"{row.expected_information:.1f}", f"{row.expected_months:.1f}")
        console.print(oc)
        stops = _table(f"{head}: probability of stopping at each look, for efficacy / futility",
                       ["N", *(f"look {k + 1}" for k in range(k_max))])
        for n, rows in seq.looks.groupby("n_total"):
            stops.add_row(str(n), *(f"{e:.3f} / {f:.3f}" if k < k_max - 1 else f"{e:.3f}"
                                    for k, (e, f) in enumerate(zip(rows["efficacy"], rows["futility"]))))
        console.print(stops)
        _print_interim_decisions(seq, head)
        ratio = "HR" if unit == "events" else "GMR"
        most = _table(f"{head}: maxima (every look run) and the median {ratio} at the stop and at the last look "
                      "(median bias: their log ratio)", ["N", "max N", f"max {unit}", "max months", "at stop",
                                                         "last look", "bias"])
        for row in seq.table.itertuples():
            most.add_row(str(row.n_total), f"{row.max_patients:.1f}", f"{row.max_information:.1f}",
                         f"{row.max_months:.1f}", f"{np.exp(row.median_estimate):.3f}",
                         f"{np.exp(row.median_estimate_last_look):.3f}", f"{row.median_bias:+.3f}")
        console.print(most)
        _print_cross_check(seq, head)


def _print_interim_decisions(seq, head: str) -> None:
    """Median conditional power at each interim and, with re-estimation, how often trials grew."""
    k_max = len(seq.design["information_rates"])
    grows = "ssr_probability" in seq.table
    columns = ["N", *(f"CP look {k + 1}" for k in range(k_max - 1))] + (["P(grown)", "mean factor"] if grows else [])
    table = _table(f"{head}: median conditional power (current trend) at each interim among the trials still "
                   "running" + ("; sample-size re-estimation at the last interim" if grows else ""), columns)
    ssr = seq.table.set_index("n_total")
    for n, rows in seq.looks.groupby("n_total"):
        cells = [f"{cp:.3f}" for cp in rows["median_conditional_power"].iloc[:-1]]
        if grows:
            factor = ssr.at[n, "ssr_mean_factor"]
            cells += [f"{ssr.at[n, 'ssr_probability']:.3f}", "-" if np.isnan(factor) else f"{factor:.2f}"]
        table.add_row(str(n), *cells)
    console.print(table)


def _print_cross_check(seq, head: str) -> None:
    """rpact's power and expected events beside lupustrial's exponential and model simulations."""
    check = seq.cross_check
    if check.empty:
        return
    first = check.iloc[0]
    model = seq.table.set_index("n_total")
    where = (f"at the simulated hazards (HR {first.hazard_ratio:.3f}, control {first.lambda2_per_year:.3f} flares per "
             "patient-year): rpact's getPowerSurvival (Schoenfeld) vs lupustrial with exponential times (± MC s.e.) vs "
             "the model")
    for what, rpact, exponential, mine, digits in (
            ("power", "rpact_power", "exponential_power", "power", 3),
            ("expected events", "rpact_expected_events", "exponential_expected_events", "expected_information", 1)):
        table = _table(f"{head}: cross-check of the {what} {where}", ["N", "rpact", "exponential", "model"])
        for row in check.itertuples():
            table.add_row(str(row.n_total), f"{getattr(row, rpact):.{digits}f}",
                          _pm(getattr(row, exponential), getattr(row, exponential + "_se"), digits),
                          f"{model.at[row.n_total, mine]:.{digits}f}")
        console.print(table)
