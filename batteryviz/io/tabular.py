"""Readers of "one header row, then rows" exports (CSV/TSV/Excel) share this machinery.

A :class:`TableReader` subclass declares how to find the header row (``header_pattern``), its
column map (``columns``) and the few quirks of its vendor (``postprocess``). Values are parsed
as text first and converted column by column, so a bad value is reported with its line and
column; columns the map does not know are kept (numeric when every value is a number).
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

import numpy as np
import polars as pl

from .. import schema
from ..errors import BatteryvizError, MissingColumnError, ParseError, quote
from .base import Column, Evidence, Reader, apply_column_map, plan_columns, require, unique_names
from .finish import check_memory, finish
from .limits import check_xls, check_zip, read_member
from .text import (
    NO_RECORDS,
    OVERFLOW,
    Head,
    check_complete_last_line,
    drop_long_rows,
    raise_truncated,
    read_head,
    require_text,
    to_float_columns,
    uses_decimal_comma,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def find_header(lines: list[str], pattern: str, limit: int = 200) -> int | None:
    """0-based index of the first line matching ``pattern`` (case-insensitive)."""
    rx = re.compile(pattern, re.IGNORECASE)
    for k, line in enumerate(lines[:limit]):
        if rx.search(line):
            return k
    return None


def guess_separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ";", ",")}
    sep = max(counts, key=counts.get)
    return sep if counts[sep] else ","


def hms_to_seconds(
    values: pl.Series, *, path=None, first_line: int | None = None, plain_scale: float = 1.0
) -> np.ndarray:
    """``[Nd ]hh:mm:ss[.f]`` or ``N-hh:mm:ss[.f]`` durations (Maccor, Neware, LANHE) to seconds;
    hours may exceed 24. Plain numbers pass through, multiplied by ``plain_scale`` (a column of
    minutes or hours).

    With ``path`` given, a value that is neither (other text) raises :class:`ParseError` naming
    the line (``first_line`` is the line of row 0; ``None``: no line) and the column
    (``values.name``); without it such values become NaN.
    """
    s = values.cast(pl.String).str.strip_chars()
    parts = s.str.extract_groups(r"^(?:(\d+)(?:d\s*|-))?(\d+):(\d+):(\d+(?:[.,]\d*)?)$")
    days = parts.struct.field("1").cast(pl.Float64, strict=False).fill_null(0)
    h = parts.struct.field("2").cast(pl.Float64, strict=False)
    m = parts.struct.field("3").cast(pl.Float64, strict=False)
    sec = parts.struct.field("4").str.replace(",", ".").cast(pl.Float64, strict=False)
    total = days * 86400 + h * 3600 + m * 60 + sec
    plain = s.str.replace(",", ".").cast(pl.Float64, strict=False) * plain_scale
    out = total.fill_null(plain)
    if path is not None:
        bad = (
            out.is_null() & s.is_not_null() & (s != "") & ~s.str.to_lowercase().is_in(["nan", "-"])
        )
        if bad.any():
            row = int(bad.arg_max())
            raise ParseError(
                f"expected a duration (hh:mm:ss) or a number, found {quote(s[row])} "
                f"({int(bad.sum())} such "
                "value(s) in this column)",
                path=path,
                line=None if first_line is None else first_line + row,
                column=values.name,
            )
    return out.to_numpy().astype(float)


def datetime_seconds(
    values: pl.Series, *, path=None, first_line: int | None = None
) -> np.ndarray | None:
    """Date-times to seconds since 1970 (naive times, as cyclers write their local time, are
    taken as they are). Accepts a datetime column (from a workbook), Excel serial day numbers,
    or ISO-like text (``2021-05-20 23:36:18``).

    Returns ``None`` when the values are not date-times; with ``path`` given, a column that is
    mostly date-times but has other text in it raises :class:`ParseError` naming the line
    (``first_line`` is the line of row 0) and the column instead.
    """
    if isinstance(values.dtype, pl.Datetime):
        parsed = values
    elif values.dtype.is_numeric():
        days = values.cast(pl.Float64)
        if days.drop_nulls().len() == 0 or not days.drop_nulls().is_between(1, 2_958_465).all():
            return None  # not Excel serial days (1900-01-01 .. 9999-12-31)
        return ((days - 25569.0) * 86400.0).to_numpy().astype(float)
    elif values.dtype == pl.String:
        s = values.str.strip_chars()
        try:
            parsed = s.str.to_datetime(strict=False, time_unit="us")
        except pl.exceptions.PolarsError:  # no date format polars knows fits the first value
            if path is None:
                return None
            parsed = pl.Series(values.name, [None] * s.len(), dtype=pl.Datetime("us"))
        if parsed.is_null().all():
            return None
        bad = parsed.is_null() & s.is_not_null() & (s != "") & (s.str.to_lowercase() != "nan")
        if bad.any():
            if path is None:
                return None
            row = int(bad.arg_max())
            raise ParseError(
                f"expected a date and time, found {quote(s[row])} ({int(bad.sum())} such value(s) "
                "in this column)",
                path=path,
                line=None if first_line is None else first_line + row,
                column=values.name,
            )
    else:
        return None
    return (parsed.dt.epoch("us").cast(pl.Float64) / 1e6).to_numpy().astype(float)


def directional_counter(values: np.ndarray, step_type: np.ndarray, code: int) -> np.ndarray:
    """A counter shared by charge and discharge (Maccor ``Amp-hr``) split by direction.

    The value is taken on records of direction ``code`` and carried unchanged through the
    others, so the summary's increment rule sees growth only while that direction runs.
    """
    v = np.where(step_type == code, np.abs(values), np.nan)
    idx = np.where(np.isfinite(v), np.arange(v.size), -1)
    idx = np.maximum.accumulate(idx)
    return np.where(idx >= 0, v[np.clip(idx, 0, None)], 0.0)


#: The score of a vendor's column line found where its exports do not put it (below
#: :data:`batteryviz.io.base.GENERIC_SCORE`: a generic reading wins when one fits).
NEAR_MISS = 0.3

#: Key of ``meta`` under which :meth:`TableReader.postprocess` leaves notes for the dataset's
#: warnings (popped before the metadata becomes attrs).
NOTES_KEY = "_reading_notes"

#: Key of ``meta`` holding, for :meth:`TableReader.postprocess`, the file line (text) or sheet
#: row (workbook) of the first record, so errors found there can name it (popped like NOTES_KEY).
FIRST_ROW_KEY = "_first_row_line"


class TableReader(Reader):
    """Base of readers for header-row tables. Subclasses set the class attributes below."""

    #: regex a line must match to be the header row
    header_pattern: ClassVar[str] = ""
    columns: ClassVar[list[Column]] = []
    vendor: ClassVar[str] = ""
    #: source columns read as text (dates, step names); the rest are numbers or auto-detected
    text_columns: ClassVar[tuple[str, ...]] = ()

    def header_index(self, head: Head) -> int | None:
        return find_header(head.lines, self.header_pattern)

    def workbook_sheets(self, sheets: list[str]) -> list[str]:
        """The sheets of an Excel export holding this vendor's records (none: not this vendor)."""
        return []

    def workbook_metadata(self, path: Path, sheets: list[str]) -> dict:
        """Metadata an Excel export carries besides its record sheets."""
        return {}

    def sniff(self, head: Head) -> bool:
        return self.sniff_table(head)

    def score(self, head: Head) -> Evidence:
        """1 for this vendor's sheets or column line where its exports put it; 0.3 for the
        column line further down (a near miss: a vendor's export with a longer preamble); 0
        otherwise, saying what was looked for."""
        what = self.description or self.name
        sheets = xlsx_sheet_names(head)
        if sheets:
            records = self.workbook_sheets(sheets)
            if records:
                return Evidence(
                    1.0, f"{what}: record sheet(s) {', '.join(map(quote, records[:3]))}"
                )
            return Evidence(
                0.0,
                f"none of the sheets {', '.join(map(quote, sheets[:4]))} is one of its record "
                f"sheets",
            )
        if head.is_binary:
            return Evidence(0.0, "a binary file, not its text export")
        if self.sniff(head):
            k = self.header_index(head)
            return Evidence(
                1.0,
                f"{what}: column line at line {k + 1}" if k is not None else f"{what}: recognised",
            )
        k = (
            self.header_index(head)
            if self.header_pattern or type(self).header_index is not TableReader.header_index
            else None
        )
        if k is not None:
            return Evidence(
                NEAR_MISS, f"{what}: its column line at line {k + 1}, but not its usual preamble"
            )
        return Evidence(
            0.0, f"no column line of its kind in the first {min(len(head.lines), 200)} lines"
        )

    def sniff_table(self, head: Head, max_header_line: int = 5) -> bool:
        """Excel: a sheet of this vendor; text: the header pattern near the top."""
        sheets = xlsx_sheet_names(head)
        if sheets:
            return bool(self.workbook_sheets(sheets))
        if head.is_binary:
            return False
        k = self.header_index(head)
        return k is not None and k < max_header_line

    def metadata(self, preamble: list[str]) -> dict:
        meta = {}
        for line in preamble:
            for chunk in re.split(r"\t+|\s{3,}", line):
                key, sep, value = chunk.partition(":")
                if sep and key.strip() and value.strip():
                    meta[re.sub(r"[^0-9a-z]+", "_", key.strip().lower()).strip("_")] = (
                        value.strip().strip(",")
                    )
        return meta

    def load_frame(
        self,
        path: Path,
        head: Head,
        on_bad_lines: str,
        *,
        section: tuple[int, str, int | None] | None = None,
    ) -> tuple[pl.DataFrame, list[str], dict, int]:
        """Parse the table into a frame of text columns (mapped numeric columns converted).

        ``section``: ``(header line index, header line, rows)`` to read ``rows`` rows after a
        given header line instead of the whole file after the detected one (files holding
        several tables, such as Novonix exports of several tests); ``rows=None``: to the end.
        Returns ``(frame, notes, metadata of the preamble, header line index)``."""
        require_text(head, self.name)
        n_rows = None
        if section is not None:
            k, header_line, n_rows = section
        else:
            k = self.header_index(head)
            if k is None:
                raise MissingColumnError(
                    f"no header row found (expected a line matching {self.header_pattern!r})",
                    path=path,
                )
            if k >= len(head.lines):
                raise MissingColumnError(
                    f"the column line should be line {k + 1}, but the file ends at line "
                    f"{len(head.lines)}: the file "
                    "is truncated or its header block is damaged",
                    path=path,
                )
            header_line = head.lines[k]
        sep = guess_separator(header_line)
        names = [n.strip().strip('"').lstrip("\ufeff") for n in header_line.split(sep)]
        while names and names[-1] == "":
            names.pop()
        names = unique_names([n or f"column_{j + 1}" for j, n in enumerate(names)])
        notes: list[str] = []
        last = (
            check_complete_last_line(path, head.size, len(names), sep, head.encoding)
            if n_rows is None
            else None
        )
        with open(path, "rb") as fh:
            raw = fh.read()
        text = raw.decode(head.encoding, errors="replace")
        import io

        df = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=sep,
            has_header=False,
            skip_lines=k + 1,
            n_rows=n_rows,
            # every column as text, and one more than the header names to catch longer rows
            schema={**{f"_c{j}": pl.String for j in range(len(names))}, OVERFLOW: pl.String},
            truncate_ragged_lines=True,
            missing_columns="insert",  # the overflow column is absent from most files
            raise_if_empty=False,
            quote_char='"',
        )
        df.columns = [*names, OVERFLOW]
        df = drop_long_rows(df, notes, on_bad_lines, path, k + 1, names, sep, head.encoding)
        df = df.filter(~pl.all_horizontal(pl.all().is_null() | (pl.all().str.strip_chars() == "")))
        if df.height == 0:
            # a technique that records nothing (EC-Lab's WAIT) writes just the header: the file
            # reads, with its metadata and no records; storing it is refused (store.Workspace.add)
            notes.append(f"{NO_RECORDS}: the column line is line {k + 1} and nothing follows it")
        if last is not None and sep != " ":
            if on_bad_lines == "error":
                raise_truncated(path, k + 1 + df.height, last, len(names), sep)
            df = df.head(df.height - 1)
            notes.append("truncated last line dropped")
        sample = (
            head.lines[k + 1 : k + 30]
            if section is None
            else df.head(30)
            .select(pl.concat_str(pl.all().fill_null(""), separator=sep))
            .to_series()
            .to_list()
        )
        decimal_comma = uses_decimal_comma(sample, sep)
        mapped = {n for n in names if self.numeric_column(n)}
        df = to_float_columns(
            df,
            sorted(mapped),
            path=path,
            first_line=k + 2,
            decimal_comma=decimal_comma or sep != ",",
        )
        # unknown columns: numbers when every non-empty value is one (replaced in one step: a
        # step per column copies the frame's column list each time, quadratic for wide files)
        numeric = []
        for n in names:
            if n in mapped or n in self.text_columns or any(c.matches(n) for c in self.columns):
                continue
            col = df[n].str.strip_chars()
            conv = col.str.replace(",", ".") if sep != "," else col
            num = conv.cast(pl.Float64, strict=False)
            if num.null_count() == col.is_null().sum() + (col == "").sum():
                numeric.append(num.alias(n))
        if numeric:
            df = df.with_columns(numeric)
        return df, notes, self.metadata(head.lines[:k]), k

    def postprocess(self, data: dict, df: pl.DataFrame, meta: dict, path: Path) -> None:
        """Vendor quirks: signs, time formats, derived counters. Edits ``data`` in place; a
        note for the dataset's warnings goes in ``meta[NOTES_KEY]`` (a list)."""

    def numeric_column(self, name: str) -> bool:
        """Whether the map reads column ``name`` as numbers (text in it is then an error)."""
        return name not in self.text_columns and any(
            c.matches(name) and c.kind in ("float", "int") for c in self.columns
        )

    def workbook_frame(self, path: Path, sheets: list[str], all_sheets: list[str]) -> pl.DataFrame:
        """The record sheets of a workbook as one frame (a vendor may add columns from its other
        sheets, ``all_sheets``)."""
        return read_workbook_sheets(path, sheets, numeric=self.numeric_column)

    def read_workbook(
        self,
        path: Path,
        sheets: list[str],
        meta: dict | None = None,
        all_sheets: list[str] | None = None,
    ):
        """Read the given sheets of an Excel export with the same column map and quirks."""
        df = self.workbook_frame(path, sheets, all_sheets or sheets)
        data = apply_column_map(df, self.columns, path=path, vendor=self.vendor)
        meta = {**(meta or {}), FIRST_ROW_KEY: 2}  # the header is row 1 of a sheet
        self.postprocess(data, df, meta, path)
        meta.pop(FIRST_ROW_KEY, None)
        require(data, schema.REQUIRED, path=path, available=df.columns)
        return finish(data, meta, path=path, notes=meta.pop(NOTES_KEY, []), reader=self.name)

    def read(self, path, *, on_bad_lines: str = "error", max_memory_bytes: int | None = None, **_):
        path = Path(path)
        head = read_head(path)
        sheets = checked_sheet_names(head)  # a workbook's expansion is checked before it is parsed
        if sheets:
            records = self.workbook_sheets(sheets)
            if not records:
                raise MissingColumnError(
                    f"none of the workbook's sheets ({quote_sheets(sheets)}) is a record sheet of "
                    f"a "
                    f"{self.description}",
                    path=path,
                )
            meta = {"sheets": ", ".join(records), **self.workbook_metadata(path, sheets)}
            return self.read_workbook(path, records, meta, all_sheets=sheets)
        check_memory(path, head.size * 3, max_memory_bytes)
        df, notes, meta, k = self.load_frame(path, head, on_bad_lines)
        data = apply_column_map(df, self.columns, path=path, vendor=self.vendor)
        meta[FIRST_ROW_KEY] = k + 2
        self.postprocess(data, df, meta, path)
        meta.pop(FIRST_ROW_KEY, None)
        require(data, schema.REQUIRED, path=path, available=df.columns)
        meta.setdefault("cycler", self.description.split(" ")[0])
        return finish(
            data, meta, path=path, notes=notes + meta.pop(NOTES_KEY, []), reader=self.name
        )


