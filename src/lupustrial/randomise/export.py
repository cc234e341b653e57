"""Write an allocation list for an IWRS, with the settings that regenerate it beside it.

The CSV is what the IWRS vendor loads; the ``.settings.json`` sidecar (seed entropy, arms,
block sizes, strata, package version) is what the trial statistician files, so that the
list can be regenerated and checked byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lupustrial import __version__
from lupustrial.randomise.arms import RandomisationError


def settings_path(path: Path) -> Path:
    """Where the settings of the list at ``path`` go: ``list.csv`` -> ``list.settings.json``."""
    return path.with_suffix(".settings.json")


def write_allocation_list(table: pd.DataFrame, path: str | Path) -> tuple[Path, Path]:
    """Write ``table`` as CSV (or Parquet by suffix) and its ``.attrs`` settings as JSON."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise RandomisationError(f"out: {path} must end in .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    meta = {**table.attrs.get("randomisation", {}), "lupustrial_version": __version__, "rows": len(table)}
    settings = settings_path(path)
    settings.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return path, settings
