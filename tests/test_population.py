"""Virtual population: reproducible by seed, independent of size, matching its covariate model."""

from __future__ import annotations

import numpy as np
import pytest

from lupustrial.errors import LupustrialError
from lupustrial.model.equations import T
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.parameters import COVARIATE_PARAMS
from lupustrial.population.virtual import AGE_RANGE, extreme_patients, virtual_population

COV = {p.name: p.value for p in COVARIATE_PARAMS}


@pytest.fixture(scope="module")
def big():
    return virtual_population(20_000, seed=2021, params=ModelParameters())


def test_first_patients_do_not_depend_on_population_size() -> None:
    small, large = virtual_population(10, seed=7), virtual_population(3000, seed=7)
    assert np.array_equal(small.theta, large.theta[:, :10])
    assert np.array_equal(small.covariates["sex"], large.covariates["sex"][:10])
    assert np.array_equal(large.take(slice(1024, 1030)).theta, virtual_population(1030, seed=7).theta[:, 1024:])


def test_seed_changes_the_patients() -> None:
    assert not np.array_equal(virtual_population(5, seed=1).theta, virtual_population(5, seed=2).theta)


def test_covariates_follow_their_distributions(big) -> None:
    c = big.covariates
    se = 4.0 / np.sqrt(big.n)  # four standard errors of a standardised mean
    for name, median, sdlog in [
        ("weight_kg", "weight_median", "weight_sdlog"),
        ("baseline_anti_dsdna_iu_ml", "anti_dsdna_median", "anti_dsdna_sdlog"),
        ("baseline_baff_ng_ml", "baff_median", "baff_sdlog"),
        ("baseline_cd19_cells_ul", "cd19_median", "cd19_sdlog"),
    ]:
        z = (np.log(c[name]) - np.log(COV[median])) / COV[sdlog]
        assert abs(z.mean()) < se and abs(z.std() - 1.0) < 2 * se, name
    r = np.corrcoef(np.log(c["baseline_baff_ng_ml"]), np.log(c["baseline_cd19_cells_ul"]))[0, 1]
    assert abs(r - COV["baff_cd19_correlation"]) < 0.03
    assert abs((c["sex"] == "F").mean() - COV["female_fraction"]) < 0.01
    assert c["age_years"].min() >= AGE_RANGE[0] and c["age_years"].max() <= AGE_RANGE[1]


def test_random_effects_have_their_omegas_and_correlations(big) -> None:
    params = ModelParameters()
    for name in params.random_effects:
        assert abs(big.eta[name].std() - params.param(name).omega) < 0.03 * params.param(name).omega + 0.005, name
    r = np.corrcoef(big.eta["bel_cl"], big.eta["bel_v1"])[0, 1]
    assert abs(r - params.correlations[("bel_cl", "bel_v1")]) < 0.03


def test_clearance_scales_with_weight(big) -> None:
    """Typical-value CL × exp(eta) × (WT/70)^0.75: the weight slope on the log scale is 0.75."""
    params = ModelParameters()
    cl = big.theta[T["belimumab_k10"]] * big.theta[T["belimumab_v1"]]
    resid = np.log(cl) - big.eta["bel_cl"]
    slope = np.polyfit(np.log(big.covariates["weight_kg"] / params["weight_ref"]), resid, 1)[0]
    assert slope == pytest.approx(params["allometry_cl"], abs=1e-9)


@pytest.mark.parametrize("n, seed, message", [(0, 1, "patients"), (5, -1, "seed")])
def test_bad_sizes_are_user_errors(n: int, seed: int, message: str) -> None:
    with pytest.raises(LupustrialError, match=message):
        virtual_population(n, seed)


def test_invalid_correlations_are_refused() -> None:
    with pytest.raises(LupustrialError, match=r"correlation of rtx_cl and rtx_v1 = 1.5 must be in \[-1, 1\]"):
        ModelParameters(correlations={("rtx_cl", "rtx_v1"): 1.5})
    # Each pair valid, the set impossible: the population refuses the matrix.
    params = ModelParameters(correlations={("rtx_cl", "rtx_v1"): 0.9, ("rtx_cl", "rtx_ec50"): 0.9,
                                           ("rtx_v1", "rtx_ec50"): -0.9})
    with pytest.raises(LupustrialError, match="do not form a valid correlation matrix"):
        virtual_population(3, 1, params=params)


def test_extreme_patients_lie_in_the_tails(big) -> None:
    idx = extreme_patients(big, 10)
    assert len(set(idx)) == 10 and np.array_equal(extreme_patients(big, 3), idx[:3])
    # Among 20,000 normal draws in ~20 dimensions the most extreme lies beyond 4 SD in one of them.
    eta = np.column_stack([big.eta[k] / big.params.param(k).omega for k in big.eta])
    cov = [np.log(big.covariates[c] / COV[f"{k}_median"]) / COV[f"{k}_sdlog"] for c, k in
           [("weight_kg", "weight"), ("baseline_anti_dsdna_iu_ml", "anti_dsdna"), ("baseline_baff_ng_ml", "baff"),
            ("baseline_cd19_cells_ul", "cd19")]]
    z = np.abs(np.column_stack([eta, *cov]))
    assert z[idx[0]].max() > 4.0 > np.median(z.max(axis=1))
