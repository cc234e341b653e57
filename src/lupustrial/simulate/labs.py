"""Laboratory values as an assay reports them: proportional error and quantification limits."""

from __future__ import annotations

import numpy as np

from lupustrial.protocol.schema import Lab


def measure(true: np.ndarray, lab: Lab, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(reported value, below-LLOQ flag) for true values ``true``.

    Error is log-normal with the assay's coefficient of variation (sigma = sqrt(log(1 + cv²))),
    so values stay positive as titres do. Values below the LLOQ are reported as the protocol
    says (LLOQ/2 or LLOQ); values above the ULOQ as the ULOQ.
    """
    true = np.asarray(true, dtype=float)
    sigma = np.sqrt(np.log1p(lab.cv**2))
    value = true * np.exp(rng.normal(0.0, sigma, true.shape))  # geometric mean unbiased
    below = np.zeros(true.shape, dtype=bool)
    if lab.lloq is not None:
        below = value < lab.lloq
        value = np.where(below, lab.lloq / 2 if lab.below_lloq == "half_lloq" else lab.lloq, value)
    if lab.uloq is not None:
        value = np.minimum(value, lab.uloq)
    return value, below
