"""Novonix UHPC CSV exports: ``[Summary]``/``[Protocol]`` sections, then ``[Data]`` and a header.

``Run Time (h)`` is the test time in hours; the current is positive while charging.
``Capacity (Ah)`` is unsigned and resets every step, so capacities are integrated.
"""

from __future__ import annotations

from .base import regex_column
from .tabular import TableReader
from .text import Head


_c = regex_column


COLUMNS = [
    _c(r"Run Time \(h\)", "test_time_second", scale=3600.0),
    _c(r"Step Time \(h\)", "step_time_second", scale=3600.0),
    _c(r"Cycle Number", "cycle_count", kind="int"),
    _c(r"Step Number", "step_index", kind="int"),
    _c(r"Step Type", "novonix_step_type", kind="int"),
    _c(r"Current \(A\)", "current_ampere"),
    _c(r"Potential \(V\)", "voltage_volt"),
    _c(r"Capacity \(Ah\)", "novonix_step_capacity_ah"),
    _c(r"Energy \(Wh\)", "novonix_step_energy_wh"),
    _c(r"Temperature \(.*C\)", "ambient_temperature_celsius"),
    _c(r"Circuit Temperature \(.*C\)", "circuit_temperature_celsius"),
    _c(r"Power\s*\(W\)", "power_watt"),
]


class NovonixReader(TableReader):
    """Novonix UHPC data files."""

    name = "novonix"
    suffixes = (".csv",)
    description = "Novonix UHPC CSV export"
    priority = 75
    header_pattern = r"^Date and Time,Cycle Number,Step Type"
    columns = COLUMNS
    vendor = "novonix"
    text_columns = ("Date and Time",)

    def sniff(self, head: Head) -> bool:
        if head.is_binary or not head.lines:
            return False
        return head.lines[0].strip().startswith("[Summary]") and any(ln.startswith("[Data]") for ln in head.lines[:200])

    def metadata(self, preamble):
        meta = {"cycler": "Novonix"}
        for line in preamble:
            key, sep, value = line.partition(":")
            if sep and len(value) < 200 and key.strip() and not key.startswith("{"):
                meta[key.strip().lower().replace(" ", "_")] = value.strip()
        return meta

    def postprocess(self, data, df, meta, path):
        data.pop("novonix_date_and_time", None)
