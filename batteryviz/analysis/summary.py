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
from ..cycles import CYCLE_MODES, DISCHARGE, assign_cycles
from ..schema import CYCLE_DIM
from .base import Analysis
from .kernels import per_cycle as per_cycle_kernel


class CycleSummary(Analysis):
    """One row per cycle: the numbers a battery scientist looks at first.

    See the module docstring for every definition; they are also written to the result's
    attrs (``definition`` on each variable, ``capacity_source``, ``ce_definition``...).

    Examples
    --------
    >>> summary = CycleSummary(active_mass_mg=2.1).compute(ds)   # doctest: +SKIP
    >>> summary.to_dataframe()                                    # doctest: +SKIP
    """

    cycle_mode = param.Selector(
        default="auto", objects=list(CYCLE_MODES),
        doc="How records become cycles: the cycler's counter ('cycler'), pairing half cycles "
            "('charge_first', 'discharge_first'), or 'auto' (the counter when the file has one).",
    )
    active_mass_mg = param.Number(
        default=None, allow_None=True, bounds=(0, None), inclusive_bounds=(False, True), step=0.001,
        doc="Active material mass in mg, for specific capacity (mAh/g). Default: the file's metadata.",
    )
    electrode_area_cm2 = param.Number(
        default=None, allow_None=True, bounds=(0, None), inclusive_bounds=(False, True),
        doc="Electrode area in cm², for areal capacity (mAh/cm²).",
    )
    nominal_capacity_mah = param.Number(
        default=None, allow_None=True, bounds=(0, None), inclusive_bounds=(False, True),
        doc="Nominal (theoretical) capacity in mAh, for C-rates and equivalent full cycles. "
            "Default: the file's metadata, else the reference cycle's discharge capacity.",
    )
    reference_cycle = param.Integer(
        default=None, allow_None=True, bounds=(0, None),
        doc="Cycle that retention is relative to. Default: the first complete cycle.",
    )
    ce_convention = param.Selector(
        default="auto", objects=["auto", "discharge/charge", "charge/discharge"],
        doc="Coulombic efficiency direction. 'auto': second half cycle / first half cycle of each "
            "cycle (discharge/charge when cycles start with a charge).",
    )
    capacity_source = param.Selector(
        default="auto", objects=["auto", "counters", "integration"],
        doc="Where capacities come from: the cycler's counters, the integral of the current, or "
            "'auto' (counters when they agree with the integral).",
    )
    counter_tolerance = param.Number(
        default=0.02, bounds=(0, 1),
        doc="Largest relative disagreement between counters and the integral for 'auto' to use counters.",
    )
    rest_current_fraction = param.Number(
        default=0.002, bounds=(0, 0.5),
        doc="Without a cycler step column, |I| at or below this fraction of max |I| is rest.",
    )
    resistance_max_interval_s = param.Number(
        default=1.0, bounds=(0, None),
        doc="Largest time between the rest record and the first loaded record for a DC resistance (s).",
    )
    test_plan = param.String(
        default=None, allow_None=True,
        doc="A cycler test plan (path or text, BaSyTec style) giving nominal C-rates per step; adds "
            "charge_c_rate_nominal and discharge_c_rate_nominal.",
    )
    plausible_specific_capacity_mah_g = param.Range(
        default=(10.0, 1000.0), bounds=(0, None),
        doc="Specific discharge capacities outside this range (mAh/g) are flagged in the warnings.",
    )

    def plot(self, result: xr.Dataset):
        """Capacity, retention, coulombic efficiency and voltage window against cycle."""
        from .. import plots

        return (plots.capacity_vs_cycle(result) + plots.retention_vs_cycle(result)
                + plots.ce_vs_cycle(result) + plots.voltage_window(result)).cols(2)

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Summarise ``ds`` per cycle; returns a dataset on the ``cycle`` dimension."""
        self.check_inputs(ds)
        if "cycle_index" not in ds or ds["cycle_index"].attrs.get("mode") != self._resolved_mode(ds):
            ds = assign_cycles(ds, self.cycle_mode, rest_current_fraction=self.rest_current_fraction)
        warnings: list[str] = []
        t = np.asarray(ds["test_time_second"].values, dtype=float)
        u = np.asarray(ds["voltage_volt"].values, dtype=float)
        i = np.asarray(ds["current_ampere"].values, dtype=float)
        st = np.asarray(ds["step_type_resolved"].values)
        numbers = ds[CYCLE_DIM].values
        starts = ds["cycle_start"].values.astype(np.int64)
        lengths = ds["cycle_length"].values.astype(np.int64)
        m = numbers.size
        if m == 0:
            empty = xr.Dataset(coords={CYCLE_DIM: (CYCLE_DIM, np.zeros(0, dtype=np.int64))})
            empty.attrs.update(self.provenance())
            empty.attrs["source_file"] = ds.attrs.get("source_file", "")
            empty.attrs["quality_warnings"] = "\n".join(
                [w for w in ds.attrs.get("quality_warnings", "").split("\n") if w]
                + ["no cycles: the data hold no charge or discharge records (rest or open-circuit only)"]
            )
            return empty
        n = t.size
        # cycles are contiguous runs starting at `starts`: a record's cycle position is the
        # number of starts at or before it, minus one
        marks = np.zeros(n, dtype=np.int32)
        marks[starts] = 1
        pos = np.cumsum(marks, dtype=np.int32) - 1

        temp_name = next((v for v in ("ambient_temperature_celsius", "surface_temperature_celsius") if v in ds), None)
        counter_pairs = list(zip(schema.counters(ds, "charge_capacity"), schema.counters(ds, "discharge_capacity")))
        counter_arrays = {}
        if self.capacity_source != "integration":
            for k, (name_ch, name_dis) in enumerate(counter_pairs):
                counter_arrays[f"c{k}_ch"] = np.asarray(ds[name_ch].values, dtype=float)
                counter_arrays[f"c{k}_dis"] = np.asarray(ds[name_dis].values, dtype=float)
        agg = per_cycle_kernel(
            t, u, i, st, pos, m,
            temperature=None if temp_name is None else np.asarray(ds[temp_name].values, dtype=float),
            counters=counter_arrays,
            resistance_max_interval_s=self.resistance_max_interval_s,
        )
        q_ch_int, q_dis_int = agg["q_ch_int"], agg["q_dis_int"]
        e_ch, e_dis = agg["e_ch"], agg["e_dis"]
        dur_ch, dur_dis, duration = agg["dur_ch"] / 3600.0, agg["dur_dis"] / 3600.0, agg["duration"] / 3600.0
        q_ch, q_dis, source = self._capacities(ds, counter_pairs, agg, q_ch_int, q_dis_int, warnings)
        vmin, vmax = agg["vmin"], agg["vmax"]
        first_dir = np.nan_to_num(agg["first_dir"].astype(float)).astype(int)
        floor = 1e-3 * max(np.nanmax(q_ch) if m else 0, np.nanmax(q_dis) if m else 0, 1e-12)
        complete = (q_ch > floor) & (q_dis > floor)

        ce_def = self._ce_definition(first_dir, complete)
        with np.errstate(divide="ignore", invalid="ignore"):
            if ce_def == "discharge/charge":
                ce = np.where(complete, 100.0 * q_dis / q_ch, np.nan)
            else:
                ce = np.where(complete, 100.0 * q_ch / q_dis, np.nan)
            mean_v_ch = np.where(q_ch_int > floor, e_ch / q_ch_int, np.nan)
            mean_v_dis = np.where(q_dis_int > floor, e_dis / q_dis_int, np.nan)

        ref_pos = self._reference_position(numbers, complete, warnings)
        ref_cycle = int(numbers[ref_pos])
        with np.errstate(divide="ignore", invalid="ignore"):
            retention = 100.0 * q_dis / q_dis[ref_pos] if q_dis[ref_pos] > 0 else np.full(m, np.nan)
            charge_retention = 100.0 * q_ch / q_ch[ref_pos] if q_ch[ref_pos] > 0 else np.full(m, np.nan)

        nominal_ah, nominal_note = self._nominal_ah(ds, q_dis[ref_pos], ref_cycle)
        i_ch, i_dis = agg["i_ch"].astype(float), agg["i_dis"].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            efc = np.cumsum(q_ch + q_dis) / 2.0 / nominal_ah if nominal_ah else np.full(m, np.nan)
        r_ch, r_dis = agg["r_ch"], agg["r_dis"]
        start_time = agg["t_start"]

        out = {
            "charge_capacity_ah": (q_ch, "Ah", "Charge capacity", f"charge passed during charge records ({source})"),
            "discharge_capacity_ah": (q_dis, "Ah", "Discharge capacity", f"charge removed during discharge records ({source})"),
            "coulombic_efficiency_percent": (ce, "%", "Coulombic efficiency", f"100 * {ce_def} capacity of the same cycle; NaN for incomplete cycles"),
            "charge_energy_wh": (e_ch, "Wh", "Charge energy", "trapezoid integral of U*I over charge records"),
            "discharge_energy_wh": (e_dis, "Wh", "Discharge energy", "trapezoid integral of -U*I over discharge records"),
            "energy_efficiency_percent": (self._ratio(e_ch, e_dis, ce_def, complete), "%", "Energy efficiency", f"100 * {ce_def} energy"),
            "mean_charge_voltage_v": (mean_v_ch, "V", "Mean charge voltage", "charge energy / integrated charge capacity"),
            "mean_discharge_voltage_v": (mean_v_dis, "V", "Mean discharge voltage", "discharge energy / integrated discharge capacity"),
            "min_voltage_v": (vmin, "V", "Minimum voltage", "over all records of the cycle, rests included"),
            "max_voltage_v": (vmax, "V", "Maximum voltage", "over all records of the cycle, rests included"),
            "end_charge_voltage_v": (agg["u_end_ch"].astype(float), "V", "Voltage at the end of charge", "last charge record"),
            "end_discharge_voltage_v": (agg["u_end_dis"].astype(float), "V", "Voltage at the end of discharge", "last discharge record"),
            "charge_duration_h": (dur_ch, "h", "Charge duration", "sum of the intervals ending at charge records"),
            "discharge_duration_h": (dur_dis, "h", "Discharge duration", "sum of the intervals ending at discharge records"),
            "duration_h": (duration, "h", "Cycle duration", "from the last record before the cycle to its last record"),
            "start_time_s": (start_time, "s", "Cycle start (test time)", "time of the record before the cycle's first"),
            "charge_current_a": (i_ch, "A", "Charge current (constant-current part)", "mean |I| over records with |I| >= 0.9 max |I|"),
            "discharge_current_a": (i_dis, "A", "Discharge current magnitude (constant-current part)", "mean |I| over records with |I| >= 0.9 max |I|"),
            "charge_c_rate": (i_ch / nominal_ah if nominal_ah else np.full(m, np.nan), "1/h", "Charge C-rate", f"charge current / {nominal_note}"),
            "discharge_c_rate": (i_dis / nominal_ah if nominal_ah else np.full(m, np.nan), "1/h", "Discharge C-rate", f"discharge current / {nominal_note}"),
            "charge_dc_resistance_ohm": (r_ch, "ohm", "DC resistance at the start of charge", "ΔU/ΔI across the current step opening the charge"),
            "discharge_dc_resistance_ohm": (r_dis, "ohm", "DC resistance at the start of discharge", "ΔU/ΔI across the current step opening the discharge"),
            "retention_percent": (retention, "%", "Discharge capacity retention", f"discharge capacity / that of cycle {ref_cycle}"),
            "charge_retention_percent": (charge_retention, "%", "Charge capacity retention", f"charge capacity / that of cycle {ref_cycle}"),
            "equivalent_full_cycles": (efc, "1", "Equivalent full cycles", f"cumulative (Q_charge + Q_discharge) / 2 / {nominal_note}"),
            "complete": (complete, "1", "Cycle has both a charge and a discharge", f"both capacities above {floor:.3g} Ah"),
            "record_count": (lengths, "1", "Records in the cycle", ""),
        }
        if temp_name is not None:
            out["mean_temperature_celsius"] = (agg["temp_mean"].astype(float), "degC", "Mean temperature", f"mean of {temp_name} over the cycle's records")
            out["end_temperature_celsius"] = (agg["temp_end"].astype(float), "degC", "Temperature at the end of the cycle", f"{temp_name} at the cycle's last record")
            out["max_temperature_celsius"] = (agg["temp_max"].astype(float), "degC", "Maximum temperature", f"max of {temp_name} over the cycle")
        if self.test_plan:
            from ..testplan import nominal_rates, parse_test_plan

            plan = parse_test_plan(self.test_plan)
            has_lines = "step_index" in ds and ds.attrs.get("cycler") == "BaSyTec"
            c_nom, d_nom, how = nominal_rates(
                plan, numbers,
                np.asarray(ds["step_index"].values) if has_lines else None,
                st if has_lines else None,
                starts if has_lines else None,
            )
            out["charge_c_rate_nominal"] = (c_nom, "1/h", "Nominal charge C-rate", how)
            out["discharge_c_rate_nominal"] = (d_nom, "1/h", "Nominal discharge C-rate", how)
        if "cycle_count" in ds:
            out["cycler_cycle_count"] = (np.asarray(ds["cycle_count"].values)[starts], "1", "Cycler's cycle counter", "cycle_count at the cycle's first record")

        mass_mg = self.active_mass_mg if self.active_mass_mg is not None else _float_attr(ds, "active_mass_mg")
        if mass_mg:
            g = mass_mg / 1000.0
            out["specific_charge_capacity_mah_g"] = (q_ch * 1000 / g, "mAh/g", "Specific charge capacity", f"charge capacity / {mass_mg:g} mg active mass")
            out["specific_discharge_capacity_mah_g"] = (q_dis * 1000 / g, "mAh/g", "Specific discharge capacity", f"discharge capacity / {mass_mg:g} mg active mass")
            lo, hi = self.plausible_specific_capacity_mah_g
            spec = q_dis * 1000 / g
            bad = numbers[complete & ((spec < lo) | (spec > hi))]
            if bad.size:
                warnings.append(
                    f"specific discharge capacity outside {lo:g}–{hi:g} mAh/g in {bad.size} cycle(s) "
                    f"(first: {', '.join(map(str, bad[:5]))}); check the active mass ({mass_mg:g} mg)"
                )
        area = self.electrode_area_cm2 if self.electrode_area_cm2 is not None else _float_attr(ds, "electrode_area_cm2")
        if area:
            out["areal_charge_capacity_mah_cm2"] = (q_ch * 1000 / area, "mAh/cm2", "Areal charge capacity", f"charge capacity / {area:g} cm²")
            out["areal_discharge_capacity_mah_cm2"] = (q_dis * 1000 / area, "mAh/cm2", "Areal discharge capacity", f"discharge capacity / {area:g} cm²")

        incomplete = numbers[~complete]
        if incomplete.size:
            warnings.append(
                f"{incomplete.size} incomplete cycle(s) without a charge or a discharge: "
                f"{', '.join(map(str, incomplete[:10]))}{' ...' if incomplete.size > 10 else ''}"
            )
        result = xr.Dataset(
            {name: xr.Variable((CYCLE_DIM,), np.asarray(values), {"units": units, "long_name": long, "definition": definition})
             for name, (values, units, long, definition) in out.items()},
            coords={CYCLE_DIM: (CYCLE_DIM, numbers, {"long_name": "Cycle"})},
        )
        record_warnings = [w for w in ds.attrs.get("quality_warnings", "").split("\n") if w]
        result.attrs.update(self.provenance())
        result.attrs.update({
            "source_file": ds.attrs.get("source_file", ""),
            "cycle_rule": ds.attrs.get("cycle_rule", ""),
            "cycle_mode": ds.attrs.get("cycle_mode", ""),
            "capacity_source": source,
            "ce_definition": f"coulombic_efficiency_percent = 100 * {ce_def} capacity of the same cycle",
            "sign_convention": "current > 0 charges the cell; capacities and energies are positive magnitudes",
            "integration": "trapezoid rule; each interval counts toward the step type of its later record",
            "reference_cycle": ref_cycle,
            "nominal_capacity": nominal_note,
        })
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

    def _capacities(self, ds, counter_pairs, agg, q_ch_int, q_dis_int, warnings):
        integ = "integral of current_ampere over test_time_second (trapezoid)"
        if self.capacity_source == "integration":
            return q_ch_int, q_dis_int, integ
        if not counter_pairs:
            if self.capacity_source == "counters":
                raise ValueError("capacity_source='counters' but the file declares no charge/discharge capacity counters")
            return q_ch_int, q_dis_int, integ
        for k, (name_ch, name_dis) in enumerate(counter_pairs):
            q_ch, q_dis = agg[f"sum_c{k}_ch"], agg[f"sum_c{k}_dis"]
            label = f"cycler counters {name_ch}, {name_dis} ({ds[name_ch].attrs.get('source_column', name_ch)}, {ds[name_dis].attrs.get('source_column', name_dis)})"
            if self.capacity_source == "counters":
                return q_ch, q_dis, label
            scale = max(q_ch_int.max(), q_dis_int.max(), 1e-12)
            floor = 0.01 * scale
            dev = np.r_[np.abs(q_ch - q_ch_int) / np.maximum(q_ch_int, floor),
                        np.abs(q_dis - q_dis_int) / np.maximum(q_dis_int, floor)]
            worst = float(dev.max()) if dev.size else 0.0
            if worst <= self.counter_tolerance:
                return q_ch, q_dis, label
            warnings.append(
                f"the cycler's capacity counters ({name_ch}, {name_dis}) disagree with the integral of the "
                f"current by up to {100 * worst:.2g} %; capacities are integrated instead"
            )
        return q_ch_int, q_dis_int, integ

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
            warnings.append(f"reference cycle {self.reference_cycle} is not in the data; the first complete cycle is used")
        full = np.flatnonzero(complete)
        return int(full[0]) if full.size else 0

    def _nominal_ah(self, ds, ref_discharge_ah, ref_cycle):
        if self.nominal_capacity_mah is not None:
            return self.nominal_capacity_mah / 1000.0, f"nominal capacity {self.nominal_capacity_mah:g} mAh (parameter)"
        meta = _float_attr(ds, "nominal_capacity_ah")
        if meta:
            return meta, f"nominal capacity {meta * 1000:g} mAh (file metadata)"
        if ref_discharge_ah > 0:
            return float(ref_discharge_ah), f"discharge capacity of cycle {ref_cycle} ({ref_discharge_ah * 1000:.4g} mAh; no nominal capacity given)"
        return None, "no capacity available"

    @staticmethod
    def _ratio(e_ch, e_dis, ce_def, complete):
        with np.errstate(divide="ignore", invalid="ignore"):
            if ce_def == "discharge/charge":
                return np.where(complete, 100.0 * e_dis / e_ch, np.nan)
            return np.where(complete, 100.0 * e_ch / e_dis, np.nan)


def _float_attr(ds: xr.Dataset, key: str):
    value = ds.attrs.get(key)
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