#: The first bytes of an OLE2 compound file: Excel 97-2003 workbooks (.xls), also Word .doc …
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: The first bytes of a zip archive (.xlsx workbooks, .ndax …).
ZIP_MAGIC = b"PK\x03\x04"


def workbook_kind(raw: bytes) -> str | None:
    """``"xls"`` (OLE2 magic), ``"xlsx"`` (zip magic) or ``None``, from a file's first bytes. The
    magic alone does not make a workbook: :func:`workbook_sheet_names` looks inside."""
    if raw.startswith(OLE2_MAGIC):
        return "xls"
    if raw.startswith(ZIP_MAGIC):
        return "xlsx"
    return None


def _file_kind(path) -> str | None:
    with open(path, "rb") as fh:
        return workbook_kind(fh.read(len(OLE2_MAGIC)))


def workbook_sheet_names(head: Head) -> list[str]:
    """Sheet names of an .xlsx or .xls workbook (empty list for anything else), read once per head.

    .xlsx: the names in ``xl/workbook.xml`` (a bounded read of that member). .xls: an OLE2 file
    whose workbook stream xlrd opens (``on_demand``: only the sheet list is parsed), refused
    unread when larger than :func:`batteryviz.io.limits.check_xls` allows. When a file has an
    .xls's magic but yields no sheets because it is damaged or too large, ``head.workbook_error``
    says why (an OLE2 file without a workbook, such as a .doc, is simply not a workbook).
    """
    if head.sheets is None:
        head.sheets = []
        kind = workbook_kind(head.raw)
        if kind == "xlsx":
            try:
                with zipfile.ZipFile(head.path) as zf:
                    xml = read_member(zf, "xl/workbook.xml", WORKBOOK_XML_LIMIT).decode(
                        "utf-8", errors="replace"
                    )
                head.sheets = sheet_names_of(xml)
            except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError, zlib.error):
                pass
        elif kind == "xls":
            head.sheets = _xls_sheet_names(head)
    return head.sheets


