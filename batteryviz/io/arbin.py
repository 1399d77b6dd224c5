"""Arbin exports: MITS Pro / DataPro CSV and Excel (``Channel_*`` sheets).

Two header dialects are mapped: ``Test_Time(s)`` (older, underscores) and ``Test Time (s)``
(newer, spaces). Arbin's current is positive while charging. ``Charge_Capacity`` and
``Discharge_Capacity`` accumulate within a cycle and reset when ``Cycle_Index`` advances.
"""

from __future__ import annotations

from pathlib import Path

from .base import regex_column
from .tabular import TableReader, read_excel


_c = regex_column


SP = r"[ _]?"  # "Test Time (s)" and "Test_Time(s)"

COLUMNS = [
    _c(rf"Data{SP}Point", "data_point", kind="int"),
    _c(rf"Test{SP}Time{SP}\(s\)", "test_time_second"),
    _c(rf"Step{SP}Time{SP}\(s\)", "step_time_second"),
    _c(rf"Cycle{SP}Index", "cycle_count", kind="int"),
    _c(rf"Step{SP}Index", "step_index", kind="int"),
    _c(rf"Current{SP}\(A\)", "current_ampere"),
    _c(rf"Voltage{SP}\(V\)", "voltage_volt"),
    _c(rf"Power{SP}\(W\)", "power_watt"),
    _c(rf"Charge{SP}Capacity{SP}\(Ah\)", "cycle_charging_capacity_ah", role="charge_capacity", resets="cycle", preference=2),
    _c(rf"Discharge{SP}Capacity{SP}\(Ah\)", "cycle_discharging_capacity_ah", role="discharge_capacity", resets="cycle", preference=2),
    _c(rf"Charge{SP}Energy{SP}\(Wh\)", "cycle_charging_energy_wh", role="charge_energy", resets="cycle"),
    _c(rf"Discharge{SP}Energy{SP}\(Wh\)", "cycle_discharging_energy_wh", role="discharge_energy", resets="cycle"),
    _c(rf"Internal{SP}Resistance{SP}\(Ohm\)", "internal_resistance_ohm"),
    _c(r"Aux_Temperature_1 \(C\)|Temperature \(C\)_1|Aux_Temperature\(C\)_1", "ambient_temperature_celsius"),
    _c(rf"Date{SP}Time", "arbin_date_time", kind="string"),
]


class ArbinReader(TableReader):
    """Arbin CSV and Excel exports."""

    name = "arbin"
    suffixes = (".csv", ".xlsx", ".xls")
    description = "Arbin MITS Pro / DataPro CSV or Excel export"
    priority = 70
    header_pattern = r"(Test[ _]?Time[ _]?\(s\)).*(Cycle[ _]?Index)|(Cycle[ _]?Index).*(Test[ _]?Time[ _]?\(s\))"
    columns = COLUMNS
    vendor = "arbin"
    text_columns = ("Date Time", "Date_Time")

    def workbook_sheets(self, sheets):
        return [s for s in sheets if s.lower().startswith("channel") and "chart" not in s.lower()]

    def workbook_metadata(self, path, sheets):
        return _global_info(path) if "Global_Info" in sheets else {}

    def postprocess(self, data, df, meta, path):
        data.pop("arbin_date_time", None)
        meta["cycler"] = "Arbin"


def _global_info(path: Path) -> dict:
    info = read_excel(path, sheet_name="Global_Info", header=None)
    meta = {}
    cells = [str(v) for v in info.values.ravel() if str(v) != "nan"]
    for key, value in zip(cells[:-1], cells[1:]):
        if key.rstrip(":").strip().lower() in ("schedule file name", "start datetime", "channel", "creator", "comments", "start date time"):
            meta[key.rstrip(":").strip().lower().replace(" ", "_")] = value
    return meta
