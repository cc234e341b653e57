"""Run many virtual trials, in parallel if asked, and write them as ADaM files.

Chunks of trials go to worker processes; each chunk's data depend only on the seed and the
trial indices (see :mod:`.streams`), so the files are identical whatever ``workers`` or
``chunk`` is. Results are assembled in trial order and each file is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.settings import SimulationSettings
from lupustrial.simulate.trial import check_protocol, simulate_chunk


def run_trials(protocol: Protocol, n_trials: int, seed: int, *, params: ModelParameters | None = None,
               settings: SimulationSettings | None = None, chunk: int = 50, workers: int = 1,
               progress: Callable[[int], None] | None = None) -> dict[str, pd.DataFrame]:
    """ADaM DataFrames of trials 1..``n_trials`` (column TRIALID), simulated by ``workers`` processes."""
    if n_trials < 1 or chunk < 1 or workers < 1:
        raise ValueError("n_trials, chunk and workers must be >= 1")
    check_protocol(protocol)
    ranges = [range(lo, min(lo + chunk, n_trials)) for lo in range(0, n_trials, chunk)]
    parts: list[dict[str, pd.DataFrame]] = []
    if workers == 1:
        for r in ranges:
            parts.append(simulate_chunk(protocol, r, seed, params, settings))
            if progress is not None:
                progress(len(r))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(simulate_chunk, protocol, r, seed, params, settings) for r in ranges]
            for r, fut in zip(ranges, futures):
                parts.append(fut.result())
                if progress is not None:
                    progress(len(r))
    return {k: pd.concat([p[k] for p in parts], ignore_index=True) for k in parts[0]}
