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

from ..chunking import lazy_call, with_cycle_structure
from . import parameters
from .base import Analysis, KeyFigure
from .summary import CycleSummary, require_cycles

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
        return {
            "model": name,
            "ok": False,
            "reason": f"{x.size} points for {len(names)} parameters",
        }
    span = (y.max() - y.min()) or 1.0
    p0 = {
        "linear": (y[0], (y[-1] - y[0]) / max(x[-1] - x[0], 1e-12)),
        "sqrt": (y[0], (y[-1] - y[0]) / max(np.sqrt(max(x[-1], 0)) - np.sqrt(max(x[0], 0)), 1e-12)),
        "power": (y[0], -span / max(x[-1], 1e-12), 1.0),
    }[name]
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
    stderr = (
        np.sqrt(np.clip(np.diag(pcov), 0, None))
        if np.all(np.isfinite(pcov))
        else np.full(k, np.nan)
    )
    return {
        "model": name,
        "ok": True,
        "params": popt,
        "stderr": stderr,
        "cov": pcov,
        "names": names,
        "rss": rss,
        "aic": float(aic),
        "r2": 1 - rss / max(float(np.sum((y - y.mean()) ** 2)), 1e-300),
    }


def crossing(
    fit: dict, level: float, x_max: float, rng: np.random.Generator, draws: int = 1000
) -> tuple[float, float, float]:
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


#: Per model in a fit vector: up to 3 parameters, their standard errors, R², AIC.
FIT_WIDTH = 8


def fit_vector(x: np.ndarray, y: np.ndarray, models: list[str]) -> tuple[np.ndarray, dict]:
    """Fits of ``models`` as one flat vector (:data:`FIT_WIDTH` per model, NaN where a fit
    failed, then the position of the best model by AIC, -1 for none) and the fits themselves."""
    fits = {m: fit_model(m, x, y) for m in models}
    vec = np.full(FIT_WIDTH * len(models) + 1, np.nan)
    for k, m in enumerate(models):
        f = fits[m]
        if f["ok"]:
            n = len(f["params"])
            vec[FIT_WIDTH * k : FIT_WIDTH * k + n] = f["params"]
            vec[FIT_WIDTH * k + 3 : FIT_WIDTH * k + 3 + n] = f["stderr"]
            vec[FIT_WIDTH * k + 6 : FIT_WIDTH * k + 8] = f["r2"], f["aic"]
    good = [m for m in models if fits[m]["ok"]]
    vec[-1] = models.index(min(good, key=lambda m: fits[m]["aic"])) if good else -1
    return vec, fits


def fit_variables(vec, models: list[str], dims=()) -> dict[str, xr.Variable]:
    """Variables of a fit vector (numpy or Dask): ``{model}_{param}`` with ``_stderr``,
    ``{model}_r2``, ``{model}_aic`` for every model, and ``best_model`` (CF flag values)."""
    out = {}
    for k, m in enumerate(models):
        for j, name in enumerate(MODELS[m][1]):
            out[f"{m}_{name}"] = xr.Variable(
                dims, vec[FIT_WIDTH * k + j], {"long_name": f"{m} model parameter {name}"}
            )
            out[f"{m}_{name}_stderr"] = xr.Variable(
                dims, vec[FIT_WIDTH * k + 3 + j], {"long_name": f"standard error of {m}_{name}"}
            )
        out[f"{m}_r2"] = xr.Variable(
            dims, vec[FIT_WIDTH * k + 6], {"long_name": f"R² of the {m} fit"}
        )
        out[f"{m}_aic"] = xr.Variable(
            dims,
            vec[FIT_WIDTH * k + 7],
            {"long_name": f"Akaike information criterion of the {m} fit"},
        )
    out["best_model"] = flag_variable(
        vec[FIT_WIDTH * len(models)], models, "model with the lowest AIC", dims
    )
    return out


def fit_only(x, y, models: list[str]) -> np.ndarray:
    """The vector of :func:`fit_vector` alone (a task's result)."""
    return fit_vector(np.asarray(x, dtype=float), np.asarray(y, dtype=float), models)[0]


