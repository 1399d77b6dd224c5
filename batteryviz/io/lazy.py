"""Columns parsed on first use.

A cycler export can hold dozens of columns of which an analysis needs a handful. Readers parse
the columns every analysis uses (time, voltage, current, step and cycle counters, capacity
counters, temperature) when the file is read, and *defer* the others: they are in the dataset
with their names, units and attrs, and the first access to any of them parses all deferred
columns in one more pass over the file. ``ds.load()`` loads everything.

The file is checked again before that pass (size and modification time): if it changed since it
was read (a test still running), the access raises instead of mixing two versions of the data.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from xarray.backends import BackendArray
from xarray.core import indexing

from ..errors import BatteryvizError


class DeferredColumns:
    """Parses a set of columns of one file once, on first request, and caches them."""

    def __init__(self, path: Path, loader: Callable[[], dict[str, np.ndarray]], n_rows: int):
        self.path = Path(path)
        self._loader = loader
        self._n_rows = n_rows
        self._stamp = _stamp(self.path)
        self._cache: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def get(self, name: str) -> np.ndarray:
        with self._lock:
            if self._cache is None:
                if _stamp(self.path) != self._stamp:
                    raise BatteryvizError(
                        "the file changed after it was read (is the test still running?); read it "
                        "again to see the new rows",
                        path=self.path,
                    )
                cache = self._loader()
                for key, arr in cache.items():
                    if arr.shape[0] != self._n_rows:
                        raise BatteryvizError(
                            f"deferred column {key} has {arr.shape[0]} rows, expected "
                            f"{self._n_rows}",
                            path=self.path,
                        )
                self._cache = cache
            return self._cache[name]

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_lock"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()


class DeferredArray(BackendArray):
    """One deferred column, as xarray's lazily indexed backend array."""

    def __init__(self, columns: DeferredColumns, name: str, n_rows: int, dtype=np.float64):
        self.columns = columns
        self.name = name
        self.shape = (n_rows,)
        self.dtype = np.dtype(dtype)

    def __getitem__(self, key):
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self._raw
        )

    def _raw(self, key):
        return self.columns.get(self.name)[key]


def deferred(columns: DeferredColumns, name: str, n_rows: int, dtype=np.float64):
    """A lazily indexed array for ``xarray.Variable``."""
    return indexing.LazilyIndexedArray(DeferredArray(columns, name, n_rows, dtype))


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
