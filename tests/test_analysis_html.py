"""`analyze --html`: one self-contained page per analysed trial, rendered in headless Chromium."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import chromium, needs_chromium, page_images
from lupustrial.analysis.trial import TrialAnalysis, analyze_trial, load_for_plan
from lupustrial.analysis.plan import load_plan
from lupustrial.cli import app
from lupustrial.data import example_trial_dir
from lupustrial.report.analysis_html import arm_curves, forest_rows, write_analysis_report

FOLDER = example_trial_dir("three-arm-xpt")


@pytest.fixture(scope="module")
def analysis() -> TrialAnalysis:
    plan = load_plan(FOLDER / "plan.yaml")
    return analyze_trial(load_for_plan(FOLDER, plan), plan)


@pytest.fixture(scope="module")
def page(analysis: TrialAnalysis, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_analysis_report(analysis, tmp_path_factory.mktemp("page") / "analysis.html")


def _pngs(text: str) -> list[tuple[str, bytes]]:
    found = re.findall(r'<figure id="(fig-[a-z0-9-]+)">\s*<img src="data:image/png;base64,([^"]+)"', text)
    return [(i, base64.b64decode(data)) for i, data in found]


def test_page_is_self_contained_with_a_forest_plot_and_km_curves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "http://" not in text and "https://" not in text and "href=" not in text and "<link" not in text
    assert "default-src 'none'" in text
    images = _pngs(text)
    assert [i for i, _ in images] == ["fig-forest", "fig-km-endpoints0"]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for _, png in images)


def test_forest_has_every_comparison_and_km_every_arm(analysis: TrialAnalysis) -> None:
    rows = forest_rows(analysis)
    assert [r.label for r in rows] == [f"{e}: {t} vs Placebo" for e in ("Time to first event", "ALT at week 24")
                                       for t in ("Drug Low Dose", "Drug High Dose")]
    assert rows[0].effect.estimate == analysis.endpoints[0].comparisons[0].result.cox.hazard_ratio[0]
    assert list(arm_curves(analysis.endpoints[0])) == ["Drug Low Dose", "Placebo", "Drug High Dose"]


def test_tables_per_endpoint_comparison_and_adverse_events(page: Path, analysis: TrialAnalysis) -> None:
    text = page.read_text(encoding="utf-8")
    assert re.findall(r'data-endpoint="([^"]+)"', text) == ["endpoints[0]"] * 2 + ["endpoints[1]"] * 2
    assert "adjusted geometric mean (95% CI)" in text and "ratio of adjusted geometric means" in text
    assert re.findall(r'<table class="results ae" data-treatment="([^"]+)"', text) == ["Drug Low Dose",
                                                                                      "Drug High Dose"]
    ae = analysis.adverse_events.comparisons[0]
    terms = [r for c in analysis.adverse_events.comparisons for r in c.rows if r.level == "preferred_term"]
    assert text.count('<tr class="pt">') == len(terms) > 0
    assert f"{ae.rows[2].treatment.subjects}/{ae.rows[2].treatment.n}" in text  # any infection, counted


def test_cli_writes_the_page(tmp_path: Path) -> None:
    out = tmp_path / "beat.html"
    result = CliRunner().invoke(app, ["analyze", "example", "--html", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert [i for i, _ in _pngs(text)] == ["fig-forest", "fig-km-endpoints1"]
    assert "B cells (CD19) at week 52" in text and "hazard ratio (Firth, profile CI)" in text


@needs_chromium
def test_chromium_renders_every_figure_and_table(page: Path) -> None:
    from selenium.webdriver.common.by import By

    with chromium(page) as driver:
        images = page_images(driver)
        assert [i[0] for i in images] == ["fig-forest", "fig-km-endpoints0"]
        assert all(complete and natural > 0 and shown > 0 for _, complete, natural, shown in images), images
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-figures-rendered") == "2"
        tables = driver.find_elements(By.CSS_SELECTOR, "table.results")
        assert len(tables) == 6 and all(t.is_displayed() and t.size["height"] > 0 for t in tables)
