"""Differential capacity dQ/dU, its peaks, and peak tracks across cycles.

Method (every step is a parameter, and all of them go to the result's attrs)
-----------------------------------------------------------------------------
1. Half cycles: the charge (or discharge) records of each selected cycle
   (:func:`batteryviz.cycles.assign_cycles`).
2. Capacity: the integral of ``|I|`` over the half cycle (trapezoid), from 0 at its start.
3. Monotonic part: only records that advance the voltage beyond every earlier record of the
   half cycle are kept (a running maximum on charge, minimum on discharge). CV holds, turning
   points and noise that would make U(Q) non-monotonic are dropped, never scrambled.
4. Grid: capacity is interpolated onto one uniform voltage grid shared by all cycles of a
   direction (``n_points`` across the voltage range, or a ``voltage_step``), so the cost does
   not grow with the sampling rate and curves of different cycles line up on
   ``(cycle, voltage)``. Outside a half cycle's range the curve is NaN.
5. Smoothing of Q on the grid, with widths in volts (``smoothing_width_v``) or points.
6. dQ/dU = gradient of Q along the grid; discharge curves are negative (``discharge_sign``
   ``"negative"``) or positive (``"absolute"``).
7. Peaks: :func:`scipy.signal.find_peaks` on ``|dQ/dU|`` (so discharge peaks are found too)
   with a prominence relative to the curve's maximum and a minimum width in volts. Width is the
   full width at half prominence; area is the integral of ``|dQ/dU|`` over that width.
8. Tracks: peaks of consecutive analysed cycles are linked when their voltages differ by less
   than ``track_tolerance_v`` (closest pairs first); a peak without a partner starts a track.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import param
import xarray as xr
from scipy import interpolate, ndimage, signal

from ..cycles import CHARGE, DISCHARGE, half_cycle_records, select_cycles
from ..schema import CYCLE_DIM
from .base import Analysis

UNITS = {"Ah/V": 1.0, "mAh/V": 1000.0, "mAh/g/V": None}


@lru_cache(maxsize=64)
def _savgol_operators(window: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Convolution coefficients and the least-squares projection used at the edges."""
    coeffs = signal.savgol_coeffs(window, order, use="conv")
    x = np.arange(window, dtype=float)
    vander = np.vander(x, order + 1)
    projection = vander @ np.linalg.pinv(vander)
    return coeffs, projection


