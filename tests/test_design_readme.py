"""The README's ``lupustrial design`` commands and Python example run as written, and docs/design.md shows
their output."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.cli import shown_endpoints
from lupustrial.design.grid import Cell
from lupustrial.design.html import sequential_markdown, summary_markdown
from lupustrial.design.sweep import CellResult

ROOT = Path(__file__).resolve().parents[1]


def readme_design_args(out: Path, trials: str | None = None, protocol: str = "beat-lupus") -> list[str]:
    """The README's (first) design command of ``protocol`` as CLI arguments, ``--out`` (and ``--trials``) replaced."""
    line, *_ = [x for x in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if x.startswith(f"lupustrial design {protocol} ")]
    args = shlex.split(line)[1:]
    for option, value in (("--out", str(out)), ("--trials", trials)):
        if value is not None:
            args[args.index(option) + 1] = value
    return args


def test_readme_design_command_runs(tmp_path: Path) -> None:
    args = readme_design_args(tmp_path / "design-out", trials="10") + ["--workers", "1"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "Smallest total N for the target power" in words and "Probability of success" in words
    assert max(len(line) for line in result.output.splitlines()) <= 80
    html = (tmp_path / "design-out" / "design.html").read_text()
    assert html.count("data:image/png;base64,") == 1


@pytest.mark.slow
def test_docs_example_is_the_readme_command_output(tmp_path: Path) -> None:
    """docs/design.md's example table is the README command's output, as this code computes it."""
    out = tmp_path / "d.json"
    result = CliRunner().invoke(app, readme_design_args(tmp_path / "design-out") + ["--json", str(out)])
    assert result.exit_code == 0, result.output
    results = [CellResult.from_dict(Cell.from_dict(c["cell"]), c) for c in json.loads(out.read_text())["cells"]]
    table = summary_markdown(results, shown_endpoints("all", "hierarchical", results[0].curve.endpoints))
    assert table in (ROOT / "docs" / "design.md").read_text(encoding="utf-8"), table


def test_readme_sequential_command_runs(tmp_path: Path) -> None:
    args = readme_design_args(tmp_path / "gsd-out", trials="10", protocol="beat-lupus-confirmatory")
    result = CliRunner().invoke(app, [*args, "--workers", "1"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    for shown in ("boundaries (z scale)", "operating characteristics", "type I error", "E[events]", "E[months]",
                  "probability of stopping at each look", "cross-check of the power", "getPowerSurvival"):
        assert shown in words, shown
    assert max(len(line) for line in result.output.splitlines()) <= 80
    html = (tmp_path / "gsd-out" / "design.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "Interim looks" in html


def test_readme_python_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    block = (ROOT / "README.md").read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    printed = capsys.readouterr().out.split()
    assert len(printed) > 10 and "[3.3568" in " ".join(printed)  # the 3-look design's first critical value


@pytest.mark.slow
def test_docs_sequential_example_is_the_readme_command_output(tmp_path: Path) -> None:
    """docs/design.md's group-sequential table is the README command's output, and its simulated
    type I error (non-binding futility ignored) is within 2 MC s.e. of alpha at every N."""
    out = tmp_path / "d.json"
    args = readme_design_args(tmp_path / "gsd-out", protocol="beat-lupus-confirmatory")
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    results = [CellResult.from_dict(Cell.from_dict(c["cell"]), c) for c in json.loads(out.read_text())["cells"]]
    table = sequential_markdown(results)
    assert table in (ROOT / "docs" / "design.md").read_text(encoding="utf-8"), table
    seq = results[0].curve.sequential
    alpha = seq.design["alpha"]
    error = seq.table["type_i_error_no_futility"]
    assert (abs(error - alpha) < 2 * np.sqrt(alpha * (1 - alpha) / results[0].curve.n_trials)).all(), error.tolist()
