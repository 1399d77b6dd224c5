"""Generic delimited tables (CSV/TSV/semicolon) and Excel sheets with recognisable columns.

Common names for time, voltage and current (with their units) are recognised; anything else is
given explicitly: ``bv.read(path, format="generic", columns={"Zeit/s": "test_time_second"})``.
Use ``current_sign=-1`` for files whose current is positive on discharge.
"""

from __future__ import annotations

from pathlib import Path

from .. import schema
from ..errors import BatteryvizError, MissingColumnError, quote
from .base import GENERIC_SCORE, Column, Evidence, apply_column_map, regex_column
from .finish import finish
from .tabular import (
    TableReader,
    checked_sheet_names,
    choose_record_sheet,
    find_header,
    open_workbook,
    quote_sheets,
    read_workbook_sheets,
    workbook_sheet_names,
)
from .text import Head, read_head

_c = regex_column


COLUMNS = [
    _c(
        r"(test[ _]?)?time[ _]?(\(s\)|\[s\]|/s|_s|_second|_seconds|s|\(sec\)|\[sec\]|/sec)?|t",
        "test_time_second",
    ),
    _c(r"(test[ _]?)?time[ _]?(\(h\)|\[h\]|/h|_h|_hours?)", "test_time_second", scale=3600.0),
    _c(r"(test[ _]?)?time[ _]?(\(min\)|\[min\]|/min|_min)", "test_time_second", scale=60.0),
    _c(r"(cell[ _]?)?(voltage|potential|U|E|Ewe|V)[ _]?(\(V\)|\[V\]|/V|_V|_volt)?", "voltage_volt"),
    _c(r"(voltage|potential|U|E)[ _]?(\(mV\)|\[mV\]|/mV|_mV)", "voltage_volt", scale=1e-3),
    _c(r"(current|I)[ _]?(\(A\)|\[A\]|/A|_A|_ampere)?", "current_ampere"),
    _c(r"(current|I)[ _]?(\(mA\)|\[mA\]|/mA|_mA)", "current_ampere", scale=1e-3),
    _c(r"cycle([ _-]?(index|number|count|no\.?|#))?", "cycle_count", kind="int"),
    _c(r"step([ _-]?(index|number|no\.?|#))?", "step_index", kind="int"),
    _c(
        r"(temperature|temp|T)[ _]?(\(.?C\)|\[.?C\]|/.?C|_degc|_celsius)?",
        "ambient_temperature_celsius",
    ),
]


