"""Impedance-analyser text exports: Gamry ``.DTA``, Scribner ZPlot ``.z``, the ``Z60W`` data file
(Metrohm Autolab FRA export) and PARSTAT/VersaStudio tab exports.

Every reader here returns one impedance spectrum on the ``record`` dimension:
``frequency_hertz``, ``real_impedance_ohm`` and ``imaginary_impedance_ohm`` (Im(Z) signed, negative
for a capacitive point; a column named ``-Zimag`` or ``-Z''`` would be negated), plus what else the
file carries under schema names where one exists (``test_time_second``, ``voltage_volt`` for the DC
potential, ``current_ampere`` for the DC current, ``absolute_impedance_ohm``,
``phase_angle_degree``, ``data_point``) and the remaining columns as ``<vendor>_<column>``.
Header values go to ``attrs``. Each reader recognises its format by content, never by suffix.

Layouts
-------
**Gamry Framework ``.DTA``** (EISPOT, EISGALV …; cp1252 or UTF-8, tab separated)::

    EXPLAIN
    TAG       EISPOT
    TITLE     LABEL   Potentiostatic EIS   Test &Identifier
    VDC       POTEN   -5.00000E-002   T    DC &Voltage (V)      (T: versus open circuit)
    NOTES     NOTES   2   &Notes...                             (then 2 note lines)
    OCVCURVE  TABLE   387                                       (optional row count)
    <tab>Pt<tab>T<tab>Vf ...                                    (names, then units)
    <tab>0<tab>0.258<tab>...                                    (rows start with a tab)
    EOC       QUANT   -0.29198   Open Circuit (V)
    ZCURVE    TABLE
    <tab>Pt  Time  Freq  Zreal  Zimag  Zsig  Zmod  Zphz  Idc  Vdc  IERange
    <tab>#   s     Hz    ohm    ohm    V     ohm   °     A    V    #

  Tag lines are ``NAME<tab>TYPE<tab>value…<tab>label``. A ``TABLE`` tag is followed by a names
  line, a units line and rows that each start with a tab; the table ends at the next tag line.
  The spectrum is the ``ZCURVE`` table; ``Zimag`` is written signed (negative = capacitive).

**Scribner ZPlot ASCII ``.z``**::

    ZPLOT2 ASCII
      Measured Data, ZPlot:       3.2c
      Date:                       10-12-2018
      Begin Experiment:           0            (indented ``key: value`` sections …)
      End Experiment:             0
      Data Points:                56           (points planned, not necessarily written)
      Freq(Hz)<tab>Ampl<tab>Bias<tab>Time(Sec)<tab>Z'(a)<tab>Z''(b)<tab>GD<tab>Err<tab>Range
    End Comments
    3.000000E+05<tab>1.0000E-02<tab>...      (tab-separated rows)

  ``Z''(b)`` is signed (negative = capacitive).

**Z60W data file (Metrohm Autolab FRA export)**: UTF-8 with BOM; quoted strings, a comma line of
settings, the point count, one quoted header whose names are separated by runs of spaces, then
comma-separated rows::

    "Z60W Data File: Version 1.1"
    ""                                        (quoted blank lines)
    0,2,0,1,0.1,10000
    41
    "  Freq (Hz)    Ampl     Bias   Time(Sec)   Z'(a)    Z''(b)    GD   Err   Range"
    10000,0,0,0,0.0137858,0.0071919,0,0,0

  The columns are the ZPlot ones; ``Z''(b)`` is signed.

**PARSTAT / VersaStudio tab export**: one header line, tab separated with a trailing tab::

    Potential (V)  Current (A)  Elapsed Time (s)  Frequency (Hz)  Zre (ohms)  Zim (ohms)  |Vac| (V)
     |Iac| (A)

  The DC log of the experiment (rows with ``Frequency (Hz)`` = 0 and zero impedance) comes first,
  then the sweep. Only the sweep is kept (the DC rows are dropped, with a note in
  ``quality_warnings``). ``Zim`` is signed (negative = capacitive).

Bad input raises a :class:`~batteryviz.errors.BatteryvizError`: :class:`EmptyFileError` for a header
without impedance rows, :class:`TruncatedFileError` for a file cut inside a row or before its data,
:class:`ParseError` (file, line and column) for a value that is not a number or a malformed row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import polars as pl
import xarray as xr

from ..errors import (
    EmptyFileError,
    MissingColumnError,
    ParseError,
    TruncatedFileError,
    quote,
    quote_list,
)
from .base import Column, Reader, convert_column, plan_columns, regex_column, slug, unique_names
from .finish import check_memory, finish
from .text import Head, read_head, require_text, uses_decimal_comma

_c = regex_column

#: The variables a spectrum must have; an empty value in their columns is an error.
_SPECTRUM = ("frequency_hertz", "real_impedance_ohm", "imaginary_impedance_ohm")

#: Tokens that are not numbers but stand for a missing value in an optional column.
_MISSING = ("", "nan", "-nan", "n/a", "na", "inf", "-inf", "+inf")

_NUMBER = re.compile(r"^[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?$")


# ---------------------------------------------------------------------------------------------
# shared helpers


@dataclass
class _Lines:
    """A text file split into lines (``\\n``, ``\\r\\n`` or ``\\r``); ``ends_with_newline`` tells
    whether the last line is complete."""

    lines: list[str]
    ends_with_newline: bool

    @classmethod
    def load(cls, path: Path, encoding: str | None) -> "_Lines":
        text = path.read_bytes().decode(encoding or "utf-8", errors="replace")
        if text.startswith("\ufeff"):
            text = text[1:]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        ends = text.endswith("\n")
        lines = text.split("\n")
        if ends:
            lines.pop()
        return cls(lines, ends)


@dataclass
class _Table:
    """Rows of one table as text fields, with the 1-based file line of each row."""

    names: list[str]
    rows: list[list[str]] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)


def _start(
    path: str | Path, reader: str, max_memory_bytes: int | None
) -> tuple[Path, Head, _Lines]:
    """Open ``path`` as text: binary guard, memory guard, the file's lines."""
    path = Path(path)
    head = read_head(path)
    require_text(head, reader)
    check_memory(path, head.size * 3, max_memory_bytes)
    return path, head, _Lines.load(path, head.encoding)


