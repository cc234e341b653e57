"""Stratified permuted blocks: balance, exact reproducibility, independent strata, validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.errors import DataError, LupustrialError
from lupustrial.randomise import allocation_list, assign, permuted_blocks_batch

BP = {"Belimumab": 1, "Placebo": 1}
DSDNA = {"dsdna": ["high", "low"]}


@st.composite
def designs(draw: st.DrawFn) -> tuple[dict[str, int], list[int], int, int]:
    """Arms with a small integer ratio, block sizes that are multiples of its sum, n and a seed."""
    ratio = draw(st.lists(st.integers(1, 3), min_size=2, max_size=3))
    arms = {f"A{i}": r for i, r in enumerate(ratio)}
    mult = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return arms, [m * sum(ratio) for m in mult], draw(st.integers(1, 60)), draw(st.integers(0, 2**32))


@settings(max_examples=60, deadline=None)
@given(designs())
def test_complete_blocks_hold_arms_exactly_in_ratio(design: tuple[dict[str, int], list[int], int, int]) -> None:
    arms, sizes, n, seed = design
    lst = allocation_list(arms, block_sizes=sizes, n_per_stratum=n, seed=seed)
    assert len(lst) >= n and lst["BLOCKSIZE"].isin(sizes).all()
    for _, block in lst.groupby("BLOCK"):
        size = block["BLOCKSIZE"].iloc[0]
        assert len(block) == size  # the list holds whole blocks only
        counts = block["ARM"].value_counts()
        assert {a: counts.get(a, 0) for a in arms} == {a: r * size // sum(arms.values()) for a, r in arms.items()}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([2, 4, 6, 8]), min_size=1, max_size=4), st.integers(1, 80), st.integers(0, 2**32))
def test_running_imbalance_bounded_by_half_the_largest_block(sizes: list[int], n: int, seed: int) -> None:
    lst = allocation_list(BP, strata_levels=DSDNA, block_sizes=sizes, n_per_stratum=n, seed=seed)
    for _, stratum in lst.groupby("STRATUM"):
        diff = np.cumsum(np.where(stratum["ARM"] == "Belimumab", 1, -1))
        assert np.abs(diff).max() <= max(sizes) // 2
        assert diff[-1] == 0


def test_same_seed_same_list_and_seed_sequence_equals_int() -> None:
    a = allocation_list(BP, strata_levels=DSDNA, block_sizes=[2, 4, 6], n_per_stratum=40, seed=7)
    seq = np.random.SeedSequence(7)
    b = allocation_list(BP, strata_levels=DSDNA, block_sizes=[2, 4, 6], n_per_stratum=40, seed=seq)
    c = allocation_list(BP, strata_levels=DSDNA, block_sizes=[2, 4, 6], n_per_stratum=40, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not a["ARM"].equals(c["ARM"])
    assert a.attrs["randomisation"]["seed"] == {"entropy": "7", "spawn_key": []}


def test_adding_a_stratum_or_extending_leaves_other_strata_unchanged() -> None:
    base = allocation_list(BP, strata_levels=DSDNA, block_sizes=[2, 4], n_per_stratum=30, seed=3)
    more = allocation_list(
        BP, strata_levels={"dsdna": ["low", "high", "unknown"]}, block_sizes=[2, 4], n_per_stratum=60, seed=3
    )
    for label in ["dsdna=high", "dsdna=low"]:
        short = base[base["STRATUM"] == label].reset_index(drop=True)
        long = more[more["STRATUM"] == label].reset_index(drop=True)
        pd.testing.assert_frame_equal(short, long.iloc[: len(short)])


def test_assign_follows_the_list_in_enrolment_order() -> None:
    rng = np.random.default_rng(0)
    subjects = pd.DataFrame({"USUBJID": [f"S{i:03d}" for i in range(50)], "dsdna": rng.choice(["high", "low"], 50)})
    out = assign(subjects, BP, strata_levels=DSDNA, block_sizes=[2, 4], seed=11)
    lst = allocation_list(BP, strata_levels=DSDNA, block_sizes=[2, 4], n_per_stratum=50, seed=11)
    for label, got in out.groupby("STRATUM"):
        assert got["SEQ"].tolist() == list(range(1, len(got) + 1))
        assert got["ARM"].tolist() == lst[lst["STRATUM"] == label]["ARM"].iloc[: len(got)].tolist()
    # A later subject in another stratum does not change anyone already assigned.
    extra = pd.concat([subjects, pd.DataFrame({"USUBJID": ["S999"], "dsdna": ["low"]})], ignore_index=True)
    assert assign(extra, BP, strata_levels=DSDNA, block_sizes=[2, 4], seed=11)["ARM"].iloc[:50].equals(out["ARM"])


def test_batch_rows_equal_single_trial_lists() -> None:
    seeds = np.random.SeedSequence(5).spawn(20)
    batch = permuted_blocks_batch({"B": 2, "P": 1}, block_sizes=[3, 6], n=52, seeds=seeds)
    for t in [0, 7, 19]:
        lst = allocation_list({"B": 2, "P": 1}, block_sizes=[3, 6], n_per_stratum=52, seed=seeds[t])
        assert (np.array(["B", "P"])[batch[t]] == lst["ARM"].iloc[:52].to_numpy()).all()


@pytest.mark.parametrize(
    ("arms", "sizes", "match"),
    [
        ({"Belimumab": 1}, [2], "at least two arms"),
        ({"Belimumab": 0, "Placebo": 1}, [2], "positive integer"),
        ({"Belimumab": 1.5, "Placebo": 1}, [2], "positive integer"),
        ({"Belimumab": 2, "Placebo": 1}, [3, 4], "4 is not a positive multiple of 3"),
        (BP, [], "at least one block size"),
    ],
)
def test_bad_settings_raise_one_line_errors(arms: dict[str, float], sizes: list[int], match: str) -> None:
    with pytest.raises(LupustrialError, match=match) as info:
        allocation_list(arms, block_sizes=sizes, n_per_stratum=10, seed=1)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


def test_unknown_level_names_row_and_column() -> None:
    subjects = pd.DataFrame({"dsdna": ["high", "low", "medium"]})
    with pytest.raises(DataError, match=r"subjects.csv, row 3, column dsdna: unknown level 'medium'"):
        assign(subjects, BP, strata_levels=DSDNA, block_sizes=[2], seed=1, file="subjects.csv")
    with pytest.raises(DataError, match="factor 'site' is missing"):
        assign(subjects, BP, strata_levels={"site": ["A"]}, block_sizes=[2], seed=1)
    with pytest.raises(LupustrialError, match="seed"):
        allocation_list(BP, block_sizes=[2], n_per_stratum=4, seed=-1)


def test_factor_order_does_not_change_a_stratum_stream() -> None:
    kwargs = {"block_sizes": [2, 4], "n_per_stratum": 20, "seed": 4}
    a = allocation_list(BP, strata_levels={"dsdna": ["high"], "site": ["A"]}, **kwargs)  # type: ignore[arg-type]
    b = allocation_list(BP, strata_levels={"site": ["A"], "dsdna": ["high"]}, **kwargs)  # type: ignore[arg-type]
    assert a["STRATUM"].iloc[0] == "dsdna=high;site=A" and b["STRATUM"].iloc[0] == "site=A;dsdna=high"
    assert a["ARM"].tolist() == b["ARM"].tolist()
