"""BaSyTec "Resultfile" text exports.

Format (as the BaSyTec software writes it)::

    ~Resultfile from Basytec Battery Test System
    ~Name of Test: ...            <- every "~key: value" line becomes metadata
    ~Start of Test: 05.05.2025 16:35:43
    ~
    ~Time[h] DataSet DateTime ... U[V] I[A] ... State   <- the column line, also starts with "~"
    0,000000 1 05.05.2025 14:36:06 ...                  <- data, tab or space separated

* Separator: tab, or a single space (then ``DateTime`` splits into two tokens, so rows have one
  field more than the column line).
* Decimal mark: point or comma (detected from the data).
* Encoding: UTF-8, cp1252 or latin-1; a mis-decoded degree sign in ``T1[°C]`` is repaired.
* ``I[A]`` is positive while charging (BaSyTec already follows the BDF sign convention).
* Time columns are in hours (``Time[h]``) or seconds (``Time[s]``).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from .. import schema
from ..atomic import atomic_path
from ..errors import MissingColumnError, quote_list
from .base import Column, Reader, convert_column, plan_columns, require, unique_names
from .delimited import read_block
from .finish import finish
from .lazy import DeferredColumns, deferred
from .text import Head, read_head, require_text, uses_decimal_comma

#: Header keys of the "~key: value" lines that have a standard metadata name as well.
HEADER_KEYS = {
    "Name of Test": "test_name",
    "Battery": "cell_name",
    "Testplan": "test_plan",
    "Testchannel": "channel",
    "Start of Test": "start_of_test",
    "End of Test": "end_of_test",
    "Operator (Test)": "operator",
    "Operator (Data converting)": "operator_data_converting",
    "Date and Time of Data Converting": "date_of_data_converting",
}


def _time_columns(unit: str) -> list[Column]:
    scale = 3600.0 if unit == "h" else 1.0
    return [
        Column(rf"~?Time\[{unit}\]", "test_time_second", scale, regex=True),
        Column(rf"t-Step\[{unit}\]", "step_time_second", scale, regex=True),
        Column(rf"t-Set\[{unit}\]", "set_time_second", scale, regex=True),
        Column(rf"t-Cyc\[{unit}\]", "cycle_time_second", scale, regex=True),
    ]


COLUMNS = [
    Column("DataSet", "data_point", kind="int"),
    Column("Line", "step_index", kind="int"),
    Column("Command", "command", kind="category"),
    Column("U[V]", "voltage_volt"),
    Column("I[A]", "current_ampere"),
    Column("P[W]", "power_watt"),
    Column("Ah[Ah]", "net_capacity_ah"),
    Column("Ah-Step", "step_capacity_ah"),
    # Per-cycle counters: "-0" is reset at the start of every cycle pass.
    Column(
        "Ah-Cyc-Charge-0",
        "cycle_charging_capacity_ah",
        role="charge_capacity",
        resets="cycle",
        preference=2,
        absolute=True,
    ),
    Column(
        "Ah-Cyc-Discharge-0",
        "cycle_discharging_capacity_ah",
        role="discharge_capacity",
        resets="cycle",
        preference=2,
        absolute=True,
    ),
    Column(
        "Ah-Cyc-Charge",
        "basytec_ah_cyc_charge",
        role="charge_capacity",
        resets="cycle",
        preference=1,
        absolute=True,
    ),
    Column(
        "Ah-Cyc-Discharge",
        "basytec_ah_cyc_discharge",
        role="discharge_capacity",
        resets="cycle",
        preference=1,
        absolute=True,
    ),
    Column("Ah-Set", "set_capacity_ah"),
    Column("Ah-Ch-Set", "set_charging_capacity_ah"),
    Column("Ah-Dis-Set", "set_discharging_capacity_ah"),
    Column("Wh[Wh]", "net_energy_wh"),
    Column("Wh[Wh/kg]", "net_specific_energy_wh_per_kg"),
    Column(
        "Wh-Cyc-Charge-0",
        "cycle_charging_energy_wh",
        role="charge_energy",
        resets="cycle",
        preference=2,
        absolute=True,
    ),
    Column(
        "Wh-Cyc-Discharge-0",
        "cycle_discharging_energy_wh",
        role="discharge_energy",
        resets="cycle",
        preference=2,
        absolute=True,
    ),
    Column("Wh-Step", "step_energy_wh"),
    Column(r"T1\[.*C\]", "ambient_temperature_celsius", regex=True),
    Column(r"T2\[.*C\]", "temperature_t2_celsius", regex=True),
    Column("R-DC", "internal_resistance_ohm"),
    Column("R-AC", "ac_resistance_ohm"),
    Column("Cyc-Count", "cycle_count", kind="int"),
    Column("Count", "basytec_count", kind="int"),
    Column("State", "basytec_state", kind="int"),
    Column("Level", "basytec_level", kind="int"),
]

#: Alternative names seen in hand-edited or older exports (the predecessor's alias map).
ALIASES = {
    "Time": "Time[h]",
    "t[h]": "Time[h]",
    "Cmd": "Command",
    "Mode": "Command",
    "V[V]": "U[V]",
    "Voltage": "U[V]",
    "Current": "I[A]",
    "Status": "State",
}

COMMAND_STEP_TYPES = {"charge": 1, "discharge": 2, "pause": 0, "rest": 0}

#: Commands BaSyTec writes in data rows; parsed straight into codes. A file with another
#: command is read as text instead (slower, same result).
COMMANDS = [
    "Pause",
    "Charge",
    "Discharge",
    "Rest",
    "Wait",
    "Start",
    "Stop",
    "EIS",
    "Cycle-start",
    "Cycle-end",
]

_DEGREE_FIX = re.compile(r"(T\d)\[(?:\ufffd|º|Â°|�|\?|°)*C\]")


def repair_name(name: str) -> str:
    """Repair mis-decoded degree signs: ``T1[�C]``, ``T1[ºC]``, ``T1[Â°C]`` → ``T1[°C]``."""
    name = name.strip().lstrip("~")
    name = _DEGREE_FIX.sub(lambda m: f"{m.group(1)}[°C]", name)
    return ALIASES.get(name, name)


def parse_header(lines: list[str]) -> tuple[int, list[str], dict[str, str]]:
    """Split the ``~`` preamble: (number of header lines, column-line names, metadata)."""
    n = 0
    column_line = None
    meta: dict[str, str] = {}
    for line in lines:
        if not line.startswith("~"):
            break
        n += 1
        body = line[1:].strip()
        if not body:
            continue
        if re.match(r"Time\[[hs]\]|DataSet", body) or ("\t" in body and "U[V]" in body):
            column_line = line
            continue
        key, sep, value = body.partition(":")
        if sep:
            meta[key.strip()] = value.strip()
        else:
            meta.setdefault("title", body)
    if column_line is None:
        raise MissingColumnError(
            "no column line found: expected a header line starting with '~Time[h]' or "
            "'~Time[s]' (or containing 'DataSet') before the data",
            line=n or 1,
        )
    body = column_line.lstrip("~").rstrip("\r\n")
    names = body.split("\t") if "\t" in body else body.split()
    return n, [repair_name(x) for x in names], meta


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
    return None


def layout(head: Head, path) -> tuple[int, list[str], dict, str, list[str]]:
    """Header lines, column names (``DateTime`` split when a space separates it), metadata,
    separator and the first data lines of a BaSyTec export."""
    require_text(head, "BaSyTec")
    try:
        n_header, names, meta = parse_header(head.lines)
    except MissingColumnError as exc:
        raise MissingColumnError(exc.reason, path=path, line=exc.line, hint=exc.hint) from None
    data_lines = [ln for ln in head.lines[n_header : n_header + 50] if ln.strip()]
    separator = "\t" if "\t" in (data_lines[0] if data_lines else "\t") else " "
    if data_lines:
        n_fields = (
            len(data_lines[0].split(separator)) if separator == "\t" else len(data_lines[0].split())
        )
        if n_fields == len(names) + 1 and "DateTime" in names:
            i = names.index("DateTime")
            names = names[:i] + ["DateTime", "DateTime_time"] + names[i + 1 :]
    return n_header, unique_names(names), meta, separator, data_lines


class BasytecReader(Reader):
    """Reader of BaSyTec "Resultfile" text exports (``.txt``)."""

    name = "basytec"
    suffixes = (".txt", ".csv", ".dat")
    description = "BaSyTec Resultfile text export (tab or space separated, decimal point or comma)"
    priority = 80

    def sniff(self, head: Head) -> bool:
        if head.is_binary or not head.lines:
            return False
        first = head.lines[0]
        if first.startswith("~") and "basytec" in first.lower():
            return True
        # Exports without the title line: a "~Time[h]"/"~Time[s]" column line in the preamble.
        for line in head.lines[:60]:
            if not line.startswith("~"):
                return False
            if re.match(r"~\s*(Time\[[hs]\]|DataSet)", line):
                return True
        return False

    def read(
        self,
        path: str | Path,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_,
    ):
        """Read a BaSyTec export.

        Parameters
        ----------
        path
            The export.
        on_bad_lines
            ``"error"`` (default) raises on a truncated last line; ``"skip"`` drops it and
            records a warning in ``attrs["quality_warnings"]``.
        max_memory_bytes
            Refuse files whose parsed size would exceed this (default: the memory available).
        """
        head = read_head(path)
        n_header, names, meta, separator, data_lines = layout(head, path)
        time_name = next((n for n in names if re.fullmatch(r"Time\[[hs]\]", n)), None)
        if time_name is None:
            raise MissingColumnError(
                "no time column: expected 'Time[h]' or 'Time[s]' in the column line; found "
                + ", ".join(names),
                path=path,
                line=n_header,
                column="Time[h]",
            )
        for required in ("U[V]", "I[A]"):
            if required not in names:
                raise MissingColumnError(
                    f"required column {required!r} not in the column line; found "
                    f"{quote_list(names)}",
                    path=path,
                    line=n_header,
                    column=required,
                )
        from .finish import check_memory

        check_memory(path, head.size, max_memory_bytes)
        start = _parse_date(meta.get("Start of Test"))
        unit = time_name[-2]
        specs = _time_columns(unit) + COLUMNS
        plan = plan_columns(names, specs, "basytec")
        # DateTime is only needed when the header has no start of test
        skip = {"DateTime", "DateTime_time"} if start is not None else set()
        eager_pos = [
            k
            for k, (name, target, spec) in enumerate(plan)
            if name not in skip
            and (
                target in schema.CORE
                or (spec is not None and spec.role)
                or name in ("DateTime", "DateTime_time")
            )
        ]
        lazy_pos = [
            k
            for k, (name, target, spec) in enumerate(plan)
            if k not in eager_pos
            and name not in skip
            and spec is not None
            and spec.kind != "category"
        ]
        lazy_pos += [
            k
            for k, (name, target, spec) in enumerate(plan)
            if k not in eager_pos and k not in lazy_pos and name not in skip and spec is None
        ]
        file_pos = {name: names.index(name) for name, _, _ in plan}
        text_cols = {n for n in names if n in ("Command", "DateTime", "DateTime_time")}
        decimal_comma = uses_decimal_comma(data_lines[:20], separator)
        block = dict(
            names=names,
            skip_lines=n_header,
            separator=separator,
            encoding=head.encoding,
            size=head.size,
            text_columns=text_cols,
            decimal_comma=decimal_comma,
            on_bad_lines=on_bad_lines,
            quote_char=None,
            integers={name for name, _, spec in plan if spec is not None and spec.kind == "int"},
        )
        df, notes = read_block(
            Path(path),
            usecols=sorted(file_pos[plan[k][0]] for k in eager_pos),
            enums={"Command": COMMANDS},
            **block,
        )
        # Rows without time, voltage and current, and rows with negative time, are dropped (as the
        # cycler software does when an export is cut and re-joined); the count is reported.
        bad_expr = (
            pl.col(time_name).is_null() & pl.col("U[V]").is_null() & pl.col("I[A]").is_null()
        ) | (pl.col(time_name) < 0)
        keep = None
        n_bad = int(df.select(bad_expr.fill_null(False).sum()).item())
        if n_bad:
            keep = ~df.select(bad_expr.fill_null(False)).to_series().to_numpy()
            df = df.filter(pl.Series(keep))
            notes.append(
                f"{n_bad} row(s) without time, voltage and current or with negative time dropped"
            )
        data = {
            target: convert_column(df[name], target, spec)
            for k, (name, target, spec) in enumerate(plan)
            if k in eager_pos
        }
        n_rows = df.height
        if lazy_pos:
            lazy_plan = [plan[k] for k in lazy_pos]
            positions = sorted(file_pos[name] for name, _, _ in lazy_plan)

            load = _DeferredBlock(Path(path), lazy_plan, positions, block, keep, n_rows)
            columns = DeferredColumns(Path(path), load, n_rows)
            for name, target, spec in lazy_plan:
                attrs = schema.variable_attrs(target, source_column=name)
                if spec is not None and spec.role:
                    attrs.update(role=spec.role, preference=spec.preference)
                dtype = np.int64 if spec is not None and spec.kind == "int" else np.float64
                data[target] = (deferred(columns, target, n_rows, dtype), {**attrs, "deferred": 1})
        require(data, schema.REQUIRED, path=path, available=names)
        if "command" in data:
            labels = data["command"][1]["labels"].split("\t")
            lut = np.array(
                [COMMAND_STEP_TYPES.get(lbl.strip().lower(), 3) for lbl in labels], dtype=np.int8
            )
            data["step_type"] = (lut[data["command"][0]], {"derived_from": "Command"})
        metadata = {"cycler": "BaSyTec"}
        for key, value in meta.items():
            metadata[HEADER_KEYS.get(key, _meta_key(key))] = value
        if start is not None:
            metadata["start_time"] = start.isoformat()
            data["unix_time_second"] = (
                start.timestamp() + data["test_time_second"][0],
                {
                    "note": "Start of Test + test time; cycler local time (time zone not in the "
                    "file)"
                },
            )
        elif "DateTime" in df.columns:
            stamp = (
                df["DateTime"]
                if "DateTime_time" not in df.columns
                else df["DateTime"] + " " + df["DateTime_time"]
            )
            parsed = stamp.str.strptime(pl.Datetime("ms"), "%d.%m.%Y %H:%M:%S", strict=False)
            data["unix_time_second"] = (
                parsed.dt.epoch("ms").cast(pl.Float64).to_numpy() / 1000.0,
                {},
            )
        for extra in ("basytec_datetime", "basytec_datetime_time"):
            data.pop(
                extra, None
            )  # parsed into unix_time_second; 1 s resolution strings add nothing
        return finish(data, metadata, path=path, notes=notes, reader=self.name)


class _DeferredBlock:
    """Parses the deferred columns of a BaSyTec export (picklable, for Dask workers)."""

    def __init__(self, path, plan, positions, block, keep, n_rows):
        self.path, self.plan, self.positions, self.block, self.keep, self.n_rows = (
            path,
            plan,
            positions,
            block,
            keep,
            n_rows,
        )

    def __call__(self) -> dict:
        frame, _ = read_block(
            self.path, usecols=self.positions, **{**self.block, "on_bad_lines": "skip"}
        )
        if self.keep is not None:
            frame = frame.filter(pl.Series(self.keep))
        frame = frame.head(self.n_rows)
        return {
            target: convert_column(frame[name], target, spec)[0] for name, target, spec in self.plan
        }


def _meta_key(key: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", key.lower()).strip("_")


def stream_to_parquet(path: str | Path, out: str | Path) -> Path:
    """Convert a BaSyTec export to ``.bdf.parquet`` in one streaming pass.

    The file is never held in memory whole (polars streams it in batches), so this works for
    exports larger than the machine's memory. Column names, units, signs and the derived
    ``step_type``/``unix_time_second`` are those of :meth:`BasytecReader.read`; the metadata and
    variable attrs go to the JSON sidecar, so ``bv.read(out)`` gives the same dataset.
    """
    import json

    path, out = Path(path), Path(out)
    head = read_head(path)
    n_header, names, meta, separator, data_lines = layout(head, path)
    time_name = next(n for n in names if re.fullmatch(r"Time\[[hs]\]", n))
    text_cols = {"Command", "DateTime", "DateTime_time"}
    plan = plan_columns(names, _time_columns(time_name[-2]) + COLUMNS, "basytec")
    lf = pl.scan_csv(
        str(path),
        separator=separator,
        has_header=False,
        skip_lines=n_header,
        schema={n: (pl.String if n in text_cols else pl.Float64) for n in names},
        encoding="utf8" if head.encoding in ("utf-8", "ascii") else "utf8-lossy",
        quote_char=None,
        truncate_ragged_lines=True,
        decimal_comma=uses_decimal_comma(data_lines[:20], separator),
    ).filter(pl.col(time_name).is_not_null() & (pl.col(time_name) >= 0))
    exprs, variables = [], {}
    for name, target, spec in plan:
        if name in ("DateTime", "DateTime_time"):
            continue
        col = pl.col(name)
        if spec is not None and spec.kind in ("float", "int"):
            if spec.absolute:
                col = col.abs()
            if spec.scale != 1.0:
                col = col * spec.scale
            if spec.kind == "int":
                col = col.cast(pl.Int64)
        exprs.append(col.alias(target))
        attrs = {"source_column": name}
        if spec is not None and spec.role:
            attrs.update(role=spec.role, preference=spec.preference, resets=spec.resets)
        variables[target] = attrs
    if "Command" in names:
        lut = {c: code for c, code in ((c, COMMAND_STEP_TYPES.get(c.lower(), 3)) for c in COMMANDS)}
        exprs.append(
            pl.col("Command")
            .str.strip_chars()
            .str.to_lowercase()
            .replace_strict({k.lower(): v for k, v in lut.items()}, default=3, return_dtype=pl.Int8)
            .alias("step_type")
        )
        variables["step_type"] = {"derived_from": "Command"}
    metadata = {"cycler": "BaSyTec", "reader": "basytec", "source_file": path.name}
    for key, value in meta.items():
        metadata[HEADER_KEYS.get(key, _meta_key(key))] = value
    start = _parse_date(meta.get("Start of Test"))
    if start is not None:
        metadata["start_time"] = start.isoformat()
        scale = 3600.0 if time_name.endswith("[h]") else 1.0
        exprs.append((pl.col(time_name) * scale + start.timestamp()).alias("unix_time_second"))
    with atomic_path(out) as tmp:
        lf.select(exprs).sink_parquet(tmp, compression="lz4")
    from .bdf import _sidecar

    metadata["variables"] = variables
    with atomic_path(_sidecar(out)) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2), encoding="utf-8")
    return out
