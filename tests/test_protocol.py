"""Protocol schema: the bundled BEAT-LUPUS design, variants in YAML alone, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from lupustrial.protocol import ProtocolError, bundled_protocols, load_protocol, resolve_protocol


def _beat_lupus_dict() -> dict:
    return yaml.safe_load(resolve_protocol("beat-lupus").read_text())


def _write(tmp_path: Path, data: dict | str) -> Path:
    path = tmp_path / "trial.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def test_bundled_beat_lupus_loads_with_published_design() -> None:
    assert "beat-lupus" in bundled_protocols()
    p = load_protocol("beat-lupus")
    assert p.population.n_patients == 52
    assert [a.name for a in p.arms] == ["Belimumab", "Placebo"]
    assert p.randomisation.window_weeks == (4.0, 8.0)
    assert p.plan().primary.param == "DSDNA" and p.plan().primary.week == 52
    assert [e.analysis for e in p.endpoints] == ["ancova_log", "cox", "geometric_mean", "responder",
                                                 "negative_binomial", "responder", "responder", "responder"]
    assert p.steroids.taper_to_mg == 5 and p.steroids.severe.treatment_failure
    assert p.plan().arms.reference == "Placebo"
    bel = p.arm("Belimumab").dosing[0]
    np.testing.assert_array_equal(bel.dose_days()[:5], [0, 14, 28, 56, 84])
    assert bel.dose_days()[-1] == 336
    assert p.arm("Placebo").dosing == []
    np.testing.assert_array_equal(p.background[0].dose_days(), [0, 14])


def test_variant_subcutaneous_weekly_needs_no_code(tmp_path: Path) -> None:
    data = _beat_lupus_dict()
    data["arms"][0]["dosing"] = [
        {"drug": "belimumab", "dose": 200, "unit": "mg", "route": "sc", "days": [0],
         "every_days": 7, "until_day": 357}
    ]
    data["randomisation"]["window_weeks"] = [2, 2]
    p = load_protocol(_write(tmp_path, data))
    days = p.arm("Belimumab").dosing[0].dose_days()
    assert len(days) == 52 and days[1] == 7
    assert p.randomisation.window_weeks == (2.0, 2.0)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d["arms"][0]["dosing"][0].update(doze=3), "key arms[0].dosing[0].doze: unknown key"),
        (lambda d: d["arms"][0]["dosing"][0].update(dose=-1), "key arms[0].dosing[0].dose: Input should be greater than 0"),
        (lambda d: d["randomisation"]["ratio"].pop("Placebo"), "differ from the arms"),
        (lambda d: d["randomisation"].update(block_sizes=[3]), "not multiples of the ratio sum 2"),
        (lambda d: d.pop("labs"), "key labs: required key is missing"),
        (lambda d: d["background"][0].pop("infusion_hours"), "an iv regimen needs infusion_hours"),
        (lambda d: d["endpoints"][0].update(week=50), "week 50 is not a visit"),
        (lambda d: d["endpoints"][0].update(analysis="ancova_lg"), "key endpoints[0].analysis: unknown analysis"),
        (lambda d: d["endpoints"][0].pop("week"), "key endpoints[0]: ancova_log needs week"),
        (lambda d: d["endpoints"][0].update(ties="breslow"), "key endpoints[0]: ancova_log does not use ties"),
        (lambda d: d["endpoints"].append(dict(d["endpoints"][1])), "endpoint names must be unique"),
        (lambda d: d["arms"][0]["dosing"][0].update(days=[0, 28, 14]), "strictly increasing"),
        (lambda d: d["randomisation"].update(stratify_by=["dsdna"]), "not in population.factors"),
    ],
)
def test_bad_protocol_names_key_and_problem(tmp_path: Path, edit, expected: str) -> None:
    data = _beat_lupus_dict()
    edit(data)
    path = _write(tmp_path, data)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_error_gives_line_of_offending_key(tmp_path: Path) -> None:
    text = resolve_protocol("beat-lupus").read_text().replace("dose: 10 ", "dose: -10 ")
    path = _write(tmp_path, text)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "dose: -10" in s)
    assert f"line {line}, key arms[0].dosing[0].dose" in str(info.value)


def test_invalid_yaml_and_unknown_name(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\narms: [\n")
    with pytest.raises(ProtocolError, match="not valid YAML"):
        load_protocol(path)
    with pytest.raises(ProtocolError, match="bundled protocol"):
        load_protocol("no-such-trial")
    with pytest.raises(ProtocolError, match="no such protocol file"):
        load_protocol(tmp_path / "missing.yaml")


def _line_of(text: str, fragment: str) -> int:
    return next(i for i, s in enumerate(text.splitlines(), 1) if fragment in s)


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("drug: belimumab ", "drug: tabalumab ", "arms[0].dosing[0].drug",
         "unknown drug 'tabalumab'; the model knows belimumab, rituximab"),
        ("route: iv\n    days: [0, 14]", "route: sc\n    days: [0, 14]", "background[0].route",
         "rituximab has no sc route (it has iv)"),
        ("dose: 1000 ", "dose: -1000 ", "background[0].dose", "Input should be greater than 0"),
        ("dose: 10 ", "dose: 0 ", "arms[0].dosing[0].dose", "Input should be greater than 0"),
        ("infusion_hours: [4.25, 3.25]", "infusion_hours: [4.25]", "background[0].infusion_hours",
         "infusion_hours lists 1 durations for 2 days"),
    ],
)
def test_dosing_the_model_cannot_give_is_one_line_with_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    """A drug with no registry entry, a route the drug lacks, a dose <= 0: refused where it is written."""
    text = resolve_protocol("beat-lupus").read_text()
    assert text.count(old) == 1
    text = text.replace(old, new)
    path = _write(tmp_path, text)
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert str(info.value) == f"{path}, line {_line_of(text, new.splitlines()[0])}, key {key}: {problem}"


def test_infusion_hours_are_one_per_listed_day_and_repeats_take_the_last(tmp_path: Path) -> None:
    data = _beat_lupus_dict()
    data["arms"][0]["dosing"][0]["infusion_hours"] = [2, 1.5, 1]
    bel = load_protocol(_write(tmp_path, data)).arm("Belimumab").dosing[0]
    hours = bel.dose_hours()
    assert len(hours) == len(bel.dose_days()) and hours[:3].tolist() == [2, 1.5, 1] and (hours[3:] == 1).all()
    assert load_protocol("beat-lupus").arm("Belimumab").dosing[0].dose_hours().tolist() == [1.0] * len(hours)


def test_beat_lupus_rituximab_infusions_follow_the_label_rate_schedule() -> None:
    """[4.25, 3.25] h in beat_lupus.yaml: 1 g from 50 (first) or 100 mg/h (later), raised by that step every
    30 min to 400 mg/h (rituximab label): the schedule delivers the dose in exactly those hours."""
    rituximab = load_protocol("beat-lupus").background[0]
    for hours, start_rate in zip(rituximab.dose_hours(), (50.0, 100.0)):
        steps = np.arange(0.0, hours, 0.5)  # each half hour's rate, the last half hour cut at `hours`
        rate = np.minimum(start_rate * (1 + np.arange(len(steps))), 400.0)
        given = (rate * (np.minimum(steps + 0.5, hours) - steps)).sum()
        assert given == pytest.approx(rituximab.dose) and given - rate[-1] * (hours - steps[-1]) < rituximab.dose


def test_a_protocol_without_doses_gives_no_events(tmp_path: Path) -> None:
    from lupustrial.protocol import protocol_dosing

    data = _beat_lupus_dict()
    data["background"] = []
    p = load_protocol(_write(tmp_path, data))
    ev = protocol_dosing(p, np.array([70.0, 80.0]), np.array(["Placebo", "Placebo"], dtype=object),
                         np.array([42.0, 42.0]), np.array([400.0, 400.0]))
    assert len(ev.patient) == 0 and ev.drug.dtype.kind == "i" and ev.time.dtype.kind == "f"
