"""``lupustrial design`` on protocols other than BEAT-LUPUS's own, and its one-line errors."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lupustrial import __version__
from lupustrial.analysis import ancova_gmr
from lupustrial.cli import app
from lupustrial.design.execute import executor
from lupustrial.design.grid import grid_cells
from lupustrial.design.power import trial_statistics, with_sample_size
from lupustrial.design.sweep import run_sweep
from lupustrial.errors import LupustrialError
from lupustrial.protocol import load_protocol
from lupustrial.protocol.load import resolve_protocol
from lupustrial.simulate import simulate_chunk
from lupustrial.simulate.trial import simulate_arrays

runner = CliRunner()
FAST = ["--sizes", "20,30", "--trials", "10", "--workers", "1"]
COX = {"name": "time to first severe flare", "param": "TTSEVFL", "analysis": "cox", "ties": "efron"}


def protocol_file(tmp_path: Path, change: Any) -> Path:
    """BEAT-LUPUS's YAML with its first three endpoints (anti-dsDNA, severe flare, B cells) and
    ``change(data)`` applied, written to a file."""
    data = yaml.safe_load(resolve_protocol("beat-lupus").read_text())
    data["endpoints"] = data["endpoints"][:3]
    change(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def no_cox(data: dict) -> None:
    data["endpoints"] = [e for e in data["endpoints"] if e["analysis"] != "cox"]


def stratified(data: dict) -> None:
    data["population"]["factors"] = {"dsdna": {"covariate": "baseline_anti_dsdna_iu_ml", "cutpoints": [100],
                                               "levels": ["low", "high"]}}
    data["randomisation"]["stratify_by"] = ["dsdna"]
    data["endpoints"][0]["factors"] = ["dsdna"]
    no_cox(data)
    data["endpoints"].append(dict(COX))


def test_protocol_without_cox_endpoint(tmp_path: Path) -> None:
    path = protocol_file(tmp_path, no_cox)
    out = tmp_path / "d.json"
    for endpoint in ("all", "DSDNA", "dsdna", "IgG anti-dsDNA at week 52"):  # by its label (any case) or name
        result = runner.invoke(app, ["design", str(path), *FAST, "--endpoint", endpoint, "--json", str(out),
                                     "--html", str(tmp_path / "d.html")])
        assert result.exit_code == 0, result.output
        words = " ".join(result.output.split())
        assert "│ DSDNA" in result.output and "all/" not in result.output and "TTSEVFL" not in result.output
        assert "not powered: geometric_mean is descriptive (no test)" in words  # listed, not dropped
    (cell,) = json.loads(out.read_text())["cells"]
    assert {r["endpoint"] for r in cell["power"]} == {"DSDNA"}
    assert {r["endpoint"] for r in cell["analytic"]} == {"DSDNA"}
    assert [(e["label"], e["powered"]) for e in cell["endpoints"]] == [("DSDNA", True), ("CD19", False)]
    html = (tmp_path / "d.html").read_text()
    assert html.count("data:image/png;base64,") == 1 and "<td>t " in html  # the ANCOVA's analytic N is shown
    assert "not powered: geometric_mean is descriptive (no test)" in html
    for endpoint, message in (("family", f"{path}: key endpoints: --endpoint family needs two powered endpoints"),
                              ("CD19", f"{path}: key endpoints[1]: CD19 is not powered: geometric_mean is "
                                       "descriptive (no test)"),
                              ("TTSEVFL", "option --endpoint: 'TTSEVFL' is none of all, family nor an endpoint's "
                                          "label or name (DSDNA, CD19)")):
        bad = runner.invoke(app, ["design", str(path), *FAST, "--endpoint", endpoint])
        assert bad.exit_code == 2 and message in " ".join(bad.output.split()), bad.output


def test_protocol_with_cox_endpoint_only(tmp_path: Path) -> None:
    def cox_only(data: dict) -> None:
        data["endpoints"] = [COX]

    path = protocol_file(tmp_path, cox_only)
    result = runner.invoke(app, ["design", str(path), *FAST])
    assert result.exit_code == 0, result.output
    assert "│ TTSEVFL" in result.output and "DSDNA" not in result.output


def test_endpoints_the_design_cannot_power(tmp_path: Path) -> None:
    """Listed as not powered with why, never dropped silently; refused in one line naming the key
    when asked for; a plan with nothing to power is refused."""
    def cox_factors(data: dict) -> None:
        stratified(data)
        data["endpoints"][-1]["factors"] = ["dsdna"]

    def unknown_factor(data: dict) -> None:
        data["endpoints"][0]["factors"] = ["site"]

    def nothing(data: dict) -> None:
        data["endpoints"] = data["endpoints"][2:] + [{"name": "SRI-6", "param": "SRI6", "analysis": "responder",
                                                     "week": 52}]

    for change, label, reason in (
            (cox_factors, "TTSEVFL",
             "key endpoints[2]: TTSEVFL is not powered: its factors: the batched cox takes none"),
            (unknown_factor, "DSDNA", "key endpoints[0]: DSDNA is not powered: its factors: site not in "
                                      "population.factors")):
        path = protocol_file(tmp_path, change)
        result = runner.invoke(app, ["design", str(path), *FAST])
        assert result.exit_code == 0 and "not powered: " + reason.split("not powered: ")[1] in " ".join(
            result.output.split()), result.output
        bad = runner.invoke(app, ["design", str(path), *FAST, "--endpoint", label])
        assert bad.exit_code == 2 and f"{path}: {reason}" in " ".join(bad.output.split()), bad.output
    path = protocol_file(tmp_path, nothing)
    bad = runner.invoke(app, ["design", str(path), *FAST])
    assert bad.exit_code == 2, bad.output
    assert (f"{path}: key endpoints: no endpoint can be powered (CD19: geometric_mean is descriptive (no test); "
            "SRI6: the simulator derives no responder SRI6 (it has SRI4, BICLA, LLDAS, DORIS, MCR)") in " ".join(bad.output.split()), bad.output


def test_ancova_adjusts_for_the_endpoint_factors(tmp_path: Path) -> None:
    protocol = with_sample_size(load_protocol(protocol_file(tmp_path, stratified)), 30)
    trials = range(3)
    frames = simulate_chunk(protocol, trials, 6)
    levels = simulate_arrays(protocol, trials, 6).factors["dsdna"]
    adsl = frames["adsl"]
    np.testing.assert_array_equal(levels, adsl["dsdna"].to_numpy().reshape(3, 30))  # the simulator's own levels
    stats = trial_statistics(protocol, trials, seed=6, sizes=[30])
    unadjusted = trial_statistics(with_sample_size(load_protocol(protocol_file(tmp_path, no_cox)), 30), trials,
                                  seed=6, sizes=[30])
    for t in trials:
        lab = frames["adlb"]
        lab = lab[(lab["TRIALID"] == t + 1) & (lab["PARAMCD"] == "DSDNA") & (lab["AVISITN"] == 52)]
        subjects = adsl.set_index("USUBJID").loc[lab["USUBJID"]]
        single = ancova_gmr(lab["AVAL"], lab["BASE"], subjects["TRT01P"], treatment="Belimumab",
                            reference="Placebo", factors={"dsdna": subjects["dsdna"]})
        assert stats["DSDNA.p_value"][0, t] == pytest.approx(single.p_value, rel=1e-8)
        assert stats["DSDNA.estimate"][0, t] == pytest.approx(single.log_ratio, rel=1e-8)
    assert not np.allclose(stats["DSDNA.p_value"], unadjusted["DSDNA.p_value"])


def test_corrupt_cell_file_on_resume(tmp_path: Path) -> None:
    protocol = load_protocol("beat-lupus")
    settings = {"n_trials": 4, "seed": 1, "alpha": 0.05}
    (cell,) = grid_cells(protocol)
    run_sweep(protocol, [cell], [20], out=tmp_path, **settings)
    path = tmp_path / f"{cell.key}.json"
    path.write_text(path.read_text()[:100])  # e.g. a full disk
    with pytest.raises(LupustrialError, match=f"{path}: not a valid sweep file .*delete it to recompute that cell"):
        run_sweep(protocol, [cell], [20], out=tmp_path, resume=True, **settings)


def test_scheduler_without_dask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails as if not installed
    with pytest.raises(LupustrialError, match=re.escape("option --scheduler: needs dask.distributed, not installed "
                                                        "here: pip install '.[dask]'")):
        with executor(scheduler="tcp://127.0.0.1:8786"):
            pass
    result = runner.invoke(app, ["design", "beat-lupus", *FAST, "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2 and "needs dask.distributed" in result.output, result.output


def test_json_records_provenance(tmp_path: Path) -> None:
    out = tmp_path / "d.json"
    result = runner.invoke(app, ["design", "beat-lupus", *FAST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["lupustrial_version"] == __version__
    assert data["settings"]["n_trials"] == 10 and data["settings"]["sizes"] == [20, 30]
    digest = hashlib.sha256(json.dumps(data["settings"], sort_keys=True).encode()).hexdigest()
    assert data["settings_hash"] == digest
    assert data["parameters"]["parameter_set"].startswith("joint calibration, population beat-lupus") and "fitted" in data["parameters"]
    smallest = data["cells"][0]["smallest_n"]
    assert {(s["endpoint"], s["target"]) for s in smallest} >= {("DSDNA", 0.8), ("TTSEVFL", 0.9)}
