"""Per-cycle summary: capacities, efficiency, energies, voltages, durations, C-rates, resistance.

Definitions (also written into every result's attrs)
----------------------------------------------------
Sign convention
    Current > 0 charges the cell. Capacities and energies are reported as positive magnitudes.
Integration
    Each interval between two consecutive records belongs to the later record: the trapezoid
    ``(I[k-1] + I[k]) / 2 * (t[k] - t[k-1])`` counts toward the step type of record ``k``.
    The first record of a step therefore brings the interval from the switching instant (the
    previous record) to itself, and a half cycle's duration runs from the last record before
    it to its own last record.
Capacity source
    ``"auto"`` uses the cycler's own capacity counters (declared by the reader, e.g. BaSyTec
    ``Ah-Cyc-Charge-0``) when they agree with the integral of the current within
    ``counter_tolerance`` on every cycle; otherwise the integral. Counter increments are summed
    over the cycle; a drop of the counter to less than half its previous value is a reset.
Coulombic efficiency
    ``100 * (second half cycle) / (first half cycle)`` of the same cycle: discharge/charge when
    cycles start with a charge (cathodes, full cells), charge/discharge when they start with a
    discharge (anode half cells: delithiation / lithiation). Set by ``ce_convention``.
Mean voltage
    Energy / capacity of the half cycle (both integrated).
C-rate
    Mean ``|I|`` over the records of the half cycle with ``|I| >= 0.9 max|I|`` (the constant-
    current part), divided by the nominal capacity; without one, by the reference cycle's
    discharge capacity (said in attrs).
DC resistance
    ``ΔU / ΔI`` across the current step that opens a half cycle: the first record with
    ``|I| >= 0.5 max|I|`` and the record before it, if that one is at rest (``|I|`` below 10 %
    of the step) and at most ``resistance_max_interval_s`` earlier.
Retention
    Discharge (and charge) capacity relative to the reference cycle, in percent.
Equivalent full cycles
    Cumulative ``(Q_charge + Q_discharge) / 2`` divided by the nominal (or reference) capacity.
"""

from __future__ import annotations

import numpy as np
import param
import xarray as xr

from .. import schema
from ..chunking import is_lazy
from ..cycles import DISCHARGE, assign_cycles, format_cycles
from ..schema import CYCLE_DIM
from . import parameters
from .base import Analysis, Comparable, KeyFigure
from .kernels import output_keys
from .kernels import per_cycle as per_cycle_kernel


def _kernel(arrays: dict, pos: np.ndarray, m: int, resistance_max_interval_s: float) -> dict:
    """The per-cycle aggregation of one block of records (numpy in, numpy out)."""
    # float views, not copies, of what already is float64
    arrays = {
        k: (np.asarray(v) if k == "st" else np.asarray(v, dtype=float)) for k, v in arrays.items()
    }
    counters = {k: arrays[k] for k in arrays if k.startswith("c")}
    agg = per_cycle_kernel(
        arrays["t"],
        arrays["u"],
        arrays["i"],
        arrays["st"],
        pos,
        m,
        temperature=arrays.get("temp"),
        counters=counters,
        resistance_max_interval_s=resistance_max_interval_s,
    )
    return {k: np.asarray(v, dtype=float) for k, v in agg.items()}


