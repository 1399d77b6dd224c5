"""HoloViews plot builders shared by notebooks and dashboards.

Pure functions: a result dataset in, a HoloViews object out (Bokeh backend). They add no science:
every number they draw is in the result (or computed by the analysis layer's functions, e.g.
:func:`batteryviz.analysis.ageing.fitted_curves`), and its definition in the result's attrs.
Imported only when used (``import batteryviz`` does not load HoloViews). The ``*_figure``
functions draw a whole result of one analysis; :func:`batteryviz.viz.plot` picks them by the
result's ``attrs["analysis"]``.
"""

from __future__ import annotations

import json

import holoviews as hv
import numpy as np
import xarray as xr

from .notebook import load_extensions

load_extensions()

CHARGE_COLOR, DISCHARGE_COLOR = "#d62728", "#1f77b4"
WIDTH, HEIGHT = 650, 330
#: Above this many points a family of curves is rasterised by datashader (when installed), so
#: 1,000 cycles on one plot stay interactive; below it every curve is drawn and hoverable.
DATASHADE_POINTS = 100_000
#: Above this many points (and up to DATASHADE_POINTS) curves are drawn with WebGL.
WEBGL_POINTS = 20_000


#: Up to this many curves get a legend entry each; more get a colour bar instead.
LEGEND_CURVES = 10
#: The percentiles of a curve family's values its y axis spans (spikes at a curve's end or in
#: a constant-voltage step would otherwise flatten every curve); the data are all there on zoom.
Y_PERCENTILES = (0.5, 99.5)


#: dV/dQ curves are flat with steep ends: their y axis spans this many interquartile ranges
#: beyond the quartiles (a percentile would still be set by ends that take 5 % of the points).
IQR_SPAN = 4.0


def robust_ylim(
    values, pad: float = 0.08, spread: str = "percentile"
) -> tuple[float, float] | None:
    """A y range that shows the bulk of the finite ``values``: :data:`Y_PERCENTILES`
    (``spread="percentile"``, for peaked curves such as dQ/dU) or the quartiles widened by
    :data:`IQR_SPAN` interquartile ranges (``spread="iqr"``, for flat curves with steep ends
    such as dV/dQ), within the data's extremes, padded by ``pad`` of its span (None when there
    is nothing finite)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    if spread == "iqr":
        q1, q3 = np.percentile(v, (25, 75))
        lo, hi = max(q1 - IQR_SPAN * (q3 - q1), v.min()), min(q3 + IQR_SPAN * (q3 - q1), v.max())
    else:
        lo, hi = np.percentile(v, Y_PERCENTILES)
    span = hi - lo or abs(hi) or 1.0
    return float(lo - pad * span), float(hi + pad * span)


#: Share of each curve's voltage span, at both ends, left out of its y range: a constant-voltage
#: step ends a half cycle with dU -> 0, a spike in dQ/dU that is not a peak of the material.
END_SHARE = 0.03


def interior(x: np.ndarray, ys: np.ndarray, share: float = END_SHARE) -> np.ndarray:
    """The values of each curve (a row of ``ys`` on grid ``x``) away from its own ends: points
    within ``share`` of the curve's x span from either end become NaN."""
    out = np.array(ys, dtype=float, copy=True)
    for row in out:
        ok = np.flatnonzero(np.isfinite(row))
        if ok.size < 3:
            continue
        lo, hi = x[ok[0]], x[ok[-1]]
        margin = share * (hi - lo)
        row[(x < lo + margin) | (x > hi - margin)] = np.nan
    return out


def cycle_colorbar(x, ys, labels: list[str], kdims: str, vdims: str, cmap: str):
    """An invisible scatter whose colour bar maps colour to cycle (the curves' palette order)."""
    numbers = [
        float(label.split()[-1]) if label.split()[-1].isdigit() else k
        for k, label in enumerate(labels)
    ]
    y0 = float(np.nanmedian(ys)) if np.isfinite(ys).any() else 0.0
    points = hv.Scatter(
        {
            kdims: np.full(len(labels), float(np.nanmedian(x))),
            vdims: np.full(len(labels), y0),
            "cycle": numbers,
        },
        kdims,
        [vdims, "cycle"],
    )
    return points.opts(
        color="cycle",
        cmap=cmap,
        colorbar=True,
        clabel="Cycle",
        size=0,
        alpha=0,
        show_legend=False,
        tools=[],
    )


