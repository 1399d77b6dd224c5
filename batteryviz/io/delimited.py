"""Reading the data block of a delimited text export with polars, robustly and fast.

The fast path asks polars for Float64 columns directly (multi-threaded, no string copies). When
that fails, the block is re-read as text and parsed column by column, so the error can name the
exact line and column of the first bad value, and files that mix ``,`` and ``.`` decimal marks
still read.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from .text import (
    NO_RECORDS,
    OVERFLOW,
    check_complete_last_line,
    drop_long_rows,
    raise_truncated,
    to_float_columns,
)

#: Above this size a non-UTF-8 file is handed to polars as is (``utf8-lossy``) instead of being
#: transcoded in memory; data rows of cycler exports are ASCII, only headers hold ° or µ.
TRANSCODE_LIMIT = 64 * 1024 * 1024


def read_block(
    path: Path,
    *,
    names: list[str],
    skip_lines: int,
    separator: str,
    encoding: str,
    size: int,
    text_columns: set[str] = frozenset(),
    decimal_comma: bool = False,
    on_bad_lines: str = "error",
    quote_char: str | None = '"',
    usecols: list[int] | None = None,
    enums: dict[str, list[str]] | None = None,
    integers: set[str] = frozenset(),
) -> tuple[pl.DataFrame, list[str]]:
    """Read the rows after ``skip_lines`` header lines into a frame with ``names``.

    ``usecols`` (0-based positions) restricts parsing to those columns; the frame then holds
    only them. ``enums`` names text columns with a known vocabulary, parsed straight into codes
    (a value outside it falls back to plain text). ``integers`` names counter columns parsed as
    integers (parsing a counter as an integer is faster than as a float; a value that is not an
    integer falls back to floats). Returns the frame and a list of notes (e.g. a dropped
    truncated line).
    """
    all_names = names
    if usecols is None:
        usecols = list(range(len(all_names)))
    names = [all_names[k] for k in sorted(usecols)]
    notes: list[str] = []
    if on_bad_lines not in ("error", "skip"):
        raise ValueError("on_bad_lines must be 'error' or 'skip'")
    last = check_complete_last_line(path, size, len(all_names), separator, encoding)
    parser_skip = skip_lines  # header lines the parser skips (0 when they were cut off here)
    if encoding in ("utf-8", "ascii", "utf-8-sig") or size > TRANSCODE_LIMIT:
        source: str | bytes = str(path)
        pl_encoding = "utf8" if encoding in ("utf-8", "ascii", "utf-8-sig") else "utf8-lossy"
    else:
        source, pl_encoding, parser_skip = _utf8_source(path, encoding, skip_lines)
    numeric = [n for n in names if n not in text_columns]

    def scan(dtypes):
        # the full schema names every column; only the selected ones are parsed
        return (
            pl.scan_csv(
                source,
                separator=separator,
                has_header=False,
                skip_lines=parser_skip,
                # one column more than the header names: a row with a field beyond it is caught
                schema={**{n: dtypes.get(n, pl.String) for n in all_names}, OVERFLOW: pl.String},
                encoding=pl_encoding,
                quote_char=quote_char,
                truncate_ragged_lines=True,
                missing_columns="insert",  # the overflow column is absent from most files
                raise_if_empty=False,
                decimal_comma=decimal_comma and dtypes is not None,
            )
            .select([*names, OVERFLOW])
            .collect()
        )

    df = None
    errors = (
        pl.exceptions.ComputeError,
        pl.exceptions.InvalidOperationError,
        pl.exceptions.ShapeError,
        pl.exceptions.SchemaError,
    )
    fast = {n: pl.Float64 for n in numeric}
    typed = {**fast, **{n: pl.Int64 for n in integers if n in fast}}
    if enums:
        typed.update({n: pl.Enum(v) for n, v in enums.items() if n in names})
    if typed != fast:
        try:
            df = scan(typed)
        except errors:
            df = None
    if df is None:
        try:
            df = scan(fast)
        except errors:
            df = None
    if df is None:
        raw = scan({})
        if raw.height == 0:
            return _no_rows(names, numeric, skip_lines)
        raw = drop_long_rows(
            raw, notes, on_bad_lines, path, skip_lines, all_names, separator, encoding, quote_char
        )
        df = to_float_columns(
            raw, numeric, path=path, first_line=skip_lines + 1, decimal_comma=True
        )
        if (
            not decimal_comma
            and numeric
            and any("," in str(v) for v in raw[numeric[0]].head(50).to_list() if v)
        ):
            notes.append("decimal commas found in a file that otherwise uses decimal points")
    if OVERFLOW in df.columns:
        df = drop_long_rows(
            df, notes, on_bad_lines, path, skip_lines, all_names, separator, encoding, quote_char
        )
    if df.height == 0:
        return _no_rows(names, numeric, skip_lines)
    if last is not None:
        line_no = skip_lines + df.height
        if on_bad_lines == "error":
            raise_truncated(path, line_no, last, len(all_names), separator)
        df = df.head(df.height - 1)
        notes.append(f"line {line_no}: truncated last line dropped ({last[:60]!r})")
    return df, notes


def _no_rows(
    names: list[str], numeric: list[str], skip_lines: int
) -> tuple[pl.DataFrame, list[str]]:
    """An empty frame of the header's columns, and the note that says so (a header-only file
    reads as a dataset without records; storing one is refused)."""
    frame = pl.DataFrame(schema={n: (pl.Float64 if n in numeric else pl.String) for n in names})
    return frame, [f"{NO_RECORDS}: the column line is line {skip_lines} and nothing follows it"]


def _utf8_source(path: Path, encoding: str, skip_lines: int) -> tuple[bytes, str, int]:
    """The bytes of a (small) non-UTF-8 file as polars can parse them: ``(bytes, polars
    encoding, header lines still to skip)``.

    Cycler software writes ``°`` or ``µ`` in the header and ASCII in the data rows: when the
    rows after the ``skip_lines`` header lines are ASCII they are already valid UTF-8 and are
    handed over as they are, without the header; only otherwise is the whole file transcoded,
    which costs more than parsing it.
    """
    with open(path, "rb") as fh:
        header = [fh.readline() for _ in range(skip_lines)]
        rows = fh.read()
    if rows.isascii():
        return rows, "utf8", 0
    text = (b"".join(header) + rows).decode(encoding, errors="replace")
    return text.encode("utf-8"), "utf8", skip_lines
