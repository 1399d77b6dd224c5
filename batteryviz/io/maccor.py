"""Maccor exports: MIMS text (tab), raw ``.0NN`` exports, and CSV.

* Time is ``TestTime`` as ``Nd hh:mm:ss.f`` text, ``Test (Sec)``, ``Test (Min)`` or
  ``Test Time (sec)``; test time never comes from the wall clock (``DPt Time``), so a clock
  crossing midnight or a DST change does not disturb it.
* ``Amps`` is unsigned in MIMS exports; ``State`` (``C`` charge, ``D`` discharge, ``R`` rest,
  ``O`` other) gives the direction and the reader applies the sign (positive charges).
* ``Amp-hr`` / ``Watt-hr`` count up within a charge or a discharge; they are split into a
  charge and a discharge counter by ``State``.
* Exports re-saved by other tools write milli-units in the names (``mAmps``, ``mAmp-hr``,
  ``mWatt-hr``) and, in the one such file we know, millivolts under ``Volts``. ``Volts`` is read
  as millivolts only on that evidence together: milli-unit names beside it and no value a
  cell voltage could be (every finite |value| between 100 and 10,000); the dataset says so.
"""

from __future__ import annotations

import re

import numpy as np

from ..schema import STEP_TYPES
from .base import regex_column
from .tabular import NOTES_KEY, TableReader, directional_counter, hms_to_seconds
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
    _c(r"(Amps|Current)( ?\[A\]| ?\(A\))?", "current_ampere"),
    _c(r"mAmps|Current ?(\[mA\]|\(mA\))", "current_ampere", scale=1e-3),
    _c(r"(Volts|Voltage)( ?\[V\]| ?\(V\))?", "voltage_volt"),
    _c(r"(Amp-hr|Capacity|Cap\.)( ?\[Ah\]| ?\(Ah\))?", "maccor_amp_hr"),
    _c(r"mAmp-hr|(Capacity|Cap\.) ?(\[mAh\]|\(mAh\))", "maccor_amp_hr", scale=1e-3),
    _c(r"(Watt-hr|Energy)( ?\[Wh\]| ?\(Wh\))?", "maccor_watt_hr"),
    _c(r"mWatt-hr|Energy ?(\[mWh\]|\(mWh\))", "maccor_watt_hr", scale=1e-3),
    _c(r"DCIR/Ohms", "internal_resistance_ohm"),
    _c(r"ACImp/Ohms", "ac_resistance_ohm"),
    _c(r"Temp 1|Temp1", "ambient_temperature_celsius"),
    _c(r"State|MD", "maccor_state", kind="category"),
    _c(r"ES", "maccor_end_status", kind="int"),
]

STATE_TYPES = {"C": STEP_TYPES["charge"], "D": STEP_TYPES["discharge"], "R": STEP_TYPES["rest"]}


PREAMBLE_KEYS = (
    "Today's Date",
    "Date of Test",
    "Filename",
    "Tester Channel",
    "Procedure",
    "Description",
    "Comment/Barcode",
)


def preamble_metadata(lines: list[str]) -> dict:
    """Known ``Key: value`` pairs of a Maccor preamble, however tabs and spaces separate them."""
    meta = {}
    for line in lines:  # one "Key<TAB>value" or "Key:<TAB>value" per line (MIMS, German locale)
        m = re.match(r"^([A-Za-z][\w .#/()'-]{0,40}?)\s*:?\t+([^\t]+)$", line.strip("\r\n"))
        if m and m.group(2).strip():
            meta[re.sub(r"[^0-9a-z]+", "_", m.group(1).strip().lower()).strip("_")] = m.group(
                2
            ).strip()
    if len(meta) >= 3:
        if "procedure" in meta:
            meta["test_plan"] = meta["procedure"]
        if "started" in meta:
            meta["start_of_test"] = meta["started"]
        return meta
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


