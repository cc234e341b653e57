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
from lupustrial.model.drugs import REGISTRY
from lupustrial.model.parameters import ModelParameters, calibrated, parameter_file
from lupustrial.protocol import Arm, Protocol, load_protocol

app = new_app("model", "Mechanistic PK/PD model of rituximab then belimumab.")

COLUMNS = tuple(f"{d.name}_ug_ml" for d in REGISTRY) + (
    "baff_ng_ml", "cd19_cells_ul", "anti_dsdna_iu_ml", "flare_hazard_per_year", "cumulative_flare_hazard")

# --params: the joint calibration every simulation uses by default (with the protocol's population),
# or the literature/prior table of docs/model.md, so a user can see what calibration changed; or a
# file of fitted values.
PARAMETER_SETS: dict[str, Callable[[str], ModelParameters]] = {"calibrated": calibrated,
                                                               "prior": lambda population: ModelParameters()}
PARAMS_HELP = ("calibrated (the joint fit, docs/calibration.md, with the protocol's population), prior (the table "
               "of docs/model.md), or a .json file as `lupustrial calibrate` writes it.")
PRIOR_SET = "prior: the uncalibrated table of docs/model.md"
WORKERS_HELP = "Threads sharing the patients (0 = all cores); results do not depend on it."
# Follow-up cap of --weeks: 20 years, beyond any trial, keeps a typo from asking for terabytes of rows.
MAX_WEEKS = 1040


def parameter_set(name: str, population: str = "beat-lupus") -> ModelParameters:
    """The parameter set called ``name`` on the command line, with ``population``'s own values: a name
    of ``PARAMETER_SETS`` or a .json file."""
    if name.lower().endswith(".json"):
        return parameter_file(Path(name), population)
    if name not in PARAMETER_SETS:
        raise LupustrialError(f"option --params must be {', '.join(PARAMETER_SETS)} or a .json file, not {name!r}")
    return PARAMETER_SETS[name](population)


def parameter_description(name: str, population: str = "beat-lupus") -> dict[str, object]:
    """What a results file says about the parameter set ``name`` (see :func:`parameter_set`)."""
    from lupustrial.model.parameters import parameter_provenance

    if name == "calibrated":
        return parameter_provenance(population)
    return {"parameter_set": PRIOR_SET if name == "prior" else f"read from {name}"}


def _cannot_write(out: Path, exc: OSError) -> LupustrialError:
    """The one-line error for an ``--out`` the command cannot write."""
    return LupustrialError(f"option --out: cannot write {out} ({exc.strerror or exc})")


def _threads(workers: int) -> int:
    """Threads for ``--workers``: 0, the default, means every core."""
    return workers or os.cpu_count() or 1


def protocol_arm(protocol: Protocol, name: str) -> Arm:
    """The arm of ``protocol`` called ``name``, whatever its case (``--arm placebo`` finds ``Placebo``)."""
    for arm in protocol.arms:
        if arm.name.casefold() == name.casefold():
            return arm
    names = ", ".join(a.name for a in protocol.arms)
    raise LupustrialError(f"option --arm must be an arm of protocol {protocol.name} ({names}), not {name!r}")


def default_start_day(protocol: Protocol) -> float:
    """The middle of the protocol's randomisation window, in days after the first rituximab infusion."""
    return float(round(7.0 * sum(protocol.randomisation.window_weeks) / 2.0))


def write_parquet(
    out: Path, patients: int, arm: str, weeks: float, seed: int, *, start_day: float | None = None,
    chunk: int = 512, workers: int = 1, params: str = "calibrated", protocol: str = "beat-lupus",
) -> int:
    """Simulate an arm of ``protocol`` and stream one row per patient and day to ``out``; rows written.

    Dosing is the protocol's: its background therapy from day 0, the arm's study drug from
    ``start_day`` (randomisation; default :func:`default_start_day`; arms with study drug only).
    ``params`` names a parameter set of ``PARAMETER_SETS``; ``chunk`` and ``workers`` change
    speed and memory only. The file appears only when complete (an interrupted run leaves an
    older file as it was), and its schema metadata ``lupustrial`` holds what made it (JSON:
    version, seed, protocol, arm, start day, weeks, and under ``parameters`` the parameter set and
    its calibration's provenance).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lupustrial import __version__
    from lupustrial.model.simulate import simulate_chunks
    from lupustrial.population.virtual import virtual_population
    from lupustrial.protocol import protocol_dosing

    if not 0 < weeks <= MAX_WEEKS:  # NaN fails too
        raise LupustrialError(f"option --weeks must be > 0 and <= {MAX_WEEKS}, not {weeks}")
    design = load_protocol(protocol)
    chosen = protocol_arm(design, arm)
    if start_day is not None and not chosen.dosing:
        raise LupustrialError(f"option --start-day applies to an arm with study drug; {chosen.name} has none")
    start = default_start_day(design) if start_day is None else start_day
    if not 0 <= start < np.inf:  # NaN would silently mean "no study drug"
        raise LupustrialError(f"option --start-day must be a finite number >= 0, not {start}")
    if chunk < 1:
        raise LupustrialError(f"option --chunk must be >= 1, not {chunk}")
    days = np.arange(0.0, np.floor(7.0 * weeks) + 1.0)
    pop = virtual_population(patients, seed, parameter_set(params, design.population.calibration))
    dosing = protocol_dosing(design, pop.covariates["weight_kg"], np.full(patients, chosen.name, dtype=object),
                             np.full(patients, start), np.full(patients, days[-1]))
    made = {"lupustrial_version": __version__, "patients": patients, "protocol": design.name, "arm": chosen.name,
            "weeks": weeks, "seed": seed, **({"start_day": start} if chosen.dosing else {}),
            "parameters": parameter_description(params, design.population.calibration)}
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
    arm: str = typer.Option(..., "--arm", help="An arm of the protocol, any case: belimumab or placebo in "
                            "beat-lupus (its background therapy, rituximab, for everyone before)."),
    weeks: float = typer.Option(..., "--weeks", help="Follow-up from the first rituximab infusion."),
    seed: int = typer.Option(..., "--seed", help="Seed of the virtual population."),
    out: Path = typer.Option(..., "--out", help=f"Parquet file to write: one row per patient and day, columns "
                             f"patient, day (0 = first rituximab infusion), {', '.join(COLUMNS)}."),
    start_day: float = typer.Option(None, "--start-day", "--belimumab-start-day",
                                    help="Day of randomisation, when the arm's study drug starts, after the first "
                                    "rituximab infusion (arms with study drug only; default: the middle of the "
                                    "protocol's randomisation window, 42 in beat-lupus)."),
    chunk: int = typer.Option(512, help="Patients integrated together (does not change results)."),
    workers: int = typer.Option(0, "--workers", min=0, help=WORKERS_HELP),
    params: str = typer.Option("calibrated", "--params", help=PARAMS_HELP),
    protocol: str = typer.Option("beat-lupus", "--protocol", help="Bundled protocol name or YAML file: the dosing."),
) -> None:
    """Simulate virtual patients under an arm of a protocol and write daily trajectories."""
    rows = write_parquet(out, patients, arm, weeks, seed, start_day=start_day, chunk=chunk,
                         workers=_threads(workers), params=params, protocol=protocol)
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
