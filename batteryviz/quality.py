"""Data-quality checks. They never change data; they return sentences a user can act on.

Record-level checks run when a file is read (their sentences go to
``ds.attrs["quality_warnings"]``, one per line); cycle-level checks run in the cycle summary.
The counts are computed in one multi-threaded polars pass; positions only when something is
found.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import xarray as xr

log = logging.getLogger("batteryviz")

VOLTAGE_RANGE_V = (0.0, 10.0)


def record_checks(ds: xr.Dataset) -> list[str]:
    """NaNs, voltage outside 0–10 V, time going backwards, duplicated rows."""
    t = np.asarray(ds["test_time_second"].values, dtype=float)
    u = np.asarray(ds["voltage_volt"].values, dtype=float)
    i = np.asarray(ds["current_ampere"].values, dtype=float)
    lo, hi = VOLTAGE_RANGE_V
    frame = pl.DataFrame({"t": t, "u": u, "i": i}, nan_to_null=False)
    flags = {
        "nan_t": pl.col("t").is_nan(),
        "nan_u": pl.col("u").is_nan(),
        "nan_i": pl.col("i").is_nan(),
        "volt": ((pl.col("u") < lo) | (pl.col("u") > hi)) & ~pl.col("u").is_nan(),  # NaN sorts above all in polars
        "back": pl.col("t").diff() < 0,
        "dup": (pl.col("t").diff() == 0) & (pl.col("u").diff() == 0) & (pl.col("i").diff() == 0),
    }
    counts = frame.select(**{k: v.fill_null(False).sum() for k, v in flags.items()}).row(0, named=True)
    out: list[str] = []

    def first(key: str) -> int:
        return int(frame.select(flags[key].fill_null(False).arg_max()).item())

    for key, name in (("nan_t", "test_time_second"), ("nan_u", "voltage_volt"), ("nan_i", "current_ampere")):
        if counts[key]:
            out.append(f"{name}: {counts[key]} NaN value(s), first at record {first(key)}; they are skipped in integrals")
    if counts["volt"]:
        k = first("volt")
        out.append(
            f"voltage_volt: {counts['volt']} value(s) outside {lo:g}–{hi:g} V (first {u[k]:g} V at "
            f"record {k}); check the voltage column and its unit"
        )
    if counts["back"]:
        k = first("back")
        out.append(
            f"test_time_second: time goes backwards {counts['back']} time(s) (first at record "
            f"{k}: {t[k - 1]:g} s → {t[k]:g} s); record order kept"
        )
    if counts["dup"]:
        out.append(
            f"{counts['dup']} duplicated record(s) (same time, voltage and current as the "
            f"previous one, first at record {first('dup')}); they add nothing to integrals"
        )
    if i.size >= 10 and not counts["nan_i"] == i.size and np.nanmax(np.abs(i)) == 0 and np.nanmax(u) - np.nanmin(u) > 0.05:
        out.append(
            f"{NO_CURRENT}: the voltage moves ({np.nanmin(u):g}–{np.nanmax(u):g} V) but the current is 0 in every "
            "record, so no capacity can be computed (values rounded to 0 by the export, or a current column in "
            "another unit?); check the current column"
        )
    for line in out:
        log.info("%s: %s", ds.attrs.get("source_file", "dataset"), line)
    return out


#: How the warning starts that a cycling file's current is zero throughout.
NO_CURRENT = "current_ampere: zero throughout"


def warnings_of(ds: xr.Dataset) -> list[str]:
    """The quality warnings recorded on a dataset or result, as a list."""
    text = ds.attrs.get("quality_warnings", "")
    return [line for line in text.split("\n") if line]
