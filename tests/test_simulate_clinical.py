"""The virtual patients' clinical course: BILAG-2004 and SLEDAI-2K visits, prednisone, responders."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lupustrial.indices import Assessment, bicla, doris, lldas, mcr, sri
from lupustrial.indices.bilag import DOMAINS
from lupustrial.indices.sledai import sledai2k
from lupustrial.protocol import load_protocol
from lupustrial.protocol.schema import Rescue, Steroids
from lupustrial.simulate.activity import ITEMS, MODERATE, SEVERE, _at, _grades_at, _prednisone, resolution_hazard
from lupustrial.simulate.records import RESPONDERS, responses
from lupustrial.simulate.settings import SimulationSettings
from lupustrial.simulate.trial import _simulated, simulate_arrays, simulate_chunk

LETTERS = "ABCDE"


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("beat-lupus")


@pytest.fixture(scope="module")
def trials(protocol):
    return _simulated(protocol, range(4), 7, None, SimulationSettings())


def _assessment(course, p: int, j: int) -> Assessment:
    items = {code: bool(course.items[p, j, i]) for i, code in enumerate(ITEMS)}
    return Assessment(sledai=sledai2k(items), bilag={d: LETTERS[course.grades[p, j, k]] for k, d in enumerate(DOMAINS)},
                      pga=float(course.pga[p, j]), prednisone_mg=float(course.prednisone_mg[p, j]),
                      treatment_failure=bool(course.failure[p, j]), maintenance_ok=True, stable_ok=True,
                      haemolysis=False)


def test_array_responders_equal_the_per_visit_rules(trials) -> None:
    """SRI-4, BICLA, LLDAS (against the scheduled visit before), DORIS and MCR from
    lupustrial.indices.arrays equal lupustrial.indices.endpoints, visit by visit."""
    checked = 0
    for _, outcome in trials[:2]:
        course = outcome.course
        weeks = np.array([0.0, 4.0, 12.0, 24.0, 36.0, 52.0])
        flags = responses(course, weeks)
        for p in range(course.day.shape[0]):
            base = _assessment(course, p, 0)
            previous = base
            for w, week in enumerate(weeks):
                visit = _assessment(course, p, int(np.argmax(course.week[p] == week)))
                assert flags["SRI4"][p, w] == sri(base, visit).responder
                assert flags["BICLA"][p, w] == bicla(base, visit).responder
                assert flags["LLDAS"][p, w] == lldas(previous, visit).responder
                assert flags["DORIS"][p, w] == doris(visit).responder
                assert flags["MCR"][p, w] == mcr(visit).responder
                previous = visit
                checked += 1
    assert checked > 500 and all(flags[code].any() and not flags[code].all() for code in flags)


def test_every_flare_is_a_new_bilag_grade_seen_on_its_day(trials) -> None:
    """A severe flare shows a new A, a moderate one a new B (from C-E), against the assessment before it;
    ADSL's flare counts equal the flare visits."""
    for trial, outcome in trials:
        course = outcome.course
        for kind, grade, before in ((SEVERE, 0, (1, 2, 3, 4)), (MODERATE, 1, (2, 3, 4))):
            p, j = np.nonzero(course.flare == kind)
            new = (course.grades[p, j] == grade) & np.isin(course.grades[p, j - 1], before)
            assert new.any(axis=1).all()
        observed = course.day <= trial.end_day[:, None]
        assert ((course.flare == SEVERE) & observed).sum() == np.isfinite(outcome.severe).sum()
        assert ((course.flare == MODERATE) & observed).sum() == np.isfinite(outcome.moderate).sum()


def test_grades_only_improve_between_flares(trials) -> None:
    """Between two assessments a domain can only step down (A → D) unless the later one is a flare visit."""
    for _, outcome in trials:
        c = outcome.course
        later, earlier = c.grades[:, 1:], c.grades[:, :-1]
        worse = (later < earlier).any(axis=2) & np.isfinite(c.day[:, 1:])
        assert not (worse & (c.flare[:, 1:] == 0)).any()


