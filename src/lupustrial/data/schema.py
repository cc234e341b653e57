"""The ADaM datasets lupustrial reads, declared once: used to validate and to document.

Names follow CDISC ADaM (ADSL, ADLB, ADTTE, ADAE). Extra columns are kept, never rejected, so
a sponsor's full datasets load as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["str", "float", "int", "date", "flag"]


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it must be present and filled, and its allowed values."""

    name: str
    kind: Kind
    label: str
    required: bool = True
    nullable: bool = False
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None


FLAG = ("Y", "N")

DATASETS: dict[str, tuple[Column, ...]] = {
    "adsl": (
        Column("USUBJID", "str", "unique subject identifier"),
        Column("TRIALID", "int", "replicate trial number (simulated data; `analyze --trial`)", required=False),
        Column("STUDYID", "str", "study identifier", required=False),
        Column("TRT01P", "str", "planned (randomised) arm"),
        Column("TRT01A", "str", "actual arm; blank if never treated", nullable=True),
        Column("RANDDT", "date", "date of randomisation", required=False, nullable=True),
        Column("TRTSDT", "date", "date of first dose of study drug", nullable=True),
        Column("TRTEDT", "date", "date of last dose of study drug", nullable=True),
        Column("TRTDURD", "float", "treatment duration, days (TRTEDT − TRTSDT + 1 if absent)",
               required=False, nullable=True, minimum=0),
        Column("AGE", "float", "age, years", minimum=0),
        Column("SEX", "str", "sex", allowed=("M", "F", "U")),
        Column("ITTFL", "flag", "intention-to-treat population (all if absent)", required=False),
        Column("SAFFL", "flag", "safety population (all if absent)", required=False),
    ),
    "adlb": (
        Column("USUBJID", "str", "unique subject identifier"),
        Column("PARAMCD", "str", "parameter: DSDNA (IU/mL), C3, C4 (g/L), CD19 (10^9/L), BAFF (ng/mL)"),
        Column("PARAM", "str", "parameter label", required=False, nullable=True),
        Column("AVAL", "float", "analysis value (positive for log-analysed parameters)", nullable=True),
        Column("AVALU", "str", "unit of AVAL", required=False, nullable=True),
        Column("ADY", "float", "study day relative to TRTSDT", required=False, nullable=True),
        Column("AVISIT", "str", "visit label", required=False, nullable=True),
        Column("AVISITN", "float", "visit number: weeks from randomisation (0 = baseline); blank for an "
               "unscheduled record, which no visit analysis uses", nullable=True),
        Column("BASE", "float", "baseline value (from AVISITN 0 if absent)", required=False, nullable=True),
        Column("ABLFL", "flag", "baseline record flag", required=False, nullable=True),
    ),
    "adtte": (
        Column("USUBJID", "str", "unique subject identifier"),
        Column("PARAMCD", "str", "parameter: TTSEVFL (first severe flare), TTMODFL"),
        Column("PARAM", "str", "parameter label", required=False, nullable=True),
        Column("AVAL", "float", "time to event or censoring, days", minimum=0),
        Column("CNSR", "int", "0 = event, 1 = censored (ADaM)", allowed=("0", "1")),
        Column("STARTDT", "date", "time origin", required=False, nullable=True),
        Column("ADT", "date", "date of event or censoring", required=False, nullable=True),
        Column("EVNTDESC", "str", "event description", required=False, nullable=True),
        Column("CNSDTDSC", "str", "censoring description", required=False, nullable=True),
    ),
    "adae": (
        Column("USUBJID", "str", "unique subject identifier"),
        Column("AEDECOD", "str", "MedDRA preferred term"),
        Column("AEBODSYS", "str", "MedDRA system organ class"),
        Column("AESER", "flag", "serious"),
        Column("AESEV", "str", "severity", nullable=True, allowed=("MILD", "MODERATE", "SEVERE")),
        Column("ASTDY", "float", "study day of onset", required=False, nullable=True),
        Column("ASTDT", "date", "start date", required=False, nullable=True),
        Column("AENDT", "date", "end date", required=False, nullable=True),
        Column("AEREL", "str", "relationship to study drug", required=False, nullable=True),
        Column("TRTEMFL", "flag", "treatment-emergent (counted only when the plan's `safety.treatment_emergent` "
               "names this column)", required=False, nullable=True),
    ),
    # Any other BDS dataset a plan reads: responders (ADRS-like, AVALC Y/N) or event counts.
    "bds": (
        Column("USUBJID", "str", "unique subject identifier"),
        Column("PARAMCD", "str", "parameter code, e.g. SRI4, BICLA, FLARECNT"),
        Column("PARAM", "str", "parameter label", required=False, nullable=True),
        Column("AVAL", "float", "analysis value (a count, or 1/0 for a responder)", required=False, nullable=True),
        Column("AVALC", "str", "analysis value as text (Y/N for a responder)", required=False, nullable=True),
        Column("AVISITN", "float", "visit number, weeks from randomisation", required=False, nullable=True),
        Column("ADY", "float", "study day", required=False, nullable=True),
    ),
}

#: Pairs of date columns that must be in order (earlier, later) within a record.
DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "adsl": (("RANDDT", "TRTSDT"), ("TRTSDT", "TRTEDT")),
    "adtte": (("STARTDT", "ADT"),),
    "adae": (("ASTDT", "AENDT"),),
}

#: Columns whose combination identifies a record.
KEYS: dict[str, tuple[str, ...]] = {
    "adsl": ("USUBJID",),
    "adlb": ("USUBJID", "PARAMCD", "AVISITN"),
    "adtte": ("USUBJID", "PARAMCD"),
}


def schema_markdown() -> str:
    """The schemas as Markdown tables, for the README and docs."""
    out = []
    for name, columns in DATASETS.items():
        out.append(f"**{name.upper()}**\n\n| column | type | required | meaning |\n|---|---|---|---|")
        for c in columns:
            need = "yes" if c.required and not c.nullable else ("column" if c.required else "no")
            allowed = f" ({'/'.join(c.allowed)})" if c.allowed else ""
            out.append(f"| {c.name} | {c.kind}{allowed} | {need} | {c.label} |")
        out.append("")
    return "\n".join(out)
