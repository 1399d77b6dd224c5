"""batteryviz: battery cycling data in, cycle-indexed xarray datasets and per-cycle answers out.

>>> import batteryviz as bv
>>> ds = bv.read("cell.txt")                                  # doctest: +SKIP
>>> summary = bv.CycleSummary(active_mass_mg=2.1).compute(ds)  # doctest: +SKIP

Importing the package is light: readers, analyses and everything heavy load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# name -> (module, attribute); resolved on first access (PEP 562)
_LAZY = {
    "read": ("batteryviz.io.reading", "read"),
    "detect": ("batteryviz.io.registry", "detect"),
    "READERS": ("batteryviz.io.registry", "READERS"),
    "CycleSummary": ("batteryviz.analysis.summary", "CycleSummary"),
    "DifferentialCapacity": ("batteryviz.analysis.dqdu", "DifferentialCapacity"),
    "DifferentialVoltage": ("batteryviz.analysis.dvdq", "DifferentialVoltage"),
    "RateCapability": ("batteryviz.analysis.rate", "RateCapability"),
    "CycleLife": ("batteryviz.analysis.ageing", "CycleLife"),
    "CalendarAging": ("batteryviz.analysis.ageing", "CalendarAging"),
    "Impedance": ("batteryviz.analysis.impedance", "Impedance"),
    "ANALYSES": ("batteryviz.analysis.registry", "ANALYSES"),
    "assign_cycles": ("batteryviz.cycles", "assign_cycles"),
    "BatteryvizError": ("batteryviz.errors", "BatteryvizError"),
    "write_bdf": ("batteryviz.io.bdf", "write_bdf"),
    "example_file": ("batteryviz.examples", "example_file"),
    "open_catalog": ("batteryviz.catalog", "open_catalog"),
    "open_cells": ("batteryviz.catalog", "open_cells"),
    "combine": ("batteryviz.catalog", "combine"),
    "chunk_by_cycle": ("batteryviz.chunking", "chunk_by_cycle"),
    "get_client": ("batteryviz.cluster", "get_client"),
}

__all__ = sorted(_LAZY) + ["__version__"]

if TYPE_CHECKING:  # pragma: no cover - names for type checkers; __getattr__ imports them lazily
    from .analysis.summary import CycleSummary as CycleSummary
    from .errors import BatteryvizError as BatteryvizError
    from .io.reading import read as read
    from .io.registry import READERS as READERS
    from .io.registry import detect as detect


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'batteryviz' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
