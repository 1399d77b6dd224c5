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
from typing import ClassVar

import numpy as np
import param
import xarray as xr

from .. import __version__
from ..errors import MissingColumnError


class Analysis(param.Parameterized):
    """Base class of every analysis (registered under the ``batteryviz.analyses`` group)."""

    #: Dataset variables the analysis cannot do without.
    requires: ClassVar[tuple[str, ...]] = ("test_time_second", "voltage_volt", "current_ampere")

    __abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "compute" in cls.__dict__:
            cls.compute = _over_cells(cls.__dict__["compute"])

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

    # -- presentation: delegated to the view layer (batteryviz.viz), imported by name ------------
    def plot(self, result: xr.Dataset):
        """A HoloViews object drawing ``result``: the figure :mod:`batteryviz.viz` registers for
        ``result.attrs["analysis"]``. A plug-in analysis may override this on its own class."""
        return view_layer().plot(result)

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
