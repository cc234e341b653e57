"""Grid cells change the protocol as documented and are validated."""

from __future__ import annotations

import pytest

from lupustrial.design.grid import Cell, grid_cells, parse_ratio
from lupustrial.protocol import load_protocol
from lupustrial.protocol.load import ProtocolError


def test_cell_changes_ratio_start_and_follow_up() -> None:
    base = load_protocol("beat-lupus")
    p = Cell((2, 1), 12.0, 26.0).apply(base)
    assert p.randomisation.ratio == {"Belimumab": 2, "Placebo": 1}
    assert p.randomisation.block_sizes == [3, 6]  # [2, 4] are not multiples of 3
    assert p.randomisation.window_weeks == (12.0, 12.0)
    assert p.visits_weeks == [0, 4, 12, 24, 26] and p.follow_up_weeks == 26
    assert p.plan().primary.week == 26  # week 52 is no longer a visit
    longer = Cell((1, 1), None, 104.0).apply(base)
    assert longer.randomisation.window_weeks == base.randomisation.window_weeks
    assert longer.randomisation.block_sizes == base.randomisation.block_sizes
    assert longer.plan().primary.week == 52 and longer.visits_weeks[-2:] == [52, 104]
    assert base.follow_up_weeks == 52  # the base protocol is untouched


def test_grid_is_every_combination_with_protocol_defaults() -> None:
    base = load_protocol("beat-lupus")
    cells = grid_cells(base, [(1, 1), (2, 1)], [4.0, 8.0])
    assert [c.key for c in cells] == ["ratio1-1_start4_fu52", "ratio1-1_start8_fu52", "ratio2-1_start4_fu52",
                                      "ratio2-1_start8_fu52"]
    assert [c.key for c in grid_cells(base)] == ["ratio1-1_startwindow_fu52"]


def test_bad_cells_and_ratios_refused() -> None:
    base = load_protocol("beat-lupus")
    with pytest.raises(ProtocolError, match="grid cell ratio1-1_start-2_fu52: key randomisation.window_weeks"):
        grid_cells(base, starts=[-2.0])
    for text in ("2", "a:b", "0:1"):
        with pytest.raises(ValueError, match=repr(text)):
            parse_ratio(text)
