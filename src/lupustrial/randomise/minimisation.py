"""Pocock–Simon minimisation (Biometrics 1975;31:103–115) for equal allocation ratios.

For a new subject, each arm is tried in turn: the subject's factor levels' arm counts plus
that subject give one imbalance per factor (range or variance over arms), summed with factor
weights into G. The arm(s) with the smallest G get probability ``p`` (ties broken at random),
the others share ``1 - p``; if all arms tie, the choice is uniform. Unequal ratios are refused:
naive weighting of counts distorts the allocation ratio and its analysis (Proschan et al.,
Biometrics 2011), and the ratio-preserving fix (Han et al. 2009) is not implemented.

The loop runs over subjects and is vectorised over trials, because minimisation is
sequential within a trial but the simulator runs many trials at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from lupustrial.randomise.arms import (
    Arms,
    RandomisationError,
    Seed,
    as_seed_sequence,
    keyed_child,
    level_codes,
    parse_arms,
    seed_record,
)

Imbalance = Literal["range", "variance"]
_TIE = 1e-9


def _uniforms(seed: Seed, n: int) -> np.ndarray:
    """Two uniforms per subject (coin, choice within the pool), drawn in subject order."""
    stream = keyed_child(as_seed_sequence(seed), "minimisation")
    return np.random.default_rng(stream).random((n, 2))


def _check(arms: Arms, p: float, imbalance: str, weights: np.ndarray) -> None:
    if len(set(arms.ratio)) != 1:
        ratio = ":".join(map(str, arms.ratio))
        raise RandomisationError(f"minimisation: only equal allocation ratios are supported, got {ratio}")
    k = len(arms.ratio)
    if not 1 / k <= p <= 1:
        raise RandomisationError(f"minimisation: p must be between 1/{k} and 1, got {p}")
    if imbalance not in ("range", "variance"):
        raise RandomisationError(f"minimisation: imbalance must be 'range' or 'variance', got {imbalance!r}")
    if not (np.isfinite(weights).all() and (weights > 0).all()):
        raise RandomisationError(f"minimisation: factor weights must be positive, got {weights.tolist()}")


def minimise_codes(
    levels: np.ndarray,
    n_levels: Sequence[int],
    n_arms: int,
    uniforms: np.ndarray,
    *,
    weights: np.ndarray,
    p: float,
    imbalance: Imbalance,
) -> np.ndarray:
    """Arm indices (trials x subjects) from level codes (trials x subjects x factors).

    ``uniforms`` (trials x subjects x 2) carries all the randomness, so callers control seeds.
    """
    n_trials, n_subjects, n_factors = levels.shape
    counts = np.zeros((n_trials, n_factors, max(n_levels, default=1), n_arms), dtype=np.int64)
    trial = np.arange(n_trials)[:, None]
    factor = np.arange(n_factors)[None, :]
    eye = np.eye(n_arms, dtype=np.int64)
    out = np.empty((n_trials, n_subjects), dtype=np.int8)
    for j in range(n_subjects):
        lv = levels[:, j, :]
        cand = counts[trial, factor, lv][:, :, None, :] + eye  # trials x factors x candidate x arm
        d = cand.max(-1) - cand.min(-1) if imbalance == "range" else cand.var(-1)
        g = np.einsum("f,tfk->tk", weights, d)
        minimal = g <= g.min(1, keepdims=True) + _TIE
        to_min = (uniforms[:, j, 0] < p) | minimal.all(1)
        pool = np.where(to_min[:, None], minimal, ~minimal)
        pick = np.floor(uniforms[:, j, 1] * pool.sum(1)).astype(np.int64)
        arm = (np.cumsum(pool, 1) > pick[:, None]).argmax(1)
        counts[trial[:, 0, None], factor, lv, arm[:, None]] += 1
        out[:, j] = arm
    return out


def minimise(
    subjects: pd.DataFrame,
    arms: Mapping[str, int] | Arms,
    *,
    factors: Mapping[str, Sequence[str]],
    seed: Seed,
    p: float = 0.8,
    imbalance: Imbalance = "range",
    weights: Mapping[str, float] | None = None,
    file: str | None = None,
) -> pd.DataFrame:
    """Allocate subjects in enrolment (row) order by minimisation over ``factors`` (factor -> levels).

    Returns the subjects with SEQ and ARM added; the settings are in ``.attrs``.
    """
    parsed = parse_arms(arms)
    w = np.array([float((weights or {}).get(f, 1.0)) for f in factors])
    _check(parsed, p, imbalance, w)
    unknown = set(weights or {}) - set(factors)
    if unknown:
        raise RandomisationError(f"minimisation: weights given for unknown factors {sorted(unknown)}")
    codes = np.stack([level_codes(subjects, f, v, file) for f, v in factors.items()], -1)
    arm = minimise_codes(
        codes[None],
        [len(v) for v in factors.values()],
        len(parsed.names),
        _uniforms(seed, len(subjects))[None],
        weights=w,
        p=p,
        imbalance=imbalance,
    )[0]
    out = subjects.copy()
    out["SEQ"] = np.arange(1, len(out) + 1)
    out["ARM"] = np.asarray(parsed.names, dtype=object)[arm]
    out.attrs["randomisation"] = {
        "method": "Pocock-Simon minimisation",
        "arms": list(parsed.names),
        "factors": {f: list(map(str, v)) for f, v in factors.items()},
        "weights": w.tolist(),
        "p": p,
        "imbalance": imbalance,
        "seed": seed_record(as_seed_sequence(seed)),
    }
    return out


def minimise_batch(
    levels: np.ndarray,
    n_levels: Sequence[int],
    n_arms: int,
    *,
    seeds: Sequence[Seed],
    p: float = 0.8,
    imbalance: Imbalance = "range",
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Arm indices (trials x subjects) for many simulated trials, one seed per trial.

    Row ``t`` equals :func:`minimise` on trial ``t``'s subjects with ``seeds[t]``.
    """
    w = np.ones(levels.shape[2]) if weights is None else np.asarray(weights, dtype=float)
    _check(Arms(tuple(map(str, range(n_arms))), (1,) * n_arms), p, imbalance, w)
    uniforms = np.stack([_uniforms(s, levels.shape[1]) for s in seeds])
    return minimise_codes(levels, n_levels, n_arms, uniforms, weights=w, p=p, imbalance=imbalance)
