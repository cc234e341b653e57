"""lupustrial.model: mechanistic PK/PD of rituximab, BAFF, belimumab and anti-dsDNA.

Public entry points: the drug registry (:data:`REGISTRY`, :class:`Drug`),
:class:`ModelParameters`, :class:`DosingEvents` (made from a protocol by
:func:`lupustrial.protocol.protocol_dosing`), :func:`simulate` / :func:`simulate_chunks` and
:class:`Trajectories`. Equations, drugs and parameter sources: ``docs/model.md``.
"""

from lupustrial.model.dosing import DosingEvents
from lupustrial.model.drugs import REGISTRY, Drug
from lupustrial.model.param import Param
from lupustrial.model.parameters import ModelParameters
from lupustrial.model.simulate import Trajectories, simulate, simulate_chunks

__all__ = ["REGISTRY", "DosingEvents", "Drug", "ModelParameters", "Param", "Trajectories", "simulate", "simulate_chunks"]
