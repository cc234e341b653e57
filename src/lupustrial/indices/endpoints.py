"""Composite SLE endpoints: SRI-k, BICLA, LLDAS, DORIS 2021 remission and major clinical response.

Each endpoint compares an assessment with a reference visit (baseline, or the previous visit
for LLDAS's "no new features") and says why a patient is not a responder, so a responder
table can be audited line by line. An input the rule needs but the visit lacks makes the
result "not evaluable" (``responder is None``), never a silent non-response. Rules and their
sources: docs/indices.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lupustrial.indices.bilag import ACTIVE, DOMAINS, missing_domains, new_activity, new_grades
from lupustrial.indices.sledai import BY_CODE, SEROLOGICAL, SledaiScore

# Floating-point slack for comparisons made exactly at a threshold (e.g. PGA 2.3 - 2.0).
EPS = 1e-9
# SLEDAI-2K systems whose activity LLDAS excludes outright (Franklyn 2016, criterion 1).
LLDAS_MAJOR_SYSTEMS = frozenset({"renal", "cns", "cardiopulmonary", "vasculitis", "constitutional"})
# The published thresholds (docs/indices.md), the defaults of these rules and of their array forms
# (lupustrial.indices.arrays), declared once here.
SRI_REDUCTION = 4  # SRI-4 (Furie 2009)
PGA_WORSENING = 0.3  # SRI and BICLA: PGA not worse by this much
MAX_NEW_B = 1  # SRI and BICLA: at most one new BILAG-2004 B
LLDAS_MAX_SLEDAI, LLDAS_MAX_PGA, LLDAS_MAX_PREDNISONE_MG = 4, 1.0, 7.5  # Franklyn 2016
DORIS_MAX_PGA, DORIS_MAX_PREDNISONE_MG = 0.5, 5.0  # van Vollenhoven 2021
MCR_MAX_SLEDAI, MCR_MAX_PREDNISONE_MG = 2, 7.5  # Shipa 2023
MCR_IGNORE = frozenset({"DNA"})  # MCR's SLEDAI-2K leaves out anti-dsDNA
GRADE_ORDER = {g: i for i, g in enumerate("ABCDE")}


@dataclass(frozen=True)
class Assessment:
    """What one visit contributes to the composite endpoints; ``None`` means not recorded.

    ``sledai`` is the full SLEDAI-2K (serology included); ``bilag`` maps the nine domains to
    grades. Treatment fields: ``prednisone_mg`` is the current daily prednisone-equivalent
    dose; ``maintenance_ok`` says immunosuppressants and approved biologics are at standard,
    well-tolerated maintenance doses with no investigational drug other than the trial's
    (LLDAS); ``stable_ok`` says antimalarials, immunosuppressants and biologics are stable
    (DORIS); ``treatment_failure`` flags protocol-defined rescue or prohibited medication
    (SRI, BICLA). ``haemolysis`` records haemolytic anaemia, which SLEDAI-2K lacks (LLDAS).
    """

    sledai: SledaiScore | None = None
    bilag: Mapping[str, str] | None = None
    pga: float | None = None
    prednisone_mg: float | None = None
    maintenance_ok: bool | None = None
    stable_ok: bool | None = None
    treatment_failure: bool | None = None
    haemolysis: bool | None = None


@dataclass(frozen=True)
class Response:
    """Responder status with the reasons for non-response (or for being not evaluable)."""

    responder: bool | None
    reasons: tuple[str, ...] = ()

    @property
    def avalc(self) -> str:
        """ADaM AVALC: 'Y', 'N', or '' when not evaluable."""
        return "" if self.responder is None else ("Y" if self.responder else "N")


def _need(**inputs: object) -> Response | None:
    """'Not evaluable' naming every input that is missing or incomplete, else None.

    A partly graded BILAG-2004 (a mapping) names its ungraded domains.
    """
    missing = []
    for name, value in inputs.items():
        if value is None:
            missing.append(name)
        elif isinstance(value, SledaiScore) and not value.complete:
            missing.append(f"{name} items {', '.join(value.missing)}")
        elif isinstance(value, Mapping) and missing_domains(value):
            missing.append(f"{name} domain(s) {', '.join(missing_domains(value))}")
    return Response(None, tuple(f"not evaluable: {m} missing" for m in missing)) if missing else None


def _verdict(reasons: list[str]) -> Response:
    return Response(not reasons, tuple(reasons))


def _need_pair(baseline: Assessment, visit: Assessment) -> Response | None:
    """SRI and BICLA need SLEDAI, BILAG and PGA at both visits and the treatment-failure flag."""
    return _need(
        baseline_sledai=baseline.sledai,
        sledai=visit.sledai,
        baseline_bilag=baseline.bilag,
        bilag=visit.bilag,
        baseline_pga=baseline.pga,
        pga=visit.pga,
        treatment_failure=visit.treatment_failure,
    )


def _no_worsening(baseline: Assessment, visit: Assessment, pga_worsening: float, max_new_b: int) -> list[str]:
    """The "no worsening" components SRI and BICLA share: BILAG, PGA, treatment failure."""
    assert baseline.bilag and visit.bilag and baseline.pga is not None and visit.pga is not None
    new_a, new_b = new_grades(baseline.bilag, visit.bilag)
    reasons = []
    if new_a:
        reasons.append(f"new BILAG-2004 A: {', '.join(new_a)}")
    if len(new_b) > max_new_b:
        reasons.append(f"{len(new_b)} new BILAG-2004 B: {', '.join(new_b)}")
    increase = visit.pga - baseline.pga
    if increase >= pga_worsening - EPS:
        reasons.append(f"PGA worsened by {increase:.2f} (limit {pga_worsening:g})")
    if visit.treatment_failure:
        reasons.append("treatment failure")
    return reasons


def sri(
    baseline: Assessment,
    visit: Assessment,
    *,
    reduction: int = SRI_REDUCTION,
    pga_worsening: float = PGA_WORSENING,
    max_new_b: int = MAX_NEW_B,
) -> Response:
    """SLE Responder Index SRI-k (Furie 2009): k = ``reduction`` (4 to 8 in use).

    Responder when SLEDAI falls by at least k, there is no new BILAG A and at most one new B,
    PGA has not risen by ``pga_worsening`` or more, and there is no treatment failure.
    """
    missing = _need_pair(baseline, visit)
    if missing:
        return missing
    assert baseline.sledai and visit.sledai  # narrowed by _need_pair
    reasons = []
    drop = baseline.sledai.total - visit.sledai.total
    if drop < reduction:
        reasons.append(f"SLEDAI-2K reduction {drop} < {reduction}")
    return _verdict(reasons + _no_worsening(baseline, visit, pga_worsening, max_new_b))


def bicla(
    baseline: Assessment,
    visit: Assessment,
    *,
    pga_worsening: float = PGA_WORSENING,
    max_new_b: int = MAX_NEW_B,
) -> Response:
    """BILAG-based Composite Lupus Assessment (Wallace 2014).

    Responder when every domain graded A or B at baseline has improved by at least one grade,
    there is no new A and at most one new B, SLEDAI-2K has not risen, PGA has not worsened and
    there is no treatment failure.
    """
    missing = _need_pair(baseline, visit)
    if missing:
        return missing
    assert baseline.sledai and visit.sledai and baseline.bilag and visit.bilag  # narrowed by _need_pair
    reasons = [
        f"BILAG-2004 {d} not improved from {baseline.bilag[d]} (now {visit.bilag[d]})"
        for d in DOMAINS
        if baseline.bilag[d] in "AB" and GRADE_ORDER[visit.bilag[d]] <= GRADE_ORDER[baseline.bilag[d]]
    ]
    if visit.sledai.total > baseline.sledai.total:
        reasons.append(f"SLEDAI-2K worsened from {baseline.sledai.total} to {visit.sledai.total}")
    return _verdict(reasons + _no_worsening(baseline, visit, pga_worsening, max_new_b))


def _prednisone_reason(dose: float, limit: float, inclusive: bool) -> list[str]:
    """The glucocorticoid criterion: dose ≤ limit (``inclusive``) or < limit."""
    within = dose <= limit + EPS if inclusive else dose < limit - EPS
    return [] if within else [f"prednisone {dose:g} mg/day not {'≤' if inclusive else '<'} {limit:g}"]


def lldas(
    previous: Assessment,
    visit: Assessment,
    *,
    max_sledai: int = LLDAS_MAX_SLEDAI,
    max_pga: float = LLDAS_MAX_PGA,
    max_prednisone_mg: float = LLDAS_MAX_PREDNISONE_MG,
) -> Response:
    """Lupus Low Disease Activity State (Franklyn 2016, criterion 2 as Oon 2019).

    "No new lupus disease activity compared with the previous assessment" (Oon 2019) is no
    SLEDAI-2K descriptor new since ``previous`` and no BILAG-2004 domain newly A or B;
    gastrointestinal activity is read from the BILAG-2004 gastrointestinal domain (A–C).
    """
    missing = _need(
        sledai=visit.sledai,
        previous_sledai=previous.sledai,
        bilag=visit.bilag,
        previous_bilag=previous.bilag,
        haemolysis=visit.haemolysis,
        pga=visit.pga,
        prednisone_mg=visit.prednisone_mg,
        maintenance_ok=visit.maintenance_ok,
    )
    if missing:
        return missing
    assert visit.sledai and previous.sledai and visit.bilag and previous.bilag  # narrowed by _need
    assert visit.pga is not None and visit.prednisone_mg is not None
    reasons = []
    if visit.sledai.total > max_sledai:
        reasons.append(f"SLEDAI-2K {visit.sledai.total} > {max_sledai}")
    major = [BY_CODE[c].label for c in visit.sledai.present if BY_CODE[c].system in LLDAS_MAJOR_SYSTEMS]
    if major:
        reasons.append(f"major organ activity: {', '.join(major)}")
    if visit.haemolysis:
        reasons.append("haemolytic anaemia")
    if visit.bilag["gastrointestinal"] in ACTIVE:
        reasons.append(f"gastrointestinal activity (BILAG-2004 {visit.bilag['gastrointestinal']})")
    new = [BY_CODE[c].label for c in visit.sledai.present if c not in previous.sledai.present]
    if new:
        reasons.append(f"new features since previous assessment: {', '.join(new)}")
    worse = new_activity(previous.bilag, visit.bilag)
    if worse:
        reasons.append(f"new BILAG-2004 activity since previous assessment: {', '.join(worse)}")
    if visit.pga > max_pga + EPS:
        reasons.append(f"PGA {visit.pga:g} > {max_pga:g}")
    reasons += _prednisone_reason(visit.prednisone_mg, max_prednisone_mg, inclusive=True)
    if not visit.maintenance_ok:
        reasons.append("immunosuppression not at standard maintenance doses")
    return _verdict(reasons)


def doris(
    visit: Assessment,
    *,
    max_pga: float = DORIS_MAX_PGA,
    max_prednisone_mg: float = DORIS_MAX_PREDNISONE_MG,
    prednisone_inclusive: bool = True,
) -> Response:
    """DORIS 2021 remission on treatment (van Vollenhoven 2021), irrespective of serology.

    Clinical SLEDAI (SLEDAI-2K without complement and DNA binding) 0, PGA < ``max_pga``,
    prednisone ≤ ``max_prednisone_mg`` (< when not ``prednisone_inclusive``: the paper says
    both), antimalarials, immunosuppressants and biologics stable. Serology is not needed, so
    its absence never makes DORIS "not evaluable".
    """
    clinical = visit.sledai.excluding(SEROLOGICAL) if visit.sledai is not None else None
    missing = _need(sledai=clinical, pga=visit.pga, prednisone_mg=visit.prednisone_mg, stable_ok=visit.stable_ok)
    if missing:
        return missing
    assert clinical and visit.pga is not None and visit.prednisone_mg is not None  # narrowed by _need
    reasons = []
    if clinical.present:
        reasons.append(f"clinical SLEDAI > 0: {', '.join(BY_CODE[c].label for c in clinical.present)}")
    if visit.pga >= max_pga - EPS:
        reasons.append(f"PGA {visit.pga:g} not < {max_pga:g}")
    reasons += _prednisone_reason(visit.prednisone_mg, max_prednisone_mg, prednisone_inclusive)
    if not visit.stable_ok:
        reasons.append("antimalarial/immunosuppressant/biologic doses not stable")
    return _verdict(reasons)


def mcr(
    visit: Assessment,
    *,
    max_sledai: int = MCR_MAX_SLEDAI,
    max_prednisone_mg: float = MCR_MAX_PREDNISONE_MG,
    ignore: frozenset[str] = MCR_IGNORE,
) -> Response:
    """BEAT-LUPUS major clinical response (Shipa 2023): every BILAG-2004 domain C or better,
    prednisolone ≤ 7.5 mg/day and SLEDAI-2K ≤ 2 not counting anti-dsDNA (``ignore``).
    """
    sledai = visit.sledai.excluding(ignore) if visit.sledai is not None else None
    missing = _need(sledai=sledai, bilag=visit.bilag, prednisone_mg=visit.prednisone_mg)
    if missing:
        return missing
    assert sledai and visit.bilag and visit.prednisone_mg is not None  # narrowed by _need
    reasons = []
    active = [f"{d} {visit.bilag[d]}" for d in DOMAINS if visit.bilag[d] in "AB"]
    if active:
        reasons.append(f"BILAG-2004 A or B: {', '.join(active)}")
    if sledai.total > max_sledai:
        reasons.append(f"SLEDAI-2K without {'/'.join(sorted(ignore))} {sledai.total} > {max_sledai}")
    reasons += _prednisone_reason(visit.prednisone_mg, max_prednisone_mg, inclusive=True)
    return _verdict(reasons)


@dataclass(frozen=True)
class TimeInState:
    """Share of a subject's observed time (or assessed visits) in a state, e.g. LLDAS."""

    percent: float | None
    ever: bool | None
    assessed: int
    observed: float


def time_in_state(states: Sequence[tuple[float, Response]], *, basis: str = "time") -> TimeInState:
    """Percent of follow-up in the state from ``(weight, response)`` per assessed visit.

    ``basis="time"`` weighs each visit by the days since the assessment before it (the state
    at a visit stands for the interval it closes: Golder 2019's "observed time");
    ``basis="visits"`` weighs every visit 1. Visits not evaluable count in neither numerator
    nor denominator; with none evaluable the percent is None.
    """
    if basis not in ("time", "visits"):
        raise ValueError(f"basis must be 'time' or 'visits', got {basis!r}")
    rated = [(w if basis == "time" else 1.0, r.responder) for w, r in states if r.responder is not None]
    observed = sum(w for w, _ in rated)
    in_state = sum(w for w, yes in rated if yes)
    return TimeInState(
        percent=100.0 * in_state / observed if observed > 0 else None,
        ever=any(yes for _, yes in rated) if rated else None,
        assessed=len(rated),
        observed=observed,
    )
