"""Run many virtual trials in chunks, in parallel if asked, in trial order.

Chunks of trials go to worker processes; each chunk's data depend only on the seed and the
trial indices (see :mod:`.streams`), so results are identical whatever ``workers`` or
``chunk`` is.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing, nullcontext
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import union_categoricals

from lupustrial.data import TrialWriter, arrow_table
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.settings import SimulationSettings
from lupustrial.simulate.trial import check_protocol, simulate_chunk

T = TypeVar("T")


def imap_chunks(func: Callable[[range], T], n_trials: int, *, chunk: int = 50, workers: int = 1,
                progress: Callable[[int], None] | None = None) -> Iterator[T]:
    """``func(trials)`` for consecutive ranges of trial indices, yielded in order as they finish.

    ``func`` must be picklable (a module-level function or a ``functools.partial`` of one)
    when ``workers`` > 1; ``progress`` is told how many trials each finished chunk held. At most
    two chunks per worker are in flight, so a long run never holds more than a few chunks' results.
    This is the project's one parallel map: the model's own parallelism is threads inside
    ``simulate(workers=...)``, which defaults to 1, so worker processes never oversubscribe.
    """
    if n_trials < 1 or chunk < 1 or workers < 1:
        raise ValueError("n_trials, chunk and workers must be >= 1")
    ranges = [range(lo, min(lo + chunk, n_trials)) for lo in range(0, n_trials, chunk)]
    if workers == 1:
        for r in ranges:
            yield func(r)
            if progress is not None:
                progress(len(r))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = deque((r, pool.submit(func, r)) for r in ranges[:2 * workers])
        ahead = iter(ranges[2 * workers:])
        try:
            while pending:
                r, fut = pending.popleft()
                result = fut.result()
                nxt = next(ahead, None)
                if nxt is not None:
                    pending.append((nxt, pool.submit(func, nxt)))
                yield result
                if progress is not None:
                    progress(len(r))
        finally:  # stopped early (an error, or the caller closed us): start no more chunks
            for _, fut in pending:
                fut.cancel()


def map_chunks(func: Callable[[range], T], n_trials: int, *, chunk: int = 50, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> list[T]:
    """:func:`imap_chunks`'s results as a list."""
    return list(imap_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress))


def iter_trials(protocol: Protocol, n_trials: int, seed: int, *, params: ModelParameters | None = None,
                settings: SimulationSettings | None = None, chunk: int = 50, workers: int = 1,
                progress: Callable[[int], None] | None = None,
                compact: bool = False) -> Iterator[dict[str, pd.DataFrame]]:
    """ADaM DataFrames of trials 1..``n_trials`` (column TRIALID), a chunk of trials at a time in
    trial order, simulated by ``workers`` processes: what ``lupustrial simulate`` writes as it goes.
    ``compact`` leaves ADQS's and ADRS's USUBJID categorical, as is quickest to pass between processes and
    write (:class:`lupustrial.data.TrialWriter` writes the text).
    """
    check_protocol(protocol)
    func = partial(simulate_chunk, protocol, seed=seed, params=params, settings=settings,
                   compact=compact or workers > 1)
    for part in imap_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress):
        if not compact:
            _text_subjects(part)
        yield part


def run_trials(protocol: Protocol, n_trials: int, seed: int, *, params: ModelParameters | None = None,
               settings: SimulationSettings | None = None, chunk: int = 50, workers: int = 1,
               progress: Callable[[int], None] | None = None, compact: bool = False) -> dict[str, pd.DataFrame]:
    """ADaM DataFrames of trials 1..``n_trials`` (column TRIALID), simulated by ``workers`` processes,
    each dataset whole (:func:`iter_trials` joined; ``compact`` as there). Every chunk is joined in
    this process's memory (ADQS has some 16,000 records per trial): for many trials use
    :func:`write_trials` or :func:`iter_trials`, which hand over one chunk at a time.
    """
    parts = list(iter_trials(protocol, n_trials, seed, params=params, settings=settings, chunk=chunk,
                             workers=workers, progress=progress, compact=True))
    frames = {k: _concat([p[k] for p in parts]) for k in parts[0]}
    if not compact:
        _text_subjects(frames)
    return frames


