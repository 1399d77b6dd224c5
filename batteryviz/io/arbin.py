"""Arbin exports: MITS Pro / DataPro CSV and Excel (``Channel_*`` sheets).

Three header dialects are mapped: ``Test_Time(s)`` (older, underscores), ``Test Time (s)``
(newer, spaces) and the flat export without units (``Test_Time``, ``Current``, ``DateTime`` as
Unix seconds; written by TRI's beep and others, in s, A, V, Ah, Wh, °C). Arbin's current is
positive while charging. ``Charge_Capacity`` and ``Discharge_Capacity`` accumulate within a
cycle and reset when ``Cycle_Index`` advances.

A flat export may come with a metadata sidecar, ``<name>_Metadata.csv`` (one row: Test_ID,
schedule file, start and end times …). Reading the data file attaches the sidecar's fields
to the dataset's attrs (``arbin_<field>``); reading the sidecar alone is refused with a
message saying what it is, since it holds no measurements.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..errors import BatteryvizError, quote
from .base import Reader, regex_column
from .tabular import TableReader, read_excel
from .text import Head, read_head

_c = regex_column


SP = r"[ _]?"  # "Test Time (s)" and "Test_Time(s)"

COLUMNS = [
    _c(rf"Data{SP}Point", "data_point", kind="int"),
    _c(rf"Test{SP}Time({SP}\(s\))?", "test_time_second"),
    _c(rf"Step{SP}Time({SP}\(s\))?", "step_time_second"),
    _c(rf"Cycle{SP}Index", "cycle_count", kind="int"),
    _c(rf"Step{SP}Index", "step_index", kind="int"),
    _c(rf"Current({SP}\(A\))?", "current_ampere"),
    _c(rf"Voltage({SP}\(V\))?", "voltage_volt"),
    _c(rf"Power({SP}\(W\))?", "power_watt"),
    _c(
        rf"Charge{SP}Capacity({SP}\(Ah\))?",
        "cycle_charging_capacity_ah",
        role="charge_capacity",
        resets="cycle",
        preference=2,
    ),
    _c(
        rf"Discharge{SP}Capacity({SP}\(Ah\))?",
        "cycle_discharging_capacity_ah",
        role="discharge_capacity",
        resets="cycle",
        preference=2,
    ),
    _c(
        rf"Charge{SP}Energy({SP}\(Wh\))?",
        "cycle_charging_energy_wh",
        role="charge_energy",
        resets="cycle",
    ),
    _c(
        rf"Discharge{SP}Energy({SP}\(Wh\))?",
        "cycle_discharging_energy_wh",
        role="discharge_energy",
        resets="cycle",
    ),
    _c(rf"Internal{SP}Resistance({SP}\(Ohm\))?", "internal_resistance_ohm"),
    _c(
        r"Aux_Temperature_1 \(C\)|Temperature \(C\)_1|Aux_Temperature\(C\)_1|Temperature",
        "ambient_temperature_celsius",
    ),
    _c(r"DateTime", "unix_time_second"),  # the flat export: Unix seconds
    _c(rf"Date{SP}Time", "arbin_date_time", kind="string"),
]

#: The column line of an Arbin metadata sidecar (``<name>_Metadata.csv``).
SIDECAR_HEADER = ",Test_ID,Device_ID,IV_Ch_ID,First_Start_DateTime"


class ArbinReader(TableReader):
    """Arbin CSV and Excel exports."""

    name = "arbin"
    suffixes = (".csv", ".xlsx", ".xls")
    description = "Arbin MITS Pro / DataPro CSV or Excel export"
    priority = 70
    header_pattern = (
        r"(Test[ _]?Time[ _]?\(s\)).*(Cycle[ _]?Index)|(Cycle[ _]?Index).*(Test[ _]?Time[ _]?\(s\))"
        r"|^Data_Point,Test_Time,DateTime,Step_Time,Step_Index,Cycle_Index,Current,Voltage"
    )
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
        flat = "Test_Time" in df.columns and "Current" in df.columns
        meta["variant"] = (
            "flat export without units (beep style)"
            if flat
            else "MITS Pro / DataPro export"
            + (", spaced names" if "Test Time (s)" in df.columns else "")
        )
        meta.update(sidecar_metadata(Path(path)))


def sidecar_metadata(path: Path) -> dict:
    """The fields of ``<stem>_Metadata.csv`` next to ``path`` as ``arbin_<field>`` attrs (none
    when there is no such file or it is not a sidecar)."""
    sidecar = path.with_name(f"{path.stem}_Metadata.csv")
    try:
        if not sidecar.is_file() or sidecar.stat().st_size > 1 << 20:
            return {}
        rows = list(csv.reader(io.StringIO(sidecar.read_text(encoding="utf-8", errors="replace"))))
    except OSError:
        return {}
    if len(rows) < 2 or not ",".join(rows[0]).startswith(SIDECAR_HEADER):
        return {}
    meta = {
        f"arbin_{k.strip().lower()}": v.strip()
        for k, v in zip(rows[0], rows[1])
        if k.strip() and v.strip()
    }
    meta["metadata_sidecar"] = sidecar.name
    if "arbin_schedule_file_name" in meta:
        meta.setdefault("test_plan", meta["arbin_schedule_file_name"])
    return meta


class ArbinSidecarReader(Reader):
    """Recognises an Arbin metadata sidecar to say what it is (it holds no measurements)."""

    name = "arbin_metadata"
    suffixes = (".csv",)
    description = "Arbin metadata sidecar (<name>_Metadata.csv), not a data file"
    priority = 71

    def sniff(self, head: Head) -> bool:
        return (
            not head.is_binary
            and bool(head.lines)
            and head.lines[0].lstrip("\ufeff").startswith(SIDECAR_HEADER)
        )

    def read(self, path, **_):
        path = Path(path)
        head = read_head(path)
        fields = dict(
            zip(
                next(csv.reader([head.lines[0]])),
                next(csv.reader([head.lines[1]])) if len(head.lines) > 1 else [],
            )
        )
        stem = path.stem[: -len("_Metadata")] if path.stem.endswith("_Metadata") else None
        what = ", ".join(
            f"{k} {quote(fields[k], 60)}"
            for k in ("Test_ID", "Schedule_File_Name")
            if fields.get(k)
        )
        raise BatteryvizError(
            f"this is an Arbin metadata sidecar ({what or 'one row of test metadata'}): it holds "
            f"no measurements. "
            + (
                f"Read its data file, {quote(stem + '.csv', 120)}, which attaches these fields"
                if stem
                else "Read the data file it belongs to, named like it without '_Metadata'"
            ),
            path=path,
        )


def _global_info(path: Path) -> dict:
    info = read_excel(path, sheet_name="Global_Info", header=None)
    meta = {}
    cells = [str(v) for v in info.values.ravel() if str(v) != "nan"]
    for key, value in zip(cells[:-1], cells[1:]):
        if key.rstrip(":").strip().lower() in (
            "schedule file name",
            "start datetime",
            "channel",
            "creator",
            "comments",
            "start date time",
        ):
            meta[key.rstrip(":").strip().lower().replace(" ", "_")] = value
    return meta
