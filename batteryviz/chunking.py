"""Dask-backed cell datasets chunked on whole cycles.

Analyses stay lazy on datasets whose record variables are Dask arrays in chunks that hold whole
cycles: every chunk is aggregated on its own (one task each) and only the small per-cycle
results are combined. :func:`chunk_by_cycle` makes such a dataset from one in memory or from a
lazily opened file (zarr, netCDF): it computes the cycle structure once — which reads the
current and the step types — and rechunks the records at cycle starts.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from .cycles import CYCLE_VARIABLES, RECORD_VARIABLES, assign_cycles
from .schema import CYCLE_DIM, RECORD_DIM


def is_lazy(ds: xr.Dataset) -> bool:
    """True when the record data of ``ds`` are Dask arrays."""
    return "current_ampere" in ds and hasattr(ds["current_ampere"].data, "dask")


def cycle_chunks(starts: np.ndarray, n: int, records_per_chunk: int) -> tuple[int, ...]:
    """Chunk sizes along ``record`` that cut only at cycle starts, each about ``records_per_chunk``."""
    cuts = [0]
    for s in starts:
        if s - cuts[-1] >= records_per_chunk:
            cuts.append(int(s))
    return tuple(int(x) for x in np.diff(np.r_[cuts, n]) if x > 0)


def chunk_by_cycle(ds: xr.Dataset, records_per_chunk: int = 1_000_000, cycle_mode: str = "auto") -> xr.Dataset:
    """A Dask-backed copy of ``ds`` with the cycle structure and chunks of whole cycles.

    The cycle structure (``cycle_index``, ``cycle_start``, ``cycle_length`` and what each cycle
    holds) is computed here, eagerly; the record variables become Dask arrays cut at cycle starts.
    """
    import dask.array as da

    if "cycle_start" not in ds or is_lazy(ds):
        # the cycle rule reads only these variables
        loaded = ds[[v for v in ("test_time_second", "voltage_volt", "current_ampere", "step_type", "step_index", "cycle_count") if v in ds]].load()
        structure = assign_cycles(loaded, cycle_mode)
        added = [n for n in RECORD_VARIABLES + CYCLE_VARIABLES + ("step_type",) if n in structure and (n != "step_type" or n not in ds)]
        ds = ds.drop_dims(CYCLE_DIM, errors="ignore").assign({n: structure[n] for n in added})
        ds.attrs.update({k: structure.attrs[k] for k in ("cycle_rule", "cycle_mode")})
    chunks = cycle_chunks(ds["cycle_start"].values, ds.sizes[RECORD_DIM], records_per_chunk)
    return ds.map(lambda var: var.copy(data=da.asarray(var.data).rechunk((chunks,))) if var.dims == (RECORD_DIM,) else var,
                  keep_attrs=True)