def curve_family(
    x: np.ndarray, ys: np.ndarray, labels: list[str], kdims: str, vdims: str, cmap: str = "viridis"
):
    """Curves sharing one x grid (one row of ``ys`` each), coloured by row.

    Drawn as separate curves with a legend when there are few points; rasterised with
    datashader (colour = row index, i.e. cycle order) when there are more than
    :data:`DATASHADE_POINTS`.
    """
    n_points = int(np.isfinite(ys).sum())
    if n_points > DATASHADE_POINTS:
        try:
            from holoviews.operation.datashader import rasterize
        except ImportError:  # datashader is optional: draw every curve with WebGL instead
            rasterize = None
        if rasterize is not None:
            path = hv.Path(
                [{kdims: x, vdims: ys[k], "cycle": float(k)} for k in range(ys.shape[0])],
                kdims=[kdims, vdims],
                vdims=["cycle"],
            )
            return rasterize(path, aggregator="max", line_width=1).opts(
                cmap=cmap,
                colorbar=True,
                clabel="cycle (order)",
                width=WIDTH,
                height=HEIGHT,
                tools=["hover"],
            )
    palette = hv.plotting.util.process_cmap(cmap, max(len(labels), 2))
    curves = [
        hv.Curve((x, ys[k]), kdims, vdims, label=labels[k]).opts(color=palette[k])
        for k in range(ys.shape[0])
    ]
    if len(labels) > LEGEND_CURVES:  # a legend would show some of them: a colour bar shows all
        curves.append(cycle_colorbar(x, ys, labels, kdims, vdims, cmap))
    overlay = hv.Overlay(curves).opts(show_legend=len(labels) <= LEGEND_CURVES)
    if (
        n_points > WEBGL_POINTS
    ):  # WebGL only where canvas would be slow: it needs a GPU-capable browser
        overlay = overlay.opts(backend_opts={"plot.output_backend": "webgl"})
    return overlay


def _opts(obj, **kw):
    base = dict(width=WIDTH, height=HEIGHT, tools=["hover"], show_grid=True)
    base.update(kw)
    return obj.opts(**base)


def capacity_vs_cycle(summary: xr.Dataset, specific: bool | None = None) -> hv.Overlay:
    """Charge and discharge capacity (or specific capacity when a mass was given) against cycle."""
    specific = ("specific_discharge_capacity_mah_g" in summary) if specific is None else specific
    key = "specific_{}_capacity_mah_g" if specific else "{}_capacity_ah"
    label = "Specific capacity (mAh/g)" if specific else "Capacity (Ah)"
    cyc = summary["cycle"].values
    layers = []
    for half, color in (("discharge", DISCHARGE_COLOR), ("charge", CHARGE_COLOR)):
        y = summary[key.format(half)].values
        layers.append(hv.Curve((cyc, y), "Cycle", label, label=half.capitalize()).opts(color=color))
        layers.append(
            hv.Scatter((cyc, y), "Cycle", label, label=half.capitalize()).opts(color=color, size=4)
        )
    return _opts(hv.Overlay(layers), title="Capacity", legend_position="top_right")


def retention_vs_cycle(summary: xr.Dataset, threshold: float = 80.0) -> hv.Overlay:
    """Discharge capacity retention with the end-of-life line."""
    cyc = summary["cycle"].values
    curve = hv.Curve((cyc, summary["retention_percent"].values), "Cycle", "Retention (%)").opts(
        color="green"
    )
    line = hv.HLine(threshold).opts(color="red", line_dash="dashed")
    label = hv.Text(
        cyc[0] if cyc.size else 0, threshold + 1, f"{threshold:g}% retention", halign="left"
    ).opts(text_color="red")
    return _opts(curve * line * label, title="Retention", ylim=(0, 105))


