"""Neware BTS exports: flat CSV, the "regular" CSV, and Excel workbooks (.xlsx and .xls).

``Step Type`` (``Status`` in BTS 7) names the step (``CC Chg``, ``CC DChg``, ``CCCV_Chg``,
``Rest``...); capacities (``Chg. Cap.(Ah)``, ``DChg. Cap.(Ah)``, or one unsigned ``Capacity``
split here into charge and discharge counters by step type) reset at every step. The current is
negative while discharging. ``Time`` (``Relative Time`` in BTS 7) is the step time;
``Cumulative Time``/``Total Time`` the test time (``hh:mm:ss``, hours may pass 24). Without the
latter, test time is taken from the record date-time (``Absolute Time``, ``Date``) when it never
goes back, else built by adding up step times; ``attrs["test_time_from"]`` says which.

Layouts:

* flat CSV and workbooks with a ``record`` sheet (BTS 8): one column line;
* BTS 7 workbooks (Excel 97-2003 ``.xls`` or ``.xlsx``): sheets ``Info`` (test metadata, kept as
  ``neware_*`` attrs), ``Cycle_<unit>_<box>_<channel>``, ``Statis_…`` (one row per step, with
  the plan line ``Raw Step ID``, which becomes ``step_index``) and ``Detail_…`` (the records;
  its ``Step`` is the running step number, ``step_count``);
* the "regular" CSV: three column lines (cycle, step, record) and the three kinds of rows
  interleaved, a step row indented by one empty field, a record row by two; the first step row
  may follow the first cycle row on the same line. Records take their cycle from the cycle row
  above them and their step number and type from the step row above them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

from .. import schema
from ..errors import EmptyFileError, ParseError, TruncatedFileError, quote
from ..schema import STEP_TYPES
from .base import Evidence, apply_column_map, regex_column, require, slug, unique_names
from .finish import check_memory, finish
from .tabular import (
    FIRST_ROW_KEY,
    NOTES_KEY,
    TableReader,
    datetime_seconds,
    directional_counter,
    hms_to_seconds,
    open_workbook,
    read_excel,
    read_workbook_sheets,
)
from .text import (
    OVERFLOW,
    Head,
    check_complete_last_line,
    overflow_rows,
    read_head,
    require_text,
    to_float_columns,
)

_c = regex_column


COLUMNS = [
    _c(r"DataPoint|Record ID|Record Index", "data_point", kind="int"),
    _c(r"Cycle Index|Cycle ID|Cycle", "cycle_count", kind="int"),
    _c(r"Step Index|Step ID|Steps", "step_index", kind="int"),
    _c(
        r"Raw Step ID", "step_index", kind="int"
    ),  # BTS 7 workbooks: the plan line (from the Statis sheet)
    _c(
        r"Step Number|Step", "step_count", kind="int"
    ),  # running step number (regular CSV, BTS 7 Detail sheet)
    _c(r"Step Type|Status", "neware_step_type", kind="category"),
    _c(r"(Current|Cur)\(A\)", "current_ampere"),
    _c(r"(Current|Cur)\(mA\)", "current_ampere", scale=1e-3),
    _c(r"Voltage\(V\)", "voltage_volt"),
    _c(
        r"Chg\. Cap\.\(Ah\)|Capacitance_Chg\(Ah\)",
        "step_charging_capacity_ah",
        role="charge_capacity",
        resets="step",
        preference=2,
    ),
    _c(
        r"DChg\. Cap\.\(Ah\)|Capacitance_DChg\(Ah\)",
        "step_discharging_capacity_ah",
        role="discharge_capacity",
        resets="step",
        preference=2,
    ),
    _c(
        r"Chg\. Cap\.\(mAh\)|Capacitance_Chg\(mAh\)",
        "step_charging_capacity_ah",
        scale=1e-3,
        role="charge_capacity",
        resets="step",
        preference=2,
    ),
    _c(
        r"DChg\. Cap\.\(mAh\)|Capacitance_DChg\(mAh\)",
        "step_discharging_capacity_ah",
        scale=1e-3,
        role="discharge_capacity",
        resets="step",
        preference=2,
    ),
    _c(r"Chg\. Energy\(Wh\)", "step_charging_energy_wh", role="charge_energy", resets="step"),
    _c(
        r"DChg\. Energy\(Wh\)", "step_discharging_energy_wh", role="discharge_energy", resets="step"
    ),
    # one unsigned counter for both directions (split by step type in postprocess)
    _c(r"Capacity\(Ah\)", "neware_capacity_ah"),
    _c(r"Capacity\(mAh\)", "neware_capacity_ah", scale=1e-3),
    _c(r"Energy\(Wh\)", "neware_energy_wh"),
    _c(r"Energy\(mWh\)", "neware_energy_wh", scale=1e-3),
    _c(r"Power\(W\)", "power_watt"),
    # "(?)": the degree sign lost in the export's encoding
    _c(
        r"T1\((.*C|\?)\)|Temperature\(.*C\)|Auxiliary temperature\(.*C\)",
        "ambient_temperature_celsius",
    ),
]

#: Columns of step time, test time and record date-time, in order of preference.
STEP_TIME = ("Time", "Step Time", "Relative Time(h:min:s.ms)", "Relative Time")
TEST_TIME = ("Cumulative Time", "Total Time")
DATE_TIME = ("Absolute Time", "Date", "Realtime", "Real Time")

#: BTS 7 workbook sheets: records, steps and cycles of ``<unit>_<box>_<channel>``.
DETAIL_SHEET = re.compile(r"detail_\d+_\d+_\d+(?:[_-]\d+)?", re.IGNORECASE)
STATIS_SHEET = re.compile(r"statis_\d+_\d+_\d+(?:[_-]\d+)?", re.IGNORECASE)

#: The three column lines of the "regular" CSV export.
REGULAR_LINES = (
    re.compile(r"^\s*Cycle (Index|ID)\s*,", re.IGNORECASE),
    re.compile(r"^\s*,\s*Step (Index|ID)\s*,", re.IGNORECASE),
    re.compile(r"^\s*,\s*,\s*(DataPoint|Record (ID|Index))\s*,.*Voltage", re.IGNORECASE),
)
#: Which step-row columns a record takes from the step row above it.
STEP_IDENTITY = re.compile(r"Step (Index|ID|Number|No\.?)|Step Type|Status", re.IGNORECASE)


def is_regular_export(head: Head) -> bool:
    """The "regular" CSV: cycle, step and record column lines as the file's first three lines."""
    return (
        not head.is_binary
        and len(head.lines) >= 3
        and all(rx.search(line) for rx, line in zip(REGULAR_LINES, head.lines[:3]))
    )