def _unquote(line: str) -> str:
    """A line without surrounding whitespace, BOM and one pair of double quotes."""
    s = line.strip().lstrip("\ufeff").strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1]
    return s


def _value(text: str) -> int | float | str:
    """A header value as an int or float when it is a number (decimal point or comma), else the
    text."""
    s = text.strip()
    if s.isdigit():
        return int(s)
    if _NUMBER.match(s):
        return float(s.replace(",", "."))
    return s


def _split(line: str, separator: str) -> list[str]:
    return line.split() if separator == " " else line.split(separator)


def _data_separator(line: str) -> str:
    """Tab, comma or runs of spaces: the separator of one data row."""
    if "\t" in line:
        return "\t"
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return " "


def _truncated(path: Path, line: int, what: str, in_row: bool = False) -> TruncatedFileError:
    """The error for a file that ends without a line end at ``line`` (``what``: where)."""
    return TruncatedFileError(
        f"the file ends {what} with no line end: it was truncated (an interrupted copy, or the "
        "export is still being written). Export the file again.",
        path=path,
        line=line,
        hint="Or pass on_bad_lines='skip' to read the complete rows." if in_row else None,
    )


def _check_fields(
    table: _Table, *, path: Path, lines: _Lines, on_bad_lines: str, notes: list[str]
) -> _Table:
    """Every row has exactly one field per name (empty trailing fields beyond them are allowed).

    A short last row of a file without a final line end is a :class:`TruncatedFileError`; any
    other short or long row is a :class:`ParseError` naming its line. With
    ``on_bad_lines='skip'`` such rows are dropped with a note instead.
    """
    if on_bad_lines not in ("error", "skip"):
        raise ValueError("on_bad_lines must be 'error' or 'skip'")
    n = len(table.names)
    keep_rows, keep_lines, dropped = [], [], 0
    last_line = len(lines.lines)
    for fields, line in zip(table.rows, table.line_numbers):
        while len(fields) > n and not fields[-1].strip():
            fields = fields[:-1]
        if len(fields) == n:
            keep_rows.append(fields)
            keep_lines.append(line)
            continue
        if on_bad_lines == "skip":
            dropped += 1
            continue
        if len(fields) < n and line == last_line and not lines.ends_with_newline:
            raise _truncated(path, line, f"inside a row ({len(fields)} of {n} fields)", in_row=True)
        raise ParseError(
            f"a row has {len(fields)} field(s) where the header names {n} "
            f"({', '.join(quote(x) for x in table.names[:12])}{' …' if n > 12 else ''}); "
            "the file was edited or holds two exports.",
            path=path,
            line=line,
            hint="Pass on_bad_lines='skip' to read without such rows.",
        )
    if dropped:
        notes.append(
            f"{dropped} row(s) with a wrong number of fields dropped (on_bad_lines='skip')"
        )
    return _Table(table.names, keep_rows, keep_lines)


