"""One model parameter as declared: value, unit, source, calibration flag and variability.

Its own module so that the drug registry (:mod:`.drugs`) and the parameter set
(:mod:`.parameters`), which is built from the registry, can both use it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

ASSUMPTION = "assumption"  # no source gives the value; the calibrate column says whether a fit may move it


@dataclass(frozen=True)
class Param:
    """One typical value; ``omega`` is the SD of its log-normal between-patient variability."""

    name: str
    value: float
    unit: str
    source: str
    calibrate: bool = False
    omega: float = 0.0
    prior: tuple[float, float] | None = None
    description: str = ""
    omega_prior: tuple[float, float] | None = None  # set when calibration may move ``omega``
    # Set when calibration fits a value the table does not mark "calibrate": a spread the trial's
    # published CIs, not a model assumption, decide (docs/calibration.md lists what is fitted).
    fit_prior: tuple[float, float] | None = None
