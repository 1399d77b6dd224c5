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
   At most ``max_peaks`` per curve are kept (the most prominent), ordered by voltage; the peak
   tables have that many columns, NaN where a curve has fewer peaks.
8. Tracks: peaks of consecutive analysed cycles are linked when their voltages differ by less
   than ``track_tolerance_v`` (closest pairs first); a peak without a partner starts a track.

On a Dask-backed dataset chunked on whole cycles (:func:`batteryviz.chunking.chunk_by_cycle`)
the result is lazy: the grid is laid out from the half cycles' extents that the cycle structure
carries (:func:`batteryviz.cycles.half_cycle_extents`), the curves and peaks of each chunk are one
task, the tracks one more; nothing is computed until ``.compute()``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import param
import xarray as xr
from scipy import interpolate, ndimage, signal

from ..chunking import apply_per_cycle, with_cycle_structure
from ..cycles import CHARGE, DISCHARGE, half_cycle_capacity, select_cycles
from ..schema import CYCLE_DIM
from . import parameters
from .base import Analysis, KeyFigure

UNITS = {"Ah/V": 1.0, "mAh/V": 1000.0, "mAh/g/V": None}
PEAK_FIELDS = ("voltage", "intensity", "prominence", "width", "area")


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


def half_cycle_curve(
    t: np.ndarray, u: np.ndarray, i: np.ndarray, direction: int
) -> tuple[np.ndarray, np.ndarray]:
    """(voltage, capacity in Ah) of the monotonic part of one half cycle."""
    if t.size < 2:
        return np.zeros(0), np.zeros(0)
    q = half_cycle_capacity(t, i)
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


def differentiate(v: np.ndarray, q: np.ndarray, grid: np.ndarray, code: int, s: dict) -> np.ndarray:
    """dQ/dU of one monotonic half cycle ``(v, q)`` on ``grid`` (NaN outside its range);
    ``s`` holds the interpolation and smoothing settings (:meth:`DifferentialCapacity.settings`)."""
    order = np.argsort(v)
    v, q = v[order], q[order]
    inside = (grid >= v[0]) & (grid <= v[-1])
    out = np.full(grid.size, np.nan)
    if inside.sum() < 5:
        return out
    g = grid[inside]
    if s["method"] == "linear":
        qg = np.interp(g, v, q)
    elif s["method"] == "cubic":
        qg = interpolate.PchipInterpolator(v, q)(g)
    else:
        qg = interpolate.make_smoothing_spline(v, q)(g)
    step = grid[1] - grid[0] if grid.size > 1 else 0.0
    if s["smoothing_points"] is not None:
        w = int(s["smoothing_points"])
    else:
        w = max(int(round(s["smoothing_width_v"] / step)), 1) if step > 0 else 1
    if s["smoothing"] == "savgol" and w >= 3:
        window = w if w % 2 else w + 1
        if window < qg.size:
            qg = savgol_interp(qg, window, min(s["savgol_order"], window - 1))
    elif s["smoothing"] == "moving_average" and w >= 2:
        qg = ndimage.uniform_filter1d(qg, w, mode="nearest")
    elif s["smoothing"] == "gaussian" and w >= 1:
        qg = ndimage.gaussian_filter1d(qg, w / 2.0, mode="nearest")
    d = np.gradient(qg, g)
    # Q grows while U falls on discharge: dQ/dU of the discharged capacity is positive here; the
    # sign convention is applied by the caller
    out[inside] = np.abs(d) if code == DISCHARGE else d
    return out


def find_curve_peaks(grid: np.ndarray, curve: np.ndarray, s: dict) -> np.ndarray:
    """Peaks of ``|curve|`` as rows of :data:`PEAK_FIELDS` (at most ``s["max_peaks"]``, the most
    prominent, ordered by voltage)."""
    y = np.abs(curve)
    ok = np.isfinite(y)
    if ok.sum() < 5:
        return np.zeros((0, len(PEAK_FIELDS)))
    idx = np.flatnonzero(ok)
    yy, gg = y[idx], grid[idx]
    step = grid[1] - grid[0]
    found, props = signal.find_peaks(
        yy, prominence=s["peak_prominence"] * yy.max(), width=max(s["peak_min_width_v"] / step, 1)
    )
    if not found.size:
        return np.zeros((0, len(PEAK_FIELDS)))
    keep = np.sort(np.argsort(-props["prominences"], kind="stable")[: s["max_peaks"]])
    found = found[keep]
    prominence = (props["prominences"][keep], props["left_bases"][keep], props["right_bases"][keep])
    widths = signal.peak_widths(yy, found, rel_height=0.5, prominence_data=prominence)
    rows = []
    for j, p in enumerate(found):
        lo, hi = int(np.floor(widths[2][j])), int(np.ceil(widths[3][j])) + 1
        area = float(np.trapezoid(yy[lo:hi], gg[lo:hi])) if hi - lo > 1 else 0.0
        rows.append((gg[p], curve[idx][p], prominence[0][j], widths[0][j] * step, area))
    return np.array(rows, dtype=float)