def _numbers(
    tokens: Sequence[str],
    *,
    name: str,
    line_numbers: Sequence[int],
    path: Path,
    decimal_comma: bool,
    strict: bool,
    required: bool,
) -> pl.Series | None:
    """Parse one column of text fields to Float64.

    A token that is not a number raises :class:`ParseError` naming its line and column when
    ``strict``; otherwise the function returns ``None`` (the caller keeps the column as text).
    Empty fields and ``nan`` are missing values, except in ``required`` columns where an empty
    field is an error too.
    """
    text = pl.Series(name, list(tokens), dtype=pl.String).str.strip_chars()
    cleaned = text.str.replace_all(",", ".", literal=True) if decimal_comma else text
    values = cleaned.cast(pl.Float64, strict=False)
    missing = text.str.to_lowercase().is_in(list(_MISSING))
    bad = values.is_null() & ~missing
    if required:
        bad = bad | (text == "")
    if bad.any():
        if not (strict or required):
            return None
        k = int(bad.arg_true()[0])
        found = tokens[k].strip()
        raise ParseError(
            f"expected a number, found {quote(found) if found else 'an empty field'} "
            f"({int(bad.sum())} such value(s) in this column)",
            path=path,
            line=int(line_numbers[k]),
            column=name,
        )
    return values


def _columns(
    table: _Table, columns: list[Column], *, path: Path, vendor: str, decimal_comma: bool
) -> dict[str, tuple[np.ndarray, dict]]:
    """Turn a checked :class:`_Table` into ``{variable: (array, attrs)}`` following ``columns``.

    Mapped columns must be numeric; unmapped ones become ``<vendor>_<slug>`` and are kept as
    text codes (see :func:`~batteryviz.io.base.categorical`) when they hold text.
    """
    data: dict[str, tuple[np.ndarray, dict]] = {}
    names = unique_names(table.names)  # a repeated name gets ".1", ".2" …
    position = {name: k for k, name in enumerate(names)}
    for name, target, spec in plan_columns(names, columns, vendor):
        k = position[name]
        tokens = [row[k] for row in table.rows]
        values = _numbers(
            tokens,
            name=name,
            line_numbers=table.line_numbers,
            path=path,
            decimal_comma=decimal_comma,
            strict=spec is not None,
            required=target in _SPECTRUM,
        )
        series = (
            values
            if values is not None
            else pl.Series(name, tokens, dtype=pl.String).str.strip_chars()
        )
        data[target] = convert_column(series.alias(name), target, spec)
    return data


def _require_spectrum(data: dict, *, path: Path, names: list[str], line: int | None) -> None:
    """Raise :class:`MissingColumnError` (naming the header line) without a full spectrum."""
    missing = [t for t in _SPECTRUM if t not in data]
    if missing:
        raise MissingColumnError(
            f"no column for {', '.join(missing)}: expected frequency, real and imaginary impedance "
            f"columns; the header names {quote_list(names)}",
            path=path,
            line=line,
            column=missing[0],
        )


def _decimal_comma(table: _Table, separator: str) -> bool:
    return uses_decimal_comma([separator.join(r) for r in table.rows[:50]], separator)


def _announced(notes: list[str], announced: int | None, found: int, what: str) -> None:
    if announced is not None and announced != found:
        notes.append(
            f"the header announces {announced} {what} but the file holds {found}"
            + (" (the sweep was stopped early)" if found < announced else "")
        )


#: Columns of the ZPlot / Z60W layout (Z''(b) signed, negative = capacitive).
ZPLOT_COLUMNS = [
    _c(r"freq\w*\s*\(hz\)|freq(uency)?", "frequency_hertz"),
    _c(r"z'\s*(\(a\))?", "real_impedance_ohm"),
    _c(r"z''\s*(\(b\))?", "imaginary_impedance_ohm"),
    _c(r"-\s*z''\s*(\(b\))?", "imaginary_impedance_ohm", scale=-1.0),
    _c(r"time\s*\((sec|s)\)", "test_time_second"),
]


