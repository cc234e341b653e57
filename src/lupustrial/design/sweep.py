"""A sweep over the design grid that survives interruption.

With an output folder, each finished cell is written at once, atomically, as
``DIR/<cell key>.json``, and ``DIR/sweep.json`` records the settings and their hash. A resumed
sweep loads the cells already on disk and runs only the others; it refuses a folder made with
other settings, since mixing them would give a table whose rows are not comparable. Ctrl-C
therefore loses at most the cells still running.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lupustrial.design.execute import Executor
from lupustrial.design.grid import Cell
from lupustrial.design.power import PowerCurve, power_curve
from lupustrial.errors import LupustrialError
from lupustrial.model.parameters import ModelParameters
from lupustrial.protocol.schema import Protocol
from lupustrial.report.json import to_jsonable, write_json

SETTINGS_FILE = "sweep.json"


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    curve: PowerCurve

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.to_dict(), **self.curve.to_dict()}


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the settings' canonical JSON: equal settings, equal hash, in any process."""
    return hashlib.sha256(json.dumps(to_jsonable(settings), sort_keys=True).encode()).hexdigest()


def _prepare(out: Path, settings: dict[str, Any], digest: str, resume: bool) -> None:
    marker = out / SETTINGS_FILE
    if marker.exists():
        old = json.loads(marker.read_text())
        if not resume:
            raise LupustrialError(f"{out} already holds a sweep: pass --resume to continue it, or another --out")
        if old.get("hash") != digest:
            changed = sorted(k for k in {**old.get("settings", {}), **settings}
                             if old.get("settings", {}).get(k) != to_jsonable(settings).get(k))
            raise LupustrialError(f"{marker}: made with other settings ({', '.join(changed) or 'model'}); "
                                  "refusing to mix them, choose another --out")
    else:
        write_json({"hash": digest, "settings": settings}, marker)


def run_sweep(protocol: Protocol, cells: Sequence[Cell], sizes: Sequence[int], *, n_trials: int, seed: int,
              alpha: float, params: ModelParameters | Sequence[ModelParameters] | None = None, chunk: int = 20,
              executor: Executor | None = None, out: Path | None = None, resume: bool = False,
              on_cell: Callable[[Cell, bool], Callable[[int], None] | None] | None = None) -> list[CellResult]:
    """Power curves of every cell, in order; with ``out``, finished cells are saved and reused.

    ``on_cell(cell, cached)`` is called as each cell starts and may return a progress callback.
    """
    # Parameter sets (possibly hundreds of posterior draws) enter by the hash of their repr.
    settings = {"protocol": protocol.model_dump(), "sizes": sorted(set(sizes)), "n_trials": n_trials, "seed": seed,
                "alpha": alpha, "params": hashlib.sha256(repr(params).encode()).hexdigest()}
    digest = settings_hash(settings)
    if out is not None:
        _prepare(out, settings, digest, resume)
    results = []
    for cell in cells:
        path = None if out is None else out / f"{cell.key}.json"
        if path is not None and resume and path.exists():
            data = json.loads(path.read_text())
            if data.get("hash") != digest:
                raise LupustrialError(f"{path}: made with other settings; refusing to mix them")
            if on_cell is not None:
                on_cell(cell, True)
            results.append(CellResult(cell, PowerCurve.from_dict(data)))
            continue
        progress = on_cell(cell, False) if on_cell is not None else None
        curve = power_curve(cell.apply(protocol), sizes, n_trials=n_trials, seed=seed, alpha=alpha, params=params,
                            chunk=chunk, executor=executor, progress=progress)
        result = CellResult(cell, curve)
        if path is not None:
            write_json({"hash": digest, **result.to_dict()}, path)
        results.append(result)
    return results
