"""Errors a user can act on.

Every problem with a user's input is raised as a :class:`LupustrialError` subclass whose
message is one line naming where the problem is (file, row, column or key). The CLI
prints that line and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path


class LupustrialError(Exception):
    """Base class of errors caused by input, shown to the user as one line."""


class DataError(LupustrialError):
    """A problem in a data file, located by file, row and column.

    ``row`` is the 1-based data row as a user sees it in the file (the header is not
    counted), so that it matches a spreadsheet's row number minus one.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.message = message
        where = []
        if self.file is not None:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class AnalysisError(LupustrialError):
    """An analysis that cannot be done on the data given (e.g. an arm with no subjects)."""
