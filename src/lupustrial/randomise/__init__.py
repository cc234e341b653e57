"""Randomisation for a real trial or for simulated ones: stratified permuted blocks and minimisation.

Everything is reproducible from one seed (an int or :class:`numpy.random.SeedSequence`).
"""

from lupustrial.randomise.arms import Arms, RandomisationError, parse_arms
from lupustrial.randomise.blocks import allocation_list, assign, permuted_blocks_batch
from lupustrial.randomise.export import write_allocation_list
from lupustrial.randomise.minimisation import minimise, minimise_batch

__all__ = [
    "Arms",
    "RandomisationError",
    "allocation_list",
    "assign",
    "minimise",
    "minimise_batch",
    "parse_arms",
    "permuted_blocks_batch",
    "write_allocation_list",
]