def input_names(temp_name: str | None, counter_pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The kernel's inputs: its short keys and the dataset variables they come from."""
    names = {
        "t": "test_time_second",
        "u": "voltage_volt",
        "i": "current_ampere",
        "st": "step_type_resolved",
    }
    if temp_name:
        names["temp"] = temp_name
    for k, (name_ch, name_dis) in enumerate(counter_pairs):
        names[f"c{k}_ch"], names[f"c{k}_dis"] = name_ch, name_dis
    return names


def aggregate(
    ds: xr.Dataset, names: dict[str, str], starts: np.ndarray, resistance_max_interval_s: float
) -> dict:
    """The per-cycle aggregation of a dataset in memory (cycles start at ``starts``)."""
    arrays = {k: np.asarray(ds[v].values) for k, v in names.items()}
    # cycles are contiguous runs starting at `starts`: a record's cycle position is the
    # number of starts at or before it, minus one
    marks = np.zeros(arrays["t"].size, dtype=np.int32)
    marks[starts] = 1
    pos = np.cumsum(marks, dtype=np.int32) - 1
    return _kernel(arrays, pos, len(starts), resistance_max_interval_s)


def require_cycles(summary: xr.Dataset, what: str) -> None:
    """Raise a :class:`~batteryviz.errors.BatteryvizError` naming the file when a cycle summary
    holds no cycle (a file of rest or open-circuit only): ``what`` needs them."""
    if summary.sizes.get(CYCLE_DIM, 0) == 0:
        from ..errors import BatteryvizError

        raise BatteryvizError(
            f"{what} needs charge/discharge cycles, and this file has none (rest or "
            "open-circuit records only)",
            path=summary.attrs.get("source_file") or None,
        )


#: The sign convention a summary states in its attrs.
SIGN_CONVENTION = "current > 0 charges the cell; capacities and energies are positive magnitudes"


#: The cached per-cycle aggregates a converted file carries (:func:`cycle_aggregates`).
AGGREGATES = schema.CYCLE_AGGREGATES


def with_cycle_aggregates(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its cycle structure and :func:`cycle_aggregates` (computed when missing), as
    a converted ``.bdf.parquet`` file stores them so re-opening it and summarising skips the pass
    over the records. A dataset without time and current is returned unchanged."""
    if not all(v in ds for v in ("current_ampere", "test_time_second")):
        return ds
    if "cycle_start" not in ds:
        ds = assign_cycles(ds)
    return ds if AGGREGATES in ds else ds.assign({AGGREGATES: cycle_aggregates(ds)})


def cycle_aggregates(ds: xr.Dataset, resistance_max_interval_s: float = 1.0) -> xr.DataArray:
    """The per-cycle sums and extremes :class:`CycleSummary` is computed from, for every counter
    pair and the temperature, on ``(cycle, aggregate)``.

    Written with a converted file (``.bdf.parquet``) so re-opening it and summarising skips the
    pass over the records. The attrs record what they were computed from (variable names, the
    resistance interval, the number of records); :func:`cached_aggregates` uses them only when
    all of that matches. Anything that changes the cycle structure drops them with the ``cycle``
    dimension; ``ds.drop_vars("cycle_aggregates")`` forces a recomputation.
    """
    import json

    temp_name = next(
        (v for v in ("ambient_temperature_celsius", "surface_temperature_celsius") if v in ds), None
    )
    pairs = list(
        zip(schema.counters(ds, "charge_capacity"), schema.counters(ds, "discharge_capacity"))
    )
    names = input_names(temp_name, pairs)
    agg = aggregate(
        ds, names, np.asarray(ds["cycle_start"].values, dtype=np.int64), resistance_max_interval_s
    )
    keys = output_keys(list(names))
    return xr.DataArray(
        np.column_stack([np.asarray(agg[k], dtype=float) for k in keys]) if keys else None,
        dims=(CYCLE_DIM, "aggregate"),
        coords={"aggregate": keys},
        attrs={
            "inputs": json.dumps(names, sort_keys=True),
            "resistance_max_interval_s": resistance_max_interval_s,
            "records": int(ds.sizes["record"]),
            "long_name": "Per-cycle aggregates of the cycle summary (cached with a converted file)",
        },
    )


def cached_aggregates(
    ds: xr.Dataset, names: dict[str, str], resistance_max_interval_s: float
) -> dict | None:
    """The aggregates for ``names`` from ``ds["cycle_aggregates"]`` when they were computed from
    the same variables, resistance interval and number of records; else ``None``."""
    import json

    cache = ds.get(AGGREGATES)
    if cache is None or hasattr(cache.data, "dask"):
        return None
    try:
        inputs = json.loads(cache.attrs.get("inputs", "{}"))
    except ValueError:
        return None
    if (
        any(inputs.get(k) != v for k, v in names.items())
        or cache.attrs.get("records") != ds.sizes.get("record")
        or float(cache.attrs.get("resistance_max_interval_s", np.nan))
        != float(resistance_max_interval_s)
    ):
        return None
    keys = list(cache["aggregate"].values)
    wanted = output_keys(list(names))
    if any(k not in keys for k in wanted):
        return None
    values = cache.values
    return {k: values[:, keys.index(k)] for k in wanted}


def _div(a, b):
    """a / b with NaN where b is 0 or not finite (no warnings, numpy or Dask alike)."""
    return a / np.where((b != 0) & np.isfinite(b), b, np.nan)


def summary_table(summary: xr.Dataset):
    """The summary as a pandas table with a ``cycle`` column (the CLI's CSV)."""
    df = summary.to_dataframe().reset_index()
    return df


def summary_statistics(summary: xr.Dataset) -> dict:
    """The predecessor's summary block: cycles, averages, CE spread, retention, fade, window,
    duration. ``fade_percent_per_cycle`` is the retention lost from the reference cycle to the
    last complete cycle, per cycle between them (by cycle numbers)."""
    if "discharge_capacity_ah" not in summary or not summary.sizes.get(CYCLE_DIM, 0):
        # no cycles (a rest-only or OCV file): counted, everything else not defined
        return {"total_cycles": 0, "complete_cycles": 0, "total_duration_h": np.nan}
    q = summary["discharge_capacity_ah"].values
    complete = summary["complete"].values.astype(bool) if "complete" in summary else np.isfinite(q)
    ce = summary["coulombic_efficiency_percent"].values[complete]
    ret = summary["retention_percent"].values
    n = int(summary.sizes["cycle"])
    # retention lost per cycle from the reference cycle (100 %) to the last complete cycle: by
    # cycle numbers, so a summary of a few selected cycles gives the same rate
    reference = summary.attrs.get("reference_cycle")
    last = summary[CYCLE_DIM].values[complete][-1] if complete.any() else None
    span = float(last) - float(reference) if last is not None and reference is not None else 0.0
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
        "fade_percent_per_cycle": float((100 - ret[complete][-1]) / span) if span > 0 else np.nan,
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


#: The key figures of a cycle summary: statistic, label, format, plausible range, shown as a tile.
KEY_FIGURES = [
    ("total_cycles", "Cycles", "{value:.0f}", None, True),
    ("complete_cycles", "Complete cycles", "{value:.0f}", None, False),
    ("mean_discharge_capacity_ah", "Mean discharge (Ah)", "{value:.4g}", (0.0, np.inf), True),
    ("mean_charge_capacity_ah", "Mean charge (Ah)", "{value:.4g}", None, False),
    ("mean_specific_discharge_capacity_mah_g", "Mean discharge (mAh/g)", "{value:.1f}", None, True),
    ("mean_coulombic_efficiency_percent", "Mean CE (%)", "{value:.2f}", (50.0, 110.0), True),
    ("std_coulombic_efficiency_percent", "CE σ (%)", "{value:.3f}", None, True),
    ("final_retention_percent", "Final retention (%)", "{value:.1f}", (0.0, 150.0), True),
    ("fade_percent_per_cycle", "Fade (%/cycle)", "{value:.3f}", None, True),
    ("mean_voltage_window_v", "Mean voltage window (V)", "{value:.3f}", None, False),
    ("total_duration_h", "Duration (h)", "{value:.1f}", None, True),
]


class CycleSummary(Analysis):
    """One row per cycle: the numbers a battery scientist looks at first.

    See the module docstring for every definition; they are also written to the result's
    attrs (``definition`` on each variable, ``capacity_source``, ``ce_definition``...).

    Examples
    --------
    >>> summary = CycleSummary(active_mass_mg=2.1).compute(ds)   # doctest: +SKIP
    >>> summary.to_dataframe()                                    # doctest: +SKIP
    """

    cycle_mode = parameters.cycle_mode()
    cycles = parameters.cycles("every cycle")
    active_mass_mg = param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        step=0.001,
        doc="Active material mass in mg, for specific capacity (mAh/g). Default: the file's "
        "metadata.",
    )
    electrode_area_cm2 = param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        doc="Electrode area in cm², for areal capacity (mAh/cm²).",
    )
    nominal_capacity_mah = parameters.nominal_capacity_mah("C-rates and equivalent full cycles")
    reference_cycle = param.Integer(
        default=None,
        allow_None=True,
        bounds=(0, None),
        doc="Cycle that retention is relative to. Default: the first complete cycle.",
    )
    ce_convention = param.Selector(
        label="CE convention",
        default="auto",
        objects=["auto", "discharge/charge", "charge/discharge"],
        doc="Coulombic efficiency direction. 'auto': second half cycle / first half cycle of each "
        "cycle (discharge/charge when cycles start with a charge).",
    )
    capacity_source = param.Selector(
        default="auto",
        objects=["auto", "counters", "integration"],
        doc="Where capacities come from: the cycler's counters, the integral of the current, or "
        "'auto' (counters when they agree with the integral).",
    )
    counter_tolerance = param.Number(
        default=0.02,
        bounds=(0, 1),
        doc="Largest relative disagreement between counters and the integral for 'auto' to use "
        "counters.",
    )
    rest_current_fraction = param.Number(
        default=0.002,
        bounds=(0, 0.5),
        doc="Without a cycler step column, |I| at or below this fraction of max |I| is rest.",
    )
    resistance_max_interval_s = param.Number(
        default=1.0,
        bounds=(0, None),
        doc="Largest time between the rest record and the first loaded record for a DC resistance "
        "(s).",
    )
    test_plan = param.String(
        default=None,
        allow_None=True,
        doc="A cycler test plan (path or text, BaSyTec style) giving nominal C-rates per step; "
        "adds "
        "charge_c_rate_nominal and discharge_c_rate_nominal.",
    )
    plausible_specific_capacity_mah_g = param.Range(
        default=(10.0, 1000.0),
        bounds=(0, None),
        doc="Specific discharge capacities outside this range (mAh/g) are flagged in the warnings.",
    )

    title = "Cycle summary"
    run_on_open = True
    batch_table = True
    comparables = (
        Comparable("discharge_capacity_ah", "Discharge capacity (Ah)"),
        Comparable("specific_discharge_capacity_mah_g", "Specific discharge capacity (mAh/g)"),
        Comparable("retention_percent", "Retention (%)"),
        Comparable("coulombic_efficiency_percent", "Coulombic efficiency (%)"),
        Comparable("mean_discharge_voltage_v", "Mean discharge voltage (V)"),
    )

    def key_figures(self, result: xr.Dataset) -> list[KeyFigure]:
        """:func:`summary_statistics` as key figures (:data:`KEY_FIGURES`)."""
        stats = summary_statistics(result)
        return [
            KeyFigure(name, label, float(stats[name]), fmt, plausible, shown)
            for name, label, fmt, plausible, shown in KEY_FIGURES
            if name in stats
        ]

    def tables(self, result: xr.Dataset) -> dict:
        """The cycle table (one row per cycle)."""
        return {"cycles": summary_table(result)}

    def sheets(self, result: xr.Dataset) -> list:
        """ "Summary" (the statistics) and "Cycle Data" (the cycle table)."""
        import pandas as pd

        stats = pd.DataFrame(
            list(summary_statistics(result).items()), columns=["Statistic", "Value"]
        )
        return [("Summary", stats), ("Cycle Data", summary_table(result))]

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Summarise ``ds`` per cycle; returns a dataset on the ``cycle`` dimension (the rows of
        ``cycles`` only, when given: retention stays relative to the reference cycle).
        """
        out = self._summarise(ds)
        if self.cycles is None:
            return out
        present = out[CYCLE_DIM].values
        keep = np.isin(present, self.cycles)
        if not keep.any():
            raise ValueError(
                f"none of the cycles {format_cycles(self.cycles)} is in the data"
                + (f" (it holds cycles {format_cycles(present)})" if present.size else "")
            )
        return out.isel({CYCLE_DIM: np.flatnonzero(keep)})

    def _summarise(self, ds: xr.Dataset) -> xr.Dataset:
        """Summarise ``ds`` per cycle; returns a dataset on the ``cycle`` dimension.

        On a Dask-backed dataset chunked on whole cycles
        (:func:`batteryviz.chunking.chunk_by_cycle`)
        the result is lazy: its variables are Dask arrays and nothing is computed until
        ``.compute()``. What needs the values (the counter/integral choice, the value-based
        warnings) is then decided at compute time and says so in the attrs.
        """
        self.check_inputs(ds)
        lazy = is_lazy(ds)
        if "cycle_index" not in ds or ds["cycle_index"].attrs.get("mode") != self._resolved_mode(
            ds
        ):
            if lazy:
                # the cycle structure is computed once (current and step types are read)
                from ..chunking import chunk_by_cycle

                ds = chunk_by_cycle(ds, cycle_mode=self.cycle_mode)
            else:
                ds = assign_cycles(
                    ds, self.cycle_mode, rest_current_fraction=self.rest_current_fraction
                )
        if lazy and self.test_plan:
            raise ValueError(
                "test_plan is not supported on a Dask-backed dataset yet; compute it in memory"
            )
        numbers = ds[CYCLE_DIM].values
        starts = ds["cycle_start"].values.astype(np.int64)
        lengths = ds["cycle_length"].values.astype(np.int64)
        if numbers.size == 0:
            empty = xr.Dataset(coords={CYCLE_DIM: (CYCLE_DIM, np.zeros(0, dtype=np.int64))})
            empty.attrs.update(self.provenance())
            empty.attrs.update(
                {
                    "source_file": ds.attrs.get("source_file", ""),
                    "cycle_rule": ds.attrs.get("cycle_rule", ""),
                    "cycle_mode": ds.attrs.get("cycle_mode", ""),
                    "capacity_source": "none: no cycles",
                    "ce_definition": "not defined: no cycles",
                    "sign_convention": SIGN_CONVENTION,
                }
            )
            empty.attrs["quality_warnings"] = "\n".join(
                [w for w in ds.attrs.get("quality_warnings", "").split("\n") if w]
                + [
                    "no cycles: the data hold no charge or discharge records (rest or open-circuit "
                    "only)"
                ]
            )
            return empty
        temp_name = next(
            (v for v in ("ambient_temperature_celsius", "surface_temperature_celsius") if v in ds),
            None,
        )
        counter_pairs = list(
            zip(schema.counters(ds, "charge_capacity"), schema.counters(ds, "discharge_capacity"))
        )
        if self.capacity_source == "integration":
            counter_pairs = []
        elif self.capacity_source == "counters" and not counter_pairs:
            raise ValueError(
                "capacity_source='counters' but the file declares no charge/discharge capacity "
                "counters"
            )
        names = input_names(temp_name, counter_pairs)
        agg = cached_aggregates(ds, names, self.resistance_max_interval_s)
        if agg is None:
            agg = (
                self._aggregate_lazy(ds, names, starts, lengths, numbers.size)
                if lazy
                else aggregate(ds, names, starts, self.resistance_max_interval_s)
            )
        return self._finish(ds, agg, numbers, starts, lengths, counter_pairs, temp_name, lazy)

    def _aggregate_lazy(self, ds, names, starts, lengths, m) -> dict:
        """The same aggregation, one delayed task per chunk of whole cycles."""
        import dask
        import dask.array as da

        chunks = ds[names["t"]].data.chunks[0]
        bounds = np.r_[0, np.cumsum(chunks)]
        n = int(bounds[-1])
        cycle_bounds = np.r_[starts, n]
        parts = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            first = int(np.searchsorted(starts, a))  # first cycle starting in this chunk
            last = int(np.searchsorted(starts, b))  # cycles [first, last) start here
            if last == first:
                continue
            if cycle_bounds[last] != b and b != n:
                raise ValueError(
                    "chunks must hold whole cycles: rechunk with batteryviz.chunking.chunk_by_cycle"
                )
            lo = max(int(a) - 1, 0)  # one record of overlap for the first interval
            pos = np.full(int(b) - lo, -1, dtype=np.int32)
            for j in range(first, last):
                pos[cycle_bounds[j] - lo : min(cycle_bounds[j + 1], b) - lo] = j - first
            arrays = {k: ds[v].data[lo:b] for k, v in names.items()}
            task = dask.delayed(_kernel)(arrays, pos, last - first, self.resistance_max_interval_s)
            parts.append((task, last - first))
        keys = output_keys(list(names))
        return {
            key: da.concatenate(
                [da.from_delayed(task[key], shape=(size,), dtype=float) for task, size in parts]
            )
            for key in keys
        }

    def _finish(
        self, ds, agg, numbers, starts, lengths, counter_pairs, temp_name, lazy
    ) -> xr.Dataset:
        warnings: list[str] = []
        q_ch_int, q_dis_int = agg["q_ch_int"], agg["q_dis_int"]
        e_ch, e_dis = agg["e_ch"], agg["e_dis"]
        dur_ch, dur_dis, duration = (
            agg["dur_ch"] / 3600.0,
            agg["dur_dis"] / 3600.0,
            agg["duration"] / 3600.0,
        )
        q_ch, q_dis, source, from_counters = self._capacities(
            ds, counter_pairs, agg, q_ch_int, q_dis_int, warnings, lazy
        )
        floor = 1e-3 * np.fmax(np.fmax(np.nanmax(q_ch), np.nanmax(q_dis)), 1e-12)
        complete = (q_ch > floor) & (q_dis > floor)
        first_dir = (
            ds["cycle_first_direction"].values
            if "cycle_first_direction" in ds
            else np.nan_to_num(np.asarray(agg["first_dir"], dtype=float)).astype(int)
        )
        structural = (
            (ds["cycle_has_charge"].values & ds["cycle_has_discharge"].values)
            if "cycle_has_charge" in ds
            else np.asarray(complete)
        )
        ce_def = self._ce_definition(first_dir, structural)
        first_q, second_q = (q_ch, q_dis) if ce_def == "discharge/charge" else (q_dis, q_ch)
        ce = np.where(complete, 100.0 * _div(second_q, first_q), np.nan)
        first_e, second_e = (e_ch, e_dis) if ce_def == "discharge/charge" else (e_dis, e_ch)
        energy_eff = np.where(complete, 100.0 * _div(second_e, first_e), np.nan)
        mean_v_ch = np.where(q_ch_int > floor, _div(e_ch, q_ch_int), np.nan)
        mean_v_dis = np.where(q_dis_int > floor, _div(e_dis, q_dis_int), np.nan)
        ref_pos = self._reference_position(numbers, structural, warnings)
        ref_cycle = int(numbers[ref_pos])
        retention = 100.0 * _div(q_dis, q_dis[ref_pos])
        charge_retention = 100.0 * _div(q_ch, q_ch[ref_pos])
        nominal_ah, nominal_note = self._nominal_ah(ds, q_dis[ref_pos], ref_cycle)
        i_ch, i_dis = agg["i_ch"], agg["i_dis"]
        efc = _div(np.cumsum(q_ch + q_dis) / 2.0, nominal_ah)
        c_rate_ch, c_rate_dis = _div(i_ch, nominal_ah), _div(i_dis, nominal_ah)
        out = {
            "charge_capacity_ah": (
                q_ch,
                "Ah",
                "Charge capacity",
                f"charge passed during charge records ({source})",
            ),
            "discharge_capacity_ah": (
                q_dis,
                "Ah",
                "Discharge capacity",
                f"charge removed during discharge records ({source})",
            ),
            "coulombic_efficiency_percent": (
                ce,
                "%",
                "Coulombic efficiency",
                f"100 * {ce_def} capacity of the same cycle; NaN for incomplete cycles",
            ),
            "charge_energy_wh": (
                e_ch,
                "Wh",
                "Charge energy",
                "trapezoid integral of U*I over charge records",
            ),
            "discharge_energy_wh": (
                e_dis,
                "Wh",
                "Discharge energy",
                "trapezoid integral of -U*I over discharge records",
            ),
            "energy_efficiency_percent": (
                energy_eff,
                "%",
                "Energy efficiency",
                f"100 * {ce_def} energy",
            ),
            "mean_charge_voltage_v": (
                mean_v_ch,
                "V",
                "Mean charge voltage",
                "charge energy / integrated charge capacity",
            ),
            "mean_discharge_voltage_v": (
                mean_v_dis,
                "V",
                "Mean discharge voltage",
                "discharge energy / integrated discharge capacity",
            ),
            "min_voltage_v": (
                agg["vmin"],
                "V",
                "Minimum voltage",
                "over all records of the cycle, rests included",
            ),
            "max_voltage_v": (
                agg["vmax"],
                "V",
                "Maximum voltage",
                "over all records of the cycle, rests included",
            ),
            "end_charge_voltage_v": (
                agg["u_end_ch"],
                "V",
                "Voltage at the end of charge",
                "last charge record",
            ),
            "end_discharge_voltage_v": (
                agg["u_end_dis"],
                "V",
                "Voltage at the end of discharge",
                "last discharge record",
            ),
            "charge_duration_h": (
                dur_ch,
                "h",
                "Charge duration",
                "sum of the intervals ending at charge records",
            ),
            "discharge_duration_h": (
                dur_dis,
                "h",
                "Discharge duration",
                "sum of the intervals ending at discharge records",
            ),
            "duration_h": (
                duration,
                "h",
                "Cycle duration",
                "from the last record before the cycle to its last record",
            ),
            "start_time_s": (
                agg["t_start"],
                "s",
                "Cycle start (test time)",
                "time of the record before the cycle's first",
            ),
            "charge_current_a": (
                i_ch,
                "A",
                "Charge current (constant-current part)",
                "mean |I| over records with |I| >= 0.9 max |I|",
            ),
            "discharge_current_a": (
                i_dis,
                "A",
                "Discharge current magnitude (constant-current part)",
                "mean |I| over records with |I| >= 0.9 max |I|",
            ),
            "charge_c_rate": (
                c_rate_ch,
                "1/h",
                "Charge C-rate",
                f"charge current / {nominal_note}",
            ),
            "discharge_c_rate": (
                c_rate_dis,
                "1/h",
                "Discharge C-rate",
                f"discharge current / {nominal_note}",
            ),
            "charge_dc_resistance_ohm": (
                agg["r_ch"],
                "ohm",
                "DC resistance at the start of charge",
                "ΔU/ΔI across the current step opening the charge",
            ),
            "discharge_dc_resistance_ohm": (
                agg["r_dis"],
                "ohm",
                "DC resistance at the start of discharge",
                "ΔU/ΔI across the current step opening the discharge",
            ),
            "retention_percent": (
                retention,
                "%",
                "Discharge capacity retention",
                f"discharge capacity / that of cycle {ref_cycle}",
            ),
            "charge_retention_percent": (
                charge_retention,
                "%",
                "Charge capacity retention",
                f"charge capacity / that of cycle {ref_cycle}",
            ),
            "equivalent_full_cycles": (
                efc,
                "1",
                "Equivalent full cycles",
                f"cumulative (Q_charge + Q_discharge) / 2 / {nominal_note}",
            ),
            "complete": (
                complete,
                "1",
                "Cycle has both a charge and a discharge",
                "both capacities above 0.1 % of the largest capacity",
            ),
            "record_count": (lengths, "1", "Records in the cycle", ""),
        }
        if temp_name is not None:
            out["mean_temperature_celsius"] = (
                agg["temp_mean"],
                "degC",
                "Mean temperature",
                f"mean of {temp_name} over the cycle's records",
            )
            out["end_temperature_celsius"] = (
                agg["temp_end"],
                "degC",
                "Temperature at the end of the cycle",
                f"{temp_name} at the cycle's last record",
            )
            out["max_temperature_celsius"] = (
                agg["temp_max"],
                "degC",
                "Maximum temperature",
                f"max of {temp_name} over the cycle",
            )
        if self.test_plan:
            from ..testplan import nominal_rates, parse_test_plan

            plan = parse_test_plan(self.test_plan)
            has_lines = "step_index" in ds and ds.attrs.get("cycler") == "BaSyTec"
            c_nom, d_nom, how = nominal_rates(
                plan,
                numbers,
                np.asarray(ds["step_index"].values) if has_lines else None,
                np.asarray(ds["step_type_resolved"].values) if has_lines else None,
                starts if has_lines else None,
            )
            out["charge_c_rate_nominal"] = (c_nom, "1/h", "Nominal charge C-rate", how)
            out["discharge_c_rate_nominal"] = (d_nom, "1/h", "Nominal discharge C-rate", how)
        if "cycle_count" in ds:
            out["cycler_cycle_count"] = (
                ds["cycle_count"].data[starts],
                "1",
                "Cycler's cycle counter",
                "cycle_count at the cycle's first record",
            )
        mass_mg = (
            self.active_mass_mg
            if self.active_mass_mg is not None
            else _float_attr(ds, "active_mass_mg")
        )
        if mass_mg:
            g = mass_mg / 1000.0
            out["specific_charge_capacity_mah_g"] = (
                q_ch * 1000 / g,
                "mAh/g",
                "Specific charge capacity",
                f"charge capacity / {mass_mg:g} mg active mass",
            )
            out["specific_discharge_capacity_mah_g"] = (
                q_dis * 1000 / g,
                "mAh/g",
                "Specific discharge capacity",
                f"discharge capacity / {mass_mg:g} mg active mass",
            )
            if not lazy:
                lo, hi = self.plausible_specific_capacity_mah_g
                spec = q_dis * 1000 / g
                bad = numbers[complete & ((spec < lo) | (spec > hi))]
                if bad.size:
                    warnings.append(
                        f"specific discharge capacity outside {lo:g}–{hi:g} mAh/g in {bad.size} "
                        f"cycle(s) "
                        f"(first: {', '.join(map(str, bad[:5]))}); check the active mass "
                        f"({mass_mg:g} mg)"
                    )
        area = (
            self.electrode_area_cm2
            if self.electrode_area_cm2 is not None
            else _float_attr(ds, "electrode_area_cm2")
        )
        if area:
            out["areal_charge_capacity_mah_cm2"] = (
                q_ch * 1000 / area,
                "mAh/cm2",
                "Areal charge capacity",
                f"charge capacity / {area:g} cm²",
            )
            out["areal_discharge_capacity_mah_cm2"] = (
                q_dis * 1000 / area,
                "mAh/cm2",
                "Areal discharge capacity",
                f"discharge capacity / {area:g} cm²",
            )
        incomplete = numbers[~(np.asarray(complete) if not lazy else structural)]
        if incomplete.size:
            warnings.append(
                f"{incomplete.size} incomplete cycle(s) without a charge or a discharge: "
                f"{', '.join(map(str, incomplete[:10]))}{' ...' if incomplete.size > 10 else ''}"
            )
        variables = {
            name: xr.Variable(
                (CYCLE_DIM,), values, {"units": units, "long_name": long, "definition": definition}
            )
            for name, (values, units, long, definition) in out.items()
        }
        variables["capacity_from_counters"] = xr.Variable(
            (),
            from_counters,
            {
                "units": "1",
                "long_name": "Capacities come from the cycler's counters",
                "definition": f"counters agree with the integral within {self.counter_tolerance:g} "
                f"(relative) on every cycle",
            },
        )
        result = xr.Dataset(
            variables, coords={CYCLE_DIM: (CYCLE_DIM, numbers, {"long_name": "Cycle"})}
        )
        record_warnings = [w for w in ds.attrs.get("quality_warnings", "").split("\n") if w]
        result.attrs.update(self.provenance())
        result.attrs.update(
            {
                "source_file": ds.attrs.get("source_file", ""),
                "cycle_rule": ds.attrs.get("cycle_rule", ""),
                "cycle_mode": ds.attrs.get("cycle_mode", ""),
                "capacity_source": source,
                "ce_definition": f"coulombic_efficiency_percent = 100 * {ce_def} capacity of the "
                f"same cycle",
                "sign_convention": SIGN_CONVENTION,
                "integration": "trapezoid rule; each interval counts toward the step type of its "
                "later record",
                "reference_cycle": ref_cycle,
                "nominal_capacity": nominal_note,
            }
        )
        if lazy:
            result.attrs["lazy"] = (
                "computed from Dask arrays; value-based warnings are only made in memory"
            )
        for key in ("test_name", "cell_name", "start_time", "channel"):
            if key in ds.attrs:
                result.attrs[key] = ds.attrs[key]
        all_warnings = record_warnings + warnings
        if all_warnings:
            result.attrs["quality_warnings"] = "\n".join(all_warnings)
        return result

    # -- pieces ---------------------------------------------------------------------------
    def _resolved_mode(self, ds):
        return ds["cycle_index"].attrs.get("mode") if self.cycle_mode == "auto" else self.cycle_mode

    def _capacities(self, ds, counter_pairs, agg, q_ch_int, q_dis_int, warnings, lazy):
        """(charge, discharge, description, from_counters): the counters of the first pair that
        agree with the integral within ``counter_tolerance`` on every cycle, else the integral."""
        integ = "integral of current_ampere over test_time_second (trapezoid)"
        if not counter_pairs:
            return q_ch_int, q_dis_int, integ, np.bool_(False)
        labels = [
            f"cycler counters {c}, {d} ({ds[c].attrs.get('source_column', c)}, "
            f"{ds[d].attrs.get('source_column', d)})"
            for c, d in counter_pairs
        ]
        if self.capacity_source == "counters":
            return agg["sum_c0_ch"], agg["sum_c0_dis"], labels[0], np.bool_(True)
        floor = 0.01 * np.fmax(np.fmax(np.nanmax(q_ch_int), np.nanmax(q_dis_int)), 1e-12)

        def worst(k):  # largest relative disagreement of pair k with the integral
            return np.fmax(
                np.nanmax(np.abs(agg[f"sum_c{k}_ch"] - q_ch_int) / np.fmax(q_ch_int, floor)),
                np.nanmax(np.abs(agg[f"sum_c{k}_dis"] - q_dis_int) / np.fmax(q_dis_int, floor)),
            )

        if lazy:
            # decided at compute time: the last pair is applied first so the preferred one wins
            q_ch, q_dis, chosen = q_ch_int, q_dis_int, np.bool_(False)
            for k in reversed(range(len(counter_pairs))):
                ok = worst(k) <= self.counter_tolerance
                q_ch, q_dis = (
                    np.where(ok, agg[f"sum_c{k}_ch"], q_ch),
                    np.where(ok, agg[f"sum_c{k}_dis"], q_dis),
                )
                chosen = ok | chosen
            return (
                q_ch,
                q_dis,
                (
                    f"{labels[0]} where they agree with the integral within "
                    f"{self.counter_tolerance:g} on every "
                    f"cycle, else the {integ} (decided when computed: see capacity_from_counters)"
                ),
                chosen,
            )
        for k, (name_ch, name_dis) in enumerate(counter_pairs):
            w = float(worst(k))
            if w <= self.counter_tolerance:
                return agg[f"sum_c{k}_ch"], agg[f"sum_c{k}_dis"], labels[k], np.bool_(True)
            warnings.append(
                f"the cycler's capacity counters ({name_ch}, {name_dis}) disagree with the "
                f"integral of the "
                f"current by up to {100 * w:.2g} %; capacities are integrated instead"
            )
        return q_ch_int, q_dis_int, integ, np.bool_(False)

    def _ce_definition(self, first_dir, complete) -> str:
        if self.ce_convention != "auto":
            return self.ce_convention
        dirs = first_dir[complete] if complete.any() else first_dir
        n_dis_first = int((dirs == DISCHARGE).sum())
        return "charge/discharge" if n_dis_first > dirs.size / 2 else "discharge/charge"

    def _reference_position(self, numbers, complete, warnings) -> int:
        if self.reference_cycle is not None:
            hit = np.flatnonzero(numbers == self.reference_cycle)
            if hit.size:
                return int(hit[0])
            warnings.append(
                f"reference cycle {self.reference_cycle} is not in the data; the first complete "
                f"cycle is used"
            )
        full = np.flatnonzero(complete)
        return int(full[0]) if full.size else 0

    def _nominal_ah(self, ds, ref_discharge_ah, ref_cycle):
        if self.nominal_capacity_mah is not None:
            return (
                self.nominal_capacity_mah / 1000.0,
                f"nominal capacity {self.nominal_capacity_mah:g} mAh (parameter)",
            )
        meta = _float_attr(ds, "nominal_capacity_ah")
        if meta:
            return meta, f"nominal capacity {meta * 1000:g} mAh (file metadata)"
        ref = np.where(ref_discharge_ah > 0, ref_discharge_ah, np.nan)
        return ref, f"discharge capacity of cycle {ref_cycle} (no nominal capacity given)"


def _float_attr(ds: xr.Dataset, key: str):
    value = ds.attrs.get(key)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