#: The name readers used before .xls workbooks were read too.
xlsx_sheet_names = workbook_sheet_names


def _xls_sheet_names(head: Head) -> list[str]:
    try:
        check_xls(head.path)
        book = open_xls(head.path)
    except NotAWorkbook:
        return []
    except BatteryvizError as exc:
        head.workbook_error = exc.reason
        return []
    try:
        return [str(n) for n in book.sheet_names()[:MAX_SHEETS]]
    finally:
        book.release_resources()


class NotAWorkbook(ParseError):
    """An OLE2 compound file without an Excel workbook stream (a Word or Outlook file …)."""


def open_xls(path):
    """Open an Excel 97-2003 workbook with xlrd, loading sheets only when asked for
    (``on_demand``) and without padding short rows (``ragged_rows``: a single far cell must not
    allocate a full grid). Damage raises :class:`ParseError` (callers check the size first:
    :func:`batteryviz.io.limits.check_xls`)."""
    import xlrd

    try:
        return xlrd.open_workbook(
            str(path), on_demand=True, ragged_rows=True, logfile=io.StringIO(), verbosity=0
        )
    except MemoryError:
        raise
    except (
        Exception
    ) as exc:  # xlrd raises many kinds (XLRDError, CompDocError, struct.error, …) on damage
        if "find workbook in OLE2" in str(exc) or "not supported" in str(exc).lower():
            raise NotAWorkbook(
                f"an OLE2 compound file but not an Excel workbook ({quote(str(exc))})", path=path
            ) from None
        raise _damaged(path, exc) from None


