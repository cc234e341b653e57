"""The ``lupustrial`` command line.

Each sub-command is a thin shell over a library function; errors caused by input are
shown as one line (see :mod:`lupustrial.errors`) and exit with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lupustrial import __version__
from lupustrial.clikit import console, new_app, user_errors
from lupustrial.errors import LupustrialError

app = new_app("lupustrial", "Trials of sequential B-cell therapy in SLE: analyse, simulate, reproduce, design.")
@app.callback(invoke_without_command=True)
def main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        console.print(f"lupustrial {__version__}")
        raise typer.Exit()


@app.command()
@user_errors
def analyze(
    directory: str = typer.Argument(
        ..., help="Folder with the trial's ADaM datasets (.csv, .parquet or .xpt), or 'example'."
    ),
    plan_file: Path | None = typer.Option(None, "--plan", help="Analysis plan YAML (default: the protocol's plan)."),
    protocol: str | None = typer.Option(None, "--protocol", help="Protocol whose plan runs when --plan is not given "
                                        "(default: the bundled one ADSL's STUDYID names, else beat-lupus)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the results as JSON here."),
    html_out: Path | None = typer.Option(None, "--html", help="Also write a self-contained HTML report here."),
    treatment: str | None = typer.Option(None, help="Compare only this arm with the reference (default: every arm)."),
    reference: str | None = typer.Option(None, help="Reference arm (default: the plan's, else 'Placebo')."),
    visit: float | None = typer.Option(None, help="AVISITN (weeks) of every endpoint analysed at a visit."),
    factor: list[str] = typer.Option([], "--factor", help="ADSL column to adjust the visit analyses for (repeatable)."),
    ties: str | None = typer.Option(None, help="Cox ties method of every Cox endpoint: efron or breslow."),
    trial: int = typer.Option(1, help="TRIALID to analyse when DIR holds many simulated trials."),
) -> None:
    """Analyse one trial's ADaM data with every endpoint of an analysis plan and print the results."""
    from pydantic import ValidationError

    from lupustrial.analysis.plan import load_plan
    from lupustrial.analysis.trial import analyze_trial, load_for_plan
    from lupustrial.data import example_trial_dir, select_trial
    from lupustrial.protocol import load_protocol
    from lupustrial.report.console import render_analysis
    from lupustrial.report.json import write_json

    folder = example_trial_dir() if directory == "example" and not Path(directory).exists() else Path(directory)
    if plan_file is None and protocol is None:
        protocol = _protocol_named_by(folder)
        if protocol is not None:
            console.print(f"plan: {protocol}'s (ADSL's STUDYID names it; --protocol or --plan to choose another)")
    plan = load_plan(plan_file) if plan_file is not None else load_protocol(protocol or "beat-lupus").plan()
    options = {"reference": reference, "treatment": treatment, "week": visit, "factors": tuple(factor), "ties": ties}
    try:
        plan = plan.with_options(**options)
    except ValidationError as exc:
        key = str(exc.errors()[0]["loc"][-1])
        name = {"treatments": "treatment", "week": "visit"}.get(key, "factor" if key.isdigit() else key)
        raise LupustrialError(f"option --{name}: {exc.errors()[0]['msg']}") from None
    result = analyze_trial(select_trial(load_for_plan(folder, plan), trial), plan)
    render_analysis(result, console)
    if json_out is not None:
        write_json(result.to_dict(), json_out)
        console.print(f"results written to {json_out}")
    if html_out is not None:
        from lupustrial.report.analysis_html import write_analysis_report

        console.print(f"report written to {write_analysis_report(result, html_out)}")


def _protocol_named_by(folder: Path) -> str | None:
    """The bundled protocol whose name ADSL's one STUDYID is (as ``lupustrial simulate`` writes
    it), else None; an unreadable folder is left for the analysis to report."""
    from lupustrial.data import find_dataset, read_dataset
    from lupustrial.protocol import bundled_protocols

    try:
        path = find_dataset(folder, "adsl") if folder.is_dir() else None
        ids = read_dataset(path, "adsl").get("STUDYID") if path is not None else None
    except LupustrialError:
        return None
    names = set() if ids is None else {str(v).strip().lower() for v in ids.dropna().unique()}
    return names.pop() if len(names) == 1 and names <= set(bundled_protocols()) else None


