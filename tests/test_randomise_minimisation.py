"""Pocock–Simon minimisation: an independent plain-Python oracle, balance, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.errors import DataError, LupustrialError
from lupustrial.randomise.minimisation import _uniforms, minimise, minimise_batch, minimise_codes

BP = {"Belimumab": 1, "Placebo": 1}


def oracle(codes: list[list[int]], k: int, u: np.ndarray, w: list[float], p: float, kind: str) -> list[int]:
    """Pocock & Simon (1975) step by step, written from the paper independently of the vectorised code."""
    counts: dict[tuple[int, int], list[int]] = {}
    arms = []
    for j, subject in enumerate(codes):
        g = []
        for cand in range(k):
            total = 0.0
            for f, level in enumerate(subject):
                x = list(counts.get((f, level), [0] * k))
                x[cand] += 1
                total += w[f] * (max(x) - min(x) if kind == "range" else float(np.var(x)))
            g.append(total)
        best = [a for a in range(k) if g[a] <= min(g) + 1e-9]
        rest = [a for a in range(k) if a not in best]
        pool = best if (u[j, 0] < p or not rest) else rest
        arm = pool[int(u[j, 1] * len(pool))]
        for f, level in enumerate(subject):
            counts.setdefault((f, level), [0] * k)[arm] += 1
        arms.append(arm)
    return arms


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(2, 4), min_size=1, max_size=3),
    st.integers(2, 3),
    st.integers(1, 40),
    st.sampled_from([1.0, 0.8, 0.6]),
    st.sampled_from(["range", "variance"]),
    st.integers(0, 2**32),
)
def test_vectorised_equals_oracle(nlev: list[int], k: int, n: int, p: float, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, L, n) for L in nlev], -1)
    w = list(rng.uniform(0.5, 2, len(nlev)))
    u = _uniforms(seed, n)
    kwargs = {"weights": np.array(w), "p": p, "imbalance": kind}
    got = minimise_codes(codes[None], nlev, k, u[None], **kwargs)  # type: ignore[arg-type]
    assert got[0].tolist() == oracle(codes.tolist(), k, u, w, p, kind)


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 5), st.integers(2, 3), st.integers(1, 60), st.integers(0, 2**32))
def test_deterministic_single_factor_keeps_every_level_within_one(nlev: int, k: int, n: int, seed: int) -> None:
    levels = np.random.default_rng(seed).integers(0, nlev, (1, n, 1))
    arm = minimise_batch(levels, [nlev], k, seeds=[seed], p=1.0)[0]
    for level in range(nlev):
        for end in range(1, n + 1):
            mine = arm[:end][levels[0, :end, 0] == level]
            per_arm = np.bincount(mine, minlength=k)
            assert per_arm.max() - per_arm.min() <= 1


def test_minimisation_balances_margins_better_than_chance() -> None:
    rng = np.random.default_rng(1)
    levels = np.stack([rng.integers(0, 2, (300, 52)), rng.integers(0, 3, (300, 52))], -1)
    seeds = np.random.SeedSequence(2).spawn(300)

    def mean_margin(p: float) -> float:
        arm = minimise_batch(levels, [2, 3], 2, seeds=seeds, p=p)
        diffs = [
            np.abs(((arm == 0) & (levels[..., f] == lv)).sum(1) - ((arm == 1) & (levels[..., f] == lv)).sum(1))
            for f, n in enumerate([2, 3])
            for lv in range(n)
        ]
        return float(np.mean(diffs))

    deterministic, biased, chance = mean_margin(1.0), mean_margin(0.8), mean_margin(0.5)
    assert deterministic < 1.0 < biased < 2.0 < chance


def test_data_frame_api_reproducible_and_equal_to_batch() -> None:
    rng = np.random.default_rng(3)
    subjects = pd.DataFrame({"dsdna": rng.choice(["high", "low"], 52), "site": rng.choice(["A", "B", "C"], 52)})
    factors = {"dsdna": ["high", "low"], "site": ["A", "B", "C"]}
    a = minimise(subjects, BP, factors=factors, seed=9, weights={"site": 0.5})
    b = minimise(subjects, BP, factors=factors, seed=np.random.SeedSequence(9), weights={"site": 0.5})
    pd.testing.assert_frame_equal(a, b)
    codes = np.stack([pd.Categorical(subjects[f], categories=v).codes for f, v in factors.items()], -1)
    batch = minimise_batch(codes[None], [2, 3], 2, seeds=[9], weights=[1.0, 0.5])
    assert a["ARM"].tolist() == np.array(["Belimumab", "Placebo"])[batch[0]].tolist()
    # Enrolling one more subject never changes earlier allocations.
    more = minimise(pd.concat([subjects, subjects.iloc[:1]]), BP, factors=factors, seed=9, weights={"site": 0.5})
    assert more["ARM"].iloc[:52].tolist() == a["ARM"].tolist()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arms": {"B": 2, "P": 1}}, "only equal allocation ratios"),
        ({"p": 0.3}, "p must be between 1/2 and 1"),
        ({"imbalance": "gini"}, "'range' or 'variance'"),
        ({"weights": {"dsdna": -1.0}}, "weights must be positive"),
        ({"weights": {"age": 1.0}}, "unknown factors"),
    ],
)
def test_bad_settings(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"arms": BP, "factors": {"dsdna": ["high", "low"]}, "seed": 1, **kwargs}
    with pytest.raises(LupustrialError, match=match):
        minimise(pd.DataFrame({"dsdna": ["high"]}), **args)  # type: ignore[arg-type]


def test_unknown_level_is_a_located_data_error() -> None:
    with pytest.raises(DataError, match="s.csv, row 2, column dsdna: unknown level 'mid'"):
        minimise(pd.DataFrame({"dsdna": ["high", "mid"]}), BP, factors={"dsdna": ["high", "low"]}, seed=1, file="s.csv")