# ---------------------------------------------------------------------------------------------
# Gamry .DTA

GAMRY_COLUMNS = [
    _c(r"pt", "data_point", kind="int"),
    _c(r"time|t", "test_time_second"),
    _c(r"freq", "frequency_hertz"),
    _c(r"zreal", "real_impedance_ohm"),
    _c(r"zimag", "imaginary_impedance_ohm"),
    _c(r"-\s*zimag", "imaginary_impedance_ohm", scale=-1.0),
    _c(r"zmod", "absolute_impedance_ohm"),
    _c(r"zphz", "phase_angle_degree"),
    _c(r"vdc", "voltage_volt"),
    _c(r"idc", "current_ampere"),
    _c(r"temp", "ambient_temperature_celsius"),
]

#: Gamry header tags kept under a plain name (the value is converted to a number when it is one).
_GAMRY_TAGS = {
    "TAG": "technique",
    "TITLE": "title",
    "DATE": "date",
    "TIME": "time",
    "PSTAT": "device",
    "PSTATSERIALNO": "serial_number",
    "FREQINIT": "initial_frequency_hertz",
    "FREQFINAL": "final_frequency_hertz",
    "PTSPERDEC": "points_per_decade",
    "VAC": "ac_amplitude_mv_rms",
    "AREA": "electrode_area_cm2",
    "EOC": "open_circuit_potential_volt",
    "ZGUESS": "estimated_impedance_ohm",
}

#: Tag types holding one value in the third field.
_GAMRY_SCALAR = {"LABEL", "QUANT", "IQUANT", "POTEN", "TOGGLE", "SELECTOR", "PSTAT", "ONEPARAM"}


@dataclass
class _GamryFile:
    meta: dict[str, Any]
    tables: dict[str, tuple[int, int | None, _Table]]  #: name -> (tag line, announced rows, table)


def _gamry_structure(lines: list[str]) -> _GamryFile:
    """Walk the tag lines of a ``.DTA`` file: header values and every ``TABLE``."""
    meta: dict[str, Any] = {}
    tables: dict[str, tuple[int, int | None, _Table]] = {}
    i, n = 1, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or line.startswith("\t"):
            i += 1  # a stray continuation line
            continue
        fields = line.split("\t")
        tag, kind = fields[0].strip(), (fields[1].strip() if len(fields) > 1 else "")
        if kind == "TABLE":
            announced = int(fields[2]) if len(fields) > 2 and fields[2].strip().isdigit() else None
            j = i + 1
            names = (
                [x.strip() for x in lines[j].split("\t")[1:]]
                if j < n and lines[j].startswith("\t")
                else []
            )
            while names and not names[-1]:
                names.pop()
            table = _Table(names)
            if names:
                j += 1
                if (
                    j < n
                    and lines[j].startswith("\t")
                    and not all(
                        _NUMBER.match(x.strip()) for x in lines[j].split("\t")[1:] if x.strip()
                    )
                ):
                    j += 1  # the units line (#, s, Hz, ohm …)
            while j < n and lines[j].startswith("\t"):
                table.rows.append(lines[j].split("\t")[1:])
                table.line_numbers.append(j + 1)
                j += 1
            tables.setdefault(tag, (i + 1, announced, table))
            i = max(j, i + 1)
            continue
        if kind == "NOTES":
            count = int(fields[2]) if len(fields) > 2 and fields[2].strip().isdigit() else 0
            text = [lines[k].strip() for k in range(i + 1, min(n, i + 1 + count))]
            if any(text):
                meta["notes"] = "\n".join(t for t in text if t)
            i += 1 + count
            continue
        if tag == "TAG" and len(fields) > 1:
            meta["TAG"] = fields[1].strip()
        elif kind in _GAMRY_SCALAR and len(fields) > 2:
            meta[tag] = fields[2].strip()
            if kind == "POTEN" and len(fields) > 3 and fields[3].strip() in ("T", "F"):
                meta[f"{tag}__vs_eoc"] = fields[3].strip() == "T"
        elif kind == "TWOPARAM" and len(fields) > 4:
            meta[tag] = f"{fields[2].strip()} {fields[3].strip()} {fields[4].strip()}"
        i += 1
    return _GamryFile(meta, tables)