def _millivolts(data: dict, df, meta: dict) -> None:
    """Read ``Volts`` as millivolts when the file says so by its other columns (module
    docstring)."""
    if "voltage_volt" not in data:
        return
    v, attrs = data["voltage_volt"]
    milli_names = [c for c in df.columns if re.match(r"^m(Amps|Amp-hr|Watt-hr)$", c.strip())]
    if not milli_names or not re.match(r"^Volts$", str(attrs.get("source_column", "")).strip()):
        return
    finite = np.abs(v[np.isfinite(v)])
    if finite.size and finite.min() >= 100 and finite.max() <= 10_000:
        data["voltage_volt"] = (
            v * 1e-3,
            {
                **attrs,
                "note": (
                    f"'Volts' holds millivolts (values {finite.min():g}–{finite.max():g}, beside "
                    f"milli-unit columns "
                    f"{', '.join(milli_names)}): read as mV"
                ),
            },
        )
        meta.setdefault(NOTES_KEY, []).append(
            f"'Volts' read as millivolts: its values ({finite.min():g}–{finite.max():g}) are no "
            f"cell voltage and the "
            f"file's other columns are in milli-units ({', '.join(milli_names)})"
        )


class MaccorReader(TableReader):
    """Maccor MIMS text, raw ``.0NN`` and CSV exports."""

    name = "maccor"
    suffixes = (".txt", ".csv") + tuple(f".{k:03d}" for k in range(1000))
    description = "Maccor text/CSV export"
    priority = 70
    header_pattern = r"^\s*\ufeff?Rec#?\s*[\t,]\s*(Cyc#|Cycle)"
    columns = COLUMNS
    vendor = "maccor"
    text_columns = ("TestTime", "StepTime", "DPt Time", "DPT Time", "State", "MD")

    def sniff(self, head: Head) -> bool:
        if head.is_binary:
            return False
        k = self.header_index(head)
        return (
            k is not None and k < 20
        )  # a preamble of up to 13 lines plus blank lines (German MIMS)

    def metadata(self, preamble):
        return preamble_metadata(preamble)

    def postprocess(self, data, df, meta, path):
        if "test_time_second" not in data:
            for name in ("TestTime", "Test Time"):
                if name in df.columns:
                    data["test_time_second"] = (hms_to_seconds(df[name]), {"source_column": name})
                    break
        if "step_time_second" not in data and "StepTime" in df.columns:
            data["step_time_second"] = (
                hms_to_seconds(df["StepTime"]),
                {"source_column": "StepTime"},
            )
        for name in ("TestTime", "StepTime"):
            data.pop(f"maccor_{name.lower()}", None)
        _millivolts(data, df, meta)
        if "maccor_state" in data and "current_ampere" in data:
            codes, attrs = data["maccor_state"]
            labels = attrs["labels"].split("\t")
            lut = np.array(
                [STATE_TYPES.get(lbl.strip().upper(), STEP_TYPES["other"]) for lbl in labels],
                dtype=np.int8,
            )
            st = lut[codes]
            data["step_type"] = (st, {"derived_from": "State"})
            i, iattrs = data["current_ampere"]
            # MIMS writes |I|; the raw exports sometimes signed: make discharge negative either way
            i = np.where(
                st == STEP_TYPES["discharge"],
                -np.abs(i),
                np.where(st == STEP_TYPES["charge"], np.abs(i), i),
            )
            data["current_ampere"] = (i, iattrs)
            for src, roles in (
                ("maccor_amp_hr", ("charge_capacity", "discharge_capacity")),
                ("maccor_watt_hr", ("charge_energy", "discharge_energy")),
            ):
                if src in data:
                    v = data[src][0]
                    unit = "ah" if "amp" in src else "wh"
                    for role, code, word in (
                        (roles[0], STEP_TYPES["charge"], "charging"),
                        (roles[1], STEP_TYPES["discharge"], "discharging"),
                    ):
                        data[f"maccor_{word}_counter_{unit}"] = (
                            directional_counter(v, st, code),
                            {
                                "role": role,
                                "preference": 1,
                                "resets": "direction change",
                                "derived_from": f"{data[src][1].get('source_column')} split by "
                                f"State",
                                "units": "Ah" if unit == "ah" else "Wh",
                            },
                        )
        for name in ("DPt Time", "DPT Time"):
            key = "maccor_" + name.lower().replace(" ", "_")
            if key in data:
                data.pop(key)
        meta["cycler"] = "Maccor"
