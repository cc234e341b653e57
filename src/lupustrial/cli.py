"""The ``lupustrial`` command line.

Each sub-command is a thin shell over a library function; errors caused by input are
shown as one line (see :mod:`lupustrial.errors`) and exit with status 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console

from lupustrial import __version__
from lupustrial.errors import LupustrialError

app = typer.Typer(
    name="lupustrial",
    help="Trials of sequential B-cell therapy in SLE: analyse, simulate, reproduce, design.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`LupustrialError` into one red line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LupustrialError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper


@app.callback(invoke_without_command=True)
def main(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        console.print(f"lupustrial {__version__}")
        raise typer.Exit()
