"""A sweep over the design grid that survives interruption.

With an output folder, each finished cell is written at once, atomically, as
``DIR/<cell key>.json``, and ``DIR/sweep.json`` records the settings and their hash. A resumed
sweep loads the cells already on disk and runs only the others; it refuses a folder made with
other settings, since mixing them would give a table whose rows are not comparable. Ctrl-C
therefore loses at most the cells still running.

With ``assurance`` (posterior draws), every cell is run twice on the same trial indices and seed:
power at the point estimate and assurance over the draws. Every random stream is keyed by
(seed, trial, purpose), so the two runs share enrolment, randomisation, withdrawal and the
patients' random effects (common random numbers): only the parameters differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from lupustrial import __version__
from lupustrial.design.execute import Executor
from lupustrial.design.grid import Cell
from lupustrial.design.power import TARGETS, PowerCurve, power_curve
from lupustrial.errors import LupustrialError
from lupustrial.model.parameters import ModelParameters, default_parameters, parameter_provenance
from lupustrial.protocol.schema import Protocol
from lupustrial.report.json import to_jsonable, write_json

SETTINGS_FILE = "sweep.json"
CELL_FORMAT = 4  # 2: analytic events and the MC range of the smallest N; 3: interim looks (sequential);
#                  4: every plan endpoint (labels as rules, effects per endpoint, endpoints not powered)


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    curve: PowerCurve  # power at the point estimate (or at the sets given as ``params``)
    assurance: PowerCurve | None = None  # probability of success over the posterior draws

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.assurance is None else {"assurance_curve": self.assurance.to_dict()}
        return {"cell": self.cell.to_dict(), **self.curve.to_dict(), **extra}

    def assurance_text(self, endpoint: str, target: float) -> str:
        """Assurance at the smallest simulated N reaching ``target`` power, "-" when none does: what
        a trial sized on the point estimate would really be worth."""
        n = self.curve.smallest_n(endpoint, target)
        return "-" if n is None or self.assurance is None else f"{self.assurance.power_at(endpoint, n):.3f}"

    def summary_rows(self, shown: Sequence[str]) -> list[dict[str, Any]]:
        """Per endpoint rule and target power: smallest simulated N (with its MC range), the analytic
        lines and, with assurance, the assurance there and the smallest N for it; what every output
        (console, HTML, docs) shows."""
        rows = []
        for e in shown:
            for t in TARGETS:
                row = {"endpoint": e, "target": f"{t:.0%}", "simulated": self.curve.smallest_n_text(e, t),
                       "analytic": self.curve.analytic_lines(e, t)}
                if self.assurance is not None:
                    row |= {"pos_there": self.assurance_text(e, t), "n_for_pos": self.assurance.smallest_n_text(e, t)}
                rows.append(row)
        return rows

    @classmethod
    def from_dict(cls, cell: Cell, data: dict[str, Any]) -> CellResult:
        assurance = data.get("assurance_curve")
        return cls(cell, PowerCurve.from_dict(data), None if assurance is None else PowerCurve.from_dict(assurance))


def settings_hash(settings: dict[str, Any]) -> str:
    """SHA-256 of the settings' canonical JSON: equal settings, equal hash, in any process."""
    return hashlib.sha256(json.dumps(to_jsonable(settings), sort_keys=True).encode()).hexdigest()


