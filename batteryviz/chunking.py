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

from .cycles import assign_cycles
from .schema import RECORD_DIM


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
        loaded = ds[[v for v in ("test_time_second", "voltage_volt", "current_ampere", "step_type", "step_index", "cycle_count") if v in ds]].load()
        structure = assign_cycles(loaded, cycle_mode)
        ds = ds.assign({name: structure[name] for name in structure.data_vars if name not in ds or name in (
            "cycle_index", "half_cycle_index", "step_type_resolved")})
        ds = ds.assign_coords(cycle=structure["cycle"])
        for name in ("cycle_start", "cycle_length", "cycle_first_direction", "cycle_has_charge", "cycle_has_discharge"):
            ds[name] = structure[name]
        ds.attrs.update({k: structure.attrs[k] for k in ("cycle_rule", "cycle_mode")})
    n = ds.sizes[RECORD_DIM]
    chunks = cycle_chunks(ds["cycle_start"].values, n, records_per_chunk)
    out = ds.copy()
    for name, var in ds.data_vars.items():
        if var.dims == (RECORD_DIM,):
            data = var.data if hasattr(var.data, "dask") else np.asarray(var.values)
            out[name] = xr.Variable(var.dims, da.rechunk(da.asarray(data), chunks=(chunks,)) if hasattr(data, "dask")
                                    else da.from_array(data, chunks=(chunks,)), var.attrs)
    return out
