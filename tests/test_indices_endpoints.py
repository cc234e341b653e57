"""SRI-k, BICLA, LLDAS and DORIS 2021: each rule, its boundary, and missing inputs."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.endpoints import Assessment, bicla, doris, lldas, sri
from lupustrial.indices.sledai import BY_CODE, SledaiScore, sledai2k

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