def _damaged(path, exc: BaseException) -> ParseError:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return ParseError(
        f"the workbook is damaged and cannot be read ({type(exc).__name__}: {quote(first)}); open "
        f"it in "
        "Excel and save it again, or export the data as CSV",
        path=path,
    )


def check_workbook(path) -> str | None:
    """Refuse a workbook whose content would expand beyond the limits, before it is parsed:
    .xlsx by what its zip members declare (:func:`~batteryviz.io.limits.check_zip`), .xls by its
    size (:func:`~batteryviz.io.limits.check_xls`). Returns the kind."""
    kind = _file_kind(path)
    if kind == "xlsx":
        check_zip(path)
    elif kind == "xls":
        check_xls(path)
    return kind


def checked_sheet_names(head: Head) -> list[str]:
    """For a reader's ``read``: the sheet names (``[]``: not a workbook) after
    :func:`check_workbook`; a file with an .xls's magic that is damaged raises the
    :class:`ParseError` detection noted (too large: the limits' error)."""
    sheets = workbook_sheet_names(head)
    if sheets or head.workbook_error:
        check_workbook(head.path)
    if not sheets and head.workbook_error:
        raise ParseError(head.workbook_error, path=head.path)
    return sheets


def quote_sheets(sheets: list[str], limit: int = 6) -> str:
    """Sheet names for a message, quoted, the first ``limit`` of them."""
    shown = ", ".join(quote(s, 40) for s in sheets[:limit])
    return shown + (f" … and {len(sheets) - limit} more" if len(sheets) > limit else "")


