"""The plan's endpoints as ``design`` sees them: which it powers (and why not the others), the
short label that names each in tables, and each one's simulated data as its batched twin reads it.

An endpoint is powered when its method has a batched twin (``Method.batch`` in
:data:`lupustrial.analysis.methods.METHODS`) and the simulator produces the data it reads: lab
values at a visit, times to first flare, counts of severe and moderate flares over follow-up
(ADSL's SEVFLN and MODFLN over TRTDURD) and the responders of ADRS (SRI-4, BICLA, LLDAS, DORIS,
major clinical response) at a scheduled visit (:class:`~lupustrial.simulate.trial.TrialArrays`). Every other
endpoint is still listed, with the reason it is not powered; none is dropped silently. Adding a method with a batched twin to the registry makes ``design`` power it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lupustrial.analysis.ae import DAYS_PER_YEAR
from lupustrial.analysis.batch import CountBatch, ResponderBatch, TimeToEventBatch, VisitBatch
from lupustrial.analysis.plan import Endpoint
from lupustrial.protocol.schema import Protocol
from lupustrial.simulate.records import RESPONDERS
from lupustrial.simulate.trial import TrialArrays


def _visit(arrays: TrialArrays, endpoint: Endpoint) -> VisitBatch:
    """The lab value at the endpoint's visit (nan: withdrawn before it) and its baseline."""
    visit = int(np.flatnonzero(arrays.lab_weeks == endpoint.week)[0])
    value = arrays.lab_value[endpoint.param][:, :, visit]
    return VisitBatch(value, arrays.lab_base[endpoint.param], (arrays.arm == 0).astype(float),
                      np.ones(value.shape, dtype=bool), {name: arrays.factors[name] for name in endpoint.factors})


def _time_to_event(arrays: TrialArrays, endpoint: Endpoint) -> TimeToEventBatch:
    """ADTTE's AVAL and 1 − CNSR of the endpoint's parameter."""
    time = arrays.tte_time[endpoint.param]
    return TimeToEventBatch(time, arrays.tte_event[endpoint.param].astype(float), (arrays.arm == 0).astype(float),
                            np.ones(time.shape, dtype=bool))


#: The counts the simulator produces: ADSL's columns of severe and moderate flares, counted over TRTDURD.
SIMULATED_COUNTS = {"SEVFLN": "severe_count", "MODFLN": "moderate_count"}


def _count(arrays: TrialArrays, endpoint: Endpoint) -> CountBatch:
    """ADSL's SEVFLN or MODFLN (flares observed) over TRTDURD (days observed after randomisation), in years."""
    count = getattr(arrays, SIMULATED_COUNTS[endpoint.param]).astype(float)
    return CountBatch(count, arrays.end_day / DAYS_PER_YEAR, (arrays.arm == 0).astype(float),
                      np.ones(count.shape, dtype=bool), {name: arrays.factors[name] for name in endpoint.factors})


def _responder(arrays: TrialArrays, endpoint: Endpoint) -> ResponderBatch:
    """ADRS's response (1/0) of the endpoint's parameter at its week; nan: withdrawn before it."""
    response = arrays.response[endpoint.param][:, :, int(np.flatnonzero(arrays.response_weeks == endpoint.week)[0])]
    return ResponderBatch(response, (arrays.arm == 0).astype(float), np.ones(response.shape, dtype=bool),
                          {name: arrays.factors[name] for name in endpoint.factors})


Batch = VisitBatch | TimeToEventBatch | CountBatch | ResponderBatch
#: The kinds of data (``Method.reads``) the simulator produces, and how its arrays give them.
SIMULATED: dict[str, Callable[[TrialArrays, Endpoint], Batch]] = {
    "visit": _visit, "time_to_event": _time_to_event, "count": _count, "responder": _responder}


def simulated_data(arrays: TrialArrays, endpoint: Endpoint) -> Batch:
    """The endpoint's data in simulated trials, (trials, patients) arrays; the treatment arm is
    the protocol's first."""
    return SIMULATED[endpoint.method.reads](arrays, endpoint)


@dataclass(frozen=True)
class DesignedEndpoint:
    """A plan endpoint in the design's outputs: ``label`` names it in tables (its PARAMCD, with
    the week or method when the plan has that PARAMCD twice), ``key`` in the YAML; ``reason``
    says why it is not powered (None: powered); ``test`` and ``estimate`` are its batched
    twin's (empty when not powered)."""

    label: str
    name: str
    key: str
    analysis: str
    test: str = ""
    estimate: str = ""
    reason: str | None = None

    @property
    def powered(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "powered": self.powered}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignedEndpoint:
        return cls(**{k: v for k, v in data.items() if k != "powered"})


def labels(endpoints: Sequence[Endpoint]) -> list[str]:
    """Short, unique labels: the PARAMCD, then with the week, then with the method too, as far as
    needed to tell endpoints sharing a PARAMCD apart; the YAML key as a last resort."""
    def forms(e: Endpoint) -> tuple[str, ...]:
        week = "" if e.week is None else f" w{e.week:g}"
        return e.param, e.param + week, f"{e.param} {e.analysis}{week}"

    out = []
    for i, e in enumerate(endpoints):
        others = [forms(o) for j, o in enumerate(endpoints) if j != i and o.param == e.param]
        out.append(next((f for k, f in enumerate(forms(e)) if all(o[k] != f for o in others)),
                        f"{e.param} (endpoints[{i}])"))
    return out


def _not_powered(protocol: Protocol, endpoint: Endpoint) -> str | None:
    """Why the design cannot power ``endpoint`` (None: it can)."""
    method = endpoint.method
    if method.descriptive:
        return f"{endpoint.analysis} is descriptive (no test)"
    missing = ([] if method.batch is not None else [f"{endpoint.analysis} has no batched twin"]) + (
        [] if method.reads in SIMULATED else
        [f"the design takes no {method.reads} data from the simulator (a lab value at a visit, a time to "
         "first flare, a count of flares, or a responder)"])
    if missing:
        return "; ".join(missing)
    if method.reads == "count" and (endpoint.param not in SIMULATED_COUNTS or (endpoint.exposure or "TRTDURD")
                                    != "TRTDURD"):
        return "the simulator counts only flares (SEVFLN, MODFLN) over TRTDURD"
    if method.reads == "responder" and endpoint.param not in RESPONDERS:
        return f"the simulator derives no responder {endpoint.param} (it has {', '.join(RESPONDERS)})"
    if method.reads == "responder" and (endpoint.week is None or endpoint.week <= protocol.visits_weeks[0]
                                        or endpoint.week not in protocol.visits_weeks):
        return "its week: responders are derived at the scheduled visits after baseline"
    for key in method.batch.lacks:
        if getattr(endpoint, key) != Endpoint.model_fields[key].get_default(call_default_factory=True):
            return f"its {key}: the batched {endpoint.analysis} takes none"
    unknown = [f for f in endpoint.factors if f not in protocol.population.factors]
    if unknown:
        return f"its factors: {', '.join(unknown)} not in population.factors"
    return None


def plan_endpoints(protocol: Protocol) -> list[DesignedEndpoint]:
    """Every endpoint of the protocol's plan, in plan order, powered or with the reason it is not."""
    out = []
    for (key, e), label in zip(protocol.plan().keyed(), labels(protocol.endpoints), strict=True):
        reason = _not_powered(protocol, e)
        twin = e.method.batch if reason is None else None
        out.append(DesignedEndpoint(label, e.name, key, e.analysis, twin.test if twin else "",
                                    twin.estimate if twin else "", reason))
    return out
