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


def dqdu_long(result: xr.Dataset):
    """dQ/dU curves as a long table: cycle, direction, voltage_v, dqdu."""
    import pandas as pd

    frames = []
    for direction in ("charge", "discharge"):
        name = f"{direction}_dqdu"
        if name not in result:
            continue
        da = result[name]
        df = da.to_dataframe(name="dqdu").reset_index().rename(columns={f"{direction}_voltage": "voltage_v"})
        df.insert(1, "direction", direction)
        frames.append(df.dropna(subset=["dqdu"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["cycle", "direction", "voltage_v", "dqdu"])


def dqdu_wide(result: xr.Dataset):
    """The predecessor's wide layout: ``Cycle n Charge U[V]`` / ``Cycle n Charge dQ/dU`` column pairs,
    ordered by cycle, then charge before discharge."""
    import pandas as pd

    columns = {}
    for c in result["cycle"].values:
        for direction in ("charge", "discharge"):
            name = f"{direction}_dqdu"
            if name not in result:
                continue
            y = result[name].sel(cycle=c).values
            v = result[f"{direction}_voltage"].values
            ok = np.isfinite(y)
            label = f"Cycle {int(c)} {direction.capitalize()}"
            columns[f"{label} U[V]"] = pd.Series(v[ok])
            columns[f"{label} dQ/dU"] = pd.Series(y[ok])
    return pd.DataFrame(columns)


def peak_table(result: xr.Dataset):
    """One row per peak: cycle, direction, voltage_v, intensity, prominence, width_v, area, track."""
    import pandas as pd

    rows = []
    for direction in ("charge", "discharge"):
        if f"{direction}_peak_voltage" not in result:
            continue
        for k, c in enumerate(result["cycle"].values):
            v = result[f"{direction}_peak_voltage"].values[k]
            for j in np.flatnonzero(np.isfinite(v)):
                rows.append({
                    "cycle": int(c), "direction": direction, "voltage_v": v[j],
                    "intensity": result[f"{direction}_peak_intensity"].values[k, j],
                    "prominence": result[f"{direction}_peak_prominence"].values[k, j],
                    "width_v": result[f"{direction}_peak_width"].values[k, j],
                    "area": result[f"{direction}_peak_area"].values[k, j],
                    "track": int(result[f"{direction}_peak_track"].values[k, j]),
                })
    return pd.DataFrame(rows, columns=["cycle", "direction", "voltage_v", "intensity", "prominence", "width_v", "area", "track"])