#: How much of a workbook's ``xl/workbook.xml`` detection reads (a real one is a few KiB).
WORKBOOK_XML_LIMIT = 2**20
#: The most sheets a workbook may name (Excel itself allows as many as memory does; labs, dozens).
MAX_SHEETS = 1000


def sheet_names_of(xml: str) -> list[str]:
    """The ``name`` attributes of the ``<sheet>`` elements of a workbook.xml text, in one linear
    pass (a regular expression with ``[^>]*`` took 57 s on a hostile 7 KB workbook)."""
    names = []
    for piece in xml.split("<sheet")[1:]:
        if piece[:1] not in (" ", "\t", "\n", "\r", "/", ">"):
            continue  # <sheets>, <sheetView> …
        tag = piece[: piece.find(">")] if ">" in piece else piece
        at = tag.find(' name="')
        if at < 0:
            continue
        end = tag.find('"', at + 7)
        if end > at:
            names.append(html.unescape(tag[at + 7 : end]))
        if len(names) >= MAX_SHEETS:
            break
    return names


def _xlsx_damage() -> tuple[type[BaseException], ...]:
    """What openpyxl and the zip module raise on a damaged .xlsx."""
    from xml.etree.ElementTree import ParseError as XMLParseError

    return (XMLParseError, zipfile.BadZipFile, KeyError, EOFError, zlib.error)