def _read_json(path: Path, remedy: str) -> dict[str, Any]:
    """A JSON file the sweep wrote, or a one-line error naming it (a disk full or a hand edit)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LupustrialError(f"{path}: not a valid sweep file ({exc}); {remedy}") from None
    if not isinstance(data, dict):
        raise LupustrialError(f"{path}: not a valid sweep file (not a JSON object); {remedy}")
    return data


def _prepare(out: Path, settings: dict[str, Any], digest: str, resume: bool) -> None:
    marker = out / SETTINGS_FILE
    if marker.exists():
        old = _read_json(marker, "choose another --out")
        if not resume:
            raise LupustrialError(f"{out} already holds a sweep: pass --resume to continue it, or another --out")
        if old.get("hash") != digest:
            changed = sorted(k for k in {**old.get("settings", {}), **settings}
                             if old.get("settings", {}).get(k) != to_jsonable(settings).get(k))
            raise LupustrialError(f"{marker}: made with other settings ({', '.join(changed) or 'model'}); "
                                  "refusing to mix them, choose another --out")
    else:
        write_json({"hash": digest, "settings": settings}, marker)


def _params_hash(params: ModelParameters | Sequence[ModelParameters]) -> str:
    """Parameter sets (possibly hundreds of posterior draws) enter the settings by the hash of their repr."""
    return hashlib.sha256(repr(params).encode()).hexdigest()


def sweep_settings(protocol: Protocol, sizes: Sequence[int], *, n_trials: int, seed: int, alpha: float,
                   params: ModelParameters | Sequence[ModelParameters] | None = None,
                   assurance: Sequence[ModelParameters] | None = None) -> dict[str, Any]:
    """Everything a cell's results depend on (besides the grid cell): equal settings, comparable rows.

    ``format`` changes when a cell's JSON gains fields, so an older folder is not resumed into
    results lacking them.
    """
    # The default set is hashed by value, so a changed calibration is not mixed with an old one.
    params = default_parameters() if params is None else params
    settings = {"protocol": protocol.model_dump(), "sizes": sorted(set(sizes)), "n_trials": n_trials, "seed": seed,
                "alpha": alpha, "params": _params_hash(params), "format": CELL_FORMAT}
    if assurance is not None:  # absent otherwise, so folders made without it stay resumable
        settings["assurance"] = _params_hash(assurance)
    return settings


def run_sweep(protocol: Protocol, cells: Sequence[Cell], sizes: Sequence[int], *, n_trials: int, seed: int,
              alpha: float, params: ModelParameters | Sequence[ModelParameters] | None = None,
              assurance: Sequence[ModelParameters] | None = None, chunk: int = 20,
              executor: Executor | None = None, out: Path | None = None, resume: bool = False,
              on_cell: Callable[[Cell, bool], Callable[[int], None] | None] | None = None) -> list[CellResult]:
    """Power curves of every cell, in order (and assurance curves over ``assurance``, the posterior
    draws); with ``out``, finished cells are saved and reused.

    ``on_cell(cell, cached)`` is called as each cell starts and may return a progress callback
    (told about the trials of both runs).
    """
    settings = sweep_settings(protocol, sizes, n_trials=n_trials, seed=seed, alpha=alpha, params=params,
                              assurance=assurance)
    digest = settings_hash(settings)
    if out is not None:
        _prepare(out, settings, digest, resume)
    results = []
    for cell in cells:
        path = None if out is None else out / f"{cell.key}.json"
        if path is not None and resume and path.exists():
            data = _read_json(path, "delete it to recompute that cell")
            if data.get("hash") != digest:
                raise LupustrialError(f"{path}: made with other settings; refusing to mix them")
            if on_cell is not None:
                on_cell(cell, True)
            results.append(CellResult.from_dict(cell, data))
            continue
        progress = on_cell(cell, False) if on_cell is not None else None
        run = partial(power_curve, cell.apply(protocol), sizes, n_trials=n_trials, seed=seed, alpha=alpha,
                      chunk=chunk, executor=executor, progress=progress)
        result = CellResult(cell, run(params=params), None if assurance is None else run(params=assurance))
        if path is not None:
            write_json({"hash": digest, **result.to_dict()}, path)
        results.append(result)
    return results


def write_design_json(path: Path, protocol: Protocol, sizes: Sequence[int], *, n_trials: int, seed: int, alpha: float,
                      results: Sequence[CellResult], assurance: Sequence[ModelParameters] | None = None) -> None:
    """Every cell's results with their provenance: the settings and their hash (as ``sweep.json``),
    the lupustrial version and the calibrated parameter set (``parameters``, as reproduce's
    results.json), so a number can be traced to what made it."""
    settings = sweep_settings(protocol, sizes, n_trials=n_trials, seed=seed, alpha=alpha, assurance=assurance)
    parameters = parameter_provenance("beat-lupus", None)  # what default_parameters() runs
    if assurance is not None:
        parameters["assurance_draws"] = f"{len(assurance)} posterior draws of the calibration (calibrated_draws())"
    write_json({"protocol": protocol.name, "lupustrial_version": __version__, "settings_hash": settings_hash(settings),
                "settings": settings, "parameters": parameters, "cells": [r.to_dict() for r in results]}, path)
