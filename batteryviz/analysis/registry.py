"""Registry of analyses: the ``batteryviz.analyses`` entry-point group, loaded lazily."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Iterator

GROUP = "batteryviz.analyses"
_BUILTIN = {
    "summary": "batteryviz.analysis.summary:CycleSummary",
    "dqdu": "batteryviz.analysis.dqdu:DifferentialCapacity",
    "dvdq": "batteryviz.analysis.dvdq:DifferentialVoltage",
    "rate": "batteryviz.analysis.rate:RateCapability",
    "cycle_life": "batteryviz.analysis.ageing:CycleLife",
    "calendar": "batteryviz.analysis.ageing:CalendarAging",
    "impedance": "batteryviz.analysis.impedance:Impedance",
}


class AnalysisRegistry(Mapping):
    """Name → analysis class, importing each on first access."""

    def __init__(self) -> None:
        self._targets: dict[str, str] | None = None
        self._loaded: dict[str, type] = {}

    def _discover(self) -> dict[str, str]:
        if self._targets is None:
            self._targets = dict(_BUILTIN)
            for ep in entry_points(group=GROUP):
                self._targets[ep.name] = ep.value
        return self._targets

    def __getitem__(self, name: str) -> type:
        if name not in self._loaded:
            module, _, attr = self._discover()[name].partition(":")
            self._loaded[name] = getattr(__import__(module, fromlist=[attr]), attr)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._discover())

    def __len__(self) -> int:
        return len(self._discover())


ANALYSES = AnalysisRegistry()


def analysis_for(result, key: str | None = None):
    """An analysis instance to present ``result`` with: the registered class named in
    ``result.attrs["analysis"]`` (the class name every analysis writes), else ``ANALYSES[key]``,
    else the base :class:`~batteryviz.analysis.base.Analysis` (generic title and table)."""
    from .base import Analysis

    made_by = str(getattr(result, "attrs", {}).get("analysis", ""))
    targets = ANALYSES._discover()
    name = next((k for k, t in targets.items() if t.rpartition(":")[2] == made_by), None)
    name = name or (key if key in targets else None)
    return ANALYSES[name]() if name else Analysis()
