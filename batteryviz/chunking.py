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

from .cycles import (
    CYCLE_VARIABLES,
    EXTENT_VARIABLES,
    RECORD_VARIABLES,
    assign_cycles,
    half_cycle_extents,
)
from .schema import CYCLE_DIM, RECORD_DIM


def is_lazy(ds: xr.Dataset) -> bool:
    """True when the record data of ``ds`` are Dask arrays."""
    return "current_ampere" in ds and hasattr(ds["current_ampere"].data, "dask")


def cycle_chunks(starts: np.ndarray, n: int, records_per_chunk: int) -> tuple[int, ...]:
    """Chunk sizes along ``record`` that cut only at cycle starts, each about
    ``records_per_chunk``."""
    cuts = [0]
    for s in starts:
        if s - cuts[-1] >= records_per_chunk:
            cuts.append(int(s))
    return tuple(int(x) for x in np.diff(np.r_[cuts, n]) if x > 0)


def chunk_by_cycle(
    ds: xr.Dataset, records_per_chunk: int = 1_000_000, cycle_mode: str = "auto"
) -> xr.Dataset:
    """A Dask-backed copy of ``ds`` with the cycle structure and chunks of whole cycles.

    The cycle structure (``cycle_index``, ``cycle_start``, ``cycle_length``, what each cycle
    holds and how far its half cycles reach: :func:`batteryviz.cycles.half_cycle_extents`) is
    computed here, eagerly, reading time, voltage, current and the step columns once; the record
    variables become Dask arrays cut at cycle starts.
    """
    import dask.array as da

    if "cycle_start" not in ds or is_lazy(ds):
        # the cycle rule reads only these variables
        loaded = ds[
            [
                v
                for v in (
                    "test_time_second",
                    "voltage_volt",
                    "current_ampere",
                    "step_type",
                    "step_index",
                    "cycle_count",
                )
                if v in ds
            ]
        ].load()
        structure = assign_cycles(loaded, cycle_mode)
        structure = structure.assign(half_cycle_extents(structure))
        added = [
            n
            for n in RECORD_VARIABLES + CYCLE_VARIABLES + EXTENT_VARIABLES + ("step_type",)
            if n in structure and (n != "step_type" or n not in ds)
        ]
        ds = ds.drop_dims(CYCLE_DIM, errors="ignore").assign({n: structure[n] for n in added})
        ds.attrs.update({k: structure.attrs[k] for k in ("cycle_rule", "cycle_mode")})
    elif not all(n in ds for n in EXTENT_VARIABLES):
        ds = ds.assign(half_cycle_extents(ds))
    chunks = cycle_chunks(ds["cycle_start"].values, ds.sizes[RECORD_DIM], records_per_chunk)
    return ds.map(
        lambda var: (
            var.copy(data=da.asarray(var.data).rechunk((chunks,)))
            if var.dims == (RECORD_DIM,)
            else var
        ),
        keep_attrs=True,
    )


def apply_per_cycle(
    ds: xr.Dataset, variables: list[str], positions: np.ndarray, func, width: int, *args
) -> np.ndarray:
    """Rows of ``func`` for the cycles at ``positions`` (of the ``cycle`` dimension), in that order.

    ``func(*arrays, spans, *args)`` gets the record arrays named by ``variables`` and ``spans``,
    a list of ``(first, stop)`` record ranges (into those arrays) of the cycles to do, and returns
    one row of ``width`` floats per span. In memory it is called once; on a Dask-backed dataset
    chunked on whole cycles it becomes one task per chunk and the result is a lazy Dask array.
    """
    positions = np.asarray(positions, dtype=np.int64)
    starts = np.asarray(ds["cycle_start"].values, dtype=np.int64)
    ends = starts + np.asarray(ds["cycle_length"].values, dtype=np.int64)
    if not is_lazy(ds):
        arrays = [np.asarray(ds[v].values) for v in variables]
        spans = [(int(starts[p]), int(ends[p])) for p in positions]
        return np.asarray(func(*arrays, spans, *args), dtype=float).reshape(len(spans), width)

    import dask
    import dask.array as da

    order = np.argsort(positions, kind="stable")
    bounds = np.r_[0, np.cumsum(ds[variables[0]].data.chunks[0])]
    chunk_of = np.searchsorted(bounds, starts[positions[order]], side="right") - 1
    parts = []
    for k in np.unique(chunk_of):
        a, b = int(bounds[k]), int(bounds[k + 1])
        chosen = positions[order][chunk_of == k]
        if (ends[chosen] > b).any():
            raise ValueError(
                "chunks must hold whole cycles: rechunk with batteryviz.chunking.chunk_by_cycle"
            )
        spans = [(int(starts[p]) - a, int(ends[p]) - a) for p in chosen]
        task = dask.delayed(func)(*[ds[v].data[a:b] for v in variables], spans, *args)
        parts.append(da.from_delayed(task, shape=(len(spans), width), dtype=float))
    if not parts:
        return np.zeros((0, width))
    stacked = da.concatenate(parts, axis=0)
    if (np.diff(order) == 1).all():
        return stacked
    return stacked[np.argsort(order)]


def with_cycle_structure(
    ds: xr.Dataset, cycle_mode: str = "auto", extents: bool = False
) -> xr.Dataset:
    """A record dataset with its cycle structure (and, with ``extents``, the half cycles' extents:
    :func:`batteryviz.cycles.half_cycle_extents`). A Dask-backed one is chunked on whole cycles
    (:func:`chunk_by_cycle`, which computes the structure once); one in memory gets it in memory."""
    has_structure = "cycle_start" in ds and "cycle_index" in ds
    if has_structure and (not extents or all(n in ds for n in EXTENT_VARIABLES)):
        return ds
    if is_lazy(ds):
        return chunk_by_cycle(ds, cycle_mode=cycle_mode)
    if not has_structure:
        ds = assign_cycles(ds, cycle_mode)
    return ds.assign(half_cycle_extents(ds)) if extents else ds


def lazy_call(func, shape: tuple[int, ...], *args) -> np.ndarray:
    """``func(*args)`` as a float array of ``shape``: one lazy Dask task when any argument is a
    Dask array (they arrive computed), else called now."""
    if any(hasattr(a, "dask") for a in args):
        import dask
        import dask.array as da

        return da.from_delayed(dask.delayed(func)(*args), shape=shape, dtype=float)
    return np.asarray(func(*args), dtype=float).reshape(shape)
