"""Contracts every plug-in and the package itself keep."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import param
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz.analysis.registry import ANALYSES
from batteryviz.io import READERS
from batteryviz.io.base import Reader
from batteryviz.testing import synthetic_cell, write_text


@pytest.mark.parametrize("name", sorted(READERS))
def test_reader_contract(name, tmp_path):
    reader = READERS[name]
    assert isinstance(reader, Reader)
    assert reader.name == name and reader.description and reader.suffixes
    # a reader never claims a file that is plainly not cycler data
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\nworld\n")
    from batteryviz.io.text import read_head

    assert not reader.sniff(read_head(junk))


@pytest.mark.parametrize(
    "name", ["basytec", "arbin", "biologic", "maccor", "neware", "bdf", "generic"]
)
def test_readers_return_bdf_names_and_charge_positive_current(name, tmp_path):
    cell = synthetic_cell(n_cycles=2)
    fmt = name
    path = write_text(cell.ds, tmp_path / ("c.bdf.csv" if name == "bdf" else "c.txt"), fmt)
    ds = READERS[name].read(path)
    assert ds["current_ampere"].attrs["units"] == "A"
    st = cell.ds["step_type"].values
    i = ds["current_ampere"].values
    assert (i[st == 1] > 0).all() and (i[st == 2] < 0).all()


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_every_analysis_parameter_has_doc_and_bounds(name):
    cls = ANALYSES[name]
    for pname, p in cls.param.objects("existing").items():
        if pname == "name":
            continue
        assert p.doc, f"{name}.{pname} has no doc"
        if isinstance(p, param.Number):
            assert p.bounds is not None, f"{name}.{pname} has no bounds"


def test_result_attrs_carry_parameters_version_and_definitions(example_ds):
    s = bv.CycleSummary(reference_cycle=3).compute(example_ds)
    assert s.attrs["batteryviz_version"] == bv.__version__
    assert '"reference_cycle": 3' in s.attrs["parameters"]
    for var in s.data_vars.values():
        assert var.attrs["units"] is not None and "definition" in var.attrs
    assert s["retention_percent"].sel(cycle=3) == pytest.approx(100.0)


def test_import_is_light():
    code = (
        "import sys, batteryviz; "
        "print([m for m in ('panel', 'holoviews', 'dask', 'polars', 'xarray') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ragged_cycle_layout(example_ds):
    cyc = bv.assign_cycles(example_ds)
    starts, lengths = cyc["cycle_start"].values, cyc["cycle_length"].values
    assert cyc["cycle_length"].attrs["sample_dimension"] == "record"
    np.testing.assert_array_equal(starts[1:], starts[:-1] + lengths[:-1])  # contiguous
    idx = cyc["cycle_index"].values
    for number, s, n in zip(cyc.cycle.values, starts, lengths):
        assert (idx[s : s + n] == number).all()
    assert (idx[: starts[0]] == -1).all()  # the initial rest belongs to no cycle


def test_columns_outside_the_core_are_parsed_on_first_access(example_path):
    ds = bv.read(example_path)
    var = ds["data_point"]  # BaSyTec DataSet, not needed by any summary
    assert var.attrs["deferred"] == 1 and var.attrs["source_column"] == "DataSet"
    np.testing.assert_array_equal(var.values, np.arange(1, ds.sizes["record"] + 1))
    state = ds["basytec_state"].values  # State 3 opens every line: as many as program lines run
    assert set(np.unique(state)) == {0, 1, 2, 3}


def test_deferred_columns_refuse_a_file_that_changed(example_path, tmp_path):
    from batteryviz.errors import BatteryvizError

    copy = tmp_path / "running.txt"
    copy.write_bytes(example_path.read_bytes())
    ds = bv.read(copy)
    with open(copy, "ab") as fh:
        fh.write(b"0.1\t1\n")
    with pytest.raises(BatteryvizError, match="changed after it was read"):
        ds["data_point"].values


def test_a_dataset_with_deferred_columns_pickles(example_path):
    import pickle

    ds = pickle.loads(pickle.dumps(bv.read(example_path)))
    assert ds["data_point"].values[-1] == ds.sizes["record"]


def test_the_summary_keeps_the_cycles_asked_for(example_ds):
    """Polish (#16): the summary silently ignored the Cycles box."""
    whole = bv.CycleSummary().compute(example_ds)
    part = bv.CycleSummary(cycles=[3, 10, 20, 999]).compute(example_ds)
    assert part["cycle"].values.tolist() == [3, 10, 20]
    xr.testing.assert_identical(
        part["retention_percent"], whole["retention_percent"].sel(cycle=[3, 10, 20])
    )
    with pytest.raises(
        ValueError, match="none of the cycles 100-120 is in the data .it holds cycles 1-34"
    ):
        bv.CycleSummary(cycles=list(range(100, 121))).compute(example_ds)
