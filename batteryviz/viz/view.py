"""A Panel view of an analysis: its parameters as widgets beside the plot of its result.

:class:`AnalysisView` holds the analysis and the dataset as its own parameters, so two views of
one analysis on two datasets stay apart (the analysis is a pure computation and stores nothing
of its views). ``analysis.view(ds)`` and ``pn.panel(analysis)`` return one.
"""

from __future__ import annotations

import panel as pn
import param
import xarray as xr

from ..analysis.base import Analysis
from ..errors import BatteryvizError
from .render import HOLOVIEWS_LOCK, plot_grid, side_by_side


def widget_names(analysis: Analysis) -> list[str]:
    """The parameters a user sets (``name`` and negative-precedence ones left out)."""
    return [
        n
        for n, p in analysis.param.objects("existing").items()
        if n != "name" and (p.precedence is None or p.precedence >= 0)
    ]


#: A number whose default is below this share of its slider's range gets an input box: Panel's
#: slider steps by 1 % of its range and would round it (0.002 of 0–0.5 became 0).
SLIDER_RESOLUTION = 0.01


def fine_number(p) -> bool:
    """Whether a bounded Number's default is finer than its slider can show."""
    if not isinstance(p, param.Number) or isinstance(p, param.Integer) or p.default is None:
        return False
    low, high = p.bounds or (None, None)
    if low is None or high is None or high <= low:
        return False
    value = abs(float(p.default))
    return 0 < value < SLIDER_RESOLUTION * (high - low) or value != round(value, 2)


def widget_types(analysis: Analysis, names: list[str]) -> dict:
    """Widgets for parameters that may be ``None`` ("not set"): sliders cannot show that, so
    numbers get input boxes and ranges a literal input; numbers finer than a slider's step get
    an input box too (:func:`fine_number`)."""
    out = {}
    for n in names:
        p = analysis.param[n]
        if fine_number(p):
            out[n] = pn.widgets.FloatInput
            continue
        if not p.allow_None:
            continue
        if isinstance(p, param.Range):
            out[n] = {
                "type": pn.widgets.LiteralInput,
                "placeholder": "e.g. (3.0, 4.2); empty = not set",
            }
        elif isinstance(p, param.Integer):
            out[n] = pn.widgets.IntInput
        elif isinstance(p, param.Number):
            out[n] = pn.widgets.FloatInput
    return out


class AnalysisView(pn.viewable.Viewer):
    """Widgets for an analysis's parameters and the plot of its result on ``data``, recomputed
    when a parameter changes. Errors show as a message, never as a traceback.

    The plot takes the width the notebook's output area leaves beside the widgets (a Layout as a
    grid of figures, :func:`~batteryviz.viz.render.plot_grid`)."""

    analysis = param.ClassSelector(
        class_=Analysis, doc="The analysis whose parameters the widgets set."
    )
    data = param.ClassSelector(
        class_=xr.Dataset,
        default=None,
        allow_None=True,
        doc="The cell dataset it computes on (None: the view says how to give one).",
    )

    def figure(self):
        """The HoloViews plot of ``analysis.compute(data)`` with the current parameters."""
        return self.analysis.plot(self.analysis.compute(self.data))

    def render(self, *_) -> pn.viewable.Viewable:
        """The plot of ``analysis.compute(data)`` as a grid of figures that fits the width it is
        given (or a message saying what went wrong)."""
        if self.data is None:
            return pn.pane.Alert(
                "No data: call `analysis.view(ds)` with a cell dataset.", alert_type="info"
            )
        try:
            with HOLOVIEWS_LOCK:
                return plot_grid(self.figure())
        except (BatteryvizError, ValueError, KeyError) as exc:
            from .markup import alert

            return alert(f"{type(self.analysis).__name__}: {exc}")

    def __panel__(self) -> pn.viewable.Viewable:
        names = widget_names(self.analysis)
        widgets = pn.Param(
            self.analysis.param,
            parameters=names,
            widgets=widget_types(self.analysis, names),
            show_name=False,
            width=300,
        )
        plot = pn.bind(self.render, self.param.data, *[self.analysis.param[n] for n in names])
        return side_by_side(
            pn.Column(f"### {self.analysis.display_title()}", widgets, width=320),
            pn.panel(plot, sizing_mode="stretch_width"),
        )
