"""Write the synthetic three-arm ADaM example in SAS transport (XPT) files.

    python scripts/make_three_arm_xpt.py src/lupustrial/data/examples/three_arm_xpt

It mimics the layout of the public CDISC pilot study's ADaM package, which is not on this
machine: ``adsl.xpt`` without RANDDT, arms "Placebo", "Drug Low Dose", "Drug High Dose"
(86/84/84 subjects), ITTFL and SAFFL with a few N; labs split into ``adlbc.xpt`` (chemistry:
ALT, AST) and ``adlbh.xpt`` (haematology: HGB), with unscheduled records whose AVISITN is
blank; ``adtte.xpt`` with TTDE (time to first dermatologic event, follow-up to about day 200);
``adae.xpt`` with body systems and terms in capitals, TRTEMFL with some N, and adverse events
of subjects outside the safety population. For the efficacy plan (responders, counts, repeated
visits): ``adqs.xpt`` with a SLEDAI-2K-like score at weeks 0, 4, 8, 12 and 24 (visits after
the end of treatment missing), ``adrs.xpt`` with SRI-4-like responders (AVALC Y/N, blank when
the visit's score is missing) at weeks 12 and 24, and a flare count FLARECNT in ADSL over
TRTDURD. Those are drawn after the rest, so the first five files do not change with them.
Every number is drawn with numpy from one seed: none is a clinical claim.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat

SEED = 20240601
ARMS = {"Placebo": 86, "Drug Low Dose": 84, "Drug High Dose": 84}
VISITS = (0, 2, 4, 8, 12, 16, 20, 24)
SAS_EPOCH = pd.Timestamp("1960-01-01")
AE_TERMS = (  # (body system, preferred term, weight); an arm's rate multiplies the weight
    ("INFECTIONS AND INFESTATIONS", "NASOPHARYNGITIS", 0.12),
    ("INFECTIONS AND INFESTATIONS", "UPPER RESPIRATORY TRACT INFECTION", 0.08),
    ("SKIN AND SUBCUTANEOUS TISSUE DISORDERS", "PRURITUS", 0.25),
    ("SKIN AND SUBCUTANEOUS TISSUE DISORDERS", "ERYTHEMA", 0.15),
    ("GENERAL DISORDERS AND ADMINISTRATION SITE CONDITIONS", "APPLICATION SITE PRURITUS", 0.2),
    ("NERVOUS SYSTEM DISORDERS", "DIZZINESS", 0.1),
    ("GASTROINTESTINAL DISORDERS", "DIARRHOEA", 0.1),
)
AE_RATE = {"Placebo": 1.2, "Drug Low Dose": 2.4, "Drug High Dose": 2.8}  # events per subject over follow-up
HAZARD = {"Placebo": 0.0025, "Drug Low Dose": 0.006, "Drug High Dose": 0.008}  # per day
ALT_EFFECT = {"Placebo": 0.0, "Drug Low Dose": 0.08, "Drug High Dose": 0.15}  # log-scale shift at week 24
SCORE_VISITS = (0, 4, 8, 12, 24)
SCORE_EFFECT = {"Placebo": -1.0, "Drug Low Dose": -2.0, "Drug High Dose": -3.0}  # mean change by week 24
RESPONSE_VISITS = (12, 24)
SRI_DROP = 4  # an SRI-4-like responder: the score fell by at least 4 from baseline
FLARE_RATE = {"Placebo": 1.2, "Drug Low Dose": 0.9, "Drug High Dose": 0.7}  # per patient-year
FLARE_SHAPE = 1.5  # negative binomial theta: flares vary between patients more than Poisson


def _sas_days(dates: pd.Series) -> np.ndarray:
    return (dates - SAS_EPOCH).dt.days.to_numpy(dtype=float)


def make_adsl(rng: np.random.Generator) -> pd.DataFrame:
    arm = np.repeat(list(ARMS), list(ARMS.values()))
    n = arm.size
    start = pd.Timestamp("2013-07-01") + pd.to_timedelta(rng.integers(0, 500, n), unit="D")
    duration = np.where(rng.random(n) < 0.2, rng.integers(20, 180, n), rng.integers(180, 200, n))
    adsl = pd.DataFrame({
        "STUDYID": "SYN-3ARM", "USUBJID": [f"SYN-{701 + i:04d}" for i in range(n)], "SITEID": rng.choice(
            ["701", "702", "703"], n), "TRT01P": arm, "TRT01A": arm,
        "TRTSDT": _sas_days(pd.Series(start)), "TRTEDT": _sas_days(pd.Series(start + pd.to_timedelta(duration - 1,
                                                                                                     unit="D"))),
        "TRTDURD": duration.astype(float), "AGE": rng.integers(51, 89, n).astype(float),
        "SEX": rng.choice(["F", "M"], n, p=[0.56, 0.44]), "ITTFL": "Y", "SAFFL": "Y"})
    adsl.loc[[5, 90, 200], "ITTFL"] = "N"  # randomised in error: outside the efficacy population
    adsl.loc[[15, 180], "SAFFL"] = "N"  # never dosed: outside the safety population
    return adsl


def _lab_rows(adsl: pd.DataFrame, rng: np.random.Generator, param: str, label: str, unit: str, centre: float,
              sd: float, effect: dict[str, float], visits: tuple[int, ...]) -> pd.DataFrame:
    rows = []
    for sid, arm, days in zip(adsl["USUBJID"], adsl["TRT01A"], adsl["TRTDURD"], strict=True):
        subject = rng.normal(np.log(centre), sd)
        base = float(np.exp(subject + rng.normal(0, 0.15)))
        seen = [v for v in visits if v * 7 <= days]
        for v in seen:
            shift = effect[arm] * min(v, 24) / 24
            value = base if v == 0 else float(np.exp(subject + shift + rng.normal(0, 0.2)))
            rows.append((sid, param, label, round(value, 1), unit, f"Week {v}" if v else "Baseline", float(v),
                         round(base, 1), "Y" if v == 0 else ""))
        if rng.random() < 0.2:  # an unscheduled sample: no analysis visit
            rows.append((sid, param, label, round(float(np.exp(subject + rng.normal(0, 0.3))), 1), unit,
                         "Unscheduled", np.nan, round(base, 1), ""))
    return pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "PARAM", "AVAL", "AVALU", "AVISIT", "AVISITN", "BASE",
                                       "ABLFL"])


def make_adtte(adsl: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    hazard = adsl["TRT01P"].map(HAZARD).to_numpy()
    event_day = np.ceil(rng.exponential(1 / hazard))
    follow = adsl["TRTDURD"].to_numpy() + rng.integers(0, 5, len(adsl))
    time = np.minimum(event_day, follow)
    return pd.DataFrame({
        "USUBJID": adsl["USUBJID"], "PARAMCD": "TTDE", "PARAM": "Time to First Dermatologic Event",
        "AVAL": time, "CNSR": (event_day > follow).astype(float), "STARTDT": adsl["TRTSDT"],
        "ADT": adsl["TRTSDT"] + time - 1,
        "EVNTDESC": np.where(event_day > follow, "", "Dematologic Event Occured"),
        "CNSDTDSC": np.where(event_day > follow, "Study Completion Date", "")})


def make_adae(adsl: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    weights = np.array([w for *_, w in AE_TERMS])
    rows = []
    for sid, arm, days in zip(adsl["USUBJID"], adsl["TRT01A"], adsl["TRTDURD"], strict=True):
        for _ in range(rng.poisson(AE_RATE[arm])):
            soc, term, _ = AE_TERMS[rng.choice(len(AE_TERMS), p=weights / weights.sum())]
            day = float(rng.integers(-10, int(days)))  # onset before the first dose: not emergent
            rows.append((sid, term, soc, rng.choice(["N", "Y"], p=[0.92, 0.08]),
                         rng.choice(["MILD", "MODERATE", "SEVERE"], p=[0.6, 0.3, 0.1]), day,
                         "Y" if day >= 1 else "N"))
    outside = adsl.loc[adsl["SAFFL"] == "N", "USUBJID"].iloc[0]
    rows.append((outside, "PRURITUS", "SKIN AND SUBCUTANEOUS TISSUE DISORDERS", "N", "MILD", 3.0, "Y"))
    return pd.DataFrame(rows, columns=["USUBJID", "AEDECOD", "AEBODSYS", "AESER", "AESEV", "ASTDY", "TRTEMFL"])


def make_adqs(adsl: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A SLEDAI-2K-like whole-number score: a subject level, a drift by arm, AR(1) visit noise."""
    rows = []
    for sid, arm, days in zip(adsl["USUBJID"], adsl["TRT01P"], adsl["TRTDURD"], strict=True):
        level, noise = rng.normal(10, 3), 0.0
        values = []
        for v in SCORE_VISITS:
            noise = 0.6 * noise + 0.8 * rng.normal(0, 2.5)
            values.append(max(0.0, float(np.round(level + SCORE_EFFECT[arm] * v / 24 + noise))))
        for v, value in zip(SCORE_VISITS, values, strict=True):
            if v * 7 <= days:
                rows.append((sid, value, f"Week {v}" if v else "Baseline", float(v), values[0], "Y" if v == 0 else ""))
        if rng.random() < 0.1:  # an unscheduled assessment: no analysis visit
            rows.append((sid, values[0], "Unscheduled", np.nan, values[0], ""))
    out = pd.DataFrame(rows, columns=["USUBJID", "AVAL", "AVISIT", "AVISITN", "BASE", "ABLFL"])
    return out.assign(PARAMCD="SLEDAI", PARAM="SLEDAI-2K total score")


