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
    out.attrs = {
        k: (v.tolist() if isinstance(v, np.ndarray) else v)
        for k, v in ds.attrs.items()
        if v is not None
    }
    return out


def netcdf_bytes(ds: xr.Dataset) -> bytes:
    """``ds`` as netCDF bytes: netCDF3 (scipy, milliseconds) when it can hold the result,
    netCDF4 (h5netcdf) otherwise. Results are small; serialising in memory lets callers write
    them in one go to any filesystem."""
    ds = storable(ds)
    try:
        return bytes(ds.to_netcdf(engine="scipy"))
    except (ValueError, TypeError):
        return bytes(ds.to_netcdf(engine="h5netcdf"))


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
                rows = [
                    (k, json.dumps(v) if isinstance(v, (list, dict)) else v)
                    for k, v in params.items()
                ]
                rows += [(k, str(v)) for k, v in summary.attrs.items() if k != "parameters"]
                pd.DataFrame(rows, columns=["Parameter", "Value"]).to_excel(
                    xw, sheet_name="Parameters", index=False
                )
                units = [
                    (
                        n,
                        v.attrs.get("units", ""),
                        v.attrs.get("long_name", ""),
                        v.attrs.get("definition", ""),
                    )
                    for n, v in summary.data_vars.items()
                ]
                pd.DataFrame(
                    units, columns=["Column", "Units", "Long name", "Definition"]
                ).to_excel(xw, sheet_name="Definitions", index=False)
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
        from .analysis.summary import with_cycle_aggregates
        from .io.bdf import write_bdf

        return write_bdf(with_cycle_aggregates(ds) if name.endswith(".parquet") else ds, path)
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
        df = (
            da.to_dataframe(name="dqdu")
            .reset_index()
            .rename(columns={f"{direction}_voltage": "voltage_v"})
        )
        df.insert(1, "direction", direction)
        frames.append(df.dropna(subset=["dqdu"]))
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["cycle", "direction", "voltage_v", "dqdu"])
    )


