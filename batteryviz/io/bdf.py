"""Battery Data Format (BDF) files: ``.bdf.csv`` and ``.bdf.parquet``, read and written.

BDF columns are either machine names (``voltage_volt``) or preferred labels
(``Voltage / V``); both are read. ``charging_capacity_ah``/``discharging_capacity_ah`` are,
by BDF's definition, cumulative since the test start and never reset.

Writing keeps every numeric record variable under its name; categorical variables are written
as their labels. Cell metadata goes to a JSON sidecar (``<name>.metadata.json``) because BDF
tables carry none.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import xarray as xr

from .. import schema
from ..atomic import atomic_path
from ..cycles import CYCLE_VARIABLES, RECORD_VARIABLES
from ..errors import BatteryvizError, EmptyFileError, MissingColumnError, ParseError, quote
from ..schema import CYCLE_DIM
from .base import Reader, categorical
from .finish import finish
from .lazy import DeferredColumns, deferred
from .limits import check_expansion
from .text import Head, raise_long_line, read_head, to_float_columns

LABELS = {v.label.lower(): v.name for v in schema.VARIABLES.values()}
COUNTER_ROLES = {
    "charging_capacity_ah": "charge_capacity",
    "discharging_capacity_ah": "discharge_capacity",
    "charging_energy_wh": "charge_energy",
    "discharging_energy_wh": "discharge_energy",
}


#: Units a BDF column may be written in (machine name suffix or label unit) → factor to the
#: unit of the batteryviz variable with the same quantity.
UNIT_FACTORS = {
    "second": {
        "second": 1.0,
        "s": 1.0,
        "millisecond": 1e-3,
        "ms": 1e-3,
        "minute": 60.0,
        "min": 60.0,
        "hour": 3600.0,
        "h": 3600.0,
        "day": 86400.0,
        "d": 86400.0,
    },
    "volt": {"volt": 1.0, "v": 1.0, "millivolt": 1e-3, "mv": 1e-3},
    "ampere": {"ampere": 1.0, "a": 1.0, "milliampere": 1e-3, "ma": 1e-3, "microampere": 1e-6},
    "ah": {"ah": 1.0, "ampere_hour": 1.0, "mah": 1e-3, "milliampere_hour": 1e-3},
    "wh": {"wh": 1.0, "watt_hour": 1.0, "mwh": 1e-3, "milliwatt_hour": 1e-3},
    "watt": {"watt": 1.0, "w": 1.0, "milliwatt": 1e-3, "mw": 1e-3},
    "celsius": {"celsius": 1.0, "degc": 1.0, "°c": 1.0},
    "ohm": {"ohm": 1.0, "milliohm": 1e-3, "mohm": 1e-3},
    "hertz": {"hertz": 1.0, "hz": 1.0},
}
#: Quantities named otherwise in earlier BDF drafts and in exports that follow BDF loosely.
LEGACY_QUANTITIES = {
    "cycle": "cycle_count",
    "cycle_index": "cycle_count",
    "date_time": "unix_time",
    "datetime": "unix_time",
    "step": "step_index",
    "charge_capacity": "charging_capacity",
    "discharge_capacity": "discharging_capacity",
    "charge_energy": "charging_energy",
    "discharge_energy": "discharging_energy",
    "temperature": "ambient_temperature",
}
#: quantity (machine name without its unit) → (variable, the variable's unit family)
_QUANTITIES = {}
for _var in schema.VARIABLES:
    for _unit in UNIT_FACTORS:
        if _var.endswith("_" + _unit):
            _QUANTITIES[_var[: -len(_unit) - 1]] = (_var, _unit)
            break
    else:
        _QUANTITIES[_var] = (_var, None)


def _slug(text: str) -> str:
    return "_".join(w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split())


def column_name(col: str) -> tuple[str, float]:
    """The batteryviz variable of a BDF column and the factor to its unit: machine names
    (``voltage_volt``), preferred labels (``Voltage / V``), and the same quantity in another
    unit (``test_time_millisecond``, ``Test Time / h``) or under a legacy name
    (``cycle_dimensionless``, ``date_time_millisecond``). Other columns keep their name."""
    c = col.strip().lstrip("\ufeff")
    if c.lower() in LABELS:
        return LABELS[c.lower()], 1.0
    if c in schema.VARIABLES:
        return c, 1.0
    if " / " in c:  # a label: "Quantity / unit"
        quantity, _, unit = c.rpartition(" / ")
        quantity, unit = _slug(quantity), unit.strip().lower()
    else:
        quantity, _, unit = c.lower().rpartition("_")
        if not quantity:
            return c, 1.0
    quantity = LEGACY_QUANTITIES.get(quantity, quantity)
    if quantity not in _QUANTITIES:
        return c, 1.0
    var, family = _QUANTITIES[quantity]
    if family is None:
        return (var, 1.0) if unit in ("1", "dimensionless", "") else (c, 1.0)
    factor = UNIT_FACTORS[family].get(unit)
    return (var, factor) if factor is not None else (c, 1.0)


def _name(col: str) -> str:
    return column_name(col)[0]


def check_parquet_size(path) -> None:
    """Refuse a parquet file whose declared rows would expand like a bomb (50 million constant
    rows fit in 378 KB of parquet and 4.8 GB of memory): rows × columns × 8 bytes, from the
    file's footer, against :func:`batteryviz.io.limits.check_expansion`."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # noqa: BLE001 - pyarrow's errors are many; all mean "unreadable"
        raise BatteryvizError(
            f"not a readable parquet file ({type(exc).__name__}: {quote(exc, 200)})", path=path
        ) from None
    check_expansion(
        path,
        int(meta.num_rows) * max(int(meta.num_columns), 1) * 8,
        f"its {meta.num_rows:,} rows × {meta.num_columns} columns",
    )