def make_adrs(adqs: pd.DataFrame) -> pd.DataFrame:
    """SRI-4-like response at the response visits; blank (not evaluable) where the score is missing."""
    scores = adqs[adqs["AVISITN"].isin(RESPONSE_VISITS)].set_index(["USUBJID", "AVISITN"])
    rows = []
    for sid in adqs["USUBJID"].unique():
        for v in RESPONSE_VISITS:
            key = (sid, float(v))
            answer = "" if key not in scores.index else (
                "Y" if scores.loc[key, "BASE"] - scores.loc[key, "AVAL"] >= SRI_DROP else "N")
            rows.append((sid, "SRI4", "SLE Responder Index SRI-4", answer, f"Week {v}", float(v)))
    return pd.DataFrame(rows, columns=["USUBJID", "PARAMCD", "PARAM", "AVALC", "AVISIT", "AVISITN"])


def flare_counts(adsl: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Negative binomial flare counts over TRTDURD: gamma-distributed subject rates, women higher."""
    years = adsl["TRTDURD"].to_numpy() / 365.25
    mean = adsl["TRT01P"].map(FLARE_RATE).to_numpy() * years * np.where(adsl["SEX"] == "F", 1.3, 1.0)
    return rng.poisson(rng.gamma(FLARE_SHAPE, mean / FLARE_SHAPE)).astype(float)


def make_trial() -> dict[str, pd.DataFrame]:
    """The seven datasets, drawn in a fixed order from one seed (the efficacy data last)."""
    rng = np.random.default_rng(SEED)
    adsl = make_adsl(rng)
    alt = _lab_rows(adsl, rng, "ALT", "Alanine Aminotransferase (U/L)", "U/L", 20, 0.35, ALT_EFFECT, VISITS)
    ast = _lab_rows(adsl, rng, "AST", "Aspartate Aminotransferase (U/L)", "U/L", 24, 0.3, ALT_EFFECT, VISITS)
    hgb = _lab_rows(adsl, rng, "HGB", "Hemoglobin (mmol/L)", "mmol/L", 8.5, 0.08, dict.fromkeys(ARMS, 0.0),
                    (0, 12, 24))
    trial = {"adlbc": pd.concat([alt, ast], ignore_index=True), "adlbh": hgb, "adtte": make_adtte(adsl, rng),
             "adae": make_adae(adsl, rng)}
    adqs = make_adqs(adsl, rng)
    adsl["FLARECNT"] = flare_counts(adsl, rng)
    return {"adsl": adsl, **trial, "adqs": adqs, "adrs": make_adrs(adqs)}


DATES = {"adsl": ("TRTSDT", "TRTEDT"), "adtte": ("STARTDT", "ADT")}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, df in make_trial().items():
        formats = {col: "DATE9." for col in DATES.get(name, ())}
        pyreadstat.write_xport(df, str(out / f"{name}.xpt"), table_name=name.upper(), file_format_version=5,
                               variable_format=formats)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
