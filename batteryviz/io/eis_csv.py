"""Impedance spectra as plain delimited text: frequency, Re(Z), Im(Z) (the impedance.py layout).

With or without a header. Im(Z) is signed (negative = capacitive); a column named ``-Im(Z)``
(or ``-Z''``) is negated on reading. The dataset holds ``frequency_hertz``,
``real_impedance_ohm`` and ``imaginary_impedance_ohm`` on ``record`` (one spectrum).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import polars as pl

from ..errors import EmptyFileError, ParseError
from .base import Reader
from .finish import finish
from .tabular import guess_separator
from .text import Head, read_head, require_text

_NUM = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")

# Cycling columns (lower-cased header names). A table with a time, a voltage AND a current column
# is a cycler export that happens to carry impedance columns, not an impedance table.
_IMPEDANCE_NAME = re.compile(r"z|ohm|freq|phase")
_TIME_NAME = re.compile(r"time|^t\s*([(\[/_]|$)")
_VOLTAGE_NAME = re.compile(
    r"volt|potential|\bewe\b|\becell\b|^<?[euv](dc)?>?\s*([(\[/_]|$)|[(\[/_\s]m?v[)\]]?$"
)
_CURRENT_NAME = re.compile(r"current|ampere|^<?i(dc)?>?\s*([(\[/_]|$)|[(\[/_\s]m?a[)\]]?$")


def has_cycling_columns(names: list[str]) -> bool:
    """True when ``names`` (lower-cased) hold a time, a voltage and a current column, none of
    them an impedance column (``Z'(a)`` is not a current in amperes)."""
    other = [n for n in names if not _IMPEDANCE_NAME.search(n)]
    return all(any(p.search(n) for n in other) for p in (_TIME_NAME, _VOLTAGE_NAME, _CURRENT_NAME))


def by_name(names: list[str]) -> list[str] | None:
    """The frequency, real and imaginary columns of a header, found by their names (``freq``,
    ``Re``/``Z'``, ``Im``/``Z''``) wherever they are; None when the names do not say."""
    low = [n.strip().lower() for n in names]

    def find(test) -> str | None:
        return next((names[k] for k, n in enumerate(low) if test(n)), None)

    freq = find(lambda n: "freq" in n)
    imag = find(lambda n: re.search(r"\bim\b|im\(|imag|z''|z\"", n) is not None)
    real = find(
        lambda n: (
            (re.search(r"\bre\b|re\(|real|z'", n) is not None)
            and "z''" not in n
            and "imag" not in n
        )
    )
    found = [freq, real, imag]
    return found if None not in found and len(set(found)) == 3 else None


class EISCsvReader(Reader):
    """Frequency / Re(Z) / Im(Z) tables."""

    name = "eis_csv"
    suffixes = (".csv", ".txt", ".dat")
    description = "impedance spectrum table (frequency, Re Z, Im Z)"
    priority = 40

    def _layout(self, head: Head):
        lines = [ln for ln in head.lines[:40] if ln.strip()]
        if not lines:
            return None
        sep = guess_separator(lines[0]) if any(c in lines[0] for c in ",;\t") else None
        first = re.split(sep, lines[0]) if sep else lines[0].split()
        header = not all(_NUM.match(x) for x in first if x.strip())
        if header:
            names = [x.strip().lower() for x in first]
            if by_name([x.strip().strip('"') for x in first]) is None:
                return None
            if has_cycling_columns(names):
                return None  # a cycling export with impedance columns: left to the cycler readers
        rows = [(re.split(sep, ln) if sep else ln.split()) for ln in lines[1 if header else 0 :]]
        if not rows or any(len(r) < 3 or not all(_NUM.match(x) for x in r[:3]) for r in rows[:20]):
            return None
        if not header:
            f = np.array([float(r[0]) for r in rows[:20]])
            if (f <= 0).any() or f.max() / f.min() < 10:  # a frequency sweep spans decades
                return None
        return sep, header

    def sniff(self, head: Head) -> bool:
        return not head.is_binary and self._layout(head) is not None

    def read(self, path, **_):
        path = Path(path)
        head = read_head(path)
        require_text(head, "impedance table")
        layout = self._layout(head)
        if layout is None:
            raise ParseError(
                "expected three numeric columns: frequency (Hz), Re(Z) and Im(Z) (ohm)",
                path=path,
                line=1,
            )
        sep, header = layout
        text = path.read_bytes().decode(head.encoding, errors="replace")
        if sep is None:
            text = "\n".join(",".join(ln.split()) for ln in text.splitlines() if ln.strip())
            sep = ","
        df = pl.read_csv(
            io.StringIO(text), separator=sep, has_header=header, infer_schema_length=None
        )
        if df.height == 0:
            raise EmptyFileError("no spectrum rows", path=path)
        cols = (by_name(df.columns) or df.columns[:3]) if header else df.columns[:3]
        im_name = cols[2]
        im_sign = (
            -1.0
            if header and (im_name.strip().startswith("-") or "-z''" in im_name.lower())
            else 1.0
        )
        data = {
            "frequency_hertz": (
                df[cols[0]].cast(pl.Float64).to_numpy(),
                {"source_column": cols[0]},
            ),
            "real_impedance_ohm": (
                df[cols[1]].cast(pl.Float64).to_numpy(),
                {"source_column": cols[1]},
            ),
            "imaginary_impedance_ohm": (
                im_sign * df[cols[2]].cast(pl.Float64).to_numpy(),
                {"source_column": cols[2]},
            ),
        }
        return finish(
            data, {"cycler": "impedance analyser (table)"}, path=path, notes=[], reader=self.name
        )
