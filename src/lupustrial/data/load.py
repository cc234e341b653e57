"""Read, validate and write a trial's ADaM datasets.

Validation stops at the first problem and names the file, the 1-based data row (header not
counted) and the column, because a statistician fixing a file wants to go straight to the cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lupustrial.atomic import atomic_path
from lupustrial.data.schema import DATASETS, DATE_ORDER, FLAG, KEYS, Column
from lupustrial.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

EXTENSIONS = (".csv", ".parquet", ".xpt")
SAS_EPOCH = pd.Timestamp("1960-01-01")
MISSING_TOKENS = ("NA", ".")
ISO_DATE = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"
DATE9 = r"\d{1,2}[A-Za-z]{3}\d{4}"


#: The datasets of a trial read without an analysis plan: name -> schema kind (data.schema.DATASETS).
STANDARD = {"adsl": "adsl", "adlb": "adlb", "adtte": "adtte", "adae": "adae"}
#: Datasets a trial may lack: an empty one with the schema's required columns stands in.
OPTIONAL = ("adae",)


@dataclass(frozen=True)
class TrialData:
    """One trial's ADaM datasets by name (adsl, adlb, ...), validated, with its arms in ADSL order.

    ``paths`` says which file each dataset came from, for messages; ``adsl`` to ``adae`` are the
    usual four (an absent one is empty).
    """

    datasets: Mapping[str, pd.DataFrame]
    paths: Mapping[str, Path]
    directory: Path
    arms: tuple[str, ...]

    def dataset(self, name: str) -> pd.DataFrame:
        if name not in self.datasets:
            raise DataError(f"no {name.upper()} dataset was read", file=self.directory)
        return self.datasets[name]

    def _get(self, name: str) -> pd.DataFrame:
        return self.datasets[name] if name in self.datasets else empty_dataset(name)

    @property
    def adsl(self) -> pd.DataFrame:
        return self.datasets["adsl"]

    @property
    def adlb(self) -> pd.DataFrame:
        return self._get("adlb")

    @property
    def adtte(self) -> pd.DataFrame:
        return self._get("adtte")

    @property
    def adae(self) -> pd.DataFrame:
        return self._get("adae")


def empty_dataset(kind: str) -> pd.DataFrame:
    """A dataset of ``kind`` with no rows and the schema's required columns."""
    return pd.DataFrame({c.name: pd.Series(dtype=object) for c in DATASETS[kind] if c.required})


def select_trial(data: TrialData, trial: int) -> TrialData:
    """One trial of a file of simulated replicate trials (column TRIALID); real data pass through."""
    if "TRIALID" not in data.adsl.columns:
        if trial != 1:
            raise DataError(f"no TRIALID column, so there is only trial 1, not {trial}", file=data.directory)
        return data
    if not (data.adsl["TRIALID"] == trial).any():
        ids = data.adsl["TRIALID"]
        raise DataError(f"no trial {trial} (TRIALID runs {ids.min()} to {ids.max()})", file=data.directory)
    subjects = data.adsl.loc[data.adsl["TRIALID"] == trial, "USUBJID"]

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[df["USUBJID"].isin(subjects)].reset_index(drop=True)

    return TrialData({k: keep(df) for k, df in data.datasets.items()}, data.paths, data.directory, data.arms)


def example_trial_dir(name: str = "beat-lupus-synthetic") -> Path:
    """Folder of a bundled example trial."""
    folder = resources.files("lupustrial.data") / "examples" / name.replace("-", "_")
    if not folder.is_dir():
        raise DataError(f"no bundled example trial called {name!r}")
    return Path(str(folder))