def flag_variable(code, meanings: list[str], long_name: str, dims=()) -> xr.Variable:
    """An integer variable whose values name one of ``meanings`` (CF ``flag_values`` /
    ``flag_meanings``; -1: none). Read it with :func:`flag_name`."""
    return xr.Variable(
        dims,
        code.astype(np.int8) if hasattr(code, "astype") else np.int8(code),
        {
            "long_name": long_name,
            "flag_values": np.arange(-1, len(meanings), dtype=np.int8),
            "flag_meanings": " ".join(["none", *meanings]),
        },
    )


def flag_name(var: xr.DataArray) -> str:
    """The meaning of a 0-d flag variable made by :func:`flag_variable` (e.g. ``"sqrt"``)."""
    meanings = var.attrs["flag_meanings"].split()
    return meanings[int(var.values) + 1]


def fitted_curves(result: xr.Dataset, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each model fitted in a :class:`CycleLife` or :class:`CalendarAging` result evaluated at
    ``x`` (in the result's capacity unit), for the models whose parameters are all finite."""
    out = {}
    for name, (f, names) in MODELS.items():
        keys = [f"{name}_{p}" for p in names]
        if all(k in result for k in keys):
            values = [float(result[k]) for k in keys]
            if np.isfinite(values).all():
                out[name] = f(np.asarray(x, dtype=float), *values)
    return out


END_OF_LIFE_METHODS = ["observed", "projected"]


class VectorLayout:
    """Named parts of one flat vector: what a lazy task returns (one array of known shape) when
    it computes several numbers. ``pack`` fills it by name, ``unpack`` reads it back by name
    (a part of size 1 as a scalar), so no caller counts offsets."""

    def __init__(self, **sizes: int) -> None:
        self.slices, start = {}, 0
        for name, size in sizes.items():
            self.slices[name] = slice(start, start + size)
            start += size
        self.size = start

    def pack(self, **values) -> np.ndarray:
        vec = np.full(self.size, np.nan)
        for name, value in values.items():
            vec[self.slices[name]] = value
        return vec

    def unpack(self, vec) -> dict:
        return {
            name: vec[sl.start] if sl.stop - sl.start == 1 else vec[sl]
            for name, sl in self.slices.items()
        }


#: The single numbers of a cell's cycle-life analysis, in their order in the vector.
CYCLE_LIFE_NUMBERS = (
    "fade",
    "fade_stderr",
    "end_of_life",
    "end_of_life_low",
    "end_of_life_high",
    "end_of_life_method",
    "knee_x",
    "knee_drop",
    "x0",
)


def cycle_life_layout(n_models: int, n_cycles: int) -> VectorLayout:
    """The vector :func:`cycle_life_vector` returns: the fits (:func:`fit_vector`), the
    :data:`CYCLE_LIFE_NUMBERS`, then retention and "used in the fits" per cycle."""
    return VectorLayout(
        fits=FIT_WIDTH * n_models + 1,
        **dict.fromkeys(CYCLE_LIFE_NUMBERS, 1),
        retention=n_cycles,
        used=n_cycles,
    )


def cycle_life_vector(
    x,
    q,
    complete,
    c_rate,
    d_rate,
    selection: str,
    models: list[str],
    threshold: float,
    seed: int,
    reference_ah=np.nan,
) -> np.ndarray:
    """The numbers of :class:`CycleLife` for one cell, as one vector laid out by
    :func:`cycle_life_layout` (a lazy task returns one array). Retention, the end-of-life
    threshold and the fade are relative to ``reference_ah`` (the reference cycle's discharge
    capacity), or to the first fitted cycle's when it is NaN."""
    from .rate import blocks, snap_rates

    x, q = np.asarray(x, dtype=float), np.asarray(q, dtype=float)
    n = x.size
    used = np.asarray(complete, dtype=bool) & np.isfinite(q) & np.isfinite(x)
    if selection == "longest_block" and n:
        c, d = (
            snap_rates(np.asarray(c_rate, dtype=float), 0.1),
            snap_rates(np.asarray(d_rate, dtype=float), 0.1),
        )
        a, b = max(blocks(c, d), key=lambda ab: ab[1] - ab[0])
        block = np.zeros(n, dtype=bool)
        block[a : b + 1] = True
        used &= block
    layout = cycle_life_layout(len(models), n)
    retention = np.full(n, np.nan)
    if used.sum() >= 3:
        xv, qv = x[used], q[used]
        q_ref = float(reference_ah) if np.isfinite(reference_ah) else qv[0]
        retention = 100 * q / q_ref
        rv = retention[used]
        rng = np.random.default_rng(seed)
        fits_vec, fits = fit_vector(xv, qv, models)
        best = models[int(fits_vec[-1])] if fits_vec[-1] >= 0 else None
        below = np.flatnonzero(rv < threshold)
        if below.size:
            eol, lo, hi, how = float(xv[below[0]]), np.nan, np.nan, 0
        elif best is not None:
            span = xv[-1] - xv[0]
            eol, lo, hi = crossing(
                fits[best], q_ref * threshold / 100, xv[-1] + 50 * max(span, 1.0), rng
            )
            how = 1
        else:
            eol, lo, hi, how = np.nan, np.nan, np.nan, -1
        kx, kdrop = knee(xv, rv)
        lin = fits.get("linear")
        fade = -lin["params"][1] / q_ref * 100 if lin and lin["ok"] else np.nan
        fade_err = lin["stderr"][1] / q_ref * 100 if lin and lin["ok"] else np.nan
        numbers = (fade, fade_err, eol, lo, hi, how, kx, kdrop, xv[0])
        return layout.pack(
            fits=fits_vec,
            **dict(zip(CYCLE_LIFE_NUMBERS, numbers)),
            retention=retention,
            used=used.astype(float),
        )
    no_fits = np.full(layout.slices["fits"].stop, np.nan)
    no_fits[-1] = -1  # best model: none
    return layout.pack(
        fits=no_fits, end_of_life_method=-1, retention=retention, used=used.astype(float)
    )


class CycleLife(Analysis):
    """Capacity and retention against cycle number or equivalent full cycles, with fits."""

    cycles = parameters.cycles("per `selection`")
    selection = param.Selector(
        default="all",
        objects=["all", "longest_block"],
        doc="'all' complete cycles, or the longest run at one (charge, discharge) rate (the ageing "
        "block).",
    )
    x = param.Selector(
        label="Ageing axis",
        default="cycle",
        objects=["cycle", "equivalent_full_cycles"],
        doc="Ageing axis.",
    )
    models = param.ListSelector(
        default=["linear", "sqrt", "power"], objects=list(MODELS), doc="Models to fit."
    )
    threshold_percent = param.Number(
        default=80.0, bounds=(1, 100), doc="End-of-life retention threshold (%)."
    )
    knee_min_drop_percent = param.Number(
        default=1.0,
        bounds=(0, 100),
        doc="Smallest distance (percentage points of retention) above the chord to report a knee.",
    )
    nominal_capacity_mah = parameters.nominal_capacity_mah("equivalent full cycles and C-rates")
    cycle_mode = parameters.cycle_mode()
    seed = param.Integer(
        default=0, bounds=(0, None), doc="Random seed of the end-of-life interval draws."
    )
    reference_cycle = param.Integer(
        default=None,
        allow_None=True,
        bounds=(0, None),
        doc="Cycle that retention, the end-of-life threshold and the fade are relative to (as "
        "in the cycle summary). Default: the first cycle used in the fits.",
    )

    title = "Cycle ageing"

    def key_figures(self, result: xr.Dataset) -> list[KeyFigure]:
        """End of life (with its 95 % interval), knee and fade, on the result's ageing axis."""
        axis = str(result["x"].attrs.get("long_name", "cycle")).replace("_", " ")
        out = []
        for name, label in (
            ("end_of_life", f"End of life ({axis})"),
            ("end_of_life_low", "EoL 2.5 %"),
            ("end_of_life_high", "EoL 97.5 %"),
            ("knee", f"Knee ({axis})"),
            ("fade_percent_per_x", f"Fade (%/{axis})"),
        ):
            if name in result:
                fmt = "{value:.3f}" if name.startswith("fade") else "{value:.0f}"
                out.append(KeyFigure(name, label, float(result[name]), fmt))
        return out

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Retention, fits, end of life and knee on the ``cycle`` dimension.

        Rows are every cycle that holds a charge and a discharge (of ``cycles`` when given);
        ``used_in_fit`` marks those the fits use (complete by value, and in the ageing block
        with ``selection="longest_block"``). Lazy on a Dask-backed dataset: the summary is, and
        the fits are one more task.
        """
        if "record" in ds.dims:
            ds = with_cycle_structure(ds, self.cycle_mode)
        summary = (
            ds
            if "discharge_capacity_ah" in ds and "record" not in ds.dims
            else CycleSummary(
                cycle_mode=self.cycle_mode, nominal_capacity_mah=self.nominal_capacity_mah
            ).compute(ds)
        )
        require_cycles(summary, "cycle ageing")
        cycles = summary["cycle"].values
        structural = self._structurally_complete(ds, summary)
        if self.cycles is not None:
            structural &= np.isin(cycles, self.cycles)
        if structural.sum() < 3:
            raise ValueError(
                f"{int(structural.sum())} complete cycle(s) selected; cycle-life fits need at "
                f"least 3"
            )
        rows = summary.isel(cycle=np.flatnonzero(structural))
        reference_ah, reference_text = np.nan, "the first cycle used in the fits"
        if self.reference_cycle is not None:
            if self.reference_cycle not in cycles:
                raise ValueError(
                    f"reference cycle {self.reference_cycle} is not in the data (cycles "
                    f"{cycles.min()}–{cycles.max()}); leave it empty for the first fitted cycle"
                )
            reference_ah = summary["discharge_capacity_ah"].sel(cycle=self.reference_cycle).data
            reference_text = f"cycle {self.reference_cycle}"
            if not hasattr(reference_ah, "dask") and not float(reference_ah) > 0:
                raise ValueError(
                    f"reference cycle {self.reference_cycle} has no discharge capacity "
                    f"({float(reference_ah):g} Ah): choose a complete cycle, or leave it empty "
                    "for the first fitted cycle"
                )
        xv = (
            rows["cycle"].values.astype(float)
            if self.x == "cycle"
            else rows["equivalent_full_cycles"].data
        )
        q = rows["discharge_capacity_ah"].data
        models = list(self.models)
        layout = cycle_life_layout(len(models), rows.sizes["cycle"])
        vec = lazy_call(
            cycle_life_vector,
            (layout.size,),
            xv,
            q,
            rows["complete"].data,
            rows["charge_c_rate"].data,
            rows["discharge_c_rate"].data,
            self.selection,
            models,
            self.threshold_percent,
            self.seed,
            reference_ah,
        )
        parts = layout.unpack(vec)
        fade, fade_err, eol, lo, hi, how, kx, kdrop, x0 = (parts[k] for k in CYCLE_LIFE_NUMBERS)
        knee_x = _where(kdrop >= self.knee_min_drop_percent, kx, np.nan)
        out = xr.Dataset(
            {
                "discharge_capacity_ah": ("cycle", q, {"units": "Ah"}),
                "retention_percent": (
                    "cycle",
                    parts["retention"],
                    {
                        "units": "%",
                        "definition": f"discharge capacity relative to {reference_text}",
                    },
                ),
                "used_in_fit": (
                    "cycle",
                    parts["used"] > 0.5,
                    {"long_name": "Cycle used in the fits"},
                ),
                "x": ("cycle", xv, {"long_name": self.x}),
                "fade_percent_per_x": (
                    (),
                    fade,
                    {
                        "units": "%",
                        "definition": f"-(linear slope) / capacity of {reference_text} x 100, "
                        f"per {self.x}",
                    },
                ),
                "fade_percent_per_x_stderr": ((), fade_err, {"units": "%"}),
                "end_of_life": (
                    (),
                    eol,
                    {
                        "definition": f"{self.x} where retention falls below "
                        f"{self.threshold_percent:g} %: "
                        "observed, or projected with the best model (end_of_life_method)"
                    },
                ),
                "end_of_life_low": (
                    (),
                    lo,
                    {"definition": "2.5 % percentile of the projection over 1,000 parameter draws"},
                ),
                "end_of_life_high": (
                    (),
                    hi,
                    {
                        "definition": "97.5 % percentile of the projection over 1,000 parameter "
                        "draws"
                    },
                ),
                "knee": (
                    (),
                    knee_x,
                    {
                        "definition": "farthest point of the retention curve above the chord "
                        "joining its ends, "
                        f"if at least {self.knee_min_drop_percent:g} percentage points above"
                    },
                ),
                "knee_distance_percent": ((), kdrop, {"units": "%"}),
            },
            coords={"cycle": ("cycle", rows["cycle"].values)},
        )
        out["end_of_life_method"] = flag_variable(
            how, END_OF_LIFE_METHODS, "how the end of life was found"
        )
        out = out.assign(fit_variables(parts["fits"], models))
        out.attrs.update(self.provenance())
        out.attrs["models"] = (
            "linear: a + b x; sqrt: a + b sqrt(x); power: a + b x^c (least squares, stderr from "
            "covariance)"
        )
        return out

    @staticmethod
    def _structurally_complete(ds: xr.Dataset, summary: xr.Dataset) -> np.ndarray:
        """Cycles holding a charge and a discharge: from the cycle structure of ``ds`` (known
        without the values) when it is the summary's, else from the summary's values."""
        if "cycle_has_charge" in ds and np.array_equal(ds["cycle"].values, summary["cycle"].values):
            return np.asarray(
                ds["cycle_has_charge"].values & ds["cycle_has_discharge"].values, dtype=bool
            )
        return np.asarray(summary["complete"].values, dtype=bool)


def _where(condition, a, b):
    """``np.where`` that stays lazy on Dask arrays."""
    if hasattr(condition, "dask"):
        import dask.array as da

        return da.where(condition, a, b)
    return np.where(condition, a, b)


class CalendarAging(Analysis):
    """Check-up capacity (and resistance) against storage time, with a sqrt(t) fit."""

    min_storage_h = param.Number(
        default=24.0,
        bounds=(0, None),
        doc="A rest at least this long is storage; the cycle after it is a check-up.",
    )
    time_unit = param.Selector(
        default="day", objects=["hour", "day", "week"], doc="Unit of storage time in the result."
    )
    models = param.ListSelector(
        default=["sqrt", "linear"], objects=list(MODELS), doc="Models to fit against storage time."
    )
    cycle_mode = parameters.cycle_mode()

    title = "Calendar ageing"

    def compute(self, ds: xr.Dataset) -> xr.Dataset:
        """Check-ups on the ``checkup`` dimension; lazy on a Dask-backed dataset (the check-ups
        are found from the rests the cycle structure records, the capacities and fits are lazy)."""
        ds = with_cycle_structure(ds, self.cycle_mode, extents=True)
        summary = CycleSummary(cycle_mode=self.cycle_mode).compute(ds)
        rest_before = np.asarray(ds["cycle_rest_before_s"].values, dtype=float)
        storage = rest_before >= self.min_storage_h * 3600
        checkups = np.flatnonzero(storage)
        if checkups.size == 0:
            raise ValueError(
                f"no storage period of {self.min_storage_h:g} h or more found; set min_storage_h"
            )
        # include the initial check-up (the first cycle, before any storage)
        idx = np.r_[0, checkups] if checkups[0] != 0 else checkups
        scale = {"hour": 3600.0, "day": 86400.0, "week": 604800.0}[self.time_unit]
        stored = np.cumsum(np.where(storage, rest_before, 0.0))[idx] / scale
        q = summary["discharge_capacity_ah"].data[idx]
        out = xr.Dataset(
            {
                "storage_time": (
                    "checkup",
                    stored,
                    {
                        "units": self.time_unit,
                        "definition": f"sum of rests >= {self.min_storage_h:g} h before the "
                        f"check-up",
                    },
                ),
                "discharge_capacity_ah": ("checkup", q, {"units": "Ah"}),
                "retention_percent": (
                    "checkup",
                    100 * q / q[0],
                    {"units": "%", "definition": "relative to the first check-up"},
                ),
                "cycle": ("checkup", summary["cycle"].values[idx]),
            }
        )
        if "discharge_dc_resistance_ohm" in summary:
            out["dc_resistance_ohm"] = (
                "checkup",
                summary["discharge_dc_resistance_ohm"].data[idx],
                {
                    "units": "ohm",
                    "definition": "DC resistance at the opening of the check-up's discharge (NaN: "
                    "none)",
                },
            )
        models = list(self.models)
        vec = lazy_call(fit_only, (FIT_WIDTH * len(models) + 1,), stored, q, models)
        out = out.assign(fit_variables(vec, models))
        out.attrs.update(self.provenance())
        return out
