"""Writing results and cell datasets: CSV, Excel, netCDF, zarr, BDF.

Every writer goes through a temporary file in the target folder and an atomic rename, so an
interrupted write never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

# the analyses' own tables, re-exported here for code written before they moved
from .analysis.dqdu import dqdu_long, peak_table  # noqa: F401
from .analysis.registry import analysis_for
from .analysis.summary import summary_statistics, summary_table  # noqa: F401
from .analysis.tables import long_table as _long_table  # noqa: F401
from .atomic import atomic_path  # noqa: F401 - one place for every atomic write


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
    # netCDF does not keep the order of the variables (text ones moved ahead): kept here so
    # that a stored result gives the same table columns in the same order (:func:`restored`)
    out.attrs[VARIABLE_ORDER] = "\t".join(map(str, ds.data_vars))
    return out


#: The attribute :func:`storable` keeps the order of the data variables in.
VARIABLE_ORDER = "batteryviz_variable_order"


def restored(ds: xr.Dataset) -> xr.Dataset:
    """A dataset read back from what :func:`storable` wrote: its variables in their order."""
    order = [v for v in str(ds.attrs.get(VARIABLE_ORDER, "")).split("\t") if v in ds.data_vars]
    attrs = {k: v for k, v in ds.attrs.items() if k != VARIABLE_ORDER}
    if order:
        rest = [v for v in ds.data_vars if v not in order]
        # rebuilt, not selected: a selection drops coordinates no kept variable uses
        ds = xr.Dataset({v: ds[v] for v in order + rest}, coords=ds.coords)
    ds.attrs = attrs
    return ds


def netcdf_bytes(ds: xr.Dataset) -> bytes:
    """``ds`` as netCDF bytes: netCDF3 (scipy, milliseconds) when it can hold the result,
    netCDF4 (h5netcdf) otherwise. Results are small; serialising in memory lets callers write
    them in one go to any filesystem."""
    ds = storable(ds)
    try:
        return bytes(ds.to_netcdf(engine="scipy"))
    except (ValueError, TypeError):
        return bytes(ds.to_netcdf(engine="h5netcdf"))


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


# -- publication exports ------------------------------------------------------------------


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
    """Workbook with each result's sheets as its analysis declares them
    (:meth:`~batteryviz.analysis.base.Analysis.sheets`: a summary gives "Summary" and "Cycle
    Data", dQ/dU "dQdU Data" and "Peak Data", any other result its table) and "Parameters".
    ``extra`` maps more result names to results."""
    import pandas as pd

    path = Path(path)
    results = {
        k: v
        for k, v in (("summary", summary), ("dqdu", dqdu), *((extra or {}).items()))
        if v is not None
    }
    tables = []  # (sheet name, table), all made and checked before the workbook is opened
    for name, res in results.items():
        if res.sizes:  # each result as its analysis declares (curves on their own grid)
            tables += analysis_for(res, name).sheets(res)
    tables.append(
        (
            "Parameters",
            pd.DataFrame(_parameters_rows(results), columns=["Analysis", "Parameter", "Value"]),
        )
    )
    seen: set[str] = set()  # Excel compares sheet names without case
    sheets = []
    for name, table in tables:
        base, k = name, 1
        while name.lower() in seen:  # two results of one analysis: "Cycle Data", "Cycle Data 2"
            k += 1
            name = f"{base[:28]} {k}"
        seen.add(name.lower())
        sheets += _sheet_parts(table, name)
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


def origin_table(result: xr.Dataset, path: str | os.PathLike, table=None) -> Path:
    """A result's main table as Origin text, the units and definitions of its variables in the
    header rows."""
    table = result_table(None, result) if table is None else table
    units = {n: result[n].attrs.get("units", "") for n in table.columns if n in result}
    comments = {n: result[n].attrs.get("definition", "") for n in table.columns if n in result}
    return write_origin(table, path, units, comments)


def origin_summary(summary: xr.Dataset, path: str | os.PathLike) -> Path:
    """The cycle table as Origin text, units and definitions in the header rows."""
    return origin_table(summary, path)


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


#: Rows of a result's further tables (e.g. the dQ/dU peaks) a report lists.
REPORT_ROWS = 200


def write_report(
    path: str | os.PathLike,
    ds: xr.Dataset,
    summary: xr.Dataset | None = None,
    dqdu: xr.Dataset | None = None,
    *,
    results: dict[str, xr.Dataset] | None = None,
) -> Path:
    """A short text report: file information, then per result (``summary``, ``dqdu`` and
    ``results``) its parameters and definitions, its key figures and its further tables (as its
    analysis declares them: the dQ/dU peaks …), then every warning."""
    path = Path(path)
    results = {
        k: v
        for k, v in (("summary", summary), ("dqdu", dqdu), *((results or {}).items()))
        if v is not None
    }
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
        if key == "reader" and ds.attrs.get("source_reader"):
            lines.append(f"  reader: {ds.attrs['source_reader']} (stored as {ds.attrs[key]})")
        elif key in ds.attrs:
            lines.append(f"  {key}: {ds.attrs[key]}")
    lines.append(f"  records: {ds.sizes.get('record', 0)}")
    for name, res in results.items():
        analysis = analysis_for(res, name)
        title = analysis.display_title()
        lines += ["", f"ANALYSIS PARAMETERS ({title.upper()})"]
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
        figures = analysis.key_figures(res)
        if figures:
            lines += ["", f"KEY FIGURES ({title.upper()})"]
            for f in figures:
                lines.append(f"  {f.name}: {f'{f.value:.6g}' if f.defined else 'not defined'}")
                if f.implausible():  # flagged as on the dashboard's tiles
                    lines.append(f"    ! {f.implausible()}")
        for table_name, table in list(analysis.tables(res).items())[1:]:
            lines += ["", f"{table_name.upper()} ({title}, {len(table)})"]
            for row in table.head(REPORT_ROWS).itertuples(index=False):
                lines.append(
                    "  "
                    + ", ".join(
                        f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in zip(table.columns, row)
                    )
                )
            if len(table) > REPORT_ROWS:
                lines.append(f"  … {len(table) - REPORT_ROWS} more rows (in the CSV download)")
    warnings = [
        w
        for res in (ds, *results.values())
        for w in res.attrs.get("quality_warnings", "").split("\n")
        if w
    ]
    lines += ["", "WARNINGS"] + ([f"  - {w}" for w in dict.fromkeys(warnings)] or ["  none"])
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- any result, for the dashboards' downloads ---------------------------------------------------


def result_table(name: str | None, result: xr.Dataset):
    """The main table of any analysis result, as the analysis declares it
    (:meth:`~batteryviz.analysis.base.Analysis.tables`: the cycle table of a summary, the long
    dQ/dU curves, otherwise every variable on the result's first dimension). ``name`` is the
    registry key, used only when the result does not name its analysis."""
    return next(iter(analysis_for(result, name).tables(result).values()))


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
            write_excel(path, extra=results)
        elif kind == "origin":
            origin_table(result, path, result_table(name, result))
        elif kind == "mat":
            write_matlab(path, **results)
        elif kind == "nc":
            path.write_bytes(netcdf_bytes(result))
        elif kind == "report":
            if ds is None:
                raise ValueError("a report needs the cell dataset")
            write_report(path, ds, results=results)
        else:
            raise ValueError(f"unknown download {kind!r}; known: {', '.join(DOWNLOADS)}")
        return path.read_bytes()
