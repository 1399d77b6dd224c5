"""Cycle and calendar ageing: capacity fade, fits with uncertainties, end of life, knee.

Models (``y`` = discharge capacity in Ah, ``x`` = cycle number, equivalent full cycles or
storage time)
    linear      ``y = a + b x``
    sqrt        ``y = a + b sqrt(x)``        (SEI-limited fade; calendar ageing)
    power       ``y = a + b x^c``
Fits are least squares (:func:`scipy.optimize.curve_fit`); parameter standard errors are the
square roots of the covariance diagonal. The model with the lowest Akaike information
criterion is ``best_model``.

End of life
    The first cycle whose retention is below ``threshold_percent`` (default 80 %). If none is,
    the best model is extrapolated to the threshold and an interval is given from 1,000 draws of
    its parameters (multivariate normal with the fit covariance; 2.5–97.5 percentiles).
Knee
    Where slow fade turns into fast fade, the retention curve bends down and lies above the
    straight line joining its ends; the knee is the point farthest above that line
    (Kneedle-style), reported only when the distance exceeds ``knee_min_drop_percent``.
Calendar ageing
    Check-ups are the cycles that follow a rest of at least ``min_storage_h``; storage time is
    the rest time accumulated before each check-up. Capacity (and DC resistance where the data
    give one) at each check-up is fitted against storage time with the sqrt model.
"""

from __future__ import annotations

import warnings

import numpy as np
import param
import xarray as xr
from scipy import optimize

from .base import Analysis
from .summary import CycleSummary

MODELS = {
    "linear": (lambda x, a, b: a + b * x, ("a", "b")),
    "sqrt": (lambda x, a, b: a + b * np.sqrt(np.clip(x, 0, None)), ("a", "b")),
    "power": (lambda x, a, b, c: a + b * np.power(np.clip(x, 1e-12, None), c), ("a", "b", "c")),
}


