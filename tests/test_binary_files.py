"""Binary cycler files: the numbers their source projects assert, and bad binary input."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.errors import BatteryvizError, BinaryFileError, EmptyFileError, MissingColumnError, UnknownFormatError

from .conftest import REAL

NEWARE = REAL / "neware"


def test_nda_records_and_per_cycle_capacities():
    ds = bv.read(NEWARE / "newarenda_TestFile.nda")
    assert ds.attrs["reader"] == "neware_nda"
    assert ds.sizes["record"] == 6670
    assert ds["voltage_volt"].values[0] == pytest.approx(3.881992, abs=1e-6)
    # NewareNDA stores time as float32 (72373.257812); the file holds 72373.26 s
    assert ds["test_time_second"].values[-1] == pytest.approx(72373.257812, abs=0.01)
    assert ds["voltage_volt"].values[-1] == pytest.approx(4.158703, abs=1e-6)
    assert "ambient_temperature_celsius" in ds  # the aux T1 channel
    s = bv.CycleSummary().compute(ds)
    # NewareNDA's reference (cycle_mode "chg") and the file's own counter agree here: 3 cycles
    np.testing.assert_array_equal(s.cycle.values, [1, 2, 3])
    np.testing.assert_allclose(s["charge_capacity_ah"] * 1000, [0, 5811.025, 5815.090], atol=0.01)
    np.testing.assert_allclose(s["discharge_capacity_ah"] * 1000, [3790.168, 5806.646, 0], atol=0.01)
    np.testing.assert_allclose(s["charge_energy_wh"] * 1000, [0, 21961.174, 21972.916], rtol=2e-4)


def test_ndax_m50t_per_cycle_capacities_with_newarendas_cycle_rule():
    ds = bv.read(NEWARE / "newarenda_TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax")
    assert ds.sizes["record"] == 77745
    assert ds["current_ampere"].max() == pytest.approx(5.0003, abs=1e-3)
    assert ds["current_ampere"].min() == pytest.approx(-5.0003, abs=1e-3)
    # NewareNDA numbers cycles "chg" (a new cycle at each charge after a discharge), which is
    # our charge_first pairing; its cycle k is our cycle k-1 (the first discharge is our cycle 0)
    s = bv.CycleSummary(cycle_mode="charge_first").compute(ds)
    charge = [0, 4760.662, 4722.766, 4724.952, 4726.562, 4725.232, 4726.939, 4724.846]
    discharge = [1297.274, 4717.546, 4720.467, 4722.804, 4721.869, 4723.799, 4722.430, 4719.031]
    np.testing.assert_allclose(s["charge_capacity_ah"] * 1000, charge, atol=0.01)
    np.testing.assert_allclose(s["discharge_capacity_ah"] * 1000, discharge, atol=0.01)
    np.testing.assert_array_equal(s.cycle.values, np.arange(8))


def test_rest_only_ndax_reads_and_says_there_are_no_cycles():
    ds = bv.read(NEWARE / "newarenda_123456789012_Unit27_Example_Data_File.ndax")
    assert ds.sizes["record"] == 301
    assert ds["voltage_volt"].values[0] == pytest.approx(2.982991, abs=1e-6)
    assert ds["test_time_second"].values[-1] - ds["test_time_second"].values[0] == pytest.approx(300.0, abs=1.0)
    assert ds["ambient_temperature_celsius"].values[-1] == pytest.approx(25.413998, abs=1e-5)
    assert ds["temperature_t2_celsius"].values[-1] == pytest.approx(25.487, abs=1e-5)
    s = bv.CycleSummary().compute(ds)
    assert s.sizes["cycle"] == 0
    assert "no charge or discharge records" in s.attrs["quality_warnings"]


def test_truncated_nda(tmp_path):
    src = (NEWARE / "newarenda_TestFile.nda").read_bytes()
    p = tmp_path / "cut.nda"
    p.write_bytes(src[: len(src) // 3 + 7])
    try:
        ds = bv.read(p)
    except BatteryvizError as exc:
        assert "cut.nda" in str(exc)
    else:  # a record-aligned cut may still decode: then fewer records, never garbage
        assert 0 < ds.sizes["record"] < 6670
        assert np.isfinite(ds["voltage_volt"].values).all()


def test_text_file_renamed_nda(tmp_path):
    p = tmp_path / "fake.nda"
    p.write_text("Cycle,Voltage\n1,3.7\n")
    with pytest.raises(UnknownFormatError):
        bv.read(p)
    with pytest.raises(BinaryFileError, match="not a Neware"):
        bv.read(p, format="neware_nda")


def test_zero_byte_nda(tmp_path):
    p = tmp_path / "empty.nda"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.nda"):
        bv.read(p)


def test_ndax_with_a_member_missing(tmp_path):
    src = NEWARE / "newarenda_TESTCELL0001-B2-2025-M50T_NewareNDA_Investigation.ndax"
    p = tmp_path / "broken.ndax"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for item in zin.infolist():
            if item.filename != "data.ndc":
                zout.writestr(item, zin.read(item.filename))
    with pytest.raises(MissingColumnError, match="data.ndc"):
        bv.read(p)
