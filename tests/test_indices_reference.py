"""The derivation on the bundled example equals an independent R implementation.

Fixture: tests/reference/indices_example.json from tests/reference/indices_reference.R.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import load_reference
from lupustrial.indices.derive import EXAMPLE_VISITS, Derived, derive, read_visits


@pytest.fixture(scope="module")
def ref() -> dict[str, pd.DataFrame]:
    return {k: pd.DataFrame(v) for k, v in load_reference("indices_example").items()}


@pytest.fixture(scope="module")
def derived() -> Derived:
    return derive(read_visits(EXAMPLE_VISITS))


def by_visit(scores: pd.DataFrame, paramcd: str) -> pd.Series:
    rows = scores[scores["PARAMCD"] == paramcd]
    return rows.set_index(["USUBJID", "AVISITN"])["AVAL"].astype(float).sort_index()


@pytest.mark.parametrize(("paramcd", "column", "window"), [("SLEDAI2K", "SLEDAI2K", 30), ("SLEDAI2K", "SLEDAI2K_10", 10),
                                                           ("CSLEDAI", "CSLEDAI", 30), ("BILAGNUM", "BILAGNUM", 30)])
def test_scores(ref: dict[str, pd.DataFrame], paramcd: str, column: str, window: int) -> None:
    # The 10-day column matches laboratory values by day only, so that it tests the window.
    scores = derive(read_visits(EXAMPLE_VISITS), window_days=window, match_labs_by_visit=window == 30).scores
    ours = by_visit(scores, paramcd)
    theirs = ref["scores"].set_index(["USUBJID", "AVISITN"])[column].astype(float).sort_index()
    assert ours.index.equals(theirs.index)
    np.testing.assert_array_equal(ours.to_numpy(), theirs.to_numpy())  # NaN where R gives NA (partial)
    if window == 10:
        assert ours.isna().any()  # the short window leaves some laboratory descriptors unknown


def test_flare_times(ref: dict[str, pd.DataFrame], derived: Derived) -> None:
    key = ["USUBJID", "PARAMCD"]
    ours = derived.adtte.set_index(key)[["AVAL", "CNSR"]].sort_index()
    theirs = ref["adtte"].set_index(key)[["AVAL", "CNSR"]].sort_index()
    pd.testing.assert_frame_equal(ours.astype(int), theirs.astype(int))
    assert 0 < (ours["CNSR"] == 0).sum() < len(ours)


def test_responders(ref: dict[str, pd.DataFrame], derived: Derived) -> None:
    key = ["USUBJID", "AVISITN", "PARAMCD"]
    ours = derived.adrsp.set_index(key)["AVALC"].sort_index()
    theirs = ref["adrsp"].set_index(key)["AVALC"].sort_index()
    assert ours.index.equals(theirs.index)
    assert (ours == theirs).all(), ours[ours != theirs].head()
    assert set(ours) == {"Y", "N"}


def test_flare_counts(ref: dict[str, pd.DataFrame], derived: Derived) -> None:
    key = ["USUBJID", "PARAMCD"]
    ours = derived.counts.set_index(key)[["AVAL", "FUDAYS"]].sort_index().astype(int)
    theirs = ref["counts"].set_index(key)[["AVAL", "FUDAYS"]].sort_index().astype(int)
    pd.testing.assert_frame_equal(ours, theirs)
    assert ours["AVAL"].sum() > 0


@pytest.mark.parametrize(("basis", "column"), [("time", "LLDASPCT"), ("visits", "LLDASPCT_VISITS")])
def test_time_in_lldas(ref: dict[str, pd.DataFrame], basis: str, column: str) -> None:
    table = derive(read_visits(EXAMPLE_VISITS), lldas_basis=basis).lldas_time
    ours = table[table["PARAMCD"] == "LLDASPCT"].set_index("USUBJID")["AVAL"].astype(float).sort_index()
    theirs = ref["lldas_time"].set_index("USUBJID")[column].astype(float).sort_index()
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy())
    assert 0 < ours.max() and ours.min() < 100
