"""`lupustrial reproduce`: published figures beside the distribution over virtual trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.reproduce import STATISTICS, Figure, compare, published, reproduce

runner = CliRunner()


def test_published_figures_name_known_statistics() -> None:
    pub = published("beat-lupus")
    assert {f.statistic for f in pub.figures} <= set(STATISTICS)
    hr = next(f for f in pub.figures if f.statistic == "hazard_ratio")
    assert (hr.published, hr.lower, hr.upper) == (0.27, 0.07, 0.98)


def test_compare_uses_central_95_interval() -> None:
    per_trial = pd.DataFrame({"x": np.arange(1001.0)})
    [c] = compare(per_trial, [Figure(figure="x", statistic="x", published=30.0)])
    assert (c.median, c.lower, c.upper) == (500.0, 25.0, 975.0) and c.inside
    [c] = compare(per_trial, [Figure(figure="x", statistic="x", published=980.0)])
    assert not c.inside


def test_reproduce_is_independent_of_workers_and_chunk() -> None:
    a = reproduce(n_trials=6, seed=4, workers=1, chunk=6)
    b = reproduce(n_trials=6, seed=4, workers=2, chunk=2)
    pd.testing.assert_frame_equal(a.per_trial, b.per_trial)
    assert len(a.comparison) == len(published().figures)


def test_cli_writes_comparison_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reproduce", "beat-lupus", "--trials", "4", "--seed", "2", "--out", str(tmp_path),
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert len(data["comparison"]) == len(published().figures)
    for row in data["comparison"]:
        assert set(row) == {"figure", "statistic", "published", "median", "lower", "upper", "inside"}
        assert row["lower"] <= row["median"] <= row["upper"]
    result = runner.invoke(app, ["reproduce", "no-such-trial"])
    assert result.exit_code == 2 and "no published trial" in result.output