def _gamry_metadata(raw: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"cycler": "Gamry"}
    for tag, value in raw.items():
        if tag.endswith("__vs_eoc"):
            continue
        name = _GAMRY_TAGS.get(tag)
        if tag == "VDC":
            meta["dc_potential_volt"] = _value(value)
            if "VDC__vs_eoc" in raw:
                meta["dc_potential_versus"] = (
                    "open circuit" if raw["VDC__vs_eoc"] else "reference electrode"
                )
        elif tag == "FRAMEWORKVERSION":
            meta["software"] = f"Gamry Framework {value}"
        elif tag == "notes":
            meta["notes"] = value
        elif name is not None:
            meta[name] = (
                _value(value)
                if name not in ("title", "date", "time", "device", "serial_number")
                else value
            )
        else:
            meta[f"gamry_{slug(tag)}"] = _value(value)
    if "date" in meta and "time" in meta:
        meta["start_time"] = f"{meta['date']} {meta['time']}"
    return meta


class GamryDTAReader(Reader):
    """Gamry Framework ``.DTA`` impedance files (the ``ZCURVE`` table)."""

    name = "gamry"
    suffixes = (".dta",)
    description = "Gamry Framework .DTA impedance spectrum (EISPOT/EISGALV, ZCURVE table)"
    priority = 85

    def sniff(self, head: Head) -> bool:
        if head.is_binary or not head.lines or head.lines[0].strip().lstrip("\ufeff") != "EXPLAIN":
            return False
        for line in head.lines[1:6]:
            fields = line.split("\t")
            if fields[0] == "TAG" and len(fields) > 1:
                if "EIS" in fields[1].upper():
                    return True
                break
        return any(line.startswith("ZCURVE\tTABLE") for line in head.lines)

    def read(
        self,
        path: str | Path,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_: Any,
    ) -> xr.Dataset:
        """Read the ``ZCURVE`` table of a Gamry ``.DTA`` file.

        Parameters
        ----------
        on_bad_lines
            ``"error"`` (default) or ``"skip"``: drop rows with a wrong number of fields.
        max_memory_bytes
            Refuse files whose parsed form would need more memory than this.
        """
        path, _, lines = _start(path, "Gamry DTA", max_memory_bytes)
        if not lines.lines or lines.lines[0].strip() != "EXPLAIN":
            raise ParseError(
                "expected 'EXPLAIN' on the first line of a Gamry .DTA file", path=path, line=1
            )
        gamry = _gamry_structure(lines.lines)
        notes: list[str] = []
        if "ZCURVE" not in gamry.tables:
            found = ", ".join(gamry.tables) or "none"
            if not lines.ends_with_newline:
                raise _truncated(
                    path, len(lines.lines), f"before the ZCURVE table (tables found: {found})"
                )
            raise EmptyFileError(
                f"no ZCURVE table (the impedance data) in this Gamry file; tables found: {found}",
                path=path,
            )
        tag_line, announced, table = gamry.tables["ZCURVE"]
        if not table.names:
            if tag_line == len(lines.lines) and not lines.ends_with_newline:
                raise _truncated(path, tag_line, "after the ZCURVE tag")
            raise ParseError(
                "expected the ZCURVE column names on the line after the ZCURVE tag "
                "(a line starting with a tab)",
                path=path,
                line=tag_line + 1,
            )
        if not table.rows:
            if not lines.ends_with_newline and len(lines.lines) <= tag_line + 2:
                raise _truncated(path, len(lines.lines), "inside the ZCURVE header")
            raise EmptyFileError(
                "the ZCURVE table has no rows (a header but no impedance points)",
                path=path,
                line=tag_line,
            )
        table = _check_fields(table, path=path, lines=lines, on_bad_lines=on_bad_lines, notes=notes)
        if not table.rows:
            raise EmptyFileError("no complete ZCURVE row", path=path, line=tag_line)
        data = _columns(
            table,
            GAMRY_COLUMNS,
            path=path,
            vendor="gamry",
            decimal_comma=_decimal_comma(table, "\t"),
        )
        _require_spectrum(data, path=path, names=table.names, line=tag_line + 1)
        _announced(notes, announced, len(table.rows), "impedance points")
        meta = _gamry_metadata(gamry.meta)
        meta["gamry_tables"] = ", ".join(
            f"{k} ({len(t.rows)} rows)" for k, (_, _, t) in gamry.tables.items()
        )
        return finish(data, meta, path=path, notes=notes, reader=self.name)


# ---------------------------------------------------------------------------------------------
# Scribner ZPlot .z

