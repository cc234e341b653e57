"""Stratified permuted-block randomisation with block sizes drawn at random.

Each stratum has its own stream (a SeedSequence child keyed by the stratum), split into one
generator for block sizes and one for the order within blocks; both are consumed strictly
in sequence, so a longer list starts with the shorter one and strata never interact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lupustrial.randomise.arms import (
    Arms,
    RandomisationError,
    Seed,
    as_seed_sequence,
    check_block_sizes,
    keyed_child,
    level_codes,
    parse_arms,
    seed_record,
    strata_of,
    stratum_key,
    stratum_label,
)

LIST_COLUMNS = ["STRATUM", "SEQ", "BLOCK", "BLOCKSIZE", "ARM"]


def block_sequence(
    arms: Arms, block_sizes: tuple[int, ...], n: int, stream: np.random.SeedSequence
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm indices, block numbers (1-based) and block sizes of whole blocks covering ``n`` slots.

    Vectorised (one draw of sizes, one of sort keys) because the simulator calls it for
    thousands of small trials.
    """
    size_stream, order_stream = stream.spawn(2)
    sizes_all = np.asarray(block_sizes)
    n_draw = max(1, math.ceil(n / sizes_all[0]))
    sizes = sizes_all[np.random.default_rng(size_stream).integers(0, len(sizes_all), n_draw)]
    n_blocks = int(np.searchsorted(np.cumsum(sizes), max(n, 1))) + 1
    sizes = sizes[:n_blocks]
    k = len(arms.ratio)
    reps = np.outer(sizes // arms.ratio_sum, arms.ratio).ravel()
    labels = np.repeat(np.tile(np.arange(k), n_blocks), reps)
    block = np.repeat(np.arange(1, n_blocks + 1), sizes)
    keys = np.random.default_rng(order_stream).random(labels.size)
    order = np.lexsort((keys, block))
    return labels[order], block, np.repeat(sizes, sizes)


def _stream(root: np.random.SeedSequence, stratum: Mapping[str, str]) -> np.random.SeedSequence:
    return keyed_child(root, "permuted-blocks", stratum_key(stratum))


def _settings(
    arms: Arms, sizes: tuple[int, ...], levels: Mapping[str, Sequence[str]], root: np.random.SeedSequence
) -> dict[str, object]:
    """What regenerates a list: filed with it by :mod:`lupustrial.randomise.export`."""
    return {
        "method": "stratified permuted blocks",
        "arms": dict(zip(arms.names, arms.ratio, strict=True)),
        "block_sizes": list(sizes),
        "strata_levels": {f: list(map(str, v)) for f, v in levels.items()},
        "seed": seed_record(root),
    }


def allocation_list(
    arms: Mapping[str, int] | Arms,
    *,
    strata_levels: Mapping[str, Sequence[str]] | None = None,
    block_sizes: Sequence[int],
    n_per_stratum: int,
    seed: Seed,
) -> pd.DataFrame:
    """The allocation list an IWRS is loaded with: whole blocks covering ``n_per_stratum`` per stratum.

    Columns STRATUM, SEQ (1-based within stratum), BLOCK, BLOCKSIZE, ARM, plus one column per
    stratification factor. The settings needed to regenerate it are in ``.attrs``.
    """
    parsed = parse_arms(arms)
    sizes = check_block_sizes(parsed, block_sizes)
    levels = dict(strata_levels or {})
    if n_per_stratum < 1:
        raise RandomisationError(f"n per stratum: must be at least 1, got {n_per_stratum}")
    root = as_seed_sequence(seed)
    frames = []
    for stratum in strata_of(levels):
        arm, block, size = block_sequence(parsed, sizes, n_per_stratum, _stream(root, stratum))
        frame = pd.DataFrame(
            {
                "STRATUM": stratum_label(stratum),
                "SEQ": np.arange(1, arm.size + 1),
                "BLOCK": block,
                "BLOCKSIZE": size,
                "ARM": np.asarray(parsed.names, dtype=object)[arm],
            }
        )
        frames.append(frame.assign(**stratum))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["randomisation"] = {**_settings(parsed, sizes, levels, root), "n_per_stratum": n_per_stratum}
    return out


def subject_strata(
    subjects: pd.DataFrame, strata_levels: Mapping[str, Sequence[str]], file: str | None = None
) -> np.ndarray:
    """Each subject's stratum label, as printed in the allocation list's STRATUM column."""
    index = np.zeros(len(subjects), dtype=np.int64)
    for factor, levels in strata_levels.items():  # mixed radix in itertools.product order
        index = index * len(levels) + level_codes(subjects, factor, levels, file)
    labels = np.array([stratum_label(s) for s in strata_of(strata_levels)], dtype=object)
    return labels[index]


def assign(
    subjects: pd.DataFrame,
    arms: Mapping[str, int] | Arms,
    *,
    strata_levels: Mapping[str, Sequence[str]] | None = None,
    block_sizes: Sequence[int],
    seed: Seed,
    file: str | None = None,
) -> pd.DataFrame:
    """Allocate subjects in enrolment (row) order: each takes the next slot of its stratum's list.

    The result equals reading :func:`allocation_list` with the same seed stratum by stratum,
    so a trial can switch between a pre-printed list and on-line assignment.
    """
    parsed = parse_arms(arms)
    sizes = check_block_sizes(parsed, block_sizes)
    levels = dict(strata_levels or {})
    root = as_seed_sequence(seed)
    labels = subject_strata(subjects, levels, file)
    out = subjects.copy()
    out["STRATUM"] = labels
    seq = np.zeros(len(out), dtype=np.int64)
    arm = np.zeros(len(out), dtype=np.int64)
    for stratum in strata_of(levels):
        rows = np.flatnonzero(labels == stratum_label(stratum))
        seq[rows] = np.arange(1, rows.size + 1)
        arm[rows] = block_sequence(parsed, sizes, rows.size, _stream(root, stratum))[0][: rows.size]
    out["SEQ"] = seq
    out["ARM"] = np.asarray(parsed.names, dtype=object)[arm]
    out.attrs["randomisation"] = _settings(parsed, sizes, levels, root)
    return out


def permuted_blocks_batch(
    arms: Mapping[str, int] | Arms, *, block_sizes: Sequence[int], n: int, seeds: Sequence[Seed]
) -> np.ndarray:
    """Arm indices (trials x n) for many unstratified trials, one seed per trial.

    Row ``t`` equals the first ``n`` arms of ``allocation_list(arms, seed=seeds[t], ...)``,
    so a simulated trial can be re-run on its own.
    """
    parsed = parse_arms(arms)
    sizes = check_block_sizes(parsed, block_sizes)
    out = np.empty((len(seeds), n), dtype=np.int8)
    for t, seed in enumerate(seeds):
        out[t] = block_sequence(parsed, sizes, n, _stream(as_seed_sequence(seed), {}))[0][:n]
    return out