def info_metadata(frame) -> dict:
    """The simple key/values of a BTS 7 ``Info`` sheet (read without a header row): cells
    ``Key:value``, a cell ``Key:`` followed by its value, and a row of labels above a row of
    values. Keys become ``neware_<slug>``; empty, ``-`` and ``NULL`` values are left out."""
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False)]
    meta: dict = {}

    def put(key, value):
        if isinstance(value, str) and value.strip() in ("", "-", "NULL"):
            return
        name = f"neware_{slug(str(key))}"
        if name != "neware_column" and name not in meta and len(meta) < 60:
            meta[name] = value.strip() if isinstance(value, str) else value

    label = re.compile(r"[A-Za-z][A-Za-z0-9 ()/_.#-]{1,40}")
    k = 0
    while k < len(rows):
        cells = [(j, v) for j, v in enumerate(rows[k]) if v != ""]
        texts = [v for _, v in cells if isinstance(v, str)]
        nxt = rows[k + 1] if k + 1 < len(rows) else []
        if (
            len(cells) >= 3
            and len(texts) == len(cells)
            and all(label.fullmatch(v.strip()) for v in texts)
            and all(":" not in v for v in texts)
            and any(j < len(nxt) and nxt[j] != "" for j, _ in cells)
        ):
            for j, key in cells:  # a row of labels over a row of values
                if j < len(nxt):
                    put(key, nxt[j])
            k += 2
            continue
        for n, (j, v) in enumerate(cells):
            if not isinstance(v, str) or ":" not in v:
                continue
            key, _, value = v.partition(":")
            if not label.fullmatch(key.strip()):
                continue
            if value.strip():
                put(key, value)
            elif n + 1 < len(cells):
                put(key, cells[n + 1][1])
        k += 1
    return meta


