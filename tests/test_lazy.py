"""Analyses on Dask-backed datasets stay lazy and give the in-memory numbers.

A counting scheduler proves it: building the result computes nothing; ``.compute()`` is one
pass. Two analyses need values to know their result's shape and say so: rate capability (which
rates) computes the summary once, impedance reads the frequency column to find its spectra.
"""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz.chunking import chunk_by_cycle, cycle_chunks

from .conftest import REAL


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
    np.testing.assert_allclose(
        summary["charge_capacity_ah"].values,
        bv.CycleSummary().compute(example_ds)["charge_capacity_ah"].values,
    )


def test_test_plan_needs_memory(example_ds):
    with pytest.raises(ValueError, match="Dask"):
        bv.CycleSummary(test_plan="1: Charge I=1CA\n2: Cycle-end Count=1\n").compute(
            chunk_by_cycle(example_ds)
        )


def _assert_lazy_then_equal(analysis, chunked, in_memory, known=()):
    """``analysis`` on the chunked dataset computes nothing until asked, then matches memory.

    ``known``: variables the cycle structure decides (in memory from the start)."""
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        lazy = analysis.compute(chunked)
        assert scheduler.calls == 0
        assert all(
            hasattr(var.data, "dask") for name, var in lazy.data_vars.items() if name not in known
        )
        result = lazy.compute()
    assert scheduler.calls == 1  # one pass over the records for every variable together
    xr.testing.assert_allclose(result, analysis.compute(in_memory))
    return result


@pytest.mark.parametrize("cycles", [None, [20, 3, 10, 11]])
def test_dqdu_is_lazy_until_computed(example_ds, cycles):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    assert len(chunked["current_ampere"].data.chunks[0]) > 5
    result = _assert_lazy_then_equal(bv.DifferentialCapacity(cycles=cycles), chunked, example_ds)
    if cycles:
        np.testing.assert_array_equal(result["cycle"].values, cycles)  # the order asked for
    assert np.isfinite(result["discharge_peak_voltage"].values).any()
    assert (result["discharge_peak_track"].values >= 0).any()


def test_dvdq_is_lazy_until_computed(example_ds):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    for x in ("capacity", "soc"):
        result = _assert_lazy_then_equal(bv.DifferentialVoltage(x=x), chunked, example_ds)
        assert np.isfinite(result["charge_dvdq"].values).sum() > result.sizes["cycle"]


def test_half_cycle_extents_bound_the_curves(example_ds):
    from batteryviz.analysis.dqdu import half_cycle_curve
    from batteryviz.analysis.dvdq import half_cycle_vq
    from batteryviz.cycles import CHARGE, assign_cycles, half_cycle_extents, half_cycle_records

    ds = assign_cycles(example_ds)
    extents = half_cycle_extents(ds)
    for c, records in half_cycle_records(ds, ds["cycle"].values[:5], CHARGE).items():
        v, _ = half_cycle_curve(*records, CHARGE)
        row = extents.sel(cycle=c)
        assert (
            row["cycle_charge_voltage_low"] == v[0] and row["cycle_charge_voltage_high"] == v.max()
        )
        assert row["cycle_charge_records"] == records[0].size
        q, _ = half_cycle_vq(*records)
        assert float(row["cycle_charge_capacity_ah"]) == pytest.approx(q[-1], rel=1e-9)


def test_cycle_life_is_lazy_until_computed(example_ds, truth):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    result = _assert_lazy_then_equal(
        bv.CycleLife(selection="longest_block"), chunked, example_ds, known={"x"}
    )
    np.testing.assert_array_equal(
        result["cycle"].values[result["used_in_fit"].values], truth["fade_summary"]["cycles"]
    )


def test_calendar_ageing_is_lazy_until_computed():
    from batteryviz.testing import synthetic_cell

    days = np.array([0, 7, 14, 28])
    cell = synthetic_cell(
        n_cycles=4,
        capacities_ah=list(2.0 * (1 - 0.01 * np.sqrt(days))),
        storage_s=list(np.r_[0, np.diff(days)] * 86400),
        dt_s=30,
    )
    chunked = chunk_by_cycle(cell.ds, records_per_chunk=500)
    result = _assert_lazy_then_equal(
        bv.CalendarAging(), chunked, cell.ds, known={"storage_time", "cycle"}
    )
    np.testing.assert_allclose(
        result["discharge_capacity_ah"], cell.truth["discharge_capacity_ah"], rtol=1e-3
    )


def test_rate_capability_computes_the_summary_once(example_ds):
    chunked = chunk_by_cycle(example_ds, records_per_chunk=2000)
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        result = bv.RateCapability().compute(chunked)
    assert scheduler.calls == 1  # the rates are in the values: one pass, then memory
    xr.testing.assert_allclose(result, bv.RateCapability().compute(example_ds))


def test_impedance_fits_are_lazy_one_task_per_spectrum():
    ds = bv.read(REAL / "biologic" / "bdf_PEIS-0.mpr")
    chunked = ds.chunk({"record": 7})
    scheduler = CountingScheduler()
    with dask.config.set(scheduler=scheduler):
        lazy = bv.Impedance().compute(chunked)
        assert scheduler.calls == 1  # the frequency column, read to find the spectra
        assert hasattr(lazy["R0"].data, "dask") and hasattr(lazy["real_impedance_ohm"].data, "dask")
        result = lazy.compute()
    assert scheduler.calls == 2
    xr.testing.assert_allclose(result, bv.Impedance().compute(ds))


def test_impedance_inside_a_cycling_test_is_the_same_lazily():
    ds = bv.read(REAL / "biologic" / "cellpy_biol.mpr")
    result = bv.Impedance().compute(ds.chunk({"record": 500})).compute()
    xr.testing.assert_allclose(result, bv.Impedance().compute(ds))
    assert (result["cycle"].values >= 0).all() and result.sizes["spectrum"] == 5
