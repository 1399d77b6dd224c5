"""Exceptions and warnings of batteryviz.

Every error a user can trigger with a bad file derives from :class:`BatteryvizError` and says
*which file*, *where* (line or column) and *what was expected*, so the message alone tells the
user what to fix.
"""

from __future__ import annotations

from os import PathLike

#: The most characters of one value an error message quotes (:func:`quote`).
QUOTE_LIMIT = 80
#: The most characters of an error's reason: a message quoting a hostile file must stay small
#: (a 10 MB field once made a 10 MB message that blocked the server's event loop while shown).
MAX_REASON = 2000


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` of at most about ``limit`` characters, saying how much was left off.

    Every error message that quotes what it found in a file or an input uses this (never
    ``{value!r}``), whatever the size of the value.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    head = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return f"{head}… ({len(text) - limit:,} more characters)"


def quote_list(values, limit: int = 20) -> str:
    """The first ``limit`` of ``values``, each quoted, comma-separated, with how many were left
    off."""
    values = list(values)
    shown = ", ".join(quote(v, 40) if isinstance(v, str) else quote(v) for v in values[:limit])
    return shown + (f" … and {len(values) - limit:,} more" if len(values) > limit else "")


class BatteryvizError(Exception):
    """Base class of every error batteryviz raises on purpose.

    Parameters
    ----------
    message
        What went wrong and what was expected.
    path
        The file concerned, if any.
    line
        1-based line number in the file, if known.
    column
        Column name (or 1-based column number) concerned, if known.
    hint
        What a Python user can do about it, naming a call or an option
        (``bv.read(path, format='generic', columns=...)``). It ends the message (``str(exc)``)
        and is kept apart (:attr:`hint`) so that a page shows :meth:`for_page` instead: a
        browser user cannot call Python, and the page offers its own way (a column form).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike | None = None,
        line: int | None = None,
        column: str | int | None = None,
        hint: str | None = None,
    ) -> None:
        self.hint = hint or None
        self.path = None if path is None else str(path)
        self.line = line
        self.column = (
            column if column is None or isinstance(column, int) else str(column)[:QUOTE_LIMIT]
        )
        if len(message) > MAX_REASON:
            message = f"{message[:MAX_REASON]}… ({len(message) - MAX_REASON:,} more characters)"
        self.reason = message
        super().__init__(self._format())

    def __reduce__(self):
        # path, line and column survive pickling (errors come back from worker processes)
        return _rebuild_error, (
            type(self),
            self.reason,
            self.path,
            self.line,
            self.column,
            self.hint,
        )

    def for_page(self, advice: str = "") -> str:
        """The message without the Python :attr:`hint`, ending with ``advice`` (what the page
        offers instead) when given."""
        text = self._format(hint=False)
        return f"{text} {advice}" if advice else text

    def renamed(self, path: str) -> "BatteryvizError":
        """The same error naming ``path`` instead (e.g. the upload's name, not a server temp
        file)."""
        old = self.path
        self.path = path
        if old is not None:
            self.reason = self.reason.replace(old, path)
        self.args = (self._format(),)
        return self

    def _format(self, hint: bool = True) -> str:
        where = []
        if self.path is not None:
            where.append(f"{self.path}")
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {quote(self.column)}")
        prefix = ", ".join(where)
        text = f"{prefix}: {self.reason}" if prefix else self.reason
        return f"{text} {self.hint}" if hint and self.hint else text


def _rebuild_error(cls, reason, path, line, column, hint=None):
    return cls(reason, path=path, line=line, column=column, hint=hint)


class EmptyFileError(BatteryvizError):
    """The file has no bytes, or a header but no data rows."""


class UnknownFormatError(BatteryvizError):
    """No registered reader recognised the file's content."""


class BinaryFileError(BatteryvizError):
    """A binary file was handed to a reader of text exports."""


class MissingColumnError(BatteryvizError):
    """A column the reader needs is not in the file."""


class ParseError(BatteryvizError):
    """A value could not be parsed (text in a numeric column, a malformed row...)."""


class TruncatedFileError(ParseError):
    """The file ends in the middle of a row (an interrupted copy or export)."""


class ImplausibleDataError(BatteryvizError):
    """The file was parsed, but what it holds cannot be real measurement data (a misread):
    see :func:`batteryviz.quality.implausible`. ``strict=False`` reads it with a warning."""


class FileTooLargeError(BatteryvizError):
    """Reading the file into memory would exceed the memory available."""


class SchemaError(BatteryvizError):
    """A dataset does not follow the batteryviz cell-dataset conventions."""


class DataQualityWarning(UserWarning):
    """Something in the data looks wrong but the analysis can go on."""
