"""Binary cycler files: the numbers their source projects assert, and bad binary input."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

import batteryviz as bv
from batteryviz.errors import (
    BatteryvizError,
    BinaryFileError,
    EmptyFileError,
    MissingColumnError,
    UnknownFormatError,
)

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
    np.testing.assert_allclose(
        s["discharge_capacity_ah"] * 1000, [3790.168, 5806.646, 0], atol=0.01
    )
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
    assert ds["test_time_second"].values[-1] - ds["test_time_second"].values[0] == pytest.approx(
        300.0, abs=1.0
    )
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


RES = REAL / "arbin" / "cellpy_20160805_test001_45_cc_01.res"

# cellpy's golden summary for this silicon half cell (Ah), lithiation ("discharge") first
RES_CHARGE = [
    0.001625,
    0.001700,
    0.001732,
    0.001576,
    0.001535,
    0.001537,
    0.001535,
    0.001532,
    0.001575,
    0.001528,
    0.001542,
    0.001540,
    0.001573,
    0.001565,
    0.001555,
    0.001586,
    0.001525,
    0.0,
]
RES_DISCHARGE = [
    0.001755,
    0.001567,
    0.001586,
    0.001517,
    0.001471,
    0.001471,
    0.001471,
    0.001465,
    0.001509,
    0.001463,
    0.001478,
    0.001476,
    0.001507,
    0.001503,
    0.001492,
    0.001526,
    0.001465,
    0.000239,
]
RES_CE = [
    92.61,
    108.43,
    109.19,
    103.87,
    104.36,
    104.52,
    104.40,
    104.59,
    104.34,
    104.44,
    104.38,
    104.34,
    104.32,
    104.12,
    104.25,
    103.89,
    104.13,
]
RES_LAST_POINT = [
    1457,
    2283,
    3119,
    3635,
    4133,
    4632,
    5130,
    5628,
    6134,
    6632,
    7133,
    7633,
    8143,
    8649,
    9154,
    9666,
    10165,
    10261,
]


@pytest.fixture(scope="module")
def res():
    return bv.read(RES)


def test_res_records_and_metadata(res):
    assert res.attrs["reader"] == "arbin_res"
    assert res.sizes["record"] == 10261
    assert res["test_time_second"].values[0] == pytest.approx(300.01048193)
    assert res.attrs["channel"] == 3 and res.attrs["operator"] == "hfa"
    assert res.attrs["active_mass_mg"] == pytest.approx(0.85283798)
    assert "Test_ID 1: channel 3" in res.attrs["channels"]


def test_res_cycle_summary_matches_cellpys_golden_table(res):
    s = bv.CycleSummary().compute(res)
    assert s.sizes["cycle"] == 18
    np.testing.assert_allclose(s["charge_capacity_ah"], RES_CHARGE, atol=1e-6)
    np.testing.assert_allclose(s["discharge_capacity_ah"], RES_DISCHARGE, atol=1e-6)
    # anode half cell: CE = charge (delithiation) / discharge (lithiation), as cellpy's "anode" mode
    np.testing.assert_allclose(s["coulombic_efficiency_percent"].values[:17], RES_CE, atol=0.01)
    assert np.isnan(s["coulombic_efficiency_percent"].values[17])  # incomplete last cycle
    cyc = bv.assign_cycles(res)
    ends = cyc["cycle_start"].values + cyc["cycle_length"].values - 1
    np.testing.assert_array_equal(res["data_point"].values[ends], RES_LAST_POINT)


def test_res_channel_that_does_not_exist(res):
    with pytest.raises(BatteryvizError, match="no test with Channel_Index 7.*channel 3"):
        bv.read(RES, channel=7)
    assert bv.read(RES, channel=3).sizes["record"] == 10261


def test_res_without_mdbtools_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no mdb-export
    with pytest.raises(BatteryvizError, match="apt-get install mdbtools"):
        bv.read(RES)


def test_truncated_res(tmp_path):
    p = tmp_path / "cut.res"
    p.write_bytes(RES.read_bytes()[:200_000])
    with pytest.raises(BatteryvizError, match="cut.res"):
        bv.read(p)


def test_text_renamed_res(tmp_path):
    p = tmp_path / "fake.res"
    p.write_text("not a database\n")
    with pytest.raises(UnknownFormatError):
        bv.read(p)
    with pytest.raises(BinaryFileError, match="Standard Jet DB"):
        bv.read(p, format="arbin_res")


BIOLOGIC = REAL / "biologic"


def test_mpr_peis_impedance_values():
    ds = bv.read(BIOLOGIC / "bdf_PEIS-0.mpr")
    assert ds.attrs["reader"] == "biologic_mpr" and ds.attrs["technique"] == "PEIS"
    assert ds.sizes["record"] == 60
    f = ds["frequency_hertz"].values
    re_z, im_z = ds["real_impedance_ohm"].values, ds["imaginary_impedance_ohm"].values
    assert f[0] == pytest.approx(10001.0) and f[-1] == pytest.approx(0.009313226, rel=1e-6)
    assert re_z[0] == pytest.approx(5.521314, abs=1e-6) and im_z[0] == pytest.approx(
        -1.551307, abs=1e-6
    )
    assert re_z[-1] == pytest.approx(95.288635, abs=1e-5) and im_z[-1] == pytest.approx(
        -80.352745, abs=1e-5
    )
    assert ds["voltage_volt"].values[0] == pytest.approx(3.032213, abs=1e-6)


def test_mpr_gcpl_without_current_says_so():
    ds = bv.read(BIOLOGIC / "bdf_GCPL-0.mpr")  # EC-Lab 11.50+ layout, 4 rows at rest
    assert ds.sizes["record"] == 4
    np.testing.assert_allclose(ds["voltage_volt"].values[[0, -1]], [3.515088, 3.514687], atol=1e-6)
    assert ds["test_time_second"].values[-1] == pytest.approx(2.813, abs=1e-3)
    assert "no current column" in ds.attrs["quality_warnings"]
    assert (ds["current_ampere"].values == 0).all()  # dq is 0 throughout: at rest


def test_mpr_eclab_1150_modulo_bat():
    ds = bv.read(BIOLOGIC / "navani_00_test_02_MB_C01.mpr")
    assert ds.sizes["record"] == 11
    np.testing.assert_allclose(
        ds["voltage_volt"].values[[0, -1]], [-1.650172, -1.650145], atol=1e-6
    )
    np.testing.assert_allclose(
        ds["current_ampere"].values[[0, -1]] * 1000, [-0.0567, -0.0450], atol=1e-4
    )


def test_mpr_gcpl_half_cycle_capacities():
    ds = bv.read(BIOLOGIC / "navani_jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr")
    assert ds.sizes["record"] == 46102
    assert ds["test_time_second"].values[-1] == pytest.approx(456309.586, abs=1e-3)
    s = bv.CycleSummary().compute(ds)
    # a cathode (2.0-3.8 V): charge first; the discharge from open circuit is cycle 0
    assert s.attrs["cycle_mode"] == "charge_first"
    np.testing.assert_allclose(
        s["discharge_capacity_ah"] * 1000,
        [0.20653, 0.85285, 0.87633, 0.87468, 0.87666, 0.87861, 0.87949],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        s["charge_capacity_ah"] * 1000,
        [0, 0.98678, 0.93709, 0.94194, 0.94793, 0.95169, 0.95589],
        atol=1e-5,
    )
    # the current derived from dq/dt integrates back to the same capacities
    by_current = bv.CycleSummary(capacity_source="integration").compute(ds)
    np.testing.assert_allclose(
        by_current["discharge_capacity_ah"][1:], s["discharge_capacity_ah"][1:], rtol=1e-3
    )


def test_mpr_multi_technique_with_impedance_steps():
    ds = bv.read(BIOLOGIC / "cellpy_biol.mpr")
    assert ds.sizes["record"] == 23561
    assert ds["test_time_second"].values[-1] == pytest.approx(76139.104, abs=1e-3)
    assert set(np.unique(ds["step_index"].values)) == set(range(12))
    f = ds["frequency_hertz"].values
    eis_steps = set(np.unique(ds["step_index"].values[f > 0]))
    assert eis_steps == {2, 9} and f.max() == pytest.approx(1e5, rel=1e-3)


def test_mpr_unknown_column_id_is_named(tmp_path):
    raw = bytearray((BIOLOGIC / "bdf_GCPL-0.mpr").read_bytes())
    k = raw.find(b"MODULEVMP data") + 41 + 24 + 6  # first column id (new layout)
    raw[k : k + 2] = (9999).to_bytes(2, "little")
    p = tmp_path / "odd.mpr"
    p.write_bytes(bytes(raw))
    with pytest.raises(BatteryvizError, match="unknown BioLogic column id.*9999"):
        bv.read(p)


def test_mpr_truncated(tmp_path):
    p = tmp_path / "cut.mpr"
    p.write_bytes((BIOLOGIC / "cellpy_biol.mpr").read_bytes()[:1_000_000])
    with pytest.raises(BatteryvizError, match="cut.mpr.*truncated"):
        bv.read(p)


def test_text_renamed_mpr_and_empty_mpr(tmp_path):
    p = tmp_path / "fake.mpr"
    p.write_text("time/s\tEwe/V\n0\t3.7\n")
    with pytest.raises(UnknownFormatError):
        bv.read(p)
    with pytest.raises(BinaryFileError, match="BIO-LOGIC"):
        bv.read(p, format="biologic_mpr")
    e = tmp_path / "empty.mpr"
    e.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        bv.read(e)
