"""ADaM data: schemas, readers (CSV, Parquet, SAS XPT), validation and writers."""

from lupustrial.data.load import (
    STANDARD,
    TrialData,
    TrialWriter,
    arrow_table,
    empty_dataset,
    example_trial_dir,
    find_dataset,
    load_trial,
    read_dataset,
    select_trial,
    validate_dataset,
    validate_trial,
    write_trial,
)
from lupustrial.data.schema import DATASETS, Column, schema_markdown

__all__ = [
    "DATASETS",
    "Column",
    "STANDARD",
    "TrialData",
    "TrialWriter",
    "arrow_table",
    "empty_dataset",
    "example_trial_dir",
    "find_dataset",
    "load_trial",
    "read_dataset",
    "schema_markdown",
    "select_trial",
    "validate_dataset",
    "validate_trial",
    "write_trial",
]
