"""Neware BTS binary files, ``.nda`` and ``.ndax`` (BTS 7, 8 and 9), through fastnda.

fastnda (BSD-3-Clause, a maintained reader of the field) decodes the records; this module maps
them to the cell dataset: current in A (positive charges), test time from the file's total
time, the cycler's cycle and step counters as written, auxiliary temperatures, and the per-step
capacity and energy split into charge and discharge counters by step type (they reset at
every step, which the summary's counter rule handles).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import polars as pl

from .. import schema
from ..errors import BatteryvizError, BinaryFileError, MissingColumnError
from ..schema import STEP_TYPES
from .base import Reader, categorical
from .finish import finish
from .limits import check_zip
from .tabular import directional_counter
from .text import Head, read_head

NDA_MAGIC = b"NEWARE"
NDAX_REQUIRED = ("data.ndc",)


def _fastnda():
    try:
        import fastnda
    except ImportError:  # pragma: no cover - a core dependency
        raise BatteryvizError(
            "reading Neware .nda/.ndax needs fastnda: pip install fastnda"
        ) from None
    return fastnda


class NewareBinaryReader(Reader):
    """Neware ``.nda`` / ``.ndax`` binary files."""

    name = "neware_nda"
    suffixes = (".nda", ".ndax")
    description = "Neware BTS binary file (.nda, .ndax)"
    priority = 95

    def sniff(self, head: Head) -> bool:
        if head.raw.startswith(NDA_MAGIC):
            return True
        if head.raw.startswith(b"PK\x03\x04"):
            try:
                with zipfile.ZipFile(head.path) as zf:
                    names = zf.namelist()
            except (zipfile.BadZipFile, OSError):
                return False
            return "data.ndc" in names or any(n.endswith(".ndc") for n in names)
        return False

    def _check(self, path: Path, head: Head) -> None:
        if head.raw.startswith(NDA_MAGIC):
            return
        if head.raw.startswith(b"PK\x03\x04"):
            names = check_zip(path)  # refuses archives that would expand like a bomb
            try:
                with zipfile.ZipFile(path) as zf:
                    bad = zf.testzip()
            except Exception as exc:  # noqa: BLE001 - zlib/isal/zipfile each raise their own on damaged members
                raise BatteryvizError(
                    f"not a readable .ndax (zip) file ({type(exc).__name__}: {exc}); the file may "
                    f"be "
                    "truncated or damaged",
                    path=path,
                ) from None
            missing = [m for m in NDAX_REQUIRED if m not in names]
            if missing:
                raise MissingColumnError(
                    f".ndax archive without its {', '.join(missing)} member (has "
                    f"{', '.join(names)}); "
                    "export the test again from BTS",
                    path=path,
                )
            if bad is not None:
                raise BatteryvizError(f".ndax member {bad} is corrupt (CRC mismatch)", path=path)
            return
        kind = "text" if not head.is_binary else "binary data of another kind"
        raise BinaryFileError(
            f"not a Neware .nda/.ndax file: it does not start with 'NEWARE' and is not an .ndax "
            f"archive (found {kind})",
            path=path,
        )

    def read(self, path, **_):
        path = Path(path)
        head = read_head(path)
        self._check(path, head)
        fastnda = _fastnda()
        try:
            df = fastnda.read(path, cycle_mode="raw", raw_categories=False)
        except BatteryvizError:
            raise
        except Exception as exc:
            raise BatteryvizError(
                f"fastnda could not decode this file ({type(exc).__name__}: {exc}); it may be "
                "truncated or written by an unsupported BTS version",
                path=path,
            ) from None
        if df.height == 0:
            raise BatteryvizError("the file holds no records", path=path)
        meta: dict = {"cycler": "Neware"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                raw_meta = fastnda.read_metadata(path)
            except Exception as exc:  # metadata is a bonus; the records are what matter
                raw_meta = {}
                meta["metadata_error"] = f"{type(exc).__name__}: {exc}"
        notes = [f"fastnda: {w.message}" for w in caught]
        meta.update(_flatten_metadata(raw_meta))
        names = df["step_type"].cast(pl.String).fill_null("")
        step_codes, step_attrs = categorical(names)
        st = schema.step_type_codes(step_attrs["labels"].split("\t"))[step_codes]
        current = df["current_mA"].cast(pl.Float64).to_numpy() / 1000.0
        data = {
            "test_time_second": (
                df["total_time_s"].cast(pl.Float64).to_numpy(),
                {"source_column": "total_time_s"},
            ),
            "voltage_volt": (
                df["voltage_V"].cast(pl.Float64).to_numpy(),
                {"source_column": "voltage_V"},
            ),
            "current_ampere": (current, {"source_column": "current_mA"}),
            "unix_time_second": (
                df["unix_time_s"].cast(pl.Float64).to_numpy(),
                {"source_column": "unix_time_s"},
            ),
            "step_time_second": (
                df["step_time_s"].cast(pl.Float64).to_numpy(),
                {"source_column": "step_time_s"},
            ),
            "cycle_count": (
                df["cycle_count"].cast(pl.Int64).to_numpy(),
                {"source_column": "cycle_count"},
            ),
            "step_count": (
                df["step_count"].cast(pl.Int64).to_numpy(),
                {"source_column": "step_count"},
            ),
            "step_index": (
                df["step_index"].cast(pl.Int64).to_numpy(),
                {"source_column": "step_index"},
            ),
            "data_point": (df["index"].cast(pl.Int64).to_numpy(), {"source_column": "index"}),
            "neware_step_type": (step_codes, {"source_column": "step_type", **step_attrs}),
            "step_type": (st, {"derived_from": "step_type"}),
        }
        for src, unit, scale, word in (
            ("capacity_mAh", "ah", 1e-3, "capacity"),
            ("energy_mWh", "wh", 1e-3, "energy"),
        ):
            if src in df.columns:
                v = np.abs(df[src].cast(pl.Float64).to_numpy()) * scale
                data[f"step_{word}_{unit}"] = (
                    v,
                    {
                        "source_column": src,
                        "units": "Ah" if unit == "ah" else "Wh",
                        "resets": "step",
                    },
                )
                for role, code, direction in (
                    (f"charge_{word}", STEP_TYPES["charge"], "charging"),
                    (f"discharge_{word}", STEP_TYPES["discharge"], "discharging"),
                ):
                    data[f"step_{direction}_{word}_{unit}"] = (
                        directional_counter(v, st, code),
                        {
                            "role": role,
                            "preference": 2,
                            "resets": "step",
                            "derived_from": f"{src} split by step type",
                            "units": "Ah" if unit == "ah" else "Wh",
                        },
                    )
        temps = [c for c in df.columns if re.match(r"aux\d*_temperature_degC", c)]
        for k, c in enumerate(temps):
            target = "ambient_temperature_celsius" if k == 0 else f"temperature_t{k + 1}_celsius"
            data[target] = (
                df[c].cast(pl.Float64).to_numpy(),
                {"source_column": c, "units": "degC"},
            )
        for c in df.columns:
            if c.startswith("aux") and c not in temps:
                data[f"neware_{c.lower()}"] = (
                    df[c].cast(pl.Float64).to_numpy(),
                    {"source_column": c},
                )
        assert all(r in data for r in schema.REQUIRED)
        return finish(data, meta, path=path, notes=notes, reader=self.name)


def _flatten_metadata(raw) -> dict:
    """Scalar entries of fastnda's metadata (nested dicts flattened with ``_``)."""
    out = {}

    def walk(prefix, value, depth=0):
        if depth > 3:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}_{k}" if prefix else str(k), v, depth + 1)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            key = re.sub(r"[^0-9a-z]+", "_", prefix.lower()).strip("_")
            if key and len(str(value)) < 500 and not key.startswith("unknown"):
                out[f"neware_{key}"] = value

    walk("", raw if isinstance(raw, dict) else {})
    if "neware_active_mass_mg" in out:
        try:
            mass = float(out["neware_active_mass_mg"])
            if mass > 0:
                out["active_mass_mg"] = mass
        except (TypeError, ValueError):
            pass
    return dict(list(out.items())[:80])