_ZPLOT_MAGIC = re.compile(r"^ZPLOT\d*\s+ASCII\b", re.IGNORECASE)

#: ZPlot header keys kept under a plain name (top level or inside a Begin/End section).
_ZPLOT_KEYS = {
    "measured data, zplot": "software",
    "experiment type": "technique",
    "date": "date",
    "time": "time",
    "open circuit potential (v)": "open_circuit_potential_volt",
    "vs freq-initial": "initial_frequency_hertz",
    "vs freq-final": "final_frequency_hertz",
    "potential-dc": "zplot_potential_dc",
    "potential-ac": "zplot_potential_ac",
    "current-dc": "zplot_current_dc",
    "current-ac": "zplot_current_ac",
    "surface area": "zplot_surface_area",
}

#: The standard ZPlot columns, used when a file has no names line before ``End Comments``.
_ZPLOT_DEFAULT_NAMES = [
    "Freq(Hz)",
    "Ampl",
    "Bias",
    "Time(Sec)",
    "Z'(a)",
    "Z''(b)",
    "GD",
    "Err",
    "Range",
]


class ZPlotReader(Reader):
    """Scribner ZPlot ASCII ``.z`` files."""

    name = "zplot"
    suffixes = (".z",)
    description = "Scribner ZPlot ASCII .z impedance spectrum"
    priority = 85

    def sniff(self, head: Head) -> bool:
        return bool(
            not head.is_binary and head.lines and _ZPLOT_MAGIC.match(_unquote(head.lines[0]))
        )

    def read(
        self,
        path: str | Path,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_: Any,
    ) -> xr.Dataset:
        """Read a ZPlot ``.z`` file (header up to ``End Comments``, then tab-separated rows).

        Parameters
        ----------
        on_bad_lines
            ``"error"`` (default) or ``"skip"``: drop rows with a wrong number of fields.
        max_memory_bytes
            Refuse files whose parsed form would need more memory than this.
        """
        path, _, lines = _start(path, "ZPlot", max_memory_bytes)
        text = lines.lines
        if not text or not _ZPLOT_MAGIC.match(_unquote(text[0])):
            raise ParseError(
                "expected 'ZPLOT2 ASCII' on the first line of a ZPlot .z file", path=path, line=1
            )
        end = next((k for k, ln in enumerate(text) if ln.strip().lower() == "end comments"), None)
        if end is None:
            if not lines.ends_with_newline:
                raise _truncated(path, len(text), "inside the header (no 'End Comments' line)")
            raise ParseError(
                "no 'End Comments' line ends the ZPlot header", path=path, line=len(text)
            )
        meta: dict[str, Any] = {"cycler": "Scribner ZPlot"}
        announced = None
        depth = 0
        for ln in text[1:end]:
            key, sep, value = ln.partition(":")
            key = key.strip()
            low = key.lower()
            if low.startswith("begin "):
                depth += 1
                continue
            if low.startswith("end "):
                depth = max(0, depth - 1)
                continue
            if not sep or "\t" in ln:
                continue
            value = value.strip()
            if low == "data points" and value.isdigit():
                announced = int(value)
            name = _ZPLOT_KEYS.get(low)
            if name == "software":
                meta[name] = f"ZPlot {value}"
            elif name in ("date", "time", "technique"):
                meta[name] = value
            elif name is not None:
                meta[name] = _value(value)
            elif depth == 0 and value:
                meta[f"zplot_{slug(key)}"] = _value(value)
        if "date" in meta and "time" in meta:
            meta["start_time"] = f"{meta['date']} {meta['time']}"
        notes: list[str] = []
        names_line = text[end - 1] if end > 1 else ""
        rows = [(k + 1, ln) for k, ln in enumerate(text[end + 1 :], start=end + 1) if ln.strip()]
        if not rows:
            raise EmptyFileError(
                "the ZPlot file has a header but no data rows after 'End Comments'",
                path=path,
                line=end + 1,
            )
        separator = _data_separator(rows[0][1])
        if "\t" in names_line and "freq" in names_line.lower():
            names = [x.strip() for x in names_line.split("\t")]
            while names and not names[-1]:
                names.pop()
        else:
            names = _ZPLOT_DEFAULT_NAMES[: len(_split(rows[0][1].strip(), separator))]
            notes.append(
                "no column names before 'End Comments': the standard ZPlot columns were assumed"
            )
        table = _Table(
            names, [_split(ln.strip(" "), separator) for _, ln in rows], [k for k, _ in rows]
        )
        table = _check_fields(table, path=path, lines=lines, on_bad_lines=on_bad_lines, notes=notes)
        if not table.rows:
            raise EmptyFileError("no complete ZPlot data row", path=path, line=end + 1)
        data = _columns(
            table,
            ZPLOT_COLUMNS,
            path=path,
            vendor="zplot",
            decimal_comma=_decimal_comma(table, separator),
        )
        _require_spectrum(data, path=path, names=names, line=end)
        _announced(notes, announced, len(table.rows), "data points")
        return finish(data, meta, path=path, notes=notes, reader=self.name)


