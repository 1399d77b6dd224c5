"""Helpers shared by the readers of delimited text exports.

Encoding detection, the binary-file guard, decimal-comma detection and a robust numeric parse
that names the line and column of the first bad value.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ..errors import BinaryFileError, EmptyFileError, ParseError, TruncatedFileError, quote

HEAD_BYTES = 256 * 1024

#: How a dataset's warnings say that its file holds a header but no records.
NO_RECORDS = "the file holds no data rows"

#: Encodings tried in order when the bytes are not valid UTF-8. cp1252 is what Windows cycler
#: software writes in Western Europe; latin-1 decodes any byte and is the last resort.
FALLBACK_ENCODINGS = ("cp1252", "latin-1")


@dataclass
class Head:
    """The first bytes of a file, decoded once and shared by every reader's ``sniff``."""

    path: Path
    raw: bytes
    size: int
    encoding: str | None = None
    text: str = ""
    lines: list[str] = field(default_factory=list)
    sheets: list[str] | None = None  #: Excel sheet names, filled on first use
    #: why a file with a workbook's magic bytes gives no sheet names (damaged, too large)
    workbook_error: str | None = None

    @property
    def is_binary(self) -> bool:
        return looks_binary(self.raw)


def looks_binary(raw: bytes) -> bool:
    """True when ``raw`` holds NUL bytes (no text export has them; every binary format does)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 text has NULs but is text
        return False
    return b"\x00" in raw[:8192]


def detect_encoding(raw: bytes) -> str:
    """Name the encoding of ``raw``: UTF-8 (with or without BOM) if valid, else cp1252/latin-1.

    A multi-byte character cut by the end of ``raw`` does not count against UTF-8.
    Non-Western encodings (GBK from Chinese cycler software) are recognised by
    charset-normalizer when neither UTF-8 nor cp1252 decodes cleanly.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(raw) - 3 and exc.reason in ("unexpected end of data",):
            return "utf-8"
    try:
        raw.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(raw[:65536]).best()
        if best is not None and best.encoding:
            return best.encoding
    except Exception:  # pragma: no cover - detection is best effort
        pass
    return "latin-1"