def ce_vs_cycle(summary: xr.Dataset) -> hv.Curve:
    """Coulombic efficiency against cycle (its direction is in the result's attrs)."""
    curve = hv.Curve(
        (summary["cycle"].values, summary["coulombic_efficiency_percent"].values),
        "Cycle",
        "Coulombic efficiency (%)",
    )
    return _opts(
        curve.opts(color="purple"),
        title="Coulombic efficiency — " + summary.attrs.get("ce_definition", "").split("= ")[-1],
    )


def voltage_window(summary: xr.Dataset) -> hv.Overlay:
    """The voltage window of each cycle, filled between minimum and maximum."""
    cyc = summary["cycle"].values
    lo, hi = summary["min_voltage_v"].values, summary["max_voltage_v"].values
    # the area's first value dimension names the y axis: the same as the curves'
    area = hv.Area((cyc, lo, hi), "Cycle", ["Voltage (V)", "Max voltage (V)"]).opts(
        color="#0064c8", alpha=0.2, line_alpha=0
    )
    return _opts(
        area
        * hv.Curve((cyc, hi), "Cycle", "Voltage (V)", label="Max").opts(color=CHARGE_COLOR)
        * hv.Curve((cyc, lo), "Cycle", "Voltage (V)", label="Min").opts(color=DISCHARGE_COLOR),
        title="Voltage window",
    )


def dqdu_overlay(result: xr.Dataset, direction: str = "charge", peaks: bool = True) -> hv.Overlay:
    """dQ/dU curves of every analysed cycle, coloured by cycle, with peak markers."""
    v = result[f"{direction}_voltage"].values
    cycles = result["cycle"].values
    ylabel = f"dQ/dU ({result[f'{direction}_dqdu'].attrs.get('units', '')})"
    plot = curve_family(
        v,
        result[f"{direction}_dqdu"].values,
        [f"Cycle {int(c)}" for c in cycles],
        "Voltage (V)",
        ylabel,
    )
    if peaks and f"{direction}_peak_voltage" in result and cycles.size <= LEGEND_CURVES:
        # more cycles: the peak-track plot shows the peaks (markers of every cycle would hide
        # the curves)
        pv = result[f"{direction}_peak_voltage"].values.ravel()
        pi = result[f"{direction}_peak_intensity"].values.ravel()
        ok = np.isfinite(pv)
        plot = plot * hv.Scatter((pv[ok], pi[ok]), "Voltage (V)", ylabel).opts(
            marker="diamond", size=10, color="white", line_color="black", show_legend=False
        )
    if isinstance(plot, hv.DynamicMap):  # rasterised: an image, no legend
        return plot.opts(title=f"dQ/dU ({direction})")
    return _opts(
        plot,
        title=f"dQ/dU ({direction})",
        legend_position="top_left",
        ylim=robust_ylim(interior(v, result[f"{direction}_dqdu"].values)),
    )


def peak_track_plot(tracks: xr.Dataset, field: str = "voltage") -> hv.Overlay:
    """A peak property (voltage, intensity, area) against cycle, one line per track.

    Up to 12 tracks get a legend entry each (right of the plot); more are drawn as one grey line
    (tracks separated by gaps) under points coloured by track id (hover shows it): two glyphs,
    fast with hundreds of tracks."""
    cyc = tracks["cycle"].values.astype(float)
    values = tracks[field].values
    units = tracks[field].attrs.get("units")
    label = f"Peak {field} ({units})" if units else f"Peak {field}"
    n = tracks.sizes["track"]
    if n <= 12:
        layers = [
            hv.Curve((cyc, values[t]), "Cycle", label, label=f"Track {t}")
            * hv.Scatter((cyc, values[t]), "Cycle", label, label=f"Track {t}").opts(size=5)
            for t in range(n)
        ]
        # the legend right of the plot, never over the tracks it names
        return _opts(hv.Overlay(layers), title=f"Peak {field} by track", legend_position="right")
    gap = np.full((n, 1), np.nan)
    xs = np.hstack([np.broadcast_to(cyc, values.shape), gap]).ravel()
    ys = np.hstack([values, gap]).ravel()
    lines = hv.Curve((xs, ys), "Cycle", label).opts(color="lightgrey", line_width=1.5)
    track_id = np.broadcast_to(np.arange(n)[:, None], values.shape)
    ok = np.isfinite(values)
    # colours as strings in the data: the browser draws them as they are, no colour mapper.
    # (The intermittent browser error under load, "n is not iterable" in a glyph's colour, is
    # not this glyph's: it stayed with these colours and with plain per-glyph colours.)
    palette = np.array(hv.plotting.util.process_cmap("Category20", 20))
    points = hv.Scatter(
        (
            np.broadcast_to(cyc, values.shape)[ok],
            values[ok],
            track_id[ok],
            palette[track_id[ok] % 20],
        ),
        "Cycle",
        [label, "track", "colour"],
    ).opts(color="colour", size=6, tools=["hover"])
    return _opts(lines * points, title=f"Peak {field} by track ({n} tracks)", show_legend=False)


