"""PEC (SBT cyclers) CSV exports.

Layout: a preamble of ``Key:,value`` lines (``Request Year``, ``Test``, ``TestRegime Name``,
``Start Time`` …), a ``#RESULTS CHECK`` … ``#END RESULTS CHECK`` block, then one column line
starting ``Test,Cell,Rack,Shelf,Position`` and comma-separated rows.

* ``Total Time (Seconds)`` is the test time; ``Voltage (mV)`` and ``Current (mA)`` are in
  milli-units; the current is positive while charging (it is on the file's charge steps).
* ``Charge Capacity (mAh)`` / ``Discharge Capacity (mAh)`` count up within a cycle and restart
  at each cycle; the two columns PEC names ``Charge Capacity (mWh)`` / ``Discharge Capacity
  (mWh)`` hold energies and are read as such.
* ``Real Time`` (``MM/DD/YYYY hh:mm:ss``) is the wall clock, kept as ``unix_time_second``
  (the cycler PC's local time, read as UTC).
"""

from __future__ import annotations

import polars as pl

from .base import regex_column
from .tabular import TableReader
from .text import Head

_c = regex_column

COLUMNS = [
    _c(r"Total Time \(Seconds\)", "test_time_second"),
    _c(r"Step Time \(Seconds\)", "step_time_second"),
    _c(r"Voltage \(mV\)", "voltage_volt", scale=1e-3),
    _c(r"Current \(mA\)", "current_ampere", scale=1e-3),
    _c(r"Cycle", "cycle_count", kind="int"),
    _c(r"Step", "step_index", kind="int"),
    _c(
        r"Charge Capacity \(mAh\)",
        "cycle_charging_capacity_ah",
        scale=1e-3,
        role="charge_capacity",
        resets="cycle",
        preference=2,
    ),
    _c(
        r"Discharge Capacity \(mAh\)",
        "cycle_discharging_capacity_ah",
        scale=1e-3,
        role="discharge_capacity",
        resets="cycle",
        preference=2,
    ),
    _c(
        r"Charge Capacity \(mWh\)",
        "cycle_charging_energy_wh",
        scale=1e-3,
        role="charge_energy",
        resets="cycle",
    ),
    _c(
        r"Discharge Capacity \(mWh\)",
        "cycle_discharging_energy_wh",
        scale=1e-3,
        role="discharge_energy",
        resets="cycle",
    ),
    _c(r"Ambient temperature \(.*C\)", "ambient_temperature_celsius"),
    _c(r"Cell surface temperature \(.*C\)", "surface_temperature_celsius"),
    _c(r"DC Internal Resistance \(mOhm\)", "internal_resistance_ohm", scale=1e-3),
]

#: The column line: its first five names are PEC's own.
HEADER = r"^Test,Cell,Rack,Shelf,Position,"


class PecReader(TableReader):
    """PEC SBT cycler CSV exports."""

    name = "pec"
    suffixes = (".csv",)
    description = "PEC (SBT) cycler CSV export"
    priority = 72
    header_pattern = HEADER
    columns = COLUMNS
    vendor = "pec"
    text_columns = ("Rack", "Shelf", "Cell ID", "Real Time", "Position Start Time")

    def sniff(self, head: Head) -> bool:
        if head.is_binary:
            return False
        k = self.header_index(head)
        # the column line, and PEC's preamble keys before it
        return (
            k is not None
            and k < 200
            and any(
                ln.startswith(("TestRegime Name:", "#RESULTS CHECK", "Request Year:"))
                for ln in head.lines[:k]
            )
        )

    def postprocess(self, data, df, meta, path):
        for name in ("Real Time", "Position Start Time"):
            data.pop("pec_" + name.lower().replace(" ", "_"), None)
        if "Real Time" in df.columns:
            stamps = (
                df["Real Time"]
                .str.strip_chars()
                .str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M:%S", strict=False)
            )
            if stamps.null_count() < stamps.len():
                data["unix_time_second"] = (
                    (stamps.dt.epoch("us").cast(pl.Float64) / 1e6).to_numpy(),
                    {
                        "source_column": "Real Time",
                        "note": "local time of the cycler PC, read as UTC",
                    },
                )
        meta["cycler"] = "PEC"
        if "start_time" in meta:
            meta.setdefault("start_of_test", meta["start_time"])
        if "testregime_name" in meta:
            meta.setdefault("test_plan", meta["testregime_name"])
