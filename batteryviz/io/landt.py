"""LANHE (Landt) exports: the record table of the LANHE battery test software.

The software exports a workbook with a per-cycle summary (``Cycle-Tab``), sometimes a step
table, and the records (``Record-Tab``); the record table can also be saved as text. Every
column name carries its unit after a slash: ``TestTime/Sec``, ``StepTime/Sec``,
``Current/mA``, ``Voltage/V``, ``Capacity/mAh``, ``Energy/mWh``, ``AuxTemp/dC.`` (°C), then
``SysTime``, ``Cycle-Index``, ``Step-Index`` and ``Step-State`` (``R`` rest, ``RateC`` charge,
``RateD`` discharge, …). Units are converted to s, A, V, Ah and Wh; times written as
``hh:mm:ss`` or ``d-hh:mm:ss`` are read too.

The current is signed (negative while discharging) and made so from the step state where a
file writes magnitudes. ``Capacity`` and ``Energy`` are unsigned counters shared by both
directions: they restart when the direction changes and carry through rests, so they are split
into charge and discharge counters by the step state. ``Step-Index`` numbers the steps
consecutively through the test (it is kept as ``step_index``, the cycler's step number).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from ..schema import STEP_TYPES
from .base import regex_column
from .tabular import (
    FIRST_ROW_KEY,
    TableReader,
    datetime_seconds,
    directional_counter,
    hms_to_seconds,
)

_c = regex_column

COLUMNS = [
    _c(r"Record(\s*(ID|Index|No\.?))?", "data_point", kind="int"),
    _c(r"Current/A", "current_ampere"),
    _c(r"Current/mA", "current_ampere", scale=1e-3),
    _c(r"Current/(uA|µA)", "current_ampere", scale=1e-6),
    _c(r"Voltage/V", "voltage_volt"),
    _c(r"Voltage/mV", "voltage_volt", scale=1e-3),
    _c(r"Power/W", "power_watt"),
    _c(r"Power/mW", "power_watt", scale=1e-3),
    _c(r"Capacity/Ah", "landt_capacity_ah"),
    _c(r"Capacity/mAh", "landt_capacity_ah", scale=1e-3),
    _c(r"Capacity/(uAh|µAh)", "landt_capacity_ah", scale=1e-6),
    _c(r"Energy/Wh", "landt_energy_wh"),
    _c(r"Energy/mWh", "landt_energy_wh", scale=1e-3),
    _c(r"Cycle[-_ ]?Index", "cycle_count", kind="int"),
    _c(r"Step[-_ ]?Index", "step_index", kind="int"),
    _c(r"Step[-_ ]?State", "landt_step_state", kind="category"),
    _c(r"AuxTemp/(dC\.?|°C|degC|C)", "ambient_temperature_celsius"),
    _c(r"AuxVolt/V", "landt_aux_voltage_volt"),
    _c(r"SysTime|System Time|Real ?Time", "landt_systime", kind="string"),
]

#: Seconds per unit of a time column (``TestTime/Sec``, ``TestTime/h`` …).
TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 1e-3,
    "min": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}


def landt_step_types(labels: list[str]) -> np.ndarray:
    """Step-type codes (:data:`batteryviz.schema.STEP_TYPES`) of LANHE step-state names: ``R``
    or ``Rest`` rest; names ending in ``D`` or naming a discharge (``RateD``, ``CCD``, ``DChg``)
    discharge; names ending in ``C`` or naming a charge (``RateC``, ``CCCV-C``) charge; other."""
    out = []
    for label in labels:
        low = label.strip().lower()
        if low in ("r", "rest", "pause", "p", "ocv", "open") or low.startswith("rest"):
            out.append(STEP_TYPES["rest"])
        elif "dchg" in low or "disch" in low or low.endswith("d"):
            out.append(STEP_TYPES["discharge"])
        elif "chg" in low or "charge" in low or low.endswith("c"):
            out.append(STEP_TYPES["charge"])
        else:
            out.append(STEP_TYPES["other"])
    return np.array(out, dtype=np.int8)


def time_column(names: list[str], prefix: str) -> tuple[str, float] | None:
    """The column ``<prefix>/<unit>`` (or ``<prefix>`` alone) and the seconds per unit of its
    plain numbers (1 for a unit that is not one of :data:`TIME_UNITS`, such as ``h:m:s``: its
    values are then durations)."""
    for name in names:
        m = re.fullmatch(rf"{prefix}\s*(?:/\s*(.+?)\.?)?", name.strip(), flags=re.IGNORECASE)
        if m:
            return name, TIME_UNITS.get((m.group(1) or "s").strip().lower(), 1.0)
    return None


class LandtReader(TableReader):
    """LANHE (Landt) record tables: Excel workbooks (sheet ``Record-Tab``) and their text form."""

    name = "landt"
    suffixes = (".xlsx", ".xls", ".csv", ".txt")
    description = "LANHE (Landt) battery test export (Record-Tab)"
    priority = 60
    #: the record table's column line: ``TestTime`` and the voltage with its unit after a slash
    header_pattern = r"TestTime\b.*Voltage\s*/\s*m?V\b|Voltage\s*/\s*m?V\b.*TestTime\b"
    columns = COLUMNS
    vendor = "landt"
    text_columns = ("SysTime", "System Time", "Step-State", "Step State", "Step_State")

    def workbook_sheets(self, sheets: list[str]) -> list[str]:
        """The record sheet(s): ``Record-Tab`` (``Record-Tab2`` … when the software split it)."""
        return [
            s
            for s in sheets
            if re.fullmatch(r"record[-_ ]?tab(le)?[-_ ]?\d*", s.strip(), flags=re.IGNORECASE)
        ]

    def numeric_column(self, name: str) -> bool:
        # times may be hh:mm:ss text: converted (strictly) in postprocess
        if time_column([name], "TestTime") or time_column([name], "StepTime"):
            return False
        return super().numeric_column(name)

    def postprocess(self, data: dict, df: pl.DataFrame, meta: dict, path: Path) -> None:
        first = meta.get(FIRST_ROW_KEY)
        for prefix, target in (("TestTime", "test_time_second"), ("StepTime", "step_time_second")):
            found = time_column(df.columns, prefix)
            if found:
                name, scale = found
                data[target] = (
                    hms_to_seconds(df[name], path=path, first_line=first, plain_scale=scale),
                    {"source_column": name, "units": "s"},
                )
                for key in [k for k in data if k.startswith(f"landt_{prefix.lower()}")]:
                    data.pop(key)
        if "landt_systime" in data:
            source = data.pop("landt_systime")[1].get("source_column", "SysTime")
            unix = datetime_seconds(df[source])
            if unix is not None:
                data["unix_time_second"] = (
                    unix,
                    {"source_column": source, "note": "cycler local time, taken as UTC"},
                )
        st = None
        if "landt_step_state" in data:
            codes, attrs = data["landt_step_state"]
            st = landt_step_types(attrs["labels"].split("\t"))[codes]
            data["step_type"] = (st, {"derived_from": attrs.get("source_column", "Step-State")})
            if "current_ampere" in data:
                i, iattrs = data["current_ampere"]
                signed = np.where(
                    st == STEP_TYPES["discharge"],
                    -np.abs(i),
                    np.where(st == STEP_TYPES["charge"], np.abs(i), i),
                )
                data["current_ampere"] = (
                    signed,
                    {**iattrs, "note": "negative while the step state is a discharge"},
                )
        for raw, word, unit in (
            ("landt_capacity_ah", "capacity", "Ah"),
            ("landt_energy_wh", "energy", "Wh"),
        ):
            if raw not in data:
                continue
            values, attrs = data[raw]
            data[raw] = (values, {**attrs, "units": unit, "resets": "direction change"})
            if st is None:
                continue
            for role, code, direction in (
                (f"charge_{word}", STEP_TYPES["charge"], "charging"),
                (f"discharge_{word}", STEP_TYPES["discharge"], "discharging"),
            ):
                data[f"half_cycle_{direction}_{word}_{unit.lower()}"] = (
                    directional_counter(values, st, code),
                    {
                        "role": role,
                        "preference": 1,
                        "resets": "direction change",
                        "units": unit,
                        "derived_from": f"{attrs.get('source_column')} split by step state",
                    },
                )
        for name in ("ambient_temperature_celsius", "landt_aux_voltage_volt"):
            if name in data and np.isnan(np.asarray(data[name][0], dtype=float)).all():
                data.pop(name)  # the software writes "-" when no auxiliary channel is connected
        meta["cycler"] = "LANHE"
