"""The analysis contract.

An analysis is a :class:`param.Parameterized` whose parameters (each with ``doc=`` and bounds)
fully describe what it computes. ``compute(ds)`` takes a cell dataset and returns a new
:class:`xarray.Dataset`; the parameters, the package version and the definitions used are
written into the result's attrs, so a result file explains itself.

Several cells at once: ``compute(cells)`` with a mapping ``{name: dataset}`` (what
:func:`batteryviz.catalog.open_cells` returns) computes each cell and returns the results on a
``cell`` dimension (:func:`combine`: outer join on the other coordinates,
NaN where a cell has no value). Lazy cells give a lazy combined result.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import param
import xarray as xr

from .. import __version__
from ..errors import MissingColumnError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass(frozen=True)
class KeyFigure:
    """A number a result is summed up by: a tile in the dashboard, a line in a report.

    ``value`` NaN means "not defined" (shown so, never as 0). A value outside ``plausible``
    points to a misread (sign convention, time column, units) and is flagged beside it.
    """

    name: str
    label: str
    value: float
    format: str = "{value:.4g}"
    plausible: tuple[float, float] | None = None
    #: Whether the dashboard shows it as a tile (reports list every key figure).
    shown: bool = True

    @property
    def defined(self) -> bool:
        """Whether the value is a number (NaN: not defined, e.g. CE of charge-only cycles)."""
        return bool(np.isfinite(self.value))

    def implausible(self) -> str:
        """A sentence flagging a value outside :attr:`plausible` ("" when it is inside, or not
        defined, or no range is declared): the same words in a dashboard tile and a report."""
        if self.plausible is None or not self.defined:
            return ""
        low, high = self.plausible
        if low <= self.value <= high:
            return ""
        return (
            f"Implausible {self.label}: {self.value:.4g} (expected {low:g} to {high:g}). The file "
            "may be misread (current sign, time or capacity column, units) or hold no regular "
            "cycling; check the warnings and the file's first rows."
        )


@dataclass(frozen=True)
class Comparable:
    """A quantity cells are compared by, on one plot: result variable ``variable`` against
    its coordinate ``along`` (one value per cycle: capacity, retention, CE…)."""

    variable: str
    label: str
    along: str = "cycle"
    along_label: str = "Cycle"


class Analysis(param.Parameterized):
    """Base class of every analysis (registered under the ``batteryviz.analyses`` group).

    Besides ``compute``, an analysis declares how its results are presented, so dashboards,
    exports, reports and batch jobs need not know it by name: :attr:`title`,
    :meth:`key_figures`, :meth:`tables` and :meth:`sheets` (each depends on the result only),
    and what cells are compared by: :attr:`comparables` and :attr:`cycle_curves`.
    """

    #: Quantities of the result cells are compared by (the dashboard's Compare tab).
    comparables: ClassVar[tuple[Comparable, ...]] = ()
    #: Result variables that are curves of one cycle on a grid (``cycle`` × grid, e.g. dQ/dU):
    #: cells are compared by these curves of one cycle.
    cycle_curves: ClassVar[tuple[str, ...]] = ()

    #: The analysis's name on screen (tabs, headings, reports); default: the class name spaced.
    title: ClassVar[str] = ""
    #: Run as soon as a cell opens in the dashboard, its tab placed first (the cycle summary).
    run_on_open: ClassVar[bool] = False
    #: A batch run writes this analysis's main table of every cell into one ``<name>.csv``
    #: (a ``cell`` column first): worth it for small per-cycle tables, not for curves.
    batch_table: ClassVar[bool] = False

    #: Dataset variables the analysis cannot do without.
    requires: ClassVar[tuple[str, ...]] = ("test_time_second", "voltage_volt", "current_ampere")

    __abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "compute" in cls.__dict__:
            cls.compute = _over_cells(cls.__dict__["compute"])

    def __init__(self, **params):
        label_parameters(type(self))
        super().__init__(**params)

    def compute(self, ds: xr.Dataset) -> xr.Dataset:  # pragma: no cover - abstract
        """Compute the analysis on a cell dataset."""
        raise NotImplementedError

    def check_inputs(self, ds: xr.Dataset) -> None:
        """Raise :class:`MissingColumnError` naming what the dataset lacks."""
        missing = [name for name in self.requires if name not in ds.variables]
        if missing:
            raise MissingColumnError(
                f"{type(self).__name__} needs {', '.join(missing)}; the dataset has "
                f"{', '.join(map(str, ds.data_vars))}",
                path=ds.attrs.get("source_file"),
                column=missing[0],
            )

    # -- what a result is summed up by (declared; pure, no view library) -------------------------
    @classmethod
    def display_title(cls) -> str:
        """:attr:`title`, or the class name with spaces (``CycleSummary`` → "Cycle Summary")."""
        return cls.title or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", cls.__name__)

    def key_figures(self, result: xr.Dataset) -> list[KeyFigure]:
        """The numbers a result is summed up by (none by default)."""
        return []

    def tables(self, result: xr.Dataset) -> dict[str, pd.DataFrame]:
        """The result's tables by name, the main one first (what a CSV download holds):
        :func:`batteryviz.analysis.tables.result_table` by default."""
        from .tables import result_table

        return {"result": result_table(result)}

    def sheets(self, result: xr.Dataset) -> list[tuple[str, pd.DataFrame]]:
        """``(sheet name, table)`` of the result in a workbook: each table, the first named by
        the analysis's title."""
        from .tables import sheet_name

        out = []
        for k, (name, table) in enumerate(self.tables(result).items()):
            out.append(
                (
                    sheet_name(
                        self.display_title() if k == 0 else f"{self.display_title()} {name}"
                    ),
                    table,
                )
            )
        return out

    # -- presentation: delegated to the view layer (batteryviz.viz), imported by name ------------
    def plot(self, result: xr.Dataset):
        """A HoloViews object drawing ``result``: the figure :mod:`batteryviz.viz` registers for
        ``result.attrs["analysis"]``. A plug-in analysis may override this on its own class."""
        return view_layer().plot(result, analysis=self)

    def view(self, ds: xr.Dataset | None = None):
        """Widgets for the parameters and the plot of the result on ``ds``, as a Panel viewer
        (:class:`batteryviz.viz.view.AnalysisView`).

        Works inline in JupyterLab and inside the dashboards; the plot is recomputed when a
        parameter changes. Errors are shown as a message, never as a traceback. Each call makes
        a new view: two views of one analysis on two datasets stay apart.
        """
        return view_layer().AnalysisView(analysis=self, data=ds)

    def __panel__(self):
        return self.view().__panel__()

    def parameter_values(self) -> dict:
        """The analysis parameters as plain values (``name`` excluded)."""
        return {k: v for k, v in self.param.values().items() if k != "name"}

    def provenance(self) -> dict:
        """Attrs recording how a result was made."""
        values = {
            k: (list(v) if isinstance(v, tuple) else v) for k, v in self.parameter_values().items()
        }
        return {
            "analysis": type(self).__name__,
            "batteryviz_version": __version__,
            "parameters": json.dumps(values, default=_jsonable, sort_keys=True),
        }