def write_trials(protocol: Protocol, n_trials: int, seed: int, out: str | Path, fmt: str = "parquet", *,
                 params: ModelParameters | None = None, settings: SimulationSettings | None = None,
                 chunk: int = 50, workers: int = 1, progress: Callable[[int], None] | None = None) -> dict[str, Path]:
    """Simulate trials 1..``n_trials`` into ADaM files in ``out`` (``NAME.parquet`` or ``.csv``), a
    chunk at a time, so memory holds a few chunks whatever ``n_trials`` is; the files appear,
    complete, when the run ends (none if it fails: :class:`lupustrial.data.TrialWriter`). Returns
    the paths written."""
    check_protocol(protocol)
    options = {"seed": seed, "params": params, "settings": settings, "compact": True}
    spills = fmt == "parquet" and workers > 1  # worker processes hand their tables over as files
    with TrialWriter(out, fmt) as writer, \
            (tempfile.TemporaryDirectory(prefix="lupustrial-chunks-") if spills else nullcontext()) as scratch:
        if fmt == "parquet":
            func = partial(_parquet_chunk, protocol, spill=scratch, **options)
        else:
            func = partial(simulate_chunk, protocol, **options)
        # closing: on an error the workers stop before the scratch folder they write in goes
        with closing(imap_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress)) as parts:
            for part in parts:
                writer.append({k: _unspill(v) for k, v in part.items()})
                for v in part.values():
                    if isinstance(v, str):
                        os.unlink(v)  # a chunk's files go once written: scratch space stays a few chunks'
    return writer.written


def _parquet_chunk(protocol: Protocol, trials: range, spill: str | None = None,
                   **options: object) -> dict[str, pa.Table | str]:
    """A chunk's datasets as the Arrow tables Parquet stores, converted in the worker process that
    simulated them, so the parent process only writes. With ``spill`` (a folder) each table is
    handed over as an Arrow IPC file there, which the parent maps into memory: a chunk's ADQS is
    some 40 MB, which a pipe would copy twice."""
    tables = {k: arrow_table(v) for k, v in simulate_chunk(protocol, trials, **options).items()}
    if spill is None:
        return tables
    paths = {}
    for k, table in tables.items():
        paths[k] = os.path.join(spill, f"{trials.start}-{k}.arrow")
        with pa.OSFile(paths[k], "wb") as sink, pa.ipc.new_file(sink, table.schema) as ipc:
            ipc.write_table(table)
    return paths


def _unspill(part: object) -> object:
    """A table handed over as an IPC file (its path), read without a copy; anything else as it is."""
    if not isinstance(part, str):
        return part
    with pa.memory_map(part) as source:
        return pa.ipc.open_file(source).read_all()


def _text_subjects(frames: dict[str, pd.DataFrame]) -> None:
    """ADQS's and ADRS's USUBJID as text again (only pointers copied), as grouping by subject expects."""
    for name in ("adqs", "adrs"):
        if name in frames and isinstance(frames[name]["USUBJID"].dtype, pd.CategoricalDtype):
            frames[name]["USUBJID"] = np.asarray(frames[name]["USUBJID"])


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Chunks' frames one after another; a column categorical in every chunk stays categorical, over
    the union of the chunks' categories (pandas would first turn differing categories into objects,
    the slowest step of joining ADQS)."""
    columns = {}
    for column in frames[0].columns:
        parts = [f[column] for f in frames]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            columns[column] = union_categoricals(parts)
        else:
            columns[column] = pd.concat(parts, ignore_index=True).array
    return pd.DataFrame(columns, copy=False)  # arrays, not Series: nothing to align