def vq_curves(table) -> hv.Overlay:
    """Voltage against capacity, one curve per cycle coloured by cycle, from
    :func:`batteryviz.analysis.dvdq.vq_table` (specific capacity when the table has it); the
    legend right of the plot, never over the curves."""
    specific = "specific_capacity_mah_g" in table
    x = "specific_capacity_mah_g" if specific else "capacity_ah"
    x_label = "Specific capacity (mAh/g)" if specific else "Capacity (Ah)"
    cycles = list(dict.fromkeys(table["cycle"].tolist()))
    cmap = hv.plotting.util.process_cmap("viridis", max(len(cycles), 2))
    layers = [
        hv.Curve(
            (part[x].values, part["voltage_v"].values), x_label, "Voltage (V)", label=f"Cycle {c}"
        ).opts(color=cmap[k])
        for k, (c, part) in enumerate(table.groupby("cycle", sort=False))
    ]
    direction = table.attrs.get("direction", "")
    return _opts(
        hv.Overlay(layers),
        title=f"Voltage vs capacity ({direction})" if direction else "Voltage vs capacity",
        show_legend=len(cycles) <= 12,
        legend_position="right",
        height=420,
    )


def nyquist(result: xr.Dataset) -> hv.Overlay:
    """-Im(Z) against Re(Z) for every spectrum (equal axes), with the fitted circuit's curve
    where the fit succeeded (:func:`batteryviz.analysis.impedance.fitted_impedance`)."""
    from ..analysis.impedance import fitted_impedance

    layers = []
    for k in range(result.sizes["spectrum"]):
        zr, zi = result["real_impedance_ohm"].values[k], result["imaginary_impedance_ohm"].values[k]
        ok = np.isfinite(zr)
        label = (
            f"Cycle {int(result['cycle'].values[k])}"
            if result["cycle"].values[k] >= 0
            else f"Spectrum {k}"
        )
        layers.append(
            hv.Scatter((zr[ok], -zi[ok]), "Re(Z) (Ω)", "-Im(Z) (Ω)", label=label).opts(size=5)
        )
        f = result["frequency_hertz"].values[k][ok]
        if f.size > 1:  # the fitted circuit over the measured range, on a fine log grid
            grid = np.geomspace(f.min(), f.max(), 200)
            z = fitted_impedance(result, k, grid)
            if z is not None:
                layers.append(
                    hv.Curve((z.real, -z.imag), "Re(Z) (Ω)", "-Im(Z) (Ω)", label=f"{label} fit")
                )
    return _opts(hv.Overlay(layers), title="Nyquist", data_aspect=1, responsive=False)


def bode(result: xr.Dataset) -> hv.Layout:
    """|Z| and phase against frequency (log axes)."""
    mods, phases = [], []
    for k in range(result.sizes["spectrum"]):
        f = result["frequency_hertz"].values[k]
        z = (
            result["real_impedance_ohm"].values[k]
            + 1j * result["imaginary_impedance_ohm"].values[k]
        )
        ok = np.isfinite(f)
        mods.append(
            hv.Curve((f[ok], np.abs(z[ok])), "Frequency (Hz)", "|Z| (Ω)", label=f"Spectrum {k}")
        )
        phases.append(
            hv.Curve(
                (f[ok], np.degrees(np.angle(z[ok]))),
                "Frequency (Hz)",
                "Phase (°)",
                label=f"Spectrum {k}",
            )
        )
    return (
        _opts(hv.Overlay(mods), logx=True, logy=True, title="Bode |Z|")
        + _opts(hv.Overlay(phases), logx=True, title="Bode phase")
    ).cols(1)


