"""Differential voltage dU/dQ (DVA) on a capacity or state-of-charge grid.

Capacity is the integral of ``|I|`` over each half cycle from 0 (so it only grows and U(Q) is a
function even where U turns); U is interpolated onto a uniform grid of ``n_points`` between 0
and the largest capacity of the selected half cycles (``x="capacity"``, in Ah) or onto 0–1 of
each half cycle's own capacity (``x="soc"``); U is smoothed (widths in grid points) and
differentiated. Units: V/Ah on the capacity grid, V on the SOC grid. The capacity grid's end is
the largest half-cycle capacity (:func:`batteryviz.cycles.half_cycle_extents`), known before any
curve is computed, so the analysis stays lazy on Dask-backed datasets.
"""

from __future__ import annotations

import numpy as np
import param
import xarray as xr
from scipy import ndimage

from ..chunking import apply_per_cycle, with_cycle_structure
from ..cycles import CHARGE, DISCHARGE, half_cycle_capacity, select_cycles
from ..schema import CYCLE_DIM
from . import parameters
from .base import Analysis
from .dqdu import cycle_positions, savgol_interp


def half_cycle_vq(t, u, i):
    """(capacity in Ah, voltage) of one half cycle's records where the capacity grows."""
    q = half_cycle_capacity(t, i)
    keep = np.r_[True, np.diff(q) > 0] & np.isfinite(u)
    return q[keep], u[keep]


def vq_table(ds: xr.Dataset, cycles=None, direction: str = "discharge", active_mass_mg=None):
    """Voltage against capacity of the chosen half cycles as one long table: ``cycle``,
    ``capacity_ah`` (or ``specific_capacity_mah_g`` with an active mass: capacity / mass) and
    ``voltage_v``, the records of each half cycle where its capacity grows (the V–Q curves)."""
    import pandas as pd

    from ..cycles import CHARGE, DISCHARGE, half_cycle_records, select_cycles

    if direction not in ("charge", "discharge"):
        raise ValueError("direction must be 'charge' or 'discharge'")
    ds, wanted = select_cycles(ds, cycles)
    code = CHARGE if direction == "charge" else DISCHARGE
    frames = []
    for c, records in half_cycle_records(ds, wanted, code).items():
        q, v = half_cycle_vq(*records)
        frames.append(pd.DataFrame({"cycle": c, "capacity_ah": q, "voltage_v": v}))
    table = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"cycle": [], "capacity_ah": [], "voltage_v": []})
    )
    if active_mass_mg:
        table["capacity_ah"] *= 1e6 / float(active_mass_mg)  # Ah → mAh per g of active mass
        table = table.rename(columns={"capacity_ah": "specific_capacity_mah_g"})
    table.attrs["direction"] = direction
    return table


class DifferentialVoltage(Analysis):
    """dU/dQ curves per cycle and direction."""

    cycle_curves = ("charge_dvdq", "discharge_dvdq")

    cycles = parameters.cycles("every cycle")
    direction = param.Selector(
        default="both", objects=["charge", "discharge", "both"], doc="Half cycles to analyse."
    )
    x = param.Selector(
        label="x axis",
        default="capacity",
        objects=["capacity", "soc"],
        doc="Grid: capacity in Ah, or 0-1 of each half cycle.",
    )
    n_points = param.Integer(default=500, bounds=(50, 5000), doc="Points of the grid.")
    smoothing = param.Selector(
        default="savgol",
        objects=["none", "savgol", "moving_average", "gaussian"],
        doc="Smoothing of U on the grid before differentiation.",
    )
    smoothing_points = param.Integer(
        default=15, bounds=(3, 501), doc="Smoothing width in grid points."
    )
    cycle_mode = parameters.cycle_mode()

    title = "dV/dQ"

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Curves on ``(cycle, {direction}_{x})``; lazy on a Dask-backed dataset chunked on whole
        cycles (the capacity grid comes from the half cycles' extents, one task per chunk)."""
        self.check_inputs(ds)
        ds = with_cycle_structure(ds, self.cycle_mode, extents=True)
        ds, wanted = select_cycles(ds, self.cycles, self.cycle_mode)
        positions = cycle_positions(ds, wanted)
        out = xr.Dataset(coords={CYCLE_DIM: wanted})
        directions = ["charge", "discharge"] if self.direction == "both" else [self.direction]
        s = {"x": self.x, "smoothing": self.smoothing, "smoothing_points": self.smoothing_points}
        for name in directions:
            code = CHARGE if name == "charge" else DISCHARGE
            enough = np.asarray(ds[f"cycle_{name}_records"].values)[positions] >= 5
            capacity = np.asarray(ds[f"cycle_{name}_capacity_ah"].values, dtype=float)[positions][
                enough
            ]
            qmax = float(capacity.max()) if capacity.size else 0.0
            grid = np.linspace(0, 1 if self.x == "soc" else qmax, self.n_points)
            values = apply_per_cycle(
                ds,
                ["test_time_second", "voltage_volt", "current_ampere", "step_type_resolved"],
                positions,
                dvdq_rows,
                grid.size,
                code,
                grid,
                s,
            )
            xdim = f"{name}_{self.x}"
            out = out.assign_coords(
                {xdim: (xdim, grid, {"units": "1" if self.x == "soc" else "Ah"})}
            )
            out[f"{name}_dvdq"] = xr.DataArray(
                values,
                dims=(CYCLE_DIM, xdim),
                attrs={
                    "units": "V" if self.x == "soc" else "V/Ah",
                    "long_name": f"dU/dQ ({name})",
                    "definition": f"gradient of U interpolated on a uniform {self.x} grid; "
                    f"{self.smoothing} smoothing over {self.smoothing_points} points",
                },
            )
        out.attrs.update(self.provenance())
        return out


def dvdq_rows(t, u, i, st, spans, code: int, grid: np.ndarray, s: dict) -> np.ndarray:
    """dU/dQ on ``grid`` for each record range in ``spans`` (one cycle each; NaN where empty)."""
    t, u, i = (np.asarray(a, dtype=float) for a in (t, u, i))
    st = np.asarray(st)  # step codes are compared, not converted (a float copy per call)
    values = np.full((len(spans), grid.size), np.nan)
    for row, (a, b) in enumerate(spans):
        mask = st[a:b] == code
        if mask.sum() < 5:
            continue
        q, v = half_cycle_vq(t[a:b][mask], u[a:b][mask], i[a:b][mask])
        if q.size < 2 or q[-1] <= 0:
            continue
        x = q / q[-1] if s["x"] == "soc" else q
        inside = (grid >= x[0]) & (grid <= x[-1])
        if inside.sum() < 5:
            continue
        g = grid[inside]
        vg = np.interp(g, x, v)
        w = s["smoothing_points"]
        if s["smoothing"] == "savgol" and w < vg.size:
            w = w if w % 2 else w + 1
            vg = savgol_interp(vg, w, min(3, w - 1))
        elif s["smoothing"] == "moving_average":
            vg = ndimage.uniform_filter1d(vg, w, mode="nearest")
        elif s["smoothing"] == "gaussian":
            vg = ndimage.gaussian_filter1d(vg, w / 2.0, mode="nearest")
        values[row, inside] = np.gradient(vg, g)
    return values
