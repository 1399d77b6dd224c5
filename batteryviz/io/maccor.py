"""Maccor exports: MIMS text (tab), raw ``.0NN`` exports, and CSV.

* Time is ``TestTime`` as ``Nd hh:mm:ss.f`` text, ``Test (Sec)``, ``Test (Min)`` or
  ``Test Time (sec)``; test time never comes from the wall clock (``DPt Time``), so a clock
  crossing midnight or a DST change does not disturb it.
* ``Amps`` is unsigned in MIMS exports; ``State`` (``C`` charge, ``D`` discharge, ``R`` rest,
  ``O`` other) gives the direction and the reader applies the sign (positive charges).
* ``Amp-hr`` / ``Watt-hr`` count up within a charge or a discharge; they are split into a
  charge and a discharge counter by ``State``.
"""

from __future__ import annotations

import re

import numpy as np

from ..schema import STEP_TYPES
from .base import regex_column
from .tabular import TableReader, directional_counter, hms_to_seconds
from .text import Head


_c = regex_column


COLUMNS = [
    _c(r"Rec#?", "data_point", kind="int"),
    _c(r"Cyc#|Cycle C|Cycle", "cycle_count", kind="int"),
    _c(r"Step", "step_index", kind="int"),
    _c(r"Test \(Sec\)|Test Time \(sec\)", "test_time_second"),
    _c(r"Test \(Min\)", "test_time_second", scale=60.0),
    _c(r"Step \(Sec\)|Step Time \(sec\)", "step_time_second"),
    _c(r"Step \(Min\)", "step_time_second", scale=60.0),
    _c(r"Amps|Current", "current_ampere"),
    _c(r"Volts|Voltage", "voltage_volt"),
    _c(r"Amp-hr|Capacity", "maccor_amp_hr"),
    _c(r"Watt-hr|Energy", "maccor_watt_hr"),
    _c(r"DCIR/Ohms", "internal_resistance_ohm"),
    _c(r"ACImp/Ohms", "ac_resistance_ohm"),
    _c(r"Temp 1|Temp1", "ambient_temperature_celsius"),
    _c(r"State|MD", "maccor_state", kind="category"),
    _c(r"ES", "maccor_end_status", kind="int"),
]

STATE_TYPES = {"C": STEP_TYPES["charge"], "D": STEP_TYPES["discharge"], "R": STEP_TYPES["rest"]}


PREAMBLE_KEYS = ("Today's Date", "Date of Test", "Filename", "Tester Channel", "Procedure",
                 "Description", "Comment/Barcode")


def preamble_metadata(lines: list[str]) -> dict:
    """Known ``Key: value`` pairs of a Maccor preamble, however tabs and spaces separate them."""
    text = " ".join(lines).replace("\t", " ")
    found = []
    for key in PREAMBLE_KEYS:
        m = re.search(re.escape(key) + r"\s*:?", text, flags=re.IGNORECASE)
        if m:
            found.append((m.start(), m.end(), key))
    found.sort()
    meta = {}
    for k, (start, end, key) in enumerate(found):
        stop = found[k + 1][0] if k + 1 < len(found) else len(text)
        value = text[end:stop].strip().strip(",").strip()
        if value:
            meta[re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")] = value
    if "procedure" in meta:
        meta["test_plan"] = meta["procedure"]
    if "date_of_test" in meta:
        meta["start_of_test"] = meta["date_of_test"]
    return meta


class MaccorReader(TableReader):
    """Maccor MIMS text, raw ``.0NN`` and CSV exports."""

    name = "maccor"
    suffixes = (".txt", ".csv") + tuple(f".{k:03d}" for k in range(1000))
    description = "Maccor text/CSV export"
    priority = 70
    header_pattern = r"^\s*Rec#?\s*[\t,]\s*(Cyc#|Cycle)"
    columns = COLUMNS
    vendor = "maccor"
    text_columns = ("TestTime", "StepTime", "DPt Time", "DPT Time", "State", "MD")

    def sniff(self, head: Head) -> bool:
        if head.is_binary:
            return False
        k = self.header_index(head)
        return k is not None and k < 10

    def metadata(self, preamble):
        return preamble_metadata(preamble)

    def postprocess(self, data, df, meta, path):
        if "test_time_second" not in data:
            for name in ("TestTime", "Test Time"):
                if name in df.columns:
                    data["test_time_second"] = (hms_to_seconds(df[name]), {"source_column": name})
                    break
        if "step_time_second" not in data and "StepTime" in df.columns:
            data["step_time_second"] = (hms_to_seconds(df["StepTime"]), {"source_column": "StepTime"})
        for name in ("TestTime", "StepTime"):
            data.pop(f"maccor_{name.lower()}", None)
        if "maccor_state" in data:
            codes, attrs = data["maccor_state"]
            labels = attrs["labels"].split("\t")
            lut = np.array([STATE_TYPES.get(lbl.strip().upper(), STEP_TYPES["other"]) for lbl in labels], dtype=np.int8)
            st = lut[codes]
            data["step_type"] = (st, {"derived_from": "State"})
            i, iattrs = data["current_ampere"]
            # MIMS writes |I|; the raw exports sometimes signed: make discharge negative either way
            i = np.where(st == STEP_TYPES["discharge"], -np.abs(i), np.where(st == STEP_TYPES["charge"], np.abs(i), i))
            data["current_ampere"] = (i, iattrs)
            for src, roles in (("maccor_amp_hr", ("charge_capacity", "discharge_capacity")), ("maccor_watt_hr", ("charge_energy", "discharge_energy"))):
                if src in data:
                    v = data[src][0]
                    unit = "ah" if "amp" in src else "wh"
                    for role, code, word in ((roles[0], STEP_TYPES["charge"], "charging"), (roles[1], STEP_TYPES["discharge"], "discharging")):
                        data[f"maccor_{word}_counter_{unit}"] = (
                            directional_counter(v, st, code),
                            {"role": role, "preference": 1, "resets": "direction change",
                             "derived_from": f"{data[src][1].get('source_column')} split by State",
                             "units": "Ah" if unit == "ah" else "Wh"},
                        )
        for name in ("DPt Time", "DPT Time"):
            key = "maccor_" + name.lower().replace(" ", "_")
            if key in data:
                data.pop(key)
        meta["cycler"] = "Maccor"