def rate_capability(result: xr.Dataset) -> hv.Overlay:
    """Mean capacity per C-rate with the spread of the repeats."""
    rate = result["rate"].values
    mean, std = result["capacity_ah"].values, result["capacity_std_ah"].values
    points = hv.Scatter((rate, mean), "C-rate", "Capacity (Ah)").opts(size=8, color=DISCHARGE_COLOR)
    bars = hv.ErrorBars((rate, mean, std), "C-rate", ["Capacity (Ah)", "std"])
    return _opts(
        hv.Curve((rate, mean), "C-rate", "Capacity (Ah)") * points * bars,
        logx=True,
        title="Rate capability",
    )


def cycle_life(result: xr.Dataset) -> hv.Overlay:
    """Retention against the ageing axis with the fitted models."""
    from ..analysis.ageing import fitted_curves, flag_name

    used = (
        result["used_in_fit"].values
        if "used_in_fit" in result
        else np.ones(result.sizes["cycle"], dtype=bool)
    )
    x, retention = result["x"].values, result["retention_percent"].values
    axis = str(result["x"].attrs.get("long_name", "cycle"))
    xlabel = (
        "Equivalent full cycles"
        if axis == "equivalent_full_cycles"
        else axis.replace("_", " ").capitalize()
    )
    # the capacity retention is relative to (the reference cycle's, or the first fitted one's)
    q = result["discharge_capacity_ah"].values
    ratio = q / retention * 100
    ratio = ratio[used & np.isfinite(ratio)]
    q0 = ratio[0] if ratio.size else np.nan
    layers = [
        hv.Scatter((x[used], retention[used]), xlabel, "Retention (%)", label="fitted").opts(
            size=5, color="black"
        )
    ]
    if (~used).any():
        layers.append(
            hv.Scatter(
                (x[~used], retention[~used]), xlabel, "Retention (%)", label="not fitted"
            ).opts(size=4, color="lightgray")
        )
    grid = np.linspace(np.nanmin(x[used]), np.nanmax(x[used]), 200) if used.any() else np.zeros(0)
    for name, y in fitted_curves(result, grid).items():
        layers.append(hv.Curve((grid, 100 * y / q0), xlabel, "Retention (%)", label=name))
    threshold = json.loads(result.attrs.get("parameters", "{}")).get("threshold_percent")
    if threshold is not None:
        layers.append(
            hv.HLine(float(threshold)).opts(color="red", line_dash="dashed", line_width=1)
        )
    notes = []
    eol = float(result["end_of_life"]) if "end_of_life" in result else np.nan
    if np.isfinite(
        eol
    ):  # drawn where it falls inside the plotted range (a projection may lie beyond)
        layers.append(hv.VLine(eol).opts(color="red", line_width=1))
        notes.append(f"end of life {eol:.0f}")
    knee = float(result["knee"]) if "knee" in result else np.nan
    if np.isfinite(knee):
        layers.append(hv.VLine(knee).opts(color="grey", line_dash="dotted", line_width=1))
        notes.append(f"knee {knee:.0f}")
    best = flag_name(result["best_model"]) if "best_model" in result else "none"
    title = f"Cycle life (best fit: {best}" + "".join(f"; {n}" for n in notes) + ")"
    return _opts(hv.Overlay(layers), title=title)


# --- one figure per kind of result (dispatched by batteryviz.viz.plot) ------------------------


def _parameters(result: xr.Dataset) -> dict:
    return json.loads(result.attrs.get("parameters", "{}") or "{}")


def summary_figure(result: xr.Dataset) -> hv.Layout:
    """Capacity, retention, coulombic efficiency and voltage window against cycle."""
    return (
        capacity_vs_cycle(result)
        + retention_vs_cycle(result)
        + ce_vs_cycle(result)
        + voltage_window(result)
    ).cols(2)