def dqdu_rows(t, u, i, st, spans, code: int, grid: np.ndarray, s: dict) -> np.ndarray:
    """For each record range in ``spans`` (one cycle each): the dQ/dU row on ``grid`` followed by
    ``max_peaks`` rows of :data:`PEAK_FIELDS`, flattened (NaN where there is nothing)."""
    t, u, i = (np.asarray(a, dtype=float) for a in (t, u, i))
    st = np.asarray(st)  # step codes are compared, not converted (a float copy per call)
    n_peak = s["max_peaks"]
    out = np.full((len(spans), grid.size + n_peak * len(PEAK_FIELDS)), np.nan)
    for row, (a, b) in enumerate(spans):
        mask = st[a:b] == code
        if mask.sum() < 3 or not grid.size:
            continue
        v, q = half_cycle_curve(t[a:b][mask], u[a:b][mask], i[a:b][mask], code)
        if v.size < 3:
            continue
        curve = differentiate(v, q, grid, code, s) * s["scale"]
        if code == DISCHARGE and s["discharge_negative"]:
            curve = -curve
        out[row, : grid.size] = curve
        peaks = find_curve_peaks(grid, curve, s)
        peak_block = np.full((n_peak, len(PEAK_FIELDS)), np.nan)
        peak_block[: len(peaks)] = peaks
        out[row, grid.size :] = peak_block.ravel()
    return out


def link_peaks(voltages: np.ndarray, tolerance_v: float) -> np.ndarray:
    """Track ids linking the peaks (rows: analysed cycles, NaN: no peak) of consecutive cycles:
    closest pairs within ``tolerance_v`` first; a peak without a partner starts a track (-1: no
    peak)."""
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
                if dist > tolerance_v or a in used_a or b in used_b:
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


def cycle_positions(ds: xr.Dataset, cycles) -> np.ndarray:
    """Positions of cycle numbers on the ``cycle`` dimension of ``ds``."""
    index = {int(c): k for k, c in enumerate(ds[CYCLE_DIM].values)}
    return np.array([index[int(c)] for c in cycles], dtype=np.int64)


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