class BDFReader(Reader):
    """Battery Data Format CSV and Parquet."""

    name = "bdf"
    suffixes = (".bdf.csv", ".bdf.parquet", ".parquet", ".csv")
    description = "Battery Data Format (BDF) CSV or Parquet"
    priority = 90

    def sniff(self, head: Head) -> bool:
        if head.raw.startswith(b"PAR1"):
            try:
                names = pl.read_parquet_schema(head.path)
            except Exception:
                return False
            return all(any(_name(n) == r for n in names) for r in schema.REQUIRED)
        if head.is_binary or not head.lines:
            return False
        cols = [_name(c) for c in head.lines[0].split(",")]
        return all(r in cols for r in schema.REQUIRED)

    def read(self, path, **_):
        path = Path(path)
        head = read_head(path)
        meta = {}
        sidecar = _sidecar(path)
        if sidecar.exists():
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        var_attrs = meta.pop("variables", {})
        structure = meta.pop("cycle_structure", None)
        # the reader of the file this one was converted from (a BaSyTec upload stored as BDF)
        if meta.get("reader") and meta["reader"] != self.name:
            meta.setdefault("source_reader", meta["reader"])
        deferred_cols: dict[str, np.dtype] = {}
        dtypes = meta.pop("dtypes", None)
        one_column_each = False
        if head.raw.startswith(b"PAR1"):
            check_parquet_size(path)
            file_schema = pl.read_parquet_schema(path)
            renamed = {c: _name(c) for c in file_schema}
            text = [
                c
                for c in file_schema
                if file_schema[c] == pl.String
                or isinstance(file_schema[c], (pl.Enum, pl.Categorical))
            ]
            if (
                structure is not None
                and dtypes
                and all(renamed[c] in dtypes for c in file_schema if c not in text)
            ):
                # written by batteryviz with its cycle structure, summary aggregates, quality
                # warnings and column types: nothing needs the records to open it, so every
                # numeric column is read when first used, each on its own (parquet reads one
                # column without touching the others)
                eager = text
                one_column_each = True
            else:
                eager = [
                    c
                    for c in file_schema
                    if column_name(c)[1] != 1.0
                    or renamed[c] in schema.CORE
                    or renamed[c] in COUNTER_ROLES
                    or renamed[c] in RECORD_VARIABLES
                    or "role" in var_attrs.get(renamed[c], {})
                    or c in text
                ]
            with _damaged_parquet(path):
                df = pl.read_parquet(path, columns=eager) if eager else pl.DataFrame()
                n_rows = (
                    df.height if eager else pl.scan_parquet(path).select(pl.len()).collect().item()
                )
            for c in file_schema:
                if c not in eager:
                    deferred_cols[c] = (
                        np.dtype(dtypes[renamed[c]])
                        if one_column_each
                        else np.dtype(np.int64)
                        if file_schema[c].is_integer()
                        else np.dtype(np.float64)
                    )
        else:
            try:
                df = pl.read_csv(path, infer_schema_length=None)
            except pl.exceptions.ComputeError as exc:
                if "more fields" not in str(exc):
                    raise ParseError(
                        f"not a readable CSV table ({quote(str(exc).splitlines()[0])})", path=path
                    ) from None
                with open(path, encoding="utf-8", errors="replace") as fh:
                    header = next(csv.reader([fh.readline()]))
                raise_long_line(path, 1, header, ",", "utf-8")
            if df.height == 0:
                raise EmptyFileError("BDF file with a header but no rows", path=path)
            # known numeric variables that did not parse as numbers: report line and column
            renamed = {c: _name(c) for c in df.columns}
            bad = [
                c
                for c in df.columns
                if renamed[c] in schema.VARIABLES
                and renamed[c] != "step_type"
                and df[c].dtype == pl.String
            ]
            if bad:
                df = to_float_columns(df, bad, path=path, first_line=2, decimal_comma=False)
            n_rows = df.height
        factors = {
            column_name(c)[0]: (c, column_name(c)[1])
            for c in df.columns
            if column_name(c)[1] != 1.0
        }
        df = df.rename({c: _name(c) for c in df.columns})
        present = set(df.columns) | {_name(c) for c in deferred_cols}
        missing = [r for r in schema.REQUIRED if r not in present]
        if missing and not all(r in present for r in schema.REQUIRED_EIS):
            # (an impedance-only file, frequency and impedance, needs no time, voltage, current)
            raise MissingColumnError(
                f"BDF file without required column(s) {', '.join(missing)}; found "
                f"{', '.join(sorted(present))}",
                path=path,
                column=missing[0],
            )
        data = {}
        for c in df.columns:
            s = df[c]
            if isinstance(s.dtype, pl.Categorical):
                s = s.cast(pl.String)
            if s.dtype == pl.String or isinstance(s.dtype, pl.Enum):
                codes, attrs = categorical(s)
                if c == "step_type":  # names as the cycler wrote them → batteryviz's codes
                    labels = attrs["labels"].split("\t")
                    data[c] = (
                        schema.step_type_codes(labels)[codes],
                        {**schema.step_type_attrs(), "derived_from": "step type names"},
                    )
                    continue
                data[c] = (codes, {**attrs, **var_attrs.get(c, {})})
                continue
            extra = {}
            if c in factors:
                source, factor = factors[c]
                s = s.cast(pl.Float64) * factor
                extra.update(source_column=source, note=f"converted from {source} (× {factor:g})")
            if c in COUNTER_ROLES:
                extra = {"role": COUNTER_ROLES[c], "resets": "never", "preference": 1}
            extra.update(var_attrs.get(c, {}))
            data[c] = (s.cast(pl.Float64).to_numpy() if s.dtype.is_float() else s.to_numpy(), extra)
        if deferred_cols:
            groups = (
                [{c: t} for c, t in deferred_cols.items()] if one_column_each else [deferred_cols]
            )
            for group in groups:
                columns = DeferredColumns(path, _ParquetColumns(path, group), n_rows)
                for c, dtype in group.items():
                    name = _name(c)
                    data[name] = (
                        deferred(columns, name, n_rows, dtype),
                        {**schema.variable_attrs(name), **var_attrs.get(name, {}), "deferred": 1},
                    )
        meta.setdefault("cycler", "unknown (BDF)")
        converted = sorted(source for source, _ in factors.values())
        meta["variant"] = (
            ("Parquet" if head.raw.startswith(b"PAR1") else "CSV")
            + (", preferred labels" if any(" / " in c for c in renamed) else ", machine names")
            + (
                f"; converted from other units or legacy names: {', '.join(converted)}"
                if converted
                else ""
            )
        )
        # a file batteryviz wrote carries the record checks' warnings in its metadata already
        ds = finish(
            data, meta, path=path, notes=[], reader=self.name, record_checks=not one_column_each
        )
        if structure is not None and all(name in ds for name in RECORD_VARIABLES):
            ds = _restore_structure(ds, structure)
        return ds


