"""Randomisation for a real trial or for simulated ones: stratified permuted blocks and minimisation.

Everything is reproducible from one seed (an int or :class:`numpy.random.SeedSequence`).
"""

from lupustrial.randomise.arms import Arms, RandomisationError, parse_arms
from lupustrial.randomise.blocks import allocation_list, assign, permuted_blocks_batch

__all__ = ["Arms", "RandomisationError", "allocation_list", "assign", "parse_arms", "permuted_blocks_batch"]