def _check_csv_text(path: Path) -> None:
    """Refuse, at the offending row, the ways a spreadsheet commonly saves a CSV we cannot read.

    A repeated header is caught here because pandas would silently rename the second copy.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as 'CSV UTF-8'",
                        file=path, row=data[: exc.start].count(b"\n") or None) from None
    header = next(csv.reader(io.StringIO(text.split("\n", 1)[0])), [])
    if len(header) == 1 and ";" in header[0]:
        raise DataError("columns are separated by ';'; save the file with ',' as separator", file=path)
    _check_unique_names(header, path)


def _check_unique_names(names: Iterable[object], path: Path) -> None:
    """Column names are matched case-insensitively, so 'aval' and 'AVAL' would collide."""
    seen: set[str] = set()
    for name in (str(n).strip().upper() for n in names):
        if name in seen:
            raise DataError("column appears twice in the header", file=path, column=name)
        seen.add(name)


def _raw(path: Path) -> pd.DataFrame:
    """A file as found: upper-case headers, strings stripped of SAS's padding, blanks as missing."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            _check_csv_text(path)
            # Blank lines are kept so that row numbers match the file; trailing ones are dropped.
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], skip_blank_lines=False)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        elif suffix == ".xpt":
            import pyreadstat

            df, _ = pyreadstat.read_xport(str(path))
        else:
            raise DataError(f"unsupported file type {suffix!r} (use {', '.join(EXTENSIONS)})", file=path)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure becomes one line for the user
        raise DataError(f"cannot read the file: {type(exc).__name__}: {exc}".splitlines()[0], file=path) from None
    _check_unique_names(df.columns, path)
    df.columns = [str(c).strip().upper() for c in df.columns]
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            stripped = df[col].map(lambda v: v.strip() if isinstance(v, str) else v, na_action="ignore")
            df[col] = stripped.astype(object).where(stripped.notna() & (stripped != ""), np.nan)
    filled = np.flatnonzero(df.notna().any(axis=1).to_numpy())
    return df.iloc[: filled[-1] + 1 if filled.size else 0].reset_index(drop=True)


def read_dataset(path: str | Path, kind: str) -> pd.DataFrame:
    """One ADaM dataset (``kind`` = adsl, adlb, adtte or adae) read and checked against its schema."""
    path = Path(path)
    if kind.lower() not in DATASETS:
        raise DataError(f"unknown dataset kind {kind!r} (use {', '.join(DATASETS)})", file=path)
    if not path.is_file():
        raise DataError("no such file", file=path)
    return validate_dataset(_raw(path), kind.lower(), path)


def _fail(msg: str, path: Path, mask: pd.Series | np.ndarray, column: str, got: pd.Series | None = None) -> None:
    """Raise ``msg`` at the first row where ``mask`` is true, quoting that row of ``got`` if given.

    Saying how many more rows share the problem tells the user whether to fix a cell or a file.
    """
    rows = np.flatnonzero(np.asarray(mask, dtype=bool))
    if rows.size:
        i = int(rows[0])
        if got is not None:
            value = got.iloc[i]
            msg += f", got {value:g}" if isinstance(value, (int, float, np.number)) else f", got {value!r}"
        more = f" ({rows.size - 1} more row{'s' if rows.size > 2 else ''} like it)" if rows.size > 1 else ""
        raise DataError(msg + more, file=path, row=i + 1, column=column)


def _text(value: object) -> object:
    """A cell as text; whole numbers (e.g. numeric IDs from SAS) without a spurious '.0'."""
    if isinstance(value, str) or pd.isna(value):
        return value
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _parse_dates(raw: pd.Series) -> pd.Series:
    """Dates from datetimes, SAS day numbers, YYYY-MM-DD (optionally with a time) or DATE9 text.

    Anything else, including partial dates such as '2017-02', is left missing for the caller to
    report: imputing a day silently would move event times.
    """
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw
    if pd.api.types.is_numeric_dtype(raw):
        return SAS_EPOCH + pd.to_timedelta(raw, unit="D")
    text = raw.map(lambda v: v if isinstance(v, str) else pd.Timestamp(v).isoformat(), na_action="ignore")
    text = text.astype(object).where(text.notna(), "")
    iso = pd.to_datetime(text.where(text.str.fullmatch(ISO_DATE)), errors="coerce", format="ISO8601")
    date9 = pd.to_datetime(text.where(text.str.fullmatch(DATE9)), errors="coerce", format="%d%b%Y")
    return iso.fillna(date9)