def _restore_structure(ds: xr.Dataset, structure: dict) -> xr.Dataset:
    """Put back the cycle structure stored by :func:`write_bdf` (same result as the cycle rule)."""
    from ..schema import step_type_attrs

    new: dict[str, xr.Variable | xr.DataArray] = {}
    for name in CYCLE_VARIABLES:
        if name in structure:
            new[name] = xr.Variable((CYCLE_DIM,), np.asarray(structure[name]))
    if "cycle_length" in new:
        new["cycle_length"].attrs["sample_dimension"] = schema.RECORD_DIM
    # (as their dtypes when they are, so a column read on first use stays unread)
    cycle_index, resolved = (
        ds["cycle_index"].variable.copy(deep=False),
        ds["step_type_resolved"].variable.copy(deep=False),
    )
    if cycle_index.dtype != np.int32:
        cycle_index = cycle_index.astype(np.int32)
    if resolved.dtype != np.int8:
        resolved = resolved.astype(np.int8)
    cycle_index.attrs.update(rule=structure.get("rule", ""), mode=structure.get("mode", ""))
    resolved.attrs.update(step_type_attrs())
    new.update(cycle_index=cycle_index, step_type_resolved=resolved)
    n_cycles = len(structure["cycle"])
    cache = structure.get(schema.CYCLE_AGGREGATES)
    if cache and len(cache.get("values", [])) == n_cycles:
        values = np.asarray(cache["values"], dtype=float).reshape(n_cycles, len(cache["keys"]))
        new[schema.CYCLE_AGGREGATES] = xr.DataArray(
            values,
            dims=(CYCLE_DIM, "aggregate"),
            coords={"aggregate": cache["keys"]},
            attrs=cache["attrs"],
        )
    # one update (each item assignment would re-merge the whole dataset)
    ds = ds.assign_coords(
        {
            CYCLE_DIM: (
                CYCLE_DIM,
                np.asarray(structure["cycle"], dtype=np.int64),
                {"long_name": "Cycle"},
            )
        }
    ).assign(new)
    ds.attrs["cycle_rule"] = structure.get("rule", "")
    ds.attrs["cycle_mode"] = structure.get("mode", "")
    return ds


