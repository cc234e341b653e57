"""Write the bundled example visits table src/lupustrial/indices/examples/visits.csv.

A made-up trial in the ADQS-style layout `lupustrial indices derive` reads, for the 52
subjects of the bundled synthetic ADaM trial (lupustrial.data's example, whose ADSL gives each
subject's arm and first treatment date, so `lupustrial analyze` runs on the derived ADTTE):
visits at weeks 0, 4, 12, 24, 36 and 52, SLEDAI-2K descriptors (the laboratory ones
as raw values with reference limits), BILAG-2004 grades, PGA, prednisone dose and treatment
flags. Disease activity follows a crude random walk that drifts up less often on belimumab, only so that the example holds flares,
responders and non-responders; it is not a model of SLE (that lives in lupustrial.model).

Run: python scripts/make_example_visits.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lupustrial.data.load import example_trial_dir
from lupustrial.indices.derive import BILAG_PARAMS
from lupustrial.indices.sledai import DESCRIPTORS

OUT = Path(__file__).resolve().parents[1] / "src" / "lupustrial" / "indices" / "examples" / "visits.csv"
SEED = 20210501
WEEKS = (0, 4, 12, 24, 36, 52)
# Chance per visit that activity rises, by arm (placebo flares more: the example's story).
RISE = {"Placebo": 0.25}
RISE_ACTIVE = 0.12
LAB_DECIDED = {"THROMBO", "LEUKOP", "PROTEIN", "HEMATUR", "PYURIA", "LOWCOMP", "DNA"}
# Musculoskeletal and mucocutaneous disease are the commonest; the others share the rest.
DOMAIN_WEIGHTS = np.array([1, 4, 0.5, 4, 1, 0.5, 0.5, 1.5, 1.5]) / 14.5


def subject_rows(usubjid: str, rng: np.random.Generator, first_day: pd.Timestamp, rise: float) -> list[dict[str, object]]:
    """All rows for one subject; activity 0-3 drives every item so that they move together."""
    rows: list[dict[str, object]] = []
    activity = int(rng.integers(2, 4))
    involved = set(rng.choice(list(BILAG_PARAMS), size=3, replace=False, p=DOMAIN_WEIGHTS))
    for week in WEEKS:
        day = 7 * week + 1
        date = first_day + pd.Timedelta(days=day - 1)
        visit = {"USUBJID": usubjid, "AVISITN": week, "ADY": day, "ADT": date.date().isoformat()}

        def add(paramcd: str, aval: float | None = None, avalc: str = "", lo: float | None = None,
                hi: float | None = None, lab_day: int = day, visit: dict[str, object] = visit) -> None:
            rows.append(visit | {"PARAMCD": paramcd, "AVAL": aval, "AVALC": avalc, "ANRLO": lo, "ANRHI": hi,
                                 "ADY": lab_day,
                                 "ADT": (first_day + pd.Timedelta(days=lab_day - 1)).date().isoformat()})

        for d in DESCRIPTORS:
            if d.code not in LAB_DECIDED:
                p = {8: 0.02, 4: 0.12, 2: 0.18, 1: 0.05}[d.weight] * activity
                add(d.code, float(rng.random() < p))
        lab_day = day - int(rng.integers(0, 16))
        add("PLAT", round(max(5.0, float(rng.normal(220 - 35 * activity, 40))), 0), lo=150, hi=400, lab_day=lab_day)
        add("WBC", round(max(0.5, float(rng.normal(6.0 - 0.9 * activity, 1.2))), 1), lo=4.0, hi=11.0, lab_day=lab_day)
        add("UPROT", round(float(rng.gamma(1.0, 0.08 + 0.12 * activity)), 2), lab_day=lab_day)
        add("URBC", float(rng.poisson(1 + 1.5 * activity)), lab_day=lab_day)
        add("UWBC", float(rng.poisson(1 + activity)), lab_day=lab_day)
        add("C3", round(max(0.05, float(rng.normal(1.1 - 0.15 * activity, 0.15))), 2), lo=0.9, hi=1.8, lab_day=lab_day)
        add("C4", round(max(0.01, float(rng.normal(0.22 - 0.03 * activity, 0.05))), 2), lo=0.1, hi=0.4, lab_day=lab_day)
        add("DSDNA", round(float(rng.gamma(2.0, 5 + 15 * activity)), 0), lo=0, hi=30, lab_day=lab_day)
        for paramcd in BILAG_PARAMS:
            level = activity - int(rng.random() < 0.15) if paramcd in involved else 0
            add(paramcd, avalc=("E" if paramcd not in involved else "DCBA"[max(level, 0)]))
        add("PGA", round(min(3.0, max(0.0, 0.6 * activity + float(rng.normal(0, 0.25)))), 1))
        add("PREDDOSE", float(rng.choice([0, 2.5, 5, 7.5, 10, 15, 20][activity: activity + 4])))
        add("MAINTOK", float(rng.random() < 0.9))
        add("STABLEOK", float(rng.random() < 0.9))
        add("TRTFAIL", float(week > 0 and rng.random() < 0.04))
        add("HAEMOLYS", float(rng.random() < 0.02 * activity))
        step = rng.choice([-1, 0, 1], p=[0.45, 0.55 - rise, rise])
        activity = int(min(3, max(0, activity + step)))
    return rows


def main() -> None:
    rng = np.random.default_rng(np.random.SeedSequence(SEED))
    adsl = pd.read_csv(example_trial_dir() / "adsl.csv", parse_dates=["TRTSDT"])
    rows = []
    for subject in adsl.itertuples(index=False):
        rise = RISE.get(subject.TRT01P, RISE_ACTIVE)
        rows += subject_rows(subject.USUBJID, rng, subject.TRTSDT, rise)
    frame = pd.DataFrame(rows, columns=["USUBJID", "AVISITN", "ADY", "ADT", "PARAMCD", "AVAL", "AVALC",
                                        "ANRLO", "ANRHI"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT, index=False)
    print(f"{len(frame)} rows written to {OUT}")


if __name__ == "__main__":
    main()
