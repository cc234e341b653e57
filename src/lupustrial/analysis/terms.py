"""Model terms built as R builds them: arm levels, treatment-contrast dummies, covariates.

Every regression in :mod:`lupustrial.analysis` (``lm``, ``glm``, ``glm.nb``, ``gls``) names
and orders its columns the way R's ``model.matrix`` does with ``contr.treatment``, so that
coefficient tables line up with R's, and holds a reference-grid row the way ``emmeans`` does
(numeric covariates at their mean, factor levels averaged), so that adjusted means match.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from lupustrial.errors import AnalysisError

Weights = Literal["equal", "proportional"]


def labels(values: npt.ArrayLike, name: str, n: int, of: str = "y") -> npt.NDArray[np.str_]:
    """Categorical labels as strings; missing values are an error, not a silent new level.

    ``n`` is the length of the outcome array named ``of``, which every input must share.
    """
    raw = list(values)  # type: ignore[call-overload]
    if len(raw) != n:
        raise AnalysisError(f"{name} has {len(raw)} values but {of} has {n}")
    for i, v in enumerate(raw):
        if v is None or (np.isscalar(v) and pd.isna(v)):
            raise AnalysisError(f"{name}[{i}] is missing")
    return np.array([str(v) for v in raw])


def float_vector(values: npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """``values`` as a one-dimensional float array (NaN and infinity not yet checked)."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numeric ({exc})") from exc
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def finite(
    values: npt.ArrayLike, name: str, n: int | None = None, of: str = "y"
) -> npt.NDArray[np.float64]:
    """A one-dimensional float array with no NaN or infinity (and ``n`` values if given)."""
    arr = float_vector(values, name)
    if n is not None and arr.size != n:
        raise AnalysisError(f"{name} has {arr.size} values but {of} has {n}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        i = int(bad[0])
        raise AnalysisError(f"{name}[{i}] is {float(arr[i])!r}: a finite number is needed")
    return arr


def dummies(values: npt.NDArray[np.str_], levels: Sequence[str]) -> npt.NDArray[np.float64]:
    """Treatment-contrast columns (R's contr.treatment): one per level after the first."""
    return (values[:, None] == np.asarray(levels[1:])[None, :]).astype(float)


def arm_levels(
    arms: npt.NDArray[np.str_], treatment: str, reference: str, min_count: int = 1
) -> list[str]:
    """The arms in model order: ``reference`` first (R's baseline level), the others sorted.

    Checks that treatment and reference differ, are both present and have ``min_count``
    subjects (rows) each; every other arm must have them too, since it gets its own column.
    """
    if treatment == reference:
        raise AnalysisError(f"treatment and reference are both {treatment!r}")
    present = sorted(set(arms.tolist()))
    for role, label in (("treatment", treatment), ("reference", reference)):
        if label not in present:
            raise AnalysisError(f"{role} arm {label!r} is not among the arms {present}")
    levels = [reference] + [a for a in present if a != reference]
    for level in levels:
        count = int((arms == level).sum())
        if count < min_count:
            raise AnalysisError(
                f"arm {level!r} has {count} subject(s); at least {min_count} are needed"
            )
    return levels


@dataclass(frozen=True)
class Terms:
    """Design-matrix columns of some model terms, their R names and their reference-grid row.

    ``columns`` is (n, k); ``grid`` (k,) is the row ``emmeans`` holds them at.
    """

    names: tuple[str, ...]
    columns: npt.NDArray[np.float64]
    grid: npt.NDArray[np.float64]

    @staticmethod
    def empty(n: int) -> Terms:
        return Terms((), np.zeros((n, 0)), np.zeros(0))

    def __add__(self, other: Terms) -> Terms:
        return Terms(
            self.names + other.names,
            np.hstack([self.columns, other.columns]),
            np.concatenate([self.grid, other.grid]),
        )


def factor_terms(
    name: str, values: npt.ArrayLike, n: int, weights: Weights = "equal", *,
    where: str = "factors", of: str = "y",
) -> Terms:
    """A factor's dummies; its grid averages the levels equally (emmeans' default) or by size.

    ``where`` names the argument the factor came in (for messages: ``factors['site']``).
    """
    flab = labels(values, f"{where}[{name!r}]", n, of)
    flevels = sorted(set(flab.tolist()))
    if len(flevels) < 2:
        raise AnalysisError(f"factor {name!r} has a single level {flevels[0]!r}")
    cols = dummies(flab, flevels)
    grid = np.full(len(flevels) - 1, 1 / len(flevels)) if weights == "equal" else cols.mean(axis=0)
    return Terms(tuple(f"{name}{lv}" for lv in flevels[1:]), cols, grid)


def is_numeric(values: npt.ArrayLike) -> bool:
    """Numbers (or booleans) are a continuous covariate; anything else is a factor."""
    return np.asarray(values).dtype.kind in "biuf"


def covariate_terms(
    covariates: Mapping[str, npt.ArrayLike] | None, n: int, of: str = "y"
) -> Terms:
    """Main-effect terms of ``covariates``: numeric arrays enter as one column held at their
    mean, other arrays (strings, categories) as factors averaged equally over their levels."""
    terms = Terms.empty(n)
    for name, values in (covariates or {}).items():
        if is_numeric(values):
            col = finite(values, f"covariates[{name!r}]", n, of)
            terms = terms + Terms((name,), col[:, None], np.array([col.mean()]))
        else:
            terms = terms + factor_terms(name, values, n, where="covariates", of=of)
    return terms