def fit_model(name: str, x: np.ndarray, y: np.ndarray) -> dict:
    """Least-squares fit of one model; parameters, standard errors, covariance, AIC."""
    f, names = MODELS[name]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < len(names) + 1:
        return {"model": name, "ok": False, "reason": f"{x.size} points for {len(names)} parameters"}
    span = (y.max() - y.min()) or 1.0
    p0 = {"linear": (y[0], (y[-1] - y[0]) / max(x[-1] - x[0], 1e-12)),
          "sqrt": (y[0], (y[-1] - y[0]) / max(np.sqrt(max(x[-1], 0)) - np.sqrt(max(x[0], 0)), 1e-12)),
          "power": (y[0], -span / max(x[-1], 1e-12), 1.0)}[name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)
            popt, pcov = optimize.curve_fit(f, x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        return {"model": name, "ok": False, "reason": str(exc)}
    resid = y - f(x, *popt)
    rss = float(np.sum(resid**2))
    n, k = x.size, len(names)
    aic = n * np.log(max(rss, 1e-300) / n) + 2 * k
    stderr = np.sqrt(np.clip(np.diag(pcov), 0, None)) if np.all(np.isfinite(pcov)) else np.full(k, np.nan)
    return {"model": name, "ok": True, "params": popt, "stderr": stderr, "cov": pcov, "names": names,
            "rss": rss, "aic": float(aic), "r2": 1 - rss / max(float(np.sum((y - y.mean()) ** 2)), 1e-300)}


def crossing(fit: dict, level: float, x_max: float, rng: np.random.Generator, draws: int = 1000) -> tuple[float, float, float]:
    """x where the fitted model reaches ``level`` (median over parameter draws, 2.5 and 97.5 %)."""
    f, _ = MODELS[fit["model"]]
    grid = np.linspace(0, x_max, 20001)

    def first_below(params):
        y = f(grid, *params)
        below = np.flatnonzero(y <= level)
        return grid[below[0]] if below.size else np.nan

    central = first_below(fit["params"])
    cov = fit["cov"]
    if not np.all(np.isfinite(cov)):
        return central, np.nan, np.nan
    samples = rng.multivariate_normal(fit["params"], cov, size=draws, check_valid="ignore")
    xs = np.array([first_below(p) for p in samples])
    xs = xs[np.isfinite(xs)]
    if xs.size < draws * 0.5:
        return central, np.nan, np.nan
    return central, float(np.percentile(xs, 2.5)), float(np.percentile(xs, 97.5))


def knee(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(x at the knee, distance above the chord in y units)."""
    if x.size < 5:
        return np.nan, 0.0
    chord = y[0] + (y[-1] - y[0]) * (x - x[0]) / (x[-1] - x[0])
    above = y - chord
    k = int(np.argmax(above))
    return float(x[k]), float(above[k])


def _fits_dataset(x, y, models, reference, threshold, x_max, rng):
    fits = {m: fit_model(m, x, y) for m in models}
    good = {m: f for m, f in fits.items() if f["ok"]}
    best = min(good, key=lambda m: good[m]["aic"]) if good else None
    out = {}
    for m, f in fits.items():
        if not f["ok"]:
            continue
        for name, value, err in zip(f["names"], f["params"], f["stderr"]):
            out[f"{m}_{name}"] = ((), value, {"stderr": float(err)})
        out[f"{m}_r2"] = ((), f["r2"])
        out[f"{m}_aic"] = ((), f["aic"])
    return fits, best, out


class CycleLife(Analysis):
    """Capacity and retention against cycle number or equivalent full cycles, with fits."""

    cycles = param.List(default=None, allow_None=True, item_type=int,
                        doc="Cycles to analyse. Default: per `selection`.")
    selection = param.Selector(default="all", objects=["all", "longest_block"],
                               doc="'all' complete cycles, or the longest run at one (charge, discharge) rate (the ageing block).")
    x = param.Selector(default="cycle", objects=["cycle", "equivalent_full_cycles"], doc="Ageing axis.")
    models = param.ListSelector(default=["linear", "sqrt", "power"], objects=list(MODELS), doc="Models to fit.")
    threshold_percent = param.Number(default=80.0, bounds=(1, 100), doc="End-of-life retention threshold (%).")
    knee_min_drop_percent = param.Number(default=1.0, bounds=(0, 100),
                                         doc="Smallest distance (percentage points of retention) above the chord to report a knee.")
    nominal_capacity_mah = param.Number(default=None, allow_None=True, bounds=(0, None), inclusive_bounds=(False, True),
                                        doc="Nominal capacity (mAh) for equivalent full cycles and C-rates.")
    cycle_mode = param.Selector(default="auto", objects=["auto", "cycler", "charge_first", "discharge_first"],
                                doc="Cycle rule (see batteryviz.cycles).")
    seed = param.Integer(default=0, bounds=(0, None), doc="Random seed of the end-of-life interval draws.")

    def plot(self, result: xr.Dataset):
        """Retention with the fitted models."""
        from .. import plots

        return plots.cycle_life(result)

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        summary = ds if "discharge_capacity_ah" in ds and "record" not in ds.dims else CycleSummary(
            cycle_mode=self.cycle_mode, nominal_capacity_mah=self.nominal_capacity_mah).compute(ds)
        cycles = summary["cycle"].values
        complete = summary["complete"].values.astype(bool)
        if self.cycles is not None:
            sel = np.isin(cycles, self.cycles) & complete
        elif self.selection == "longest_block":
            from .rate import blocks, snap_rates

            c = snap_rates(summary["charge_c_rate"].values, 0.1)
            d = snap_rates(summary["discharge_c_rate"].values, 0.1)
            a, b = max(blocks(c, d), key=lambda ab: ab[1] - ab[0])
            sel = np.zeros(cycles.size, dtype=bool)
            sel[a : b + 1] = True
            sel &= complete
        else:
            sel = complete
        if sel.sum() < 3:
            raise ValueError(f"{int(sel.sum())} complete cycle(s) selected; cycle-life fits need at least 3")
        xc = cycles[sel].astype(float)
        xv = xc if self.x == "cycle" else summary["equivalent_full_cycles"].values[sel]
        q = summary["discharge_capacity_ah"].values[sel]
        retention = 100 * q / q[0]
        rng = np.random.default_rng(self.seed)
        fits, best, fit_vars = _fits_dataset(xv, q, self.models, q[0], None, None, rng)
        level = q[0] * self.threshold_percent / 100
        below = np.flatnonzero(retention < self.threshold_percent)
        if below.size:
            eol, lo, hi, how = float(xv[below[0]]), np.nan, np.nan, "observed"
        elif best is not None:
            span = xv[-1] - xv[0]
            eol, lo, hi = crossing(fits[best], level, xv[-1] + 50 * max(span, 1.0), rng)
            how = f"projected with the {best} model"
        else:
            eol, lo, hi, how = np.nan, np.nan, np.nan, "no fit"
        kx, kdrop = knee(xv, retention)
        lin = fits.get("linear")
        fade = -lin["params"][1] / q[0] * 100 if lin and lin["ok"] else np.nan
        fade_err = lin["stderr"][1] / q[0] * 100 if lin and lin["ok"] else np.nan
        out = xr.Dataset(
            {
                "discharge_capacity_ah": ("cycle", q, {"units": "Ah"}),
                "retention_percent": ("cycle", retention, {"units": "%", "definition": f"relative to cycle {int(xc[0])}"}),
                "x": ("cycle", xv, {"long_name": self.x}),
                "fade_percent_per_x": ((), fade, {"units": "%", "stderr": float(fade_err),
                                                  "definition": f"-(linear slope) / capacity of cycle {int(xc[0])} x 100, per {self.x}"}),
                "end_of_life": ((), eol, {"definition": f"{self.x} where retention falls below {self.threshold_percent:g} % ({how})",
                                          "interval_low": lo, "interval_high": hi}),
                "knee": ((), kx if kdrop >= self.knee_min_drop_percent else np.nan,
                         {"definition": "farthest point of the retention curve above the chord joining its ends",
                          "distance_percent": kdrop}),
            },
            coords={"cycle": ("cycle", cycles[sel])},
        )
        for name, spec in fit_vars.items():
            dims, value, *attrs = spec
            out[name] = xr.Variable(dims, value, attrs[0] if attrs else {})
        out.attrs.update(self.provenance())
        out.attrs["best_model"] = best or ""
        out.attrs["models"] = "linear: a + b x; sqrt: a + b sqrt(x); power: a + b x^c (least squares, stderr from covariance)"
        return out


class CalendarAging(Analysis):
    """Check-up capacity (and resistance) against storage time, with a sqrt(t) fit."""

    min_storage_h = param.Number(default=24.0, bounds=(0, None), doc="A rest at least this long is storage; the cycle after it is a check-up.")
    time_unit = param.Selector(default="day", objects=["hour", "day", "week"], doc="Unit of storage time in the result.")
    models = param.ListSelector(default=["sqrt", "linear"], objects=list(MODELS), doc="Models to fit against storage time.")
    cycle_mode = param.Selector(default="auto", objects=["auto", "cycler", "charge_first", "discharge_first"],
                                doc="Cycle rule (see batteryviz.cycles).")

    def plot(self, result: xr.Dataset):
        """Check-up retention against storage time."""
        import holoviews as hv

        x = result["storage_time"].values
        return hv.Scatter((x, result["retention_percent"].values), f"Storage time ({self.time_unit})", "Retention (%)").opts(
            size=8, width=650, height=330, title=f"Calendar ageing (best: {result.attrs.get('best_model', '')})")

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        from ..cycles import assign_cycles

        cyc = assign_cycles(ds, self.cycle_mode)
        summary = CycleSummary(cycle_mode=self.cycle_mode).compute(cyc)
        t = np.asarray(cyc["test_time_second"].values, dtype=float)
        st = np.asarray(cyc["step_type_resolved"].values)
        starts = cyc["cycle_start"].values
        # longest rest before each cycle's first active record
        active = np.flatnonzero((st == 1) | (st == 2))
        rest_before = np.zeros(starts.size)
        first_active = np.searchsorted(active, starts)
        for k, s in enumerate(starts):
            j = first_active[k]
            if j >= active.size:
                continue
            a = active[j]
            prev = active[j - 1] if j > 0 else 0
            rest_before[k] = t[a] - t[prev]
        storage = rest_before >= self.min_storage_h * 3600
        checkups = np.flatnonzero(storage)
        if checkups.size == 0:
            raise ValueError(f"no storage period of {self.min_storage_h:g} h or more found; set min_storage_h")
        # include the initial check-up (the first complete cycle before any storage)
        idx = np.r_[0, checkups] if checkups[0] != 0 else checkups
        scale = {"hour": 3600.0, "day": 86400.0, "week": 604800.0}[self.time_unit]
        stored = np.cumsum(np.where(storage, rest_before, 0.0))[idx] / scale
        q = summary["discharge_capacity_ah"].values[idx]
        out = xr.Dataset(
            {
                "storage_time": ("checkup", stored, {"units": self.time_unit, "definition": f"sum of rests >= {self.min_storage_h:g} h before the check-up"}),
                "discharge_capacity_ah": ("checkup", q, {"units": "Ah"}),
                "retention_percent": ("checkup", 100 * q / q[0], {"units": "%"}),
                "cycle": ("checkup", summary["cycle"].values[idx]),
            }
        )
        if "discharge_dc_resistance_ohm" in summary and np.isfinite(summary["discharge_dc_resistance_ohm"].values[idx]).any():
            out["dc_resistance_ohm"] = ("checkup", summary["discharge_dc_resistance_ohm"].values[idx], {"units": "ohm"})
        rng = np.random.default_rng(0)
        fits, best, fit_vars = _fits_dataset(stored, q, self.models, q[0], None, None, rng)
        for name, spec in fit_vars.items():
            dims, value, *attrs = spec
            out[name] = xr.Variable(dims, value, attrs[0] if attrs else {})
        out.attrs.update(self.provenance())
        out.attrs["best_model"] = best or ""
        return out