def _grades_at_numpy(start: np.ndarray, grade: np.ndarray, steps: np.ndarray, t: np.ndarray,
                     res: np.ndarray) -> np.ndarray:
    """The episodes' grades at ``t`` written with numpy arrays, as the compiled kernel replaced them."""
    started = start[:, :, :, None] <= t[:, None, None, :]
    k = np.maximum(np.where(started, np.arange(start.shape[2])[None, None, :, None], -1).max(axis=2), 0)
    n_idx, d_idx = np.ogrid[:k.shape[0], :k.shape[1]]
    g = grade[n_idx[..., None], d_idx[..., None], k]
    done = (steps[n_idx[..., None], d_idx[..., None], k] <= _at(res, t)[:, None, :, None]).sum(axis=-1)
    return np.where(g == 4, 4, np.minimum(g + done, 3))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_compiled_grades_equal_their_numpy_form(seed: int) -> None:
    """Random episodes (nan starts, the none-yet-started case, nan and off-grid days): the compiled
    grades equal the numpy form's."""
    rng = np.random.default_rng(seed)
    n, k, q, span = 7, 4, 6, 30
    start = np.sort(rng.uniform(-5, span + 5, (n, 9, k)), axis=2)
    start[rng.random((n, 9, k)) < 0.4] = np.nan
    grade = rng.integers(0, 5, (n, 9, k))
    steps = np.cumsum(rng.exponential(1.0, (n, 9, k, 3)), axis=3)
    steps[rng.random((n, 9, k, 3)) < 0.1] = np.inf
    t = rng.uniform(-3, span + 3, (n, q))
    t[rng.random((n, q)) < 0.2] = np.nan
    res = np.cumsum(rng.exponential(0.2, (n, span)), axis=1)
    np.testing.assert_array_equal(_grades_at(start, grade, steps, t, res), _grades_at_numpy(start, grade, steps, t, res))


def test_lower_drive_resolves_faster() -> None:
    """The improvement hazard is ρ·r^−κ: with κ = 1 halving the drive doubles it; the cumulative
    hazard starts at 0."""
    hazard = np.array([[2.0, 2.0, 2.0, 1.0, 1.0]])
    res = resolution_hazard(hazard, np.array([365.25]))
    assert res[0, 0] == 0.0
    np.testing.assert_allclose(np.diff(res[0]), [1.0, 1.0, 1.5, 2.0])
    half = resolution_hazard(hazard, np.array([365.25]), power=0.5)  # κ = 0.5: √ of the drive
    np.testing.assert_allclose(np.diff(half[0])[-1], 2.0 ** 0.5)


def test_prednisone_tapers_while_inactive_and_rescues_at_flares() -> None:
    steroids = Steroids(baseline_median_mg=10, baseline_sdlog=0, taper_to_mg=5, taper_step_mg=2.5,
                        taper_every_weeks=4, severe=Rescue(dose_mg=30, treatment_failure=True),
                        moderate=Rescue(dose_mg=15, treatment_failure=False))
    day = np.array([[0.0, 28.0, 56.0, 60.0, 84.0, np.nan]] * 2)
    kind = np.array([[0, 0, 0, MODERATE, 0, 0], [0, 0, 0, SEVERE, 0, 0]])
    grades = np.full((2, 6, 9), 3)
    grades[:, 3, 0] = [1, 0]  # the flare's domain, still active at the visit after
    grades[:, 4, 0] = [1, 0]
    dose, failure = _prednisone(day, kind, grades, steroids, np.zeros(2))
    np.testing.assert_allclose(dose[0, :5], [10, 7.5, 5, 15, 15])
    np.testing.assert_allclose(dose[1, :5], [10, 7.5, 5, 30, 30])
    assert not failure[0].any() and failure[1, 3:5].all() and not failure[1, :3].any()


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_responders_are_those_the_adrs_records_say(seed: int) -> None:
    """ADRS's AVALC at week 52 equals the design arrays' responders of the same seed."""
    protocol = load_protocol("beat-lupus").model_copy(
        update={"population": load_protocol("beat-lupus").population.model_copy(update={"n_patients": 12})})
    frames = simulate_chunk(protocol, [0], seed)
    arrays = simulate_arrays(protocol, [0], seed)
    adrs = frames["adrs"]
    w = int(np.flatnonzero(arrays.response_weeks == 52)[0])
    ids = frames["adsl"]["USUBJID"].to_numpy()
    for code in RESPONDERS:
        rows = adrs[(adrs["PARAMCD"] == code) & (adrs["AVISITN"] == 52)].set_index("USUBJID")
        flags = arrays.response[code][0, :, w]
        for i, usubjid in enumerate(ids):
            if usubjid in rows.index:
                assert (rows.loc[usubjid, "AVALC"] == "Y") == (flags[i] == 1)
            else:
                assert np.isnan(flags[i])


def test_adqs_records_every_item_of_every_assessment(protocol) -> None:
    """Each observed assessment has the 21 clinical descriptors, nine BILAG grades, PGA, prednisone,
    the treatment flags and the four laboratory tests the SLEDAI-2K lab descriptors read."""
    adqs = simulate_chunk(protocol, [0], 3)["adqs"]
    per_visit = adqs.groupby(["USUBJID", "AVISITN"])["PARAMCD"].nunique()
    assert (per_visit == 21 + 9 + 6 + 4).all()
    grades = adqs[adqs["PARAMCD"].str.startswith("BLG")]["AVALC"]
    assert set(grades) <= set(LETTERS)
    unscheduled = adqs[adqs["AVISIT"] == "Unscheduled"]
    assert len(unscheduled) and (unscheduled["AVISITN"] % 1 != 0).all()
    visits = adqs.drop_duplicates(["USUBJID", "AVISITN"]).sort_values(["USUBJID", "AVISITN"])
    assert (visits.groupby("USUBJID")["ADY"].diff().dropna() >= 0).all()  # AVISITN orders the days


