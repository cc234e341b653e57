"""Run many virtual trials in chunks, in parallel if asked, in trial order.

Chunks of trials go to worker processes; each chunk's data depend only on the seed and the
trial indices (see :mod:`.streams`), so results are identical whatever ``workers`` or
``chunk`` is.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.settings import SimulationSettings
from lupustrial.simulate.trial import check_protocol, simulate_chunk

T = TypeVar("T")


def map_chunks(func: Callable[[range], T], n_trials: int, *, chunk: int = 50, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> list[T]:
    """``func(trials)`` for consecutive ranges of trial indices, results in order.

    ``func`` must be picklable (a module-level function or a ``functools.partial`` of one)
    when ``workers`` > 1; ``progress`` is told how many trials each finished chunk held.
    This is the project's one parallel map: the model's own parallelism is threads inside
    ``simulate(workers=...)``, which defaults to 1, so worker processes never oversubscribe.
    """
    if n_trials < 1 or chunk < 1 or workers < 1:
        raise ValueError("n_trials, chunk and workers must be >= 1")
    ranges = [range(lo, min(lo + chunk, n_trials)) for lo in range(0, n_trials, chunk)]
    results: list[T] = []
    if workers == 1:
        for r in ranges:
            results.append(func(r))
            if progress is not None:
                progress(len(r))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(func, r) for r in ranges]
        for r, fut in zip(ranges, futures):
            results.append(fut.result())
            if progress is not None:
                progress(len(r))
    return results


def run_trials(protocol: Protocol, n_trials: int, seed: int, *, params: ModelParameters | None = None,
               settings: SimulationSettings | None = None, chunk: int = 50, workers: int = 1,
               progress: Callable[[int], None] | None = None, compact: bool = False) -> dict[str, pd.DataFrame]:
    """ADaM DataFrames of trials 1..``n_trials`` (column TRIALID), simulated by ``workers`` processes.

    ``compact`` leaves ADQS's USUBJID categorical (its other text columns are always categorical),
    as is quickest to write (:func:`lupustrial.data.write_trial` writes the text); otherwise it is
    text, as grouping by subject expects.
    """
    check_protocol(protocol)
    func = partial(simulate_chunk, protocol, seed=seed, params=params, settings=settings,
                   compact=compact or workers > 1)
    parts = map_chunks(func, n_trials, chunk=chunk, workers=workers, progress=progress)
    frames = {k: _concat([p[k] for p in parts]) for k in parts[0]}
    if not compact and "adqs" in frames and isinstance(frames["adqs"]["USUBJID"].dtype, pd.CategoricalDtype):
        frames["adqs"]["USUBJID"] = np.asarray(frames["adqs"]["USUBJID"])  # text again: only pointers copied
    return frames


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
