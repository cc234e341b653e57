"""SLE disease-activity indices and the flare and response endpoints derived from them.

SLEDAI-2K (:mod:`.sledai`), BILAG-2004 grades and flares (:mod:`.bilag`), the composite
endpoints SRI-k, BICLA, LLDAS, DORIS and major clinical response (:mod:`.endpoints`), visits
assembled from item rows (:mod:`.visits`), flares over follow-up (:mod:`.flares`), SDTM QS
codes (:mod:`.qs`), and the derivation from an ADQS-style visits table to ADTTE, recurrent
flare, flare count and responder tables (:mod:`.derive`). Sources for every weight, threshold
and rule: docs/indices.md.
"""

from lupustrial.indices.bilag import DOMAINS, Flare, FlareResult, bilag_flare, bilag_score, new_activity
from lupustrial.indices.derive import OUTPUT_FILES, Derived, derive, read_visits, write_derived
from lupustrial.indices.endpoints import (
    Assessment,
    Response,
    TimeInState,
    bicla,
    doris,
    lldas,
    mcr,
    sri,
    time_in_state,
)
from lupustrial.indices.qs import QS_CODES, translate_codes
from lupustrial.indices.sledai import (
    DESCRIPTORS,
    IncompleteAssessment,
    LabThresholds,
    SledaiScore,
    lab_descriptor,
    sledai2k,
)
from lupustrial.indices.visits import LabWindow

__all__ = [
    "DESCRIPTORS",
    "DOMAINS",
    "OUTPUT_FILES",
    "QS_CODES",
    "Assessment",
    "Derived",
    "Flare",
    "FlareResult",
    "IncompleteAssessment",
    "LabThresholds",
    "LabWindow",
    "Response",
    "SledaiScore",
    "TimeInState",
    "bicla",
    "bilag_flare",
    "bilag_score",
    "derive",
    "doris",
    "lab_descriptor",
    "lldas",
    "mcr",
    "new_activity",
    "read_visits",
    "sledai2k",
    "sri",
    "time_in_state",
    "translate_codes",
    "write_derived",
]