#: A sheet whose cells span a grid this many times larger than the cells it holds (and more
#: than :data:`SPARSE_FLOOR` cells) is refused: a far-away cell would make every row that long.
SPARSE_RATIO = 32
SPARSE_FLOOR = 1_000_000


class Workbook:
    """An open .xlsx or .xls workbook, chosen by the file's magic bytes.

    .xlsx goes through ``pandas.ExcelFile`` with openpyxl (read-only). .xls is read with xlrd
    directly, sheets loaded on demand and without padding (pandas' xlrd engine is deprecated
    and needs xlrd's padded grids, which one far-away cell of a hostile file makes huge); its
    cells become a pandas frame the way ``pandas.read_excel`` builds one (first row the header,
    ``Unnamed: N`` for empty names, blank rows left out, dates as datetimes, whole numbers as
    integers). Damage raises :class:`ParseError`; callers check the expansion first
    (:func:`check_workbook`).
    """

    def __init__(self, path) -> None:
        import pandas as pd

        self.path = Path(path)
        self.kind = _file_kind(path)
        if self.kind == "xls":
            self.book = open_xls(path)
            self.excel = None
            self.sheet_names = [str(n) for n in self.book.sheet_names()]
        else:
            try:
                self.excel = pd.ExcelFile(path, engine="openpyxl")
            except _xlsx_damage() as exc:
                raise _damaged(path, exc) from None
            self.book = self.excel.book
            self.sheet_names = [str(n) for n in self.excel.sheet_names]

    def close(self) -> None:
        """Release the file and what was loaded of it."""
        if self.excel is not None:
            self.excel.close()
        else:
            self.book.release_resources()

    def frame(
        self, sheet: str | int = 0, header: int | None = 0, nrows: int | None = None
    ) -> "pd.DataFrame":
        """One sheet as a pandas frame: ``header`` the row holding the column names (``None``:
        none, columns numbered), ``nrows`` the most data rows to read."""
        if isinstance(sheet, str) and sheet not in self.sheet_names:
            raise ParseError(
                f"the workbook has no readable sheet {quote(sheet)} (it has "
                f"{quote_sheets(self.sheet_names)}): "
                "its sheet list is damaged, or the sheet name is wrong",
                path=self.path,
            )
        try:
            if self.excel is not None:
                import pandas as pd

                return pd.read_excel(self.excel, sheet_name=sheet, header=header, nrows=nrows)
            return self._xls_frame(sheet, header, nrows)
        except (MemoryError, BatteryvizError):
            raise
        except Exception as exc:
            if self.kind == "xls" or isinstance(exc, _xlsx_damage()):
                raise _damaged(self.path, exc) from None  # xlrd raises many kinds on damage
            raise

    def rows(self, sheet: str) -> int:
        """How many rows a sheet holds (as the workbook declares them; counted when it does not)."""
        if self.excel is None:
            return int(self.book.sheet_by_name(sheet).nrows)
        ws = self.book[sheet]
        n = getattr(ws, "max_row", None)
        if n is None:
            n = sum(1 for _ in ws.iter_rows(values_only=True))
        return int(n)

    def _xls_frame(self, sheet: str | int, header: int | None, nrows: int | None) -> "pd.DataFrame":
        import pandas as pd
        import xlrd

        name = self.sheet_names[sheet] if isinstance(sheet, int) else sheet
        sh = self.book.sheet_by_name(name)
        try:
            width = max((sh.row_len(r) for r in range(sh.nrows)), default=0)
            filled = sum(sh.row_len(r) for r in range(sh.nrows))
            if width * sh.nrows > max(SPARSE_FLOOR, SPARSE_RATIO * filled):
                from .limits import ExpansionError

                raise ExpansionError(
                    f"sheet {quote(name)} spans {sh.nrows:,} rows × {width:,} columns but holds "
                    f"{filled:,} cells: "
                    "refused (a cell far from the others would make every row that long)",
                    path=self.path,
                )
            datemode = self.book.datemode

            def value(cell):
                kind = cell.ctype
                if kind == xlrd.XL_CELL_TEXT:
                    return cell.value if cell.value.strip() else np.nan
                if kind == xlrd.XL_CELL_NUMBER:
                    return float(cell.value)
                if kind == xlrd.XL_CELL_DATE:
                    try:
                        return xlrd.xldate.xldate_as_datetime(cell.value, datemode)
                    except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                        return float(cell.value)
                if kind == xlrd.XL_CELL_BOOLEAN:
                    return bool(cell.value)
                return np.nan  # empty, blank, error cells

            first = 0 if header is None else header + 1
            last = sh.nrows if nrows is None else min(sh.nrows, first + nrows)
            rows = []
            for r in range(first, last):
                row = [value(c) for c in sh.row_slice(r)]
                if any(
                    not (isinstance(v, float) and np.isnan(v)) for v in row
                ):  # blank rows left out
                    rows.append(row + [np.nan] * (width - len(row)))
            if header is None:
                names: list = list(range(width))
            else:
                cells = [value(c) for c in sh.row_slice(header)] if header < sh.nrows else []
                names = []
                for j in range(width):
                    v = cells[j] if j < len(cells) else np.nan
                    if isinstance(v, float) and np.isnan(v):
                        names.append(f"Unnamed: {j}")
                    elif isinstance(v, float) and v.is_integer():
                        names.append(str(int(v)))
                    else:
                        names.append(str(v))
                names = unique_names(names)
        finally:
            self.book.unload_sheet(name)
        columns = list(zip(*rows)) if rows else [()] * width
        frame = pd.DataFrame(
            {n: pd.Series(list(col), dtype=object) for n, col in zip(names, columns)}
        )
        frame = frame.infer_objects()
        for c in frame.columns:
            col = frame[c]
            if (
                col.dtype == float
                and len(col)
                and col.notna().all()
                and (col % 1 == 0).all()
                and col.abs().max() < 2**53
            ):
                frame[c] = col.astype("int64")  # whole numbers, as pandas.read_excel gives them
        return frame


