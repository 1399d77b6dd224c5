"""Results as tables: what a download, a workbook sheet or a dashboard table holds.

Pure pandas over a result dataset. :func:`result_table` is the default table of any analysis
(:meth:`batteryviz.analysis.base.Analysis.tables`); analyses with a table of their own
(the cycle summary, dQ/dU curves and peaks) declare it on their class.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr


def main_dimension(result: xr.Dataset) -> str | None:
    """The dimension a result's main table runs along: ``attrs["main_dimension"]`` when the
    analysis names it, else the first dimension of its first variable. (Not the first of
    ``result.dims``: that order is not kept by a netCDF round trip, and a stored rate result
    reloaded showed its blocks table instead of its rates.)"""
    named = result.attrs.get("main_dimension")
    if named in result.dims:
        return named
    for var in result.data_vars.values():
        if var.dims:
            return var.dims[0]
    return next(iter(result.dims), None)


def result_table(result: xr.Dataset) -> pd.DataFrame:
    """Every variable on the result's main dimension (:func:`main_dimension`) as columns; a
    result made only of curves on a grid as one long table (:func:`long_table`); a result
    without dimensions as one row of its attrs."""
    dim = main_dimension(result)
    if dim is None:
        return pd.DataFrame([{k: v for k, v in result.attrs.items()}])
    keep = [v for v in result.data_vars if result[v].dims == (dim,)]
    if keep:
        return result[keep].to_dataframe().reset_index()
    return long_table(result, dim)


def long_table(result: xr.Dataset, dim: str) -> pd.DataFrame:
    """Two-dimensional variables (``dim`` × a grid, e.g. dV/dQ curves) as one long table:
    ``dim``, ``variable``, ``x`` (the grid coordinate, named in ``x_name``), ``value``; NaN
    (outside a curve's range) left out. Each curve on its own grid: never a cross product."""
    frames = []
    for name, var in result.data_vars.items():
        if len(var.dims) != 2 or var.dims[0] != dim:
            continue
        other = var.dims[1]
        df = var.to_dataframe(name=name).reset_index()[[dim, other, name]].dropna(subset=[name])
        frames.append(
            df.rename(columns={other: "x", name: "value"}).assign(variable=name, x_name=other)
        )
    if not frames:
        return pd.DataFrame({dim: result[dim].values}) if dim in result.coords else pd.DataFrame()
    return pd.concat(frames, ignore_index=True)[[dim, "variable", "x_name", "x", "value"]]


def sheet_name(title: str) -> str:
    """``title`` as an Excel sheet name (no ``\\ / ? * [ ] :``, at most 31 characters)."""
    out = "".join("-" if c in "\\/?*[]:" else c for c in title).strip("' ")
    return (out or "Result")[:31]