class _ParquetColumns:
    """Reads the deferred columns of a parquet file as the dtypes they were declared with
    (picklable, for Dask workers)."""

    def __init__(self, path: Path, dtypes: dict[str, np.dtype]):
        self.path, self.dtypes = path, dtypes

    def __call__(self) -> dict:
        with _damaged_parquet(self.path):
            frame = pl.read_parquet(self.path, columns=list(self.dtypes))
        out = {}
        for c, dtype in self.dtypes.items():
            s = frame[c]
            if s.null_count() and dtype.kind in "iub":
                raise BatteryvizError(
                    f"column {c} holds empty values but was written as {dtype}",
                    path=self.path,
                    column=c,
                )
            arr = s.to_numpy()
            out[_name(c)] = arr if arr.dtype == dtype else arr.astype(dtype)
        return out


@contextlib.contextmanager
def _damaged_parquet(path):
    """A parquet file damaged past its footer (polars' and arrow's own errors) as a ParseError."""
    try:
        yield
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise ParseError(
            f"the parquet data is damaged ({type(exc).__name__}: "
            f"{quote(str(exc).splitlines()[0] if str(exc) else '', 200)}); "
            "the file may be truncated or overwritten",
            path=path,
        ) from None


def _sidecar(path: Path) -> Path:
    name = path.name
    for suffix in (".bdf.csv", ".bdf.parquet", ".parquet", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".metadata.json")