@contextmanager
def open_workbook(path) -> Iterator[Workbook]:
    """A :class:`Workbook`, closed on leaving."""
    book = Workbook(path)
    try:
        yield book
    finally:
        book.close()


def parse_sheet(xl: Workbook, sheet: str | int, path, **kwargs) -> "pd.DataFrame":
    """One sheet of an open workbook as a pandas frame (:meth:`Workbook.frame`)."""
    return xl.frame(sheet, **kwargs)


def read_excel(
    path: Path, sheet_name: str | int = 0, header: int | None = 0, nrows: int | None = None
):
    """One sheet of an .xlsx (openpyxl) or .xls (xlrd) workbook as a pandas frame, a damaged
    workbook (broken XML, a bad zip member, a broken OLE2 stream) raising a :class:`ParseError`
    that says so instead of the parser's own exception."""
    with open_workbook(path) as xl:
        return xl.frame(sheet_name, header=header, nrows=nrows)


def sheet_frame(
    frame: "pd.DataFrame", sheet: str, path, numeric: Callable[[str], bool] | None = None
) -> pl.DataFrame:
    """A pandas frame of one sheet as a polars frame: names stripped, mixed columns as text, and
    text in a column ``numeric`` names raising :class:`ParseError` with the sheet, its row (as
    Excel numbers them, the header being row 1) and the column."""
    frame = frame.copy()
    frame.columns = unique_names([str(c).strip() for c in frame.columns])
    # a column without a name or a value (a spacer column of the export) carries nothing
    frame = frame[
        [
            c
            for c in frame.columns
            if not (re.fullmatch(r"Unnamed: \d+", c) and frame[c].isna().all())
        ]
    ]
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype(str)
    df = pl.from_pandas(frame)
    if numeric is not None:
        text = [c for c in df.columns if df[c].dtype == pl.String and numeric(c)]
        if text:
            try:
                df = to_float_columns(df, text, path=path, first_line=2, decimal_comma=False)
            except ParseError as exc:
                raise ParseError(
                    f"sheet {quote(sheet)}, row {exc.line}: {exc.reason}",
                    path=path,
                    line=exc.line,
                    column=exc.column,
                    hint=exc.hint,
                ) from None
    return df


