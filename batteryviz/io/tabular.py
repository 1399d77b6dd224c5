"""Readers of "one header row, then rows" exports (CSV/TSV/Excel) share this machinery.

A :class:`TableReader` subclass declares how to find the header row (``header_pattern``), its
column map (``columns``) and the few quirks of its vendor (``postprocess``). Values are parsed
as text first and converted column by column, so a bad value is reported with its line and
column; columns the map does not know are kept (numeric when every value is a number).
"""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl

from .. import schema
from ..errors import EmptyFileError, MissingColumnError, ParseError, quote
from .base import Column, Evidence, Reader, apply_column_map, require, unique_names
from .finish import check_memory, finish
from .limits import check_zip, read_member
from .text import (NO_RECORDS, OVERFLOW, Head, check_complete_last_line, drop_long_rows, raise_truncated, read_head, require_text,
                   to_float_columns, uses_decimal_comma)


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


def hms_to_seconds(values: pl.Series) -> np.ndarray:
    """``[Nd ]hh:mm:ss[.f]`` durations (Maccor, Neware) to seconds; plain numbers pass through."""
    s = values.cast(pl.String).str.strip_chars()
    parts = s.str.extract_groups(r"^(?:(\d+)d\s*)?(\d+):(\d+):(\d+(?:[.,]\d*)?)$")
    days = parts.struct.field("1").cast(pl.Float64, strict=False).fill_null(0)
    h = parts.struct.field("2").cast(pl.Float64, strict=False)
    m = parts.struct.field("3").cast(pl.Float64, strict=False)
    sec = parts.struct.field("4").str.replace(",", ".").cast(pl.Float64, strict=False)
    total = days * 86400 + h * 3600 + m * 60 + sec
    plain = s.str.replace(",", ".").cast(pl.Float64, strict=False)
    return total.fill_null(plain).to_numpy().astype(float)


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
                return Evidence(1.0, f"{what}: record sheet(s) {', '.join(map(quote, records[:3]))}")
            return Evidence(0.0, f"none of the sheets {', '.join(map(quote, sheets[:4]))} is one of its record sheets")
        if head.is_binary:
            return Evidence(0.0, "a binary file, not its text export")
        if self.sniff(head):
            k = self.header_index(head)
            return Evidence(1.0, f"{what}: column line at line {k + 1}" if k is not None else f"{what}: recognised")
        k = self.header_index(head) if self.header_pattern or type(self).header_index is not TableReader.header_index else None
        if k is not None:
            return Evidence(NEAR_MISS, f"{what}: its column line at line {k + 1}, but not its usual preamble")
        return Evidence(0.0, f"no column line of its kind in the first {min(len(head.lines), 200)} lines")

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
                    meta[re.sub(r"[^0-9a-z]+", "_", key.strip().lower()).strip("_")] = value.strip().strip(",")
        return meta

    def load_frame(self, path: Path, head: Head, on_bad_lines: str, *,
                   section: tuple[int, str, int | None] | None = None) -> tuple[pl.DataFrame, list[str], dict, int]:
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
                raise MissingColumnError(f"no header row found (expected a line matching {self.header_pattern!r})", path=path)
            if k >= len(head.lines):
                raise MissingColumnError(
                    f"the column line should be line {k + 1}, but the file ends at line {len(head.lines)}: the file "
                    "is truncated or its header block is damaged", path=path)
            header_line = head.lines[k]
        sep = guess_separator(header_line)
        names = [n.strip().strip('"').lstrip("\ufeff") for n in header_line.split(sep)]
        while names and names[-1] == "":
            names.pop()
        names = unique_names([n or f"column_{j + 1}" for j, n in enumerate(names)])
        notes: list[str] = []
        last = check_complete_last_line(path, head.size, len(names), sep, head.encoding) if n_rows is None else None
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
        sample = head.lines[k + 1 : k + 30] if section is None else df.head(30).select(
            pl.concat_str(pl.all().fill_null(""), separator=sep)).to_series().to_list()
        decimal_comma = uses_decimal_comma(sample, sep)
        mapped = {n for n in names if any(c.matches(n) and c.kind in ("float", "int") for c in self.columns)}
        mapped -= set(self.text_columns)
        df = to_float_columns(df, sorted(mapped), path=path, first_line=k + 2, decimal_comma=decimal_comma or sep != ",")
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

    def read_workbook(self, path: Path, sheets: list[str], meta: dict | None = None):
        """Read the given sheets of an Excel export with the same column map and quirks."""
        df = read_xlsx_sheets(path, sheets)
        data = apply_column_map(df, self.columns, path=path, vendor=self.vendor)
        meta = dict(meta or {})
        self.postprocess(data, df, meta, path)
        require(data, schema.REQUIRED, path=path, available=df.columns)
        return finish(data, meta, path=path, notes=meta.pop(NOTES_KEY, []), reader=self.name)

    def read(self, path, *, on_bad_lines: str = "error", max_memory_bytes: int | None = None, **_):
        path = Path(path)
        head = read_head(path)
        sheets = xlsx_sheet_names(head)
        if sheets:
            check_zip(path)  # what its members expand to, before openpyxl inflates any of them
            records = self.workbook_sheets(sheets)
            meta = {"sheets": ", ".join(records), **self.workbook_metadata(path, sheets)}
            return self.read_workbook(path, records, meta)
        check_memory(path, head.size * 3, max_memory_bytes)
        df, notes, meta, k = self.load_frame(path, head, on_bad_lines)
        data = apply_column_map(df, self.columns, path=path, vendor=self.vendor)
        self.postprocess(data, df, meta, path)
        require(data, schema.REQUIRED, path=path, available=df.columns)
        meta.setdefault("cycler", self.description.split(" ")[0])
        return finish(data, meta, path=path, notes=notes + meta.pop(NOTES_KEY, []), reader=self.name)


def xlsx_sheet_names(head: Head) -> list[str]:
    """Sheet names of an .xlsx workbook (empty list for anything else), read once per head."""
    if head.sheets is None:
        head.sheets = []
        if head.raw.startswith(b"PK\x03\x04"):
            try:
                with zipfile.ZipFile(head.path) as zf:
                    xml = read_member(zf, "xl/workbook.xml", WORKBOOK_XML_LIMIT).decode("utf-8", errors="replace")
                head.sheets = sheet_names_of(xml)
            except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError):
                pass
    return head.sheets


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
            names.append(html.unescape(tag[at + 7:end]))
        if len(names) >= MAX_SHEETS:
            break
    return names


def read_excel(path: Path, **kwargs):
    """``pandas.read_excel`` with openpyxl, a damaged workbook (broken XML, a bad zip member)
    raising a :class:`ParseError` that says so instead of the parser's own exception."""
    import pandas as pd
    from xml.etree.ElementTree import ParseError as XMLParseError

    try:
        return pd.read_excel(path, engine="openpyxl", **kwargs)
    except (XMLParseError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        raise ParseError(
            f"the workbook is damaged and cannot be read ({type(exc).__name__}: "
            f"{quote(str(exc).splitlines()[0] if str(exc) else '')}); open it in Excel and save it again, "
            "or export the data as CSV", path=path) from None


def read_xlsx_sheets(path: Path, sheets: list[str]) -> pl.DataFrame:
    """Concatenate the given sheets of a workbook (same columns) into one frame (callers check
    the workbook's expansion first: :func:`batteryviz.io.limits.check_zip`)."""
    import pandas as pd

    frames = [read_excel(path, sheet_name=s) for s in sheets]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = [str(c).strip() for c in frame.columns]
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype(str)
    return pl.from_pandas(frame)