#: Name endings that are units, and how a label writes them.
UNIT_SUFFIXES = {
    "mah_g": "mAh/g",
    "mah": "mAh",
    "ah": "Ah",
    "mg": "mg",
    "cm2": "cm²",
    "v": "V",
    "s": "s",
    "h": "h",
    "percent": "%",
}
#: Words a label writes in capitals.
ACRONYMS = {"ce": "CE", "kk": "KK", "eol": "EoL", "dc": "DC"}


def unit_label(name: str) -> str:
    """A parameter's label from its name: words spaced, the unit in brackets, acronyms in
    capitals (``nominal_capacity_mah`` → "Nominal capacity (mAh)", ``threshold_percent`` →
    "Threshold (%)")."""
    words = name.split("_")
    unit = ""
    for suffix, text in UNIT_SUFFIXES.items():
        parts = suffix.split("_")
        if len(words) > len(parts) and words[-len(parts) :] == parts:
            words, unit = words[: -len(parts)], text
            break
    words = [ACRONYMS.get(w, w) for w in words]
    label = " ".join(words)
    label = label[:1].upper() + label[1:]
    return f"{label} ({unit})" if unit else label


def label_parameters(cls) -> None:
    """Give every parameter of ``cls`` without a label of its own :func:`unit_label` (once per
    class; the parameters exist only once the class is made, so this runs on first use)."""
    if cls.__dict__.get("_unit_labels"):
        return
    for name, parameter in cls.param.objects("existing").items():
        if name != "name" and parameter._label is None:
            parameter.label = unit_label(name)
    cls._unit_labels = True


def view_layer():
    """:mod:`batteryviz.viz`, imported by name when something is drawn: the analysis layer
    never imports plotting or widget libraries, and works without them."""
    import importlib

    return importlib.import_module("batteryviz.viz")


def combine(results: dict, dim: str = "cell") -> xr.Dataset:
    """Per-cell results (e.g. cycle summaries) on one ``cell`` dimension (outer join on cycles).

    Plain xarray: combining results needs nothing from the catalog extra."""
    names = list(results)
    combined = xr.concat(
        [
            results[n].drop_attrs() if hasattr(results[n], "drop_attrs") else results[n]
            for n in names
        ],
        dim=dim,
        join="outer",
        coords="minimal",
        compat="override",
        combine_attrs="drop",
    )
    return combined.assign_coords({dim: names})


def _over_cells(compute):
    """Let ``compute`` take a mapping of cells too (module docstring)."""
    import functools
    from collections.abc import Mapping

    @functools.wraps(compute)
    def wrapper(self, ds, *args, **kwargs):
        if not isinstance(ds, Mapping) or isinstance(ds, xr.Dataset):  # a Dataset is a Mapping too
            return compute(self, ds, *args, **kwargs)
        from ..errors import BatteryvizError

        results = {}
        for name, cell in ds.items():
            try:
                results[name] = compute(self, cell, *args, **kwargs)
            except (BatteryvizError, ValueError) as exc:
                raise type(exc)(f"cell {name!r}: {exc}") from exc
        combined = combine(results)
        combined.attrs.update(self.provenance())
        return combined

    return wrapper


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    return str(value)