def _cell(value):
    """An Info cell as text or a number (integral floats as int); empty cells as ``""``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return "" if text == "nan" else text


def _at_line(exc: ParseError, lines: np.ndarray) -> ParseError:
    """``exc`` (raised on a frame of selected rows, its line being the row) naming the file line."""
    row = exc.line
    line = int(lines[row]) if row is not None and 0 <= row < lines.size else None
    return ParseError(exc.reason, path=exc.path, line=line, column=exc.column, hint=exc.hint)


class NewareReader(TableReader):
    """Neware BTS CSV (flat and "regular") and Excel (.xlsx, .xls) exports."""

    name = "neware"
    suffixes = (".csv", ".xlsx", ".xls")
    description = "Neware BTS CSV/Excel export"
    priority = 65
    header_pattern = (
        r"(Step Type|Status).*(Chg\. Cap|Capacitance_Chg)"
        r"|(Cycle Index|Cycle ID).*(Step Type|Status).*Voltage"
    )
    columns = COLUMNS
    vendor = "neware"
    text_columns = (
        "Time",
        "Cumulative Time",
        "Date",
        "Realtime",
        "Real Time",
        "Total Time",
        "Step Time",
        "Relative Time(h:min:s.ms)",
        "Relative Time",
        "Absolute Time",
        "Step Type",
        "Status",
        "Module start-stop switch",
    )

    def workbook_sheets(self, sheets: list[str]) -> list[str]:
        """``record`` (BTS 8) or the ``Detail_…`` sheets (BTS 7, several when the records did
        not fit one sheet)."""
        return [s for s in sheets if s.lower() == "record" or DETAIL_SHEET.fullmatch(s.strip())]

    def workbook_metadata(self, path: Path, sheets: list[str]) -> dict:
        info = next((s for s in sheets if s.strip().lower() == "info"), None)
        return info_metadata(read_excel(path, sheet_name=info, header=None)) if info else {}

    def workbook_frame(self, path: Path, sheets: list[str], all_sheets: list[str]) -> pl.DataFrame:
        """The record sheets; with a BTS 7 ``Statis`` sheet, each record's plan line
        (``Raw Step ID``) is looked up from its running step number (``Step``)."""
        statis = [s for s in all_sheets if STATIS_SHEET.fullmatch(s.strip())]
        with open_workbook(path) as xl:
            df = read_workbook_sheets(path, sheets, numeric=self.numeric_column, xl=xl)
            if not statis or "Step" not in df.columns or "Raw Step ID" in df.columns:
                return df
            steps = read_workbook_sheets(path, statis, xl=xl)
        if not {"Step", "Raw Step ID"} <= set(steps.columns):
            return df
        pairs = steps.select(
            pl.col("Step").cast(pl.Int64, strict=False),
            pl.col("Raw Step ID").cast(pl.Int64, strict=False),
        ).drop_nulls()
        lookup = dict(zip(pairs["Step"].to_list(), pairs["Raw Step ID"].to_list()))
        raw = (
            df["Step"]
            .cast(pl.Int64, strict=False)
            .replace_strict(lookup, default=None, return_dtype=pl.Int64)
        )
        if raw.null_count():
            return df  # a record whose step the Statis sheet does not list: no plan lines at all
        return df.with_columns(raw.alias("Raw Step ID"))

    def sniff(self, head: Head) -> bool:
        return is_regular_export(head) or self.sniff_table(head)

    def score(self, head: Head) -> Evidence:
        if is_regular_export(head):
            return Evidence(
                1.0,
                f'{self.description}: the "regular" export\'s cycle, step and record column lines '
                f"(lines 1-3)",
            )
        return super().score(head)

    def read(
        self, path, *, on_bad_lines: str = "error", max_memory_bytes: int | None = None, **options
    ):
        """Read a Neware export (see the module docstring for the layouts)."""
        path = Path(path)
        head = read_head(path)
        if is_regular_export(head):
            return self.read_regular(
                path, head, on_bad_lines=on_bad_lines, max_memory_bytes=max_memory_bytes
            )
        return super().read(
            path, on_bad_lines=on_bad_lines, max_memory_bytes=max_memory_bytes, **options
        )

    def read_regular(
        self,
        path: Path,
        head: Head,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
    ):
        """Read the "regular" CSV export: its record rows, each with the cycle and step of the
        rows above it."""
        require_text(head, self.name)
        check_memory(path, head.size * 3, max_memory_bytes)
        fields = [[f.strip().strip('"') for f in line.split(",")] for line in head.lines[:3]]
        for row in fields:
            while row and row[-1] == "":
                row.pop()
        cycle_names, step_names, data_names = fields[0], fields[1][1:], fields[2][2:]
        n_cycle, n_step = len(cycle_names), len(step_names)
        width = max(n_cycle + n_step, 1 + n_step, 2 + len(data_names))
        with open(path, "rb") as fh:
            text = fh.read().decode(head.encoding, errors="replace")
        import io

        df = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=",",
            has_header=False,
            skip_lines=3,
            schema={**{f"_c{j}": pl.String for j in range(width)}, OVERFLOW: pl.String},
            truncate_ragged_lines=True,
            missing_columns="insert",
            raise_if_empty=False,
            quote_char='"',
        ).with_row_index("_line", offset=4)
        notes: list[str] = []
        long = overflow_rows(df)
        if long.any():
            first = int(df["_line"][int(long.arg_max())])
            if on_bad_lines == "error":
                raise ParseError(
                    f"a row has more than the {width} fields the column lines allow: the file was "
                    "edited or holds two exports. Fix or remove the line.",
                    path=path,
                    line=first,
                    hint="Or pass on_bad_lines='skip' to read without such rows.",
                )
            notes.append(f"{int(long.sum())} row(s) with more fields than the column lines dropped")
            df = df.filter(~long)
        df = df.drop(OVERFLOW)

        def filled(name: str) -> pl.Expr:
            v = pl.col(name).str.strip_chars()
            return v.is_not_null() & (v != "")

        is_cycle = filled("_c0")
        is_step = ~is_cycle & filled("_c1")
        is_data = ~is_cycle & ~is_step & filled("_c2")
        merged = is_cycle & filled(f"_c{n_cycle}") if n_cycle < width else pl.lit(False)
        kinds = df.select(
            is_cycle.alias("cycle"),
            is_step.alias("step"),
            is_data.alias("data"),
            merged.alias("merged"),
        )

        # the cycle number of each cycle row must be a number
        cycles = df["_c0"].str.strip_chars().cast(pl.Int64, strict=False)
        bad = kinds["cycle"] & cycles.is_null()
        if bad.any():
            k = int(bad.arg_max())
            raise ParseError(
                f"expected a cycle number at the start of a cycle line, found "
                f"{quote(df['_c0'][k])}",
                path=path,
                line=int(df["_line"][k]),
                column=cycle_names[0] if cycle_names else 1,
            )
        ident = [(j, name) for j, name in enumerate(step_names) if STEP_IDENTITY.fullmatch(name)]
        carried = [
            pl.when(kinds["cycle"])
            .then(cycles)
            .otherwise(None)
            .forward_fill()
            .alias(cycle_names[0])
        ]
        for j, name in ident:
            value = pl.col(f"_c{1 + j}").str.strip_chars()
            if n_cycle + j < width:
                value = (
                    pl.when(kinds["merged"])
                    .then(pl.col(f"_c{n_cycle + j}").str.strip_chars())
                    .otherwise(value)
                )
            step_row = kinds["step"] | kinds["merged"]
            carried.append(pl.when(step_row).then(value).otherwise(None).forward_fill().alias(name))
        names = unique_names(
            [n or f"column_{j + 3}" for j, n in enumerate(data_names)]
            + [cycle_names[0]]
            + [name for _, name in ident]
        )
        frame = df.select(
            pl.col("_line"),
            *[pl.col(f"_c{2 + j}").alias(names[j]) for j in range(len(data_names))],
            *[expr.alias(names[len(data_names) + k]) for k, expr in enumerate(carried)],
        ).filter(kinds["data"])
        if frame.height == 0:
            raise EmptyFileError(
                "the three column lines are there but no record line (one starting with two "
                "empty fields) follows them",
                path=path,
            )
        orphan = frame.select(
            pl.any_horizontal(pl.col(n).is_null() for n in names[len(data_names) :])
        ).to_series()
        if orphan.any():
            raise ParseError(
                "a record line comes before any cycle or step line: the file does not start "
                "where the export starts",
                path=path,
                line=int(frame["_line"][int(orphan.arg_max())]),
            )
        last = check_complete_last_line(path, head.size, 2 + len(data_names), ",", head.encoding)
        if last is not None and last.startswith(",,"):
            if on_bad_lines == "error":
                raise TruncatedFileError(
                    f"the last line is cut short ({len(last.split(','))} of {2 + len(data_names)} "
                    f"fields, no line end): "
                    "the file was truncated, or the export is still being written: export it "
                    "again.",
                    path=path,
                    line=int(frame["_line"][-1]),
                    hint="Or pass on_bad_lines='skip' to read the complete rows and drop this one.",
                )
            frame = frame.head(frame.height - 1)
            notes.append("truncated last line dropped")
        lines = frame["_line"].to_numpy()
        frame = frame.drop("_line")
        numeric = [
            n for n in frame.columns if self.numeric_column(n) and frame[n].dtype == pl.String
        ]
        try:
            frame = to_float_columns(frame, numeric, path=path, first_line=0, decimal_comma=False)
            for name in TEST_TIME + STEP_TIME:
                if name in frame.columns:
                    hms_to_seconds(frame[name], path=path, first_line=0)
        except ParseError as exc:
            raise _at_line(exc, lines) from None
        others = []
        for n in frame.columns:  # other columns: numbers when every value is one
            if n in numeric or n in self.text_columns or frame[n].dtype != pl.String:
                continue
            col = frame[n].str.strip_chars()
            num = col.cast(pl.Float64, strict=False)
            if num.null_count() == col.is_null().sum() + (col == "").sum():
                others.append(num.alias(n))
        if others:
            frame = frame.with_columns(others)
        data = apply_column_map(frame, self.columns, path=path, vendor=self.vendor)
        meta = {"variant": 'BTS "regular" CSV export (cycle, step and record lines interleaved)'}
        self.postprocess(data, frame, meta, path)
        require(
            data,
            ("test_time_second", "voltage_volt", "current_ampere"),
            path=path,
            available=frame.columns,
        )
        return finish(
            data, meta, path=path, notes=notes + meta.pop(NOTES_KEY, []), reader=self.name
        )

    def postprocess(self, data, df, meta, path):
        first = meta.get(FIRST_ROW_KEY)
        used = []
        step_name = next((n for n in STEP_TIME if n in df.columns), None)
        step_t = None
        if step_name:
            step_t = hms_to_seconds(df[step_name], path=path, first_line=first)
            data["step_time_second"] = (step_t, {"source_column": step_name, "units": "s"})
            used.append(step_name)
        date_name = next((n for n in DATE_TIME if n in df.columns), None)
        unix = datetime_seconds(df[date_name]) if date_name else None
        if unix is not None:
            data["unix_time_second"] = (
                unix,
                {"source_column": date_name, "note": "cycler local time, taken as UTC"},
            )
            used.append(date_name)
        test_name = next((n for n in TEST_TIME if n in df.columns), None)
        if test_name:
            data["test_time_second"] = (
                hms_to_seconds(df[test_name], path=path, first_line=first),
                {"source_column": test_name, "units": "s"},
            )
            meta["test_time_from"] = f"the test time column {test_name!r}"
            used.append(test_name)
        elif (
            unix is not None
            and unix.size
            and np.isfinite(unix).all()
            and (np.diff(unix) >= 0).all()
        ):
            data["test_time_second"] = (
                unix - unix[0],
                {"derived_from": f"{date_name} (record date-time)", "units": "s"},
            )
            meta["test_time_from"] = (
                f"the record date-time column {date_name!r} (the file has no test time)"
            )
        elif step_t is not None:
            # test time from step times: add each step's duration at the step change
            new_step = np.r_[True, np.diff(step_t) < 0]
            if "step_count" in data:
                new_step |= np.r_[
                    True, np.diff(np.asarray(data["step_count"][0], dtype=float)) != 0
                ]
            offsets = np.where(new_step, np.r_[0, step_t[:-1]], 0)
            data["test_time_second"] = (
                np.cumsum(offsets) + step_t,
                {"derived_from": "step times", "units": "s"},
            )
            meta["test_time_from"] = (
                f"step times {step_name!r} added up (the file has no test time"
                + (f"; its {date_name!r} goes back)" if unix is not None else ")")
            )
        for name in used + ["Time", "Cumulative Time", "Total Time", "Date", "Realtime"]:
            data.pop(f"neware_{slug(name)}", None)
        st = None
        if "neware_step_type" in data:
            codes, attrs = data["neware_step_type"]
            st = schema.step_type_codes(attrs["labels"].split("\t"))[codes]
            data["step_type"] = (st, {"derived_from": attrs.get("source_column", "Step Type")})
        for raw, word, unit in (
            ("neware_capacity_ah", "capacity", "Ah"),
            ("neware_energy_wh", "energy", "Wh"),
        ):
            if raw not in data:
                continue
            values, attrs = data[raw]
            data[raw] = (values, {**attrs, "units": unit, "resets": "step"})
            if st is None or any(a.get("role") == f"charge_{word}" for _, a in data.values()):
                continue  # the file has its own charge/discharge counters
            for role, code, direction in (
                (f"charge_{word}", STEP_TYPES["charge"], "charging"),
                (f"discharge_{word}", STEP_TYPES["discharge"], "discharging"),
            ):
                data[f"step_{direction}_{word}_{unit.lower()}"] = (
                    directional_counter(np.abs(values), st, code),
                    {
                        "role": role,
                        "preference": 2,
                        "resets": "step",
                        "units": unit,
                        "derived_from": f"{attrs.get('source_column')} split by step type",
                    },
                )
        meta["cycler"] = "Neware"