def _to_numeric(raw: pd.Series) -> pd.Series:
    """Numbers from text, NaN where a cell is not one, each correctly rounded.

    pandas' fast parser decides what is a number but can be one unit in the last place off
    (3.0219210113629996e-146 read as 3.021921011363e-146); Python's ``float`` rounds exactly,
    so a file written and read again gives back the same values.
    """
    values = pd.to_numeric(raw, errors="coerce")
    ok = values.notna()
    if ok.any():
        values = values.astype(float)
        values[ok] = raw[ok].map(float).to_numpy(dtype=float)
    return values


def _coerce(df: pd.DataFrame, col: Column, path: Path) -> None:
    """Convert ``col`` to its kind in place; the first bad cell raises."""
    raw = df[col.name]
    if col.kind in ("float", "int", "date"):
        # R writes NA and SAS writes '.' for a missing number or date.
        raw = raw.astype(object).where(~raw.isin(MISSING_TOKENS), np.nan)
    present = raw.notna()
    if col.kind in ("float", "int"):
        values = _to_numeric(raw)
        _fail("expected a number", path, present & values.isna(), col.name, raw)
        _fail("expected a finite number", path, np.isinf(values.astype(float)), col.name, raw)
        if col.kind == "int":
            if col.allowed is not None:
                bad = values.notna() & ~values.isin([float(a) for a in col.allowed])
                _fail(f"must be one of {', '.join(col.allowed)}", path, bad, col.name, raw)
            _fail("expected a whole number", path, values.notna() & (values != np.round(values)), col.name, raw)
            values = values.astype("Int64")
        df[col.name] = values
    elif col.kind == "date":
        values = _parse_dates(raw)
        _fail("expected a date (YYYY-MM-DD or DDMONYYYY)", path, present & values.isna(), col.name, raw)
        df[col.name] = values.dt.normalize()
    else:
        values = raw.map(_text).astype(object)
        df[col.name] = values.where(values.notna(), np.nan)
        allowed = FLAG if col.kind == "flag" else col.allowed
        if allowed is not None:
            _fail(f"must be one of {', '.join(allowed)}", path, present & ~values.isin(allowed), col.name, raw)


def _numeric_extras(df: pd.DataFrame, kind: str) -> None:
    """Make extra text columns that hold only numbers (e.g. WEIGHTBL from a CSV) numeric, in place.

    A covariate then has the same type whether it came from CSV, Parquet or XPT. Codes with a
    leading zero ('007') stay text: a number would lose the zero.
    """
    declared = {c.name for c in DATASETS[kind]}
    for name in df.columns:
        raw = df[name]
        if name in declared or not (raw.dtype == object or pd.api.types.is_string_dtype(raw)):
            continue
        text = raw.dropna()
        if text.empty or not all(isinstance(v, str) for v in text) or text.str.match(r"[-+]?0\d").any():
            continue
        values = _to_numeric(text)
        if values.notna().all() and np.isfinite(values).all():
            df[name] = _to_numeric(raw.astype(object).where(raw.notna(), np.nan))


def validate_dataset(df: pd.DataFrame, kind: str, path: Path) -> pd.DataFrame:
    """Check one dataset against its schema; return it with columns converted to their kinds."""
    df = df.copy()
    _numeric_extras(df, kind)
    for col in DATASETS[kind]:
        if col.name not in df.columns:
            if col.required:
                raise DataError(f"required column {col.name} is missing", file=path, column=col.name)
            continue
        _coerce(df, col, path)
        if not col.nullable:
            _fail("missing value in a required column", path, df[col.name].isna(), col.name)
        if col.minimum is not None:
            values = df[col.name]
            _fail(f"must be >= {col.minimum:g}", path, values.notna() & (values < col.minimum), col.name, values)
    for early, late in DATE_ORDER.get(kind, ()):
        if early in df.columns and late in df.columns:
            _fail(f"{early} is after {late}", path, df[early] > df[late], late)
    key = KEYS.get(kind)
    if key is not None:
        # A record with a blank key (an unscheduled visit) identifies nothing and is not compared.
        group = df.groupby(list(key), dropna=True, sort=False).ngroup()
        dup = np.flatnonzero((group.duplicated() & (group >= 0)).to_numpy())
        if dup.size:
            first = int(np.flatnonzero((group == group.iloc[dup[0]]).to_numpy())[0])
            raise DataError(f"duplicate record for {', '.join(key)} (same as row {first + 1})",
                            file=path, row=int(dup[0]) + 1, column=key[-1])
    return df