def test_indices_derive_from_adqs_what_the_simulator_wrote() -> None:
    """lupustrial.indices.derive, run on the simulated ADQS as on a real trial's, gives the simulator's
    ADRS responders, its recurrent flare records and its ADTTE flare events."""
    from lupustrial.indices import derive

    frames = simulate_chunk(load_protocol("beat-lupus"), range(2), 3)
    derived = derive(frames["adqs"].drop(columns=["TRIALID"]), baseline_visit=-1)
    rs = derived.adrsp.merge(frames["adrs"], on=["USUBJID", "AVISITN", "PARAMCD"], suffixes=("_d", "_s"))
    assert len(rs) == len(frames["adrs"]) and (rs["AVALC_d"] == rs["AVALC_s"]).all()
    keys = ["USUBJID", "PARAMCD", "EVENTNUM"]
    mine = derived.recurrent[derived.recurrent["PARAMCD"].isin(["SEVFL", "MODFL"])]
    fl = mine.merge(frames["adflare"], on=keys, how="outer", suffixes=("_d", "_s"), indicator=True)
    assert (fl["_merge"] == "both").all() and (fl["CNSR_s"] == 0).sum() > 20
    for column in ("TSTART", "TSTOP", "CNSR", "AVISITN", "EVNTDESC"):
        assert (fl[f"{column}_d"].fillna("") == fl[f"{column}_s"].fillna("")).all(), column
    tte = derived.adtte.merge(frames["adtte"], on=["USUBJID", "PARAMCD"], suffixes=("_d", "_s"))
    events = tte[(tte["CNSR_d"] == 0) | (tte["CNSR_s"] == 0)]
    assert len(events) > 20 and (events["CNSR_d"] == events["CNSR_s"]).all()
    assert (events["AVAL_d"] == events["AVAL_s"]).all()


def test_each_flare_names_the_domain_its_visit_grades_a_or_b() -> None:
    """ADFLARE's domain is the one the flare raised, also for a flare on the day of a baseline
    assessment held at randomisation (BLISS-SC), which has no visit before it to compare with.
    Those flares are in the data (the seed was chosen so); lupustrial.indices.derive, needing a
    visit before a flare, does not count them (docs/model.md, "Clinical course"). The records are
    the same whether the trials' courses are computed together or one by one."""
    import pandas as pd

    from lupustrial.indices.derive import BILAG_PARAMS

    base = load_protocol("bliss-sc")
    protocol = base.model_copy(update={"population": base.population.model_copy(update={"n_patients": 120})})
    frames = simulate_chunk(protocol, range(4), 4)  # the four trials' courses computed together
    alone = pd.concat([simulate_chunk(protocol, [t], 4)["adflare"] for t in range(4)], ignore_index=True)
    pd.testing.assert_frame_equal(frames["adflare"], alone)
    flares = frames["adflare"][frames["adflare"]["CNSR"] == 0]
    assert (flares["TSTOP"] == 1).sum() >= 5  # flares on the day of the baseline assessment
    code = {domain: c for c, domain in BILAG_PARAMS.items()}
    named = flares["EVNTDESC"].str.extract(r": (\w+) \(")[0].map(code)
    qs = frames["adqs"].set_index(["USUBJID", "AVISITN", "PARAMCD"])["AVALC"].astype(str)
    grades = [qs[(s, v, c)] for s, v, c in zip(flares["USUBJID"], flares["AVISITN"], named, strict=True)]
    assert grades == ["A" if p == "SEVFL" else "B" for p in flares["PARAMCD"]]


def test_compact_adqs_is_written_as_the_same_text(tmp_path) -> None:
    """`lupustrial simulate`'s compact ADQS (categorical columns, quick to pass and write) reads back
    from Parquet as plain text, equal to the frame the Python API returns."""
    import pandas as pd

    from lupustrial.data import write_trial
    from lupustrial.simulate import run_trials

    protocol = load_protocol("beat-lupus")
    compact = run_trials(protocol, 3, seed=4, chunk=2, compact=True)
    plain = run_trials(protocol, 3, seed=4, chunk=2)
    assert isinstance(compact["adqs"]["USUBJID"].dtype, pd.CategoricalDtype)
    assert not isinstance(plain["adqs"]["USUBJID"].dtype, pd.CategoricalDtype)
    write_trial(compact, tmp_path, fmt="parquet")
    back = pd.read_parquet(tmp_path / "adqs.parquet")
    text = ("USUBJID", "PARAMCD", "AVISIT", "AVALC")
    assert not any(isinstance(back[c].dtype, pd.CategoricalDtype) for c in text)  # text (object or str)

    def as_text(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame.astype({c: object for c in text})
        return out.where(out.notna(), None)

    pd.testing.assert_frame_equal(as_text(back), as_text(plain["adqs"]), check_dtype=False)