def dqdu_wide(result: xr.Dataset):
    """The predecessor's wide layout: ``Cycle n Charge U[V]`` / ``Cycle n Charge dQ/dU`` column
    pairs,
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
    """One row per peak: cycle, direction, voltage_v, intensity, prominence, width_v, area,
    track."""
    import pandas as pd

    rows = []
    for direction in ("charge", "discharge"):
        if f"{direction}_peak_voltage" not in result:
            continue
        for k, c in enumerate(result["cycle"].values):
            v = result[f"{direction}_peak_voltage"].values[k]
            for j in np.flatnonzero(np.isfinite(v)):
                rows.append(
                    {
                        "cycle": int(c),
                        "direction": direction,
                        "voltage_v": v[j],
                        "intensity": result[f"{direction}_peak_intensity"].values[k, j],
                        "prominence": result[f"{direction}_peak_prominence"].values[k, j],
                        "width_v": result[f"{direction}_peak_width"].values[k, j],
                        "area": result[f"{direction}_peak_area"].values[k, j],
                        "track": int(result[f"{direction}_peak_track"].values[k, j]),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=[
            "cycle",
            "direction",
            "voltage_v",
            "intensity",
            "prominence",
            "width_v",
            "area",
            "track",
        ],
    )


# -- publication exports ------------------------------------------------------------------


def summary_statistics(summary: xr.Dataset) -> dict:
    """The predecessor's summary block: cycles, averages, CE spread, retention, fade, window,
    duration."""
    q = summary["discharge_capacity_ah"].values
    complete = summary["complete"].values.astype(bool) if "complete" in summary else np.isfinite(q)
    ce = summary["coulombic_efficiency_percent"].values[complete]
    ret = summary["retention_percent"].values
    n = int(summary.sizes["cycle"])
    stats = {
        "total_cycles": n,
        "complete_cycles": int(complete.sum()),
        "mean_discharge_capacity_ah": float(np.nanmean(q[complete])) if complete.any() else np.nan,
        "mean_charge_capacity_ah": float(np.nanmean(summary["charge_capacity_ah"].values[complete]))
        if complete.any()
        else np.nan,
        "mean_coulombic_efficiency_percent": float(np.nanmean(ce)) if ce.size else np.nan,
        "std_coulombic_efficiency_percent": float(np.nanstd(ce, ddof=1)) if ce.size > 1 else np.nan,
        "final_retention_percent": float(ret[complete][-1]) if complete.any() else np.nan,
        "fade_percent_per_cycle": float((100 - ret[complete][-1]) / max(int(complete.sum()), 1))
        if complete.any()
        else np.nan,
        "mean_voltage_window_v": float(
            np.nanmean(summary["max_voltage_v"].values)
            - np.nanmean(summary["min_voltage_v"].values)
        ),
        "total_duration_h": float(np.nansum(summary["duration_h"].values)),
    }
    if "specific_discharge_capacity_mah_g" in summary:
        stats["mean_specific_discharge_capacity_mah_g"] = float(
            np.nanmean(summary["specific_discharge_capacity_mah_g"].values[complete])
        )
    return stats


def _parameters_rows(results: dict) -> list[tuple[str, str, str]]:
    rows = []
    for name, res in results.items():
        for k, v in json.loads(res.attrs.get("parameters", "{}")).items():
            rows.append((name, k, json.dumps(v) if isinstance(v, (list, dict)) else str(v)))
        for k, v in res.attrs.items():
            if k not in ("parameters", "quality_warnings"):
                rows.append((name, k, str(v)))
    return rows


def write_excel(
    path: str | os.PathLike,
    summary: xr.Dataset | None = None,
    dqdu: xr.Dataset | None = None,
    extra: dict | None = None,
) -> Path:
    """Workbook with sheets Summary, Cycle Data, dQdU Data, Peak Data, Parameters (and one per
    extra result)."""
    import pandas as pd

    path = Path(path)
    results = {
        k: v
        for k, v in (("summary", summary), ("dqdu", dqdu), *((extra or {}).items()))
        if v is not None
    }
    tables = []  # (sheet name, table), all made and checked before the workbook is opened
    if summary is not None:
        stats = summary_statistics(summary)
        tables += [
            ("Summary", pd.DataFrame(list(stats.items()), columns=["Statistic", "Value"])),
            ("Cycle Data", summary_table(summary)),
        ]
    if dqdu is not None:
        tables += [("dQdU Data", dqdu_long(dqdu)), ("Peak Data", peak_table(dqdu))]
    for name, res in (extra or {}).items():
        if res.sizes:  # each result as the table its CSV download holds (curves on their own grid)
            tables.append((name, result_table(name, res)))
    tables.append(
        (
            "Parameters",
            pd.DataFrame(_parameters_rows(results), columns=["Analysis", "Parameter", "Value"]),
        )
    )
    sheets = [(sheet, part) for name, table in tables for sheet, part in _sheet_parts(table, name)]
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for sheet, part in sheets:
                part.to_excel(xw, sheet_name=sheet, index=False)
    return path


#: Rows of data an Excel sheet holds under its header row (Excel's limit is 1,048,576 rows).
EXCEL_ROWS = 1_048_575
#: Sheets one table may be split over before the workbook is refused.
EXCEL_MAX_PARTS = 8


def _sheet_parts(table, name: str) -> list:
    """``table`` as ``(sheet name, rows)`` parts: one sheet named ``name``, continued on
    "name (2)", "name (3)" … when it has more rows than a sheet holds. A table needing more than
    :data:`EXCEL_MAX_PARTS` sheets is refused with a :class:`ValueError` that says which format
    holds it."""
    parts = max(1, -(-len(table) // EXCEL_ROWS))
    if parts > EXCEL_MAX_PARTS:
        raise ValueError(
            f"the {name} table has {len(table):,} rows, more than {EXCEL_MAX_PARTS} Excel sheets "
            f"hold "
            f"({EXCEL_ROWS:,} rows each); download it as CSV or netCDF instead"
        )
    return [
        (
            name[:31] if k == 0 else f"{name[:25]} ({k + 1})",
            table.iloc[k * EXCEL_ROWS : (k + 1) * EXCEL_ROWS],
        )
        for k in range(parts)
    ]


def write_origin(
    table, path: str | os.PathLike, units: dict | None = None, comments: dict | None = None
) -> Path:
    """Origin-ready text: tab separated, three header rows (Long Name, Units, Comments) that
    Origin's ASCII import turns into column labels, then the data."""
    path = Path(path)
    units = units or {}
    comments = comments or {}
    cols = list(table.columns)
    lines = [
        "\t".join(cols),
        "\t".join(units.get(c, "") for c in cols),
        "\t".join(comments.get(c, "") for c in cols),
    ]
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("\n".join(lines) + "\n")
            table.to_csv(fh, sep="\t", header=False, index=False, na_rep="")
    return path


def origin_summary(summary: xr.Dataset, path: str | os.PathLike) -> Path:
    """The cycle table as Origin text, units and definitions in the header rows."""
    table = summary_table(summary)
    units = {n: summary[n].attrs.get("units", "") for n in summary.data_vars}
    comments = {n: summary[n].attrs.get("definition", "") for n in summary.data_vars}
    return write_origin(table, path, units, comments)


def write_matlab(path: str | os.PathLike, **results: xr.Dataset) -> Path:
    """MATLAB ``.mat`` with one struct per result: fields are the variables and coordinates
    (strings as char arrays), plus an ``attrs`` struct."""
    from scipy.io import savemat

    path = Path(path)
    payload = {}
    for name, res in results.items():
        struct = {}
        for var in list(res.data_vars) + list(res.coords):
            values = res[var].values
            key = _matlab_name(var)
            struct[key] = (
                values.astype(str)
                if values.dtype == object
                else (values.astype(np.int8) if values.dtype == bool else values)
            )
        struct["attrs"] = {_matlab_name(k): str(v) for k, v in res.attrs.items()}
        payload[_matlab_name(name)] = struct
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            savemat(fh, payload, long_field_names=True, do_compression=True)
    return path