def to_frame(ds: xr.Dataset) -> pl.DataFrame:
    """The record variables of a cell dataset as a polars frame (categoricals as labels)."""
    cols = {}
    for name, var in schema.data_variables(ds):
        if var.dims != (schema.RECORD_DIM,):
            continue
        values = var.values
        if "labels" in var.attrs:
            labels = var.attrs["labels"].split("\t")
            if len(set(labels)) == len(labels):
                # dictionary-encoded: codes stay codes in parquet, labels in CSV
                cols[name] = pl.Series(name, labels, dtype=pl.Enum(labels)).gather(
                    pl.Series(values.astype(np.uint32))
                )
            else:
                cols[name] = pl.Series(
                    name, np.array(labels, dtype=object)[values.astype(np.int64)], dtype=pl.String
                )
        else:
            cols[name] = pl.Series(name, values)
    order = [c for c in schema.REQUIRED if c in cols] + [
        c for c in cols if c not in schema.REQUIRED
    ]
    return pl.DataFrame({c: cols[c] for c in order})


def write_bdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a cell dataset as ``.bdf.csv`` or ``.bdf.parquet`` (atomic: temp file, then rename).

    Cell metadata goes to ``<name>.metadata.json`` beside it. A parquet file also stores the
    cycle structure (assigned when missing) and the summary's per-cycle aggregates when ``ds``
    carries them.
    """
    path = Path(path)
    structure = None
    if path.name.endswith(".parquet") and all(
        v in ds for v in ("current_ampere", "test_time_second")
    ):
        # store the cycle structure with the records: re-opening then skips the cycle rule
        from ..cycles import assign_cycles

        if "cycle_index" not in ds:
            ds = assign_cycles(ds)
        structure = {
            "rule": ds.attrs.get("cycle_rule", ""),
            "mode": ds.attrs.get("cycle_mode", ""),
            **{
                name: ds[name].values.tolist()
                for name in (CYCLE_DIM,) + CYCLE_VARIABLES
                if name in ds
            },
        }
        # and the summary's per-cycle aggregates when the dataset carries them (the codec computes
        # nothing: see analysis.summary.with_cycle_aggregates): re-opening then skips the records
        if schema.CYCLE_AGGREGATES in ds:
            cache = ds[schema.CYCLE_AGGREGATES]
            structure[schema.CYCLE_AGGREGATES] = {
                "attrs": dict(cache.attrs),
                "keys": [str(k) for k in cache["aggregate"].values],
                "values": cache.values.tolist(),
            }
    frame = to_frame(ds)
    with atomic_path(path) as tmp:
        if path.name.endswith(".parquet"):
            frame.write_parquet(tmp, compression="lz4")  # fast to decode: re-opening is the point
        else:
            frame.write_csv(tmp)
    meta = {
        k: (v.item() if hasattr(v, "item") else v)
        for k, v in ds.attrs.items()
        if isinstance(v, (str, int, float, np.generic))
    }
    # variable attrs that carry meaning (counter roles, sources) so a round trip loses nothing
    keep = ("role", "resets", "preference", "source_column", "derived_from", "note")
    meta["variables"] = {
        name: {
            k: (v.item() if hasattr(v, "item") else v) for k, v in var.attrs.items() if k in keep
        }
        for name, var in schema.data_variables(ds)
        if any(k in var.attrs for k in keep)
    }
    if structure is not None:
        meta["cycle_structure"] = structure
        meta["dtypes"] = {
            name: str(var.dtype)
            for name, var in schema.data_variables(ds)
            if var.dims == (schema.RECORD_DIM,)
        }
    meta.pop("cycle_rule", None)
    meta.pop("cycle_mode", None)
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(json.dumps(meta, default=str), encoding="utf-8")
    return path
