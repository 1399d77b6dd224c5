"""The view layer: every plot of a result and every Panel view of an analysis.

Above :mod:`batteryviz.analysis` (which never imports this package, HoloViews or Panel): an
analysis's ``plot(result)`` and ``view(ds)`` reach it by name through
:func:`batteryviz.analysis.base.view_layer`, so ``import batteryviz`` and every computation stay
free of plotting libraries.

* :func:`plot` draws a result, choosing the figure by ``result.attrs["analysis"]`` (the class
  name every analysis writes); :func:`register_plot` adds a figure for another analysis (a
  plug-in can also override ``plot`` on its own class).
* :class:`~batteryviz.viz.view.AnalysisView` is a :class:`panel.viewable.Viewer` holding an
  analysis and its data as its own parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Figure builders in :mod:`batteryviz.viz.plots` by the analysis that makes the result.
_BUILTIN: dict[str, str] = {
    "CycleSummary": "summary_figure",
    "DifferentialCapacity": "dqdu_figure",
    "DifferentialVoltage": "dvdq_figure",
    "RateCapability": "rate_capability",
    "CycleLife": "cycle_life",
    "CalendarAging": "calendar_aging_figure",
    "Impedance": "impedance_figure",
}
_REGISTERED: dict[str, Callable] = {}


def register_plot(analysis: str, figure: Callable) -> None:
    """Draw results of ``analysis`` (its class name, as in ``result.attrs["analysis"]``) with
    ``figure(result) -> HoloViews object``."""
    _REGISTERED[analysis] = figure


def figure_for(analysis: str) -> Callable:
    """The figure builder of an analysis's results (:func:`plots.table_figure` when none is
    known)."""
    from . import plots

    if analysis in _REGISTERED:
        return _REGISTERED[analysis]
    return getattr(plots, _BUILTIN.get(analysis, "table_figure"))


def plot(result, analysis=None, **_: Any):
    """A HoloViews object drawing ``result``, chosen by ``result.attrs["analysis"]``; given the
    ``analysis`` object, a subclass of a built-in analysis draws as the class it extends."""
    names = [str(result.attrs.get("analysis", ""))]
    if analysis is not None:
        names += [cls.__name__ for cls in type(analysis).__mro__]
    known = next((n for n in names if n in _REGISTERED or n in _BUILTIN), names[0])
    return figure_for(known)(result)


def __getattr__(name: str):
    if name in ("AnalysisView", "widget_types", "widget_names"):
        from . import view

        return getattr(view, name)
    raise AttributeError(f"module 'batteryviz.viz' has no attribute {name!r}")
