"""``lupustrial indices``: derive flare times and responder tables from a visits file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from lupustrial.clikit import console, new_app, user_errors

app = new_app("indices", "SLE disease-activity indices (SLEDAI-2K, BILAG-2004) and flare/response endpoints.")


@app.callback()
def main() -> None:
    """SLE disease-activity indices and flare/response endpoints from visit data."""


@app.command()
@user_errors
def derive(
    visits_file: str = typer.Argument(..., help="ADQS-style visits table (.csv or .parquet), or 'example'."),
    out: Path = typer.Option(..., "--out", help="Folder for adtte, adrsp, adqs_indices, adflare, adflcnt, adlldas (.csv)."),
    window: int = typer.Option(30, min=1, help="SLEDAI-2K look-back for laboratory values (days; Touma 2010)."),
    forward_window: int = typer.Option(3, min=0, help="Days after a visit an unlabelled laboratory value still counts."),
    baseline_visit: float = typer.Option(0, help="AVISITN of the baseline visit."),
    lldas_basis: str = typer.Option("time", help="Time in LLDAS as share of observed 'time' or of assessed 'visits'."),
) -> None:
    """Derive BILAG-2004 flares (first, every, per patient-year), SRI/BICLA/LLDAS/DORIS/MCR flags, time in LLDAS."""
    from lupustrial.indices.derive import EXAMPLE_VISITS, derive as derive_tables, read_visits, write_derived

    path = EXAMPLE_VISITS if visits_file == "example" and not Path(visits_file).exists() else Path(visits_file)
    if lldas_basis not in ("time", "visits"):
        raise typer.BadParameter("must be 'time' or 'visits'", param_hint="--lldas-basis")
    derived = derive_tables(
        read_visits(path),
        source=str(path),
        window_days=window,
        forward_days=forward_window,
        baseline_visit=baseline_visit,
        lldas_basis=lldas_basis,
    )
    paths = write_derived(derived, out)

    tte = derived.adtte
    table = Table(title=f"Flares in {tte['USUBJID'].nunique()} subjects")
    for column in ("endpoint", "events", "censored"):
        table.add_column(column)
    for paramcd, group in tte.groupby("PARAMCD", sort=False):
        table.add_row(str(paramcd), str(int((group["CNSR"] == 0).sum())), str(int((group["CNSR"] == 1).sum())))
    console.print(table)
    for name, written in paths.items():
        console.print(f"{name} written to {written}")
