"""Trial simulator: virtual trials run as a protocol says, written as ADaM data."""

from lupustrial.simulate.run import imap_chunks, iter_trials, map_chunks, run_trials, write_trials
from lupustrial.simulate.settings import AdverseEventTerm, SimulationSettings
from lupustrial.simulate.trial import LAB_OUTPUTS, check_protocol, simulate_chunk

__all__ = [
    "LAB_OUTPUTS",
    "AdverseEventTerm",
    "SimulationSettings",
    "check_protocol",
    "imap_chunks",
    "iter_trials",
    "map_chunks",
    "run_trials",
    "write_trials",
    "simulate_chunk",
]
