"""Sweeps: cells saved atomically and reused on resume, settings never mixed; Dask equals local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lupustrial.design.grid import grid_cells
from lupustrial.design.sweep import run_sweep
from lupustrial.errors import LupustrialError
from lupustrial.protocol import load_protocol

SETTINGS = {"n_trials": 8, "seed": 4, "alpha": 0.05, "chunk": 3}


def test_interrupted_sweep_resumes_with_finished_cells(tmp_path: Path) -> None:
    protocol = load_protocol("beat-lupus")
    cells = grid_cells(protocol, starts=[4.0, 8.0, 12.0])
    seen: list[tuple[str, bool]] = []

    def stop_at_third(cell, cached):
        seen.append((cell.key, cached))
        if len(seen) == 3:
            raise KeyboardInterrupt
        return None

    with pytest.raises(KeyboardInterrupt):
        run_sweep(protocol, cells, [20, 30], out=tmp_path, on_cell=stop_at_third, **SETTINGS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{c.key}.json" for c in cells[:2]] + ["sweep.json"])
    seen.clear()
    resumed = run_sweep(protocol, cells, [20, 30], out=tmp_path, resume=True,
                        on_cell=lambda c, cached: seen.append((c.key, cached)), **SETTINGS)
    assert [cached for _, cached in seen] == [True, True, False]
    fresh = run_sweep(protocol, cells, [20, 30], **SETTINGS)
    for a, b in zip(resumed, fresh):
        assert a.curve.table.equals(b.curve.table)
        assert a.curve.endpoints == b.curve.endpoints and a.curve.effects.keys() == b.curve.effects.keys()
        for label, fx in a.curve.effects.items():
            assert fx == pytest.approx(b.curve.effects[label], nan_ok=True)
    assert json.loads((tmp_path / f"{cells[2].key}.json").read_text())["cell"]["start_week"] == 12.0

    with pytest.raises(LupustrialError, match="pass --resume"):
        run_sweep(protocol, cells, [20, 30], out=tmp_path, **SETTINGS)
    with pytest.raises(LupustrialError, match=r"other settings \(seed\)"):
        run_sweep(protocol, cells, [20, 30], out=tmp_path, resume=True, **{**SETTINGS, "seed": 5})


def test_dask_cluster_equals_local() -> None:
    from dask.distributed import Client, LocalCluster

    protocol = load_protocol("beat-lupus")
    cells = grid_cells(protocol, ratios=[(2, 1)])
    local = run_sweep(protocol, cells, [18, 27], **SETTINGS)
    with LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        remote = run_sweep(protocol, cells, [18, 27], executor=client, **{**SETTINGS, "chunk": 5})
    assert local[0].curve.table.equals(remote[0].curve.table)
    assert local[0].curve.analytic.equals(remote[0].curve.analytic)


def test_cli_scheduler_and_out(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster
    from typer.testing import CliRunner

    from lupustrial.cli import app

    args = ["design", "beat-lupus", "--sizes", "16,24", "--trials", "10", "--out", str(tmp_path)]
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        result = CliRunner().invoke(app, [*args, "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ratio1-1_startwindow_fu52.json").exists() and (tmp_path / "design.html").exists()
    again = CliRunner().invoke(app, [*args, "--workers", "1", "--resume"])
    assert again.exit_code == 0 and "(on disk)" in again.output


def test_other_parameter_sets_refused(tmp_path: Path) -> None:
    from lupustrial.model.parameters import ModelParameters

    protocol = load_protocol("beat-lupus")
    cells = grid_cells(protocol)
    run_sweep(protocol, cells, [12], out=tmp_path, **SETTINGS)
    with pytest.raises(LupustrialError, match=r"other settings \(params\)"):
        run_sweep(protocol, cells, [12], out=tmp_path, resume=True,
                  params=[ModelParameters(), ModelParameters().with_values(flare_rate=2.0)], **SETTINGS)
