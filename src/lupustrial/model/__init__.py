"""lupustrial.model: mechanistic PK/PD of rituximab, BAFF, belimumab and anti-dsDNA.

Public entry points: :class:`ModelParameters`, :class:`DosingEvents`,
:func:`beat_lupus_dosing`, :func:`simulate` / :func:`simulate_chunks` and
:class:`Trajectories`. Equations and parameter sources: ``docs/model.md``.
"""

from lupustrial.model.dosing import DosingEvents, beat_lupus_dosing
from lupustrial.model.parameters import ModelParameters, Param
from lupustrial.model.simulate import Trajectories, simulate, simulate_chunks

__all__ = ["DosingEvents", "ModelParameters", "Param", "Trajectories", "beat_lupus_dosing", "simulate", "simulate_chunks"]
