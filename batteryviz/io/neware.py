"""Neware BTS exports: flat CSV and Excel (sheet ``record``).

``Step Type`` names the step (``CC Chg``, ``CC DChg``, ``CCCV_Chg``, ``Rest``...); capacities
(``Chg. Cap.(Ah)``, ``DChg. Cap.(Ah)``) reset at every step. The current is negative while
discharging. ``Time`` is the step time and ``Cumulative Time`` the test time (``hh:mm:ss``);
without the latter, test time is built from the step times.
"""

from __future__ import annotations


import numpy as np

from ..schema import STEP_TYPES
from .base import regex_column
from .tabular import TableReader, hms_to_seconds


_c = regex_column


COLUMNS = [
    _c(r"DataPoint|Record ID|Record Index", "data_point", kind="int"),
    _c(r"Cycle Index|Cycle ID|Cycle", "cycle_count", kind="int"),
    _c(r"Step Index|Step ID|Steps", "step_index", kind="int"),
    _c(r"Step Type|Status", "neware_step_type", kind="category"),
    _c(r"Current\(A\)", "current_ampere"),
    _c(r"Current\(mA\)", "current_ampere", scale=1e-3),
    _c(r"Voltage\(V\)", "voltage_volt"),
    _c(r"Chg\. Cap\.\(Ah\)|Capacitance_Chg\(Ah\)", "step_charging_capacity_ah", role="charge_capacity", resets="step", preference=2),
    _c(r"DChg\. Cap\.\(Ah\)|Capacitance_DChg\(Ah\)", "step_discharging_capacity_ah", role="discharge_capacity", resets="step", preference=2),
    _c(r"Chg\. Cap\.\(mAh\)|Capacitance_Chg\(mAh\)", "step_charging_capacity_ah", scale=1e-3, role="charge_capacity", resets="step", preference=2),
    _c(r"DChg\. Cap\.\(mAh\)|Capacitance_DChg\(mAh\)", "step_discharging_capacity_ah", scale=1e-3, role="discharge_capacity", resets="step", preference=2),
    _c(r"Chg\. Energy\(Wh\)", "step_charging_energy_wh", role="charge_energy", resets="step"),
    _c(r"DChg\. Energy\(Wh\)", "step_discharging_energy_wh", role="discharge_energy", resets="step"),
    _c(r"Power\(W\)", "power_watt"),
    _c(r"T1\(.*C\)|Temperature\(.*C\)|Auxiliary temperature\(.*C\)", "ambient_temperature_celsius"),
]


def step_types_from_names(labels: list[str]) -> np.ndarray:
    out = []
    for lbl in labels:
        low = lbl.lower().replace("_", " ")
        if "dchg" in low or "discharge" in low:
            out.append(STEP_TYPES["discharge"])
        elif "chg" in low or "charge" in low:
            out.append(STEP_TYPES["charge"])
        elif "rest" in low or "pause" in low:
            out.append(STEP_TYPES["rest"])
        else:
            out.append(STEP_TYPES["other"])
    return np.array(out, dtype=np.int8)


class NewareReader(TableReader):
    """Neware BTS CSV and Excel exports."""

    name = "neware"
    suffixes = (".csv", ".xlsx")
    description = "Neware BTS CSV/Excel export"
    priority = 65
    header_pattern = r"(Step Type|Status).*(Chg\. Cap|Capacitance_Chg)|(Cycle Index|Cycle ID).*(Step Type|Status).*Voltage"
    columns = COLUMNS
    vendor = "neware"
    text_columns = ("Time", "Cumulative Time", "Date", "Realtime", "Total Time", "Step Type", "Status", "Module start-stop switch")

    def workbook_sheets(self, sheets):
        return [s for s in sheets if s.lower() == "record"]

    def postprocess(self, data, df, meta, path):
        for name in ("Cumulative Time", "Total Time"):
            if name in df.columns:
                data["test_time_second"] = (hms_to_seconds(df[name]), {"source_column": name, "units": "s"})
                break
        if "Time" in df.columns:
            step_t = hms_to_seconds(df["Time"])
            data["step_time_second"] = (step_t, {"source_column": "Time", "units": "s"})
            if "test_time_second" not in data:
                # test time from step times: add each step's duration at the step change
                new_step = np.r_[True, np.diff(step_t) < 0]
                offsets = np.where(new_step, np.r_[0, step_t[:-1]], 0)
                data["test_time_second"] = (np.cumsum(offsets) + step_t, {"derived_from": "step times"})
        for key in list(data):
            if key in ("neware_time", "neware_cumulative_time", "neware_total_time", "neware_date", "neware_realtime"):
                data.pop(key)
        if "neware_step_type" in data:
            codes, attrs = data["neware_step_type"]
            data["step_type"] = (step_types_from_names(attrs["labels"].split("\t"))[codes], {"derived_from": "Step Type"})
        meta["cycler"] = "Neware"