def find_dataset(directory: Path, name: str, params: Iterable[str] = ()) -> Path | None:
    """The one file in ``directory`` holding dataset ``name`` (any case, any known extension).

    A file called ``name`` wins; else a file whose name starts with it (``adlbc.xpt`` for ADLB).
    Among several such files, the one holding a parameter in ``params`` (its PARAMCD column) is
    taken, as a sponsor splits labs into ``adlbc`` (chemistry) and ``adlbh`` (haematology).
    """
    files = [p for p in directory.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file()]
    hits = [p for p in files if p.stem.lower() == name] or [p for p in files if p.stem.lower().startswith(name)]
    wanted = set(params)
    if len(hits) > 1 and wanted and len({p.stem.lower() for p in hits}) == len(hits):
        holding = [p for p in hits if wanted & set(_raw(p).get("PARAMCD", pd.Series(dtype=object)).dropna())]
        hits = holding or hits
    if len(hits) > 1:
        names = ", ".join(sorted(p.name for p in hits))
        raise DataError(f"two files for {name.upper()}: {names}; keep one, or name it in the plan "
                        f"(datasets: {{{name}: FILE}})", file=directory)
    return hits[0] if hits else None


def _check_arms(adsl: pd.DataFrame, arms: Iterable[str] | None, path: Path) -> tuple[str, ...]:
    """The trial's arms; a misspelt arm would otherwise become a third arm of one subject."""
    planned = list(dict.fromkeys(adsl["TRT01P"]))
    allowed = list(arms) if arms is not None else planned
    _fail(f"unknown arm (expected one of {', '.join(allowed)})", path, ~adsl["TRT01P"].isin(allowed), "TRT01P")
    actual = adsl["TRT01A"]
    _fail(f"unknown arm (expected one of {', '.join(allowed)} or blank)", path,
          actual.notna() & ~actual.isin(allowed), "TRT01A")
    return tuple(a for a in allowed if a in planned) if arms is None else tuple(allowed)


def _check_subjects(df: pd.DataFrame, subjects: pd.Series, path: Path) -> None:
    """Records of a subject absent from ADSL would silently drop out of every analysis."""
    _fail("subject is not in ADSL", path, ~df["USUBJID"].isin(subjects), "USUBJID")


def _derive_base(adlb: pd.DataFrame) -> pd.DataFrame:
    """BASE from the baseline visit (AVISITN 0), as ADaM derives it, when the file has none."""
    base = adlb[adlb["AVISITN"] == 0].set_index(["USUBJID", "PARAMCD"])["AVAL"]
    idx = pd.MultiIndex.from_frame(adlb[["USUBJID", "PARAMCD"]])
    adlb["BASE"] = base.reindex(idx).to_numpy()
    return adlb


