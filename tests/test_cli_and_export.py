"""The command line and the files it writes, opened with the libraries users would use."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz.cli import main

from .conftest import REAL


def test_summary_example_prints_34_cycles(capsys):
    assert main(["summary", "--example"]) == 0
    out = capsys.readouterr().out
    assert "    34 " in out and "Ah-Cyc-Charge-0" in out


def test_summary_csv_has_cycle_column_and_documented_names(tmp_path, example_path):
    out = tmp_path / "s.csv"
    assert (
        main(["summary", str(example_path), "--nominal-capacity-mah", "5000", "-o", str(out)]) == 0
    )
    df = pd.read_csv(out)
    assert list(df["cycle"]) == list(range(1, 35))
    for col in (
        "charge_capacity_ah",
        "discharge_capacity_ah",
        "coulombic_efficiency_percent",
        "charge_energy_wh",
        "mean_discharge_voltage_v",
        "min_voltage_v",
        "max_voltage_v",
        "charge_duration_h",
        "discharge_c_rate",
        "retention_percent",
        "equivalent_full_cycles",
        "mean_temperature_celsius",
    ):
        assert col in df.columns


def test_summary_xlsx_opens_with_openpyxl(tmp_path):
    import openpyxl

    out = tmp_path / "s.xlsx"
    assert (
        main(
            [
                "summary",
                str(REAL / "neware" / "cellpy_neware_uio.csv"),
                "--active-mass-mg",
                "2.08",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    wb = openpyxl.load_workbook(out)
    assert {"Summary", "Parameters", "Definitions"} <= set(wb.sheetnames)
    rows = list(wb["Summary"].values)
    header = rows[0]
    assert header[0] == "cycle" and len(rows) == 5
    params = dict(list(wb["Parameters"].values)[1:])
    assert params["active_mass_mg"] == 2.08


def test_summary_netcdf_keeps_attrs(tmp_path, example_path):
    out = tmp_path / "s.nc"
    assert main(["summary", str(example_path), "-o", str(out)]) == 0
    with xr.open_dataset(out, engine="h5netcdf") as s:
        assert s.sizes["cycle"] == 34
        assert "discharge/charge" in s.attrs["ce_definition"]
        assert s["discharge_capacity_ah"].attrs["units"] == "Ah"


@pytest.mark.parametrize("suffix", [".bdf.csv", ".bdf.parquet", ".nc", ".zarr"])
def test_convert_round_trip_gives_the_same_summary(tmp_path, example_path, suffix):
    out = tmp_path / f"cell{suffix}"
    assert main(["convert", str(example_path), "-o", str(out)]) == 0
    if suffix in (".nc", ".zarr"):
        ds = (
            xr.open_dataset(out, engine="h5netcdf")
            if suffix == ".nc"
            else xr.open_zarr(out, consolidated=False)
        )
    else:
        ds = bv.read(out)
    ref = bv.CycleSummary().compute(bv.read(example_path))
    s = bv.CycleSummary().compute(ds)
    np.testing.assert_allclose(s["discharge_capacity_ah"], ref["discharge_capacity_ah"], rtol=1e-9)


def test_info_lists_format_cycles_and_metadata(capsys):
    assert main(["info", str(REAL / "basytec" / "pyprobe_sample_data_basytec.txt")]) == 0
    out = capsys.readouterr().out
    assert "basytec" in out and "rows        74" in out and "test_plan: plan.pln" in out


def test_bad_file_is_one_line_and_exit_status_2(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("nothing to see\n")
    proc = subprocess.run(
        [sys.executable, "-m", "batteryviz.cli", "summary", str(p)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "x.txt" in proc.stderr


def test_a_file_too_large_for_memory_streams_to_parquet_with_the_same_numbers(
    tmp_path, example_path
):
    out = tmp_path / "big.bdf.parquet"
    assert main(["convert", str(example_path), "-o", str(out), "--max-memory-mb", "1"]) == 0
    streamed = bv.read(out)
    direct = bv.read(example_path)
    for name in (
        "test_time_second",
        "voltage_volt",
        "current_ampere",
        "cycle_count",
        "step_type",
        "unix_time_second",
    ):
        np.testing.assert_allclose(streamed[name].values, direct[name].values)
    s1 = bv.CycleSummary().compute(streamed)
    s2 = bv.CycleSummary().compute(direct)
    np.testing.assert_allclose(s1["discharge_capacity_ah"], s2["discharge_capacity_ah"])
    assert s1.attrs["capacity_source"] == s2.attrs["capacity_source"]


@pytest.mark.parametrize(
    "rel",
    [
        "arbin/cellpy_20160805_test001_45_cc_01.res",
        "neware/newarenda_TestFile.nda",
        "biologic/navani_jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr",
    ],
)
def test_info_and_summary_on_binary_files(rel, capsys, tmp_path):
    path = REAL / rel
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format      " in out and "cycles      " in out
    csv = tmp_path / "s.csv"
    assert main(["summary", str(path), "-o", str(csv)]) == 0
    assert len(pd.read_csv(csv)) >= 3


def test_info_lists_the_channels_of_a_res_file(capsys):
    assert main(["info", str(REAL / "arbin" / "cellpy_20160805_test001_45_cc_01.res")]) == 0
    assert "channels: Test_ID 1: channel 3" in capsys.readouterr().out


def test_parquet_keeps_the_cycle_structure_and_another_mode_replaces_it(tmp_path, example_ds):
    import xarray as xr

    from batteryviz.export import write_dataset

    path = write_dataset(example_ds, tmp_path / "cell.bdf.parquet")
    reopened = bv.read(path)
    assert reopened.attrs["cycle_mode"] == "cycler" and reopened.sizes["cycle"] == 34
    first = bv.CycleSummary().compute(reopened)
    xr.testing.assert_allclose(
        first["discharge_capacity_ah"],
        bv.CycleSummary().compute(example_ds)["discharge_capacity_ah"],
    )
    paired = bv.CycleSummary(cycle_mode="charge_first").compute(reopened)
    assert paired.attrs["cycle_mode"] == "charge_first"


def test_parquet_carries_the_summary_aggregates_and_uses_them_only_when_they_match(
    tmp_path, example_ds
):
    import xarray as xr

    from batteryviz.analysis.summary import cached_aggregates
    from batteryviz.export import write_dataset

    reopened = bv.read(write_dataset(example_ds, tmp_path / "cell.bdf.parquet"))
    assert reopened["cycle_aggregates"].sizes == {
        "cycle": 34,
        "aggregate": reopened.sizes["aggregate"],
    }
    for params in (
        {},
        {"capacity_source": "integration", "active_mass_mg": 2.0},
        {"resistance_max_interval_s": 5.0},
    ):
        cached = bv.CycleSummary(**params).compute(reopened)
        fresh = bv.CycleSummary(**params).compute(reopened.drop_vars("cycle_aggregates"))
        xr.testing.assert_identical(cached, fresh)
    names = {
        "t": "test_time_second",
        "u": "voltage_volt",
        "i": "current_ampere",
        "st": "step_type_resolved",
    }
    assert cached_aggregates(reopened, names, 1.0) is not None
    assert (
        cached_aggregates(reopened, names, 5.0) is None
    )  # another resistance interval: recomputed
    assert (
        cached_aggregates(reopened.isel(record=slice(0, 1000)), names, 1.0) is None
    )  # other records
    assert (
        cached_aggregates(reopened, {**names, "u": "current_ampere"}, 1.0) is None
    )  # other inputs
    # a new cycle rule drops the structure and the aggregates with it
    from batteryviz.cycles import assign_cycles

    assert "cycle_aggregates" not in assign_cycles(reopened, "charge_first")


def test_reopening_a_parquet_file_reads_each_record_column_when_first_used(tmp_path, example_ds):
    import xarray as xr

    from batteryviz.export import write_dataset

    path = write_dataset(example_ds, tmp_path / "cell.bdf.parquet")
    reopened = bv.read(path)

    def in_memory():
        return {
            n
            for n, v in reopened.data_vars.items()
            if v.dims == ("record",) and v.variable._in_memory
        }

    loaded_at_open = in_memory()
    assert "voltage_volt" not in loaded_at_open and "cycle_index" not in loaded_at_open
    summary = bv.CycleSummary().compute(reopened)  # from the stored aggregates: no record read
    assert in_memory() == loaded_at_open
    xr.testing.assert_allclose(summary, bv.CycleSummary().compute(example_ds))
    assert reopened.attrs.get("quality_warnings") == example_ds.attrs.get("quality_warnings")
    # one column used, one column read; each exactly as written, dtype included
    voltage = reopened["voltage_volt"].values
    np.testing.assert_array_equal(voltage, example_ds["voltage_volt"].values)
    assert "current_ampere" not in in_memory()
    for name, var in example_ds.data_vars.items():
        if var.dims == ("record",):
            assert reopened[name].dtype == var.dtype, name
            np.testing.assert_array_equal(reopened[name].values, var.values)


def test_a_parquet_file_without_column_types_in_its_metadata_is_read_as_before(
    tmp_path, example_ds
):
    import json

    from batteryviz.export import write_dataset

    path = write_dataset(example_ds, tmp_path / "cell.bdf.parquet")
    sidecar = tmp_path / "cell.metadata.json"
    meta = json.loads(sidecar.read_text())
    del meta["dtypes"]  # as written by batteryviz before the types were stored
    sidecar.write_text(json.dumps(meta))
    reopened = bv.read(path)
    assert reopened["voltage_volt"].variable._in_memory  # the core columns are read at once
    np.testing.assert_allclose(
        bv.CycleSummary().compute(reopened)["discharge_capacity_ah"],
        bv.CycleSummary().compute(example_ds)["discharge_capacity_ah"],
    )


def test_serve_writes_each_log_line_once_when_a_library_configures_the_root_logger(capfd):
    """`batteryviz serve` writes its own log lines to stderr; after a library set up the root
    logger (as happened on the first failed upload) every line was written twice."""
    import logging
    import sys

    from batteryviz.cli import _log_to_stderr

    logger, root = logging.getLogger("batteryviz"), logging.getLogger()
    saved = (logger.handlers[:], logger.level, logger.propagate)
    library_handler = logging.StreamHandler(sys.stderr)  # what a library's basicConfig adds
    root.addHandler(library_handler)
    try:
        _log_to_stderr("info")
        logging.getLogger("batteryviz.ui.app").info("session 1: upload cell.txt stored")
        err = capfd.readouterr().err
    finally:
        root.removeHandler(library_handler)
        logger.handlers[:], logger.level, logger.propagate = saved
    assert err.count("upload cell.txt stored") == 1, err
    assert "INFO batteryviz.ui.app" in err  # with time, level and where it came from
