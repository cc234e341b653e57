"""Write the bundled synthetic example trial (src/lupustrial/data/examples/beat_lupus_synthetic).

Synthetic data shaped like BEAT-LUPUS (52 subjects, 1:1, visits to week 52) so that a new user
can run ``lupustrial analyze example`` at once. No value in it is a clinical claim: titres,
flare times and adverse events are drawn from simple distributions chosen for the demo.
Run: ``python scripts/make_example_trial.py`` (tests check the committed files equal its output).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "src" / "lupustrial" / "data" / "examples" / "beat_lupus_synthetic"
SEED = 20211026
ARMS = ("Belimumab", "Placebo")
WEEKS = (0, 12, 24, 36, 52)
FOLLOW_UP_DAYS = 364
SOCS = {
    "Infections and infestations": ["Upper respiratory tract infection", "Urinary tract infection",
                                    "Pneumonia", "Herpes zoster"],
    "Gastrointestinal disorders": ["Nausea", "Diarrhoea"],
    "Nervous system disorders": ["Headache"],
    "General disorders and administration site conditions": ["Fatigue", "Infusion related reaction"],
}


def make(rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """The four datasets; every draw comes from ``rng`` in a fixed order."""
    n = 52
    ids = [f"BEAT-{i + 1:03d}" for i in range(n)]
    arm = np.array([ARMS[i] for i in rng.permutation(np.repeat([0, 1], n // 2))])
    randdt = pd.Timestamp("2017-02-02") + pd.to_timedelta(np.sort(rng.integers(0, 780, n)), unit="D")
    trtsdt = randdt
    dropout = rng.exponential(365 / 0.08, n)
    last = np.minimum(FOLLOW_UP_DAYS, dropout).round()
    trtedt = trtsdt + pd.to_timedelta(last, unit="D")
    base_dsdna = np.exp(rng.normal(np.log(150), 1.0, n))
    adsl = pd.DataFrame({
        "STUDYID": "BEAT-SYN", "USUBJID": ids, "TRT01P": arm, "TRT01A": arm,
        "RANDDT": randdt.strftime("%Y-%m-%d"), "TRTSDT": trtsdt.strftime("%Y-%m-%d"),
        "TRTEDT": trtedt.strftime("%Y-%m-%d"), "AGE": rng.integers(19, 70, n),
        "SEX": np.where(rng.random(n) < 0.9, "F", "M"), "WEIGHTBL": np.clip(rng.normal(72, 14, n), 45, 130).round(1),
        "STRAT1": np.where(base_dsdna >= 150, "HIGH", "LOW"), "ITTFL": "Y", "SAFFL": "Y",
    })

    # Log anti-dsDNA falls after rituximab and stays lower with belimumab (demo effect sizes).
    drop52 = np.where(arm == ARMS[0], np.log(0.3), np.log(0.7))
    lab_rows = []
    for i in range(n):
        for w in WEEKS:
            if w * 7 > last[i] and w > 0:
                continue
            frac = w / 52
            dsdna = base_dsdna[i] * np.exp(drop52[i] * frac + rng.normal(0, 0.45 if w else 0))
            cd19 = 0.15 * np.exp(rng.normal(0, 0.4)) if w == 0 else np.exp(
                rng.normal(np.log(0.012 if arm[i] == ARMS[0] else 0.037), 0.8))
            c3 = rng.normal(0.8 + 0.1 * frac, 0.15)
            c4 = rng.normal(0.14 + 0.03 * frac, 0.04)
            for param, unit, value in (("DSDNA", "IU/mL", dsdna), ("CD19", "10^9/L", cd19),
                                       ("C3", "g/L", c3), ("C4", "g/L", c4)):
                lab_rows.append({"USUBJID": ids[i], "PARAMCD": param, "AVAL": round(float(value), 4),
                                 "AVALU": unit, "ADY": w * 7 + 1 if w else 1,
                                 "AVISIT": "Baseline" if w == 0 else f"Week {w}", "AVISITN": w})
    adlb = pd.DataFrame(lab_rows)

    # Exactly 3 vs 10 subjects with a severe flare, as published; times uniform over follow-up.
    flare = np.zeros(n, dtype=bool)
    for a, k in zip(ARMS, (3, 10)):
        flare[rng.choice(np.flatnonzero((arm == a) & (last >= 120)), k, replace=False)] = True
    ftime = np.where(flare, (rng.random(n) * (last - 7) + 7).round(), last)
    adtte = pd.DataFrame({
        "USUBJID": ids, "PARAMCD": "TTSEVFL", "PARAM": "Time to first severe (BILAG-2004 A) flare (days)",
        "AVAL": ftime, "CNSR": np.where(flare, 0, 1), "STARTDT": adsl["TRTSDT"],
        "ADT": (trtsdt + pd.to_timedelta(ftime, unit="D")).strftime("%Y-%m-%d"),
        "EVNTDESC": np.where(flare, "SEVERE FLARE", ""),
        "CNSDTDSC": np.where(flare, "", np.where(last < FOLLOW_UP_DAYS, "WITHDRAWAL", "END OF FOLLOW-UP")),
    })

    ae_rows = []
    for i in range(n):
        for _ in range(rng.poisson(2.0 * last[i] / 365)):
            soc = list(SOCS)[rng.integers(len(SOCS))]
            day = int(rng.integers(1, int(last[i]) + 1))
            start = trtsdt[i] + pd.Timedelta(days=day - 1)
            ae_rows.append({
                "USUBJID": ids[i], "AEDECOD": SOCS[soc][rng.integers(len(SOCS[soc]))], "AEBODSYS": soc,
                "AESER": "Y" if rng.random() < 0.12 else "N",
                "AESEV": ["MILD", "MODERATE", "SEVERE"][rng.choice(3, p=[0.6, 0.3, 0.1])],
                "ASTDY": day, "ASTDT": start.strftime("%Y-%m-%d"),
                "AENDT": (start + pd.Timedelta(days=int(rng.integers(1, 15)))).strftime("%Y-%m-%d"),
            })
    adae = pd.DataFrame(ae_rows)

    # Drawn last so that adding it left every earlier draw unchanged. Renal involvement as a
    # second stratification factor for the analysis demo; the 30% share is an assumption.
    adsl.insert(adsl.columns.get_loc("STRAT1") + 1, "STRAT2",
                np.where(rng.random(n) < 0.3, "RENAL", "NON-RENAL"))
    # Added later, drawn after everything above: the severe-flare count (one flare per flaring
    # subject; TRTDURD, its follow-up, is derived from the dates on reading) and week-52
    # responders of the clinical endpoints (demo shares).
    adsl["SEVFLN"] = flare.astype(int)
    return {"adsl": adsl, "adlb": adlb, "adtte": adtte, "adae": adae, "adrs": _responders(ids, arm, last, rng)}


def _responders(ids: list[str], arm: np.ndarray, last: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """ADRS at week 52 for the subjects followed that long: MCR, SRI-4, BICLA and LLDAS, Y/N
    ((belimumab, placebo) shares for the demo)."""
    shares = {"MCR": (0.48, 0.35), "SRI4": (0.6, 0.45), "BICLA": (0.55, 0.4), "LLDAS": (0.45, 0.25)}  # demo
    rows = []
    for code, (bel, pbo) in shares.items():
        for i in np.flatnonzero(last >= 364):
            p = bel if arm[i] == ARMS[0] else pbo
            rows.append({"USUBJID": ids[i], "PARAMCD": code, "AVISIT": "Week 52", "AVISITN": 52,
                         "AVALC": "Y" if rng.random() < p else "N"})
    return pd.DataFrame(rows)


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, df in make(np.random.default_rng(SEED)).items():
        df.to_csv(out / f"{name}.csv", index=False, lineterminator="\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