def validate_trial(
    frames: Mapping[str, pd.DataFrame],
    paths: Mapping[str, Path],
    directory: Path,
    *,
    kinds: Mapping[str, str] | None = None,
    arms: Iterable[str] | None = None,
    log_params: Mapping[str, Iterable[str]] | None = None,
) -> TrialData:
    """Validate raw datasets (name -> frame), each alone and against ADSL, and derive what ADaM lets be absent.

    ``kinds`` gives each dataset's schema (:data:`DATASETS`; default: its name, e.g. ``adlb``, or
    the generic BDS schema for a name it lacks, e.g. ``adqs``);
    ``log_params`` the parameters of each dataset analysed on the log scale, whose values must
    be positive (default: DSDNA in ADLB).
    """
    kinds = {name: (kinds or {}).get(name, name if name in DATASETS else "bds") for name in frames}
    ds = {name: validate_dataset(frames[name], kinds[name], paths[name]) for name in frames}
    adsl = ds["adsl"]
    arm_names = _check_arms(adsl, arms, paths["adsl"])
    for name, df in ds.items():
        if name != "adsl":
            _check_subjects(df, adsl["USUBJID"], paths[name])
        if kinds[name] == "adlb" and "BASE" not in df.columns:
            ds[name] = _derive_base(df)
    for flag in ("ITTFL", "SAFFL"):
        if flag not in adsl.columns:
            adsl[flag] = "Y"
    if "TRTDURD" not in adsl.columns:
        adsl["TRTDURD"] = (adsl["TRTEDT"] - adsl["TRTSDT"]).dt.days + 1.0
    for name, params in ({"adlb": ("DSDNA",)} if log_params is None else log_params).items():
        if name in ds:
            _check_positive(ds[name], params, paths[name])
    return TrialData(ds, dict(paths), directory, arm_names)


def _check_positive(df: pd.DataFrame, params: Iterable[str], path: Path) -> None:
    for param in params:
        rows = df["PARAMCD"] == param
        for col in ("AVAL", "BASE"):
            if col in df.columns:
                _fail(f"{param} is analysed on the log scale and needs a positive value", path,
                      rows & df[col].notna() & (df[col] <= 0), col, df[col])
        _fail(f"{param} is analysed on the log scale; its AVAL must not be missing", path,
              rows & df["AVAL"].isna(), "AVAL")


