"""HoloViews plots rendered as Bokeh figures that take the width they are given.

One place for how a plot becomes something on a page, used by the notebook view
(:class:`~batteryviz.viz.view.AnalysisView`) and the dashboard (:mod:`batteryviz.ui.views`) alike.
A HoloViews Layout is rendered one figure per plot and laid out in a grid of as many columns as
the Layout was given: each figure then stretches to its share of the width (at least
:data:`MIN_PLOT_WIDTH`), where a Layout of fixed 650 px plots was cut off at the right of a
1366 px screen and of JupyterLab's output area at 1600 px. (A Bokeh GridPlot inside the
dashboard's tabs was also drawn shifted out of its box in Chromium.)
"""

from __future__ import annotations

import threading

from .private import layout_columns

#: HoloViews' plotting machinery keeps process-wide state (option trees, renderer and plot class
#: attributes, colour cycles) and is not thread-safe, and the dashboard's view pool has several
#: threads: one HoloViews object is made and rendered at a time (the GIL allowed no more
#: parallelism anyway).
HOLOVIEWS_LOCK = threading.RLock()

#: The narrowest a plot gets (px) before its row scrolls instead.
MIN_PLOT_WIDTH = 320


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
                out.append(fit_width(hv.render(item, backend="bokeh")))
    return out


def fit_width(figure):
    """A rendered figure that takes the width its column has (at least
    :data:`MIN_PLOT_WIDTH`), keeping its height."""
    if hasattr(figure, "sizing_mode") and hasattr(figure, "min_width"):
        figure.sizing_mode = "stretch_width"
        figure.min_width = MIN_PLOT_WIDTH
    return figure


def columns(plot, figures: list) -> int:
    """How many figures of ``plot`` go side by side: the columns its Layout was given, at most
    as many as there are figures."""
    import holoviews as hv

    wanted = layout_columns(plot) if isinstance(plot, hv.Layout) else 1
    return max(min(wanted, len(figures)), 1)


def plot_and_figures(make_plot, *args):
    """``make_plot(*args)`` (a HoloViews object) and its :func:`render`-ed figures, both made
    under :data:`HOLOVIEWS_LOCK`."""
    with HOLOVIEWS_LOCK:
        plot = make_plot(*args)
        return plot, render(plot)


def figure_pane(figure, css_classes: list[str] | None = None, **layout):
    """A Panel pane of one rendered figure (a live HoloViews object stays one)."""
    import panel as pn

    if hasattr(figure, "opts"):
        return pn.pane.HoloViews(figure, linked_axes=False, css_classes=css_classes or [], **layout)
    return pn.pane.Bokeh(
        figure, css_classes=css_classes or [], sizing_mode="stretch_width", **layout
    )


def figure_panes(make_plot, *args, css_classes: list[str] | None = None) -> list:
    """Panes of the figures of ``make_plot(*args)`` (a HoloViews object), made and rendered under
    :data:`HOLOVIEWS_LOCK` (safe in a worker thread)."""
    _, figures = plot_and_figures(make_plot, *args)
    return [figure_pane(f, css_classes) for f in figures]


#: The gap between figures side by side (px).
GAP = 10


def figure_grid(figures: list, ncols: int = 1, css_classes: list[str] | None = None):
    """The figures side by side, up to ``ncols`` a row, in the width they are given: each takes
    an equal share of a row but no less than :data:`MIN_PLOT_WIDTH`, so a row too narrow for
    ``ncols`` of them (JupyterLab's output area at 1366 px beside the widgets) puts fewer in a
    row instead of drawing past the right edge."""
    import panel as pn

    ncols = max(ncols, 1)
    share = f"calc({100 / ncols:.4f}% - {GAP * (ncols - 1) / ncols:.1f}px)"
    item = {"flex": f"1 1 {share}", "min-width": f"{MIN_PLOT_WIDTH}px"}
    return pn.FlexBox(
        # each figure in a layout of its own: that is the flex item its styles size
        *[pn.Column(figure_pane(f), sizing_mode="stretch_width", styles=item) for f in figures],
        flex_wrap="wrap",
        gap=f"{GAP}px",
        css_classes=css_classes or [],
        sizing_mode="stretch_width",
    )


def plot_grid(obj, css_classes: list[str] | None = None):
    """A HoloViews object as a grid of figures that fits the width it is given."""
    figures = render(obj)
    return figure_grid(figures, columns(obj, figures), css_classes)


def side_by_side(fixed, fluid, fluid_min_width: int = MIN_PLOT_WIDTH):
    """``fixed`` (a column of widgets of fixed width) with ``fluid`` (plots, results) taking the
    rest of the row; when the row leaves ``fluid`` less than ``fluid_min_width`` px it goes
    below ``fixed`` instead of past the right edge (a notebook's output area, a narrow
    window)."""
    import panel as pn

    fixed.styles = {**fixed.styles, "flex": "0 0 auto"}
    # a layout of its own as the flex item: a pane that wraps another object (a bound function)
    # passes its styles on to what it wraps, not to the item the row lays out
    item = pn.Column(
        fluid,
        sizing_mode="stretch_width",
        styles={"flex": f"1 1 {fluid_min_width}px", "min-width": f"{fluid_min_width}px"},
    )
    return pn.FlexBox(
        fixed,
        item,
        flex_wrap="wrap",
        align_items="flex-start",
        gap=f"{GAP}px",
        sizing_mode="stretch_width",
    )
