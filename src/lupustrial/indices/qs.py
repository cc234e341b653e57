"""SDTM QS test codes (QSTESTCD) translated to the derivation's PARAMCD vocabulary.

Trials hand over SLEDAI-2K and BILAG-2004 items as SDTM QS records keyed by QSTESTCD, not by
this module's PARAMCD. The default table covers only codes whose form we could document; none
could be confirmed against the CDISC terminology files (see docs/indices.md, "QS codes"), so a
trial passes its own define.xml mapping as ``codes``. A code in neither vocabulary stays an
"unknown PARAMCD" error: nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lupustrial.indices.sledai import DESCRIPTORS

# SLEDAI01..SLEDAI24 in Gladman 2002's descriptor order: the project's assumption (unconfirmed).
SLEDAI_QS_CODES: dict[str, str] = {f"SLEDAI{i:02d}": d.code for i, d in enumerate(DESCRIPTORS, start=1)}
QS_CODES: dict[str, str] = dict(SLEDAI_QS_CODES)


def translate_codes(visits: pd.DataFrame, codes: Mapping[str, str] = QS_CODES) -> pd.DataFrame:
    """PARAMCD from QSTESTCD (when there is no PARAMCD column), QS codes mapped through ``codes``.

    Codes already in the PARAMCD vocabulary pass through, so QS and ADQS rows can be mixed.
    """
    if "PARAMCD" not in visits.columns and "QSTESTCD" in visits.columns:
        visits = visits.rename(columns={"QSTESTCD": "PARAMCD"})
    if "PARAMCD" not in visits.columns or not codes:
        return visits
    stripped = visits["PARAMCD"].astype("string").str.strip()
    mapped = stripped.map(dict(codes))
    if not mapped.notna().any():
        return visits
    out = visits.copy()
    out["PARAMCD"] = mapped.where(mapped.notna(), visits["PARAMCD"])
    return out