def load_trial(
    directory: str | Path,
    *,
    datasets: Mapping[str, str] = STANDARD,
    files: Mapping[str, str | Path] | None = None,
    params: Mapping[str, Iterable[str]] | None = None,
    arms: Iterable[str] | None = None,
    log_params: Mapping[str, Iterable[str]] | None = None,
) -> TrialData:
    """Read and validate the ``datasets`` (name -> schema kind) of the trial in ``directory``.

    ``files`` names a dataset's file (relative to ``directory``) where finding it by name would
    not do; ``params`` the parameters read from each dataset (to choose between ``adlbc`` and
    ``adlbh``, see :func:`find_dataset`). Every dataset but those in :data:`OPTIONAL` must exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError("no such folder", file=directory)
    frames: dict[str, pd.DataFrame] = {}
    paths: dict[str, Path] = {}
    for name, kind in {"adsl": "adsl", **datasets}.items():
        given = (files or {}).get(name)
        path = directory / given if given is not None else find_dataset(directory, name, (params or {}).get(name, ()))
        if given is not None and not path.is_file():
            raise DataError(f"no such file (datasets.{name} of the plan)", file=path)
        if path is None:
            if name not in OPTIONAL:
                raise DataError(f"no {name.upper()} file ({name}.csv, {name}.parquet or {name}.xpt)", file=directory)
            path = directory / f"{name}.csv"
            frames[name] = empty_dataset(kind)
        else:
            frames[name] = _raw(path)
        paths[name] = path
    return validate_trial(frames, paths, directory, kinds=datasets, arms=arms, log_params=log_params)


class TrialWriter:
    """ADaM datasets written part by part (e.g. a chunk of simulated trials at a time), each as
    ``NAME.csv`` or ``NAME.parquet`` in ``directory``, so that no dataset need be held whole: the
    parts are appended to temporary files which, when the ``with`` block ends without error and
    every file is closed, replace their targets one after another, each atomically (and which are
    removed if anything fails before). Every part must have the first part's columns.

    Parquet holds plain columns: a categorical column is stored dictionary-encoded (quick to
    write) but read back as text, as from CSV, since no pandas or Arrow schema that would restore
    the categories is stored. Every part is cast to the first part's Arrow schema, in which text
    columns that were empty there are text, and dictionaries have 32-bit indices (a later part may
    have more categories). Each part is a row group; only text columns are dictionary-encoded
    (numbers gain little and cost a third of the writing), and only TRIALID has statistics, so a
    reader can skip to a trial. A part may come as an Arrow table (:func:`arrow_table`), converted
    where it was made (e.g. in a worker process).
    """

    def __init__(self, directory: str | Path, fmt: str = "csv") -> None:
        if fmt not in ("csv", "parquet"):
            raise DataError(f"unknown format {fmt!r}: use csv or parquet")
        self.directory, self.fmt = Path(directory), fmt
        self.written: dict[str, Path] = {}
        self._files = ExitStack()  # temporary files: replace their targets, or are removed
        self._open_files = ExitStack()  # what writes them: closed first
        self._sinks: dict[str, object] = {}
        self._columns: dict[str, list[str]] = {}

    def __enter__(self) -> TrialWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._open_files.__exit__(*exc)
        except BaseException as error:  # a file that failed to close is not put in place
            self._files.__exit__(type(error), error, error.__traceback__)
            raise
        self._files.__exit__(*exc)

    def append(self, frames: Mapping[str, pd.DataFrame | pa.Table]) -> None:
        """Append one part of each dataset (the same datasets, with the same columns, every time)."""
        for kind, df in frames.items():
            columns = [str(c) for c in (df.columns if isinstance(df, pd.DataFrame) else df.column_names)]
            if kind not in self._sinks:
                target = self.directory / f"{kind}.{self.fmt}"
                tmp = self._files.enter_context(atomic_path(target))
                self._sinks[kind] = self._open(tmp, df)
                self.written[kind], self._columns[kind] = target, columns
            elif columns != self._columns[kind]:
                raise DataError(f"{kind}: a part has columns {', '.join(columns)}; the first had "
                                f"{', '.join(self._columns[kind])}")
            self._write(kind, df)

    def _open(self, tmp: Path, part: pd.DataFrame | pa.Table) -> object:
        if self.fmt == "csv":
            return self._open_files.enter_context(open(tmp, "w", newline="", encoding="utf-8"))
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_table(part).schema
        for i, field in enumerate(schema):
            if pa.types.is_null(field.type):
                schema = schema.set(i, field.with_type(pa.string()))
            elif pa.types.is_dictionary(field.type):
                schema = schema.set(i, field.with_type(pa.dictionary(pa.int32(), field.type.value_type)))
        text = [f.name for f in schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)
                or pa.types.is_large_string(f.type)]
        writer = pq.ParquetWriter(tmp, schema, store_schema=False, use_dictionary=text,
                                  write_statistics=[c for c in ("TRIALID",) if c in schema.names])
        self._open_files.callback(writer.close)
        return writer

    def _write(self, kind: str, part: pd.DataFrame | pa.Table) -> None:
        sink = self._sinks[kind]
        if self.fmt == "csv":
            out = part.to_pandas() if not isinstance(part, pd.DataFrame) else part.copy(deep=False)
            for col in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[col]):
                    out[col] = out[col].dt.strftime("%Y-%m-%d")
            out.to_csv(sink, index=False, header=sink.tell() == 0)
        else:
            import pyarrow as pa

            table = arrow_table(part)
            try:
                table = table.cast(sink.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                differ = [f"{f.name} is {f.type}, was {g.type}" for f, g in zip(table.schema, sink.schema, strict=True)
                          if f.type != g.type]
                raise DataError(f"{kind}: a part's columns do not fit the first part's ({'; '.join(differ)}): "
                                f"{exc}") from None
            sink.write_table(table)


def arrow_table(part: pd.DataFrame | pa.Table) -> pa.Table:
    """A dataset as an Arrow table of plain columns (no pandas schema or index), as Parquet stores it."""
    import pyarrow as pa

    if isinstance(part, pd.DataFrame):
        return pa.Table.from_pandas(part, preserve_index=False).replace_schema_metadata(None)
    return part


def write_trial(data: TrialData | Mapping[str, pd.DataFrame], directory: str | Path, fmt: str = "csv") -> dict[str, Path]:
    """Write each dataset to ``directory`` as ``NAME.csv`` or ``NAME.parquet``, each file atomically."""
    with TrialWriter(directory, fmt) as writer:
        writer.append(dict(data.datasets) if isinstance(data, TrialData) else data)
    return writer.written