class GenericReader(TableReader):
    """Any delimited table or Excel sheet with time, voltage and current columns."""

    name = "generic"
    suffixes = (".csv", ".tsv", ".txt", ".xlsx", ".xls")
    description = "generic CSV/TSV/Excel table with recognisable column names"
    priority = 0
    columns = COLUMNS
    vendor = "generic"

    def header_index(self, head: Head) -> int | None:
        for k, line in enumerate(head.lines[:50]):
            names = [n.strip().strip('"') for n in _split(line)]
            found = {spec.target for spec in COLUMNS for n in names if spec.matches(n)}
            if all(r in found for r in schema.REQUIRED):
                return k
        return None

    def sniff(self, head: Head) -> bool:
        if workbook_sheet_names(head) or head.workbook_error:
            return True  # a workbook: its record sheet is chosen by its columns when it is read
        return not head.is_binary and self.header_index(head) is not None

    def score(self, head: Head) -> Evidence:
        """:data:`GENERIC_SCORE` when a line names time, voltage and current columns (a vendor's
        own marks score higher)."""
        if workbook_sheet_names(head):
            return Evidence(
                GENERIC_SCORE,
                "a workbook (a sheet with time, voltage and current columns is looked for)",
            )
        if head.workbook_error:  # reading it says what is wrong, better than "unknown format"
            return Evidence(
                GENERIC_SCORE,
                f"an Excel 97-2003 workbook that cannot be opened ({head.workbook_error[:120]})",
            )
        if head.is_binary:
            return Evidence(0.0, "a binary file")
        k = self.header_index(head)
        if k is None:
            return Evidence(0.0, "no line in the first 50 names time, voltage and current columns")
        return Evidence(GENERIC_SCORE, f"line {k + 1} names time, voltage and current columns")

    def read(
        self,
        path,
        *,
        columns: dict | None = None,
        current_sign: int = 1,
        sheet: str | None = None,
        **options,
    ):
        """Read the table. ``columns``: extra ``{source column: variable}`` entries (they take
        precedence over the built-in map), a value may be ``(variable, scale)`` for a column in
        other units (``("test_time_second", 60.0)`` for minutes, ``("current_ampere", 1e-3)``
        for mA); ``current_sign=-1``: the file's current is positive on
        discharge; ``sheet``: the workbook sheet to read (default: the sheet whose header maps
        time, voltage and current, the one with the most rows when several do)."""
        path = Path(path)
        head = read_head(path)
        sheets = checked_sheet_names(head)
        spec = self.columns
        if columns:
            spec = [_explicit(src, dst) for src, dst in columns.items()] + list(self.columns)
        meta: dict = {}
        if sheets:
            if sheet is not None and sheet not in sheets:
                raise BatteryvizError(
                    f"the workbook has no sheet {quote(sheet)}; its sheets: "
                    f"{quote_sheets(sheets, 20)}",
                    path=path,
                )

            def numeric(name: str) -> bool:
                return any(c.matches(name) and c.kind in ("float", "int") for c in spec)

            with open_workbook(path) as xl:
                chosen, why = (
                    (sheet, "given (sheet=...)")
                    if sheet is not None
                    else choose_record_sheet(xl, path, sheets, spec)
                )
                df = read_workbook_sheets(path, [chosen], numeric=numeric, xl=xl)
            meta = {"sheets": chosen, "sheet_choice": why}
            notes: list[str] = []
        else:
            if columns:
                # an explicit map defines the header row
                cls = type("Explicit", (GenericReader,), {"columns": spec})
                reader = cls()
                reader.header_index = lambda h: find_header(
                    h.lines, "|".join(map(_escape, columns))
                )  # type: ignore[assignment]
                df, notes, _, _ = reader.load_frame(
                    path, head, options.get("on_bad_lines", "error")
                )
            else:
                df, notes, _, _ = self.load_frame(path, head, options.get("on_bad_lines", "error"))
        data = apply_column_map(df, spec, path=path, vendor="generic")
        missing = [r for r in schema.REQUIRED if r not in data]
        if missing:
            raise MissingColumnError(
                f"could not find a column for {', '.join(missing)}; columns: "
                f"{', '.join(df.columns)}.",
                path=path,
                column=missing[0],
                hint="Pass columns={'<your column>': '" + missing[0] + "'}.",
            )
        if current_sign not in (1, -1):
            raise ValueError("current_sign must be 1 or -1")
        if current_sign == -1:
            i, attrs = data["current_ampere"]
            data["current_ampere"] = (
                -i,
                {**attrs, "note": "sign flipped on reading (file: positive = discharge)"},
            )
        return finish(data, {"cycler": "unknown", **meta}, path=path, notes=notes, reader=self.name)


def _explicit(source: str, target) -> Column:
    """A column named by the user: ``variable`` or ``(variable, scale)``."""
    if isinstance(target, (tuple, list)):
        variable, scale = target
        if variable not in schema.VARIABLES:
            raise ValueError(f"columns: {quote(variable)} is not a batteryviz variable")
        return Column(source, variable, scale=float(scale))
    return Column(source, target)


def _number(text: str) -> bool:
    try:
        float(text.strip().strip('"').replace(",", "."))
    except ValueError:
        return False
    return True


def table_columns(path, lines: int = 200) -> tuple[int, list[str]] | None:
    """The column line of a delimited table whose columns no reader recognised, and its names:
    the first line (of the first ``lines``) of at least three names that is followed by three
    lines with as many fields, mostly numbers. ``None`` for a binary file or no such line.
    This is what a user picks time, voltage and current from (the dashboard's column form)."""
    head = read_head(Path(path))
    if head.is_binary or workbook_sheet_names(head):
        return None
    rows = head.lines[:lines]
    for k in range(len(rows) - 3):
        names = [n.strip().strip('"') for n in _split(rows[k])]
        if len(names) < 3 or sum(_number(n) for n in names) > len(names) // 2:
            continue
        below = [_split(r) for r in rows[k + 1 : k + 4]]
        if all(len(r) == len(names) and sum(map(_number, r)) >= len(r) / 2 for r in below):
            return k, [n if n else f"column {i + 1}" for i, n in enumerate(names)]
    return None


def _split(line: str) -> list[str]:
    for sep in ("\t", ";", ","):
        if sep in line:
            return line.split(sep)
    return line.split()


def _escape(s: str) -> str:
    import re

    return re.escape(s)
