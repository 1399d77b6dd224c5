"""Workbooks read by their content (.xls through xlrd, the record sheet chosen by its columns)
and the Neware "regular" CSV export, on three real files of the corpus.

* ``neware/cellpy_custom_data_003.xls``: Neware BTS 7 Excel 97-2003 export (Info, Cycle_, Statis_,
  Detail_ sheets);
* ``landt/cellpy_custom_data_002.xlsx``: LANHE workbook whose first sheet is the cycle summary
  and whose records are in ``Record-Tab``;
* ``neware/cellpy_nw_regular_export_ife_example.csv``: cycle, step and record rows interleaved.

The values asserted were read from the raw files (xlrd, openpyxl, a text editor); the line
numbers are those of the files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

import batteryviz as bv
from batteryviz.errors import (
    BatteryvizError,
    EmptyFileError,
    MissingColumnError,
    ParseError,
    TruncatedFileError,
)
from batteryviz.io.limits import ExpansionError
from batteryviz.io.registry import detect
from batteryviz.io.tabular import datetime_seconds, hms_to_seconds, read_excel, workbook_sheet_names
from batteryviz.io.text import read_head
from batteryviz.schema import STEP_TYPES

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
XLS = CORPUS / "neware" / "cellpy_custom_data_003.xls"
LANDT = CORPUS / "landt" / "cellpy_custom_data_002.xlsx"
REGULAR = CORPUS / "neware" / "cellpy_nw_regular_export_ife_example.csv"

CHARGE, DISCHARGE, REST = STEP_TYPES["charge"], STEP_TYPES["discharge"], STEP_TYPES["rest"]


@pytest.fixture(scope="module")
def xls():
    return bv.read(XLS)


@pytest.fixture(scope="module")
def landt():
    return bv.read(LANDT)


@pytest.fixture(scope="module")
def regular():
    return bv.read(REGULAR)


# --- Neware BTS 7 .xls --------------------------------------------------------------------------


def test_an_xls_workbook_is_recognised_by_its_magic_and_sheet_names():
    head = read_head(XLS)
    assert head.raw[:8] == bytes.fromhex("d0cf11e0a1b11ae1")
    assert workbook_sheet_names(head) == ["Info", "Cycle_14_1_3", "Statis_14_1_3", "Detail_14_1_3"]
    assert detect(XLS).name == "neware"


def test_neware_xls_records_cycles_and_values(xls):
    assert xls.attrs["reader"] == "neware" and xls.attrs["sheets"] == "Detail_14_1_3"
    assert xls.sizes["record"] == 2943 and int(xls["cycle_count"].max()) == 14
    v, i = xls["voltage_volt"].values, xls["current_ampere"].values
    assert v[0] == pytest.approx(2.3304) and v[-1] == pytest.approx(0.0499)
    # record 2943: CC_DChg, -1.63 mA; record 442: the first CC_Chg, +0.163 mA
    # (charge positive, in A)
    assert i[-1] == pytest.approx(-1.63e-3) and xls["step_type"].values[-1] == DISCHARGE
    assert i[441] == pytest.approx(0.163e-3) and xls["step_type"].values[441] == CHARGE
    # CapaCity(mAh) of the last record, a discharge step counter, in Ah
    assert xls["step_discharging_capacity_ah"].values[-1] == pytest.approx(1.2106688888888888e-3)
    assert xls["step_discharging_capacity_ah"].attrs["units"] == "Ah"
    # Relative Time is the step time (0:44:34.000); the test time comes from Absolute Time
    assert xls["step_time_second"].values[-1] == pytest.approx(44 * 60 + 34)
    assert xls["test_time_second"].values[0] == 0
    assert xls["test_time_second"].values[-1] == pytest.approx(
        (44341.42265046296 - 44336.98354166666) * 86400, abs=1e-3
    )
    assert "Absolute Time" in xls.attrs["test_time_from"]
    assert xls["unix_time_second"].values[0] == pytest.approx(
        dt.datetime(2021, 5, 20, 23, 36, 18, tzinfo=dt.timezone.utc).timestamp(), abs=1e-3
    )
    # Step is the running step (29 at the end); its plan line comes from the Statis sheet
    # (Raw Step ID 11)
    assert xls["step_count"].values[-1] == 29 and xls["step_index"].values[-1] == 11
    assert xls["data_point"].values[-1] == 2943


def test_neware_xls_info_sheet_becomes_attrs(xls):
    a = xls.attrs
    assert a["neware_cycle_mode"] == "Charge First" and a["neware_process_name"] == "RR"
    assert a["neware_channel"] == 3 and a["neware_start_time"] == "2021-05-20 23:36:04"
    assert a["neware_remark"] == "1.04497215 mg active"
    assert "neware_end_time" not in a  # empty in the file


def test_neware_xls_summary_matches_the_vendors_cycle_sheet(xls):
    s = bv.CycleSummary().compute(xls)
    # Cycle_14_1_3: cycle 1 charge 0 / discharge 3.52415 mAh; cycle 14 1.20932 / 1.21067 mAh
    assert float(s["discharge_capacity_ah"].sel(cycle=1)) == pytest.approx(3.5241456e-3, rel=2e-3)
    assert float(s["charge_capacity_ah"].sel(cycle=14)) == pytest.approx(1.209321e-3, rel=2e-3)
    assert float(s["discharge_capacity_ah"].sel(cycle=14)) == pytest.approx(1.2106689e-3, rel=2e-3)


def test_a_truncated_xls_says_it_is_damaged(tmp_path):
    p = tmp_path / "cut.xls"
    p.write_bytes(XLS.read_bytes()[: XLS.stat().st_size // 2])
    with pytest.raises(ParseError, match="damaged") as err:
        bv.read(p)
    assert "cut.xls" in str(err.value)
    with pytest.raises(ParseError, match="damaged"):
        bv.read(p, format="neware")


def test_an_ole2_file_with_garbage_after_its_magic_is_refused_clearly(tmp_path):
    p = tmp_path / "garbage.xls"
    p.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(range(256)) * 8)
    with pytest.raises(BatteryvizError) as err:
        bv.read(p)
    assert "garbage.xls" in str(err.value)


def test_an_xls_larger_than_the_bound_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("BATTERYVIZ_MAX_EXPANDED_MB", "1")  # 1 MiB / 16: a 64 KiB .xls at most
    with pytest.raises(ExpansionError, match="Excel 97-2003") as err:
        bv.read(XLS)
    assert XLS.name in str(err.value)
    with pytest.raises(ExpansionError):
        bv.read(XLS, format="neware")


@pytest.fixture(scope="module")
def bts7_frames():
    """The sheets of the .xls, to write BTS 7 layouts as .xlsx."""
    return {
        name: read_excel(XLS, sheet_name=name, header=None if name == "Info" else 0)
        for name in ("Info", "Statis_14_1_3", "Detail_14_1_3")
    }


def _write_bts7_xlsx(frames: dict, path: Path) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, frame in frames.items():
            frame.to_excel(xw, sheet_name=name, index=False, header=name != "Info")
    return path


def test_the_same_bts7_layout_as_xlsx_reads_the_same(bts7_frames, xls, tmp_path):
    ds = bv.read(_write_bts7_xlsx(bts7_frames, tmp_path / "bts7.xlsx"))
    assert ds.attrs["reader"] == "neware" and ds.sizes["record"] == 2943
    for name in ("voltage_volt", "current_ampere", "test_time_second", "step_index", "cycle_count"):
        np.testing.assert_allclose(ds[name].values, xls[name].values, rtol=0, atol=1e-6)


def test_text_in_a_number_column_of_a_sheet_names_sheet_row_and_column(bts7_frames, tmp_path):
    frames = dict(bts7_frames)
    detail = frames["Detail_14_1_3"].copy()
    detail["Voltage(V)"] = detail["Voltage(V)"].astype(object)
    detail.loc[99, "Voltage(V)"] = "3,2 V"  # row 101 of the sheet (header row 1)
    frames["Detail_14_1_3"] = detail
    with pytest.raises(ParseError) as err:
        bv.read(_write_bts7_xlsx(frames, tmp_path / "text.xlsx"))
    e = err.value
    assert (
        e.line == 101
        and e.column == "Voltage(V)"
        and "Detail_14_1_3" in str(e)
        and "text.xlsx" in str(e)
    )


def test_a_bad_step_time_in_a_sheet_names_its_row(bts7_frames, tmp_path):
    frames = dict(bts7_frames)
    detail = frames["Detail_14_1_3"].copy()
    detail.loc[9, "Relative Time(h:min:s.ms)"] = "soon"
    frames["Detail_14_1_3"] = detail
    with pytest.raises(ParseError, match="duration") as err:
        bv.read(_write_bts7_xlsx(frames, tmp_path / "time.xlsx"))
    assert err.value.line == 11 and err.value.column == "Relative Time(h:min:s.ms)"


def test_a_detail_sheet_without_voltage_is_a_missing_column(bts7_frames, tmp_path):
    frames = dict(bts7_frames)
    frames["Detail_14_1_3"] = frames["Detail_14_1_3"].drop(columns=["Voltage(V)"])
    with pytest.raises(MissingColumnError) as err:
        bv.read(_write_bts7_xlsx(frames, tmp_path / "novolt.xlsx"))
    assert err.value.column == "voltage_volt"


# --- LANHE (Landt) workbook ---------------------------------------------------------------------


def test_landt_workbook_records_cycles_and_values(landt):
    assert landt.attrs["reader"] == "landt" and landt.attrs["sheets"] == "Record-Tab"
    assert landt.sizes["record"] == 16538 and int(landt["cycle_count"].max()) == 14
    v, i = landt["voltage_volt"].values, landt["current_ampere"].values
    assert v[0] == pytest.approx(2.81529) and v[-1] == pytest.approx(0.588418)
    # record 271: RateD at -0.14571 mA, capacity 0.10077 mAh; record 3069: RateC at +0.14571 mA
    assert i[270] == pytest.approx(-0.14571e-3) and landt["step_type"].values[270] == DISCHARGE
    assert i[3068] == pytest.approx(0.14571e-3) and landt["step_type"].values[3068] == CHARGE
    assert landt["half_cycle_discharging_capacity_ah"].values[270] == pytest.approx(0.10077e-3)
    assert landt["half_cycle_discharging_capacity_ah"].attrs["role"] == "discharge_capacity"
    assert landt["current_ampere"].attrs["units"] == "A"
    assert (
        landt["test_time_second"].values[270] == 16890
        and landt["test_time_second"].values[-1] == 388864
    )
    assert landt["step_time_second"].values[270] == 2490
    assert landt["step_index"].values[-1] == 59 and landt["step_type"].values[-1] == REST
    assert landt["unix_time_second"].values[0] == pytest.approx(
        dt.datetime(2021, 2, 25, 13, 41, 24, tzinfo=dt.timezone.utc).timestamp()
    )
    # "-" in AuxTemp/AuxVolt (no auxiliary channel): no temperature variable of NaNs
    assert "ambient_temperature_celsius" not in landt


def test_landt_summary_matches_the_cycle_tab(landt):
    s = bv.CycleSummary().compute(landt)
    # Cycle-Tab: cycle 1 CapC 2.74823 / CapD 3.03312 mAh; cycle 14 0.96528 / 0.96632 mAh
    assert float(s["charge_capacity_ah"].sel(cycle=1)) == pytest.approx(2.74823e-3, rel=2e-3)
    assert float(s["discharge_capacity_ah"].sel(cycle=1)) == pytest.approx(3.03312e-3, rel=2e-3)
    assert float(s["discharge_capacity_ah"].sel(cycle=14)) == pytest.approx(0.96632e-3, rel=2e-3)


def test_the_generic_reader_chooses_the_record_sheet_by_its_columns_not_its_position():
    ds = bv.read(LANDT, format="generic")  # Cycle-Tab is the first sheet, Record-Tab the second
    assert ds.attrs["sheets"] == "Record-Tab" and ds.sizes["record"] == 16538
    assert "sheet" in ds.attrs["sheet_choice"]
    assert ds["test_time_second"].values[-1] == 388864  # TestTime/Sec
    assert ds["current_ampere"].values[270] == pytest.approx(-0.14571e-3)  # Current/mA


def _frame(n: int, t0: float = 0.0) -> pd.DataFrame:
    t = t0 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"Time (s)": t, "Voltage (V)": 3.0 + 0.001 * t, "Current (A)": np.full(n, 0.5)}
    )


def test_of_several_record_sheets_the_one_with_the_most_rows_is_read(tmp_path):
    p = tmp_path / "book.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        pd.DataFrame({"Cycle": [1, 2], "Capacity (Ah)": [1.0, 0.9]}).to_excel(
            xw, sheet_name="summary", index=False
        )
        _frame(5).to_excel(xw, sheet_name="excerpt", index=False)
        _frame(40, 100.0).to_excel(xw, sheet_name="all records", index=False)
    ds = bv.read(p)
    assert (
        ds.attrs["reader"] == "generic"
        and ds.attrs["sheets"] == "all records"
        and ds.sizes["record"] == 40
    )
    assert "most rows" in ds.attrs["sheet_choice"]
    assert bv.read(p, sheet="excerpt").sizes["record"] == 5
    with pytest.raises(BatteryvizError, match="no sheet"):
        bv.read(p, sheet="nope")


def test_a_workbook_without_a_record_sheet_names_its_sheets(tmp_path):
    p = tmp_path / "summary.xlsx"
    with pd.ExcelWriter(p, engine="openpyxl") as xw:
        pd.DataFrame({"Cycle": [1, 2], "Capacity (Ah)": [1.0, 0.9]}).to_excel(
            xw, sheet_name="summary", index=False
        )
        pd.DataFrame({"Time (s)": [0.0, 1.0], "Voltage (V)": [3.0, 3.1]}).to_excel(
            xw, sheet_name="no current", index=False
        )
    with pytest.raises(MissingColumnError, match="no sheet of the workbook") as err:
        bv.read(p)
    assert "'summary'" in str(err.value) and "summary.xlsx" in str(err.value)
    assert err.value.column == "current_ampere"


@pytest.fixture(scope="module")
def landt_records():
    return read_excel(LANDT, sheet_name="Record-Tab", nrows=300)


def _write_landt(records: pd.DataFrame, path: Path) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame({"Cycle": [1], "CapC/mAh": [1.0]}).to_excel(
            xw, sheet_name="Cycle-Tab", index=False
        )
        records.to_excel(xw, sheet_name="Record-Tab", index=False)
    return path


def test_text_in_the_landt_current_column_names_row_and_column(landt_records, tmp_path):
    records = landt_records.copy()
    records["Current/mA"] = records["Current/mA"].astype(object)
    records.loc[49, "Current/mA"] = "n.a."
    with pytest.raises(ParseError) as err:
        bv.read(_write_landt(records, tmp_path / "bad.xlsx"))
    assert (
        err.value.line == 51 and err.value.column == "Current/mA" and "Record-Tab" in str(err.value)
    )


def test_a_landt_record_sheet_without_voltage_is_a_missing_column(landt_records, tmp_path):
    with pytest.raises(MissingColumnError) as err:
        bv.read(_write_landt(landt_records.drop(columns=["Voltage/V"]), tmp_path / "novolt.xlsx"))
    assert err.value.column == "voltage_volt"


def test_a_truncated_workbook_is_refused_naming_the_file(tmp_path):
    p = tmp_path / "cut.xlsx"
    p.write_bytes(LANDT.read_bytes()[:500_000])
    for fmt in (None, "landt"):
        with pytest.raises(BatteryvizError) as err:
            bv.read(p, format=fmt)
        assert "cut.xlsx" in str(err.value)


def test_landt_text_export_with_d_hh_mm_ss_times(tmp_path):
    p = tmp_path / "landt.csv"
    p.write_text(
        "Record,TestTime,StepTime,Current/mA,Capacity/mAh,Voltage/V,Energy/mWh,SysTime,Cycle-Index,Step-Index,Step-State\n"
        "1,0-23:59:58,0-00:00:00,0.5,0,3.00,0,2021-02-25 13:41:24,1,1,RateC\n"
        "2,1-00:00:08,0-00:00:10,0.5,0.0014,3.01,0.004,2021-02-25 13:41:34,1,1,RateC\n"
        "3,1-00:00:18,0-00:00:00,-0.5,0,3.00,0,2021-02-25 13:41:44,1,2,RateD\n",
        encoding="utf-8",
    )
    ds = bv.read(p)
    assert ds.attrs["reader"] == "landt"
    np.testing.assert_allclose(ds["test_time_second"].values, [86398, 86408, 86418])
    np.testing.assert_allclose(ds["current_ampere"].values, [5e-4, 5e-4, -5e-4])
    assert ds["half_cycle_charging_capacity_ah"].values[1] == pytest.approx(1.4e-6)


# --- Neware "regular" CSV -----------------------------------------------------------------------


def test_neware_regular_csv_records_cycles_and_values(regular):
    assert regular.attrs["reader"] == "neware" and detect(REGULAR).name == "neware"
    assert regular.sizes["record"] == 9295 and int(regular["cycle_count"].max()) == 20
    v, i = regular["voltage_volt"].values, regular["current_ampere"].values
    assert v[0] == pytest.approx(4.3185) and v[-1] == pytest.approx(4.1544)
    # DataPoint 12 (line 17): CC Chg +0.5 A; DataPoint 175 (line 182): CC DChg -0.5 A
    assert i[11] == pytest.approx(0.5) and regular["step_type"].values[11] == CHARGE
    assert i[174] == pytest.approx(-0.5) and regular["step_type"].values[174] == DISCHARGE
    # DataPoint 176: Capacity(Ah) 0.003952853 in a discharge step
    assert regular["step_discharging_capacity_ah"].values[175] == pytest.approx(0.003952853)
    # the charge counter stands still through the discharge (at the last charge step's end)
    assert (
        regular["step_charging_capacity_ah"].values[175]
        == regular["step_charging_capacity_ah"].values[173]
        == pytest.approx(0.022564143)
    )
    # Time is the step time; Total Time (27:55:43 at the end) the test time
    assert (
        regular["test_time_second"].values[11] == 20 and regular["step_time_second"].values[11] == 0
    )
    assert regular["test_time_second"].values[-1] == 27 * 3600 + 55 * 60 + 43
    assert regular["step_time_second"].values[-1] == 300
    assert "Total Time" in regular.attrs["test_time_from"]
    assert regular["ambient_temperature_celsius"].values[0] == pytest.approx(26.61)  # T1(?)


def test_neware_regular_csv_takes_cycle_and_step_from_the_rows_above(regular):
    cyc, idx, num = (regular[n].values for n in ("cycle_count", "step_index", "step_count"))
    # DataPoints 1-11 belong to step 1 (Rest), written on the first cycle line itself
    assert set(idx[:11]) == {1} and set(num[:11]) == {1} and set(cyc[:11]) == {1}
    assert regular["step_type"].values[0] == REST
    # DataPoint 416 (line 426): cycle 2 (line 424), step index 2 / number 6 (line 425)
    assert (cyc[415], idx[415], num[415]) == (2, 2, 6)
    assert (cyc[-1], num[-1]) == (20, 81)
    assert regular["data_point"].values[-1] == 9295


def test_neware_regular_csv_summary_matches_the_cycle_rows(regular):
    s = bv.CycleSummary().compute(regular)
    # cycle rows: 1: 0.02256/0.33067 Ah; 2: 0.32780/0.33172; 20: 0.26738/0.26320
    for cycle, (charge, discharge) in {
        1: (0.02256, 0.33067),
        2: (0.32780, 0.33172),
        20: (0.26738, 0.26320),
    }.items():
        assert float(s["charge_capacity_ah"].sel(cycle=cycle)) == pytest.approx(charge, rel=2e-3)
        assert float(s["discharge_capacity_ah"].sel(cycle=cycle)) == pytest.approx(
            discharge, rel=2e-3
        )


def _mutated(tmp_path: Path, edit) -> Path:
    lines = REGULAR.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = edit(lines)
    p = tmp_path / "regular.csv"
    p.write_text("".join(lines), encoding="utf-8")
    return p


def test_regular_csv_truncated_in_its_last_line(tmp_path):
    p = tmp_path / "regular.csv"
    p.write_bytes(REGULAR.read_bytes()[:-60])
    with pytest.raises(TruncatedFileError) as err:
        bv.read(p)
    assert err.value.line == 9398 and "regular.csv" in str(err.value)
    assert bv.read(p, on_bad_lines="skip").sizes["record"] == 9294


def test_regular_csv_text_in_a_number_column_names_line_and_column(tmp_path):
    def edit(lines):
        lines[181] = lines[181].replace(",4.3366,", ",4.33 66,")  # line 182, DataPoint 175
        return lines

    with pytest.raises(ParseError) as err:
        bv.read(_mutated(tmp_path, edit))
    assert err.value.line == 182 and err.value.column == "Voltage(V)"


def test_regular_csv_bad_time_names_line_and_column(tmp_path):
    def edit(lines):
        lines[16] = lines[16].replace(",00:00:00,00:00:20,", ",00:0x:00,00:00:20,")  # line 17
        return lines

    with pytest.raises(ParseError, match="duration") as err:
        bv.read(_mutated(tmp_path, edit))
    assert err.value.line == 17 and err.value.column == "Time"


def test_regular_csv_bad_cycle_number_names_its_line(tmp_path):
    def edit(lines):
        lines[423] = "two" + lines[423][1:]  # line 424: the cycle-2 line
        return lines

    with pytest.raises(ParseError, match="cycle number") as err:
        bv.read(_mutated(tmp_path, edit))
    assert err.value.line == 424


def test_regular_csv_records_before_any_cycle_line(tmp_path):
    with pytest.raises(ParseError, match="before any cycle") as err:
        bv.read(_mutated(tmp_path, lambda lines: lines[:3] + lines[4:]))
    assert err.value.line == 4


def test_regular_csv_with_its_column_lines_only(tmp_path):
    with pytest.raises(EmptyFileError):
        bv.read(_mutated(tmp_path, lambda lines: lines[:3] + [lines[3].split(",,")[0] + "\n"]))


def test_regular_csv_row_with_too_many_fields(tmp_path):
    def edit(lines):
        lines[99] = lines[99].rstrip("\n") + ",1,2,3\n"
        return lines

    with pytest.raises(ParseError) as err:
        bv.read(_mutated(tmp_path, edit))
    assert err.value.line == 100
    assert bv.read(_mutated(tmp_path, edit), on_bad_lines="skip").sizes["record"] == 9294


# --- shared pieces --------------------------------------------------------------------------------


def test_hms_durations_with_days_and_strict_errors():
    s = pl.Series("t", ["0:44:34.000", "27:55:43", "1-02:00:00", "2d 01:00:00", "12", None])
    np.testing.assert_allclose(hms_to_seconds(s)[:5], [2674, 100543, 93600, 176400, 12])
    assert np.isnan(hms_to_seconds(s)[5])
    with pytest.raises(ParseError) as err:
        hms_to_seconds(pl.Series("Time", ["00:00:01", "later"]), path="f.csv", first_line=7)
    assert err.value.line == 8 and err.value.column == "Time"


def test_datetime_seconds_of_text_excel_days_and_junk():
    epoch = dt.datetime(2021, 5, 20, 23, 36, 18, tzinfo=dt.timezone.utc).timestamp()
    assert datetime_seconds(pl.Series(["2021-05-20 23:36:18"]))[0] == pytest.approx(epoch)
    assert datetime_seconds(pl.Series([44336.98354166666]))[0] == pytest.approx(epoch, abs=1e-3)
    assert datetime_seconds(pl.Series(["abc", "def"])) is None
    with pytest.raises(ParseError):
        datetime_seconds(
            pl.Series("Date", ["2021-05-20 23:36:18", "yesterday"]), path="f", first_line=2
        )


def test_the_new_readers_claim_no_other_file_of_the_corpus_or_the_real_files():
    ours = {XLS, LANDT, REGULAR}
    claimed = {}
    for root in (CORPUS, DATA / "real"):
        for p in sorted(root.rglob("*")):
            if (
                not p.is_file()
                or p in ours
                or "LICENSES" in p.parts
                or p.suffix in (".md",)
                or p.name == "expected.csv"
            ):
                continue
            try:
                claimed[p] = detect(p).name
            except BatteryvizError:
                continue
    assert not [p for p, name in claimed.items() if name == "landt"]
    assert [p.name for p, name in claimed.items() if name == "neware"] == ["cellpy_neware_uio.csv"]
