"""Where chunks of virtual trials run: in this process, a local process pool, or a Dask cluster.

Both ``concurrent.futures`` executors and ``dask.distributed.Client`` have ``submit`` returning a
future with ``result()``, so one loop serves all three. Results are collected in chunk order and
every chunk depends only on the seed and its trial indices, so they are identical whatever runs
them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from lupustrial.errors import LupustrialError

T = TypeVar("T")


class Executor(Protocol):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any: ...


def run_chunks(func: Callable[[range], T], n_trials: int, *, chunk: int = 20, executor: Executor | None = None,
               progress: Callable[[int], None] | None = None) -> list[T]:
    """``func(trials)`` for consecutive ranges of trial indices, results in order.

    ``progress`` is told how many trials each finished chunk held.
    """
    if n_trials < 1 or chunk < 1:
        raise ValueError("n_trials and chunk must be >= 1")
    ranges = [range(lo, min(lo + chunk, n_trials)) for lo in range(0, n_trials, chunk)]
    futures = [executor.submit(func, r) for r in ranges] if executor is not None else None
    results = []
    for i, r in enumerate(ranges):
        results.append(futures[i].result() if futures is not None else func(r))
        if progress is not None:
            progress(len(r))
    return results


def _ignore_interrupt() -> None:
    """Ctrl-C reaches every process of the terminal's group: only the parent should act on it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def executor(workers: int = 0, scheduler: str | None = None) -> Iterator[Executor | None]:
    """A Dask client of the cluster at ``scheduler``, else a pool of ``workers`` processes (0 = all
    cores; 1 = none: run here)."""
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise LupustrialError("option --scheduler: needs dask.distributed, not installed here: "
                                  "pip install '.[dask]' (or 'lupustrial[dask]')") from None
        try:
            client = Client(scheduler, timeout=10)
        except OSError as exc:
            raise LupustrialError(f"option --scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc})") from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    if n == 1:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=n, initializer=_ignore_interrupt)
    try:
        yield pool
    finally:  # on Ctrl-C, chunks not started are dropped rather than run to the end
        pool.shutdown(wait=True, cancel_futures=True)
