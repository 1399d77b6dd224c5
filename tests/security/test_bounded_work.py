"""Work a client can trigger is bounded by what the server holds, not by what the client sends.

The cycles field (it also travels in the URL) once built a Python set of every number its ranges
named: ``1-20000000`` took 1.3 GB and blocked the event loop for 1.4 s. Error messages once
quoted whole values: a 10 MB field made a 10 MB message. Both are measured here with
``tracemalloc`` (memory Python allocated) on inputs far beyond what any cell has.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from batteryviz.cycles import MAX_SELECTION_TEXT, parse_cycle_ranges, parse_cycle_selection
from batteryviz.errors import BatteryvizError, ParseError, quote


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "text", ["1-1000000000", "1-1000000000:1,5-999999999", "2-4000000000000:3"]
)
def test_huge_cycle_ranges_cost_what_the_cell_has(text):
    available = np.arange(0, 2001)
    cycles, peak = _peak_bytes(lambda: parse_cycle_selection(text, available=available))
    first, last, step = parse_cycle_ranges(text).ranges[0]
    assert cycles == [c for c in range(0, 2001) if first <= c <= last and (c - first) % step == 0]
    assert peak < 2**20  # a set of the numbers named would be gigabytes


def test_cycle_ranges_select_exactly_the_existing_cycles():
    available = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34])
    assert parse_cycle_selection("1,5-20:4,30-40", available=available) == [1, 5, 13, 34]
    assert parse_cycle_selection("100-200", available=available) == []
    assert parse_cycle_selection("all", available=available) is None


def test_without_the_cells_cycles_a_selection_is_listed_only_when_small():
    assert parse_cycle_selection("1-5:2") == [1, 3, 5]
    _, peak = _peak_bytes(lambda: pytest.raises(ValueError, parse_cycle_selection, "1-1000000000"))
    assert peak < 2**20


@pytest.mark.parametrize(
    "text", ["1," * 5000, "7" * (MAX_SELECTION_TEXT + 1), ",".join(["1"] * 101)]
)
def test_long_selection_texts_are_refused_before_they_are_read(text):
    with pytest.raises(ValueError, match="cycles: ") as info:
        parse_cycle_selection(text, available=np.arange(10))
    assert len(str(info.value)) < 300


def test_error_messages_quote_at_most_a_short_part_of_a_value():
    huge = "9" * 10_000_000
    assert len(quote(huge)) < 120 and "more characters" in quote(huge)
    error = ParseError(
        f"expected a number, found {quote(huge)}", path="cell.csv", line=2, column="x" * 100_000
    )
    assert len(str(error)) < 400
    assert len(str(BatteryvizError("why " * 1_000_000))) < 2200


def test_a_ragged_value_in_a_real_reader_gives_a_short_message(tmp_path):
    import batteryviz as bv

    path = tmp_path / "cell.csv"
    path.write_text(
        "Test Time (s),Voltage (V),Current (A)\n0,3.5,0.1\n1," + "x" * 5_000_000 + ",0.1\n"
    )
    with pytest.raises(BatteryvizError) as info:
        bv.read(
            path,
            format="generic",
            columns={
                "Test Time (s)": "test_time_second",
                "Voltage (V)": "voltage_volt",
                "Current (A)": "current_ampere",
            },
        ).load()
    assert len(str(info.value)) < 600, str(info.value)[:300]
