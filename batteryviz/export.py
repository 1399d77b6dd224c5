"""Writing results and cell datasets: CSV, Excel, netCDF, zarr, BDF.

Every writer goes through a temporary file in the target folder and an atomic rename, so an
interrupted write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import xarray as xr


@contextmanager
def atomic_path(path: Path, directory: bool = False):
    """Yield a temporary sibling of ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")) if directory else None
    if not directory:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
    target = tmp / path.name if directory else tmp
    try:
        yield target
        if path.exists() and path.is_dir():
            shutil.rmtree(path)
        os.replace(target, path)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def storable(ds: xr.Dataset) -> xr.Dataset:
    """A copy whose attrs and dtypes netCDF and zarr accept (bool → int8, arrays → lists)."""
    out = ds.copy()
    for name, var in out.variables.items():
        if var.dtype == bool:
            out[name] = var.astype("int8")
        attrs = {}
        for k, v in var.attrs.items():
            attrs[k] = v.tolist() if isinstance(v, np.ndarray) else v
        out[name].attrs = attrs
    out.attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in ds.attrs.items() if v is not None}
    return out


def summary_table(summary: xr.Dataset):
    """The summary as a pandas table with a ``cycle`` column (the CLI's CSV)."""
    df = summary.to_dataframe().reset_index()
    return df


def write_table(summary: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a per-cycle result to ``.csv``, ``.xlsx`` or ``.nc`` (by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with atomic_path(path) as tmp:
            summary_table(summary).to_csv(tmp, index=False)
    elif suffix == ".xlsx":
        import pandas as pd

        with atomic_path(path) as tmp:
            with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
                summary_table(summary).to_excel(xw, sheet_name="Summary", index=False)
                params = json.loads(summary.attrs.get("parameters", "{}"))
                rows = [(k, json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in params.items()]
                rows += [(k, str(v)) for k, v in summary.attrs.items() if k != "parameters"]
                pd.DataFrame(rows, columns=["Parameter", "Value"]).to_excel(xw, sheet_name="Parameters", index=False)
                units = [(n, v.attrs.get("units", ""), v.attrs.get("long_name", ""), v.attrs.get("definition", "")) for n, v in summary.data_vars.items()]
                pd.DataFrame(units, columns=["Column", "Units", "Long name", "Definition"]).to_excel(xw, sheet_name="Definitions", index=False)
    elif suffix == ".nc":
        with atomic_path(path) as tmp:
            storable(summary).to_netcdf(tmp, engine="h5netcdf")
    else:
        raise ValueError(f"{path}: unsupported output type {suffix!r}; use .csv, .xlsx or .nc")
    return path


def write_dataset(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write a cell dataset to ``.bdf.csv``, ``.bdf.parquet``, ``.nc`` or ``.zarr``."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".bdf.csv", ".bdf.parquet", ".parquet", ".csv")):
        from .io.bdf import write_bdf

        return write_bdf(ds, path)
    if name.endswith(".nc"):
        with atomic_path(path) as tmp:
            storable(ds).to_netcdf(tmp, engine="h5netcdf")
        return path
    if name.endswith(".zarr"):
        with atomic_path(path, directory=True) as tmp:
            storable(ds).to_zarr(tmp, mode="w", consolidated=False)
        return path
    raise ValueError(f"{path}: unsupported output type; use .bdf.csv, .bdf.parquet, .nc or .zarr")
