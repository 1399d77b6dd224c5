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
        "volt": ((pl.col("u") < lo) | (pl.col("u") > hi))
        & ~pl.col("u").is_nan(),  # NaN sorts above all in polars
        "back": pl.col("t").diff() < 0,
        "dup": (pl.col("t").diff() == 0) & (pl.col("u").diff() == 0) & (pl.col("i").diff() == 0),
    }
    counts = frame.select(**{k: v.fill_null(False).sum() for k, v in flags.items()}).row(
        0, named=True
    )
    out: list[str] = []

    def first(key: str) -> int:
        return int(frame.select(flags[key].fill_null(False).arg_max()).item())

    for key, name in (
        ("nan_t", "test_time_second"),
        ("nan_u", "voltage_volt"),
        ("nan_i", "current_ampere"),
    ):
        if counts[key]:
            out.append(
                f"{name}: {counts[key]} NaN value(s), first at record {first(key)}; they are "
                f"skipped in integrals"
            )
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
    if (
        i.size >= 10
        and not counts["nan_i"] == i.size
        and np.nanmax(np.abs(i)) == 0
        and np.nanmax(u) - np.nanmin(u) > 0.05
    ):
        out.append(
            f"{NO_CURRENT}: the voltage moves ({np.nanmin(u):g}–{np.nanmax(u):g} V) but the "
            f"current is 0 in every "
            "record, so no capacity can be computed (values rounded to 0 by the export, or a "
            "current column in "
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


# --- the plausibility gate ------------------------------------------------------------------
#: A file whose time column goes backwards in more than this share of its records (and at
#: least :data:`MIN_REVERSALS` times) is not read as a clock: a misread column, not glitches.
TIME_REVERSAL_SHARE = 0.02
MIN_REVERSALS = 20
#: A median voltage magnitude above this is not a cell's, module's or pack's voltage read in
#: volts (a cell's mV read as V gives thousands; a pack stays below).
MAX_MEDIAN_VOLTAGE_V = 1000.0
#: The share of frequency steps at which a frequency column may turn between up and down
#: (see :func:`sweep_reversals`; new sweeps restarting are not turns).
FREQUENCY_REVERSAL_SHARE = 0.2
#: Counters that must hold whole numbers ≥ 0 where they hold anything.
INTEGER_COUNTERS = ("cycle_count", "step_index", "test_number")


def implausible(ds: xr.Dataset) -> list[str]:
    """What cannot hold for real cycler or potentiostat data, each as a sentence with its evidence.

    An empty list means the dataset passed. The checks are meant to catch a misread (a column
    mapped to the wrong quantity, a unit off by 1000, header names shifted against the values)
    rather than an instrument's glitch, which :func:`record_checks` reports as a warning:

    * ``test_time_second`` is finite somewhere, and goes backwards in at most
      :data:`TIME_REVERSAL_SHARE` of the records (or fewer than :data:`MIN_REVERSALS` times);
      files joined from several tests have a time that continues across them;
    * the median of ``|voltage_volt|`` is at most :data:`MAX_MEDIAN_VOLTAGE_V`;
    * ``frequency_hertz`` is never negative or infinite (0 and NaN mark records without an
      impedance measurement, as EC-Lab writes them), and its positive values step against the
      sweep direction in at most :data:`FREQUENCY_REVERSAL_SHARE` of their steps.

    Counters that do not count are not a reason to refuse a file: see :func:`demote_counters`.
    """
    out: list[str] = []
    if not ds.sizes.get("record", 0):
        return out
    for name in ("test_time_second", "voltage_volt", "frequency_hertz"):
        if name in ds and ds[name].dtype.kind not in "iuf":
            out.append(f"{name}: holds {ds[name].dtype} values, not numbers")
            return out
    if "test_time_second" in ds:
        t = np.asarray(ds["test_time_second"].values, dtype=float)
        if not np.isfinite(t).any():
            out.append(
                "test_time_second: no finite value in any record (the time column is empty or not "
                "numbers)"
            )
        else:
            finite = t[np.isfinite(t)]
            back = int(np.count_nonzero(np.diff(finite) < 0))
            if back >= MIN_REVERSALS and back > TIME_REVERSAL_SHARE * finite.size:
                out.append(
                    f"test_time_second: goes backwards {back:,} times in {finite.size:,} records "
                    f"({back / finite.size:.0%}); a clock does this at most now and then, so the "
                    f"column read as "
                    "time is probably another quantity (step time? a counter?)"
                )
    if "voltage_volt" in ds:
        u = np.abs(np.asarray(ds["voltage_volt"].values, dtype=float))
        if np.isfinite(u).any():
            med = float(np.nanmedian(u))
            if med > MAX_MEDIAN_VOLTAGE_V:
                out.append(
                    f"voltage_volt: median |voltage| is {med:g} V, more than "
                    f"{MAX_MEDIAN_VOLTAGE_V:g} V; "
                    "a cell voltage in mV read as V, or another column read as voltage"
                )
    if "frequency_hertz" in ds:
        f = np.asarray(ds["frequency_hertz"].values, dtype=float)
        bad = (f < 0) | np.isinf(f)
        if bad.any():
            k = int(np.argmax(bad))
            out.append(
                f"frequency_hertz: {int(bad.sum()):,} record(s) with a negative or infinite "
                f"frequency "
                f"(first {f[k]:g} Hz at record {k}); an impedance spectrum has positive "
                f"frequencies only"
            )
        else:
            turns, total = sweep_reversals(f)
            if total >= 10 and turns > FREQUENCY_REVERSAL_SHARE * total:
                out.append(
                    f"frequency_hertz: it turns between up and down {turns} times in {total} "
                    f"steps ({turns / total:.0%}); a sweep's frequency goes one way, so the "
                    "column read as frequency is probably another quantity"
                )
    return out


def sweep_reversals(f: np.ndarray) -> tuple[int, int]:
    """``(turns, steps)`` of a frequency column: how often consecutive steps change direction,
    and how many steps there are. Sweeps are the runs of positive frequencies between records
    without one (0 or NaN: DC records); a jump back across most of a run's range is a new
    sweep starting, not a turn; a sweep down then up turns once. A frequency column holding
    another quantity turns at every other step."""
    turns = total = 0
    positive = np.isfinite(f) & (f > 0)
    edges = np.flatnonzero(np.diff(np.r_[0, positive.astype(np.int8), 0]))
    for start, stop in zip(edges[::2], edges[1::2]):
        logf = np.log(f[start:stop])
        steps = np.diff(logf)
        steps = steps[steps != 0]
        if steps.size < 2:
            continue
        span = np.ptp(logf) or 1.0
        sweeping = steps[np.abs(steps) <= 0.5 * span]  # restarts left out
        signs = np.sign(sweeping)
        turns += int(np.count_nonzero(signs[1:] != signs[:-1]))
        total += int(steps.size)
    return turns, total


#: What takes over when a counter is set aside.
INSTEAD = {
    "cycle_count": "cycles are found from the current",
    "step_index": "steps are found from the current",
    "test_number": "the records are read as one test",
}


def demote_counters(ds: xr.Dataset) -> list[str]:
    """Counters (:data:`INTEGER_COUNTERS`) holding values that are not whole numbers ≥ 0
    (negative, fractional, infinite) are not counters: each is renamed ``<name>_as_written``
    (kept, with no meaning given to it) and not used. Changes ``ds`` in place; returns a
    warning per demoted column."""
    out: list[str] = []
    for name in INTEGER_COUNTERS:
        if name not in ds or ds[name].dtype.kind not in "iuf":
            continue
        v = np.asarray(ds[name].values, dtype=float)
        v = v[~np.isnan(v)]
        wrong = (v < 0) | ~np.isfinite(v) | (v != np.round(v))
        if wrong.any():
            first = v[int(np.argmax(wrong))]
            ds[f"{name}_as_written"] = ds[name].assign_attrs(
                role="", note=f"not a count: {first:g}"
            )
            del ds[name]
            out.append(
                f"{name}: {int(wrong.sum()):,} value(s) that are not whole numbers ≥ 0 (first "
                f"{first:g}), so the column is not a counter; kept as {name}_as_written and not "
                f"used ({INSTEAD[name]})"
            )
    return out


def gate(ds: xr.Dataset, *, path, strict: bool = True) -> xr.Dataset:
    """The plausibility gate every read passes: demote counters that do not count, then refuse
    the dataset if :func:`implausible` finds anything (``strict=True``), or keep it with each
    finding as a quality warning starting "IMPLAUSIBLE" (``strict=False``)."""
    from .errors import ImplausibleDataError

    notes = demote_counters(ds)
    found = implausible(ds)
    if found and strict:
        raise ImplausibleDataError(
            "refused: this does not look like real measurement data, so it was probably misread — "
            + "; ".join(found)
            + ".",
            path=path,
            hint="If the file really holds this, read it with strict=False (batteryviz info "
            "--no-strict) and check the warnings; otherwise give the column mapping with "
            "format='generic', columns={...}.",
        )
    notes += [f"IMPLAUSIBLE {line}" for line in found]
    if notes:
        old = ds.attrs.get("quality_warnings", "")
        ds.attrs["quality_warnings"] = "\n".join([w for w in [old] if w] + notes)
    return ds