def savgol_interp(y: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky-Golay smoothing with polynomial fits at the edges (``mode="interp"``), vectorised:
    the same result as :func:`scipy.signal.savgol_filter` at a fraction of the cost per curve."""
    coeffs, projection = _savgol_operators(window, order)
    half = window // 2
    out = np.empty_like(y)
    out[half : y.size - half] = np.convolve(y, coeffs, mode="valid")
    out[:half] = (projection @ y[:window])[:half]
    out[y.size - half :] = (projection @ y[-window:])[window - half :]
    return out


def half_cycle_curve(t: np.ndarray, u: np.ndarray, i: np.ndarray, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """(voltage, capacity in Ah) of the monotonic part of one half cycle."""
    if t.size < 2:
        return np.zeros(0), np.zeros(0)
    dt = np.diff(t, prepend=t[:1])
    dt = np.where(np.isfinite(dt) & (dt > 0), dt, 0.0)
    a = np.abs(np.nan_to_num(i))
    q = np.cumsum(0.5 * (a + np.r_[a[:1], a[:-1]]) * dt) / 3600.0
    ok = np.isfinite(u)
    u, q = u[ok], q[ok]
    if u.size == 0:
        return u, q
    if direction == CHARGE:
        running = np.maximum.accumulate(u)
        keep = np.r_[True, u[1:] > running[:-1]]
    else:
        running = np.minimum.accumulate(u)
        keep = np.r_[True, u[1:] < running[:-1]]
    return u[keep], q[keep]


class DifferentialCapacity(Analysis):
    """dQ/dU curves on a shared voltage grid, with peaks and peak tracks (module docstring)."""

    cycles = param.List(default=None, allow_None=True, item_type=int,
                        doc="Cycles to analyse (analysis cycle numbers). Default: every cycle.")
    direction = param.Selector(default="both", objects=["charge", "discharge", "both"],
                               doc="Half cycles to analyse.")
    n_points = param.Integer(default=333, bounds=(100, 1000),
                             doc="Points of the voltage grid across the voltage range (ignored with voltage_step).")
    voltage_step = param.Number(default=None, allow_None=True, bounds=(1e-5, 0.1),
                                doc="Voltage grid step in V (overrides n_points).")
    voltage_window = param.Range(default=None, allow_None=True, bounds=(-10, 10),
                                 doc="Only this voltage range (V). Default: the data's range.")
    common_window = param.Boolean(default=False,
                                  doc="Restrict each direction to the voltage range every selected half cycle covers.")
    method = param.Selector(default="linear", objects=["linear", "cubic", "smoothing_spline"],
                            doc="Interpolation of Q(U) onto the grid: linear, monotone cubic (PCHIP) or a smoothing spline.")
    smoothing = param.Selector(default="savgol", objects=["none", "savgol", "moving_average", "gaussian"],
                               doc="Smoothing of Q on the grid before differentiation.")
    smoothing_width_v = param.Number(default=0.02, bounds=(0, 1),
                                     doc="Smoothing width in volts: Savitzky-Golay / moving-average window, or 2x the Gaussian sigma.")
    smoothing_points = param.Integer(default=None, allow_None=True, bounds=(3, 501),
                                     doc="Smoothing width in grid points (overrides smoothing_width_v).")
    savgol_order = param.Integer(default=3, bounds=(1, 5), doc="Polynomial order of the Savitzky-Golay filter.")
    units = param.Selector(default="mAh/V", objects=list(UNITS), doc="Units of dQ/dU (mAh/g/V needs an active mass).")
    active_mass_mg = param.Number(default=None, allow_None=True, bounds=(0, None), inclusive_bounds=(False, True),
                                  doc="Active mass in mg for mAh/g/V. Default: the file's metadata.")
    discharge_sign = param.Selector(default="negative", objects=["negative", "absolute"],
                                    doc="Discharge dQ/dU negative (dQ/dU with Q the cell's charge) or as a magnitude.")
    peak_prominence = param.Number(default=0.1, bounds=(0, 1),
                                   doc="Peak prominence relative to the curve's largest |dQ/dU|.")
    peak_min_width_v = param.Number(default=0.005, bounds=(0, 1), doc="Minimum peak width in V (at half prominence).")
    track_tolerance_v = param.Number(default=0.05, bounds=(0, 1),
                                     doc="Largest voltage shift between cycles for two peaks to belong to one track (V).")
    cycle_mode = param.Selector(default="auto", objects=["auto", "cycler", "charge_first", "discharge_first"],
                                doc="Cycle rule (see batteryviz.cycles).")

    requires = ("test_time_second", "voltage_volt", "current_ampere")

    def plot(self, result: xr.Dataset):
        """dQ/dU overlays with peak markers, one panel per direction."""
        import holoviews as hv

        from .. import plots

        panels = [plots.dqdu_overlay(result, d) for d in ("charge", "discharge") if f"{d}_dqdu" in result]
        return hv.Layout(panels).cols(1) if len(panels) > 1 else panels[0]

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Curves on ``(direction, cycle, voltage)``, peaks on ``(direction, cycle, peak)``, tracks."""
        self.check_inputs(ds)
        self._p = self.param.values()  # plain values: param lookups in the per-curve loop are slow
        ds, wanted = select_cycles(ds, self.cycles, self.cycle_mode)
        directions = ["charge", "discharge"] if self.direction == "both" else [self.direction]
        scale, unit_note = self._scale(ds)

        curves, grids, peaks_all = {}, {}, {}
        for name in directions:
            code = CHARGE if name == "charge" else DISCHARGE
            raw = {}
            for c, records in half_cycle_records(ds, wanted, code).items():
                v, q = half_cycle_curve(*records, code)
                if v.size >= 3:
                    raw[c] = (v, q)
            grid = self._grid(raw)
            grids[name] = grid
            values = np.full((wanted.size, grid.size), np.nan)
            for row, c in enumerate(wanted):
                if int(c) in raw and grid.size:
                    values[row] = self._differentiate(*raw[int(c)], grid, code) * scale
            if name == "discharge" and self.discharge_sign == "negative":
                values = -values
            curves[name] = values
            peaks_all[name] = [self._peaks(grid, values[row]) for row in range(wanted.size)]

        return self._assemble(wanted, directions, grids, curves, peaks_all, unit_note)

    # -- steps ------------------------------------------------------------------------------
    def _scale(self, ds):
        if self.units != "mAh/g/V":
            return UNITS[self.units], self.units
        mass = self.active_mass_mg if self.active_mass_mg is not None else ds.attrs.get("active_mass_mg")
        if not mass:
            raise ValueError("units 'mAh/g/V' need an active mass: set active_mass_mg")
        return 1000.0 / (float(mass) / 1000.0), f"mAh/g/V (active mass {float(mass):g} mg)"

    def _grid(self, raw: dict) -> np.ndarray:
        if not raw:
            return np.zeros(0)
        lows = [v.min() for v, _ in raw.values()]
        highs = [v.max() for v, _ in raw.values()]
        lo, hi = (max(lows), min(highs)) if self.common_window else (min(lows), max(highs))
        if self.voltage_window is not None:
            lo, hi = max(lo, self.voltage_window[0]), min(hi, self.voltage_window[1])
        if hi <= lo:
            return np.zeros(0)
        if self.voltage_step:
            return np.arange(lo, hi + 0.5 * self.voltage_step, self.voltage_step)
        return np.linspace(lo, hi, self.n_points)

    def _width_points(self, step: float) -> int:
        if self._p["smoothing_points"] is not None:
            return int(self._p["smoothing_points"])
        return max(int(round(self._p["smoothing_width_v"] / step)), 1) if step > 0 else 1

    def _differentiate(self, v: np.ndarray, q: np.ndarray, grid: np.ndarray, code: int) -> np.ndarray:
        order = np.argsort(v)
        v, q = v[order], q[order]
        inside = (grid >= v[0]) & (grid <= v[-1])
        out = np.full(grid.size, np.nan)
        if inside.sum() < 5:
            return out
        g = grid[inside]
        if self._p["method"] == "linear":
            qg = np.interp(g, v, q)
        elif self._p["method"] == "cubic":
            qg = interpolate.PchipInterpolator(v, q)(g)
        else:
            spline = interpolate.make_smoothing_spline(v, q)
            qg = spline(g)
        step = grid[1] - grid[0] if grid.size > 1 else 0.0
        w = self._width_points(step)
        if self._p["smoothing"] == "savgol" and w >= 3:
            window = w if w % 2 else w + 1
            if window < qg.size:
                qg = savgol_interp(qg, window, min(self._p["savgol_order"], window - 1))
        elif self._p["smoothing"] == "moving_average" and w >= 2:
            qg = ndimage.uniform_filter1d(qg, w, mode="nearest")
        elif self._p["smoothing"] == "gaussian" and w >= 1:
            qg = ndimage.gaussian_filter1d(qg, w / 2.0, mode="nearest")
        d = np.gradient(qg, g)
        # Q grows while U falls on discharge: report dQ/dU of the discharged capacity as positive
        # here; the sign convention is applied by the caller
        out[inside] = np.abs(d) if code == DISCHARGE else d
        return out

    def _peaks(self, grid: np.ndarray, curve: np.ndarray) -> list[dict]:
        y = np.abs(curve)
        ok = np.isfinite(y)
        if ok.sum() < 5:
            return []
        idx = np.flatnonzero(ok)
        yy = y[idx]
        step = grid[1] - grid[0]
        found, props = signal.find_peaks(
            yy, prominence=self._p["peak_prominence"] * yy.max(), width=max(self._p["peak_min_width_v"] / step, 1)
        )
        if not found.size:
            return []
        widths = signal.peak_widths(yy, found, rel_height=0.5, prominence_data=(props["prominences"], props["left_bases"], props["right_bases"]))
        out = []
        for j, p in enumerate(found):
            left, right = widths[2][j], widths[3][j]
            lo, hi = int(np.floor(left)), int(np.ceil(right)) + 1
            area = float(np.trapezoid(yy[lo:hi], grid[idx][lo:hi])) if hi - lo > 1 else 0.0
            out.append({
                "voltage": float(grid[idx][p]),
                "intensity": float(curve[idx][p]),
                "prominence": float(props["prominences"][j]),
                "width": float(widths[0][j] * step),
                "area": area,
            })
        return out

    def _assemble(self, cycles, directions, grids, curves, peaks_all, unit_note) -> xr.Dataset:
        out = xr.Dataset()
        for name in directions:
            grid = grids[name]
            vdim = f"{name}_voltage"
            out[f"{name}_dqdu"] = xr.DataArray(
                curves[name], dims=(CYCLE_DIM, vdim),
                attrs={"units": unit_note.split(" (")[0], "long_name": f"dQ/dU ({name})",
                       "definition": f"gradient of the {name} capacity on a uniform voltage grid ({unit_note})"},
            )
            out = out.assign_coords({vdim: (vdim, grid, {"units": "V", "long_name": f"Voltage ({name})"})})
            n_peak = max((len(p) for p in peaks_all[name]), default=0)
            fields = ("voltage", "intensity", "prominence", "width", "area")
            table = {f: np.full((len(cycles), n_peak), np.nan) for f in fields}
            for row, plist in enumerate(peaks_all[name]):
                for j, pk in enumerate(sorted(plist, key=lambda d: d["voltage"])):
                    for f in fields:
                        table[f][row, j] = pk[f]
            units = {"voltage": "V", "intensity": unit_note.split(" (")[0], "prominence": unit_note.split(" (")[0],
                     "width": "V", "area": "Ah" if unit_note.startswith("Ah") else ("mAh/g" if "g" in unit_note else "mAh")}
            pdim = f"{name}_peak"
            for f in fields:
                out[f"{name}_peak_{f}"] = xr.DataArray(table[f], dims=(CYCLE_DIM, pdim), attrs={"units": units[f]})
            out[f"{name}_peak_track"] = xr.DataArray(self._track(table["voltage"]), dims=(CYCLE_DIM, pdim),
                                                     attrs={"long_name": "Peak track id (-1: no peak)",
                                                            "definition": f"nearest peak of the previous analysed cycle within {self.track_tolerance_v:g} V"})
        out = out.assign_coords({CYCLE_DIM: (CYCLE_DIM, np.asarray(cycles))})
        out.attrs.update(self.provenance())
        out.attrs["method"] = (
            f"monotonic part of each half cycle; Q = integral of |I| dt; {self.method} interpolation onto a "
            f"uniform voltage grid; {self.smoothing} smoothing of Q "
            f"({self.smoothing_points if self.smoothing_points is not None else self.smoothing_width_v} "
            f"{'points' if self.smoothing_points is not None else 'V'}); gradient; peaks by prominence "
            f"{self.peak_prominence:g} x max |dQ/dU|, width >= {self.peak_min_width_v:g} V"
        )
        out.attrs["sign_convention"] = ("discharge dQ/dU negative" if self.discharge_sign == "negative" else "discharge dQ/dU as magnitude")
        return out

    def _track(self, voltages: np.ndarray) -> np.ndarray:
        """Track ids linking peaks of consecutive cycles (closest pairs within the tolerance first)."""
        n_cycles, n_peak = voltages.shape
        ids = np.full((n_cycles, n_peak), -1, dtype=np.int64)
        next_id = 0
        prev_row = None
        for row in range(n_cycles):
            cur = np.flatnonzero(np.isfinite(voltages[row]))
            if prev_row is not None:
                prev = np.flatnonzero(ids[prev_row] >= 0)
                pairs = sorted(
                    ((abs(voltages[row, a] - voltages[prev_row, b]), a, b) for a in cur for b in prev),
                    key=lambda x: x[0],
                )
                used_a, used_b = set(), set()
                for dist, a, b in pairs:
                    if dist > self.track_tolerance_v or a in used_a or b in used_b:
                        continue
                    ids[row, a] = ids[prev_row, b]
                    used_a.add(a)
                    used_b.add(b)
            for a in cur:
                if ids[row, a] < 0:
                    ids[row, a] = next_id
                    next_id += 1
            if cur.size:
                prev_row = row
        return ids


def peak_tracks(result: xr.Dataset, direction: str = "charge") -> xr.Dataset:
    """Peaks regrouped by track: voltage, intensity and area on ``(track, cycle)``."""
    track = result[f"{direction}_peak_track"].values
    n_tracks = int(track.max()) + 1 if track.size and track.max() >= 0 else 0
    cycles = result[CYCLE_DIM].values
    fields = ("voltage", "intensity", "area", "width")
    data = {f: np.full((n_tracks, cycles.size), np.nan) for f in fields}
    for row in range(cycles.size):
        for j, tid in enumerate(track[row]):
            if tid >= 0:
                for f in fields:
                    data[f][tid, row] = result[f"{direction}_peak_{f}"].values[row, j]
    out = xr.Dataset({f: (("track", CYCLE_DIM), data[f]) for f in fields},
                     coords={"track": np.arange(n_tracks), CYCLE_DIM: cycles})
    v = data["voltage"]
    first = np.array([row[np.isfinite(row)][0] if np.isfinite(row).any() else np.nan for row in v])
    out["voltage_shift"] = (("track", CYCLE_DIM), v - first[:, None])
    out["voltage_shift"].attrs = {"units": "V", "long_name": "Peak voltage relative to the track's first cycle"}
    out.attrs.update(result.attrs)
    return out
