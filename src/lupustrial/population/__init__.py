"""lupustrial.population: virtual SLE patients (covariates and between-patient variability)."""

from lupustrial.population.virtual import Population, virtual_population

__all__ = ["Population", "virtual_population"]
