"""Drawing a result or a cell overview in the dashboard, off the server's event loop.

:func:`prepare` computes the pieces — HoloViews rendered to Bokeh figures, tables, key figures —
and :func:`panes` wraps them into Panel objects; :func:`build` does both and runs in a worker
thread (Panel objects may be made there as long as no document holds them yet), so the event
loop only attaches finished objects and stays free for other sessions. Figures are rendered
one per plot (a HoloViews Layout becomes a grid of separate figures): a Bokeh GridPlot
inside the dashboard's tabs was drawn shifted out of its box in Chromium.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..export import peak_table, result_table, summary_statistics
from ..viz import markup

SUMMARY_FIGURES = [
    ("total_cycles", "Cycles", "{value:.0f}"),
    ("mean_discharge_capacity_ah", "Mean discharge (Ah)", "{value:.4g}"),
    ("mean_specific_discharge_capacity_mah_g", "Mean discharge (mAh/g)", "{value:.1f}"),
    ("mean_coulombic_efficiency_percent", "Mean CE (%)", "{value:.2f}"),
    ("std_coulombic_efficiency_percent", "CE σ (%)", "{value:.3f}"),
    ("final_retention_percent", "Final retention (%)", "{value:.1f}"),
    ("fade_percent_per_cycle", "Fade (%/cycle)", "{value:.3f}"),
    ("total_duration_h", "Duration (h)", "{value:.1f}"),
]


@dataclass
class PreparedView:
    """Everything a result tab shows, ready to wrap."""

    figures: list = field(
        default_factory=list
    )  # Bokeh models, or HoloViews objects that must stay live
    columns: int = 1
    figures_below: list = field(default_factory=list)  # e.g. peak tracks
    widgets: list = field(default_factory=list)  # tables, built off the event loop
    numbers: list = field(default_factory=list)  # (label, value, format)
    peaks: object = None  # DataFrame of dQ/dU peaks
    table: object = None  # the result's main table
    warnings: list = field(default_factory=list)
    definitions: str = ""
    plot_error: str = ""


#: HoloViews' plotting machinery keeps process-wide state (option trees, renderer and plot class
#: attributes, colour cycles) and is not thread-safe, and the view pool has several threads: one
#: HoloViews object is made and rendered at a time (the GIL allowed no more parallelism anyway).
HOLOVIEWS_LOCK = threading.RLock()


def render(obj) -> list:
    """Bokeh figures of a HoloViews object, one per plot of a Layout. Objects that stay live on
    the server (rasterised DynamicMaps re-render on zoom) are returned as they are."""
    import holoviews as hv

    items = list(obj) if isinstance(obj, hv.Layout) else [obj]
    out = []
    with HOLOVIEWS_LOCK:
        for item in items:
            if isinstance(item, hv.DynamicMap):
                out.append(item)
            else:
                out.append(_fit_width(hv.render(item, backend="bokeh")))
    return out


#: The narrowest a plot in a dashboard tab gets (px) before its row scrolls instead.
MIN_PLOT_WIDTH = 320


def _fit_width(figure):
    """A rendered figure that takes the width its column has (at least
    :data:`MIN_PLOT_WIDTH`), keeping its height: plots drawn 650 px wide were cut off at the
    right of a 1366 px screen, and two per row at 1920 px."""
    if hasattr(figure, "sizing_mode") and hasattr(figure, "min_width"):
        figure.sizing_mode = "stretch_width"
        figure.min_width = MIN_PLOT_WIDTH
    return figure


def plot_and_figures(make_plot, *args):
    """``make_plot(*args)`` (a HoloViews object) and its :func:`render`-ed figures, both made
    under :data:`HOLOVIEWS_LOCK`."""
    with HOLOVIEWS_LOCK:
        plot = make_plot(*args)
        return plot, render(plot)


def figure_panes(make_plot, *args, css_classes: list[str] | None = None) -> list:
    """Panes of the figures of ``make_plot(*args)`` (a HoloViews object), made and rendered under
    :data:`HOLOVIEWS_LOCK` (runs in a worker thread)."""
    import panel as pn

    _, figures = plot_and_figures(make_plot, *args)
    return [
        pn.pane.HoloViews(f, linked_axes=False, css_classes=css_classes or [])
        if hasattr(f, "opts")
        else pn.pane.Bokeh(f, css_classes=css_classes or [], sizing_mode="stretch_width")
        for f in figures
    ]


def prepare(analysis, key: str, result) -> PreparedView:
    """The pieces of a result tab (runs in a worker thread)."""
    import holoviews as hv

    view = PreparedView()
    try:
        plot, view.figures = plot_and_figures(analysis.plot, result)
        view.columns = min(
            (plot._max_cols or 1) if isinstance(plot, hv.Layout) else 1, len(view.figures)
        )
    except Exception as exc:  # noqa: BLE001 - a plot problem must not hide the numbers
        view.plot_error = f"Plot: {exc}"
    if key == "summary":
        stats = summary_statistics(result)
        view.numbers = [
            _figure(label, stats.get(k), fmt) for k, label, fmt in SUMMARY_FIGURES if k in stats
        ]
    if key == "dqdu":
        from ..analysis.dqdu import peak_tracks
        from ..viz import plots

        view.peaks = peak_table(result)
        if result.sizes.get("cycle", 0) > 1 and len(view.peaks):
            for d in ("charge", "discharge"):
                if f"{d}_peak_voltage" in result:
                    tracks = peak_tracks(result, d)
                    if tracks.sizes.get("track", 0):
                        title = f"Peak voltage by track ({d})"
                        view.figures_below += plot_and_figures(
                            lambda t: plots.peak_track_plot(t).opts(title=title), tracks
                        )[1]
    view.table = result_table(key, result).round(6)
    view.widgets = tables(view)
    warnings = result.attrs.get("quality_warnings", "")
    view.warnings = [w for w in str(warnings).split("\n") if w] if warnings else []
    if key == "summary":
        view.warnings = implausible(stats) + view.warnings
    view.definitions = definitions(result)
    return view


def build(analysis, key: str, result) -> list:
    """The Panel objects of a result tab, made in a worker thread; the event loop only attaches
    them."""
    return panes(prepare(analysis, key, result), key)


def tables(view: PreparedView) -> list:
    """Paginated tables of the peaks and of the result (Panel objects may be made in a thread
    as long as no document holds them yet)."""
    import panel as pn

    out = []
    if view.peaks is not None:
        out.append(
            pn.widgets.Tabulator(
                view.peaks,
                disabled=True,
                pagination="remote",
                page_size=10,
                show_index=False,
                sizing_mode="stretch_width",
            )
        )
    if view.table is not None:
        out.append(
            pn.widgets.Tabulator(
                view.table,
                disabled=True,
                pagination="remote",
                page_size=15,
                show_index=False,
                sizing_mode="stretch_width",
            )
        )
    return out


def panes(view: PreparedView, key: str) -> list:
    """Panel objects of a prepared view."""
    import panel as pn

    def figure_pane(fig):
        if hasattr(fig, "opts"):  # a live HoloViews object
            return pn.pane.HoloViews(fig, linked_axes=False)
        return pn.pane.Bokeh(fig, sizing_mode="stretch_width")

    items = []
    if view.numbers:
        items.append(
            pn.FlexBox(
                *[
                    pn.indicators.Number(
                        label=label, value=value, format=fmt, font_size="20pt", title_size="10pt"
                    )
                    for label, value, fmt in view.numbers
                ],
                sizing_mode="stretch_width",
            )
        )  # wraps on narrow screens
    if view.figures:
        items.append(
            pn.GridBox(
                *[figure_pane(f) for f in view.figures],
                ncols=max(view.columns, 1),
                css_classes=[f"bv-plot-{key}"],
                sizing_mode="stretch_width",
            )
        )
    if view.plot_error:
        items.append(markup.alert(view.plot_error, "warning"))
    items += [figure_pane(f) for f in view.figures_below]
    if view.peaks is not None:
        items.append(
            pn.pane.Markdown(f"**Peaks found: {len(view.peaks)}**", css_classes=["bv-peak-count"])
        )
    items += view.widgets
    if view.warnings:
        items.append(
            pn.pane.Alert("Warnings:\n\n" + markup.bullet_list(view.warnings), alert_type="warning")
        )
    if view.definitions:
        items.append(pn.pane.Markdown(view.definitions, styles={"font-size": "smaller"}))
    return items


def overview(record, ds) -> list:
    """Data overview: format, size, rows, cycles, time span, header metadata, preview, warnings.

    Built in a worker thread; plain HTML tables (a Tabulator costs the event loop ~0.1 s each)."""
    import pandas as pd
    import panel as pn

    facts = pd.DataFrame(
        [
            ("File", record.filename),
            ("Format", f"{record.format} ({record.cycler})"),
            ("Size", f"{record.size_bytes / 1024:,.1f} KiB"),
            ("Rows", f"{record.rows:,}"),
            ("Cycles", str(record.cycles)),
            ("Time span", f"{record.time_span_h:.2f} h"),
            ("SHA-256", record.sha256),
            ("Uploaded", record.uploaded),
        ],
        columns=["", "value"],
    )
    header = pd.DataFrame(sorted(record.header.items()), columns=["key", "value"])
    from ..schema import data_variables

    names = [n for n, v in data_variables(ds) if v.dims == ("record",)][:12]
    preview = pd.DataFrame({n: _labelled(ds[n], 10) for n in names})
    items = [
        pn.Row(html_table(facts, width=560), html_table(header, width=560)),
        pn.pane.Markdown("**First rows** (BDF names)"),
        html_table(preview, sizing_mode="stretch_width", max_width=1400),
    ]
    if record.warnings:
        items.append(
            pn.pane.Alert(
                "Data-quality warnings:\n\n" + markup.bullet_list(record.warnings),
                alert_type="warning",
            )
        )
    return items


def html_table(frame, **layout):
    """A table as HTML made now (in the worker thread), styled as Panel's DataFrame pane, which
    would instead render the HTML on the event loop when the page receives it."""
    import panel as pn

    html = frame.to_html(index=False, classes=["panel-df"], border=0, escape=True)
    return pn.pane.HTML(html, stylesheets=list(pn.pane.DataFrame._stylesheets), **layout)


def _labelled(var, n: int):
    """The first ``n`` values of a record variable, categorical codes shown as their labels."""
    values = var.values[:n]
    labels = var.attrs.get("labels")
    if labels:
        names = np.array(str(labels).split("\t"), dtype=object)
        return names[values.astype(np.int64)]
    return values


def definitions(result) -> str:
    keys = [
        k
        for k in ("ce_definition", "capacity_source", "cycle_rule", "method", "definitions")
        if k in result.attrs
    ]
    if not keys:
        return ""
    return "**Definitions** — " + "; ".join(
        markup.md("{}: {}", k.replace("_", " "), result.attrs[k]) for k in keys
    )


#: What a key figure shows when it is not defined (no complete cycle, a single cycle's spread …).
NOT_DEFINED = "not defined"


def _figure(label: str, value, fmt: str) -> tuple:
    """A key figure as ``(label, value, format)``; a value that is not defined (NaN, None) shows
    :data:`NOT_DEFINED`, never 0 — a charge-only file has no coulombic efficiency, not one of 0
    %."""
    if value is None or not np.isfinite(value):
        return label, 0.0, NOT_DEFINED
    return label, float(value), fmt


#: Ranges outside which a key figure of real cycling data points to a misread (sign convention,
#: time column, units) or to data that are not cycling at all; shown above the warnings.
PLAUSIBLE = {
    "mean_coulombic_efficiency_percent": ("mean CE", 50.0, 110.0, "%"),
    "final_retention_percent": ("final retention", 0.0, 150.0, "%"),
    "mean_discharge_capacity_ah": ("mean discharge capacity", 0.0, np.inf, " Ah"),
}


def implausible(stats: dict) -> list[str]:
    """Sentences flagging key figures outside :data:`PLAUSIBLE` (empty when all are inside)."""
    out = []
    for key, (name, low, high, unit) in PLAUSIBLE.items():
        value = stats.get(key)
        if value is not None and np.isfinite(value) and not (low <= value <= high):
            out.append(
                f"Implausible {name}: {value:.4g}{unit} (expected {low:g} to {high:g}{unit}). The "
                f"file may "
                "be misread (current sign, time or capacity column, units) or hold no regular "
                "cycling; "
                "check the warnings below and the Overview's first rows."
            )
    return out