class DifferentialCapacity(Analysis):
    """dQ/dU curves on a shared voltage grid, with peaks and their tracks over cycles.

    Every step and definition is in the module docstring of :mod:`batteryviz.analysis.dqdu`.
    """

    cycle_curves = ("charge_dqdu", "discharge_dqdu")

    cycles = parameters.cycles("every cycle")
    direction = param.Selector(
        default="both", objects=["charge", "discharge", "both"], doc="Half cycles to analyse."
    )
    n_points = param.Integer(
        default=333,
        bounds=(100, 1000),
        doc="Points of the voltage grid across the voltage range (ignored with voltage_step).",
    )
    voltage_step = param.Number(
        default=None,
        allow_None=True,
        bounds=(1e-5, 0.1),
        doc="Voltage grid step in V (overrides n_points).",
    )
    voltage_window = param.Range(
        default=None,
        allow_None=True,
        bounds=(-10, 10),
        doc="Only this voltage range (V). Default: the data's range.",
    )
    common_window = param.Boolean(
        default=False,
        doc="Restrict each direction to the voltage range every selected half cycle covers.",
    )
    method = param.Selector(
        default="linear",
        objects=["linear", "cubic", "smoothing_spline"],
        doc="Interpolation of Q(U) onto the grid: linear, monotone cubic (PCHIP) or a smoothing "
        "spline.",
    )
    smoothing = param.Selector(
        default="savgol",
        objects=["none", "savgol", "moving_average", "gaussian"],
        doc="Smoothing of Q on the grid before differentiation.",
    )
    smoothing_width_v = param.Number(
        default=0.02,
        bounds=(0, 1),
        doc="Smoothing width in volts: Savitzky-Golay / moving-average window, or 2x the Gaussian "
        "sigma.",
    )
    smoothing_points = param.Integer(
        default=None,
        allow_None=True,
        bounds=(3, 501),
        doc="Smoothing width in grid points (overrides smoothing_width_v).",
    )
    savgol_order = param.Integer(
        default=3, bounds=(1, 5), doc="Polynomial order of the Savitzky-Golay filter."
    )
    units = param.Selector(
        default="mAh/V", objects=list(UNITS), doc="Units of dQ/dU (mAh/g/V needs an active mass)."
    )
    active_mass_mg = param.Number(
        default=None,
        allow_None=True,
        bounds=(0, None),
        inclusive_bounds=(False, True),
        doc="Active mass in mg for mAh/g/V. Default: the file's metadata.",
    )
    discharge_sign = param.Selector(
        default="negative",
        objects=["negative", "absolute"],
        doc="Discharge dQ/dU negative (dQ/dU with Q the cell's charge) or as a magnitude.",
    )
    peak_prominence = param.Number(
        default=0.1, bounds=(0, 1), doc="Peak prominence relative to the curve's largest |dQ/dU|."
    )
    peak_min_width_v = param.Number(
        default=0.005, bounds=(0, 1), doc="Minimum peak width in V (at half prominence)."
    )
    max_peaks = param.Integer(
        default=10,
        bounds=(1, 50),
        doc="Most peaks kept per curve (the most prominent); the width of the peak tables.",
    )
    track_tolerance_v = param.Number(
        default=0.05,
        bounds=(0, 1),
        doc="Largest voltage shift between cycles for two peaks to belong to one track (V).",
    )
    cycle_mode = parameters.cycle_mode()

    requires = ("test_time_second", "voltage_volt", "current_ampere")

    def settings(self, scale: float) -> dict:
        """The per-curve settings as plain values (sent to workers with each task)."""
        keys = (
            "method",
            "smoothing",
            "smoothing_width_v",
            "smoothing_points",
            "savgol_order",
            "peak_prominence",
            "peak_min_width_v",
            "max_peaks",
        )
        values = self.param.values()
        return {
            **{k: values[k] for k in keys},
            "scale": scale,
            "discharge_negative": self.discharge_sign == "negative",
        }

    title = "dQ/dU"

    def key_figures(self, result: xr.Dataset) -> list[KeyFigure]:
        """Cycles drawn and peaks found."""
        return [
            KeyFigure("cycles", "Cycles", float(result.sizes.get("cycle", 0)), "{value:.0f}"),
            KeyFigure("peaks", "Peaks found", float(len(peak_table(result))), "{value:.0f}"),
        ]

    def tables(self, result: xr.Dataset) -> dict:
        """The curves as a long table (cycle, direction, voltage_v, dqdu), then the peaks."""
        return {"curves": dqdu_long(result), "peaks": peak_table(result)}

    def sheets(self, result: xr.Dataset) -> list:
        """ "dQdU Data" (the curves) and "Peak Data"."""
        return [("dQdU Data", dqdu_long(result)), ("Peak Data", peak_table(result))]

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Curves on ``(cycle, {direction}_voltage)``, peaks on ``(cycle, {direction}_peak)``,
        tracks.

        Lazy on a Dask-backed dataset (module docstring)."""
        self.check_inputs(ds)
        ds = with_cycle_structure(ds, self.cycle_mode, extents=True)
        ds, wanted = select_cycles(ds, self.cycles, self.cycle_mode)
        positions = cycle_positions(ds, wanted)
        directions = ["charge", "discharge"] if self.direction == "both" else [self.direction]
        scale, unit_note = self._scale(ds)
        s = self.settings(scale)

        out = xr.Dataset(coords={CYCLE_DIM: (CYCLE_DIM, np.asarray(wanted))})
        for name in directions:
            code = CHARGE if name == "charge" else DISCHARGE
            grid = self._grid(ds, name, positions)
            rows = apply_per_cycle(
                ds,
                ["test_time_second", "voltage_volt", "current_ampere", "step_type_resolved"],
                positions,
                dqdu_rows,
                grid.size + self.max_peaks * len(PEAK_FIELDS),
                code,
                grid,
                s,
            )
            self._assemble(out, name, grid, rows, unit_note)
        out.attrs.update(self.provenance())
        by_points = self.smoothing_points is not None
        width = f"{self.smoothing_points} points" if by_points else f"{self.smoothing_width_v} V"
        out.attrs["method"] = (
            f"monotonic part of each half cycle; Q = integral of |I| dt; {self.method} "
            f"interpolation onto a uniform voltage grid; {self.smoothing} smoothing of Q "
            f"({width}); gradient; peaks by prominence "
            f"{self.peak_prominence:g} x max |dQ/dU|, width >= {self.peak_min_width_v:g} V, at "
            f"most {self.max_peaks} per curve"
        )
        out.attrs["sign_convention"] = (
            "discharge dQ/dU negative"
            if self.discharge_sign == "negative"
            else "discharge dQ/dU as magnitude"
        )
        return out

    # -- steps ------------------------------------------------------------------------------
    def _scale(self, ds):
        if self.units != "mAh/g/V":
            return UNITS[self.units], self.units
        mass = (
            self.active_mass_mg
            if self.active_mass_mg is not None
            else ds.attrs.get("active_mass_mg")
        )
        if not mass:
            raise ValueError("units 'mAh/g/V' need an active mass: set active_mass_mg")
        return 1000.0 / (float(mass) / 1000.0), f"mAh/g/V (active mass {float(mass):g} mg)"

    def _grid(self, ds: xr.Dataset, name: str, positions: np.ndarray) -> np.ndarray:
        """The uniform voltage grid of one direction, from the extents of its half cycles."""
        lows = np.asarray(ds[f"cycle_{name}_voltage_low"].values, dtype=float)[positions]
        highs = np.asarray(ds[f"cycle_{name}_voltage_high"].values, dtype=float)[positions]
        ok = (
            (np.asarray(ds[f"cycle_{name}_records"].values)[positions] >= 3)
            & np.isfinite(lows)
            & np.isfinite(highs)
        )
        if not ok.any():
            return np.zeros(0)
        lows, highs = lows[ok], highs[ok]
        lo, hi = (lows.max(), highs.min()) if self.common_window else (lows.min(), highs.max())
        if self.voltage_window is not None:
            lo, hi = max(lo, self.voltage_window[0]), min(hi, self.voltage_window[1])
        if hi <= lo:
            return np.zeros(0)
        if self.voltage_step:
            return np.arange(lo, hi + 0.5 * self.voltage_step, self.voltage_step)
        return np.linspace(lo, hi, self.n_points)

    def _assemble(self, out: xr.Dataset, name: str, grid: np.ndarray, rows, unit_note: str) -> None:
        unit = unit_note.split(" (")[0]
        vdim, pdim = f"{name}_voltage", f"{name}_peak"
        out.coords[vdim] = (vdim, grid, {"units": "V", "long_name": f"Voltage ({name})"})
        out[f"{name}_dqdu"] = xr.DataArray(
            rows[:, : grid.size],
            dims=(CYCLE_DIM, vdim),
            attrs={
                "units": unit,
                "long_name": f"dQ/dU ({name})",
                "definition": f"gradient of the {name} capacity on a uniform voltage grid "
                f"({unit_note})",
            },
        )
        peaks = rows[:, grid.size :].reshape(rows.shape[0], self.max_peaks, len(PEAK_FIELDS))
        units = {
            "voltage": "V",
            "intensity": unit,
            "prominence": unit,
            "width": "V",
            "area": "Ah"
            if unit_note.startswith("Ah")
            else ("mAh/g" if "g" in unit_note else "mAh"),
        }
        for k, f in enumerate(PEAK_FIELDS):
            out[f"{name}_peak_{f}"] = xr.DataArray(
                peaks[:, :, k], dims=(CYCLE_DIM, pdim), attrs={"units": units[f]}
            )
        voltage = out[f"{name}_peak_voltage"].data
        if hasattr(voltage, "dask"):
            tracks = voltage.rechunk(-1).map_blocks(
                link_peaks, self.track_tolerance_v, dtype=np.int64
            )
        else:
            tracks = link_peaks(voltage, self.track_tolerance_v)
        out[f"{name}_peak_track"] = xr.DataArray(
            tracks,
            dims=(CYCLE_DIM, pdim),
            attrs={
                "long_name": "Peak track id (-1: no peak)",
                "definition": f"nearest peak of the previous analysed cycle within "
                f"{self.track_tolerance_v:g} V",
            },
        )


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
    out = xr.Dataset(
        {f: (("track", CYCLE_DIM), data[f]) for f in fields},
        coords={"track": np.arange(n_tracks), CYCLE_DIM: cycles},
    )
    # each field in the units of the peaks it regroups (the area of dQ/dU over V is a capacity)
    for f in fields:
        units = result[f"{direction}_peak_{f}"].attrs.get("units")
        if units is None and f in ("voltage", "width"):
            units = "V"
        elif units is None and f in ("intensity", "area"):
            curve = str(result[f"{direction}_dqdu"].attrs.get("units", ""))
            units = curve if f == "intensity" else curve.removesuffix("/V")
        out[f].attrs = {"units": units or "", "long_name": f"Peak {f}"}
    v = data["voltage"]
    first = np.array([row[np.isfinite(row)][0] if np.isfinite(row).any() else np.nan for row in v])
    out["voltage_shift"] = (("track", CYCLE_DIM), v - first[:, None])
    out["voltage_shift"].attrs = {
        "units": "V",
        "long_name": "Peak voltage relative to the track's first cycle",
    }
    out.attrs.update(result.attrs)
    return out
