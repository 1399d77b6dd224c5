"""BioLogic EC-Lab ``.mpt`` and BT-Lab ``.txt`` ASCII exports.

* Preamble: ``EC-Lab ASCII FILE`` / ``BT-Lab ASCII FILE`` then ``Nb header lines : N``; the
  column line is line N. Latin-1 (``µ``, ``°``), decimal comma or point, tab separated.
* Units are in the names (``I/mA``, ``(Q-Qo)/mA.h``) and are converted to A and Ah.
* The current is positive on oxidation of the working electrode, which charges a cell whose
  working electrode is the positive one (the usual full-cell and cathode half-cell wiring).
* ``time/s`` sometimes holds absolute timestamps; they become seconds since the first row.
* ``Q charge/mA.h`` and ``Q discharge/mA.h`` reset at every half cycle; ``-Im(Z)/Ohm`` is negated
  into ``imaginary_impedance_ohm`` (negative = capacitive).
* A Modulo Bat test saved as several files is read with ``bv.read([part1, part2, ...])``.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from .base import Evidence, regex_column
from .tabular import TableReader
from .text import Head

_c = regex_column


COLUMNS = [
    _c(r"time/s", "test_time_second"),
    _c(r"Ecell/V", "voltage_volt"),
    _c(r"Ewe/V|<Ewe>/V", "voltage_volt"),
    _c(r"Ewe/V", "working_electrode_potential_volt"),
    _c(r"Ece/V", "counter_electrode_potential_volt"),
    _c(r"I/mA|<I>/mA", "current_ampere", scale=1e-3),
    _c(r"I/A", "current_ampere"),
    _c(r"cycle number", "cycle_count", kind="int"),
    _c(r"Ns", "step_index", kind="int"),
    _c(r"Ns changes", "biologic_ns_changes", kind="int"),
    _c(r"half cycle", "biologic_half_cycle", kind="int"),
    _c(r"step time/s", "step_time_second"),
    _c(r"\(Q-Qo\)/mA\.h", "net_capacity_ah", scale=1e-3),
    _c(
        r"Q charge/mA\.h",
        "half_cycle_charging_capacity_ah",
        scale=1e-3,
        role="charge_capacity",
        resets="half cycle",
        preference=2,
        absolute=True,
    ),
    _c(
        r"Q discharge/mA\.h",
        "half_cycle_discharging_capacity_ah",
        scale=1e-3,
        role="discharge_capacity",
        resets="half cycle",
        preference=2,
        absolute=True,
    ),
    _c(r"Energy charge/W\.h", "half_cycle_charging_energy_wh", role="charge_energy", absolute=True),
    _c(
        r"Energy discharge/W\.h",
        "half_cycle_discharging_energy_wh",
        role="discharge_energy",
        absolute=True,
    ),
    _c(r"P/W|Pwe/W", "power_watt"),
    _c(r"Temperature/.*C", "ambient_temperature_celsius"),
    _c(r"freq/Hz", "frequency_hertz"),
    _c(r"Re\(Z\)/Ohm", "real_impedance_ohm"),
    _c(r"-Im\(Z\)/Ohm", "imaginary_impedance_ohm", scale=-1.0),
    _c(r"\|Z\|/Ohm", "absolute_impedance_ohm"),
    _c(r"Phase\(Z\)/deg", "phase_angle_degree"),
    _c(r"R/Ohm", "internal_resistance_ohm"),
]

_META = {
    "mass of active material": "active_mass",
    "characteristic mass": "characteristic_mass",
    "electrode surface area": "electrode_area",
    "acquisition started on": "start_time",
    "technique started on": "start_time",
    "run on channel": "channel",
    "device": "device",
    "battery capacity": "nominal_capacity",
}


#: Column names only EC-Lab/BT-Lab write (a headerless export is recognised by them).
EC_LAB_NAMES = frozenset(
    {
        "mode",
        "ox/red",
        "error",
        "control changes",
        "Ns changes",
        "counter inc.",
        "Ns",
        "time/s",
        "control/V",
        "control/mA",
        "control/V/mA",
        "Ewe/V",
        "<Ewe>/V",
        "I/mA",
        "<I>/mA",
        "dQ/C",
        "(Q-Qo)/C",
        "(Q-Qo)/mA.h",
        "I Range",
        "Rcmp/Ohm",
        "freq/Hz",
        "Re(Z)/Ohm",
        "-Im(Z)/Ohm",
        "|Z|/Ohm",
        "Phase(Z)/deg",
        "cycle number",
        "Ecell/V",
        "Q charge/discharge/mA.h",
    }
)


class BiologicTextReader(TableReader):
    """BioLogic EC-Lab ``.mpt`` and BT-Lab ``.txt`` exports."""

    name = "biologic"
    suffixes = (".mpt", ".txt")
    description = "BioLogic EC-Lab/BT-Lab ASCII export"
    priority = 80
    columns = COLUMNS
    vendor = "biologic"
    text_columns = (
        "time/s",
        "mode",
        "ox/red",
        "error",
        "control changes",
        "Ns changes",
        "counter inc.",
    )

    def sniff(self, head: Head) -> bool:
        if head.is_binary or not head.lines:
            return False
        return self.sniff_text(head.lines[0])

    @staticmethod
    def sniff_text(first_line: str) -> bool:
        return bool(re.match(r"(EC|BT)-Lab ASCII FILE", first_line.strip()))

    def score(self, head: Head) -> Evidence:
        """1 for the EC-Lab/BT-Lab header block; 0.9 for a file that starts (after blank lines)
        at a column line of EC-Lab's own names, tab separated — an export saved without its
        header block, whatever its first column is."""
        if self.sniff(head):
            return Evidence(1.0, "EC-Lab/BT-Lab ASCII export: header block")
        if head.is_binary:
            return Evidence(0.0, "a binary file")
        first = next((ln for ln in head.lines[:5] if ln.strip()), "")
        names = set(first.rstrip("\r\n").split("\t"))
        if len(names & EC_LAB_NAMES) >= 3 and ("time/s" in names or "freq/Hz" in names):
            return Evidence(
                0.9,
                f"EC-Lab column names without the header block "
                f"({', '.join(sorted(names & EC_LAB_NAMES)[:4])} …)",
            )
        return Evidence(0.0, "no 'EC-Lab ASCII FILE' header and no column line of EC-Lab names")

    def header_index(self, head: Head) -> int | None:
        k = self._header_index(head)
        if k is None:
            first = next((j for j, ln in enumerate(head.lines[:5]) if ln.strip()), None)
            if first is not None and len(set(head.lines[first].split("\t")) & EC_LAB_NAMES) >= 3:
                return first
        return k

    def _header_index(self, head: Head) -> int | None:
        for line in head.lines[:5]:
            m = re.match(r"Nb header lines\s*:\s*(\d+)", line)
            if m:
                return int(m.group(1)) - 1
        # "EC-Lab ASCII FILE" without the count: the column line holds "time/s"
        for k, line in enumerate(head.lines[:400]):
            if "time/s" in line and "\t" in line:
                return k
        return None

    def metadata(self, preamble):
        meta = {
            "cycler": "BioLogic",
            "software": preamble[0].split(" ASCII")[0].strip() if preamble else "",
        }
        if preamble and self.sniff_text(preamble[0]):
            meta["variant"] = f"{meta['software']} ASCII export, {len(preamble) + 1} header lines"
        else:
            meta["variant"] = (
                "EC-Lab ASCII export without its header block (starts at the column line)"
            )
        for line in preamble:
            key, sep, value = line.partition(" : ")
            if not sep:
                continue
            k = key.strip().lower()
            if k in _META:
                value = value.strip()
                name = _META[k]
                m = re.match(r"([-+0-9.,eE]+)\s*(\S*)", value)
                if name in ("active_mass", "characteristic_mass") and m:
                    num = float(m.group(1).replace(",", "."))
                    factor = {"g": 1000.0, "mg": 1.0, "µg": 1e-3, "ug": 1e-3}.get(
                        m.group(2).lower(), 1.0
                    )
                    meta[f"{name}_mg"] = num * factor
                elif name == "electrode_area" and m:
                    meta["electrode_area_cm2"] = float(m.group(1).replace(",", "."))
                elif name == "nominal_capacity" and m:
                    num = float(m.group(1).replace(",", "."))
                    meta["nominal_capacity_ah"] = num * (
                        1e-3 if m.group(2).lower().startswith("ma") else 1.0
                    )
                else:
                    meta[name] = value
        return meta

    def postprocess(self, data, df, meta, path):
        if "time/s" in df.columns:
            raw = df["time/s"].str.strip_chars()
            num = raw.str.replace(",", ".").cast(pl.Float64, strict=False)
            if num.null_count() > raw.null_count():
                stamps = raw.str.strptime(pl.Datetime("us"), "%m/%d/%Y %H:%M:%S%.f", strict=False)
                secs = (stamps - stamps.first()).dt.total_microseconds().cast(pl.Float64) / 1e6
                data["test_time_second"] = (
                    secs.to_numpy(),
                    {
                        "source_column": "time/s",
                        "units": "s",
                        "note": "absolute timestamps converted to seconds since the first row",
                    },
                )
                meta.setdefault("start_time", str(stamps.first()))
            else:
                data["test_time_second"] = (
                    num.to_numpy(),
                    {"source_column": "time/s", "units": "s"},
                )
        data.pop("biologic_time_per_s", None)
        if "voltage_volt" in data and "working_electrode_potential_volt" in data:
            if data["voltage_volt"][1].get("source_column") == data[
                "working_electrode_potential_volt"
            ][1].get("source_column"):
                data.pop("working_electrode_potential_volt")
        if "current_ampere" not in data and "voltage_volt" in data and "test_time_second" in data:
            n = data["voltage_volt"][0].size
            data["current_ampere"] = (
                np.zeros(n),
                {
                    "units": "A",
                    "note": "no current column in the file: zero assumed (rest or open-circuit "
                    "data)",
                },
            )
            meta["missing_current"] = "the file has no current column; current set to 0"
