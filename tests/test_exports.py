"""Exports opened with the library a user would use, and their content checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import batteryviz as bv
from batteryviz import export as ex
from batteryviz.cli import main


@pytest.fixture(scope="module")
def results(example_ds):
    summary = bv.CycleSummary(nominal_capacity_mah=5000).compute(example_ds)
    dqdu = bv.DifferentialCapacity(cycles=[1, 10, 20]).compute(example_ds)
    return summary, dqdu


def test_excel_workbook_sheets_and_content(results, tmp_path):
    import openpyxl

    summary, dqdu = results
    path = ex.write_excel(tmp_path / "r.xlsx", summary, dqdu)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Summary", "Cycle Data", "dQdU Data", "Peak Data", "Parameters"]
    stats = dict(list(wb["Summary"].values)[1:])
    assert stats["total_cycles"] == 34
    assert stats["mean_coulombic_efficiency_percent"] == pytest.approx(
        np.nanmean(summary["coulombic_efficiency_percent"]), rel=1e-9
    )
    cycle_rows = list(wb["Cycle Data"].values)
    assert cycle_rows[0][0] == "cycle" and len(cycle_rows) == 35
    peaks = pd.read_excel(path, sheet_name="Peak Data")
    assert set(peaks["cycle"]) <= {1, 10, 20} and len(peaks) == len(ex.peak_table(dqdu))
    params = pd.read_excel(path, sheet_name="Parameters")
    assert {"summary", "dqdu"} == set(params["Analysis"])


def test_origin_text_has_long_name_units_and_comments_rows(results, tmp_path):
    summary, _ = results
    path = ex.origin_summary(summary, tmp_path / "s.origin.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    names, units, comments = (line.split("\t") for line in lines[:3])
    k = names.index("discharge_capacity_ah")
    assert units[k] == "Ah" and "discharge" in comments[k]
    data = pd.read_csv(path, sep="\t", skiprows=[1, 2])
    np.testing.assert_allclose(
        data["discharge_capacity_ah"], summary["discharge_capacity_ah"].values
    )


def test_matlab_struct_per_result(results, tmp_path):
    from scipy.io import loadmat

    summary, dqdu = results
    path = ex.write_matlab(tmp_path / "r.mat", summary=summary, dqdu=dqdu)
    mat = loadmat(path, squeeze_me=True, struct_as_record=False)
    np.testing.assert_allclose(
        mat["summary"].discharge_capacity_ah, summary["discharge_capacity_ah"].values
    )
    np.testing.assert_array_equal(mat["dqdu"].cycle, [1, 10, 20])
    assert mat["dqdu"].charge_dqdu.shape == dqdu["charge_dqdu"].shape
    assert "discharge/charge" in mat["summary"].attrs.ce_definition


def test_report_sections(results, example_ds, tmp_path):
    summary, dqdu = results
    text = ex.write_report(tmp_path / "r.report.txt", example_ds, summary, dqdu).read_text()
    for section in (
        "FILE INFORMATION",
        "ANALYSIS PARAMETERS (CYCLE SUMMARY)",
        "KEY FIGURES (CYCLE SUMMARY)",
        "ANALYSIS PARAMETERS (DQ/DU)",
        f"PEAKS (dQ/dU, {len(ex.peak_table(dqdu))})",
        "WARNINGS",
    ):
        assert section in text
    assert "total_cycles: 34" in text and "basytec_rate_fade.txt" in text


@pytest.mark.parametrize("suffix", [".xlsx", ".mat", ".origin.txt", ".report.txt", ".nc"])
def test_cli_export(suffix, tmp_path, example_path):
    out = tmp_path / f"r{suffix}"
    assert main(["export", str(example_path), "--cycles", "1-34:11", "-o", str(out)]) == 0
    assert out.exists() and out.stat().st_size > 0


def test_result_table_of_curves_on_a_grid_is_long_and_complete(example_ds):
    # dV/dQ has no per-cycle variable, only curves (cycle x capacity grid): the table the
    # dashboard shows and downloads holds every finite point, one row each
    result = bv.DifferentialVoltage().compute(example_ds)
    table = ex.result_table("dvdq", result)
    assert list(table.columns) == ["cycle", "variable", "x_name", "x", "value"]
    for name in ("charge_dvdq", "discharge_dvdq"):
        var = result[name]
        rows = table[table["variable"] == name]
        assert len(rows) == int(np.isfinite(var.values).sum()) > 0
        assert set(rows["x_name"]) == {var.dims[1]}
        c, x = int(rows["cycle"].iloc[5]), float(rows["x"].iloc[5])
        assert rows["value"].iloc[5] == pytest.approx(float(var.sel(cycle=c, **{var.dims[1]: x})))


def test_excel_of_a_cell_with_dvdq_is_a_workbook_holding_the_curves(results, example_ds, tmp_path):
    """dV/dQ's curves live on two grids (charge and discharge capacity); the workbook once
    wrote their cross product (6 cycles x 500 x 500 = 1.5 M rows, past Excel's limit), and the
    dashboard then saved an error text as .xlsx."""
    import openpyxl

    summary, dqdu = results
    dvdq = bv.DifferentialVoltage(cycles=[1, 5, 10, 15, 20, 25]).compute(example_ds)
    data = ex.export_bytes("xlsx", "dvdq", {"summary": summary, "dqdu": dqdu, "dvdq": dvdq})
    path = tmp_path / "cell.xlsx"
    path.write_bytes(data)
    book = openpyxl.load_workbook(path, read_only=True)
    assert "dV-dQ" in book.sheetnames  # its analysis's title, made a valid sheet name
    sheet = pd.read_excel(path, sheet_name="dV-dQ")
    assert (
        len(sheet)
        == len(ex.result_table("dvdq", dvdq))
        == int(np.isfinite(dvdq["charge_dvdq"]).sum() + np.isfinite(dvdq["discharge_dvdq"]).sum())
    )


def test_a_table_longer_than_a_sheet_continues_on_more_sheets_or_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ex, "EXCEL_ROWS", 10)
    table = pd.DataFrame({"cycle": np.arange(25), "value": np.arange(25) * 0.5})
    parts = ex._sheet_parts(table, "dvdq")
    assert [name for name, _ in parts] == ["dvdq", "dvdq (2)", "dvdq (3)"]
    assert pd.concat([part for _, part in parts], ignore_index=True).equals(table)
    monkeypatch.setattr(ex, "EXCEL_MAX_PARTS", 2)
    with pytest.raises(ValueError, match="25 rows.*download it as CSV or netCDF"):
        ex._sheet_parts(table, "dvdq")
    target = tmp_path / "refused.xlsx"
    with pytest.raises(ValueError, match="download it as CSV"):
        ex.write_excel(target, extra={"dvdq": xr.Dataset({"value": ("cycle", np.arange(25.0))})})
    assert not target.exists()  # no half workbook left behind


@pytest.mark.parametrize("kind", sorted(ex.DOWNLOADS))
def test_every_download_of_a_summary_without_cycles_is_written(kind, tmp_path):
    """A real open-circuit file has no cycles: its summary's downloads are files, not errors."""
    from .test_corpus import CORPUS

    ds = bv.read(CORPUS / "biologic/bioconv_ocv.mpt")
    summary = bv.CycleSummary().compute(ds)
    assert summary.sizes["cycle"] == 0
    data = ex.export_bytes(kind, "summary", {"summary": summary}, ds)
    assert data
    if kind == "xlsx":
        path = tmp_path / "s.xlsx"
        path.write_bytes(data)
        assert "Summary" in openpyxl_sheets(path)
    if kind == "report":
        assert "total_cycles: 0" in data.decode()


def openpyxl_sheets(path):
    import openpyxl

    return openpyxl.load_workbook(path, read_only=True).sheetnames


def test_two_results_of_one_analysis_get_numbered_sheets(example_ds, tmp_path):
    import openpyxl

    summary = bv.CycleSummary().compute(example_ds)
    path = ex.write_excel(tmp_path / "two.xlsx", extra={"a": summary, "b": summary})
    sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
    assert sheets == ["Summary", "Cycle Data", "Summary 2", "Cycle Data 2", "Parameters"]
