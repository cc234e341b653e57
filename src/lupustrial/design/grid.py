"""The design grid: each cell is the protocol with another allocation ratio, belimumab start or
follow-up length (total sample size and endpoint rule are evaluated within a cell, on the same
simulated trials).

How a cell changes the protocol (validated again, so an impossible cell is refused by its key):
- ``ratio`` a:b sets treatment (first arm) : control weights; permuted-block sizes become the
  protocol's own when they are multiples of a + b, else 1 and 2 times a + b.
- ``start_week`` s (None: the protocol's window) randomises everyone exactly s weeks after the first rituximab infusion
  (``randomisation.window_weeks = [s, s]``); study drug starts at randomisation.
- ``follow_up_weeks`` f observes everyone f weeks after randomisation: visits after f are dropped
  and f becomes the last visit; an ANCOVA endpoint whose week is no longer a visit moves to f.
  The treatment schedule stays the protocol's (doses after the end of observation are not given).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from lupustrial.protocol.load import ProtocolError
from lupustrial.protocol.schema import Endpoint, Protocol


@dataclass(frozen=True)
class Cell:
    ratio: tuple[int, int]
    start_week: float | None  # None: the protocol's randomisation window
    follow_up_weeks: float

    @property
    def key(self) -> str:
        """File-name-safe identifier, e.g. ``ratio2-1_start4_fu52`` (``startwindow``: the protocol's)."""
        start = "window" if self.start_week is None else f"{self.start_week:g}"
        return f"ratio{self.ratio[0]}-{self.ratio[1]}_start{start}_fu{self.follow_up_weeks:g}"

    def to_dict(self) -> dict[str, object]:
        return {"ratio": f"{self.ratio[0]}:{self.ratio[1]}", "start_week": self.start_week,
                "follow_up_weeks": self.follow_up_weeks}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Cell:
        """Inverse of :meth:`to_dict` (a cell read back from results JSON)."""
        start = data["start_week"]
        return cls(parse_ratio(str(data["ratio"])), None if start is None else float(str(start)),
                   float(str(data["follow_up_weeks"])))

    def apply(self, protocol: Protocol) -> Protocol:
        """The protocol of this cell, validated."""
        if len(protocol.arms) != 2:
            raise ProtocolError("key arms: a design compares two arms (treatment first, control second)")
        treatment, control = (a.name for a in protocol.arms)
        rand = protocol.randomisation
        total = sum(self.ratio)
        blocks = rand.block_sizes if all(b % total == 0 for b in rand.block_sizes) else [total, 2 * total]
        weeks = [w for w in protocol.visits_weeks if w < self.follow_up_weeks] + [self.follow_up_weeks]

        def moved(ep: Endpoint) -> Endpoint:
            return ep.model_copy(update={"week": self.follow_up_weeks}) if ep.week is not None and ep.week not in weeks \
                else ep

        data = protocol.model_copy(update={
            "randomisation": rand.model_copy(update={
                "ratio": {treatment: self.ratio[0], control: self.ratio[1]}, "block_sizes": blocks,
                "window_weeks": rand.window_weeks if self.start_week is None else (self.start_week,) * 2}),
            "visits_weeks": weeks,
            "follow_up_weeks": self.follow_up_weeks,
            "endpoints": [moved(e) for e in protocol.endpoints],
        }).model_dump()
        try:
            return Protocol.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "protocol"
            raise ProtocolError(f"grid cell {self.key}: key {where}: {err['msg']}") from None


def parse_ratio(text: str) -> tuple[int, int]:
    """``"2:1"`` -> (2, 1)."""
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"{text!r} is not a ratio like 2:1") from None
    if a < 1 or b < 1:
        raise ValueError(f"{text!r}: ratio weights must be positive")
    return a, b


def grid_cells(protocol: Protocol, ratios: list[tuple[int, int]] | None = None, starts: list[float] | None = None,
               follow_ups: list[float] | None = None) -> list[Cell]:
    """Every combination; an axis not given keeps the protocol's value."""
    weights = protocol.randomisation.ratio
    own_ratio = (weights[protocol.arms[0].name], weights[protocol.arms[1].name])
    cells = [Cell(r, s, float(f)) for r in ratios or [own_ratio]
             for s in starts or [None]
             for f in follow_ups or [protocol.follow_up_weeks]]
    for cell in cells:
        cell.apply(protocol)
    return cells
