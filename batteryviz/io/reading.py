"""The user-facing ``read``: detect the format (:mod:`.registry`), read, pass the plausibility
gate (:func:`batteryviz.quality.gate`), and record how the file was read in ``attrs``."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from .. import quality
from .combine import join_parts
from .registry import READERS, weigh
from .text import read_head


def read(
    path: str | os.PathLike, format: str | None = None, *, strict: bool = True, **options
) -> xr.Dataset:
    """Read a cycler file into a cell dataset (BDF names, current > 0 charges the cell).

    Parameters
    ----------
    path
        The file. Several files of one test (e.g. BioLogic Modulo Bat parts) can be given as a
        list; they are read in order and joined into one test.
    format
        A registered reader name to skip detection (see ``batteryviz.io.READERS``).
    strict
        Refuse what the plausibility gate finds implausible (``ImplausibleDataError``); with
        ``False`` the dataset is returned with each finding as a quality warning.
    **options
        Passed to the reader's ``read`` (e.g. ``on_bad_lines="skip"``, ``columns={...}``).

    Returns
    -------
    xarray.Dataset
        Variables on the ``record`` dimension; cell metadata in ``attrs``.
    """
    if isinstance(path, (list, tuple)):
        return read_many(list(path), format=format, strict=strict, **options)
    path = Path(path)
    head = read_head(path)
    if format:
        reader, evidence, others = READERS[format], None, []
    else:
        reader, evidence, others = weigh(path, head)
    ds = quality.gate(reader.read(path, **options), path=path, strict=strict)
    ds.attrs.setdefault("source_file", path.name)
    ds.attrs["reader"] = reader.name
    ds.attrs.setdefault("variant", reader.description if evidence is None else evidence.reason)
    ds.attrs["detection"] = (
        f"format={format!r} given"
        if evidence is None
        else f"{evidence.reason} (score {evidence.score:g})"
        + (
            f"; also fitting: {', '.join(f'{n} ({e.score:g}: {e.reason})' for n, e in others)}"
            if others
            else ""
        )
    )
    return ds


def read_many(paths: list, format: str | None = None, **options) -> xr.Dataset:
    """Read ``paths`` in order (each as :func:`read` does) and join them into one test
    (:func:`.combine.join_parts`)."""
    if not paths:
        raise ValueError("no files given")
    return join_parts([read(p, format=format, **options) for p in paths], paths)