def _matlab_name(name: str) -> str:
    import re

    out = re.sub(r"[^0-9A-Za-z_]", "_", name)
    return out if out[:1].isalpha() else "v_" + out


def write_report(
    path: str | os.PathLike,
    ds: xr.Dataset,
    summary: xr.Dataset | None = None,
    dqdu: xr.Dataset | None = None,
) -> Path:
    """A short text report: file information, parameters, summary statistics or peaks, warnings."""
    path = Path(path)
    lines = ["batteryviz report", "=" * 60, "", "FILE INFORMATION"]
    for key in (
        "source_file",
        "reader",
        "cycler",
        "test_name",
        "cell_name",
        "start_time",
        "channel",
        "operator",
        "test_plan",
    ):
        if key in ds.attrs:
            lines.append(f"  {key}: {ds.attrs[key]}")
    lines.append(f"  records: {ds.sizes.get('record', 0)}")
    for title, res in (("CYCLE SUMMARY", summary), ("dQ/dU", dqdu)):
        if res is None:
            continue
        lines += ["", f"ANALYSIS PARAMETERS ({title})"]
        for k, v in json.loads(res.attrs.get("parameters", "{}")).items():
            lines.append(f"  {k}: {v}")
        for k in (
            "capacity_source",
            "ce_definition",
            "cycle_rule",
            "method",
            "sign_convention",
            "nominal_capacity",
        ):
            if k in res.attrs:
                lines.append(f"  {k}: {res.attrs[k]}")
    if summary is not None:
        lines += ["", "SUMMARY STATISTICS"]
        for k, v in summary_statistics(summary).items():
            lines.append(f"  {k}: {v:.6g}" if isinstance(v, float) else f"  {k}: {v}")
    if dqdu is not None:
        peaks = peak_table(dqdu)
        lines += ["", f"dQ/dU PEAKS ({len(peaks)})"]
        for row in peaks.itertuples(index=False):
            lines.append(
                f"  cycle {row.cycle} {row.direction}: {row.voltage_v:.4f} V, intensity "
                f"{row.intensity:.4g}, track {row.track}"
            )
    warnings = [
        w
        for res in (ds, summary, dqdu)
        if res is not None
        for w in res.attrs.get("quality_warnings", "").split("\n")
        if w
    ]
    lines += ["", "WARNINGS"] + ([f"  - {w}" for w in dict.fromkeys(warnings)] or ["  none"])
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- any result, for the dashboards' downloads ---------------------------------------------------


def result_table(name: str, result: xr.Dataset):
    """The main table of any analysis result: the cycle table of a summary, the long dQ/dU
    curves, otherwise every variable on the result's first dimension."""
    if name == "summary":
        return summary_table(result)
    if name == "dqdu":
        return dqdu_long(result)
    dim = next(iter(result.dims), None)
    if dim is None:
        import pandas as pd

        return pd.DataFrame([{k: v for k, v in result.attrs.items()}])
    keep = [v for v in result.data_vars if result[v].dims == (dim,)]
    if keep:
        return result[keep].to_dataframe().reset_index()
    return _long_table(result, dim)


def _long_table(result: xr.Dataset, dim: str):
    """Two-dimensional variables (``dim`` × a grid, e.g. dV/dQ curves) as one long table:
    ``dim``, ``variable``, ``x`` (the grid coordinate, named in ``x_name``), ``value``; NaN
    (outside a curve's range) left out."""
    import pandas as pd

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


#: Download formats of the dashboards: key -> (label, file suffix).
DOWNLOADS = {
    "csv": ("CSV", ".csv"),
    "xlsx": ("Excel", ".xlsx"),
    "origin": ("Origin text", ".origin.txt"),
    "mat": ("MATLAB", ".mat"),
    "nc": ("netCDF", ".nc"),
    "report": ("Report", ".report.txt"),
}


def export_bytes(
    kind: str, name: str, results: dict[str, xr.Dataset], ds: xr.Dataset | None = None
) -> bytes:
    """The file a user downloads for result ``name`` (``results`` holds every result of the cell,
    so workbooks, MATLAB files and reports carry all of them)."""
    result = results[name]
    with tempfile.TemporaryDirectory(prefix="batteryviz-export-") as tmp:
        path = Path(tmp) / f"{name}{DOWNLOADS[kind][1]}"
        if kind == "csv":
            result_table(name, result).to_csv(path, index=False)
        elif kind == "xlsx":
            extra = {k: v for k, v in results.items() if k not in ("summary", "dqdu")}
            write_excel(path, results.get("summary"), results.get("dqdu"), extra=extra)
        elif kind == "origin":
            if name == "summary":
                origin_summary(result, path)
            else:
                write_origin(result_table(name, result), path)
        elif kind == "mat":
            write_matlab(path, **results)
        elif kind == "nc":
            path.write_bytes(netcdf_bytes(result))
        elif kind == "report":
            if ds is None:
                raise ValueError("a report needs the cell dataset")
            write_report(path, ds, results.get("summary"), results.get("dqdu"))
        else:
            raise ValueError(f"unknown download {kind!r}; known: {', '.join(DOWNLOADS)}")
        return path.read_bytes()
