"""The reader contract and declarative column maps.

A reader is a small class: a ``name``, the ``suffixes`` it usually sees, a ``sniff`` that looks
at the *content* of a file's head (or a ``score`` that weighs what it sees and says why, see
:class:`Evidence`), and a ``read`` that returns a cell dataset in BDF names. Most
of a vendor reader is data: a list of :class:`Column` entries mapping the vendor's column names
to BDF names, units and signs. Adding a vendor is mostly writing that list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable

import numpy as np
import polars as pl
import xarray as xr

from .. import schema
from ..errors import MissingColumnError
from .text import Head


@dataclass(frozen=True)
class Column:
    """How one vendor column becomes one dataset variable.

    Parameters
    ----------
    source
        The vendor's column name, or a regular expression (``regex=True``) matched against it.
    target
        The dataset variable name (BDF where BDF has one).
    scale
        Factor applied to the values (e.g. ``3600`` for hours to seconds, ``1e-3`` for mA).
    role
        Counter role for the cycle summary (see :data:`batteryviz.schema.COUNTER_ROLES`).
    resets
        For counters: when the cycler resets them (``"cycle"``, ``"step"``, ``"never"``).
    preference
        Among several counters of one role, the highest preference is used first.
    kind
        ``"float"``, ``"int"``, ``"category"`` (strings stored as codes) or ``"string"``.
    absolute
        Store the magnitude (for counters some cyclers write with a sign).
    """

    source: str
    target: str
    scale: float = 1.0
    role: str | None = None
    resets: str | None = None
    preference: int = 0
    kind: str = "float"
    regex: bool = False
    absolute: bool = False

    def matches(self, name: str) -> bool:
        if self.regex:
            return re.fullmatch(self.source, name.strip(), flags=re.IGNORECASE) is not None
        return name.strip().lower() == self.source.lower()


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique by suffixing repeats ``.1``, ``.2``… (files do repeat names)."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}.{seen[n]}")
        else:
            seen[n] = 0
            out.append(n)
    return out


def regex_column(pattern: str, target: str, **kw) -> "Column":
    """A :class:`Column` matched by a regular expression (most vendor maps use these)."""
    return Column(pattern, target, regex=True, **kw)


def slug(name: str) -> str:
    """A clean variable name for a vendor column without a BDF equivalent."""
    s = name.strip().replace("°", "deg").replace("%", "percent").replace("/", "_per_")
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_").lower()
    return s or "column"


def categorical(values: pl.Series) -> tuple[np.ndarray, dict]:
    """Strings to small integer codes with CF ``flag_values``/``flag_meanings``.

    The labels are kept exactly as written (spaces replaced by ``_`` in ``flag_meanings``,
    the originals in ``labels``), so nothing the cycler wrote is lost.
    """
    if isinstance(values.dtype, pl.Enum):
        cats = list(values.dtype.categories)
        codes = values.to_physical().fill_null(0).to_numpy()
        dtype = np.int16 if len(cats) < 32000 else np.int32
        return codes.astype(dtype), {
            "flag_values": np.arange(len(cats), dtype=dtype),
            "flag_meanings": " ".join(re.sub(r"\s+", "_", c) or "_" for c in cats),
            "labels": "\t".join(cats),
        }
    filled = values.fill_null("")
    cats = filled.unique(maintain_order=True).to_list()
    mapping = {c: i for i, c in enumerate(cats)}
    dtype = np.int16 if len(cats) < 32000 else np.int32
    codes = filled.replace_strict(mapping, return_dtype=pl.Int32).to_numpy().astype(dtype)
    attrs = {
        "flag_values": np.arange(len(cats), dtype=dtype),
        "flag_meanings": " ".join(re.sub(r"\s+", "_", c) or "_" for c in cats),
        "labels": "\t".join(cats),
    }
    return codes, attrs


def plan_columns(
    names: Iterable[str], columns: Iterable[Column], vendor: str, keep_unmapped: bool = True
) -> list[tuple[str, str, Column | None]]:
    """Decide, once, which vendor column becomes which variable.

    Returns ``(source_name, target, spec)`` triples in file order. Each vendor column is used by
    the first :class:`Column` that matches it, and each target is filled once; columns no entry
    matches become ``<vendor>_<slug>`` (``spec`` is ``None``) when ``keep_unmapped``.
    """
    names = list(names)
    chosen: dict[str, tuple[str, Column]] = {}
    targets: set[str] = set()
    for spec in columns:
        for name in names:
            if name in chosen or spec.target in targets or not spec.matches(name):
                continue
            chosen[name] = (spec.target, spec)
            targets.add(spec.target)
            break
    plan = []
    for name in names:
        if name in chosen:
            plan.append((name, chosen[name][0], chosen[name][1]))
        elif keep_unmapped:
            target = f"{vendor}_{slug(name)}"
            if target not in targets:
                targets.add(target)
                plan.append((name, target, None))
    return plan


def convert_column(series: pl.Series, target: str, spec: Column | None) -> tuple[np.ndarray, dict]:
    """One vendor column to ``(array, attrs)`` following its :class:`Column` entry."""
    extra: dict[str, Any] = {"source_column": series.name}
    if spec is None:
        if series.dtype == pl.String:
            arr, cat_attrs = categorical(series)
            return arr, {**extra, **cat_attrs}
        return series.cast(pl.Float64).to_numpy(), extra
    if spec.role:
        extra.update(role=spec.role, preference=spec.preference)
    if spec.resets:
        extra["resets"] = spec.resets
    if spec.kind == "category":
        arr, cat_attrs = categorical(
            series if isinstance(series.dtype, pl.Enum) else series.cast(pl.String)
        )
        extra.update(cat_attrs)
    elif spec.kind == "string":
        arr = series.cast(pl.String).fill_null("").to_numpy().astype(str)
    elif (
        spec.kind == "int"
        and series.dtype.is_integer()
        and spec.scale == 1.0
        and series.null_count() == 0
    ):
        arr = (
            (series.abs() if spec.absolute else series).cast(pl.Int64).to_numpy()
        )  # parsed as integers
    else:
        values = series.cast(pl.Float64, strict=series.dtype != pl.String)
        if spec.absolute:
            values = values.abs()
        if spec.scale != 1.0:
            values = values * spec.scale
        if (
            spec.kind == "int"
            and values.len()
            and values.null_count() == 0
            and not values.is_nan().any()
        ):
            arr = values.cast(pl.Int64).to_numpy()
        else:
            arr = values.to_numpy()
    attrs = schema.variable_attrs(target)
    attrs.update(extra)
    return arr, attrs


def apply_column_map(
    df: pl.DataFrame,
    columns: Iterable[Column],
    *,
    path,
    vendor: str,
    keep_unmapped: bool = True,
) -> dict[str, tuple[np.ndarray, dict]]:
    """Turn a polars frame of vendor columns into ``{variable: (array, attrs)}``.

    See :func:`plan_columns` for how columns are matched.
    """
    return {
        target: convert_column(df[name], target, spec)
        for name, target, spec in plan_columns(df.columns, columns, vendor, keep_unmapped)
    }


def require(
    data: dict, names: Iterable[str], *, path, available: Iterable[str], hint: str = ""
) -> None:
    """Raise :class:`MissingColumnError` when a required variable was not found."""
    for name in names:
        if name not in data:
            raise MissingColumnError(
                f"no column for {name} ({schema.VARIABLES[name].label}); columns found: "
                f"{', '.join(available)}{hint}",
                path=path,
                column=name,
            )


@dataclass(frozen=True)
class Evidence:
    """How well a file's head fits a reader, and why.

    ``score`` 0 means "not this format"; 1 is a format's own marks (magic bytes, a vendor's
    header block or column line); generic readers that only recognise column names score
    :data:`GENERIC_SCORE`, so a vendor's reader wins over them. Between, a near miss (the
    vendor's column line but further down than its exports put it). Detection takes the best
    score (ties: the higher :attr:`Reader.priority`) and reports the others.
    """

    score: float
    reason: str


#: What a reader that recognises only common column names scores when it does.
GENERIC_SCORE = 0.5


class Reader:
    """Base class and contract of every reader.

    Subclasses set :attr:`name`, :attr:`suffixes` and :attr:`description` and implement
    :meth:`sniff` and :meth:`read`. Register a reader under the ``batteryviz.readers`` entry-point
    group and :func:`batteryviz.read` will find it.
    """

    name: ClassVar[str] = ""
    suffixes: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    #: Readers with a higher priority are asked first (specific formats before generic ones).
    priority: ClassVar[int] = 50

    def sniff(self, head: Head) -> bool:  # pragma: no cover - abstract
        """True when ``head`` (the decoded start of a file) is in this reader's format."""
        raise NotImplementedError

    def score(self, head: Head) -> Evidence:
        """Weigh ``head`` for this format (:class:`Evidence`). The default turns :meth:`sniff`
        into 1 or 0; readers that can say more (a near miss, why they decline) override it."""
        if self.sniff(head):
            return Evidence(1.0, f"{self.description or self.name}: recognised")
        return Evidence(
            0.0,
            "its marks are not in the file's head" + (" (a binary file)" if head.is_binary else ""),
        )

    def read(self, path: str | Path, **options) -> xr.Dataset:  # pragma: no cover - abstract
        """Read the file into a cell dataset (BDF names, current > 0 charges the cell)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
