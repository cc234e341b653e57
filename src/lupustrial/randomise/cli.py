"""``lupustrial randomise``: allocation lists and on-line allocation for a real trial."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import typer

from lupustrial.clikit import console, new_app, user_errors
from lupustrial.errors import DataError
from lupustrial.randomise.arms import RandomisationError
from lupustrial.randomise.blocks import allocation_list, assign
from lupustrial.randomise.export import write_allocation_list
from lupustrial.randomise.minimisation import minimise

app = new_app("randomise", "Randomisation: stratified permuted blocks and Pocock-Simon minimisation.")

ARMS = typer.Option("Belimumab:1,Placebo:1", "--arms", help="Arms and integer ratio, e.g. Belimumab:1,Placebo:1.")
SEED = typer.Option(..., "--seed", min=0, help="Seed (non-negative integer); keep it secret and on file.")
BLOCKS = typer.Option("2,4", "--block-sizes", help="Block sizes to draw from, multiples of the ratio sum.")


def parse_arms_option(text: str) -> dict[str, int]:
    """``Belimumab:1,Placebo:1`` -> {"Belimumab": 1, "Placebo": 1}."""
    arms: dict[str, int] = {}
    for part in text.split(","):
        name, _, ratio = part.partition(":")
        name = name.strip()
        if name in arms:
            raise RandomisationError(f"--arms: arm {name!r} given twice")
        try:
            arms[name] = int(ratio or "1")
        except ValueError:
            raise RandomisationError(f"--arms: ratio of {name!r} must be an integer, got {ratio!r}") from None
    return arms


def parse_levels_option(items: list[str], option: str) -> dict[str, list[str]]:
    """``["dsdna=high,low", "site=A,B"]`` -> {"dsdna": ["high", "low"], "site": ["A", "B"]}."""
    levels: dict[str, list[str]] = {}
    for item in items:
        factor, eq, values = item.partition("=")
        if not eq or not factor.strip() or not values.strip():
            raise RandomisationError(f"{option}: expected factor=level1,level2, got {item!r}")
        levels[factor.strip()] = [v.strip() for v in values.split(",")]
    return levels


def parse_ints_option(text: str, option: str) -> list[int]:
    """``2,4,6`` -> [2, 4, 6]."""
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise RandomisationError(f"{option}: expected integers separated by commas, got {text!r}") from None


def read_subjects(path: Path) -> pd.DataFrame:
    """Subjects in enrolment order, as text (levels are compared as text)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one line for the user
        raise DataError(f"cannot read the file: {type(exc).__name__}: {exc}".splitlines()[0], file=path) from None


def block_options(arms: str, strata: list[str], block_sizes: str, seed: int) -> dict[str, object]:
    """The permuted-block settings shared by ``list`` and ``assign``, parsed from their options."""
    return {
        "arms": parse_arms_option(arms),
        "strata_levels": parse_levels_option(strata, "--strata"),
        "block_sizes": parse_ints_option(block_sizes, "--block-sizes"),
        "seed": seed,
    }


@app.callback()
def main() -> None:
    """Randomisation: stratified permuted blocks and Pocock-Simon minimisation."""


@app.command("list")
@user_errors
def list_command(
    out: Path = typer.Option(..., "--out", help="Allocation list to write (.csv or .parquet)."),
    n: int = typer.Option(..., "--n", min=1, help="Slots per stratum (whole blocks are completed)."),
    seed: int = SEED,
    arms: str = ARMS,
    strata: list[str] = typer.Option([], "--strata", help="Stratification factor=level1,level2 (repeatable)."),
    block_sizes: str = BLOCKS,
) -> None:
    """Write a stratified permuted-block allocation list (STRATUM, SEQ, BLOCK, BLOCKSIZE, ARM)."""
    table = allocation_list(n_per_stratum=n, **block_options(arms, strata, block_sizes, seed))  # type: ignore[arg-type]
    path, settings = write_allocation_list(table, out)
    console.print(f"{len(table)} allocations in {table['STRATUM'].nunique()} strata written to {path} ({settings})")


@app.command("assign")
@user_errors
def assign_command(
    subjects: Path = typer.Argument(..., help="CSV of subjects in enrolment order with one column per factor."),
    out: Path = typer.Option(..., "--out", help="Subjects with STRATUM, SEQ, ARM (.csv or .parquet)."),
    seed: int = SEED,
    arms: str = ARMS,
    strata: list[str] = typer.Option([], "--strata", help="Stratification factor=level1,level2 (repeatable)."),
    block_sizes: str = BLOCKS,
) -> None:
    """Allocate subjects in file order by stratified permuted blocks (same lists as ``list``)."""
    options = block_options(arms, strata, block_sizes, seed)
    table = assign(read_subjects(subjects), file=str(subjects), **options)  # type: ignore[arg-type]
    write_allocation_list(table, out)
    console.print(f"{len(table)} subjects allocated, written to {out}")


@app.command("minimise")
@user_errors
def minimise_command(
    subjects: Path = typer.Argument(..., help="CSV of subjects in enrolment order with one column per factor."),
    out: Path = typer.Option(..., "--out", help="Subjects with SEQ, ARM (.csv or .parquet)."),
    seed: int = SEED,
    arms: str = ARMS,
    factor: list[str] = typer.Option(..., "--factor", help="Minimisation factor=level1,level2 (repeatable)."),
    p: float = typer.Option(0.8, "--p", help="Probability of the arm that minimises imbalance."),
    imbalance: str = typer.Option("range", "--imbalance", help="range or variance."),
) -> None:
    """Allocate subjects in file order by Pocock-Simon minimisation (equal ratios)."""
    table = minimise(
        read_subjects(subjects),
        parse_arms_option(arms),
        factors=parse_levels_option(factor, "--factor"),
        seed=seed,
        p=p,
        imbalance=imbalance,  # type: ignore[arg-type]  # checked by minimise
        file=str(subjects),
    )
    write_allocation_list(table, out)
    console.print(f"{len(table)} subjects allocated, written to {out}")
