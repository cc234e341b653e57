"""One plan for ``analyze`` and ``design`` (issue 14): an endpoint added to a copy of the protocol is
analysed, powered and reported with no code change, and the design's batched analysis of a
virtual trial is ``analyze``'s analysis of the same trial's ADaM data."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from lupustrial.analysis.trial import analyze_trial, load_for_plan
from lupustrial.cli import app
from lupustrial.data import select_trial
from lupustrial.design.power import trial_statistics
from lupustrial.protocol import load_protocol, resolve_protocol

runner = CliRunner()
BAFF = {"name": "BAFF at week 24", "param": "BAFF", "analysis": "ancova_log", "week": 24}  # BAFF: a protocol lab


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BEAT-LUPUS's protocol with one more endpoint in its plan, and nothing else changed."""
    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["endpoints"] = data["endpoints"][:3] + [BAFF]  # anti-dsDNA, severe flare, B cells, BAFF
    path = tmp_path_factory.mktemp("variant") / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_added_endpoint_is_analysed_on_simulated_adam(variant: Path, tmp_path: Path) -> None:
    adam = tmp_path / "adam"
    simulated = runner.invoke(app, ["simulate", str(variant), "--out", str(adam), "--trials", "2", "--format", "csv"])
    assert simulated.exit_code == 0, simulated.output
    out = tmp_path / "a.json"
    result = runner.invoke(app, ["analyze", str(adam), "--protocol", str(variant), "--trial", "2", "--json", str(out)],
                           env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Endpoint: BAFF at week 24" in result.output
    (baff,) = [e for e in json.loads(out.read_text())["endpoints"] if e["name"] == BAFF["name"]]
    effect = baff["comparisons"][0]["effects"][0]
    assert effect["label"] == "ratio of adjusted geometric means" and 0 < effect["p_value"] < 1

    # one plan: the design's batched analysis of each virtual trial is analyze's of its ADaM data
    protocol = load_protocol(variant)
    stats = trial_statistics(protocol, range(2), seed=2021, sizes=[protocol.population.n_patients])
    data = load_for_plan(adam, protocol.plan())
    for t in range(2):
        analysis = analyze_trial(select_trial(data, t + 1), protocol.plan())
        (single,) = [e.comparison().result.ancova for e in analysis.endpoints if e.endpoint.name == BAFF["name"]]
        assert stats["BAFF.p_value"][0, t] == pytest.approx(single.p_value, rel=1e-8)
        assert stats["BAFF.estimate"][0, t] == pytest.approx(single.log_ratio, rel=1e-8)


def test_added_endpoint_is_powered_and_reported(variant: Path, tmp_path: Path) -> None:
    out, html = tmp_path / "d.json", tmp_path / "d.html"
    result = runner.invoke(app, ["design", str(variant), "--sizes", "20,30", "--trials", "10", "--workers", "1",
                                 "--json", str(out), "--html", str(html)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert re.search(r"│ BAFF +│ BAFF at week 24 +│\n│ +│ ancova_log: t test, log GMR", result.output)  # the plan
    assert re.search(r"┃ total N ┃.*┃ +BAFF ┃", result.output)  # a column of the power table
    assert re.search(r"│ BAFF +│ +80% │ +<= 20 │ +t \d+ │", result.output)  # its smallest N, simulated and analytic
    (cell,) = json.loads(out.read_text())["cells"]
    assert [(e["label"], e["powered"]) for e in cell["endpoints"]] == [
        ("DSDNA", True), ("TTSEVFL", True), ("CD19", False), ("BAFF", True)]
    rules = {r["endpoint"] for r in cell["power"]}
    assert rules == {"DSDNA", "TTSEVFL", "BAFF", "all/bonferroni", "all/hierarchical"}
    power = {(r["endpoint"], r["n_total"]): r["power"] for r in cell["power"]}
    for n in (20, 30):  # the fixed sequence now runs through BAFF too: never more likely than its parts
        assert power[("all/hierarchical", n)] <= min(power[(e, n)] for e in ("DSDNA", "TTSEVFL", "BAFF"))
    assert {s["endpoint"] for s in cell["smallest_n"]} == rules
    assert {a["endpoint"] for a in cell["analytic"]} == {"DSDNA", "TTSEVFL", "BAFF"}
    assert set(cell["effects"]) == {"DSDNA", "TTSEVFL", "BAFF"}
    page = html.read_text()
    assert "<td>BAFF</td><td>BAFF at week 24</td><td>ancova_log</td>" in page and page.count("<td>BAFF</td>") == 3
