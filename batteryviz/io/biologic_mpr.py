"""BioLogic EC-Lab / BT-Lab binary ``.mpr`` files — our own parser (no GPL code involved).

Layout (little endian), as read from the files themselves:

* a 52-byte file header starting ``BIO-LOGIC MODULAR FILE\\x1a``;
* modules, each ``MODULE`` + a 10-byte short name (``VMP Set``, ``VMP data``, ``VMP LOG``,
  ``VMP loop``) + a 25-byte long name, then either ``length u32, version u32, date 8 bytes``
  (files before EC-Lab 11.50) or ``0xFFFFFFFF, length u32, version u32, u32, date`` (11.50 on);
* the ``VMP data`` module: number of points ``u32``, number of columns (``u8`` before 11.50,
  ``u16`` after), the column ids (``u16`` each), then fixed-size records at the end of the
  module. Ids 1, 2, 3, 21, 31 and 65 (mode, ox/red, error, control changes, Ns changes,
  counter inc.) share one flag byte; every other id has one field whose name and type are in
  :data:`COLUMN_IDS`.

The record size is the sum of the field sizes, and the records end where the module ends, so
no version-specific offset is needed when every id is known — and a wrong field size shows up
as an inconsistency that is reported, never silently mis-read.

Column ids this table does not know (EC-Lab adds some with most releases) do not make a file
unreadable. The records start at a fixed offset from the module's start in each layout
(:data:`RECORDS_OFFSET`, measured on every real file in ``tests/data``), so the record size is
``(module length - offset) / points``, and what the unknown ids take is that minus the known
fields. When that splits evenly into 2, 4 or 8 bytes per unknown id, each is kept as
``biologic_column_<id>`` (4 and 8 bytes read as floats, 2 as an unsigned integer) with a warning
on the dataset that names the guess; when it does not, unknown ids at the end of the record are
skipped with a warning, and only unknown ids before known ones (whose position then cannot be
known) make the file unreadable.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .. import schema
from ..errors import BatteryvizError, BinaryFileError, ParseError
from .base import Reader
from .finish import finish
from .text import Head, read_head

MAGIC = b"BIO-LOGIC MODULAR FILE\x1a"
FLAG_IDS = {
    1: ("mode", 0x03),
    2: ("ox/red", 0x04),
    3: ("error", 0x08),
    21: ("control changes", 0x10),
    31: ("Ns changes", 0x20),
    65: ("counter inc.", 0x80),
}

#: Column id → (EC-Lab column name, numpy type). Checked against the real files in tests/data.
COLUMN_IDS: dict[int, tuple[str, str]] = {
    4: ("time/s", "<f8"),
    5: ("control/V/mA", "<f4"),
    6: ("Ewe/V", "<f4"),
    7: ("dq/mA.h", "<f8"),
    8: ("I/mA", "<f4"),
    9: ("Ece/V", "<f4"),
    11: ("<I>/mA", "<f8"),
    13: ("(Q-Qo)/mA.h", "<f8"),
    16: ("Analog IN 1/V", "<f4"),
    19: ("control/V", "<f4"),
    20: ("control/mA", "<f4"),
    23: ("dQ/mA.h", "<f8"),
    24: ("cycle number", "<f8"),
    26: ("Rapp/Ohm", "<f4"),
    27: ("Ewe-Ece/V", "<f4"),
    32: ("freq/Hz", "<f4"),
    33: ("|Ewe|/V", "<f4"),
    34: ("|I|/A", "<f4"),
    35: ("Phase(Z)/deg", "<f4"),
    36: ("|Z|/Ohm", "<f4"),
    37: ("Re(Z)/Ohm", "<f4"),
    38: ("-Im(Z)/Ohm", "<f4"),
    39: ("I Range", "<u2"),
    69: ("R/Ohm", "<f4"),
    70: ("P/W", "<f4"),
    74: ("|Energy|/W.h", "<f8"),
    75: ("Analog OUT/V", "<f4"),
    76: ("<I>/mA", "<f4"),
    77: ("<Ewe>/V", "<f4"),
    96: ("|Ece|/V", "<f4"),
    98: ("Phase(Zce)/deg", "<f4"),
    99: ("|Zce|/Ohm", "<f4"),
    100: ("Re(Zce)/Ohm", "<f4"),
    101: ("-Im(Zce)/Ohm", "<f4"),
    123: ("Energy charge/W.h", "<f8"),
    124: ("Energy discharge/W.h", "<f8"),
    125: ("Capacitance charge/µF", "<f8"),
    126: ("Capacitance discharge/µF", "<f8"),
    131: ("Ns", "<u2"),
    163: ("|Estack|/V", "<f4"),
    168: ("Rcmp/Ohm", "<f4"),
    169: ("Cs/µF", "<f4"),
    172: ("Cp/µF", "<f4"),
    174: ("<Ewe>/V", "<f4"),
    430: ("Phase(Zwe-ce)/deg", "<f4"),
    431: ("|Zwe-ce|/Ohm", "<f4"),
    432: ("Re(Zwe-ce)/Ohm", "<f4"),
    433: ("-Im(Zwe-ce)/Ohm", "<f4"),
    462: ("Temperature/°C", "<f4"),
    467: ("Q charge/discharge/mA.h", "<f8"),
    468: ("half cycle", "<u4"),
    469: ("z cycle", "<u4"),
    471: ("<Ece>/V", "<f4"),
    # EC-Lab 11.27+ (CA, CP): identified against the .mpt exports of the same runs
    # (tests/data/corpus/biologic/bioconv_ca.*, bioconv_cp.*), value by value
    434: ("(Q-Qo)/C", "<f4"),
    435: ("dQ/C", "<f4"),
    441: ("<Ece>/V", "<f4"),
}

#: Where the records start, from the start of the ``VMP data`` module: (new layout, version)
#: → bytes. Used only to size the fields of column ids that :data:`COLUMN_IDS` does not know.
RECORDS_OFFSET = {(False, 2): 405, (False, 3): 406, (True, 0): 1007}
#: Size in bytes of an undecoded field → the type it is read as.
GUESSED_TYPES = {2: "<u2", 4: "<f4", 8: "<f8"}

#: EC-Lab column name → (dataset variable, scale to SI units)
TARGETS = {
    "time/s": ("test_time_second", 1.0),
    "Ewe/V": ("voltage_volt", 1.0),
    "<Ewe>/V": ("voltage_volt", 1.0),
    "I/mA": ("current_ampere", 1e-3),
    "<I>/mA": ("current_ampere", 1e-3),
    "Ece/V": ("counter_electrode_potential_volt", 1.0),
    "control/V/mA": ("biologic_control", 1.0),
    "control/V": ("control_voltage_volt", 1.0),
    "control/mA": ("control_current_ampere", 1e-3),
    "dq/mA.h": ("biologic_dq_ah", 1e-3),
    "(Q-Qo)/mA.h": ("net_capacity_ah", 1e-3),
    "cycle number": ("cycle_count", 1.0),
    "(Q-Qo)/C": ("net_capacity_ah", 1 / 3600),
    "dQ/C": ("biologic_dq_ah", 1 / 3600),
    "Ns": ("step_index", 1.0),
    "freq/Hz": ("frequency_hertz", 1.0),
    "Re(Z)/Ohm": ("real_impedance_ohm", 1.0),
    "-Im(Z)/Ohm": ("imaginary_impedance_ohm", -1.0),
    "|Z|/Ohm": ("absolute_impedance_ohm", 1.0),
    "Phase(Z)/deg": ("phase_angle_degree", 1.0),
    "P/W": ("power_watt", 1.0),
    "R/Ohm": ("internal_resistance_ohm", 1.0),
    "Temperature/°C": ("ambient_temperature_celsius", 1.0),
    "half cycle": ("biologic_half_cycle", 1.0),
    "Q charge/discharge/mA.h": ("half_cycle_capacity_ah", 1e-3),
    "Energy charge/W.h": ("half_cycle_charging_energy_wh", 1.0),
    "Energy discharge/W.h": ("half_cycle_discharging_energy_wh", 1.0),
    "|Energy|/W.h": ("half_cycle_energy_wh", 1.0),
}

TECHNIQUES = {
    4: "GCPL",
    29: "PEIS",
    30: "GEIS",
    0x6C: "MB",
    0x7F: "MB (Modulo Bat)",
    3: "CA",
    2: "CP",
    5: "CV",
    0x32: "OCV",
}


def modules(data: bytes, path) -> list[dict]:
    """The modules of an .mpr file: name, version, date and the byte range of their data."""
    if not data.startswith(MAGIC):
        raise BinaryFileError(
            "not a BioLogic .mpr file (it does not start with 'BIO-LOGIC MODULAR FILE')", path=path
        )
    out, pos = [], 52
    while pos < len(data):
        if data[pos : pos + 6] != b"MODULE":
            raise ParseError(
                f"expected a 'MODULE' marker at byte {pos}; the file is truncated or damaged",
                path=path,
            )
        short = data[pos + 6 : pos + 16].decode("latin-1").strip()
        head = pos + 41
        if head + 24 > len(data):
            raise ParseError(
                f"module {short!r} at byte {pos} is cut off in its header: the file is truncated",
                path=path,
            )
        if data[head : head + 4] == b"\xff\xff\xff\xff":  # EC-Lab 11.50 and later
            length, version = struct.unpack("<II", data[head + 4 : head + 12])
            date = data[head + 16 : head + 24]
            start = head + 24
        else:
            length, version = struct.unpack("<II", data[head : head + 8])
            date = data[head + 8 : head + 16]
            start = head + 16
        end = start + length
        if end > len(data):
            raise ParseError(
                f"module {short!r} claims {length} bytes but the file ends {end - len(data)} bytes "
                f"early: "
                "the file is truncated",
                path=path,
            )
        out.append(
            {
                "name": short,
                "version": version,
                "date": date.decode("latin-1", "replace"),
                "start": start,
                "end": end,
                "new_layout": data[head : head + 4] == b"\xff\xff\xff\xff",
            }
        )
        pos = end
    return out


def records(data: bytes, module: dict, path) -> np.ndarray:
    """Decode the ``VMP data`` module into a structured numpy array."""
    start, end = module["start"], module["end"]
    data = memoryview(data)[:end]  # a module's header never reads into the next (no copy)
    try:
        if module["new_layout"]:
            n_points, n_cols = struct.unpack("<IH", data[start : start + 6])
            ids = struct.unpack(f"<{n_cols}H", data[start + 6 : start + 6 + 2 * n_cols])
        else:
            n_points, n_cols = struct.unpack("<IB", data[start : start + 5])
            ids = struct.unpack(f"<{n_cols}H", data[start + 5 : start + 5 + 2 * n_cols])
    except struct.error:
        raise ParseError(
            f"the data module ({end - start} bytes) is too short for its own column list: the "
            "file is damaged",
            path=path,
        ) from None
    unknown = [i for i in ids if i not in COLUMN_IDS and i not in FLAG_IDS]
    guessed, skipped = _size_unknown(ids, unknown, n_points, module, path)
    fields = [("flags", "u1")] if any(i in FLAG_IDS for i in ids) else []
    repeats: dict[str, int] = {}  # a repeated id is named "name (2)", "name (3)" … in one pass
    for i in ids:
        if i in FLAG_IDS or i in skipped:
            continue
        name, dtype = COLUMN_IDS[i] if i in COLUMN_IDS else (f"column {i}", guessed[i])
        repeats[name] = repeats.get(name, 0) + 1
        fields.append((name if repeats[name] == 1 else f"{name} ({repeats[name]})", dtype))
    if skipped:
        fields.append(("skipped", f"V{skipped[-1]}"))
    dtype = np.dtype(fields)
    size = n_points * dtype.itemsize
    if size > end - start:
        raise ParseError(
            f"the data module holds {end - start} bytes but {n_points} records of {dtype.itemsize} "
            f"bytes "
            "need more: the file is truncated or a column type is wrong",
            path=path,
        )
    arr = np.frombuffer(data[end - size : end], dtype=dtype)
    flags = {FLAG_IDS[i][0]: FLAG_IDS[i][1] for i in ids if i in FLAG_IDS}
    notes = []
    if guessed:
        notes.append(
            f"BioLogic column id(s) {', '.join(map(str, guessed))} are not known to batteryviz: "
            f"kept undecoded as "
            + ", ".join(
                f"biologic_column_{i} ({np.dtype(t).itemsize} bytes read as {np.dtype(t).name})"
                for i, t in guessed.items()
            )
        )
    if skipped:
        notes.append(
            f"BioLogic column id(s) {', '.join(map(str, skipped[:-1]))} are not known to "
            f"batteryviz and their "
            f"{skipped[-1]} bytes per record cannot be split between them: skipped"
        )
    return arr, flags, notes


def _size_unknown(
    ids, unknown: list[int], n_points: int, module: dict, path
) -> tuple[dict[int, str], list[int]]:
    """Sizes of the fields of unknown column ids: ``({id: guessed type}, [skipped ids…, bytes])``
    (module docstring)."""
    if not unknown:
        return {}, []
    why = (
        f"unknown BioLogic column id(s) {', '.join(map(str, unknown))} in the data module (EC-Lab "
        "{detail}); export the file as .mpt text from EC-Lab, and report the ids with the EC-Lab "
        "version so they can be added"
    )
    offset = RECORDS_OFFSET.get((module["new_layout"], module["version"]))
    if offset is None or n_points == 0:
        raise ParseError(
            why.format(
                detail=f"data module version {module['version']}, whose record start is not known, "
                "so their size cannot be told"
            ),
            path=path,
        )
    known = sum(np.dtype(COLUMN_IDS[i][1]).itemsize for i in ids if i in COLUMN_IDS) + (
        1 if any(i in FLAG_IDS for i in ids) else 0
    )
    room = module["end"] - module["start"] - offset
    if room % n_points or room // n_points <= known:
        raise ParseError(
            why.format(
                detail=f"the module's {room} bytes of records do not divide into {n_points} "
                f"records "
                f"larger than the {known} bytes of the known fields"
            ),
            path=path,
        )
    extra = room // n_points - known
    if extra % len(unknown) == 0 and extra // len(unknown) in GUESSED_TYPES:
        return {i: GUESSED_TYPES[extra // len(unknown)] for i in unknown}, []
    tail = list(ids[len(ids) - len(unknown) :])
    if sorted(tail) == sorted(unknown):
        return {}, [*unknown, extra]
    raise ParseError(
        why.format(
            detail=f"{extra} bytes per record between known fields cannot be split between "
            f"{len(unknown)} ids"
        ),
        path=path,
    )


class BiologicMprReader(Reader):
    """BioLogic ``.mpr`` binary files (GCPL and other cycling techniques, PEIS/GEIS, Modulo Bat)."""

    name = "biologic_mpr"
    suffixes = (".mpr",)
    description = "BioLogic EC-Lab/BT-Lab binary .mpr"
    priority = 95

    def sniff(self, head: Head) -> bool:
        return head.raw.startswith(MAGIC)

    def read(self, path, **_):
        path = Path(path)
        head = read_head(path)
        if not head.raw.startswith(MAGIC):
            raise BinaryFileError(
                "not a BioLogic .mpr file (it does not start with 'BIO-LOGIC MODULAR FILE')",
                path=path,
            )
        data = path.read_bytes()
        mods = modules(data, path)
        by_name = {m["name"]: m for m in mods}
        if "VMP data" not in by_name:
            raise ParseError(f"no 'VMP data' module (modules: {', '.join(by_name)})", path=path)
        arr, flags, notes = records(data, by_name["VMP data"], path)
        if arr.size == 0:
            raise BatteryvizError("the data module holds no records", path=path)
        cols: dict = {}
        for name in arr.dtype.names:
            values = arr[name]
            if name == "skipped":
                continue
            if name == "flags":
                for flag, mask in flags.items():
                    shift = (mask & -mask).bit_length() - 1
                    cols[
                        f"biologic_{flag.replace(' ', '_').replace('.', '').replace('/', '_')}"
                    ] = (((values & mask) >> shift).astype(np.int8), {"source_column": flag})
                continue
            target, scale = TARGETS.get(name, (None, 1.0))
            if target is None or target in cols:
                target = (
                    "biologic_"
                    + "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()
                )
            v = (
                values.astype(np.int64)
                if values.dtype.kind in "ui" and target in ("cycle_count", "step_index")
                else values.astype(np.float64) * scale
            )
            cols[target] = (v, {"source_column": name})
        if "cycle_count" in cols:
            cols["cycle_count"] = (cols["cycle_count"][0].astype(np.int64), cols["cycle_count"][1])
        if "current_ampere" not in cols:
            if "biologic_dq_ah" in cols:
                dq = cols["biologic_dq_ah"][0]
                t = cols["test_time_second"][0]
                dt = np.diff(t, prepend=t[:1])
                with np.errstate(invalid="ignore", divide="ignore"):
                    current = np.where(dt > 0, dq * 3600.0 / dt, 0.0)
                cols["current_ampere"] = (
                    current,
                    {"derived_from": "dq/mA.h / Δt", "note": "the file has no current column"},
                )
                notes.append(
                    "no current column in the file: current derived from dq/mA.h and the time step"
                )
            else:
                n = arr.size
                cols["current_ampere"] = (
                    np.zeros(n),
                    {"note": "the file has no current column: zero assumed"},
                )
                notes.append(
                    "no current column and no dq/mA.h in the file: current set to 0 (rest or "
                    "open-circuit data)"
                )
        if "half_cycle_capacity_ah" in cols:
            q = cols["half_cycle_capacity_ah"][0]
            cols["half_cycle_charging_capacity_ah"] = (
                np.clip(q, 0, None),
                {
                    "role": "charge_capacity",
                    "preference": 2,
                    "resets": "half cycle",
                    "derived_from": "Q charge/discharge/mA.h > 0",
                },
            )
            cols["half_cycle_discharging_capacity_ah"] = (
                np.clip(-q, 0, None),
                {
                    "role": "discharge_capacity",
                    "preference": 2,
                    "resets": "half cycle",
                    "derived_from": "Q charge/discharge/mA.h < 0",
                },
            )
        if (
            "real_impedance_ohm" not in cols
            and "absolute_impedance_ohm" in cols
            and "phase_angle_degree" in cols
        ):
            mod, phase = (
                cols["absolute_impedance_ohm"][0],
                np.deg2rad(cols["phase_angle_degree"][0]),
            )
            cols["real_impedance_ohm"] = (
                mod * np.cos(phase),
                {"derived_from": "|Z|/Ohm and Phase(Z)/deg"},
            )
            cols["imaginary_impedance_ohm"] = (
                mod * np.sin(phase),
                {"derived_from": "|Z|/Ohm and Phase(Z)/deg"},
            )
        if "voltage_volt" not in cols:
            raise BatteryvizError(
                f"no working-electrode potential column (columns: {', '.join(arr.dtype.names)})",
                path=path,
            )
        meta = {
            "cycler": "BioLogic",
            "mpr_modules": ", ".join(f"{m['name']} v{m['version']}" for m in mods),
        }
        settings = by_name.get("VMP Set")
        if settings is not None:
            meta.update(_settings(data, settings))
        meta["date"] = by_name["VMP data"]["date"]
        data_module = by_name["VMP data"]
        meta["variant"] = f"data module v{data_module['version']}, " + (
            "module header of EC-Lab 11.50 and later"
            if data_module["new_layout"]
            else "module header before EC-Lab 11.50"
        )
        assert all(r in cols for r in schema.REQUIRED)
        return finish(cols, meta, path=path, notes=notes, reader=self.name)


def _settings(data: bytes, module: dict) -> dict:
    """Technique and comment from the settings module (what is safely located in every version)."""
    start = module["start"]
    code = data[start]
    out = {"technique": TECHNIQUES.get(code, f"code {code}")}
    n = data[start + 7] if start + 7 < module["end"] else 0
    comment = data[start + 8 : start + 8 + n].decode("latin-1", "replace").strip("\x00").strip()
    if comment:
        out["comments"] = comment.replace("\r\n", " / ")
    return out
