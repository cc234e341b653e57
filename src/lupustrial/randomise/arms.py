"""Arms, ratios, strata and seeds shared by permuted blocks and minimisation.

Every random stream is a :class:`numpy.random.SeedSequence` child *keyed by name* (a
stratum's label, a purpose), not by position, so adding a stratum or a subject elsewhere
never changes another stratum's list.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lupustrial.errors import DataError, LupustrialError

Seed = int | np.random.SeedSequence


class RandomisationError(LupustrialError):
    """A randomisation setting that cannot be used (bad ratio, block size, factor level)."""


@dataclass(frozen=True)
class Arms:
    """Arm names with their integer allocation ratio, e.g. Belimumab:1, Placebo:1."""

    names: tuple[str, ...]
    ratio: tuple[int, ...]

    @property
    def ratio_sum(self) -> int:
        return sum(self.ratio)


def parse_arms(arms: Mapping[str, int] | Arms) -> Arms:
    """Check the arms: at least two, unique non-empty names, positive integer ratios."""
    if isinstance(arms, Arms):
        return arms
    if len(arms) < 2:
        raise RandomisationError(f"arms: need at least two arms, got {list(arms)}")
    for name, r in arms.items():
        if not str(name).strip():
            raise RandomisationError("arms: arm names must not be empty")
        if isinstance(r, bool) or not isinstance(r, int | np.integer) or r < 1:
            raise RandomisationError(f"arms: ratio of arm {name!r} must be a positive integer, got {r!r}")
    return Arms(tuple(str(a) for a in arms), tuple(int(r) for r in arms.values()))


def check_block_sizes(arms: Arms, block_sizes: Sequence[int]) -> tuple[int, ...]:
    """Block sizes must be positive multiples of the ratio sum, or blocks cannot be balanced."""
    sizes = tuple(int(b) for b in block_sizes)
    if not sizes:
        raise RandomisationError("block sizes: give at least one block size")
    for b in sizes:
        if b < 1 or b % arms.ratio_sum:
            ratio = ":".join(map(str, arms.ratio))
            raise RandomisationError(
                f"block sizes: {b} is not a positive multiple of {arms.ratio_sum}, the sum of the ratio {ratio}"
            )
    return tuple(sorted(set(sizes)))


def as_seed_sequence(seed: Seed) -> np.random.SeedSequence:
    """An int or SeedSequence as a SeedSequence (ints must be non-negative)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RandomisationError(f"seed: must be a non-negative integer or SeedSequence, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def keyed_child(root: np.random.SeedSequence, *key: str) -> np.random.SeedSequence:
    """A child stream named by ``key``: the same name always gives the same stream."""
    digest = hashlib.blake2b("\x1f".join(key).encode(), digest_size=16).digest()
    words = tuple(int(w) for w in np.frombuffer(digest, dtype="<u4"))
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *words))


def seed_record(seed: Seed) -> dict[str, object]:
    """What a statistician must file to regenerate a list: the root entropy and spawn key."""
    root = as_seed_sequence(seed)
    return {"entropy": str(root.entropy), "spawn_key": list(root.spawn_key)}


def strata_of(strata_levels: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination of factor levels, in the order given (empty mapping: one stratum)."""
    for factor, levels in strata_levels.items():
        if not levels:
            raise RandomisationError(f"strata: factor {factor!r} has no levels")
        if len(set(map(str, levels))) != len(levels):
            raise RandomisationError(f"strata: factor {factor!r} has repeated levels {list(levels)}")
    factors = list(strata_levels)
    return [
        dict(zip(factors, map(str, combo), strict=True))
        for combo in itertools.product(*strata_levels.values())
    ]


def stratum_label(stratum: Mapping[str, str]) -> str:
    """A stratum's printed name, e.g. ``dsdna=high;site=Leeds`` (``ALL`` if unstratified)."""
    return ";".join(f"{f}={v}" for f, v in stratum.items()) or "ALL"


def stratum_key(stratum: Mapping[str, str]) -> str:
    """The stream key: factor order does not matter, only the factor=level pairs."""
    return ";".join(sorted(f"{f}={v}" for f, v in stratum.items()))


def level_codes(subjects: pd.DataFrame, factor: str, levels: Sequence[str], file: str | None) -> np.ndarray:
    """Each subject's level index for ``factor``; a missing column or unknown level is a DataError."""
    if factor not in subjects.columns:
        raise DataError(f"factor {factor!r} is missing", file=file, column=factor)
    values = subjects[factor].astype(str)
    codes = pd.Index([str(v) for v in levels]).get_indexer(values)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise DataError(
            f"unknown level {values.iloc[bad[0]]!r} (expected one of {list(map(str, levels))})",
            file=file,
            row=int(bad[0]) + 1,
            column=factor,
        )
    return codes
