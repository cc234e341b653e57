"""The README's ``lupustrial design`` command runs as written, and docs/design.md shows its output."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lupustrial.cli import app
from lupustrial.design.cli import shown_endpoints
from lupustrial.design.grid import Cell
from lupustrial.design.html import summary_markdown
from lupustrial.design.power import ENDPOINTS
from lupustrial.design.sweep import CellResult

ROOT = Path(__file__).resolve().parents[1]


def readme_design_args(out: Path, trials: str | None = None) -> list[str]:
    """The README's design command as CLI arguments, ``--out`` (and ``--trials``) replaced."""
    (line,) = [x for x in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
               if x.startswith("lupustrial design ")]
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
    table = summary_markdown(results, shown_endpoints("all", "hierarchical", ENDPOINTS))
    assert table in (ROOT / "docs" / "design.md").read_text(encoding="utf-8"), table