def dqdu_figure(result: xr.Dataset):
    """dQ/dU overlays with peak markers, one panel per direction, then the peak voltage of each
    track against cycle when peaks were tracked over several cycles."""
    from ..analysis.dqdu import peak_tracks

    panels = [dqdu_overlay(result, d) for d in ("charge", "discharge") if f"{d}_dqdu" in result]
    if result.sizes.get("cycle", 0) > 1:
        for d in ("charge", "discharge"):
            if (
                f"{d}_peak_voltage" in result
                and np.isfinite(result[f"{d}_peak_voltage"].values).any()
            ):
                tracks = peak_tracks(result, d)
                if tracks.sizes.get("track", 0):
                    panels.append(
                        peak_track_plot(tracks).opts(title=f"Peak voltage by track ({d})")
                    )
    return hv.Layout(panels).cols(1) if len(panels) > 1 else panels[0]


def dvdq_figure(result: xr.Dataset) -> hv.Layout:
    """dU/dQ curves coloured by cycle, one panel per direction, on the result's grid; the y
    axis spans the curves' bulk (:func:`robust_ylim`), not the spikes at their ends."""
    x_kind = _parameters(result).get("x", "capacity")
    panels = []
    for d in ("charge", "discharge"):
        if f"{d}_dvdq" not in result:
            continue
        grid = result[f"{d}_{x_kind}"]
        unit = grid.attrs.get("units", "")
        xlabel = ("Capacity" if x_kind == "capacity" else "State of charge") + (
            f" ({unit})" if unit else ""
        )
        values = result[f"{d}_dvdq"]
        ylabel = f"dU/dQ ({values.attrs['units']})" if values.attrs.get("units") else "dU/dQ"
        family = curve_family(
            grid.values,
            values.values,
            [f"Cycle {int(c)}" for c in result["cycle"].values],
            xlabel,
            ylabel,
        )
        panels.append(
            _opts(
                family,
                height=300,
                title=f"dU/dQ ({d})",
                legend_position="top_left",
                ylim=robust_ylim(values.values, spread="iqr"),
            )
        )
    return hv.Layout(panels).cols(1)


def impedance_figure(result: xr.Dataset) -> hv.Layout:
    """Nyquist and Bode plots of every spectrum."""
    return (nyquist(result) + bode(result)).cols(1)


def calendar_aging_figure(result: xr.Dataset) -> hv.Overlay:
    """Check-up retention against storage time, with the best fitted model named in the title."""
    from ..analysis.ageing import flag_name

    unit = _parameters(result).get("time_unit", "day")
    best = flag_name(result["best_model"]) if "best_model" in result else "none"
    points = hv.Scatter(
        (result["storage_time"].values, result["retention_percent"].values),
        f"Storage time ({unit})",
        "Retention (%)",
    ).opts(size=8)
    return _opts(points, title=f"Calendar ageing (best fit: {best})")


def table_figure(result: xr.Dataset):
    """A result no figure is registered for: each numeric variable on its first dimension as a
    curve (one panel each), or a table of its scalars."""
    panels = []
    for name, var in result.data_vars.items():
        if var.ndim == 1 and var.dtype.kind in "if":
            dim = var.dims[0]
            x = result[dim].values if dim in result.coords else np.arange(var.size)
            label = f"{name} ({var.attrs['units']})" if var.attrs.get("units") else name
            panels.append(_opts(hv.Curve((x, var.values), dim, label), title=name, height=250))
    if panels:
        return hv.Layout(panels[:8]).cols(2)
    rows = [
        (n, float(v)) for n, v in result.data_vars.items() if v.ndim == 0 and v.dtype.kind in "if"
    ]
    return hv.Table(rows, "quantity", "value")


def compare_overlay(curves: list, title: str) -> hv.Overlay:
    """Curves of several cells on one plot: ``curves`` holds ``((x, y), x label, y label,
    cell name)``; the legend (cell names) sits right of the plot."""
    return hv.Overlay(
        [hv.Curve(data, x, y, label=name).opts(tools=["hover"]) for data, x, y, name in curves]
    ).opts(width=800, height=380, legend_position="right", show_grid=True, title=title)
