"""Analyses on Dask-backed datasets stay lazy and give the in-memory numbers."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz.chunking import chunk_by_cycle, cycle_chunks


class CountingScheduler:
    """A synchronous Dask scheduler that counts how often something is computed."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


def test_chunks_cut_only_at_cycle_starts(example_ds):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    chunks = chunked["current_ampere"].data.chunks[0]
    assert len(chunks) > 5
    cuts = np.cumsum(chunks)[:-1]
    assert set(cuts) <= set(chunked["cycle_start"].values.tolist())
    assert cycle_chunks(np.array([0, 10, 20, 30]), 40, 15) == (20, 20)


def test_cycle_summary_is_lazy_until_computed(example_ds):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        lazy = bv.CycleSummary(nominal_capacity_mah=5000).compute(chunked)
        assert scheduler.calls == 0
        assert hasattr(lazy["discharge_capacity_ah"].data, "dask")
        assert "decided when computed" in lazy.attrs["capacity_source"]
        result = lazy.compute()
    assert scheduler.calls >= 1
    eager = bv.CycleSummary(nominal_capacity_mah=5000).compute(example_ds)
    names = [n for n in eager.data_vars if n != "capacity_from_counters"]
    xr.testing.assert_allclose(result[names], eager[names])
    assert bool(result["capacity_from_counters"]) and bool(eager["capacity_from_counters"])


def test_lazily_opened_zarr_gives_the_same_summary(example_ds, tmp_path):
    from batteryviz.export import write_dataset

    write_dataset(example_ds, tmp_path / "cell.zarr")
    opened = xr.open_zarr(tmp_path / "cell.zarr", consolidated=False)
    assert hasattr(opened["current_ampere"].data, "dask")
    summary = bv.CycleSummary().compute(opened)  # computes the cycle structure once, then lazy
    assert hasattr(summary["charge_capacity_ah"].data, "dask")
    np.testing.assert_allclose(summary["charge_capacity_ah"].values, bv.CycleSummary().compute(example_ds)["charge_capacity_ah"].values)


def test_test_plan_needs_memory(example_ds):
    with pytest.raises(ValueError, match="Dask"):
        bv.CycleSummary(test_plan="1: Charge I=1CA\n2: Cycle-end Count=1\n").compute(chunk_by_cycle(example_ds))
