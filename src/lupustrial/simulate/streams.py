"""One seed, many independent random streams, addressed by what they are for.

Each stream is ``SeedSequence(seed, spawn_key=(trial, purpose))``: it depends only on the seed,
the trial's index and the purpose, never on how trials are batched or which worker runs them.
That is what makes a simulated trial identical whatever the chunk size or number of workers.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Purpose(IntEnum):
    """What a stream is used for; values are part of the reproducibility contract."""

    POPULATION = 0
    ENROLMENT = 1
    RANDOMISATION = 2
    LABS = 3
    FLARES = 4
    ADVERSE_EVENTS = 5
    DROPOUT = 6
    CLINICAL = 7


def stream(seed: int, trial: int, purpose: Purpose) -> np.random.Generator:
    """The generator for one trial and one purpose."""
    if seed < 0 or trial < 0:
        raise ValueError("seed and trial must be non-negative")
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(trial, int(purpose))))
