"""Drawing a result or a cell overview in the dashboard, off the server's event loop.

:func:`prepare` computes the pieces — HoloViews rendered to Bokeh figures, tables, key figures —
and :func:`panes` wraps them into Panel objects; :func:`build` does both and runs in a worker
thread (Panel objects may be made there as long as no document holds them yet), so the event
loop only attaches finished objects and stays free for other sessions. Plots are drawn as
:mod:`batteryviz.viz.render` draws them for notebooks too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..viz import markup
from ..viz.private import dataframe_stylesheets
from ..viz.render import columns as figure_columns
from ..viz.render import figure_grid, plot_and_figures


@dataclass
class PreparedView:
    """Everything a result tab shows, ready to wrap."""

    figures: list = field(
        default_factory=list
    )  # Bokeh models, or HoloViews objects that must stay live
    columns: int = 1
    widgets: list = field(default_factory=list)  # tables, built off the event loop
    numbers: list = field(default_factory=list)  # (label, value, format)
    tables: dict = field(default_factory=dict)  # the analysis's tables by name, main first
    warnings: list = field(default_factory=list)
    definitions: str = ""
    plot_error: str = ""


def prepare(analysis, key: str, result) -> PreparedView:
    """The pieces of a result tab (runs in a worker thread), as the analysis declares them:
    its plot, its key figures (flagged when implausible), its tables, definitions, warnings."""
    view = PreparedView()
    try:
        plot, view.figures = plot_and_figures(analysis.plot, result)
        view.columns = figure_columns(plot, view.figures)
    except Exception as exc:  # noqa: BLE001 - a plot problem must not hide the numbers
        view.plot_error = f"Plot: {exc}"
    figures = analysis.key_figures(result)
    view.numbers = [_figure(f.label, f.value, f.format) for f in figures if f.shown]
    view.tables = {name: table.round(6) for name, table in analysis.tables(result).items()}
    view.widgets = tables(view)
    warnings = result.attrs.get("quality_warnings", "")
    view.warnings = implausible(figures) + (
        [w for w in str(warnings).split("\n") if w] if warnings else []
    )
    view.definitions = definitions(result)
    return view


def build(analysis, key: str, result) -> list:
    """The Panel objects of a result tab, made in a worker thread; the event loop only attaches
    them."""
    return panes(prepare(analysis, key, result), key)


def tables(view: PreparedView) -> list:
    """Paginated tables of the result, each under its name when there are several (Panel
    objects may be made in a thread as long as no document holds them yet)."""
    import panel as pn

    out = []
    for name, table in view.tables.items():
        if len(view.tables) > 1:
            out.append(
                pn.pane.Markdown(markup.md("**{}** ({} rows)", name.capitalize(), len(table)))
            )
        out.append(
            pn.widgets.Tabulator(
                table,
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
        items.append(figure_grid(view.figures, view.columns, css_classes=[f"bv-plot-{key}"]))
    if view.plot_error:
        items.append(markup.alert(view.plot_error, "warning"))
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
            ("File", record.display_name),
            ("Format", f"{record.format} ({record.cycler})"),
            ("Size", f"{record.size_bytes / 1024:,.1f} KiB"),
            ("Rows", f"{record.rows:,}"),
            ("Contents", record.contents),
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
        # side by side where they fit, one under the other on a laptop (they were cut at 1366 px)
        pn.FlexBox(
            html_table(facts, min_width=320, max_width=560, sizing_mode="stretch_width"),
            html_table(header, min_width=320, max_width=560, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        ),
        pn.pane.Markdown("**First rows** (BDF names)"),
        # the first rows scroll inside their own box when they are wider than the page
        html_table(
            preview, sizing_mode="stretch_width", max_width=1400, styles={"overflow-x": "auto"}
        ),
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
    return pn.pane.HTML(html, stylesheets=dataframe_stylesheets(), **layout)


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


def implausible(figures) -> list[str]:
    """Sentences flagging key figures outside their plausible range (empty when all are in)."""
    return [text for text in (f.implausible() for f in figures) if text]
