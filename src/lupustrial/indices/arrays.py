"""The responder rules of :mod:`lupustrial.indices.endpoints` on arrays of complete assessments.

A simulated trial records every item at every assessment, so its responders can be decided for
all patients at once; the per-visit functions of :mod:`.endpoints` decide the same from a real
trial's records, with not-evaluable reasons. Tests hold the two equal on simulated data. Grades
are indices 0–4 for A–E, (n, 9) in :data:`~lupustrial.indices.bilag.DOMAINS` order; SLEDAI-2K
totals and PGA are (n,); every function returns a boolean (n,).
"""

from __future__ import annotations

import numpy as np

from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.endpoints import (
    DORIS_MAX_PGA,
    DORIS_MAX_PREDNISONE_MG,
    EPS,
    LLDAS_MAJOR_SYSTEMS,
    LLDAS_MAX_PGA,
    LLDAS_MAX_PREDNISONE_MG,
    LLDAS_MAX_SLEDAI,
    MAX_NEW_B,
    MCR_MAX_PREDNISONE_MG,
    MCR_MAX_SLEDAI,
    PGA_WORSENING,
    SRI_REDUCTION,
)
from lupustrial.indices.sledai import DESCRIPTORS

A, B, C = 0, 1, 2


def no_worsening(base_grades: np.ndarray, grades: np.ndarray, base_pga: np.ndarray, pga: np.ndarray,
                 failure: np.ndarray, *, pga_worsening: float = PGA_WORSENING, max_new_b: int = MAX_NEW_B
                 ) -> np.ndarray:
    """SRI's and BICLA's shared components: no new A, at most ``max_new_b`` new B (from C–E), PGA
    risen by less than ``pga_worsening``, no treatment failure."""
    new_a = ((grades == A) & (base_grades != A)).any(axis=1)
    new_b = ((grades == B) & (base_grades >= C)).sum(axis=1)
    return ~new_a & (new_b <= max_new_b) & (pga - base_pga < pga_worsening - EPS) & ~failure


def sri(base_sledai: np.ndarray, sledai: np.ndarray, base_grades: np.ndarray, grades: np.ndarray,
        base_pga: np.ndarray, pga: np.ndarray, failure: np.ndarray, *, reduction: int = SRI_REDUCTION) -> np.ndarray:
    """SRI-k (Furie 2009): SLEDAI-2K down by at least ``reduction``, and no worsening."""
    return (base_sledai - sledai >= reduction) & no_worsening(base_grades, grades, base_pga, pga, failure)


def bicla(base_sledai: np.ndarray, sledai: np.ndarray, base_grades: np.ndarray, grades: np.ndarray,
          base_pga: np.ndarray, pga: np.ndarray, failure: np.ndarray) -> np.ndarray:
    """BICLA (Wallace 2014): every baseline A or B better by a grade, SLEDAI-2K not higher, no worsening."""
    improved = ~((base_grades <= B) & (grades <= base_grades)).any(axis=1)
    return improved & (sledai <= base_sledai) & no_worsening(base_grades, grades, base_pga, pga, failure)


def major_clinical_response(grades: np.ndarray, sledai_without: np.ndarray, prednisone_mg: np.ndarray, *,
                            max_sledai: float = MCR_MAX_SLEDAI,
                            max_prednisone_mg: float = MCR_MAX_PREDNISONE_MG) -> np.ndarray:
    """BEAT-LUPUS's major clinical response (Shipa 2023): every BILAG-2004 domain C or better,
    SLEDAI-2K without the items of ``endpoints.MCR_IGNORE`` (anti-dsDNA) at most 2, prednisolone at
    most 7.5 mg/day."""
    return (grades >= C).all(axis=1) & (sledai_without <= max_sledai) & (prednisone_mg <= max_prednisone_mg + EPS)


def lldas(sledai: np.ndarray, items: np.ndarray, previous_items: np.ndarray, grades: np.ndarray,
          previous_grades: np.ndarray, pga: np.ndarray, prednisone_mg: np.ndarray, *,
          max_sledai: float = LLDAS_MAX_SLEDAI, max_pga: float = LLDAS_MAX_PGA,
          max_prednisone_mg: float = LLDAS_MAX_PREDNISONE_MG) -> np.ndarray:
    """LLDAS (Franklyn 2016; criterion 2 as Oon 2019) against the previous assessment; ``items``
    (n, 24) are the SLEDAI-2K descriptors present in DESCRIPTORS order. Haemolysis absent and
    immunosuppression at maintenance doses, as the simulator records them."""
    major = np.array([d.system in LLDAS_MAJOR_SYSTEMS for d in DESCRIPTORS])
    gastro = grades[:, DOMAINS.index("gastrointestinal")] <= C
    new_items = (items & ~previous_items).any(axis=1)
    new_bilag = (((grades == A) & (previous_grades >= B)) | ((grades == B) & (previous_grades >= C))).any(axis=1)
    return ((sledai <= max_sledai) & ~(items & major).any(axis=1) & ~gastro & ~new_items & ~new_bilag
            & (pga <= max_pga + EPS) & (prednisone_mg <= max_prednisone_mg + EPS))


def doris(items: np.ndarray, pga: np.ndarray, prednisone_mg: np.ndarray, *, max_pga: float = DORIS_MAX_PGA,
          max_prednisone_mg: float = DORIS_MAX_PREDNISONE_MG) -> np.ndarray:
    """DORIS 2021 remission (van Vollenhoven 2021): clinical SLEDAI-2K 0 whatever the serology, PGA
    below ``max_pga``, prednisone at most ``max_prednisone_mg``; treatment stable, as simulated."""
    clinical = np.array([not d.serological for d in DESCRIPTORS])
    return ~(items & clinical).any(axis=1) & (pga < max_pga - EPS) & (prednisone_mg <= max_prednisone_mg + EPS)