# ---------------------------------------------------------------------------------------------
# Z60W data file (Metrohm Autolab FRA export)

_Z60W_MAGIC = re.compile(r"^Z60W Data File\b", re.IGNORECASE)


def _space_names(text: str) -> list[str]:
    """Column names separated by spaces, a unit in brackets staying with its name
    (``Freq (Hz)    Ampl`` -> ``["Freq (Hz)", "Ampl"]``)."""
    names: list[str] = []
    for token in text.split():
        if names and token[:1] in "([":
            names[-1] = f"{names[-1]} {token}"
        else:
            names.append(token)
    return names


class AutolabZ60WReader(Reader):
    """``Z60W Data File`` exports (Metrohm Autolab FRA; the ZPlot column layout)."""

    name = "autolab"
    suffixes = (".txt", ".z60")
    description = "Metrohm Autolab FRA export (Z60W Data File) impedance spectrum"
    priority = 85

    def sniff(self, head: Head) -> bool:
        return bool(
            not head.is_binary and head.lines and _Z60W_MAGIC.match(_unquote(head.lines[0]))
        )

    def read(
        self,
        path: str | Path,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_: Any,
    ) -> xr.Dataset:
        """Read a Z60W data file (quoted preamble, point count, quoted header, comma rows).

        Parameters
        ----------
        on_bad_lines
            ``"error"`` (default) or ``"skip"``: drop rows with a wrong number of fields.
        max_memory_bytes
            Refuse files whose parsed form would need more memory than this.
        """
        path, _, lines = _start(path, "Z60W data file", max_memory_bytes)
        text = lines.lines
        if not text or not _Z60W_MAGIC.match(_unquote(text[0])):
            raise ParseError("expected 'Z60W Data File' on the first line", path=path, line=1)
        meta: dict[str, Any] = {"cycler": "Metrohm Autolab", "software": _unquote(text[0])}
        header = None
        announced = None
        for k, ln in enumerate(text[1:], start=1):
            s = _unquote(ln)
            if not s:
                continue
            if "freq" in s.lower():
                header = k
                break
            if s.isdigit():
                announced = int(s)
            elif "," in s:
                meta["autolab_settings"] = s
        if header is None:
            if not lines.ends_with_newline:
                raise _truncated(path, len(text), "before the column header line")
            raise ParseError(
                "no column header line (a quoted line naming 'Freq (Hz)' and the "
                "impedance columns) after the preamble",
                path=path,
                line=len(text),
            )
        names = _space_names(_unquote(text[header]))
        rows = [
            (k + 1, ln) for k, ln in enumerate(text[header + 1 :], start=header + 1) if _unquote(ln)
        ]
        if not rows:
            raise EmptyFileError(
                "the Z60W file has a header but no data rows", path=path, line=header + 1
            )
        separator = _data_separator(rows[0][1])
        notes: list[str] = []
        table = _Table(
            names,
            [[f.strip().strip('"') for f in _split(ln.strip(), separator)] for _, ln in rows],
            [k for k, _ in rows],
        )
        table = _check_fields(table, path=path, lines=lines, on_bad_lines=on_bad_lines, notes=notes)
        if not table.rows:
            raise EmptyFileError("no complete data row", path=path, line=header + 1)
        data = _columns(
            table,
            ZPLOT_COLUMNS,
            path=path,
            vendor="autolab",
            decimal_comma=_decimal_comma(table, separator),
        )
        _require_spectrum(data, path=path, names=names, line=header + 1)
        _announced(notes, announced, len(table.rows), "points")
        return finish(data, meta, path=path, notes=notes, reader=self.name)


# ---------------------------------------------------------------------------------------------
# PARSTAT / VersaStudio

