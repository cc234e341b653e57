"""Composite SLE endpoints: SRI-k, BICLA, LLDAS and DORIS 2021 remission.

Each endpoint compares an assessment with a reference visit (baseline, or the previous visit
for LLDAS's "no new features") and says why a patient is not a responder, so a responder
table can be audited line by line. An input the rule needs but the visit lacks makes the
result "not evaluable" (``responder is None``), never a silent non-response. Rules and their
sources: docs/indices.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lupustrial.indices.bilag import ACTIVE, DOMAINS, new_grades
from lupustrial.indices.sledai import BY_CODE, SledaiScore

# Floating-point slack for comparisons made exactly at a threshold (e.g. PGA 2.3 - 2.0).
EPS = 1e-9
# SLEDAI-2K systems whose activity LLDAS excludes outright (Franklyn 2016, criterion 1).
LLDAS_MAJOR_SYSTEMS = frozenset({"renal", "cns", "cardiopulmonary", "vasculitis", "constitutional"})
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
    """'Not evaluable' naming every input that is missing or incomplete, else None."""
    missing = []
    for name, value in inputs.items():
        if value is None:
            missing.append(name)
        elif isinstance(value, SledaiScore) and not value.complete:
            missing.append(f"{name} items {', '.join(value.missing)}")
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
    reduction: int = 4,
    pga_worsening: float = 0.3,
    max_new_b: int = 1,
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
    pga_worsening: float = 0.3,
    max_new_b: int = 1,
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


def lldas(
    previous: Assessment,
    visit: Assessment,
    *,
    max_sledai: int = 4,
    max_pga: float = 1.0,
    max_prednisone_mg: float = 7.5,
) -> Response:
    """Lupus Low Disease Activity State (Franklyn 2016), all five criteria.

    "No new features" compares SLEDAI-2K descriptors with the ``previous`` assessment;
    gastrointestinal activity is read from the BILAG-2004 gastrointestinal domain (A–C).
    """
    missing = _need(
        sledai=visit.sledai,
        previous_sledai=previous.sledai,
        bilag=visit.bilag,
        haemolysis=visit.haemolysis,
        pga=visit.pga,
        prednisone_mg=visit.prednisone_mg,
        maintenance_ok=visit.maintenance_ok,
    )
    if missing:
        return missing
    assert visit.sledai and previous.sledai and visit.bilag  # narrowed by _need
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
    if visit.pga > max_pga + EPS:
        reasons.append(f"PGA {visit.pga:g} > {max_pga:g}")
    if visit.prednisone_mg > max_prednisone_mg + EPS:
        reasons.append(f"prednisone {visit.prednisone_mg:g} mg/day > {max_prednisone_mg:g}")
    if not visit.maintenance_ok:
        reasons.append("immunosuppression not at standard maintenance doses")
    return _verdict(reasons)


def doris(visit: Assessment, *, max_pga: float = 0.5, max_prednisone_mg: float = 5.0) -> Response:
    """DORIS 2021 remission on treatment (van Vollenhoven 2021), irrespective of serology.

    Clinical SLEDAI (SLEDAI-2K without complement and DNA binding) 0, PGA < 0.5, prednisone
    at most 5 mg/day, and antimalarials, immunosuppressants and biologics stable.
    """
    missing = _need(
        sledai=visit.sledai, pga=visit.pga, prednisone_mg=visit.prednisone_mg, stable_ok=visit.stable_ok
    )
    if missing:
        return missing
    assert visit.sledai and visit.pga is not None and visit.prednisone_mg is not None  # narrowed by _need
    reasons = []
    clinical = [BY_CODE[c].label for c in visit.sledai.present if not BY_CODE[c].serological]
    if clinical:
        reasons.append(f"clinical SLEDAI > 0: {', '.join(clinical)}")
    if visit.pga >= max_pga - EPS:
        reasons.append(f"PGA {visit.pga:g} not < {max_pga:g}")
    if visit.prednisone_mg > max_prednisone_mg + EPS:
        reasons.append(f"prednisone {visit.prednisone_mg:g} mg/day > {max_prednisone_mg:g}")
    if not visit.stable_ok:
        reasons.append("antimalarial/immunosuppressant/biologic doses not stable")
    return _verdict(reasons)
