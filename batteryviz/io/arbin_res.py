"""Arbin ``.res`` result files (Microsoft Access / Jet databases), through mdbtools.

``mdb-export`` (Debian/Ubuntu: ``apt-get install mdbtools``; macOS: ``brew install mdbtools``)
dumps the tables; this module maps them to the cell dataset:

* ``Channel_Normal_Table`` holds the records of every channel, keyed by ``Test_ID``;
* ``Global_Table`` names each test: channel, test name, start (an OLE date), schedule, mass (g);
* ``Auxiliary_Table`` holds auxiliary channels (``Data_Type`` 1 is temperature).

A multi-channel file holds one test per channel. ``channel=`` picks one by Arbin's
``Channel_Index`` (``test_id=`` by ``Test_ID``); the default is the first test in
``Global_Table``, and ``attrs["channels"]`` lists them all (``batteryviz info`` prints it).
Current is positive while charging; ``Charge_Capacity``/``Discharge_Capacity`` accumulate within
a cycle.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from ..errors import BatteryvizError, BinaryFileError, EmptyFileError, TruncatedFileError
from .base import Column, Reader, apply_column_map
from .finish import finish
from .text import Head, read_head

JET_MAGIC = (b"Standard Jet DB", b"Standard ACE DB")
INSTALL_HINT = (
    "reading Arbin .res files needs mdbtools' mdb-export on the PATH: apt-get install mdbtools "
    "(Debian/Ubuntu), dnf install mdbtools (Fedora), brew install mdbtools (macOS); or export the "
    "test as CSV/Excel from MITS Pro and read that"
)

COLUMNS = [
    Column("Data_Point", "data_point", kind="int"),
    Column("Test_Time", "test_time_second"),
    Column("Step_Time", "step_time_second"),
    Column("Step_Index", "step_index", kind="int"),
    Column("Cycle_Index", "cycle_count", kind="int"),
    Column("Current", "current_ampere"),
    Column("Voltage", "voltage_volt"),
    Column(
        "Charge_Capacity",
        "cycle_charging_capacity_ah",
        role="charge_capacity",
        resets="cycle",
        preference=2,
    ),
    Column(
        "Discharge_Capacity",
        "cycle_discharging_capacity_ah",
        role="discharge_capacity",
        resets="cycle",
        preference=2,
    ),
    Column("Charge_Energy", "cycle_charging_energy_wh", role="charge_energy", resets="cycle"),
    Column(
        "Discharge_Energy", "cycle_discharging_energy_wh", role="discharge_energy", resets="cycle"
    ),
    Column("Internal_Resistance", "internal_resistance_ohm"),
    Column("AC_Impedance", "ac_resistance_ohm"),
]

OLE_EPOCH = datetime(1899, 12, 30)


def _export(path: Path, table: str) -> pl.DataFrame:
    exe = shutil.which("mdb-export")
    if exe is None:
        raise BatteryvizError(INSTALL_HINT, path=path)
    # "--" and an absolute path: a file named "-V.res" is a file, not an option
    try:
        proc = subprocess.run(
            [exe, "--", str(Path(path).resolve()), table], capture_output=True, timeout=3600
        )
    except subprocess.TimeoutExpired:
        raise BatteryvizError(
            f"mdb-export took over an hour on table {table}; the file may be damaged", path=path
        ) from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()
        raise BatteryvizError(
            f"mdb-export could not read table {table} ({msg[-1] if msg else 'no message'}); the "
            f"file "
            "may be truncated or not an Arbin result file",
            path=path,
        )
    if not proc.stdout.strip():
        return pl.DataFrame()
    return pl.read_csv(io.BytesIO(proc.stdout), infer_schema_length=None)


class ArbinResReader(Reader):
    """Arbin ``.res`` files (MS Access databases written by MITS Pro)."""

    name = "arbin_res"
    suffixes = (".res",)
    description = "Arbin .res result file (MS Access database, via mdbtools)"
    priority = 95

    def sniff(self, head: Head) -> bool:
        return head.raw[4:19] in JET_MAGIC

    def tests(self, path) -> pl.DataFrame:
        """``Global_Table``: one row per test (channel) in the file."""
        return _export(Path(path), "Global_Table")

    def read(self, path, *, channel: int | None = None, test_id: int | None = None, **_):
        """Read one channel's test.

        Parameters
        ----------
        channel
            Arbin ``Channel_Index`` of the test to read.
        test_id
            ``Test_ID`` of the test to read (alternative to ``channel``).
        """
        path = Path(path)
        head = read_head(path)
        if head.raw[4:19] not in JET_MAGIC:
            raise BinaryFileError(
                "not an Arbin .res file (no MS Access 'Standard Jet DB' header)", path=path
            )
        page = 2048 if head.raw[0x14:0x15] == b"\x00" else 4096  # Jet 3 pages, else Jet 4 / ACE
        if head.size % page:
            raise TruncatedFileError(
                f"the database is {head.size} bytes, not a whole number of its {page}-byte pages: "
                f"the file "
                "is truncated (copied while MITS Pro was writing it, or cut off in a transfer)",
                path=path,
            )
        glob = self.tests(path)
        if glob.height == 0:
            raise EmptyFileError("the .res file lists no test in Global_Table", path=path)
        listing = "; ".join(
            f"Test_ID {r['Test_ID']}: channel {r.get('Channel_Index')}, {r.get('Test_Name')}"
            for r in glob.iter_rows(named=True)
        )
        if test_id is None and channel is None:
            row = glob.row(0, named=True)
        else:
            key, value = ("Test_ID", test_id) if test_id is not None else ("Channel_Index", channel)
            match = glob.filter(pl.col(key) == value)
            if match.height == 0:
                raise BatteryvizError(
                    f"no test with {key} {value} in this file; it holds: {listing}", path=path
                )
            row = match.row(0, named=True)
        records = _export(path, "Channel_Normal_Table")
        if records.height == 0:
            raise EmptyFileError(
                "Channel_Normal_Table is empty: the test has no records", path=path
            )
        records = records.filter(pl.col("Test_ID") == row["Test_ID"]).sort("Data_Point")
        if records.height == 0:
            raise EmptyFileError(f"no records for Test_ID {row['Test_ID']}", path=path)
        data = apply_column_map(records, COLUMNS, path=path, vendor="arbin")
        data.pop("arbin_test_id", None)
        if "arbin_datetime" in data:
            days = records["DateTime"].cast(pl.Float64).to_numpy()
            data.pop("arbin_datetime")
            data["unix_time_second"] = (
                (days - 25569.0) * 86400.0,
                {"source_column": "DateTime", "note": "OLE date (cycler local time)"},
            )
        aux = _export(path, "Auxiliary_Table")
        if aux.height:
            temps = aux.filter((pl.col("Test_ID") == row["Test_ID"]) & (pl.col("Data_Type") == 1))
            for k, (idx, part) in enumerate(temps.group_by("Auxiliary_Index", maintain_order=True)):
                joined = records.select("Data_Point").join(
                    part.select("Data_Point", "X"), on="Data_Point", how="left"
                )
                target = (
                    "ambient_temperature_celsius" if k == 0 else f"temperature_t{k + 1}_celsius"
                )
                data[target] = (
                    joined["X"].cast(pl.Float64).to_numpy(),
                    {"source_column": f"Auxiliary_Table X (index {idx[0]})", "units": "degC"},
                )
        meta = {
            "cycler": "Arbin",
            "test_id": int(row["Test_ID"]),
            "channel": row.get("Channel_Index"),
            "test_name": row.get("Test_Name"),
            "test_plan": row.get("Schedule_File_Name"),
            "operator": row.get("Creator"),
            "comments": row.get("Comments"),
            "software_version": row.get("Software_Version"),
            "serial_number": row.get("Serial_Number"),
            "channels": listing,
        }
        start = row.get("Start_DateTime")
        if start is not None:
            meta["start_time"] = (OLE_EPOCH + timedelta(days=float(start))).isoformat(
                timespec="seconds"
            )
        mass = row.get("MASS")
        if mass:
            meta["active_mass_mg"] = float(mass) * 1000.0  # Arbin stores grams
        cap = row.get("Capacity")
        if cap:
            meta["nominal_capacity_ah"] = float(cap)
        return finish(
            data,
            {k: v for k, v in meta.items() if v is not None},
            path=path,
            notes=[],
            reader=self.name,
        )