PARSTAT_COLUMNS = [
    _c(r"potential\s*\(v\)|e\s*\(v\)", "voltage_volt"),
    _c(r"current\s*\(a\)|i\s*\(a\)", "current_ampere"),
    _c(r"elapsed time\s*\(s\)", "test_time_second"),
    _c(r"frequency\s*\(hz\)", "frequency_hertz"),
    _c(r"zre\s*\(ohms?\)", "real_impedance_ohm"),
    _c(r"zim\s*\(ohms?\)", "imaginary_impedance_ohm"),
    _c(r"-\s*zim\s*\(ohms?\)", "imaginary_impedance_ohm", scale=-1.0),
]

_PARSTAT_REQUIRED = (
    re.compile(r"frequency\s*\(hz\)"),
    re.compile(r"-?\s*zre\s*\(ohms?\)"),
    re.compile(r"-?\s*zim\s*\(ohms?\)"),
)


def _parstat_names(line: str) -> list[str] | None:
    """The header names when ``line`` is a PARSTAT header (tab separated, ``Frequency (Hz)``,
    ``Zre (ohms)`` and ``Zim (ohms)`` among them), else ``None``."""
    if "\t" not in line:
        return None
    names = [x.strip() for x in line.split("\t")]
    while names and not names[-1]:
        names.pop()
    low = [n.lower() for n in names]
    if all(any(p.fullmatch(n) for n in low) for p in _PARSTAT_REQUIRED):
        return names
    return None


class ParstatReader(Reader):
    """PARSTAT / VersaStudio tab exports: the impedance points (DC records dropped)."""

    name = "parstat"
    suffixes = (".txt",)
    description = "Princeton Applied Research PARSTAT / VersaStudio impedance export"
    priority = 60

    def sniff(self, head: Head) -> bool:
        return bool(
            not head.is_binary and head.lines and _parstat_names(head.lines[0].lstrip("\ufeff"))
        )

    def read(
        self,
        path: str | Path,
        *,
        on_bad_lines: str = "error",
        max_memory_bytes: int | None = None,
        **_: Any,
    ) -> xr.Dataset:
        """Read the impedance sweep of a PARSTAT export; rows with frequency 0 (the DC log of the
        experiment) are dropped with a note.

        Parameters
        ----------
        on_bad_lines
            ``"error"`` (default) or ``"skip"``: drop rows with a wrong number of fields.
        max_memory_bytes
            Refuse files whose parsed form would need more memory than this.
        """
        path, _, lines = _start(path, "PARSTAT", max_memory_bytes)
        text = lines.lines
        names = _parstat_names(text[0]) if text else None
        if names is None:
            raise ParseError(
                "expected a tab-separated header naming 'Frequency (Hz)', 'Zre (ohms)' and "
                "'Zim (ohms)' on the first line",
                path=path,
                line=1,
            )
        rows = [(k + 1, ln) for k, ln in enumerate(text[1:], start=1) if ln.strip()]
        if not rows:
            raise EmptyFileError(
                "the PARSTAT file has a header but no data rows", path=path, line=1
            )
        notes: list[str] = []
        table = _Table(names, [ln.split("\t") for _, ln in rows], [k for k, _ in rows])
        table = _check_fields(table, path=path, lines=lines, on_bad_lines=on_bad_lines, notes=notes)
        if not table.rows:
            raise EmptyFileError("no complete data row", path=path, line=2)
        data = _columns(
            table,
            PARSTAT_COLUMNS,
            path=path,
            vendor="parstat",
            decimal_comma=_decimal_comma(table, "\t"),
        )
        _require_spectrum(data, path=path, names=names, line=1)
        ac = data["frequency_hertz"][0] != 0
        n_dc = int((~ac).sum())
        if not ac.any():
            raise EmptyFileError(
                f"no impedance points: all {n_dc} record(s) have Frequency 0 (a DC log without a "
                f"sweep)",
                path=path,
            )
        if n_dc:
            data = {k: (v[ac], a) for k, (v, a) in data.items()}
            notes.append(
                f"{n_dc} DC record(s) with Frequency 0 (the potential/current log before or "
                f"between "
                f"sweeps) dropped; {int(ac.sum())} impedance point(s) kept"
            )
        meta = {"cycler": "Princeton Applied Research (PARSTAT / VersaStudio)"}
        return finish(data, meta, path=path, notes=notes, reader=self.name)
