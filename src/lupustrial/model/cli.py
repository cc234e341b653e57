"""``lupustrial model``: simulate virtual patients to Parquet, draw the qualification plots."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import typer

from lupustrial.atomic import atomic_path
from lupustrial.clikit import console, new_app, user_errors
from lupustrial.errors import LupustrialError
from lupustrial.model.parameters import ModelParameters, default_parameters

app = new_app("model", "Mechanistic PK/PD model of rituximab then belimumab.")

COLUMNS = ("rituximab_ug_ml", "belimumab_ug_ml", "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml",
           "flare_hazard_per_year", "cumulative_flare_hazard")

# --params: the BEAT-LUPUS calibration every simulation uses by default, or the literature/prior
# table of docs/model.md, so a user can see what calibration changed.
PARAMETER_SETS: dict[str, Callable[[], ModelParameters]] = {"calibrated": default_parameters, "prior": ModelParameters}
PARAMS_HELP = "calibrated (BEAT-LUPUS fit, docs/calibration.md) or prior (the table of docs/model.md)."
PRIOR_SET = "prior: the uncalibrated table of docs/model.md"
WORKERS_HELP = "Threads sharing the patients (0 = all cores); results do not depend on it."
# Follow-up cap of --weeks: 20 years, beyond any trial, keeps a typo from asking for terabytes of rows.
MAX_WEEKS = 1040


def parameter_set(name: str) -> ModelParameters:
    """The parameter set called ``name`` on the command line."""
    if name not in PARAMETER_SETS:
        raise LupustrialError(f"option --params must be {' or '.join(PARAMETER_SETS)}, not {name!r}")
    return PARAMETER_SETS[name]()


def _cannot_write(out: Path, exc: OSError) -> LupustrialError:
    """The one-line error for an ``--out`` the command cannot write."""
    return LupustrialError(f"option --out: cannot write {out} ({exc.strerror or exc})")


def _threads(workers: int) -> int:
    """Threads for ``--workers``: 0, the default, means every core."""
    return workers or os.cpu_count() or 1


def write_parquet(
    out: Path, patients: int, arm: str, weeks: float, seed: int, *, belimumab_start_day: float | None = None,
    chunk: int = 512, workers: int = 1, params: str = "calibrated",
) -> int:
    """Simulate the BEAT-LUPUS regimen and stream one row per patient and day to ``out``; rows written.

    ``params`` names a parameter set of ``PARAMETER_SETS``; ``chunk`` and ``workers`` change
    speed and memory only. ``belimumab_start_day`` (default 42) is for the belimumab arm only. The file appears
    only when complete (an interrupted run leaves an older file as it was), and its schema
    metadata ``lupustrial`` holds what made it (JSON: version, seed, arm, weeks, and under
    ``parameters`` the parameter set and its calibration's provenance).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lupustrial import __version__
    from lupustrial.model.dosing import beat_lupus_dosing
    from lupustrial.model.parameters import parameter_provenance
    from lupustrial.model.simulate import simulate_chunks
    from lupustrial.population.virtual import virtual_population

    if not 0 < weeks <= MAX_WEEKS:  # NaN fails too
        raise LupustrialError(f"option --weeks must be > 0 and <= {MAX_WEEKS}, not {weeks}")
    if belimumab_start_day is not None and arm != "belimumab":
        raise LupustrialError(f"option --belimumab-start-day applies to the belimumab arm, not {arm}")
    start_day = 42.0 if belimumab_start_day is None else belimumab_start_day
    if not 0 <= start_day < np.inf:  # NaN would silently mean "no belimumab"
        raise LupustrialError(f"option --belimumab-start-day must be a finite number >= 0, not {start_day}")
    if chunk < 1:
        raise LupustrialError(f"option --chunk must be >= 1, not {chunk}")
    days = np.arange(0.0, np.floor(7.0 * weeks) + 1.0)
    pop = virtual_population(patients, seed, parameter_set(params))
    dosing = beat_lupus_dosing(pop.covariates["weight_kg"], arm, start_day, float(days[-1]))
    made = {"lupustrial_version": __version__, "patients": patients, "arm": arm, "weeks": weeks, "seed": seed,
            **({"belimumab_start_day": start_day} if arm == "belimumab" else {}),
            "parameters": parameter_provenance() if params == "calibrated" else {"parameter_set": PRIOR_SET}}
    meta = {"lupustrial": json.dumps(made)}  # on the writer's schema, so in the file's footer
    try:
        with atomic_path(out) as tmp:
            writer = None
            rows = 0
            try:
                for part in simulate_chunks(pop, dosing, days, chunk=chunk, workers=workers):
                    values = part.outputs()
                    n = part.states.shape[0]
                    table = pa.table({
                        "patient": pa.array(np.repeat(np.arange(part.first, part.first + n, dtype=np.int32),
                                                      len(days))),
                        "day": pa.array(np.tile(days.astype(np.int32), n)),
                        **{c: pa.array(values[c].ravel()) for c in COLUMNS},
                    })
                    writer = writer or pq.ParquetWriter(tmp, table.schema.with_metadata(meta))
                    writer.write_table(table)
                    rows += table.num_rows
            finally:  # closed before atomic_path removes a failed run's file (Windows cannot remove an open one)
                if writer is not None:
                    writer.close()
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    return rows


@app.command()
@user_errors
def simulate(
    patients: int = typer.Option(..., "--patients", help="Number of virtual patients."),
    arm: str = typer.Option(..., "--arm", help="belimumab or placebo (rituximab for everyone before)."),
    weeks: float = typer.Option(..., "--weeks", help="Follow-up from the first rituximab infusion."),
    seed: int = typer.Option(..., "--seed", help="Seed of the virtual population."),
    out: Path = typer.Option(..., "--out", help=f"Parquet file to write: one row per patient and day, columns "
                             f"patient, day (0 = first rituximab infusion), {', '.join(COLUMNS)}."),
    belimumab_start_day: float = typer.Option(None, help="First belimumab infusion, days after rituximab "
                                              "(belimumab arm only; default 42)."),
    chunk: int = typer.Option(512, help="Patients integrated together (does not change results)."),
    workers: int = typer.Option(0, "--workers", min=0, help=WORKERS_HELP),
    params: str = typer.Option("calibrated", "--params", help=PARAMS_HELP),
) -> None:
    """Simulate virtual patients under the BEAT-LUPUS regimen and write daily trajectories."""
    rows = write_parquet(out, patients, arm, weeks, seed, belimumab_start_day=belimumab_start_day,
                         chunk=chunk, workers=_threads(workers), params=params)
    console.print(f"{rows} rows ({patients} patients, {params} parameters) written to {out}", soft_wrap=True,
                  markup=False)


@app.command()
@user_errors
def plot(
    out: Path = typer.Option(..., "--out", help="Folder for the qualification plots (PNG)."),
    patients: int = typer.Option(500, help="Virtual patients per arm."),
    seed: int = typer.Option(2021, help="Seed of the virtual population."),
    workers: int = typer.Option(0, "--workers", min=0, help=WORKERS_HELP),
    params: str = typer.Option("calibrated", "--params", help=PARAMS_HELP),
) -> None:
    """Draw the qualification plots: model against published facts."""
    from lupustrial.model.qualification import EXPECTED_MISSES, plot_qualification, qualify

    parameters = parameter_set(params)
    try:  # before the simulation, so an unwritable folder fails at once
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    results = qualify(patients, seed, parameters, workers=_threads(workers))
    console.print(f"{params} parameters, {patients} virtual patients, seed {seed}")
    try:
        paths = plot_qualification(results, out)
    except OSError as exc:
        raise _cannot_write(out, exc) from None
    for path in paths:
        console.print(f"wrote {path}")
    for check in results.checks:
        mark = {True: "[green]ok[/]", False: "[red]outside[/]", None: "context"}[check.passed]
        band = "" if check.passed is None else f" (band {check.low:g}–{check.high:g}, {check.basis})"
        if check.passed is False and check.name in EXPECTED_MISSES:
            band += "; a known miss, docs/qualification.md says why"
        console.print(f"{mark} {check.name}: {check.value:.3g} {check.unit}{band}")
