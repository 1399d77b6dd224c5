"""Data-quality checks. They never change data; they return sentences a user can act on.

Record-level checks run when a file is read (their sentences go to
``ds.attrs["quality_warnings"]``, one per line); cycle-level checks run in the cycle summary.
"""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

log = logging.getLogger("batteryviz")

VOLTAGE_RANGE_V = (0.0, 10.0)


def record_checks(ds: xr.Dataset) -> list[str]:
    """NaNs, voltage outside 0–10 V, time going backwards, duplicated rows."""
    out: list[str] = []
    t = np.asarray(ds["test_time_second"].values, dtype=float)
    u = np.asarray(ds["voltage_volt"].values, dtype=float)
    i = np.asarray(ds["current_ampere"].values, dtype=float)
    for name, arr in (("test_time_second", t), ("voltage_volt", u), ("current_ampere", i)):
        n = int(np.isnan(arr).sum())
        if n:
            first = int(np.flatnonzero(np.isnan(arr))[0])
            out.append(f"{name}: {n} NaN value(s), first at record {first}; they are skipped in integrals")
    lo, hi = VOLTAGE_RANGE_V
    bad = (u < lo) | (u > hi)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        out.append(
            f"voltage_volt: {int(bad.sum())} value(s) outside {lo:g}–{hi:g} V (first {u[first]:g} V at "
            f"record {first}); check the voltage column and its unit"
        )
    if t.size > 1:
        dt = np.diff(t)
        back = np.flatnonzero(dt < 0)
        if back.size:
            out.append(
                f"test_time_second: time goes backwards {back.size} time(s) (first at record "
                f"{int(back[0]) + 1}: {t[back[0]]:g} s → {t[back[0] + 1]:g} s); record order kept"
            )
        dup = (dt == 0) & (np.diff(u) == 0) & (np.diff(i) == 0)
        if dup.any():
            out.append(
                f"{int(dup.sum())} duplicated record(s) (same time, voltage and current as the "
                f"previous one, first at record {int(np.flatnonzero(dup)[0]) + 1}); they add nothing to integrals"
            )
    for line in out:
        log.info("%s: %s", ds.attrs.get("source_file", "dataset"), line)
    return out


def warnings_of(ds: xr.Dataset) -> list[str]:
    """The quality warnings recorded on a dataset or result, as a list."""
    text = ds.attrs.get("quality_warnings", "")
    return [line for line in text.split("\n") if line]
