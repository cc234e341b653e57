"""SLE disease-activity indices and the flare and response endpoints derived from them.

SLEDAI-2K (:mod:`.sledai`), BILAG-2004 grades and flares (:mod:`.bilag`), the composite
endpoints SRI-k, BICLA, LLDAS and DORIS (:mod:`.endpoints`), and the derivation from an
ADQS-style visits table to ADTTE and responder tables (:mod:`.derive`). Sources for every
weight, threshold and rule: docs/indices.md.
"""

from lupustrial.indices.bilag import DOMAINS, Flare, FlareResult, bilag_flare, bilag_score
from lupustrial.indices.derive import Derived, derive, read_visits, write_derived
from lupustrial.indices.endpoints import Assessment, Response, bicla, doris, lldas, sri
from lupustrial.indices.sledai import (
    DESCRIPTORS,
    IncompleteAssessment,
    LabThresholds,
    SledaiScore,
    lab_descriptor,
    sledai2k,
)

__all__ = [
    "DESCRIPTORS",
    "DOMAINS",
    "Assessment",
    "Derived",
    "Flare",
    "FlareResult",
    "IncompleteAssessment",
    "LabThresholds",
    "Response",
    "SledaiScore",
    "bicla",
    "bilag_flare",
    "bilag_score",
    "derive",
    "doris",
    "lab_descriptor",
    "lldas",
    "read_visits",
    "sledai2k",
    "sri",
    "write_derived",
]