@app.command()
@user_errors
def simulate(
    protocol: str = typer.Argument(..., help="Protocol YAML file, or a bundled protocol's name (beat-lupus)."),
    out: Path = typer.Option(..., "--out", help="Folder for adsl, adlb, adtte, adae, adqs, adrs and adflare."),
    trials: int = typer.Option(1, "--trials", min=1, help="Number of replicate trials (column TRIALID)."),
    seed: int = typer.Option(2021, "--seed", min=0, help="Seed of every random draw."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes; results do not depend on it."),
    chunk: int = typer.Option(50, "--chunk", min=1, help="Trials per batch; results do not depend on it."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
) -> None:
    """Simulate replicate trials of PROTOCOL on virtual patients and write them as ADaM data."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from lupustrial.protocol import load_protocol
    from lupustrial.simulate import write_trials

    if fmt not in ("parquet", "csv"):
        raise LupustrialError(f"option --format: {fmt!r} is not parquet or csv")
    design = load_protocol(protocol)
    _output_folder(out)
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"simulating {design.name}", total=trials)
        written = write_trials(design, trials, seed, out, fmt, chunk=chunk, workers=workers,
                               progress=lambda k: bar.advance(task, k))
    console.print(f"{trials} trial(s) of {design.name} ({design.population.n_patients} patients each), seed {seed}: "
                  + ", ".join(str(p) for p in written.values()))


def _check_published(trial: str) -> None:
    """Refuse a trial with no bundled protocol and published figures."""
    from lupustrial.design.figures import published_trials

    if trial not in published_trials():
        raise LupustrialError(f"no published trial called {trial!r} (known: {', '.join(published_trials())})")


def _output_folder(folder: Path, option: str = "--out") -> None:
    """Create ``folder`` and check it takes files: a bad path fails in a second, not after the run."""
    import tempfile

    blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise LupustrialError(f"option {option}: {blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise LupustrialError(f"option {option}: cannot write in {folder} ({exc.strerror or exc})") from None


@app.command()
@user_errors
def reproduce(
    trial: str = typer.Argument("beat-lupus", help="Published trial to reproduce: beat-lupus, bliss-iv, bliss-sc, "
                                "rtx-ucl."),
    trials: int = typer.Option(1000, "--trials", min=2, help="Number of virtual trials."),
    seed: int = typer.Option(2021, "--seed", min=0, help="Seed of every random draw."),
    out: Path = typer.Option(Path("reproduce-out"), "--out", help="Folder for results.json and report.html."),
    workers: int = typer.Option(0, "--workers", min=0, help="Worker processes (0 = all cores)."),
) -> None:
    """Run a published trial many times on virtual patients and compare with its published figures."""
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from lupustrial.design.reproduce import reproduce as run
    from lupustrial.report.html import write_report
    from lupustrial.report.json import write_json

    _check_published(trial)
    _output_folder(out)
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"simulating and analysing {trial}", total=trials)
        result = run(trial, n_trials=trials, seed=seed, workers=workers or os.cpu_count() or 1,
                     progress=lambda k: bar.advance(task, k))
    table = Table(title=f"{trial}: published figures vs {trials} virtual trials (seed {seed})", title_justify="left")
    for col in ("figure", "published", "simulated median", "95% interval", "inside", "main effect close"):
        table.add_column(col, justify="left" if col == "figure" else "right")
    for c in result.comparison:
        close = "" if c.close is None else "[green]yes[/]" if c.close else "[red]no[/]"
        table.add_row(c.figure, f"{c.published:.3g}", f"{c.median:.3g}", f"{c.lower:.3g} to {c.upper:.3g}",
                      "[green]yes[/]" if c.inside else "[red]no[/]", close)
    console.print(table)
    write_json(result.to_dict(), out / "results.json")
    console.print(f"results written to {out / 'results.json'}")
    console.print(f"report written to {write_report(result, out / 'report.html')}")


@app.command()
@user_errors
def calibrate(
    patients: int = typer.Option(1000, "--patients", min=20, help="Virtual patients per arm in each trial's cohort."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the cohorts' draws and of the posterior draws."),
    draws: int = typer.Option(200, "--draws", min=1, help="Posterior parameter draws to store (for assurance)."),
    out: Path = typer.Option(Path("calibration.json"), "--out", help="Where to write the calibrated set."),
    start: str = typer.Option("shipped", "--start", help="Where the search starts: shipped (the calibration "
                              "lupustrial ships), prior (the parameter tables) or a calibration FILE."),
    evaluations: int = typer.Option(600, "--max-evaluations", min=1, help="Most evaluations of the distance."),
) -> None:
    """Fit the model to every published trial at once: BEAT-LUPUS and its parts (docs/calibration.md)."""
    from rich.table import Table

    from lupustrial.design.calibrate import calibrate as fit, calibration_settings
    from lupustrial.report.json import write_json

    if out.is_dir():
        raise LupustrialError(f"option --out: {out} is a folder, not a file")
    _output_folder(out.parent)
    settings = calibration_settings(start)
    with console.status("fitting") as status:
        result = fit(n=patients, seed=seed, n_draws=draws, start_settings=settings, max_evaluations=evaluations,
                     progress=lambda k, d: status.update(f"fitting: {k} evaluations, distance {d:.3g}"))
    table = Table(title=f"joint calibration (distance {result.provenance['distance']:.3g})", title_justify="left")
    for col in ("trial", "target", "published", "simulated", "residual (SE)"):
        table.add_column(col, justify="left" if col in ("trial", "target") else "right")
    for t in result.provenance["targets"]:
        table.add_row(t["trial"], t["figure"], f"{t['published']:.3g}", f"{t['simulated']:.3g}",
                      f"{t['residual']:+.2f}")
    console.print(table)
    write_json(result.to_dict(), out)
    console.print(f"calibrated parameter set written to {out}")


def _register_subcommands() -> None:
    """Sub-command groups owned by their packages (each a typer app in ``<package>/cli.py``)."""
    from lupustrial.design.cli import design
    from lupustrial.indices.cli import app as indices_app
    from lupustrial.model.cli import app as model_app
    from lupustrial.randomise.cli import app as randomise_app

    app.command()(user_errors(design))
    app.add_typer(indices_app, name="indices", help="SLE disease-activity indices and derived endpoints.")
    app.add_typer(model_app, name="model", help="The mechanistic PK/PD model: simulate patients, plot qualification.")
    app.add_typer(randomise_app, name="randomise",
                  help="Randomisation: stratified permuted blocks and Pocock-Simon minimisation.")


_register_subcommands()