def read_head(path: str | os.PathLike, nbytes: int = HEAD_BYTES) -> Head:
    """Read and decode the start of ``path``; raise :class:`EmptyFileError` for 0 bytes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory, expected a cycler data file")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError("the file is empty (0 bytes); expected a cycler export", path=path)
    with open(path, "rb") as fh:
        raw = fh.read(nbytes)
    head = Head(path=path, raw=raw, size=size)
    if not head.is_binary:
        head.encoding = detect_encoding(raw)
        head.text = raw.decode(head.encoding, errors="replace")
        lines = head.text.splitlines()
        if size > len(raw) and lines:
            lines = lines[:-1]  # the last line may be cut by the head size
        head.lines = lines
    return head


def require_text(head: Head, reader: str) -> None:
    """Raise :class:`BinaryFileError` when a text reader is handed a binary file."""
    if head.is_binary:
        raise BinaryFileError(
            f"this is a binary file (it contains NUL bytes) but the {reader} reader reads text "
            "exports; export the data as text from the cycler software, or use the binary reader "
            "for this format if batteryviz has one (`batteryviz info FILE` lists what was tried)",
            path=head.path,
        )


def uses_decimal_comma(sample_lines: list[str], separator: str) -> bool:
    """Guess whether numbers use a decimal comma, from a few data lines.

    A decimal comma is only possible when the separator is not a comma. The decision is made
    on tokens like ``3,5257`` (digits, comma, digits) versus ``3.5257``.
    """
    if separator == ",":
        return False
    comma = point = 0
    for line in sample_lines:
        for tok in line.split(separator):
            tok = tok.strip()
            if re.fullmatch(r"[-+]?\d+,\d+([eE][-+]?\d+)?", tok):
                comma += 1
            elif re.fullmatch(r"[-+]?\d+\.\d+([eE][-+]?\d+)?", tok):
                point += 1
    return comma > point


_NUMBER_RE = re.compile(r"^\s*[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?\s*$")


def to_float_columns(
    df: pl.DataFrame,
    columns: list[str],
    *,
    path,
    first_line: int,
    decimal_comma: bool,
) -> pl.DataFrame:
    """Cast string columns to Float64, accepting ``,`` or ``.`` as the decimal mark.

    Empty strings, ``NaN``, ``nan`` and ``N/A`` become null. Any other text that is not a
    number raises :class:`ParseError` naming the line (``first_line`` is the file line of row
    0) and the column.
    """
    exprs = []
    for name in columns:
        col = pl.col(name).str.strip_chars()
        if decimal_comma:
            col = col.str.replace_all(",", ".", literal=True)
        exprs.append(col.cast(pl.Float64, strict=False).alias(name))
    out = df.with_columns(exprs)
    for name in columns:
        bad = (
            df.select(
                pl.col(name).str.strip_chars().alias("v"),
                out[name].is_null().alias("null"),
            )
            .with_row_index("row")
            .filter(
                pl.col("null")
                & pl.col("v").is_not_null()
                & (pl.col("v") != "")
                & ~pl.col("v").str.to_lowercase().is_in(["nan", "n/a", "na", "-", "inf", "-inf"])
            )
        )
        if bad.height:
            row, value = bad.row(0)[0], bad.row(0)[1]
            raise ParseError(
                f"expected a number, found {quote(value)} ({bad.height} such value(s) in this "
                f"column)",
                path=path,
                line=first_line + row,
                column=name,
            )
    return out


def check_complete_last_line(
    path, size: int, n_fields_expected: int, separator: str, encoding: str
) -> str | None:
    """Return the last line if it is cut short (fewer fields than the header, no final newline).

    Reads only the tail of the file.
    """
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 65536))
        tail = fh.read()
    if tail.endswith((b"\n", b"\r")):
        return None
    last = tail.splitlines()[-1].decode(encoding, errors="replace") if tail.splitlines() else ""
    n = len(last.split(separator)) if separator != " " else len(last.split())
    return last if n < n_fields_expected else None


#: The name of the extra column a delimited parse is given to catch fields beyond the header's.
OVERFLOW = "__batteryviz_overflow__"


def overflow_rows(df: pl.DataFrame) -> pl.Series:
    """Which rows of a frame parsed with an :data:`OVERFLOW` column hold a field beyond the
    header's last one (an empty trailing field, as from a separator at each line's end, is not
    one)."""
    extra = df[OVERFLOW]
    return extra.is_not_null() & (extra.str.strip_chars() != "")


def first_long_line(
    path,
    skip_lines: int,
    n_fields: int,
    separator: str,
    encoding: str,
    quote_char: str | None = '"',
) -> tuple[int, int] | None:
    """The first line after ``skip_lines`` with more non-empty fields than ``n_fields``, as
    ``(line number, fields)``: a streaming scan, run only once a parse has found one."""
    import csv

    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        for _ in range(skip_lines):
            fh.readline()
        if separator == " ":
            for k, line in enumerate(fh, start=skip_lines + 1):
                if len(line.split()) > n_fields:
                    return k, len(line.split())
            return None
        rows = csv.reader(
            fh,
            delimiter=separator,
            quotechar=quote_char or "\0",
            quoting=csv.QUOTE_MINIMAL if quote_char else csv.QUOTE_NONE,
        )
        for row in rows:
            fields = list(row)
            while len(fields) > n_fields and not fields[-1].strip():
                fields.pop()
            if len(fields) > n_fields:
                return skip_lines + rows.line_num, len(fields)
    return None


def raise_long_line(
    path,
    skip_lines: int,
    names: list[str],
    separator: str,
    encoding: str,
    quote_char: str | None = '"',
) -> None:
    """Raise a :class:`ParseError` naming the first line with more fields than the header."""
    found = first_long_line(path, skip_lines, len(names), separator, encoding, quote_char)
    line, n = found if found else (None, len(names) + 1)
    raise ParseError(
        f"a row has {n} fields where the header names {len(names)} (last: {quote(names[-1])}): the "
        "file was edited by hand or holds two exports with different columns. Fix or remove the "
        "line.",
        path=path,
        line=line,
        hint="Or pass on_bad_lines='skip' to read without such rows.",
    )


def drop_long_rows(
    df: pl.DataFrame,
    notes: list[str],
    on_bad_lines: str,
    path,
    skip_lines: int,
    names: list[str],
    separator: str,
    encoding: str,
    quote_char: str | None = '"',
) -> pl.DataFrame:
    """The frame without its :data:`OVERFLOW` column. A row with more fields than the header is
    an error naming its line (:func:`raise_long_line`) or, with ``on_bad_lines='skip'``, dropped
    with a note. When *every* row has a value beyond the header's last name, the header names
    fewer columns than the data holds: a name is missing somewhere, so every name from there on
    labels its neighbour's values. Which one is missing cannot be told, so that is an error too
    (a BioLogic export without ``freq/Hz`` in its column line read "successfully" with each
    impedance column holding the one before it)."""
    long = overflow_rows(df)
    if long.any() and long.all() and df.height > 1:
        raise ParseError(
            f"every data row has {len(names) + 1} or more values but the column line names "
            f"{len(names)} "
            f"({', '.join(quote(n) for n in names[:6])}{', …' if len(names) > 6 else ''}): a "
            f"column name is "
            "missing, so names and values would be misaligned. Repair the column line.",
            path=path,
            line=skip_lines,
            hint="Or pass columns={...} to name every column.",
        )
    if long.any() and not long.all():
        if on_bad_lines == "error":
            raise_long_line(path, skip_lines, names, separator, encoding, quote_char)
        notes.append(f"{int(long.sum())} row(s) with more fields than the header dropped")
        df = df.filter(~long)
    return df.drop(OVERFLOW)


def raise_truncated(path, line_no: int, last: str, expected: int, separator: str) -> None:
    n = len(last.split(separator)) if separator != " " else len(last.split())
    raise TruncatedFileError(
        f"the last line is cut short ({n} of {expected} fields, no line end): the file was "
        "truncated, or the export is still being written: export it again.",
        path=path,
        line=line_no,
        hint="Or pass on_bad_lines='skip' to read the complete rows and drop this one.",
    )
