"""lupustrial.population: virtual SLE patients (covariates and between-patient variability)."""

from lupustrial.population.virtual import Population, extreme_patients, virtual_population

__all__ = ["Population", "extreme_patients", "virtual_population"]
