"""The HTML report of `lupustrial reproduce`: self-contained, a row per published figure, every figure drawn."""

from __future__ import annotations

import base64
import html
import random
import re
from pathlib import Path
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import chromium, needs_chromium, page_images
from lupustrial.cli import app
from lupustrial.design.figures import Figure, published
from lupustrial.design.reproduce import Reproduction, reproduce
from lupustrial.report.html import render_report, typical_trial, write_report

#: The figure ids BEAT-LUPUS's report promises: lab means, Kaplan–Meier, one histogram per main effect
#: (the % reduction and the hazard ratio), trajectories; and the CONSORT SVG.
PNG_FIGURES = ("fig-gm", "fig-km", "fig-effect0", "fig-effect1", "fig-trajectories")
HR = Figure(figure="hazard ratio", statistic="hazard_ratio", treatment="A", reference="B", published=0.3, main=True)


@pytest.fixture(scope="module")
def reproduction() -> Reproduction:
    return reproduce(n_trials=20, seed=3, workers=1, chunk=20, trajectory_patients=20)


@pytest.fixture(scope="module")
def report(reproduction: Reproduction, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(reproduction, tmp_path_factory.mktemp("report") / "report.html")


def _rows(text: str) -> list[str]:
    return re.findall(r'<tr class="(inside|outside)" data-statistic="([^"]+)"', text)


def test_no_network_urls(report: Path, reproduction: Reproduction) -> None:
    text = report.read_text(encoding="utf-8").replace(html.escape(reproduction.source), "")
    assert "http://" not in text and "https://" not in text
    assert re.findall(r'\bsrc="([a-z]+):', text) == ["data"] * len(PNG_FIGURES)
    assert "href=" not in text and "<link" not in text and "url(" not in text


def test_table_has_a_row_per_published_figure(report: Path, reproduction: Reproduction) -> None:
    rows = _rows(report.read_text(encoding="utf-8"))
    assert [s for _, s in rows] == [f.statistic for f in published().figures]
    assert [c == "inside" for c, _ in rows] == [c.inside for c in reproduction.comparison]


def test_one_png_per_figure_and_the_consort_svg(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    images = re.findall(r'<figure id="(fig-[a-z0-9]+)">\s*<img src="data:image/png;base64,([^"]+)"', text)
    assert tuple(i for i, _ in images) == PNG_FIGURES
    assert all(base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n") for _, data in images)
    assert re.search(r'<figure id="fig-consort">\s*<svg class="consort"', text)
    assert text.count("<figcaption>") == len(PNG_FIGURES) + 1


def test_consort_shows_the_typical_trial(report: Path, reproduction: Reproduction) -> None:
    trial = typical_trial(reproduction.per_trial, next(f for f in published().figures if f.main))
    counts = [int(n) for n in re.findall(r'data-count="(\d+)"', report.read_text(encoding="utf-8"))]
    rows = reproduction.summaries.consort.set_index(["trial", "arm"]).loc[trial]
    expected = [int(rows.loc[arm, k]) for arm in ("Belimumab", "Placebo")
                for k in ("randomised", "withdrawn", "completed", "analysed")]
    assert counts == expected
    text = report.read_text(encoding="utf-8")
    assert f"virtual trial {trial}" in text
    # The GM figure shows that same trial's geometric means with their CIs beside the envelope.
    gm_caption = re.search(r'<figure id="fig-gm">.*?<figcaption>(.*?)</figcaption>', text, re.S)
    assert gm_caption is not None and f"geometric means of virtual trial {trial} " in gm_caption.group(1)


def test_a_three_arm_trial_and_a_cohort_get_every_arm_in_the_flow(tmp_path: Path) -> None:
    for name, arms in (("bliss-iv", 3), ("rtx-ucl", 1)):
        text = write_report(reproduce(name, n_trials=3, seed=1, trajectory_patients=10),
                            tmp_path / f"{name}.html").read_text(encoding="utf-8")
        assert len(re.findall(r'data-count="(\d+)"', text)) == 4 * arms
        assert len(_rows(text)) == len(published(name).figures)


def test_typical_trial_is_the_hazard_ratio_nearest_the_median() -> None:
    def frame(trials: list[int], hrs: list[float]) -> pd.DataFrame:
        return pd.DataFrame({"trial": trials, HR.figure: hrs})

    assert typical_trial(frame([1, 2, 3, 4, 5, 6], [np.nan, 0.1, 0.3, np.inf, 0.9, 0.0]), HR) == 3
    assert typical_trial(frame([9, 8, 6, 7], [0.5, 2.0, 1.0, 1.0]), HR) == 6
    # The median counts trials without a flare in one arm (HR 0) but such a trial is never typical.
    assert typical_trial(frame([1, 2, 3, 4], [0.0, 0.0, 0.0, 0.5]), HR) == 4
    assert typical_trial(frame([4, 2], [np.nan, np.inf]), HR) == 2


@given(st.lists(st.sampled_from([0.0, 0.05, 0.3, 0.3, 1.0, 7.0, np.inf, np.nan]), min_size=1, max_size=12),
       st.randoms(use_true_random=False))
def test_typical_trial_has_an_hr_and_ignores_row_order(hrs: list[float], rnd: random.Random) -> None:
    per_trial = pd.DataFrame({"trial": np.arange(1, len(hrs) + 1), HR.figure: hrs})
    chosen = typical_trial(per_trial, HR)
    hr = per_trial.set_index("trial")[HR.figure]
    assert chosen in hr.index
    if any(np.isfinite(h) and h > 0 for h in hrs):
        assert np.isfinite(hr[chosen]) and hr[chosen] > 0
    shuffled = per_trial.sample(frac=1.0, random_state=rnd.randrange(2**32))
    assert typical_trial(shuffled, HR) == chosen


def test_provenance_is_shown_when_the_reproduction_has_one(report: Path, reproduction: Reproduction) -> None:
    shipped = report.read_text(encoding="utf-8")
    assert "joint calibration, population beat-lupus" in shipped and reproduction.provenance["date"] in shipped
    provenance = {"date": "2026-11-25", "sd": {"k_baff": 0.125}, "fitted": ["k_baff", "ec50"],
                  "targets": [{"name": "gm_dsdna", "residual": -0.5}, {"name": "hr", "residual": float("nan")}]}
    text = render_report(replace(reproduction, provenance=provenance))
    assert "joint calibration" not in text
    assert "2026-11-25" in text and "k_baff: 0.125" in text and "k_baff, ec50" in text
    table = re.search(r'<table class="provenance">(.*?)</table>', text, re.S)
    assert table is not None
    assert re.findall(r"<td>([^<]*)</td>", table.group(1)) == ["gm_dsdna", "-0.5", "hr", "NA"]


def test_cli_writes_the_report(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["reproduce", "--trials", "3", "--seed", "5", "--out", str(tmp_path),
                                      "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "report.html" in result.output
    assert len(_rows((tmp_path / "report.html").read_text(encoding="utf-8"))) == len(published().figures)


@needs_chromium
def test_chromium_renders_every_figure(report: Path) -> None:
    """Selenium opens the file:// URL in headless Chromium: every image decoded, the SVG drawn, a row per figure."""
    from selenium.webdriver.common.by import By

    with chromium(report) as driver:
        images = page_images(driver)
        assert [i[0] for i in images] == list(PNG_FIGURES)
        assert all(complete and natural > 0 and shown > 0 for _, complete, natural, shown in images), images
        svg = driver.find_element(By.CSS_SELECTOR, "figure#fig-consort > svg.consort")
        assert svg.is_displayed() and svg.size["width"] > 0
        assert len(svg.find_elements(By.CSS_SELECTOR, "[data-count]")) == 8
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-statistic]")
        assert [r.get_attribute("data-statistic") for r in rows] == [f.statistic for f in published().figures]
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-figures-rendered") == str(
            len(PNG_FIGURES) + 1)
