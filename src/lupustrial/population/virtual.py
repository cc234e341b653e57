"""Virtual SLE patients: covariates and log-normal between-patient variability.

Draws come in fixed blocks of patients, each block with its own child of the seed's
``SeedSequence``; patient i is therefore the same whatever the population size or the
chunk it is simulated in. The covariate distributions are part of the parameter set
(:data:`lupustrial.model.parameters.COVARIATE_PARAMS`): the BEAT-LUPUS baseline table was not
found, so they are assumptions, and calibration may move them like any model parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lupustrial.errors import LupustrialError
from lupustrial.model.equations import individual_parameters
from lupustrial.model.parameters import ModelParameters, default_parameters

BLOCK = 1024

AGE_RANGE = (18.0, 75.0)


@dataclass(frozen=True)
class Population:
    """Covariates (one array per name), random effects and per-patient model parameters."""

    params: ModelParameters
    covariates: dict[str, np.ndarray]
    eta: dict[str, np.ndarray]
    theta: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return self.theta.shape[1]

    def take(self, index: np.ndarray | slice) -> Population:
        """A sub-population (e.g. one chunk) with the same patients' draws."""
        return Population(
            params=self.params,
            covariates={k: v[index] for k, v in self.covariates.items()},
            eta={k: v[index] for k, v in self.eta.items()},
            theta=self.theta[:, index],
        )


def _omega_chol(params: ModelParameters) -> np.ndarray:
    names = params.random_effects
    sd = np.array([params.param(n).omega for n in names])
    corr = np.eye(len(names))
    for (a, b), r in params.correlations.items():
        if a in names and b in names:
            i, j = names.index(a), names.index(b)
            corr[i, j] = corr[j, i] = r
    try:
        return np.linalg.cholesky(corr * np.outer(sd, sd))
    except np.linalg.LinAlgError:
        raise LupustrialError("random-effect correlations do not form a valid correlation matrix") from None


def _block(seed: int, block: int, cov: dict[str, float], chol: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Covariates and eta of one block, always drawn in the same order."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    z = rng.standard_normal((BLOCK, 5))
    female = rng.random(BLOCK) < cov["female_fraction"]
    eta = rng.standard_normal((BLOCK, chol.shape[0])) @ chol.T
    r = cov["baff_cd19_correlation"]
    z_cd19 = r * z[:, 3] + np.sqrt(1.0 - r * r) * z[:, 4]
    covariates = {
        "sex": np.where(female, "F", "M"),
        "age_years": np.clip(cov["age_mean"] + cov["age_sd"] * z[:, 0], *AGE_RANGE),
        "weight_kg": cov["weight_median"] * np.exp(cov["weight_sdlog"] * z[:, 1]),
        "baseline_anti_dsdna_iu_ml": cov["anti_dsdna_median"] * np.exp(cov["anti_dsdna_sdlog"] * z[:, 2]),
        "baseline_baff_ng_ml": cov["baff_median"] * np.exp(cov["baff_sdlog"] * z[:, 3]),
        "baseline_cd19_cells_ul": cov["cd19_median"] * np.exp(cov["cd19_sdlog"] * z_cd19),
    }
    return covariates, eta


def virtual_population(n: int, seed: int, params: ModelParameters | None = None) -> Population:
    """``n`` virtual patients; the first m patients of any population with the same seed agree."""
    if n < 1:
        raise LupustrialError(f"number of patients must be >= 1, not {n}")
    if seed < 0:
        raise LupustrialError(f"seed must be >= 0, not {seed}")
    params = params or default_parameters()
    cov = {p.name: p.value for p in params.covariates}
    chol = _omega_chol(params)
    blocks = [_block(seed, b, cov, chol) for b in range(-(-n // BLOCK))]
    covariates = {k: np.concatenate([c[k] for c, _ in blocks])[:n] for k in blocks[0][0]}
    eta_all = np.concatenate([e for _, e in blocks])[:n]
    eta = {name: eta_all[:, i] for i, name in enumerate(params.random_effects)}
    return Population(params, covariates, eta, individual_parameters(params, covariates, eta))


def extreme_patients(population: Population, k: int) -> np.ndarray:
    """Indices of the ``k`` patients farthest out in any draw (random effect or log covariate), most extreme first.

    Accuracy checks use them: a solver tuned on typical patients can fail on the tails.
    """
    logs = [np.log(population.covariates[name]) for name in
            ("weight_kg", "baseline_anti_dsdna_iu_ml", "baseline_baff_ng_ml", "baseline_cd19_cells_ul")]
    draws = np.column_stack([*population.eta.values(), *logs])
    z = np.abs((draws - draws.mean(axis=0)) / draws.std(axis=0)).max(axis=1)
    return np.argsort(-z, kind="stable")[:k]
