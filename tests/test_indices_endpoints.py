"""SRI-k, BICLA, LLDAS, DORIS 2021 and MCR: each rule, its boundary, and missing inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.endpoints import Assessment, Response, bicla, doris, lldas, mcr, sri, time_in_state
from lupustrial.indices.sledai import BY_CODE, SEROLOGICAL, SledaiScore, sledai2k

INACTIVE = dict.fromkeys(DOMAINS, "D")


def score(*codes: str) -> SledaiScore:
    return sledai2k({c: c in codes for c in BY_CODE})


def visit(*codes: str, pga: float = 0.2, pred: float = 5.0, **changes: object) -> Assessment:
    """A well-controlled visit on treatment, with ``codes`` present."""
    fields = dict(
        sledai=score(*codes),
        bilag=INACTIVE,
        pga=pga,
        prednisone_mg=pred,
        maintenance_ok=True,
        stable_ok=True,
        treatment_failure=False,
        haemolysis=False,
    )
    return Assessment(**(fields | changes))  # type: ignore[arg-type]


# Baseline SLEDAI-2K 10: arthritis 4, rash 2, alopecia 2, low complement 2.
BASE = visit("ARTHRIT", "RASH", "ALOPEC", "LOWCOMP", pga=1.5, pred=10, bilag=INACTIVE | {"musculoskeletal": "B"})


class TestSRI:
    def test_reduction_boundary(self) -> None:
        assert sri(BASE, visit("RASH", "ALOPEC", "LOWCOMP", pga=1.5)).responder is True  # 10 -> 6: exactly 4
        res = sri(BASE, visit("ARTHRIT", "ALOPEC", "LOWCOMP", pga=1.5))  # 10 -> 8
        assert res.responder is False and res.reasons == ("SLEDAI-2K reduction 2 < 4",)

    @pytest.mark.parametrize("k", [4, 5, 6, 7, 8])
    def test_sri_k(self, k: int) -> None:
        assert sri(BASE, visit("LOWCOMP"), reduction=k).responder is True  # 10 -> 2: a drop of 8
        assert sri(BASE, visit("ALOPEC", "LOWCOMP"), reduction=k).responder is (k <= 6)  # drop of 6

    def test_pga_worsening_boundary(self) -> None:
        base = replace(BASE, pga=2.0)
        assert sri(base, visit(pga=2.29)).responder is True
        res = sri(base, visit(pga=2.3))  # +0.3 exactly (2.3 - 2.0 < 0.3 in floating point)
        assert res.responder is False and res.reasons[0].startswith("PGA worsened by 0.30")

    def test_new_bilag(self) -> None:
        assert sri(BASE, visit(bilag=INACTIVE | {"renal": "B"})).responder is True  # one new B allowed
        two_b = sri(BASE, visit(bilag=INACTIVE | {"renal": "B", "mucocutaneous": "B"}))
        assert two_b.reasons == ("2 new BILAG-2004 B: mucocutaneous, renal",)
        new_a = sri(BASE, visit(bilag=INACTIVE | {"renal": "A"}))
        assert new_a.reasons == ("new BILAG-2004 A: renal",)

    def test_treatment_failure(self) -> None:
        assert sri(BASE, visit(treatment_failure=True)).reasons == ("treatment failure",)

    def test_missing_input_is_not_evaluable(self) -> None:
        res = sri(BASE, visit(pga=None))  # type: ignore[arg-type]
        assert res.responder is None and res.avalc == "" and res.reasons == ("not evaluable: pga missing",)
        partial = sledai2k({"ARTHRIT": False}, partial=True)
        res = sri(BASE, visit(sledai=partial))
        assert res.responder is None and "sledai items" in res.reasons[0]


class TestBICLA:
    def test_responder(self) -> None:
        res = bicla(BASE, visit(bilag=INACTIVE | {"musculoskeletal": "C"}))
        assert res.responder is True and res.avalc == "Y"

    def test_every_active_domain_must_improve(self) -> None:
        base = replace(BASE, bilag=INACTIVE | {"renal": "A", "musculoskeletal": "B"})
        assert bicla(base, visit(bilag=INACTIVE | {"renal": "B", "musculoskeletal": "C"})).responder is True
        res = bicla(base, visit(bilag=INACTIVE | {"renal": "B", "musculoskeletal": "B"}))
        assert res.reasons == ("BILAG-2004 musculoskeletal not improved from B (now B)",)

    def test_sledai_must_not_worsen(self) -> None:
        base = replace(BASE, sledai=score("RASH"))
        assert bicla(base, visit("ALOPEC")).responder is True  # 2 -> 2
        assert bicla(base, visit("ARTHRIT")).reasons == ("SLEDAI-2K worsened from 2 to 4",)

    def test_no_worsening_components(self) -> None:
        res = bicla(BASE, visit(pga=1.8, treatment_failure=True, bilag=INACTIVE | {"renal": "A"}))
        assert res.reasons == ("new BILAG-2004 A: renal", "PGA worsened by 0.30 (limit 0.3)", "treatment failure")


class TestLLDAS:
    def test_responder_with_serology(self) -> None:
        prev = visit("LOWCOMP", "DNA")
        assert lldas(prev, visit("LOWCOMP", "DNA", pga=1.0, pred=7.5)).responder is True  # all at limits

    def test_sledai_above_four(self) -> None:
        prev = visit("ARTHRIT", "RASH")
        assert lldas(prev, visit("ARTHRIT", "RASH")).reasons == ("SLEDAI-2K 6 > 4",)

    @pytest.mark.parametrize("code", ["HEMATUR", "SEIZURE", "PLEUR", "VASCUL", "FEVER"])
    def test_major_organ_activity(self, code: str) -> None:
        res = lldas(visit(code), visit(code))
        assert any(r.startswith("major organ activity") for r in res.reasons)

    def test_haemolysis_and_gi(self) -> None:
        res = lldas(visit(), visit(haemolysis=True, bilag=INACTIVE | {"gastrointestinal": "C"}))
        assert res.reasons == ("haemolytic anaemia", "gastrointestinal activity (BILAG-2004 C)")

    def test_new_features_since_previous(self) -> None:
        assert lldas(visit(), visit("RASH")).reasons == ("new features since previous assessment: rash",)
        assert lldas(visit("RASH"), visit("RASH")).responder is True

    def test_pga_prednisone_and_maintenance(self) -> None:
        res = lldas(visit(), visit(pga=1.1, pred=7.6, maintenance_ok=False))
        assert res.reasons == (
            "PGA 1.1 > 1",
            "prednisone 7.6 mg/day not ≤ 7.5",
            "immunosuppression not at standard maintenance doses",
        )

    def test_missing(self) -> None:
        assert lldas(visit(), visit(haemolysis=None)).reasons == ("not evaluable: haemolysis missing",)


    def test_new_bilag_activity_oon_2019(self) -> None:
        # Oon 2019 (Ann Rheum Dis 78:629): criterion 2 is "no new lupus disease activity compared
        # with the previous assessment", in SLEDAI items and BILAG; a domain worsening to A or B fails.
        prev = visit(bilag=INACTIVE | {"constitutional": "E"})
        res = lldas(prev, visit(bilag=INACTIVE | {"constitutional": "B"}))
        assert res.reasons == ("new BILAG-2004 activity since previous assessment: constitutional",)
        to_a = lldas(visit(bilag=INACTIVE | {"musculoskeletal": "B"}), visit(bilag=INACTIVE | {"musculoskeletal": "A"}))
        assert to_a.responder is False
        # Persistent B, or B improving to C, is not new activity.
        assert lldas(visit(bilag=INACTIVE | {"mucocutaneous": "B"}), visit(bilag=INACTIVE | {"mucocutaneous": "B"})).responder
        assert lldas(visit(bilag=INACTIVE | {"mucocutaneous": "B"}), visit(bilag=INACTIVE | {"mucocutaneous": "C"})).responder

    def test_previous_bilag_needed(self) -> None:
        res = lldas(visit(bilag=INACTIVE | {"renal": None}), visit())  # type: ignore[operator]
        assert res.responder is None and res.reasons == ("not evaluable: previous_bilag domain(s) renal missing",)

    def test_thresholds_are_options(self) -> None:
        # Franklyn 2016 Table 1: SLEDAI-2K ≤ 4, PGA ≤ 1, prednisolone ≤ 7.5 mg/day (the defaults).
        cur = visit("RASH", "ALOPEC", "LOWCOMP", pga=1.0, pred=7.5)
        assert lldas(visit("RASH", "ALOPEC", "LOWCOMP"), cur).reasons == ("SLEDAI-2K 6 > 4",)
        assert lldas(visit("RASH", "ALOPEC", "LOWCOMP"), cur, max_sledai=6).responder is True
        assert lldas(visit(), visit(pga=1.0), max_pga=0.5).reasons == ("PGA 1 > 0.5",)
        assert lldas(visit(), visit(pred=7.5), max_prednisone_mg=5).reasons == ("prednisone 7.5 mg/day not ≤ 5",)


class TestDORIS:
    def test_remission_irrespective_of_serology(self) -> None:
        assert doris(visit("LOWCOMP", "DNA", pga=0.4, pred=5.0)).responder is True

    def test_boundaries(self) -> None:
        assert doris(visit(pga=0.5)).reasons == ("PGA 0.5 not < 0.5",)
        assert doris(visit(pred=5.5)).reasons == ("prednisone 5.5 mg/day not ≤ 5",)
        assert doris(visit(stable_ok=False)).responder is False

    def test_clinical_activity(self) -> None:
        assert doris(visit("ALOPEC")).reasons == ("clinical SLEDAI > 0: alopecia",)

    def test_missing(self) -> None:
        assert doris(visit(prednisone_mg=None)).responder is None

    def test_serology_not_needed(self) -> None:
        # van Vollenhoven 2021, Table 2: serology "is not recommended to include"; remission is
        # "cSLEDAI=0 ... irrespective of serology", so unrecorded anti-dsDNA/complement never
        # make DORIS not evaluable; a missing clinical descriptor does.
        no_serology = sledai2k({c: False for c in BY_CODE if c not in SEROLOGICAL}, partial=True)
        assert doris(visit(sledai=no_serology)).responder is True
        no_fever = sledai2k({c: False for c in BY_CODE if c != "FEVER"}, partial=True)
        assert doris(visit(sledai=no_fever)).reasons == ("not evaluable: sledai items FEVER missing",)

    def test_prednisone_limit_and_inclusion_are_options(self) -> None:
        # The 2021 abstract: "prednisolone 5 mg/day or less" (default); the final recommendation
        # in its Table 2: "prednisolone <5 mg/day" (prednisone_inclusive=False).
        assert doris(visit(pred=5.0)).responder is True
        strict = doris(visit(pred=5.0), prednisone_inclusive=False)
        assert strict.reasons == ("prednisone 5 mg/day not < 5",)
        assert doris(visit(pred=4.9), prednisone_inclusive=False).responder is True
        assert doris(visit(pred=7.5), max_prednisone_mg=7.5).responder is True
        # PGA < 0.5 (2021); earlier DORIS definitions used ≤ 0.5, i.e. a limit just above 0.5.
        assert doris(visit(pga=0.5), max_pga=0.51).responder is True


serology_st = st.fixed_dictionaries({}, optional={c: st.booleans() for c in SEROLOGICAL})


@given(serology_st, st.sampled_from([(), ("RASH",), ("FEVER", "ARTHRIT")]))
def test_serology_never_changes_doris(serology: dict[str, bool], present: tuple[str, ...]) -> None:
    clinical = {c: c in present for c in BY_CODE if c not in SEROLOGICAL}
    without = doris(visit(sledai=sledai2k(clinical, partial=True)))
    assert doris(visit(sledai=sledai2k(clinical | serology, partial=True))) == without


class TestMCR:
    # Shipa 2023 (Lancet Rheumatol 5:e24, as summarised in ../shared/reference/beat_lupus.md):
    # major clinical response = all BILAG-2004 domains ≤ C, prednisolone ≤ 7.5 mg/day and
    # SLEDAI-2K ≤ 2 not counting anti-dsDNA.
    def test_responder_at_limits(self) -> None:
        cur = visit("RASH", "DNA", pred=7.5, bilag=INACTIVE | {"mucocutaneous": "C"})  # 4, or 2 without DNA
        assert mcr(cur).responder is True

    def test_failures(self) -> None:
        res = mcr(visit("RASH", "LOWCOMP", pred=8, bilag=INACTIVE | {"renal": "B"}))
        assert res.reasons == (
            "BILAG-2004 A or B: renal B",
            "SLEDAI-2K without DNA 4 > 2",
            "prednisone 8 mg/day not ≤ 7.5",
        )

    def test_dna_not_needed(self) -> None:
        no_dna = sledai2k({c: False for c in BY_CODE if c != "DNA"}, partial=True)
        assert mcr(visit(sledai=no_dna)).responder is True
        assert mcr(visit(bilag=INACTIVE | {"renal": None})).responder is None  # type: ignore[operator]


def test_time_in_state() -> None:
    # Golder 2019 (Lancet Rheumatol 1:e95): LLDAS for ≥ 50% of observed time. Visits at days
    # 28 (in), 84 (out), 168 (in) after a day-0 baseline: time basis (28 + 84) / 168 = 2/3.
    yes, no, na = Response(True), Response(False, ("x",)), Response(None, ("not evaluable",))
    t = time_in_state([(28, yes), (56, no), (84, yes)])
    assert t.percent == pytest.approx(100 * 112 / 168) and t.ever and t.assessed == 3 and t.observed == 168
    assert time_in_state([(28, yes), (56, no), (84, yes)], basis="visits").percent == pytest.approx(200 / 3)
    assert time_in_state([(28, na), (56, no)]).percent == 0.0  # not evaluable counts nowhere
    assert time_in_state([(28, na)]).percent is None and time_in_state([(28, na)]).ever is None
    with pytest.raises(ValueError, match="basis"):
        time_in_state([], basis="days")