def read_workbook_sheets(
    path: Path,
    sheets: list[str],
    numeric: Callable[[str], bool] | None = None,
    xl: Workbook | None = None,
) -> pl.DataFrame:
    """Concatenate the given sheets of a workbook (same columns) into one frame (see
    :func:`sheet_frame` for ``numeric``; callers check the workbook's expansion first:
    :func:`check_workbook`). ``xl``: an open workbook to read from."""
    if xl is None:
        with open_workbook(path) as opened:
            return read_workbook_sheets(path, sheets, numeric, opened)
    frames = [sheet_frame(parse_sheet(xl, s, path), s, path, numeric) for s in sheets]
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise ParseError(
            f"the sheets {quote_sheets(sheets)} hold different kinds of values in one column "
            f"({quote(str(exc).splitlines()[0] if str(exc) else '')})",
            path=path,
        ) from None


#: The name used before .xls workbooks were read too.
read_xlsx_sheets = read_workbook_sheets


def choose_record_sheet(
    xl: Workbook,
    path,
    sheets: list[str],
    columns: list[Column],
    required: tuple[str, ...] = schema.REQUIRED,
) -> tuple[str, str]:
    """The sheet of a workbook holding the records: the one whose header row (its first row)
    the column map ``columns`` maps to every ``required`` variable; when several do, the one
    with the most rows (the first of those on a tie). Returns ``(sheet, why)``.

    A workbook without such a sheet raises :class:`MissingColumnError` naming each sheet's
    columns and the variable the closest one lacks.
    """
    found = []
    for s in sheets:
        header = [str(c).strip() for c in parse_sheet(xl, s, path, nrows=0).columns]
        targets = {
            target for _, target, _ in plan_columns(header, columns, "x", keep_unmapped=False)
        }
        found.append((s, header, [r for r in required if r not in targets]))
    fits = [s for s, _, missing in found if not missing]
    if not fits:
        closest = min(found, key=lambda f: len(f[2])) if found else None

        def columns(header) -> str:
            more = ", …" if len(header) > 8 else ""
            return ", ".join(quote(c, 30) for c in header[:8]) + more

        described = "; ".join(f"{quote(s, 40)} ({columns(header)})" for s, header, _ in found[:8])
        raise MissingColumnError(
            f"no sheet of the workbook has columns for {', '.join(required)}: "
            f"{described or 'no sheets'}.",
            path=path,
            column=closest[2][0] if closest else None,
            hint="Pass sheet='<name>' and columns={'<your column>': '<variable>'}.",
        )
    if len(fits) == 1:
        return fits[0], "the only sheet with time, voltage and current columns"
    rows = {s: xl.rows(s) for s in fits}
    best = max(fits, key=lambda s: rows[s])  # max keeps the first of equals
    return best, (
        f"of the sheets with time, voltage and current columns ({quote_sheets(fits)}), "
        f"the one with the most rows ({rows[best]:,})"
    )
