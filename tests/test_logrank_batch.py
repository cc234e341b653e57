"""The batched log-rank test equals the single one, trial by trial (ties, padding, censoring)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.analysis import logrank
from lupustrial.analysis.batch import logrank_batch


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 30), st.integers(1, 4))
def test_logrank_batch_equals_the_single_test(seed: int, n: int, trials: int) -> None:
    """Ties, padding and censoring included: the batched log-rank is survdiff's, trial by trial."""
    rng = np.random.default_rng(seed)
    time = np.ceil(rng.exponential(20.0, (trials, n)))
    event = (rng.random((trials, n)) < 0.7).astype(float)
    treated = (rng.random((trials, n)) < 0.5).astype(float)
    mask = rng.random((trials, n)) < 0.9
    fit = logrank_batch(time, event, treated, mask=mask)
    for i in range(trials):
        m = mask[i]
        ok = m.sum() > 0 and event[i][m].sum() > 0 and 0 < treated[i][m].sum() < m.sum()
        if not ok or not fit.estimable[i]:
            assert not fit.estimable[i] or ok
            continue
        single = logrank(time[i][m], event[i][m], treated[i][m])
        assert fit.chisq[i] == pytest.approx(single.chisq, rel=1e-10)
        assert fit.p_value[i] == pytest.approx(single.p_value, rel=1e-8, abs=1e-15)
