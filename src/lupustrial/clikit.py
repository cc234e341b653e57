"""What every ``lupustrial`` sub-command shares: the consoles and one-line input errors.

Kept apart from :mod:`lupustrial.cli` so that sub-command packages (``indices``, ``model``,
``randomise`` ...) can import it without importing the top-level app that registers them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from lupustrial.errors import LupustrialError

console = Console()
err_console = Console(stderr=True)

def new_app(name: str, help: str) -> typer.Typer:
    """A typer app with the settings every lupustrial command group shares."""
    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False)


P = ParamSpec("P")
R = TypeVar("R")


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`LupustrialError` into one red line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except LupustrialError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            sys.exit(2)

    return wrapper
